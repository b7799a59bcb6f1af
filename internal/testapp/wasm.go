package testapp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	wasmMu    sync.Mutex
	wasmBuilt = map[string][]byte{}
)

// BuildWasm builds the Go guest in pkg (a path from the module's root, such as
// "runtime/testdata/wasmguest") for wasip1 as a reactor module, with -ldflags ldflags, and
// returns the module; each build is made once per test process.
func BuildWasm(t testing.TB, pkg, ldflags string) []byte {
	t.Helper()
	key := pkg + "\x00" + ldflags
	wasmMu.Lock()
	defer wasmMu.Unlock()
	if b, ok := wasmBuilt[key]; ok {
		return b
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	out := filepath.Join(t.TempDir(), "guest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-ldflags="+ldflags, "-o", out, "./"+pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s for wasip1: %v\n%s", pkg, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wasmBuilt[key] = b
	return b
}

// WasmAddApp is an app with the same small methods (add, fixed) in a Go guest (t.W, its
// index.wasm still to be written from runtime/testdata/wasmguest) and in JS (t.J), and an
// instance of each (e.W, e.J): what the Wasm benchmarks compare.
func WasmAddApp() map[string]string {
	return map[string]string{
		"t/W/e.json":   `{"type": "testing.Meta", "extend": "testing.Echo", "callable": ["add", "fixed"]}`,
		"t/J/e.json":   `{"type": "testing.Meta", "extend": "testing.Echo", "callable": ["add", "fixed"]}`,
		"t/J/index.js": `exports.add = function (...xs) { return xs.reduce((a, b) => a + b, 0) }; exports.fixed = function () { return 3 }`,
		"e/W/e.json":   `{"type": "t.W"}`,
		"e/W/W.json":   `{"greeting": "hi"}`,
		"e/J/e.json":   `{"type": "t.J"}`,
		"e/J/J.json":   `{"greeting": "hi"}`,
	}
}
