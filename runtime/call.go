package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/runtime/jshost"
)

// Invoke runs one call of an element method. It is the one path of every call, from every
// side — a script's element object, this.$super, an object a method returned (getClient()),
// a task, the HTTP API, jitrt call, the control socket, another element — so that each:
//
//   - holds a reference on the instance it runs on, which a hot reload therefore closes
//     only after the call (an object runs on the instance that returned it, and refuses
//     once that instance is replaced);
//   - gets one policy: a caller from outside the app reaches only Callable methods and no
//     result only scripts can use; arguments are bound by one rule, and a named argument
//     the method does not have is an error naming it and the parameters;
//   - survives a panic in the method, which becomes an error with code "internal" for the
//     caller (its stack in the log, counted in Panics) while the process goes on.
func (a *App) Invoke(ctx context.Context, c elements.Call) (any, error) {
	var ref *instanceRef
	var m *elements.Method
	name := c.Element
	if c.Object != nil {
		bo, ok := c.Object.(*boundObject)
		if !ok {
			return nil, elements.Errorf(elements.CodeInternal, "call of %s on an object no method returned", c.Method)
		}
		if !bo.ref.acquireLive() {
			return nil, elements.Errorf(elements.CodeFailedPrecondition,
				"this object came from %s before it was reloaded; get it again (call the method that returned it)", bo.ref.el.FullName)
		}
		ref, name = bo.ref, bo.ref.el.FullName
		m = elements.FindMethod(bo.obj, c.Method)
	} else {
		e, err := a.Element(c.Element)
		if err != nil {
			return nil, err
		}
		if ref, err = e.acquire(); err != nil {
			return nil, err
		}
		if c.Super {
			if c.Level >= 0 && c.Level < len(ref.levels) {
				m = ref.levels[c.Level][c.Method]
			}
		} else {
			m = ref.methods[c.Method]
		}
	}
	defer ref.release()
	if m == nil {
		return nil, &elements.Error{Code: elements.CodeUnknownMethod, Err: elements.ErrUnknownMethod,
			Message: fmt.Sprintf("element %s (%s) has no method %q%s", name, ref.el.TypeID, c.Method, nearestName(c.Method, ref.names))}
	}
	if c.Outside && !m.Callable {
		return nil, &elements.Error{Code: elements.CodeUnknownMethod, Err: elements.ErrUnknownMethod,
			Message: fmt.Sprintf("method %s of %s can only be called from the app's scripts", c.Method, name)}
	}
	args, err := m.BindArgs(c.Args, c.Mode)
	if err != nil {
		return nil, err
	}
	// Each call of an element's method made while another runs (a script's method calling
	// this.x(), another element, $super, a Wasm guest's jitrt.call) is one level deeper:
	// a chain that calls itself without end stops at maxCallDepth, as plain recursion stops
	// at the script's call-stack limit, not at the time limit.
	depth, _ := ctx.Value(callDepthKey{}).(int)
	if depth >= maxCallDepth {
		return nil, elements.Errorf(elements.CodeResourceExhausted, "%s.%s: element method calls nested %d deep (a method that calls itself without end?)", name, c.Method, maxCallDepth)
	}
	ctx = context.WithValue(ctx, callDepthKey{}, depth+1)
	res, err := callProtected(ctx, a, m, args, name, c.Method)
	if err != nil {
		var coded *elements.Error
		if !errors.As(err, &coded) && errors.Is(err, context.DeadlineExceeded) {
			// a method that stopped at its caller's deadline: say so with the code, which
			// also survives the way through a script
			err = &elements.Error{Code: elements.CodeTimeout, Message: fmt.Sprintf("%s.%s ran past its time limit", name, c.Method), Err: err}
		}
		return nil, err
	}
	if obj, ok := res.(elements.Object); ok {
		if c.Outside {
			return nil, &elements.Error{Code: elements.CodeInvalidArgument, Err: elements.ErrInvalidArgument,
				Message: fmt.Sprintf("%s of %s returns an object only scripts can use", c.Method, name)}
		}
		return &boundObject{ref: ref, obj: obj}, nil
	}
	return res, nil
}

// callDepthKey holds, in a call's context, how many element method calls it is nested in.
type callDepthKey struct{}

// maxCallDepth is the deepest nesting of element method calls.
const maxCallDepth = 64

// boundObject is an object a method returned, with the instance that returned it.
type boundObject struct {
	ref *instanceRef
	obj elements.Object
}

func (b *boundObject) Methods() []elements.Method      { return b.obj.Methods() }
func (b *boundObject) Properties() []elements.Property { return b.obj.Properties() }

// protect runs fn, turning a panic into an error for the caller.
func protect[T any](a *App, where string, fn func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = a.Recovered(where, r)
		}
	}()
	return fn()
}

// callProtected is protect for a method call, without a closure or the name built before a
// panic needs it (a cheap read's call path allocates neither).
func callProtected(ctx context.Context, a *App, m *elements.Method, args elements.Args, element, method string) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = a.Recovered(element+"."+method, r)
		}
	}()
	return m.Call(ctx, args)
}

// Recovered records a panic caught at a boundary (a call, a run, a reload, an HTTP
// request): its stack goes to the log, Panics counts it, and the returned error (code
// "internal") is what the caller gets. The process goes on.
func (a *App) Recovered(where string, r any) error {
	a.panics.Add(1)
	a.log.Error("panic recovered; the process goes on", "in", where, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return &elements.Error{Code: elements.CodeInternal,
		Message: fmt.Sprintf("internal error in %s: %v (the stack is in the log)", where, r)}
}

// Panics is the number of panics recovered so far.
func (a *App) Panics() int64 { return a.panics.Load() }

// scripts is the app as the JS host sees it (jshost.Elements).
type scripts struct{ a *App }

func (s scripts) Element(fullName string) (jshost.Element, error) {
	e, err := s.a.Element(fullName)
	if err != nil {
		return jshost.Element{}, err
	}
	ref, err := e.acquire()
	if err != nil {
		return jshost.Element{}, err
	}
	defer ref.release()
	return jshost.Element{Key: ref.key, Methods: ref.names, Levels: ref.levelNames, Properties: ref.propNames}, nil
}

func (s scripts) Property(fullName, name string) (any, bool, error) {
	e, err := s.a.Element(fullName)
	if err != nil {
		return nil, false, err
	}
	return e.Property(name)
}

func (s scripts) Invoke(ctx context.Context, c elements.Call) (any, error) {
	c.Outside = false
	return s.a.Invoke(ctx, c)
}

// Transaction holds the lock of a script's app.transaction(name, fn): the write lock of
// the element named so if it has one (a corp's org: fn is atomic against every writer of
// it, the built-in methods, syncs and change events of any replica too), else a lock of
// that name of the app's own. It returns the context fn's calls run on; a transaction of
// the same name inside it is an error, not a deadlock.
func (s scripts) Transaction(ctx context.Context, name string) (context.Context, func(), error) {
	if name == "" {
		return nil, nil, elements.Errorf(elements.CodeInvalidArgument, "app.transaction needs a name: a corp's fullName, or a name of your own")
	}
	lock := "tx:" + name
	if inst, release, err := s.a.Instance(name); err == nil {
		if wl, ok := inst.(elements.WriteLocker); ok {
			lock = wl.WriteLock()
		}
		release()
	}
	store := s.a.Store()
	if store.Holds(ctx, lock) {
		return nil, nil, elements.Errorf(elements.CodeFailedPrecondition, "app.transaction(%q) inside a transaction of the same name: it is held already", name)
	}
	return store.Hold(ctx, lock)
}

func (s scripts) List() []any {
	var list []any
	for _, e := range s.a.Entries() {
		st := e.Status()
		list = append(list, map[string]any{"fullName": st.FullName, "type": st.Type, "title": st.Title, "status": st.Status})
	}
	return list
}

func (s scripts) Info() (string, string) {
	i := s.a.Info()
	return i.Name, i.Title
}

// nearestName is " (did you mean "x"?)" for the name nearest to a misspelt one, or "".
func nearestName(name string, names []string) string {
	if n := elements.Nearest(name, names); n != "" {
		return fmt.Sprintf(" (did you mean %q?)", n)
	}
	return ""
}
