package runtime

import (
	"bytes"
	"context"
	goruntime "runtime"
	"testing"

	"github.com/jitrt/jitrt/internal/testapp"
	_ "github.com/jitrt/jitrt/internal/testtypes"
)

// writeTree writes files (slash paths relative to a new temp folder) and returns the folder.
func writeTree(t testing.TB, files map[string]string) string { return testapp.WriteTree(t, files) }

// loadTest loads an app with a temp data folder and closes it when the test ends.
func loadTest(t testing.TB, dir string, opts Options) *App {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) (string, bool) { return "", false }
	}
	app, err := Load(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

// run runs code and returns its completion JSON, console output and error.
func run(t testing.TB, app *App, code string) (string, string, error) {
	t.Helper()
	var out bytes.Buffer
	res, err := app.Host().Run(context.Background(), Script{Name: "test.js", Code: code, Stdout: &out, Stderr: &out})
	if err != nil {
		return "", out.String(), err
	}
	return string(res.JSON), out.String(), nil
}

// heapNow is the heap's size now.
func heapNow() int64 {
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
