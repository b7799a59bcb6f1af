package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/internal/testwait"
)

var (
	wasmCacheOnce sync.Once
	wasmCacheDir  string
)

// wasmCache is a compilation cache the tests of this process share: a module is compiled
// once (slow under -race), then loaded.
func wasmCache(t *testing.T) string {
	wasmCacheOnce.Do(func() {
		wasmCacheDir, _ = os.MkdirTemp("", "jitrt-wasm-cache-")
	})
	return wasmCacheDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if wasmCacheDir != "" {
		os.RemoveAll(wasmCacheDir)
	}
	os.Exit(code)
}

// skipShortWasm keeps make test under a minute: compiling a Go guest takes 8 s under
// -race. make test-slow runs these; make test runs the jitrt run tests of cmd/jitrt, whose
// jitrt process is not instrumented.
func skipShortWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a Go guest with wazero (8 s under -race): make test-slow")
	}
}

// wasmApp is an app whose Type element t.W has Go methods compiled to Wasm (over
// testing.Echo), with a JS link t.J on top of it, instances of both and a plain Echo.
func wasmApp(t *testing.T, memory string) (string, *App) {
	t.Helper()
	skipShortWasm(t)
	dir := writeTree(t, map[string]string{
		"t/W/e.json":   `{"type": "testing.Meta", "extend": "testing.Echo", "callable": ["add", "describe", "fail", "spin", "hog", "boom", "other", "recurse"], "wasm": {"memory": "` + memory + `"}}`,
		"t/J/e.json":   `{"type": "testing.Meta", "extend": "t.W"}`,
		"t/J/index.js": `exports.greet = function (n) { return "J(" + this.$super.greet(n) + ")" }`,
		"e/I/e.json":   `{"type": "t.W"}`,
		"e/I/I.json":   `{"greeting": "hi", "token": "wasm-secret-token-1234"}`,
		"e/K/e.json":   `{"type": "t.J"}`,
		"e/K/K.json":   `{"greeting": "yo"}`,
		"e/P/e.json":   `{"type": "testing.Echo"}`,
		"e/P/P.json":   `{"greeting": "plain"}`,
	})
	os.WriteFile(filepath.Join(dir, "t/W/index.wasm"), testapp.BuildWasm(t, "runtime/testdata/wasmguest", ""), 0o644)
	app := loadTest(t, dir, Options{WasmCacheDir: wasmCache(t), Timeout: testwait.Hang}) // a first call compiles the guest: minutes on a busy runner under -race
	if ps := app.Problems(); len(ps) > 0 {
		t.Fatal(ps)
	}
	return dir, app
}

// A Go guest overrides a method and calls $super, adds methods, reads its config without
// the secret, calls this and other elements, and answers errors with codes; JS on top of
// it sees it as the link above.
func TestWasmMethodsOverrideAndCallThroughTheApp(t *testing.T) {
	_, app := wasmApp(t, "64MiB")
	for code, want := range map[string]string{
		`app.getElement("e.I").greet("x")`:                                             `"W[hi, x]"`,
		`app.getElement("e.I").greet({name: "named"})`:                                 `"W[hi, named]"`,
		`app.getElement("e.I").$super.greet("x")`:                                      `"hi, x"`,
		`app.getElement("e.K").greet("x")`:                                             `"J(W[yo, x])"`,
		`app.getElement("e.I").add(1, 2, 3.5)`:                                         `6.5`,
		`app.getElement("e.I").describe().greet`:                                       `"W[hi, me]"`,
		`JSON.stringify(app.getElement("e.I").describe().config)`:                      `"{\"greeting\":\"hi\"}"`,
		`app.getElement("e.I").other("e.P")`:                                           `"plain, from wasm"`,
		`try { app.getElement("e.I").fail() } catch (e) { e.code + ": " + e.message }`: `"not_found: no such thing"`,
	} {
		if got, _, err := run(t, app, code); err != nil || got != want {
			t.Errorf("%s = %s (%v), want %s", code, got, err, want)
		}
	}
	if res, err := app.CallJSON(context.Background(), "e.I", "add", []any{2, 3}); err != nil || res != 5.0 {
		t.Errorf("from Go: %v %v", res, err)
	}
	if m := mustElement(t, app, "e.I").Method("add"); m == nil || !m.Callable || !m.Variadic {
		t.Errorf("add: %+v", m)
	}
}

// A guest that loops, grows memory past its ceiling or panics is an error for its caller;
// the next call works.
func TestWasmGuestsThatMisbehaveEndWithAnError(t *testing.T) {
	_, app := wasmApp(t, "32MiB")
	call := func(method string, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := app.CallJSON(ctx, "e.I", method, nil)
		return err
	}
	for _, c := range []struct {
		method, code, msg string
	}{
		{"spin", elements.CodeTimeout, "ran past its time limit"},
		{"hog", elements.CodeResourceExhausted, "more than its 32 MiB of memory"}, // (its limit is longer: -race is slow)
		{"boom", elements.CodeScript, "assignment to entry in nil map"},
	} {
		// spin never ends by itself: only its time limit stops it (a guest not stopped would
		// hang the test); the others have a limit no machine reaches
		limit := 300 * time.Millisecond
		if c.method != "spin" {
			limit = testwait.Hang
		}
		err := call(c.method, limit)
		if elements.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (code %s), want %s %q", c.method, err, elements.CodeOf(err), c.code, c.msg)
		}
		if got, _, err := run(t, app, `app.getElement("e.I").greet("after")`); err != nil || got != `"W[hi, after]"` {
			t.Fatalf("the call after %s: %s %v", c.method, got, err)
		}
	}
	if app.Panics() != 0 {
		t.Fatalf("%d panics", app.Panics())
	}
	// a method that calls itself without end stops at the nesting bound, not at the memory
	// of the process
	if err := call("recurse", time.Minute); elements.CodeOf(err) != elements.CodeResourceExhausted || !strings.Contains(err.Error(), "nested deeper than 32") {
		t.Fatalf("recurse: %v", err)
	}
}

// Calls from many goroutines at once each get an instance of their own and their own answer.
func TestWasmCallsAtOnce(t *testing.T) {
	_, app := wasmApp(t, "64MiB")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				res, err := app.CallJSON(context.Background(), "e.I", "add", []any{g, i})
				if err != nil || res != float64(g+i) {
					errs <- fmt.Errorf("add(%d, %d) = %v, %v", g, i, res, err)
					return
				}
				if got, err := app.CallJSON(context.Background(), "e.K", "greet", []any{strconv.Itoa(g)}); err != nil || got != "J(W[yo, "+strconv.Itoa(g)+"])" {
					errs <- fmt.Errorf("greet(%d) = %v, %v", g, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A module that imports a WASI function its element does not grant does not load: the
// problem is at e.json's "wasm" key; granting it loads it.
func TestWasmImportsNeedTheirGrant(t *testing.T) {
	skipShortWasm(t)
	dir := writeTree(t, map[string]string{
		"t/F/e.json": "{\"type\": \"testing.Meta\", \"extend\": \"testing.Echo\",\n  \"wasm\": {\"memory\": \"64MiB\"}}",
		"e/X/e.json": `{"type": "t.F"}`,
		"e/X/X.json": `{"greeting": "hi"}`,
	})
	os.WriteFile(filepath.Join(dir, "t/F/index.wasm"), testapp.BuildWasm(t, "runtime/testdata/wasmfs", ""), 0o644)
	app := loadTest(t, dir, Options{WasmCacheDir: wasmCache(t), Timeout: testwait.Hang}) // a first call compiles the guest: minutes on a busy runner under -race
	got := app.Problems().Error()
	if !strings.Contains(got, `t/F/e.json:2:11: wasm: import not granted: t/F/index.wasm imports wasi_snapshot_preview1.`) || !strings.Contains(got, `which needs the grant "fs"`) {
		t.Fatalf("problems:\n%s", got)
	}
	os.WriteFile(filepath.Join(dir, "t/F/e.json"), []byte(`{"type": "testing.Meta", "extend": "testing.Echo", "callable": ["read"], "wasm": {"wasi": ["fs"]}}`), 0o644)
	app.ReloadElement("t/F")
	if ps := app.Problems(); len(ps) > 0 {
		t.Fatalf("with the grant: %v", ps)
	}
	// it sees its own folder as "/", read-only, and nothing else
	if res, err := app.CallJSON(context.Background(), "e.X", "read", []any{"/e.json"}); err != nil || !strings.Contains(res.(string), `"fs"`) {
		t.Fatalf("read /e.json: %v %v", res, err)
	}
	// links out of the folder are not followed: the environment, /etc, the app, another
	// element's config (with its secret)
	os.MkdirAll(filepath.Join(dir, "t/F/data"), 0o755)
	os.WriteFile(filepath.Join(dir, "t/F/data/ok.txt"), []byte("inside"), 0o644)
	for link, target := range map[string]string{"data/env": "/proc/self/environ", "etc": "/etc", "up": "../..",
		"data/secret.json": filepath.Join(dir, "e/X/X.json"), "data/rel.json": "../../../e/X/X.json", "self": "/proc/self"} {
		if err := os.Symlink(target, filepath.Join(dir, "t/F", link)); err != nil {
			t.Fatal(err)
		}
	}
	app.ReloadElement("t/F")
	if res, err := app.CallJSON(context.Background(), "e.X", "read", []any{"/data/ok.txt"}); err != nil || res != "inside" {
		t.Fatalf("read /data/ok.txt: %v %v", res, err)
	}
	for _, p := range []string{"/etc/hostname", "/../../e/X/X.json", "../X.json", "/data/env", "/etc/passwd", "/up/e/X/X.json",
		"/data/secret.json", "/data/rel.json", "/self/environ", "/proc/self/environ"} {
		if res, err := app.CallJSON(context.Background(), "e.X", "read", []any{p}); err == nil || elements.CodeOf(err) != elements.CodeScript {
			t.Fatalf("read %s: %v %v", p, res, err)
		}
	}
	for bad, want := range map[string]string{
		`{"type": "testing.Meta", "extend": "testing.Echo", "wasm": {"wasi": ["net"]}}`:   `wasm.wasi: net is not one of clock, random, fs`,
		`{"type": "testing.Meta", "extend": "testing.Echo", "wasm": {"memory": "1KB"}}`:   `wasm.memory 1KB must be from 1MiB to 4GiB`,
		`{"type": "testing.Meta", "extend": "testing.Echo", "wasm": {"memroy": "64MiB"}}`: `wasm has no key "memroy"`,
	} {
		os.WriteFile(filepath.Join(dir, "t/F/e.json"), []byte(bad), 0o644)
		app.ReloadElement("t/F")
		if got := app.Problems().Error(); !strings.Contains(got, want) {
			t.Errorf("%s:\n%s", bad, got)
		}
	}
}

// A rebuilt index.wasm is the code of the next call, once its Type element reloads.
func TestWasmModuleReplacedIsLiveOnTheNextCall(t *testing.T) {
	skipShortWasm(t)
	dir, app := wasmApp(t, "64MiB")
	os.WriteFile(filepath.Join(dir, "t/W/index.wasm"), testapp.BuildWasm(t, "runtime/testdata/wasmguest", "-X=main.prefix=V2"), 0o644)
	app.ReloadElement("t/W")
	if got, _, err := run(t, app, `app.getElement("e.I").greet("x") + "|" + app.getElement("e.K").greet("x")`); err != nil || got != `"V2[hi, x]|J(V2[yo, x])"` {
		t.Fatalf("after the rebuild: %s %v", got, err)
	}
	// a broken module leaves the last good one serving
	os.WriteFile(filepath.Join(dir, "t/W/index.wasm"), []byte("\x00asm but not really"), 0o644)
	app.ReloadElement("t/W")
	if got, _, err := run(t, app, `app.getElement("e.I").greet("x")`); err != nil || got != `"V2[hi, x]"` {
		t.Fatalf("after a broken module: %s %v", got, err)
	}
	if s := mustElement(t, app, "e.I").Status(); s.Status != "error" || !strings.Contains(s.Error, "not a WebAssembly module") {
		t.Fatalf("status: %+v", s)
	}
}

// BenchmarkWasmCall measures a small method (add) of a Go guest against the same method in
// JS, called through the app's one call path (as the HTTP API and tasks call) and from a
// script; the module is compiled and instantiated before the timing starts.
func BenchmarkWasmCall(b *testing.B) {
	dir := writeTree(b, testapp.WasmAddApp())
	os.WriteFile(filepath.Join(dir, "t/W/index.wasm"), testapp.BuildWasm(b, "runtime/testdata/wasmguest", ""), 0o644)
	app := loadTest(b, dir, Options{})
	for _, el := range []string{"e.W", "e.J"} { // compiled and instantiated before any timing
		if res, err := app.CallJSON(context.Background(), el, "add", []any{1, 2}); err != nil || res != 3.0 {
			b.Fatal(res, err)
		}
	}
	for _, el := range []string{"e.W", "e.J"} {
		kind := map[string]string{"e.W": "wasm", "e.J": "js"}[el]
		b.Run(kind+"/fixed", func(b *testing.B) { // the ABI alone: no argument read
			ctx := context.Background()
			for b.Loop() {
				app.CallJSON(ctx, el, "fixed", []any{1, 2})
			}
		})
		b.Run(kind+"/call-path", func(b *testing.B) {
			ctx := context.Background()
			if res, err := app.CallJSON(ctx, el, "add", []any{1, 2}); err != nil || res != 3.0 {
				b.Fatal(res, err)
			}
			for b.Loop() {
				app.CallJSON(ctx, el, "add", []any{1, 2})
			}
		})
		b.Run(kind+"/from-js", func(b *testing.B) {
			b.StopTimer()
			code := `const e = app.getElement("` + el + `"); let s = 0; for (let i = 0; i < ` + strconv.Itoa(b.N) + `; i++) { s += e.add(1, 2) } s`
			b.StartTimer()
			if got, _, err := run(b, app, code); err != nil || got != strconv.Itoa(3*b.N) {
				b.Fatal(got, err)
			}
		})
	}
}
