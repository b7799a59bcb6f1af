package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tsc finds TypeScript's compiler: $JITRT_TSC, .tools/ (where .ci/run installs it), or
// PATH. With CI=true a missing tsc fails the test.
func tsc(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("JITRT_TSC"); p != "" {
		return p
	}
	if p, err := filepath.Abs("../../.tools/node_modules/.bin/tsc"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("tsc"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("tsc is not installed; .ci/run installs it: npm install --prefix .tools typescript@5.9.3")
	}
	t.Skip("tsc is not installed (npm install --prefix .tools typescript@5.9.3)")
	return ""
}

// copyApp copies an app folder, leaving its state out.
func copyApp(t *testing.T, src string) string {
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(src, p)
		if err != nil || rel == ".jitrt" || rel == "node_modules" {
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	return dst
}

// The demo's scripts pass tsc against the declarations jitrt types writes; a call of a
// method that does not exist, or a number as memberId, does not.
func TestTypesLetTscCheckTheScripts(t *testing.T) {
	compiler := tsc(t)
	app := copyApp(t, demo)
	os.Remove(filepath.Join(app, "jsconfig.json"))
	os.Remove(filepath.Join(app, "jitrt.d.ts"))
	code, out, errs := jitrt(t, "types", app)
	if code != 0 || !strings.Contains(out, "jitrt.d.ts") || !strings.Contains(out, "jsconfig.json") {
		t.Fatalf("%d %s %s", code, out, errs)
	}
	decl, _ := os.ReadFile(filepath.Join(app, "jitrt.d.ts"))
	for _, want := range []string{
		`getElement(fullName: "corps.DemoCorp"): Type_corps_QywxInnerType;`,
		`getElement(fullName: "corps.BranchCorp"): Type_corps_CheckedCorp;`,
		`setUserRole(memberId: string, roleIdList: any[]): any;`,
		`setUserRole(args: { memberId: string; roleIdList: any[] }): any;`,
		`syncCorp(dryRun?: boolean): jitrt.SyncReport;`,
		`getRootDept(): jitrt.RowData;`,
		`listMembers(args?: { deptId?: number; status?: string; query?: string; limit?: number; offset?: number }): jitrt.Page;`,
		`adminNames(...args: any[]): any;`, // added by the demo's app Type element corps.AuditedCorp
	} {
		if !strings.Contains(string(decl), want) {
			t.Errorf("jitrt.d.ts has no %s", want)
		}
	}
	if committed, _ := os.ReadFile(filepath.Join(demo, "jitrt.d.ts")); string(committed) != string(decl) {
		t.Errorf("apps/demo/jitrt.d.ts is not what jitrt types writes now: run jitrt types apps/demo")
	}
	run := func() (string, error) {
		cmd := exec.Command(compiler, "--noEmit", "--checkJs", "-p", filepath.Join(app, "jsconfig.json"))
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := run(); err != nil {
		t.Fatalf("tsc on the demo's scripts: %v\n%s", err, out)
	}
	for name, c := range map[string]struct{ code, want string }{
		"no_such_method.js":  {`app.getElement("corps.DemoCorp").syncCrop()`, "Property 'syncCrop' does not exist"},
		"number_memberid.js": {`app.getElement("corps.DemoCorp").getMember(42)`, "not assignable to parameter of type 'string'"},
		"named_memberid.js":  {`app.getElement("corps.DemoCorp").setUserRole({memberId: 7, roleIdList: ["admin"]})`, "not assignable"},
		"no_such_element.js": {`app.getElement("corps.DemoCrop").getAdmin()`, "No overload matches this call"},
		"report_field.js":    {`app.getElement("corps.DemoCorp").syncCorp().addded`, "Property 'addded' does not exist"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(app, "scripts", name)
			os.WriteFile(p, []byte(c.code+";\n"), 0o644)
			defer os.Remove(p)
			out, err := run()
			if err == nil || !strings.Contains(out, name) || !strings.Contains(out, c.want) {
				t.Fatalf("tsc on %s: %v\n%s", c.code, err, out)
			}
		})
	}
}
