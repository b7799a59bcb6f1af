package control_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitrt/jitrt/control"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/internal/testtypes"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime"
)

func serve(t *testing.T) (*runtime.App, string) {
	t.Helper()
	dir := testapp.WriteTree(t, map[string]string{
		"e/Hello/e.json":     `{"type": "testing.Echo"}`,
		"e/Hello/Hello.json": `{"greeting": "hello", "token": "${TOKEN}"}`,
	})
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(),
		Getenv: func(k string) (string, bool) { return "tok-5e3c2a1b", k == "TOKEN" }})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := control.Listen(app, control.SocketPath(app.DataDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		app.Close()
	})
	return app, srv.Path()
}

func do(t *testing.T, path string, ctx context.Context, req control.Request) (string, string, error) {
	t.Helper()
	cl, err := control.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out, errw strings.Builder
	res, err := cl.Do(ctx, req, &out, &errw)
	return out.String() + string(res), errw.String(), err
}

// Work sent through the socket prints, returns and fails as it would in the process
// itself, secrets masked.
func TestWorkRunsInTheServerAsItWouldLocally(t *testing.T) {
	app, path := serve(t)
	out, errs, err := do(t, path, context.Background(), control.Request{Op: "exec", Name: "x.js",
		Code: `console.log("a", app.getElement("e.Hello").secret()); console.error("b"); app.getElement("e.Hello").greet("c")`})
	if err != nil || out != "a ******\n\"hello, c\"" || errs != "b\n" {
		t.Fatalf("exec: %q %q %v", out, errs, err)
	}
	// the same error text and code as a run in the server's own process
	code := "const x = 1;\nlet y = null;\ny.f()"
	_, local := app.Host().Run(context.Background(), runtime.Script{Name: "x.js", Code: code})
	_, _, remote := do(t, path, context.Background(), control.Request{Op: "exec", Name: "x.js", Code: code})
	var f *control.Failure
	if !errors.As(remote, &f) || remote.Error() != local.Error() || f.Code != "script_error" || !strings.HasPrefix(f.Message, "x.js:3:1: TypeError") {
		t.Fatalf("remote %v, local %v", remote, local)
	}
	out, _, err = do(t, path, context.Background(), control.Request{Op: "call", Element: "e.Hello", Method: "greet", Args: []byte(`["d"]`)})
	if err != nil || out != `"hello, d"` {
		t.Fatalf("call: %s %v", out, err)
	}
	_, _, err = do(t, path, context.Background(), control.Request{Op: "call", Element: "e.Hello", Method: "take", Args: []byte(`[{}]`)})
	if !errors.As(err, &f) || f.Code != "unknown_method" || !strings.Contains(f.Message, "can only be called from the app's scripts") {
		t.Fatalf("a scripts-only method from outside: %v", err)
	}
}

// A client that goes away (Ctrl-C) cancels its work in the server.
func TestAClientThatLeavesCancelsItsWork(t *testing.T) {
	_, path := serve(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for testtypes.Last("e.Hello") == nil || testtypes.Last("e.Hello").Sleeping() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, _, err := do(t, path, ctx, control.Request{Op: "exec", Code: `app.getElement("e.Hello").park()`})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	deadline := time.Now().Add(testwait.Hang)
	for testtypes.Last("e.Hello").Sleeping() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the work of a client that left goes on")
		}
		time.Sleep(time.Millisecond)
	}
}
