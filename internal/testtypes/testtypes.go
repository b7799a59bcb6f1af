// Package testtypes registers element Types for tests only: testing.Echo (a config with a
// secret, methods of every shape a real Type has, one that panics) and testing.Plain (no
// config). It keeps every instance it builds so tests can see them start and close.
package testtypes

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitrt/jitrt/elements"
)

// Echo is an instance of testing.Echo or testing.Plain.
type Echo struct {
	el       *elements.Element
	calls    atomic.Int64
	sleeping atomic.Int64
	started  atomic.Bool
	closed   atomic.Bool
}

var (
	mu        sync.Mutex
	instances = map[string][]*Echo{}
	closed    atomic.Int64
)

// Instances lists the instances built for an element, oldest first.
func Instances(fullName string) []*Echo {
	mu.Lock()
	defer mu.Unlock()
	return append([]*Echo(nil), instances[fullName]...)
}

// Last is the newest instance built for an element (nil if none).
func Last(fullName string) *Echo {
	l := Instances(fullName)
	if len(l) == 0 {
		return nil
	}
	return l[len(l)-1]
}

var gates sync.Map // fullName → chan struct{}

func gate(fullName string) chan struct{} {
	ch, _ := gates.LoadOrStore(fullName, make(chan struct{}, 1))
	return ch.(chan struct{})
}

// Release lets one call of park of the element return.
func Release(fullName string) { gate(fullName) <- struct{}{} }

// ClosedCount is how many instances have been closed.
func ClosedCount() int64 { return closed.Load() }

// Started reports whether the instance was started.
func (e *Echo) Started() bool { return e.started.Load() }

// Closed reports whether the instance was closed.
func (e *Echo) Closed() bool { return e.closed.Load() }

// Sleeping counts the calls of sleep in progress.
func (e *Echo) Sleeping() int64 { return e.sleeping.Load() }

// Calls counts the calls of greet.
func (e *Echo) Calls() int64 { return e.calls.Load() }

func build(el *elements.Element) (elements.Instance, error) {
	e := &Echo{el: el}
	mu.Lock()
	instances[el.FullName] = append(instances[el.FullName], e)
	mu.Unlock()
	return e, nil
}

// EchoConfig is testing.Echo's config.
type EchoConfig struct {
	Greeting string  `json:"greeting" jitrt:"required" doc:"what greet says first"`
	Token    string  `json:"token" jitrt:"secret" doc:"a secret to mask"`
	Limit    float64 `json:"limit" doc:"a number that must not be negative"`
}

func init() {
	elements.RegisterMeta("testing.Meta", "test types")
	elements.RegisterType(elements.Type{
		ID: "testing.Echo", Meta: "testing.Meta", ConfigFile: true,
		Config: EchoConfig{},
		Validate: func(el *elements.Element, r elements.Reporter) {
			var c EchoConfig
			elements.Decode(el.Config, &c, nil)
			if c.Limit < 0 {
				r.Errorf("limit", "limit must not be negative, got %v", c.Limit)
			}
		},
		New: build,
	})
	elements.RegisterType(elements.Type{ID: "testing.Plain", Meta: "testing.Meta", New: build})
}

// Start records that the instance was started.
func (e *Echo) Start(context.Context) error {
	e.started.Store(true)
	return nil
}

// Close records that the instance was closed.
func (e *Echo) Close() error {
	e.closed.Store(true)
	closed.Add(1)
	return nil
}

// Methods are the shapes of method a real Type has.
func (e *Echo) Methods() []elements.Method {
	return []elements.Method{
		{Name: "greet", Callable: true, Params: []elements.Param{{Name: "name", Kind: elements.KindString, Required: true}},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				e.calls.Add(1)
				return fmt.Sprintf("%v, %s", e.el.Config["greeting"], a.String("name")), nil
			}},
		{Name: "pair", Callable: true, Params: []elements.Param{
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
				e.sleeping.Add(1)
				defer e.sleeping.Add(-1)
				select {
				case <-time.After(time.Duration(ms) * time.Millisecond):
					return e.el.Config["greeting"], nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}},
		{Name: "park", Doc: "waits for Release (counted in Sleeping)",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				e.sleeping.Add(1)
				defer e.sleeping.Add(-1)
				select {
				case <-gate(e.el.FullName):
					return e.el.Config["greeting"], nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}},
		{Name: "calls", Call: func(context.Context, elements.Args) (any, error) { return float64(e.calls.Load()), nil }},
		{Name: "boom", Callable: true, Doc: "panics (a bug in a method)",
			Call: func(context.Context, elements.Args) (any, error) {
				var m map[string]int
				m["x"]++ // assignment to a nil map
				return nil, nil
			}},
		{Name: "handle", Doc: "returns an object with methods, as getClient does",
			Call: func(context.Context, elements.Args) (any, error) { return &handle{e: e}, nil }},
	}
}

// Properties of the instance.
func (e *Echo) Properties() []elements.Property {
	return []elements.Property{{Name: "greeting", Get: func() any { return e.el.Config["greeting"] }}}
}

// handle is an object a method returns.
type handle struct{ e *Echo }

func (h *handle) Methods() []elements.Method {
	return []elements.Method{{Name: "greeting", Call: func(context.Context, elements.Args) (any, error) {
		if h.e.closed.Load() {
			return nil, fmt.Errorf("used after its instance was closed")
		}
		return h.e.el.Config["greeting"], nil
	}}}
}

func (h *handle) Properties() []elements.Property { return nil }
