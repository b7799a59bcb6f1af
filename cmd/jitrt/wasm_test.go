package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/testapp"
)

// The demo's Type written in Go runs as WebAssembly: its syncCorp adds to the report of
// the JS link it extends.
// (jitrt runs in its own process: compiling the module under -race would take 8 s.)
func TestTheDemosWasmTypeRuns(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(buildJitrt(t), "exec", demo, demo+"/scripts/20_wasmType.js", "--data", t.TempDir()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Go in WebAssembly: 0 members changed, 300 unchanged") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// Replacing a Type element's index.wasm while jitrt run serves it: the next call runs the
// new code, with no restart.
func TestReplacingTheWasmWhileServingIsLiveOnTheNextCall(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	app := writeTree(t, map[string]string{
		"app.json":       `{"name": "wasmrun"}`,
		"corps/W/e.json": `{"type": "corps.Meta", "extend": "corps.QywxInnerType"}`,
		"corps/C/e.json": `{"type": "corps.W"}`,
		"corps/C/C.json": `{"corpId": "wwwasm", "agentId": "1", "secret": "wasm-secret-1234", "simulator": {"members": 5, "departments": 1}}`,
	})
	v1 := testapp.BuildWasm(t, "cmd/jitrt/testdata/wasmcorp", "")
	v2 := testapp.BuildWasm(t, "cmd/jitrt/testdata/wasmcorp", "-X=main.version=v2")
	module := filepath.Join(app, "corps/W/index.wasm")
	os.WriteFile(module, v1, 0o644)
	srv := startServerArgs(t, bin, app, t.TempDir(), "--no-watch=false")
	info := func() string {
		_, body := srv.call(t, "corps.C", "getCorpInfo", "[]")
		return body
	}
	if got := info(); !strings.Contains(got, `"wasmVersion":"v1"`) || strings.Contains(got, "wasm-secret-1234") {
		t.Fatalf("before: %s", got)
	}
	// as a build tool does it: a new file renamed over the old
	tmp := module + ".tmp"
	os.WriteFile(tmp, v2, 0o644)
	os.Rename(tmp, module)
	waitFor(t, info, `"wasmVersion":"v2"`, 10*time.Second)
	srv.stop(t)
}

// waitFor polls get until its answer holds want.
func waitFor(t *testing.T, get func() string, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := get()
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %q, want %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
