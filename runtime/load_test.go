package runtime

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/runtime/redact"
)

// brokenApp has one healthy element and one of each kind of problem.
var brokenApp = map[string]string{
	"app.json":                `{"name": "broken", "title": "Broken"}`,
	"a/Good/e.json":           `{"title": "Good one", "type": "testing.Echo"}`,
	"a/Good/Good.json":        `{"greeting": "hi"}`,
	"a/Syntax/e.json":         "{\n  \"title\": \"x\"\n  \"type\": \"testing.Echo\"\n}",
	"a/Unknown/e.json":        "{\n  \"title\": \"x\",\n  \"type\": \"nope.Type\"\n}",
	"a/Missing/e.json":        `{"type": "testing.Echo"}`,
	"a/Missing/Missing.json":  "\n{\"limit\": 1}",
	"a/Wrong/e.json":          `{"type": "testing.Echo"}`,
	"a/Wrong/Wrong.json":      "{\n  \"greeting\": 42\n}",
	"a/Unset/e.json":          `{"type": "testing.Echo"}`,
	"a/Unset/Unset.json":      "{\n  \"greeting\": \"hi\",\n  \"token\": \"${JITRT_TEST_UNSET}\"\n}",
	"a/Invalid/e.json":        `{"type": "testing.Echo"}`,
	"a/Invalid/Invalid.json":  "{\"greeting\": \"hi\",\n \"limit\": -1}",
	"a/Typo/e.json":           `{"type": "testing.Echo"}`,
	"a/Typo/Typo.json":        "{\"greeting\": \"hi\",\n \"Token\": \"x\"}",
	"a/NoConfig/e.json":       `{"type": "testing.Echo"}`,
	"a/Plain/e.json":          `{"type": "testing.Plain", "title": "Plain"}`,
	"a/bad-name/e.json":       `{"type": "testing.Plain"}`,
	"a/Meta/e.json":           `{"type": "testing.Meta", "title": "A type element", "extend": "testing.Plain"}`,
	"a/Good/sub/Inner/e.json": `{"type": "testing.Plain"}`,
	".hidden/X/e.json":        `{"type": "nope"}`,
	"node_modules/Y/e.json":   `{"type": "nope"}`,
}

func TestEveryProblemHasFileLineAndColumn(t *testing.T) {
	app := loadTest(t, writeTree(t, brokenApp), Options{})
	want := []string{
		`a/Invalid/Invalid.json:2:11: limit must not be negative, got -1`,
		`a/Missing/Missing.json:2:1: missing required key "greeting" (string)`,
		`a/NoConfig/NoConfig.json:1:1: config file is missing: testing.Echo needs "greeting"`,
		`a/Syntax/e.json:3:3: invalid JSON: unexpected '"': expected ',' or '}' after the value of "title"`,
		`a/Typo/Typo.json:2:2: unknown key "Token" (did you mean "token"?)`,
		`a/Unknown/e.json:3:11: unknown type "nope.Type" (registered: `,
		`a/Unset/Unset.json:3:12: environment variable JITRT_TEST_UNSET is not set (set it, or give a default: ${JITRT_TEST_UNSET:-value})`,
		`a/Wrong/Wrong.json:2:15: key "greeting" must be a string, not a number`,
		`a/bad-name/e.json:1:1: folder name "bad-name" is not a valid element name`,
	}
	got := app.Problems()
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), got.Error())
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].String(), w) {
			t.Errorf("problem %d:\n got  %s\n want %s…", i, got[i], w)
		}
	}
	// The healthy elements load and answer in spite of the others.
	for _, name := range []string{"a.Good", "a.Plain", "a.Good.sub.Inner"} {
		e, err := app.Element(name)
		if err != nil {
			t.Fatal(err)
		}
		if s := e.Status(); s.Status != "ok" || !s.Serving || s.Generation != 1 {
			t.Errorf("%s status = %+v", name, s)
		}
	}
	if out, _, err := run(t, app, `app.getElement("a.Good").greet("you")`); err != nil || out != `"hi, you"` {
		t.Errorf("greet = %s, %v", out, err)
	}
	if s := mustElement(t, app, "a.Meta").Status(); s.Status != "type" {
		t.Errorf("Meta-typed element status = %+v", s)
	}
	for _, hidden := range []string{"X", "Y", "hidden.X", "node_modules.Y"} {
		if _, err := app.Element(hidden); err == nil {
			t.Errorf("element %s under an ignored folder was loaded", hidden)
		}
	}
}

func mustElement(t *testing.T, app *App, name string) *Entry {
	t.Helper()
	e, err := app.Element(name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestGetElementOfFailedElementNamesItsError(t *testing.T) {
	app := loadTest(t, writeTree(t, brokenApp), Options{})
	_, _, err := run(t, app, `app.getElement("a.Wrong")`)
	if err == nil || !strings.Contains(err.Error(), "a.Wrong failed to load") ||
		!strings.Contains(err.Error(), `a/Wrong/Wrong.json:2:15: key "greeting" must be a string`) {
		t.Fatalf("err = %v", err)
	}
	if code := elements.CodeOf(err); code != elements.CodeElementFailed {
		t.Errorf("code = %s", code)
	}
	_, _, err = run(t, app, `app.getElement("a.Nope")`)
	if err == nil || !strings.Contains(err.Error(), `no element "a.Nope" in app broken`) || elements.CodeOf(err) != elements.CodeUnknownElement {
		t.Fatalf("err = %v (%s)", err, elements.CodeOf(err))
	}
	if !strings.HasPrefix(err.Error(), "test.js:1:") {
		t.Errorf("error does not start with the script position: %v", err)
	}
}

func TestSecretFromEnvironmentIsMaskedEverywhere(t *testing.T) {
	const secret = "s3cr3t-from-env-9f8e7d"
	dir := writeTree(t, map[string]string{
		"a/E/e.json": `{"type": "testing.Echo"}`,
		"a/E/E.json": `{"greeting": "hi", "token": "${TOKEN}"}`,
	})
	var logs strings.Builder
	app := loadTest(t, dir, Options{Getenv: func(k string) (string, bool) { return secret, k == "TOKEN" },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	app.Logger().Info("config "+secret, "token", secret, "err", errors.New("bad "+secret),
		slog.Group("g", "inner", secret), "any", []string{secret})
	app.Logger().With("w", secret).Warn("x")
	if strings.Contains(logs.String(), secret) || strings.Count(logs.String(), redact.Mask) < 6 {
		t.Errorf("secret in logs:\n%s", logs.String())
	}
	out, console, err := run(t, app, `const e = app.getElement("a.E"); const s = e.secret(); console.log("the token is", s); s`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out+console, secret) || !strings.Contains(console, redact.Mask) {
		t.Errorf("secret leaked: out=%s console=%s", out, console)
	}
	_, _, err = run(t, app, `throw new Error("boom " + app.getElement("a.E").secret())`)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("secret leaked in error: %v", err)
	}
}

func TestCheckStoreInMemoryWritesNothing(t *testing.T) {
	dir := writeTree(t, brokenApp)
	app := loadTest(t, dir, Options{State: StateNone})
	if app.Store().Path() != "" {
		t.Fatal("not in memory")
	}
	if _, err := Load(context.Background(), dir+"/missing", Options{}); err == nil {
		t.Fatal("loading a missing folder succeeded")
	}
}

// app.json "permissions" that name no callable method are problems at their key, with a
// suggestion; good ones are read, and a fixed app.json clears the problems.
func TestPermissionsNamingNoCallableMethodAreProblems(t *testing.T) {
	dir := testapp.WriteTree(t, map[string]string{
		"app.json": `{"name": "p", "permissions": {
  "x.E.greet": ["admin"],
  "x.E.gret": ["admin"],
  "x.F.greet": ["admin"],
  "x.E.take": ["admin"],
  "nodot": ["admin"],
  "x.E.pair": [],
  "x.E.row": ["no spaces"]
}}`,
		"x/E/e.json": `{"type": "testing.Echo"}`,
		"x/E/E.json": `{"greeting": "hi"}`,
	})
	app := loadTest(t, dir, Options{})
	got := app.Problems().Error()
	for _, want := range []string{
		`app.json:3:3: permissions: element x.E has no method "gret" (did you mean "greet"?)`,
		`app.json:4:3: permissions: no element "x.F" (did you mean "x.E"?)`,
		`app.json:5:3: permissions: x.E.take can only be called from the app's scripts, never over HTTP`,
		`app.json:6:3: permissions: "nodot" must name an element's method`,
		`app.json:7:15: permissions["x.E.pair"] must be a non-empty list of role ids`,
		`app.json:8:15: permissions["x.E.row"]: a role id is 1 to 64 letters, digits, _ and -, not no spaces`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "x.E.greet\"") || strings.Count(got, "\n") != 5 {
		t.Errorf("problems:\n%s", got)
	}
	if roles, ok := app.Permission("x.E", "greet"); !ok || len(roles) != 1 || roles[0] != "admin" {
		t.Fatalf("x.E.greet: %v %v", roles, ok)
	}
	testapp.Write(t, dir, "app.json", `{"name": "p", "permissions": {"x.E.greet": ["member"]}}`)
	app.ReloadApp()
	if ps := app.Problems(); len(ps) != 0 {
		t.Fatalf("after the fix: %v", ps)
	}
	if roles, _ := app.Permission("x.E", "greet"); roles[0] != "member" {
		t.Fatalf("after the reload: %v", roles)
	}
}

// A permission that opens a script method is warned of: the member's roles are checked when
// they call it, not for what it calls on their behalf (the design, said where it is set).
func TestPermissionsOpeningAScriptMethodAreWarnedOf(t *testing.T) {
	dir := testapp.WriteTree(t, map[string]string{
		"app.json": `{"name": "p", "permissions": {
  "x.E.greet": ["member"],
  "x.S.relay": ["member"],
  "x.S.greet": ["member"]
}}`,
		"x/E/e.json":   `{"type": "testing.Echo"}`,
		"x/E/E.json":   `{"greeting": "hi"}`,
		"t/S/e.json":   `{"type": "testing.Meta", "extend": "testing.Echo", "callable": ["relay"]}`,
		"t/S/index.js": `exports.relay = function () { return app.getElement("x.E").greet("x") }`,
		"x/S/e.json":   `{"type": "t.S"}`,
		"x/S/S.json":   `{"greeting": "hi"}`,
	})
	app := loadTest(t, dir, Options{})
	if ps := app.Problems(); len(ps) > 0 {
		t.Fatal(ps)
	}
	ws := app.Warnings().Error()
	want := `app.json:3:3: warning: permissions: x.S.relay is a script method: the roles are checked when a member calls it, not for the methods it calls`
	if !strings.Contains(ws, want) || strings.Contains(ws, "x.E.greet") || strings.Contains(ws, "x.S.greet") {
		t.Fatalf("warnings:\n%s", ws)
	}
}
