package runtime

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/testapp"

	"github.com/jitrt/jitrt/elements"
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

// echoType is a Type for tests only: it has the shapes of method a real Type has.
var closedEchoes atomic.Int64

type echo struct {
	el     *elements.Element
	calls  atomic.Int64
	closed atomic.Bool
}

func init() {
	elements.RegisterMeta("testing.Meta", "test types")
	elements.RegisterType(elements.Type{
		ID: "testing.Echo", Meta: "testing.Meta", ConfigFile: true,
		Schema: elements.Schema{Fields: []elements.Field{
			{Name: "greeting", Kind: elements.KindString, Required: true},
			{Name: "token", Kind: elements.KindString, Secret: true},
			{Name: "limit", Kind: elements.KindNumber},
		}},
		Validate: func(el *elements.Element, r elements.Reporter) {
			if l, ok := el.Config["limit"].(float64); ok && l < 0 {
				r.Errorf("limit", "limit must not be negative, got %v", l)
			}
		},
		New: func(el *elements.Element) (elements.Instance, error) { return &echo{el: el}, nil },
	})
	elements.RegisterType(elements.Type{
		ID: "testing.Plain", Meta: "testing.Meta",
		New: func(el *elements.Element) (elements.Instance, error) { return &echo{el: el}, nil },
	})
}

func (e *echo) Close() error {
	e.closed.Store(true)
	closedEchoes.Add(1)
	return nil
}

func (e *echo) Methods() []elements.Method {
	return []elements.Method{
		{Name: "greet", Params: []elements.Param{{Name: "name", Kind: elements.KindString, Required: true}},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				e.calls.Add(1)
				return fmt.Sprintf("%v, %s", e.el.Config["greeting"], a.String("name")), nil
			}},
		{Name: "pair", Params: []elements.Param{
			{Name: "memberId", Kind: elements.KindString, Required: true},
			{Name: "roleIdList", Kind: elements.KindArray, Required: true}},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				ids, err := a.Strings("roleIdList")
				if err != nil {
					return nil, err
				}
				return map[string]any{"memberId": a.String("memberId"), "roles": len(ids)}, nil
			}},
		{Name: "take", Params: []elements.Param{{Name: "data", Kind: elements.KindObject, Required: true}},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				return float64(len(a["data"].(map[string]any))), nil
			}},
		{Name: "fail", Params: []elements.Param{{Name: "id", Kind: elements.KindString}},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				return nil, &elements.Error{Code: elements.CodeNotFound, Message: fmt.Sprintf("no member %q in corp %s", a.String("id"), e.el.FullName), Err: elements.ErrNotFound}
			}},
		{Name: "row", Call: func(context.Context, elements.Args) (any, error) {
			return elements.NewRowData("deptId", 1.0, "name", "总部"), nil
		}},
		{Name: "secret", Call: func(context.Context, elements.Args) (any, error) {
			return e.el.Config["token"], nil
		}},
		{Name: "sleep", Params: []elements.Param{{Name: "ms", Kind: elements.KindNumber, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				ms, _, _ := a.Int("ms")
				select {
				case <-time.After(time.Duration(ms) * time.Millisecond):
					return e.el.Config["greeting"], nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}},
		{Name: "calls", Call: func(context.Context, elements.Args) (any, error) { return float64(e.calls.Load()), nil }},
	}
}

func (e *echo) Properties() []elements.Property {
	return []elements.Property{{Name: "greeting", Get: func() any { return e.el.Config["greeting"] }}}
}
