package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tscVersions are the TypeScript releases the generated jsconfig.json and the demo's
// scripts are checked with: the last 5.x and 7 (what npm install typescript gives).
// .ci/run installs each in .tools/typescript-VERSION.
var tscVersions = []string{"5.9.3", "7.0.2"}

// tsc finds the compiler of one TypeScript release in .tools/typescript-VERSION (where
// .ci/run installs it). With CI=true a missing one fails the test.
func tsc(t *testing.T, version string) string {
	t.Helper()
	p, err := filepath.Abs("../../.tools/typescript-" + version + "/node_modules/.bin/tsc")
	if err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	install := "npm install --prefix .tools/typescript-" + version + " typescript@" + version
	if os.Getenv("CI") == "true" {
		t.Fatalf("TypeScript %s is not installed; .ci/run installs it: %s", version, install)
	}
	t.Skipf("TypeScript %s is not installed (%s)", version, install)
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
	for _, v := range tscVersions {
		t.Run("typescript-"+v, func(t *testing.T) {
			t.Parallel()
			typesLetTscCheckTheScripts(t, tsc(t, v))
		})
	}
}

func typesLetTscCheckTheScripts(t *testing.T, compiler string) {
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
		`listMembers(args?: { deptId?: number; status?: string; query?: string; limit?: number; offset?: number }): jitrt.MemberPage;`,
		`adminNames(): string[];`, // added by the demo's app Type element corps.AuditedCorp, typed by its JSDoc
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
		"number_memberid.js": {`app.getElement("corps.DemoCorp").getMember(42)`, "Argument of type 'number' is not assignable to parameter of type"},
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

// Types need no secrets: an app whose corp and login take theirs from variables that are
// not set on this machine is typed whole (its secrets stand in examples that pass the
// Types' checks; nothing starts).
func TestTypesNeedNoSecrets(t *testing.T) {
	app := writeTree(t, map[string]string{
		"app.json":                  `{"name": "nosecrets"}`,
		"corps/C/e.json":            `{"type": "corps.QywxInnerType"}`,
		"corps/C/C.json":            `{"corpId": "wwnosecret", "agentId": "1", "secret": "${NS_UNSET_SECRET}", "callbackToken": "${NS_UNSET_TOKEN}", "encodingAESKey": "${NS_UNSET_AES}"}`,
		"auths/loginTypes/W/e.json": `{"type": "auths.loginTypes.QywxInnerType"}`,
		"auths/loginTypes/W/W.json": `{"corpId": "wwnosecret", "agentId": "1", "corpSecret": "${NS_UNSET_SECRET}", "corp": "corps.C"}`,
		// a DingTalk org whose credentials are all variables (in an object: authConfig), and its login
		"corps/D/e.json":            `{"type": "corps.DDInnerType"}`,
		"corps/D/D.json":            `{"authConfig": {"corpId": "${NS_UNSET_DD_CORP}", "agentId": "${NS_UNSET_DD_AGENT}", "appKey": "${NS_UNSET_DD_KEY}", "appSecret": "${NS_UNSET_SECRET}"}}`,
		"auths/loginTypes/E/e.json": `{"type": "auths.loginTypes.DDInnerType"}`,
		"auths/loginTypes/E/E.json": `{"corpId": "${NS_UNSET_DD_CORP}", "appKey": "${NS_UNSET_DD_KEY}", "appSecret": "${NS_UNSET_SECRET}"}`,
	})
	code, out, errs := jitrt(t, "types", app)
	if code != 0 || !strings.Contains(out, "4 elements") || errs != "" {
		t.Fatalf("types without the secrets: exit %d\n%s%s", code, out, errs)
	}
	decl, _ := os.ReadFile(filepath.Join(app, "jitrt.d.ts"))
	for _, want := range []string{`getElement(fullName: "corps.C")`, `getElement(fullName: "auths.loginTypes.W")`, `getElement(fullName: "corps.D")`, `getElement(fullName: "auths.loginTypes.E")`} {
		if !strings.Contains(string(decl), want) {
			t.Errorf("jitrt.d.ts has no %s", want)
		}
	}
	if strings.Contains(string(decl), "jitrt-stand-in") {
		t.Fatal("a stand-in reached jitrt.d.ts")
	}
	// check still says the variables are not set
	if code, out, _ := jitrt(t, "check", app); code == 0 || !strings.Contains(out, "NS_UNSET_SECRET is not set") {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
}
