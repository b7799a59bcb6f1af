package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var typedApp = map[string]string{
	"e/Loud/e.json": `{"type": "testing.Meta", "title": "Loud echo", "extend": "testing.Echo", "callable": ["shout"]}`,
	"e/Loud/index.js": `
exports.greet = function (name) {
  return this.$super.greet(name).toUpperCase() + "!";
};
exports.shout = function (a, b) {
  return this.greet(a) + " " + this.title + " " + (b || "");
};
exports.helper = function () { return "scripts only" };`,
	"e/I/e.json": `{"type": "e.Loud", "title": "Instance"}`,
	"e/I/I.json": `{"greeting": "hey"}`,
	"e/P/e.json": `{"type": "testing.Echo"}`,
	"e/P/P.json": `{"greeting": "plain"}`,
}

func TestAppTypeElementsOverrideAndAddMethods(t *testing.T) {
	app := loadTest(t, writeTree(t, typedApp), Options{})
	if ps := app.Problems(); len(ps) > 0 {
		t.Fatal(ps)
	}
	for code, want := range map[string]string{
		`app.getElement("e.I").greet("you")`:           `"HEY, YOU!"`,
		`app.getElement("e.I").greet({name: "named"})`: `"HEY, NAMED!"`,
		`app.getElement("e.I").$super.greet("you")`:    `"hey, you"`,
		`app.getElement("e.I").shout("a", "b")`:        `"HEY, A! Instance b"`,
		`app.getElement("e.I").pair("u", ["r"]).roles`: `1`,
		`app.getElement("e.P").greet("you")`:           `"plain, you"`,
		`app.getElement("e.I").type`:                   `"e.Loud"`,
	} {
		if got, _, err := run(t, app, code); err != nil || got != want {
			t.Errorf("%s = %s (%v), want %s", code, got, err, want)
		}
	}
	// from Go (the HTTP API, tasks): overrides apply, new methods only if callable
	if res, err := app.CallJSON(context.Background(), "e.I", "greet", []any{"go"}); err != nil || res != "HEY, GO!" {
		t.Errorf("Go call of an override: %v %v", res, err)
	}
	if res, err := app.CallJSON(context.Background(), "e.I", "shout", []any{"x"}); err != nil || res != "HEY, X! Instance " {
		t.Errorf("Go call of a new callable method: %v %v", res, err)
	}
	if m := mustElement(t, app, "e.I").Method("helper"); m == nil || m.Callable {
		t.Errorf("helper: %+v", m)
	}
	if s := mustElement(t, app, "e.Loud").Status(); s.Status != "type" {
		t.Errorf("type element status %+v", s)
	}
}

func TestAppRewritesARegisteredType(t *testing.T) {
	app := loadTest(t, writeTree(t, map[string]string{
		"testing/Echo/e.json":   `{"type": "testing.Meta", "title": "the app's own Echo"}`,
		"testing/Echo/index.js": `exports.greet = function (n) { return "rewritten " + this.$super.greet(n) }`,
		"e/X/e.json":            `{"type": "testing.Echo"}`,
		"e/X/X.json":            `{"greeting": "hi"}`,
	}), Options{})
	if got, _, err := run(t, app, `app.getElement("e.X").greet("y")`); err != nil || got != `"rewritten hi, y"` {
		t.Fatalf("%s %v %v", got, err, app.Problems())
	}
}

func TestBrokenTypeElementsAreReported(t *testing.T) {
	app := loadTest(t, writeTree(t, map[string]string{
		"t/BadBase/e.json": "{\"type\": \"testing.Meta\",\n  \"extend\": \"testing.Nope\"}",
		"t/BadJS/e.json":   `{"type": "testing.Meta", "extend": "testing.Echo"}`,
		"t/BadJS/index.js": "exports.greet = function () {\n  return (;\n}",
		"e/A/e.json":       `{"type": "t.BadBase"}`,
		"e/B/e.json":       `{"type": "t.BadJS"}`,
		"e/B/B.json":       `{"greeting": "x"}`,
	}), Options{})
	got := app.Problems().Error()
	for _, want := range []string{
		`t/BadBase/e.json:2:13: extend: unknown type "testing.Nope"`,
		`e/A/e.json:1:10: type t.BadBase is the app's Type element t/BadBase, which has errors`,
		`t/BadJS/index.js:2:11: SyntaxError: Unexpected token ;`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestReloadingATypeElementReloadsItsInstances(t *testing.T) {
	dir := writeTree(t, typedApp)
	app := loadTest(t, dir, Options{})
	os.WriteFile(filepath.Join(dir, "e/Loud/index.js"), []byte(`exports.greet = function (n) { return "v2 " + n }; exports.whisper = function () { return "psst" }`), 0o644)
	app.ScriptsChanged()
	var reloaded []string
	for _, ev := range app.ReloadElement("e/Loud") {
		reloaded = append(reloaded, ev.Kind+" "+ev.Element)
	}
	if got, _, err := run(t, app, `app.getElement("e.I").whisper()`); err != nil || got != `"psst"` {
		t.Fatalf("the method the edit adds: %s %v", got, err)
	}
	if got, _, err := run(t, app, `app.getElement("e.I").greet("z")`); err != nil || got != `"v2 z"` {
		t.Fatalf("the edited override: %s %v", got, err)
	}
	if strings.Join(reloaded, ", ") != "reload e.Loud, reload e.I" {
		t.Fatalf("reloads: %v", reloaded)
	}
}
