package runtime

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/testtypes"
)

var echoApp = map[string]string{
	"app.json":               `{"name": "echoapp", "title": "Echo App", "entry": "scripts/main.js"}`,
	"e/Hello/e.json":         `{"title": "Hello", "type": "testing.Echo"}`,
	"e/Hello/Hello.json":     `{"greeting": "hello"}`,
	"scripts/main.js":        `const lib = require("./lib/util"); lib.shout(app.getElement("e.Hello").greet("x"))`,
	"scripts/lib/util.js":    `exports.shout = s => s.toUpperCase();`,
	"scripts/lib/thrower.js": "\n\nfunction f() {\n  throw new Error('deep');\n}\nexports.f = f;",
}

func TestScriptsReachElements(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{})
	for _, c := range []struct{ code, want string }{
		{`app.getElement("e.Hello").title`, `"Hello"`},
		{`app.getElement("e.Hello").fullName`, `"e.Hello"`},
		{`app.getElement("e.Hello").type`, `"testing.Echo"`},
		{`app.getElement("e.Hello").greeting`, `"hello"`},
		{`app.name + "/" + app.title`, `"echoapp/Echo App"`},
		{`app.elements().map(e => e.fullName + ":" + e.status).join(",")`, `"e.Hello:ok"`},
		// positional and named arguments are the same call
		{`JSON.stringify(app.getElement("e.Hello").pair("u1", ["r1", "r2"]))`, `"{\"memberId\":\"u1\",\"roles\":2}"`},
		{`JSON.stringify(app.getElement("e.Hello").pair({memberId: "u1", roleIdList: ["r1"]}))`, `"{\"memberId\":\"u1\",\"roles\":1}"`},
		// one object param takes an object whose keys are not its name
		{`app.getElement("e.Hello").take({a: 1, b: 2})`, `2`},
		{`app.getElement("e.Hello").take({data: {a: 1}})`, `1`},
		// RowData: fields have .value, and it serialises flat
		{`app.getElement("e.Hello").row().name.value`, `"总部"`},
		{`app.getElement("e.Hello").row().deptId.value`, `1`},
		{`JSON.stringify(app.getElement("e.Hello").row())`, `"{\"deptId\":1,\"name\":\"总部\"}"`},
		{`require("./scripts/lib/util").shout("a")`, `"A"`},
		{`undefined`, ``},
		{`({a: [1, "b", null]})`, "{\n  \"a\": [\n    1,\n    \"b\",\n    null\n  ]\n}"},
	} {
		got, _, err := run(t, app, c.code)
		if err != nil || got != c.want {
			t.Errorf("%s\n got  %s (%v)\n want %s", c.code, got, err, c.want)
		}
	}
	res, err := app.Host().RunFile(context.Background(), app.Entry, nil)
	if err != nil || string(res.JSON) != `"HELLO, X"` {
		t.Fatalf("entry = %v, %v", res, err)
	}
}

func TestGoErrorsReachScriptsWithACode(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{})
	got, _, err := run(t, app, `
		let r;
		try { app.getElement("e.Hello").fail("u9") } catch (e) { r = e.code + "|" + e.message + "|" + (e instanceof Error) }
		r`)
	if err != nil || got != `"not_found|no member \"u9\" in corp e.Hello|true"` {
		t.Fatalf("got %s, %v", got, err)
	}
	// uncaught, the code survives to Go
	_, _, err = run(t, app, `app.getElement("e.Hello").fail("u9")`)
	if elements.CodeOf(err) != elements.CodeNotFound || !strings.Contains(err.Error(), `no member "u9"`) {
		t.Fatalf("err = %v (%s)", err, elements.CodeOf(err))
	}
	for _, c := range []struct{ code, want string }{
		{`app.getElement("e.Hello").greet()`, `greet needs "name" (string)`},
		{`app.getElement("e.Hello").greet(1)`, `argument "name" must be a string, not a number`},
		{`app.getElement("e.Hello").greet("a", "b")`, `takes at most 1 argument(s) (name), got 2`},
		{`app.getElement("e.Hello").pair({memberId: "u1", roles: []})`, `pair`},
		{`app.getElement("e.Hello").pair("u1", [1])`, `argument "roleIdList"[0] must be a string`},
		{`app.getElement("e.Hello").nope()`, `has no member 'nope'`},
		{`app.getElement()`, `getElement needs a fullName`},
	} {
		_, _, err := run(t, app, c.code)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.code, err, c.want)
		}
	}
}

func TestExceptionsReportFileAndLine(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{})
	_, _, err := run(t, app, "const x = 1;\n\n  null.foo;")
	if err == nil || !strings.HasPrefix(err.Error(), "test.js:3:") || !strings.Contains(err.Error(), "TypeError") {
		t.Errorf("err = %v", err)
	}
	_, _, err = run(t, app, `require("./scripts/lib/thrower").f()`)
	if err == nil || !strings.HasPrefix(err.Error(), "scripts/lib/thrower.js:4:") || !strings.Contains(err.Error(), "Error: deep") {
		t.Errorf("err = %v", err)
	}
	_, _, err = run(t, app, "let a = ;")
	if err == nil || !strings.HasPrefix(err.Error(), "test.js:1:") || !strings.Contains(err.Error(), "SyntaxError") {
		t.Errorf("err = %v", err)
	}
	_, _, err = run(t, app, `throw "plain"`)
	if err == nil || !strings.Contains(err.Error(), "plain") {
		t.Errorf("err = %v", err)
	}
	_, _, err = run(t, app, `require("../../etc/passwd")`)
	if err == nil {
		t.Errorf("a module outside the app was loaded")
	}
}

func TestTimeoutInterruptsAndRuntimeIsReusable(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{Timeout: 200 * time.Millisecond, PoolSize: 1})
	start := time.Now()
	_, _, err := run(t, app, `while (true) {}`)
	took := time.Since(start)
	if !errors.Is(err, elements.ErrTimeout) || !strings.Contains(err.Error(), "timed out after 200ms") {
		t.Fatalf("err = %v", err)
	}
	t.Logf("interrupted after %s", took)
	// A Go method blocking past the limit is cancelled through its context, and the run
	// fails as timed out (not with the method's "context deadline exceeded" alone).
	_, _, err = run(t, app, `app.getElement("e.Hello").sleep(5000)`)
	if err == nil {
		t.Fatal("a sleeping method outlived the time limit")
	}
	if !errors.Is(err, elements.ErrTimeout) || !strings.Contains(err.Error(), "timed out after 200ms (raise the limit with --timeout)") ||
		!strings.Contains(err.Error(), "e.Hello.sleep ran past its time limit") {
		t.Fatalf("a method cancelled by the time limit failed the run with %v", err)
	}
	// The one pooled runtime was interrupted twice; it must run normally now.
	for i := 0; i < 3; i++ {
		if got, _, err := run(t, app, `1 + 1`); err != nil || got != "2" {
			t.Fatalf("run after timeout = %s, %v", got, err)
		}
	}
	if runs, timeouts := app.Host().Stats(); timeouts != 2 || runs != 5 {
		t.Errorf("stats runs=%d timeouts=%d", runs, timeouts)
	}
	// A run cancelled by its caller's context stops too.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := app.Host().Run(ctx, Script{Code: `while (true) {}`}); err == nil {
		t.Fatal("cancelled run did not stop")
	}
}

func TestRunsDoNotSeeEachOthersDeclarations(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 1})
	for i := 0; i < 3; i++ {
		got, _, err := run(t, app, "const s = 1; let t = 2; class C {}; var leaked = typeof leaked; function f() { return s + t }\nf() + ':' + leaked")
		if err != nil || got != `"3:undefined"` {
			t.Fatalf("run %d = %s, %v", i, got, err)
		}
	}
	if _, _, err := run(t, app, `globalThis.x = 1`); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := run(t, app, `typeof x`); got != `"undefined"` {
		t.Errorf("a global set by one run is seen by the next: typeof x = %s", got)
	}
}

func TestConcurrentRunsBeyondThePool(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := run(t, app, `let s = 0; for (let i = 0; i < 1000; i++) s += i; app.getElement("e.Hello").greet("p") + s`)
			if err == nil && got != `"hello, p499500"` {
				err = errors.New("got " + got)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestConsoleGoesToTheRunsWriters(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{})
	var out, errw strings.Builder
	_, err := app.Host().Run(context.Background(), Script{Code: `console.log("a %d", 1, {b: 2}); console.error("oops")`, Stdout: &out, Stderr: &errw})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "a 1 {\"b\":2}\n" {
		t.Errorf("stdout = %q", out.String())
	}
	if errw.String() != "oops\n" {
		t.Errorf("stderr = %q", errw.String())
	}
}

func TestCloseWaitsForRunningCalls(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{})
	e := mustElement(t, app, "e.Hello")
	ref := e.cur.Load()
	inst := ref.inst.(*testtypes.Echo)
	done := make(chan string)
	go func() {
		got, _, err := run(t, app, `app.getElement("e.Hello").sleep(300)`)
		if err != nil {
			got = err.Error()
		}
		done <- got
	}()
	for { // until the call holds the instance
		ref.mu.Lock()
		active := ref.active
		ref.mu.Unlock()
		if active > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ref.retire() // as a reload does
	if inst.Closed() {
		t.Fatal("instance closed while a call was running")
	}
	if got := <-done; got != `"hello"` {
		t.Fatalf("running call = %s", got)
	}
	if !inst.Closed() {
		t.Fatal("retired instance not closed after its last call")
	}
}

// A run's time limit ends that run only: runs with limits of a few microseconds, which
// often fire as the run ends, alternate on the same runtimes with runs that have a minute,
// and none of those is ever interrupted.
func TestTimeLimitsEndTheirOwnRunOnly(t *testing.T) {
	runs := 100_000
	if testing.Short() {
		runs = 8_000 // make test-slow runs 100,000
	}
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 2})
	const workers = 4
	var wg sync.WaitGroup
	var unearned, short, shortTimedOut atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < runs; i += workers {
				if i%2 == 0 {
					short.Add(1)
					_, err := app.Host().Run(context.Background(), Script{Code: `let s = 0; for (let i = 0; i < 50; i++) s += i; s`,
						Timeout: time.Duration(1+i%7) * time.Microsecond})
					if err != nil {
						shortTimedOut.Add(1)
					}
					continue
				}
				if _, err := app.Host().Run(context.Background(), Script{Code: `1 + 1`, Timeout: time.Minute}); err != nil {
					unearned.Add(1)
					t.Errorf("run %d with a one-minute limit: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d runs; %d of the %d with a limit of microseconds timed out", runs, shortTimedOut.Load(), short.Load())
	if unearned.Load() != 0 {
		t.Fatalf("%d runs ended with a timeout they did not earn", unearned.Load())
	}
	if shortTimedOut.Load() == 0 {
		t.Fatal("no microsecond limit ever fired: the test proves nothing")
	}
}
