package corps_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jitrt/jitrt/elements/corps"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

const secret = "corp-test-secret-5d6e7f8a"

// env is an app with one corp (corps.Test) pointed at an emulator the test controls.
type env struct {
	t    testing.TB
	sim  *wecomsim.Server
	dir  string
	data string
	app  *runtime.App
}

func newEnv(t testing.TB, members, depts int, extra string, simOpts ...func(*wecomsim.Options)) *env {
	t.Helper()
	o := wecomsim.Options{CorpID: "wwcorptest0001", Secret: secret, Members: members, Departments: depts, Seed: 11}
	for _, f := range simOpts {
		f(&o)
	}
	sim, err := wecomsim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e := &env{t: t, sim: sim, dir: t.TempDir(), data: t.TempDir()}
	e.write("corps/Test/e.json", `{"title": "测试企业", "type": "corps.QywxInnerType"}`)
	e.write("corps/Test/Test.json", fmt.Sprintf(`{"corpId": %q, "agentId": "1000002", "secret": "${CORP_TEST_SECRET}", "apiBase": %q%s}`,
		sim.CorpID(), sim.URL(), extra))
	e.open()
	return e
}

func (e *env) write(rel, content string) {
	p := filepath.Join(e.dir, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// load opens the env's app on a data dir.
func (e *env) load(data string) (*runtime.App, error) {
	return runtime.Load(context.Background(), e.dir, runtime.Options{DataDir: data,
		Getenv: func(k string) (string, bool) { return secret, k == "CORP_TEST_SECRET" }})
}

// open (re)loads the app on the same state folder.
func (e *env) open() {
	e.t.Helper()
	if e.app != nil {
		e.app.Close()
	}
	app, err := e.load(e.data)
	if err != nil {
		e.t.Fatal(err)
	}
	if ps := app.Problems(); len(ps) > 0 {
		e.t.Fatal(ps)
	}
	e.app = app
	e.t.Cleanup(func() { app.Close() })
}

// js runs a script (with `corp` bound) and decodes its completion value into out.
func (e *env) js(code string, out any) error {
	e.t.Helper()
	var console bytes.Buffer
	res, err := e.app.Host().Run(context.Background(), runtime.Script{Name: "test.js",
		Code: `const corp = app.getElement("corps.Test");` + "\n" + code, Stdout: &console, Stderr: &console})
	if err != nil {
		return err
	}
	if strings.Contains(console.String()+string(res.JSON), secret) {
		e.t.Fatalf("the secret reached a script's output: %s %s", console.String(), res.JSON)
	}
	if out != nil && res.JSON != nil {
		if err := json.Unmarshal(res.JSON, out); err != nil {
			e.t.Fatalf("decode %s: %v", res.JSON, err)
		}
	}
	return nil
}

// mustJS is js that fails the test on error.
func (e *env) mustJS(code string, out any) {
	e.t.Helper()
	if err := e.js(code, out); err != nil {
		e.t.Fatalf("%s\n→ %v", code, err)
	}
}

// report is the part of a sync report the tests read.
type report struct {
	Added, Updated, Offlined, Reactivated, Unchanged, Writes int
	Warnings                                                 []string
	DurationMs                                               int64
	Path                                                     string
	DryRun                                                   bool
	Departments, Tags                                        struct{ Added, Updated, Removed int }
	Changes                                                  []struct{ Op, Kind, ID string }
}

func (e *env) sync(opts string) report {
	e.t.Helper()
	var r report
	e.mustJS(`corp.syncCorp(`+opts+`)`, &r)
	return r
}

type member struct {
	MemberID, Name, Status, OfflineBy, Mobile, Email string
	DeptIDs                                          []int64
	MainDeptID                                       int64
}

type localData struct {
	UserList []member
	DeptList []struct {
		DeptID, ParentID int64
		Name             string
	}
	RoleList      []struct{ RoleID, Name string }
	ThirdAuthList []struct{ MemberID, CorpID, UserID string }
	TagList       []struct {
		TagID     int64
		Name      string
		MemberIDs []string
	}
	AdminList []string
}

func (e *env) local() localData {
	e.t.Helper()
	var d localData
	e.mustJS(`corp.getLocalCorpData()`, &d)
	return d
}

// stateBytes is the state file's content.
func (e *env) stateBytes() []byte {
	b, err := os.ReadFile(filepath.Join(e.data, "state.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// must fails the test on an error of the emulator's controls.
func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}
