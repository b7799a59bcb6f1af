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

var chainApp = map[string]string{
	"t/A/e.json": `{"type": "testing.Meta", "extend": "testing.Echo", "callable": ["describe"]}`,
	"t/A/index.js": `exports.greet = function (n) { return "A(" + this.$super.greet(n) + ")" };
exports.describe = function () { return "I am " + this.greet("me") };`,
	"t/B/e.json": `{"type": "testing.Meta", "extend": "t.A", "callable": ["onlyB"]}`,
	"t/B/index.js": `exports.greet = function (n) { return "B(" + this.$super.greet(n) + ")" };
exports.onlyB = function () { return "b" };`,
	"t/C/e.json":   `{"type": "testing.Meta", "extend": "t.B"}`,
	"t/C/index.js": `exports.greet = function (n) { return "C(" + this.$super.greet(n) + "," + this.onlyB() + ")" };`,
	"e/I/e.json":   `{"type": "t.C", "title": "three links down"}`,
	"e/I/I.json":   `{"greeting": "hi"}`,
	"e/J/e.json":   `{"type": "t.B"}`,
	"e/J/J.json":   `{"greeting": "yo"}`,
}

// Each link's this.$super is the link above; this is the element, most derived first.
func TestTypeChainsCallSuperUpTheChain(t *testing.T) {
	app := loadTest(t, writeTree(t, chainApp), Options{})
	if ps := app.Problems(); len(ps) > 0 {
		t.Fatal(ps)
	}
	for code, want := range map[string]string{
		`app.getElement("e.I").greet("x")`:          `"C(B(A(hi, x)),b)"`,
		`app.getElement("e.I").$super.greet("x")`:   `"B(A(hi, x))"`,
		`app.getElement("e.I").describe()`:          `"I am C(B(A(hi, me)),b)"`, // A's method calls the most derived greet
		`app.getElement("e.J").greet("x")`:          `"B(A(yo, x))"`,
		`app.getElement("e.J").$super.greet("x")`:   `"A(yo, x)"`,
		`typeof app.getElement("e.J").$super.onlyB`: `"undefined"`,
		`app.getElement("e.I").type`:                `"t.C"`,
	} {
		if got, _, err := run(t, app, code); err != nil || got != want {
			t.Errorf("%s = %s (%v), want %s", code, got, err, want)
		}
	}
	// from Go: the chain applies; methods added up the chain keep their callable flag
	if res, err := app.CallJSON(context.Background(), "e.I", "describe", nil); err != nil || res != "I am C(B(A(hi, me)),b)" {
		t.Errorf("Go call through the chain: %v %v", res, err)
	}
	if m := mustElement(t, app, "e.I").Method("onlyB"); m == nil || !m.Callable {
		t.Errorf("onlyB, callable in t.B, from t.C's instance: %+v", m)
	}
}

func TestTypeChainCyclesAndMissingBasesAreReported(t *testing.T) {
	app := loadTest(t, writeTree(t, map[string]string{
		"t/X/e.json":    "{\"type\": \"testing.Meta\",\n  \"extend\": \"t.Y\"}",
		"t/Y/e.json":    "{\"type\": \"testing.Meta\",\n   \"extend\": \"t.X\"}",
		"t/Self/e.json": `{"type": "testing.Meta", "extend": "t.Self"}`,
		"t/Z/e.json":    "{\"type\": \"testing.Meta\",\n    \"extend\": \"t.Nope\"}",
		"t/W/e.json":    `{"type": "testing.Meta", "extend": "t.Z"}`,
		"e/A/e.json":    `{"type": "t.W"}`,
		"e/B/e.json":    `{"type": "t.X"}`,
	}), Options{})
	got := app.Problems().Error()
	for _, want := range []string{
		`t/X/e.json:2:13: extend: a cycle of Type elements: t.X → t.Y → t.X`,
		`t/Y/e.json:2:14: extend: a cycle of Type elements: t.Y → t.X → t.Y`,
		`t/Z/e.json:2:15: extend: unknown type "t.Nope"`,
		`t/W/e.json:1:36: extend: the app's Type element t.Z (t/Z) has errors: t/Z/e.json:2:15: extend: unknown type "t.Nope"`,
		`e/A/e.json:1:10: type t.W is the app's Type element t/W, which has errors`,
		`e/B/e.json:1:10: type t.X is the app's Type element t/X, which has errors`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	// a Type element named as its own base is the app's rewrite of a registered Type only
	if !strings.Contains(got, `t/Self/e.json:1:36: extend: t.Self is this Type element itself; name the Type it builds on`) {
		t.Errorf("a Type element extending itself:\n%s", got)
	}
}

// An edit of any link rebuilds everything below it: the next call runs the new code; a
// broken link leaves the last good instances serving, and its fix brings them back.
func TestEditingTheMiddleOfAChainIsLiveOnTheNextCall(t *testing.T) {
	dir := writeTree(t, chainApp)
	app := loadTest(t, dir, Options{})
	edit := func(rel, content string) []string {
		os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644)
		app.ScriptsChanged()
		var evs []string
		for _, ev := range app.ReloadElement(filepath.Dir(rel)) {
			evs = append(evs, ev.Kind+" "+ev.Element)
		}
		return evs
	}
	evs := edit("t/B/index.js", `exports.greet = function (n) { return "B2(" + this.$super.greet(n) + ")" }; exports.onlyB = function () { return "b2" };`)
	if strings.Join(evs, ", ") != "reload t.B, reload t.C, reload e.I, reload e.J" {
		t.Fatalf("an edit of t.B reloads %v", evs)
	}
	if got, _, err := run(t, app, `app.getElement("e.I").greet("x")`); err != nil || got != `"C(B2(A(hi, x)),b2)"` {
		t.Fatalf("after the edit: %s %v", got, err)
	}
	// t.B now extends a Type that is not there: B, C, I and J report it and keep serving
	evs = edit("t/B/e.json", `{"type": "testing.Meta", "extend": "t.Gone"}`)
	if strings.Join(evs, ", ") != "error t.B, error t.C, error e.I, error e.J" {
		t.Fatalf("a broken t.B: %v", evs)
	}
	if got, _, err := run(t, app, `app.getElement("e.I").greet("x")`); err != nil || got != `"C(B2(A(hi, x)),b2)"` {
		t.Fatalf("the last good instance: %s %v", got, err)
	}
	if s := mustElement(t, app, "t.C").Status(); s.Status != "error" || !strings.Contains(s.Error, "t.B (t/B) has errors") {
		t.Fatalf("t.C's status: %+v", s)
	}
	evs = edit("t/B/e.json", chainApp["t/B/e.json"])
	if strings.Join(evs, ", ") != "reload t.B, reload t.C, reload e.I, reload e.J" || len(app.Problems()) > 0 {
		t.Fatalf("the fix: %v %v", evs, app.Problems())
	}
	// the top link's edit rebuilds only its own instances
	evs = edit("t/A/index.js", `exports.greet = function (n) { return "A2(" + this.$super.greet(n) + ")" }; exports.describe = function () { return "d" };`)
	if strings.Join(evs, ", ") != "reload t.A, reload t.B, reload t.C, reload e.I, reload e.J" {
		t.Fatalf("an edit of t.A reloads %v", evs)
	}
	if got, _, err := run(t, app, `app.getElement("e.I").greet("x")`); err != nil || got != `"C(B2(A2(hi, x)),b2)"` {
		t.Fatalf("after the edit of t.A: %s %v", got, err)
	}
}

// An app's rewrite of a registered Type is that app's: another app in the same process
// builds the registered Type as it is.
func TestARewriteOfARegisteredTypeStaysInItsApp(t *testing.T) {
	rewriting := loadTest(t, writeTree(t, map[string]string{
		"testing/Echo/e.json":   `{"type": "testing.Meta"}`,
		"testing/Echo/index.js": `exports.greet = function (n) { return "rewritten " + this.$super.greet(n) }`,
		"t/Up/e.json":           `{"type": "testing.Meta", "extend": "testing.Echo"}`,
		"t/Up/index.js":         `exports.greet = function (n) { return this.$super.greet(n).toUpperCase() }`,
		"e/X/e.json":            `{"type": "testing.Echo"}`,
		"e/X/X.json":            `{"greeting": "hi"}`,
		"e/U/e.json":            `{"type": "t.Up"}`,
		"e/U/U.json":            `{"greeting": "hi"}`,
	}), Options{})
	plain := loadTest(t, writeTree(t, map[string]string{
		"e/X/e.json": `{"type": "testing.Echo"}`,
		"e/X/X.json": `{"greeting": "hi"}`,
	}), Options{})
	if got, _, err := run(t, rewriting, `app.getElement("e.X").greet("y") + "|" + app.getElement("e.U").greet("y")`); err != nil || got != `"rewritten hi, y|REWRITTEN HI, Y"` {
		t.Fatalf("the rewriting app: %s %v %v", got, err, rewriting.Problems())
	}
	if got, _, err := run(t, plain, `app.getElement("e.X").greet("y")`); err != nil || got != `"hi, y"` {
		t.Fatalf("the other app: %s %v", got, err)
	}
}
