package main

import (
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// treeSum is a digest of every file under dir, names and contents.
func treeSum(t *testing.T, dir string) [32]byte {
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			h.Write([]byte(p + "\x00"))
			h.Write(b)
		}
		return nil
	})
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func TestNewMakesElementsThatPassCheck(t *testing.T) {
	app := filepath.Join(t.TempDir(), "myapp")
	code, out, errs := jitrt(t, "new", app, "corps.MyQywxCorp", "--type", "corps.QywxInnerType")
	if code != 0 || !strings.Contains(out, "set MY_QYWX_CORP_SECRET in the environment") {
		t.Fatalf("%d %s %s", code, out, errs)
	}
	cfg, _ := os.ReadFile(filepath.Join(app, "corps/MyQywxCorp/MyQywxCorp.json"))
	appJSON, _ := os.ReadFile(filepath.Join(app, "app.json"))
	for _, want := range []string{`"corpId": "ww1234567890abcdef"`, `"agentId": "1000002"`, `"secret": "${MY_QYWX_CORP_SECRET}"`, `"$optional": {`, `"scope": "WeCom department ids`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("the config has no %s:\n%s", want, cfg)
		}
	}
	if !strings.Contains(string(appJSON), `"name": "myapp"`) {
		t.Errorf("app.json: %s", appJSON)
	}
	// without the secret, check names it; with it, check passes
	t.Setenv("MY_QYWX_CORP_SECRET", "")
	os.Unsetenv("MY_QYWX_CORP_SECRET")
	if code, out, _ := jitrt(t, "check", app); code != 1 || !strings.Contains(out, "environment variable MY_QYWX_CORP_SECRET is not set") {
		t.Fatalf("check without the secret: %d %s", code, out)
	}
	t.Setenv("MY_QYWX_CORP_SECRET", "a-real-secret-from-env")
	if code, out, _ := jitrt(t, "check", app); code != 0 {
		t.Fatalf("check of what new made: %s", out)
	}

	// a Type element, an instance of it, a task: all pass check; app.json is left alone
	before, _ := os.ReadFile(filepath.Join(app, "app.json"))
	if code, out, errs := jitrt(t, "new", app, "corps.AuditedCorp", "--extends", "corps.QywxInnerType"); code != 0 || !strings.Contains(out, "index.js") {
		t.Fatalf("--extends: %d %s %s", code, out, errs)
	}
	index, _ := os.ReadFile(filepath.Join(app, "corps/AuditedCorp/index.js"))
	for _, want := range []string{"syncCorp(dryRun)", "setUserRole(memberId, roleIdList)", "this.$super", "// exports.syncCorp = function (dryRun) {"} {
		if !strings.Contains(string(index), want) {
			t.Errorf("index.js has no %q:\n%s", want, index)
		}
	}
	if code, _, errs := jitrt(t, "new", app, "corps.Branch", "--type", "corps.AuditedCorp"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := jitrt(t, "new", app, "tasks.Nightly", "--type", "tasks.NormalType"); code != 0 {
		t.Fatal(errs)
	}
	if after, _ := os.ReadFile(filepath.Join(app, "app.json")); string(after) != string(before) {
		t.Fatalf("app.json changed:\n%s", after)
	}
	os.WriteFile(filepath.Join(app, "corps/Branch/Branch.json"), []byte(strings.Replace(mustRead(t, filepath.Join(app, "corps/Branch/Branch.json")), "ww1234567890abcdef", "ww0000000000branch", 1)), 0o644)
	t.Setenv("BRANCH_SECRET", "another-secret")
	if code, out, _ := jitrt(t, "check", app); code != 0 {
		t.Fatalf("check after four news: %s", out)
	}
	// the Type element's methods run: uncomment the example override and call through it
	i := strings.Index(string(index), "// exports.syncCorp")
	js := string(index[:i])
	for _, line := range strings.SplitAfter(string(index[i:]), "\n") {
		js += strings.TrimPrefix(line, "// ")
	}
	os.WriteFile(filepath.Join(app, "corps/AuditedCorp/index.js"), []byte(js), 0o644)
	if code, out, _ := jitrt(t, "check", app); code != 0 {
		t.Fatalf("check with the example override: %s", out)
	}
}

func mustRead(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewNeverOverwrites(t *testing.T) {
	t.Parallel()
	app := t.TempDir()
	if code, _, errs := jitrt(t, "new", app, "corps.C", "--type", "corps.QywxInnerType"); code != 0 {
		t.Fatal(errs)
	}
	os.WriteFile(filepath.Join(app, "corps/C/C.json"), []byte(`{"corpId": "mine"}`), 0o644)
	sum := treeSum(t, app)
	for _, args := range [][]string{
		{"new", app, "corps.C", "--type", "corps.QywxInnerType"},
		{"new", app, "corps.C", "--extends", "corps.QywxInnerType"},
	} {
		code, _, errs := jitrt(t, args...)
		if code != 1 || !strings.Contains(errs, "exists: jitrt new never overwrites") {
			t.Fatalf("%v: %d %s", args, code, errs)
		}
		if treeSum(t, app) != sum {
			t.Fatalf("%v changed the app", args)
		}
	}
	for args, want := range map[string]string{
		"corps.X --type nope.T":        `unknown type "nope.T"`,
		"corps.X --type corps.Meta":    "corps.Meta is a Meta",
		"corps.X":                      "give --type TYPE",
		"x --type corps.QywxInnerType": "must be dotted names",
		"corps.X --type corps.QywxInnerType --extends corps.QywxInnerType": "give --type TYPE",
	} {
		code, _, errs := jitrt(t, append([]string{"new", app}, strings.Fields(args)...)...)
		if code == 0 || !strings.Contains(errs, want) {
			t.Errorf("new %s: %d %s", args, code, errs)
		}
	}
	if treeSum(t, app) != sum {
		t.Fatal("a refused new changed the app")
	}
}
