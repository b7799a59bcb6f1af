package api_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/api"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/runtime"
)

// BenchmarkWasmMethodOverHTTP calls a small method of a Go guest compiled to Wasm (add)
// and the same method in JS through the HTTP API, one keep-alive connection; "fixed" is a
// method that reads nothing (the cost of the way in and out alone).
func BenchmarkWasmMethodOverHTTP(b *testing.B) {
	dir := testapp.WriteTree(b, testapp.WasmAddApp())
	os.WriteFile(filepath.Join(dir, "t/W/index.wasm"), testapp.BuildWasm(b, "runtime/testdata/wasmguest", ""), 0o644)
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	ts := serve(b, app, api.Options{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	post := func(path string) string {
		resp, err := client.Post(ts.url+path, "application/json", strings.NewReader("[1, 2]"))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(body)
	}
	for _, el := range []string{"e.W", "e.J"} {
		if got := post("/api/elements/" + el + "/add"); got != `{"data":3}` {
			b.Fatalf("%s: %s", el, got)
		}
	}
	for _, c := range []struct{ name, path string }{
		{"wasm/add", "/api/elements/e.W/add"}, {"js/add", "/api/elements/e.J/add"},
		{"wasm/fixed", "/api/elements/e.W/fixed"}, {"js/fixed", "/api/elements/e.J/fixed"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				post(c.path)
			}
		})
	}
}
