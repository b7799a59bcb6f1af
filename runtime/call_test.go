package runtime

import (
	"context"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/internal/testtypes"
)

// Every side that calls a method gets the same policy from the one call path.
func TestOneCallPathOnePolicy(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{})
	// a misspelt named argument names the key and the parameters, from a script...
	_, _, err := run(t, app, `app.getElement("e.Hello").pair({memberID: "u1", roleIdList: ["admin"]})`)
	if err == nil || !strings.Contains(err.Error(), `pair has no parameter "memberID" (parameters: memberId, roleIdList)`) || elements.CodeOf(err) != elements.CodeInvalidArgument {
		t.Fatalf("from a script: %v", err)
	}
	// ...and from outside (a JSON body)
	_, err = app.CallJSON(context.Background(), "e.Hello", "pair", map[string]any{"memberID": "u1", "roleIdList": []any{}})
	if err == nil || !strings.Contains(err.Error(), `pair has no parameter "memberID"`) {
		t.Fatalf("from outside: %v", err)
	}
	// a method only scripts may call is refused outside, with the same words everywhere
	for _, m := range []string{"handle", "take"} {
		_, err := app.CallJSON(context.Background(), "e.Hello", m, nil)
		if err == nil || elements.CodeOf(err) != elements.CodeUnknownMethod || !strings.Contains(err.Error(), "can only be called from the app's scripts") {
			t.Errorf("%s from outside: %v", m, err)
		}
	}
	if _, err := app.Call(context.Background(), "e.Hello", "greet", elements.Args{"name": "task"}); err != nil {
		t.Fatal(err)
	}
}

// A method that panics is an error with code internal for its caller; the process, the
// runtime and the element go on, and the panic is counted.
func TestPanicInAMethodIsAnErrorForItsCaller(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 1})
	got, _, err := run(t, app, `let code; try { app.getElement("e.Hello").boom() } catch (e) { code = e.code + ": " + e.message }; code`)
	if err != nil || !strings.Contains(got, "internal: internal error in e.Hello.boom: assignment to entry in nil map") {
		t.Fatalf("from a script: %s %v", got, err)
	}
	_, err = app.CallJSON(context.Background(), "e.Hello", "boom", nil)
	if elements.CodeOf(err) != elements.CodeInternal {
		t.Fatalf("from outside: %v", err)
	}
	if got, _, err := run(t, app, `app.getElement("e.Hello").greet("after")`); err != nil || got != `"hello, after"` {
		t.Fatalf("after the panics: %s %v", got, err)
	}
	if app.Panics() != 2 {
		t.Fatalf("%d panics counted, want 2", app.Panics())
	}
}

// A script that holds an element's $super or an object one of its methods returned, across
// a reload of the element, never uses the instance the reload retired: $super goes to the
// current instance, and the object says to get it again.
func TestHeldReferencesNeverUseARetiredInstance(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"e/Loud/e.json":   `{"type": "testing.Meta", "extend": "testing.Echo"}`,
		"e/Loud/index.js": `exports.greet = function (n) { return this.$super.greet(n).toUpperCase() }`,
		"e/I/e.json":      `{"type": "e.Loud"}`,
		"e/I/I.json":      `{"greeting": "old"}`,
	})
	app := loadTest(t, dir, Options{})
	done := make(chan string)
	go func() {
		got, _, err := run(t, app, `
			const el = app.getElement("e.I");
			const sup = el.$super, h = el.handle();
			const before = [sup.greet("a"), h.greeting()];
			el.park();  // the element is reloaded meanwhile
			let stale; try { h.greeting() } catch (e) { stale = e.code + ": " + e.message }
			[before, sup.greet("b"), el.greet("c"), stale]`)
		if err != nil {
			got = err.Error()
		}
		done <- got
	}()
	old := testtypes.Last("e.I")
	for old.Sleeping() == 0 {
		goruntime.Gosched()
	}
	testapp.Write(t, dir, "e/I/I.json", `{"greeting": "new"}`)
	if evs := app.ReloadElement("e/I"); evs[0].Kind != "reload" {
		t.Fatal(evs)
	}
	testtypes.Release("e.I")
	got := strings.Join(strings.Fields(<-done), " ")
	want := `[ [ "old, a", "old" ], "new, b", "NEW, C", "failed_precondition: this object came from e.I before it was reloaded; get it again (call the method that returned it)" ]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if !old.Closed() {
		t.Fatal("the retired instance was not closed after the run let go of it")
	}
}
