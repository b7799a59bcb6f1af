package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/internal/testtypes"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime/jshost"
)

// A string too long to make in one step is a RangeError a script can catch, not a panic of
// the process.
func TestHugeStringsAreRangeErrors(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 1})
	for _, expr := range []string{`"y".repeat(1e18)`, `"y".padStart(1e18)`, `"y".padEnd(1e18, "ab")`, `"ab".repeat(2 ** 30)`} {
		got, _, err := run(t, app, `try { `+expr+`; "no error" } catch (e) { e instanceof RangeError ? "RangeError: " + e.message : String(e) }`)
		if err != nil || !strings.HasPrefix(got, `"RangeError: Invalid string length`) {
			t.Errorf("%s: %s %v", expr, got, err)
		}
		_, _, err = run(t, app, expr)
		if err == nil || !strings.Contains(err.Error(), "RangeError: Invalid string length") || elements.CodeOf(err) != elements.CodeScript {
			t.Errorf("%s uncaught: %v", expr, err)
		}
	}
	// what is within the limit still works, as do the built-ins' own errors
	if got, _, err := run(t, app, `["ab".repeat(3), "7".padStart(3, "0"), "x".padEnd(3), (() => { try { "a".repeat(-1) } catch (e) { return e.name } })()]`); err != nil || strings.Join(strings.Fields(got), "") != `["ababab","007","x","RangeError"]` {
		t.Fatalf("%s %v", got, err)
	}
	if app.Panics() != 0 {
		t.Fatalf("%d panics", app.Panics())
	}
}

// Unbounded recursion ends its run at once with a RangeError, not at the time limit.
func TestRecursionHasAStackLimit(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 1, Limits: jshost.Limits{CallStack: 500}})
	_, _, err := run(t, app, "function f(n) {\n  return f(n + 1) + 1\n}\nf(0)")
	if err == nil || err.Error() != "test.js:2:11: RangeError: Maximum call stack size exceeded (the limit is 500 calls deep)" ||
		elements.CodeOf(err) != elements.CodeResourceExhausted {
		t.Fatalf("%v (%s), want the stack limit's RangeError (not the time limit)", err, elements.CodeOf(err))
	}
	if got, _, err := run(t, app, `function g(n) { return n ? g(n - 1) : "deep" }; g(400)`); err != nil || got != `"deep"` {
		t.Fatalf("recursion within the limit: %s %v", got, err)
	}
}

// A stack overflow is a RangeError the script's own catch and finally see, as in V8 (issue
// #26, trap 8; goja's patch: third_party/goja/JITRT.md); no way of meeting the limit again
// (through built-ins calling back, catching and recursing, a getter) gets deeper or ends
// the process, and the pool's runtime serves the next run.
func TestAStackOverflowIsACatchableRangeError(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 1, Limits: jshost.Limits{CallStack: 500}})
	caught := []struct{ script, want string }{
		{`function f(n) { return f(n + 1) + 1 }
let r; try { f(0) } catch (e) { r = [e instanceof RangeError, e.name, e.message] } finally { r.push("finally") }; r`,
			`[true,"RangeError","Maximum call stack size exceeded","finally"]`},
		// through a built-in that calls back into the script
		{`function g() { [0].forEach(g) }; try { g(); "no" } catch (e) { e.message }`, `"Maximum call stack size exceeded"`},
		// through a getter
		{`const o = { get x() { return this.x } }; try { o.x; "no" } catch (e) { e.name }`, `"RangeError"`},
		// a catch at every level that recurses again: bounded by the limit, ends
		{`let n = 0; function h(d) { n++; if (d > 3) return; try { h(d) } catch (e) { h(d + 1) } }; h(0); n > 500`, `true`},
		// deep recursion inside the handler of a caught overflow still works within the limit
		{`function f() { f() }; function g(n) { return n ? g(n - 1) : "deep" }; try { f() } catch (e) { g(400) }`, `"deep"`},
	}
	for _, c := range caught {
		got, _, err := run(t, app, c.script)
		if err != nil || strings.Join(strings.Fields(got), "") != strings.Join(strings.Fields(c.want), "") {
			t.Errorf("%s\n= %s %v, want %s", c.script, got, err, c.want)
		}
	}
	// thrown again, it ends the run as an uncaught overflow does
	_, _, err := run(t, app, "function f() { f() }\ntry { f() } catch (e) { throw e }")
	if elements.CodeOf(err) != elements.CodeResourceExhausted || err == nil || !strings.Contains(err.Error(), "Maximum call stack size exceeded (the limit is 500 calls deep)") {
		t.Errorf("rethrown: %v (%s)", err, elements.CodeOf(err))
	}
	// a script's own RangeError keeps the script's code
	if _, _, err := run(t, app, `throw new RangeError("mine")`); elements.CodeOf(err) != elements.CodeScript {
		t.Errorf("own RangeError: %v (%s)", err, elements.CodeOf(err))
	}
	if got, _, err := run(t, app, `1 + 1`); err != nil || got != "2" {
		t.Fatalf("the runtime after the overflows: %s %v", got, err)
	}
	if app.Panics() != 0 {
		t.Fatalf("%d panics", app.Panics())
	}
}

// A run that changes a built-in, a global or a bound element leaves nothing the next runs
// see; ordinary code that assigns overridable properties still works. The same with the
// runtimes of a one-run command (jitrt exec, OneRun: each runtime dropped after its run,
// its built-ins not frozen).
func TestNoRunSeesAnothersBuiltIns(t *testing.T) {
	for _, oneRun := range []bool{false, true} {
		t.Run(fmt.Sprintf("OneRun=%v", oneRun), func(t *testing.T) { noRunSeesAnothersBuiltIns(t, oneRun) })
	}
}

func noRunSeesAnothersBuiltIns(t *testing.T, oneRun bool) {
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 1, OneRun: oneRun})
	poison := []string{
		`JSON.stringify = () => '"pwned"'`,
		`(function () { "use strict"; try { JSON.stringify = () => '"pwned"' } catch (e) {} })()`,
		`Object.defineProperty(JSON, "stringify", {get() { return () => '"pwned"' }})`,
		`Object.prototype.toString = () => "pwned"`,
		`Array.prototype.map = function () { return ["pwned"] }`,
		`delete Array.prototype.map`,
		`Array.prototype[Symbol.iterator] = function* () { yield "pwned" }`,
		`String.prototype.evil = "pwned"`,
		`Object.defineProperty(globalThis, "evil", {value: "pwned"})`,
		`globalThis.evil = "pwned"`,
		`var evil = "pwned"`,
		`console.log = () => {}`,
		`app.getElement = () => "pwned"`,
		`app.getElement("e.Hello").greet = () => "pwned"`,
		`Math.max = () => "pwned"`,
		`Function.prototype.call = () => "pwned"`,
		`Error.prototype.toString = () => "pwned"`,
		`Promise.resolve = () => "pwned"`,
		`Object.setPrototypeOf(Array.prototype, {evil: "pwned"})`,
	}
	check := `JSON.stringify({a: [1, 2].map(x => x * 2), s: String({}), it: [...["i"]], m: Math.max(1, 2),
		e: typeof evil, g: app.getElement("e.Hello").greet("x"), h: typeof "".evil, c: String(new Error("m")),
		f: (function () { return this.v }).call({v: "call"})})`
	want := `"{\"a\":[2,4],\"s\":\"[object Object]\",\"it\":[\"i\"],\"m\":2,\"e\":\"undefined\",\"g\":\"hello, x\",\"h\":\"undefined\",\"c\":\"Error: m\",\"f\":\"call\"}"`
	checks := 100 // a pooled runtime, reused: many times over
	if oneRun {
		checks = 3 // each run its own runtime
	}
	for _, p := range poison {
		run(t, app, p) // an error or not: it may not change what follows
		for i := 0; i < checks; i++ {
			if got, out, err := run(t, app, check+`; console.log("ok"); `+check); err != nil || !strings.HasSuffix(got, want) || out != "ok\n" {
				t.Fatalf("after %s, run %d: %s %q %v", p, i, got, out, err)
			}
		}
	}
	// code that assigns the properties built-ins let objects override still works
	got, _, err := run(t, app, `
		function F() {} F.prototype.toString = function () { return "F" }; F.prototype.constructor = F;
		class MyError extends Error { constructor(m) { super(m); this.name = "MyError" } }
		function Old(m) { this.message = m } Old.prototype = Object.create(Error.prototype); Old.prototype.name = "Old";
		const e = new Error(); e.message = "set";
		const o = {valueOf() { return 41 }};
		[String(new F()), String(new MyError("m")), String(new Old("o")), e.message, o + 1]`)
	if err != nil || strings.Join(strings.Fields(got), "") != `["F","MyError:m","Old:o","set",42]` {
		t.Fatalf("ordinary code: %s %v", got, err)
	}
}

// A script that allocates without end is stopped with code resource_exhausted before it
// takes the process down; the runtime it ran on is replaced and others go on.
func TestMemoryBombsAreStopped(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 2, Limits: jshost.Limits{RunMemory: 64 << 20}})
	bombs := []string{
		`let s = "x"; while (true) s += s`,
		`const a = [], s = "x".repeat(1e5); for (let i = 0; ; i++) a.push(s + i)`,
		`let a = []; while (true) a.push(new Array(1e4).fill(0))`,
		`const m = new Map(); for (let i = 0; ; i++) m.set(i, {i, s: "v" + i})`,
	}
	if testing.Short() {
		bombs = bombs[:2] // the quick ones; make test-slow runs every kind
	}
	for _, bomb := range bombs {
		// a time limit no machine reaches before the memory ceiling: only the memory may stop it
		_, err := app.Host().Run(context.Background(), Script{Name: "bomb.js", Code: bomb, Timeout: testwait.Hang})
		if elements.CodeOf(err) != elements.CodeResourceExhausted || !strings.Contains(err.Error(), "it used more than its 64 MiB of memory") {
			t.Fatalf("%s: %v (%s)", bomb, err, elements.CodeOf(err))
		}
	}
	// A Go method's allocations are not the script's.
	if _, _, err := run(t, app, `const e = app.getElement("e.Hello"); for (let i = 0; i < 3; i++) e.greet("x"); "ok"`); err != nil {
		t.Fatal(err)
	}
	if app.Host().Exhausted() != int64(len(bombs)) {
		t.Fatalf("%d runs stopped for memory", app.Host().Exhausted())
	}
}

// Past the process's memory budget, the runs that grew the heap are stopped, however many.
func TestTheProcessBudgetStopsConcurrentBombs(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 3, Limits: jshost.Limits{RunMemory: 4 << 30, Memory: heapNow() + 192<<20}})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = run(t, app, `const a = [], s = "x".repeat(1e6); for (let i = 0; ; i++) a.push(s + i)`)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if elements.CodeOf(err) != elements.CodeResourceExhausted || !strings.Contains(err.Error(), "the process's memory passed its budget") {
			t.Fatalf("%v (%s)", err, elements.CodeOf(err))
		}
	}
}

// Past the number of runs at once, a caller that cannot wait is told it is busy; one that
// can waits for its turn.
func TestRunsAtOnceAreCapped(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{Limits: jshost.Limits{Runs: 1}})
	parked := make(chan error)
	go func() {
		_, _, err := run(t, app, `app.getElement("e.Hello").park()`)
		parked <- err
	}()
	for testtypes.Last("e.Hello") == nil || testtypes.Last("e.Hello").Sleeping() == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err := app.Host().Run(elements.WithoutQueue(context.Background()), Script{Code: `1`})
	if elements.CodeOf(err) != elements.CodeBusy || err.Error() != "all 1 script runs are busy; try again shortly" {
		t.Fatalf("a caller that cannot wait: %v", err)
	}
	waited := make(chan error)
	go func() {
		_, err := app.Host().Run(context.Background(), Script{Code: `1`})
		waited <- err
	}()
	select {
	case err := <-waited:
		t.Fatalf("a caller that can wait did not: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	testtypes.Release("e.Hello")
	if err := <-parked; err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
}

// require() stays in the app: no link out of it, no dot-folder, and no element file other
// than a script — an element's config may hold a secret written inline.
func TestRequireReadsOnlyTheAppsScripts(t *testing.T) {
	outside := t.TempDir()
	testapp.Write(t, outside, "hostname", "the-host-name-outside")
	dir := writeTree(t, map[string]string{
		"e/Hello/e.json":     `{"type": "testing.Echo"}`,
		"e/Hello/Hello.json": `{"greeting": "hi", "token": "inline-token-9a8b7c"}`,
		"e/Hello/helper.js":  `exports.ok = "scripts of an element are fine"`,
		".jitrt/x.js":        `exports.x = 1`,
		"scripts/.hidden.js": `exports.x = 1`,
		"scripts/lib/a.js":   `exports.a = "a"`,
		"data/table.json":    `{"rows": 2}`,
	})
	os.Symlink(outside, filepath.Join(dir, "scripts", "etclink"))
	os.Symlink(filepath.Join(outside, "hostname"), filepath.Join(dir, "scripts", "host.js"))
	app := loadTest(t, dir, Options{})
	for _, c := range []struct{ module, want string }{
		{"./scripts/etclink/hostname", "is a link to"},
		{"./scripts/host.js", "outside the app folder"},
		{"./e/Hello/Hello.json", "scripts cannot read an element's e.json or config"},
		{"./e/Hello/e.json", "scripts cannot read an element's e.json or config"},
		{"./.jitrt/x.js", "dot-folder or a dotfile"},
		{"./scripts/.hidden.js", "dot-folder or a dotfile"},
		{"../../etc/passwd", "outside the app folder"},
	} {
		_, _, err := run(t, app, `require("`+c.module+`")`)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("require(%q): %v", c.module, err)
			continue
		}
		if strings.Contains(err.Error(), "the-host-name-outside") || strings.Contains(err.Error(), "inline-token") {
			t.Errorf("require(%q) showed the file: %v", c.module, err)
		}
	}
	if got, _, err := run(t, app, `[require("./e/Hello/helper.js").ok, require("./scripts/lib/a").a, require("./data/table.json").rows]`); err != nil || strings.Join(strings.Fields(got), "") != `["scriptsofanelementarefine","a",2]` {
		t.Fatalf("%s %v", got, err)
	}
}
