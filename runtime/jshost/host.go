// Package jshost runs an app's JavaScript in goja: a fixed pool of pre-warmed runtimes (a
// one-off runtime when all are busy), a time limit on every run, and the `app` global, whose
// element objects call every method through the runtime's one call path.
package jshost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
	"github.com/dop251/goja_nodejs/util"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/appfile"
	"github.com/jitrt/jitrt/runtime/redact"
)

// Elements is what scripts reach through `app`: the runtime's elements.
type Elements interface {
	// Element describes the current instance of an element.
	Element(fullName string) (Element, error)
	// Property reads a property of the current instance of an element.
	Property(fullName, name string) (any, bool, error)
	// Invoke runs a method through the app's one call path.
	Invoke(ctx context.Context, c elements.Call) (any, error)
	// Transaction takes the lock of app.transaction(name, fn) and returns the context
	// fn's calls run on (see runtime's scripts.Transaction).
	Transaction(ctx context.Context, name string) (held context.Context, unlock func(), err error)
	// List is what app.elements() returns.
	List() []any
	// Info is app.json's name and title.
	Info() (name, title string)
}

// Element is one instance of an element as scripts see it.
type Element struct {
	// Key is the instance: it changes when the element is reloaded.
	Key     any
	Methods []string
	// Levels are the method names at each link of the element's Type chain, the
	// registered Type's own first and Methods last: the overrides of link i see level i-1
	// as this.$super.
	Levels     [][]string
	Properties []string
}

// Options configure a Host.
type Options struct {
	// Dir is the app folder; modules are required from it and nothing outside it.
	Dir      string
	Elements Elements
	// Redactor masks secrets in console output, results and errors.
	Redactor *redact.Redactor
	// Stdout and Stderr receive console output of runs that name no writers of their own.
	Stdout, Stderr io.Writer
	// Timeout is a run's time limit when the run names none.
	Timeout time.Duration
	// PoolSize is the number of pre-warmed runtimes (GOMAXPROCS when zero).
	PoolSize int
	// OneRun makes every runtime serve one run and be dropped, its built-ins not frozen:
	// no later run can see what a run changed, as none runs in it. For a command that
	// runs one script or method and ends (jitrt exec, jitrt call), whose first runtime is
	// then ready 5-10 ms sooner (freezing materializes and redefines every built-in),
	// where a runtime kept for later runs would never be used again.
	OneRun bool
	Logger *slog.Logger
	// Recovered turns a panic caught at a run's boundary into the run's error (the runtime
	// logs its stack and counts it).
	Recovered func(where string, r any) error
	// Limits bound each run and all of them (see Limits; zero fields take the defaults).
	Limits Limits
}

// Host runs scripts of one app. goja runtimes are not safe for concurrent use, so each run
// takes a runtime of its own from a fixed pool of pre-warmed ones, or a one-off runtime when
// all are busy; a runtime is reused only once its run's time limit is known to be settled.
type Host struct {
	opts Options
	pool chan *vm
	// filled is closed once the pool was first filled (New fills it in the background), or
	// its filling stopped as the host was closed.
	filled  chan struct{}
	closed  atomic.Bool
	lim     atomic.Pointer[Limits]
	timeout atomic.Int64                  // a run's time limit when it names none
	slots   atomic.Pointer[chan struct{}] // places of the runs executing at once
	watch   *watchdog
	// registry compiles app modules for require(); replaced by InvalidateScripts so that an
	// edited module is compiled afresh.
	registry  atomic.Pointer[require.Registry]
	runs      atomic.Int64
	timeouts  atomic.Int64
	exhausted atomic.Int64
}

// vm is one pooled runtime with the app bindings installed.
type vm struct {
	rt    *goja.Runtime
	out   io.Writer // console.log target of the current run
	errw  io.Writer // console.error target of the current run
	ctx   context.Context
	cache map[string]*boundElement
	run   *run // the run in progress
	// fp is what the runtime looked like when it was made; a run that changed it (a global
	// added, an overridable built-in replaced) has the runtime replaced rather than reused,
	// so that no run sees another's leftovers (harden.go).
	fp     fingerprint
	freeze goja.Callable // Object.freeze, as it was
}

type boundElement struct {
	key any
	obj *goja.Object
}

// New makes a host, its pool of runtimes warming in the background.
func New(opts Options) *Host {
	if opts.Redactor == nil {
		opts.Redactor = redact.New()
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Recovered == nil {
		opts.Recovered = func(where string, r any) error {
			return elements.Errorf(elements.CodeInternal, "internal error in %s: %v", where, r)
		}
	}
	h := &Host{opts: opts}
	h.watch = &watchdog{h: h, runs: map[*run]struct{}{}, interval: 10 * time.Millisecond}
	h.SetLimits(opts.Limits)
	h.SetTimeout(opts.Timeout)
	h.InvalidateScripts()
	n := opts.PoolSize
	if n <= 0 {
		n = goruntime.GOMAXPROCS(0)
	}
	// The pool is filled in the background: making a runtime (freezing its built-ins) takes
	// a process's first 10-20 ms, which the app's loading (its state opened, its elements
	// built) overlaps; a run that comes first waits for the next one made.
	h.pool = make(chan *vm, n)
	h.filled = make(chan struct{})
	go func() {
		defer close(h.filled)
		for i := 0; i < n && !h.closed.Load(); i++ {
			h.pool <- h.newVM() // never blocks: at most n runtimes are pooled
		}
	}()
	return h
}

// SetTimeout changes the time limit of the runs that name none, from now on.
func (h *Host) SetTimeout(d time.Duration) {
	if d > 0 {
		h.timeout.Store(int64(d))
	}
}

// Timeout is the time limit of a run that names none.
func (h *Host) Timeout() time.Duration { return time.Duration(h.timeout.Load()) }

// InvalidateScripts drops compiled modules, so that the next run reads every script afresh.
func (h *Host) InvalidateScripts() {
	h.registry.Store(require.NewRegistry(
		require.WithLoader(h.loadSource),
		require.WithPathResolver(func(base, p string) string { return path.Join(base, p) }),
	))
}

// Stats reports the number of runs and of runs that timed out.
func (h *Host) Stats() (runs, timeouts int64) { return h.runs.Load(), h.timeouts.Load() }

// Exhausted is the number of runs stopped for memory.
func (h *Host) Exhausted() int64 { return h.exhausted.Load() }

// loadSource reads an app-relative module for require(). Nothing outside the app folder can
// be required, links resolved; nor anything in a dot-folder (.jitrt, .git) or a dotfile;
// nor an element's files other than its scripts (its e.json and its config, which may
// hold secrets).
func (h *Host) loadSource(p string) ([]byte, error) {
	full := filepath.Join(h.opts.Dir, filepath.FromSlash(p))
	if !appfile.Within(h.opts.Dir, full) {
		return nil, fmt.Errorf("module %q is outside the app folder", p)
	}
	for _, seg := range strings.Split(filepath.ToSlash(path.Clean(p)), "/") {
		if strings.HasPrefix(seg, ".") && seg != "." && seg != ".." {
			return nil, fmt.Errorf("module %q is in a dot-folder or a dotfile, which scripts cannot read", p)
		}
	}
	real, err := appfile.Resolve(h.opts.Dir, full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, require.ModuleFileDoesNotExistError
	}
	if err != nil {
		return nil, fmt.Errorf("module %q: %w", p, err)
	}
	if fi, err := os.Stat(real); err == nil && fi.IsDir() {
		return nil, require.ModuleFileDoesNotExistError
	}
	if ext := filepath.Ext(real); ext != ".js" && ext != ".cjs" && ext != ".mjs" {
		if _, err := os.Stat(filepath.Join(filepath.Dir(real), "e.json")); err == nil {
			return nil, fmt.Errorf("module %q is a file of an element other than a script: scripts cannot read an element's e.json or config (a config may hold secrets)", p)
		}
	}
	data, err := appfile.Read(h.opts.Dir, real, appfile.MaxScript)
	if err != nil {
		return nil, fmt.Errorf("module %q: %w", p, err)
	}
	return data, nil
}

func (h *Host) newVM() *vm {
	v := &vm{rt: goja.New(), out: io.Discard, errw: io.Discard, cache: map[string]*boundElement{}}
	v.rt.SetFieldNameMapper(goja.TagFieldNameMapper("json", true))
	// util.format for console; the registry used here only serves core modules.
	require.NewRegistry().Enable(v.rt)
	format := require.Require(v.rt, util.ModuleName).(*goja.Object)
	formatFn, _ := goja.AssertFunction(format.Get("format"))
	console := v.rt.NewObject()
	printer := func(errStream bool) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			args := make([]goja.Value, len(call.Arguments))
			for i, a := range call.Arguments {
				args[i] = v.printable(a)
			}
			s, err := formatFn(format, args...)
			if err != nil {
				panic(err)
			}
			w := v.out
			if errStream {
				w = v.errw
			}
			io.WriteString(w, s.String()+"\n")
			return goja.Undefined()
		}
	}
	for _, name := range []string{"log", "info", "debug"} {
		console.Set(name, printer(false))
	}
	console.Set("warn", printer(true))
	console.Set("error", printer(true))
	v.rt.Set("console", console)
	v.rt.Set("app", h.appObject(v))
	guardStrings(v.rt, func() int { return h.limits().StringLength })
	freeze, _ := goja.AssertFunction(v.rt.Get("Object").ToObject(v.rt).Get("freeze"))
	v.freeze = freeze
	if h.opts.OneRun {
		return v // dropped after its run (put): nothing to freeze for a later one
	}
	fp, err := h.harden(v.rt)
	if err != nil {
		panic(fmt.Sprintf("jshost: freezing the built-ins failed: %v", err)) // a bug of ours
	}
	v.fp = fp
	return v
}

// printable turns an object argument of console.log into its JSON text (an Error into its
// message), as a reader of the output expects rather than "[object Object]".
func (v *vm) printable(a goja.Value) goja.Value {
	obj, ok := a.(*goja.Object)
	if !ok {
		return a
	}
	if _, isFn := goja.AssertFunction(a); isFn {
		return a
	}
	if obj.ClassName() == "Error" {
		return v.rt.ToValue(obj.String())
	}
	jsonObj := v.rt.Get("JSON").ToObject(v.rt)
	stringify, _ := goja.AssertFunction(jsonObj.Get("stringify"))
	out, err := stringify(jsonObj, a)
	if err != nil || goja.IsUndefined(out) {
		return v.rt.ToValue(obj.String())
	}
	return out
}

// appObject is the global `app`.
func (h *Host) appObject(v *vm) *goja.Object {
	els := h.opts.Elements
	rt := v.rt
	o := rt.NewObject()
	for name, get := range map[string]func() string{
		"name":  func() string { n, _ := els.Info(); return n },
		"title": func() string { _, t := els.Info(); return t },
	} {
		o.DefineAccessorProperty(name, rt.ToValue(func(goja.FunctionCall) goja.Value { return rt.ToValue(get()) }), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	o.Set("getElement", func(call goja.FunctionCall) goja.Value {
		name := call.Argument(0)
		if goja.IsUndefined(name) || goja.IsNull(name) {
			panic(h.jsError(v, &elements.Error{Code: elements.CodeInvalidArgument, Message: "getElement needs a fullName such as \"corps.MyCorp\"", Err: elements.ErrInvalidArgument}))
		}
		obj, err := h.bindElement(v, name.String(), topSuper)
		if err != nil {
			panic(h.jsError(v, err))
		}
		return obj
	})
	o.Set("elements", func(goja.FunctionCall) goja.Value { return h.toJS(v, els.List()) })
	o.Set("transaction", func(call goja.FunctionCall) goja.Value {
		fn, ok := goja.AssertFunction(call.Argument(1))
		if !ok {
			panic(h.jsError(v, &elements.Error{Code: elements.CodeInvalidArgument, Err: elements.ErrInvalidArgument,
				Message: "app.transaction(name, fn) needs a function to run holding the lock"}))
		}
		name := ""
		if a := call.Argument(0); !goja.IsUndefined(a) && !goja.IsNull(a) {
			name = a.String()
		}
		held, unlock, err := els.Transaction(v.ctx, name)
		if err != nil {
			panic(h.jsError(v, err))
		}
		outer := v.ctx
		v.ctx = held
		defer func() { v.ctx = outer; unlock() }() // a throw, a time limit: the lock goes too
		res, err := fn(goja.Undefined())
		if err != nil {
			panic(err) // the script's own exception, as thrown
		}
		return res
	})
	return o
}

// topSuper asks bindElement for the object scripts get, whose $super is the level just
// below the most derived one.
const topSuper = -1

// bindElement returns the JS object of an element, with superLevel's methods as $super
// (topSuper: the level below the top). Each method call and property read goes through the
// runtime to the element's current instance, so a hot-reloaded element is used by the
// next call.
func (h *Host) bindElement(v *vm, fullName string, superLevel int) (goja.Value, error) {
	els := h.opts.Elements
	el, err := els.Element(fullName)
	if err != nil {
		return nil, err
	}
	if superLevel == topSuper || superLevel >= len(el.Levels) {
		superLevel = max(len(el.Levels)-2, 0)
	}
	cacheKey := fullName
	if superLevel != max(len(el.Levels)-2, 0) {
		cacheKey = fullName + "#" + strconv.Itoa(superLevel)
	}
	if b := v.cache[cacheKey]; b != nil && b.key == el.Key {
		return b.obj, nil
	}
	rt := v.rt
	obj := rt.NewObject()
	for _, name := range el.Properties {
		getter := rt.ToValue(func(goja.FunctionCall) goja.Value {
			var val any
			var ok bool
			var err error
			v.inGoMethod(func() { val, ok, err = els.Property(fullName, name) })
			if err != nil {
				panic(h.jsError(v, err))
			}
			if !ok {
				return goja.Undefined()
			}
			return h.toJS(v, val)
		})
		obj.DefineAccessorProperty(name, getter, nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	for _, name := range el.Methods {
		obj.Set(name, h.caller(v, elements.Call{Element: fullName, Method: name}))
	}
	// $super: the methods one link up the Type chain, for the overrides of an app's Type
	// element.
	super := rt.NewObject()
	if superLevel < len(el.Levels) {
		for _, name := range el.Levels[superLevel] {
			super.Set(name, h.caller(v, elements.Call{Element: fullName, Method: name, Super: true, Level: superLevel}))
		}
	}
	obj.DefineDataProperty("$super", super, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	obj.DefineDataProperty("toString", rt.ToValue(func(goja.FunctionCall) goja.Value {
		return rt.ToValue("[element " + fullName + "]")
	}), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	v.freeze(goja.Undefined(), obj) // cached across runs: nothing a run sets on it may stay
	v.cache[cacheKey] = &boundElement{key: el.Key, obj: obj}
	return obj, nil
}

// caller is a JS function that makes the call c with the script's arguments.
func (h *Host) caller(v *vm, c elements.Call) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		c := c
		c.Args, c.Mode = exportArgs(call.Arguments), elements.ArgsAuto
		var res any
		var err error
		var out goja.Value
		v.inGoMethod(func() {
			if res, err = h.opts.Elements.Invoke(v.ctx, c); err == nil {
				out = h.toJS(v, res)
			}
		})
		if err != nil {
			panic(h.jsError(v, err))
		}
		return out
	}
}

// bindObject exposes an elements.Object (such as a WeCom client) to JS; its methods are
// called through the runtime like an element's.
func (h *Host) bindObject(v *vm, o elements.Object) goja.Value {
	rt := v.rt
	obj := rt.NewObject()
	for _, p := range o.Properties() {
		get := p.Get
		obj.DefineAccessorProperty(p.Name, rt.ToValue(func(goja.FunctionCall) goja.Value {
			val, err := h.protect("property "+p.Name, get)
			if err != nil {
				panic(h.jsError(v, err))
			}
			return h.toJS(v, val)
		}), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	for _, m := range o.Methods() {
		obj.Set(m.Name, h.caller(v, elements.Call{Object: o, Method: m.Name}))
	}
	return obj
}

// protect calls get, turning a panic into an error.
func (h *Host) protect(where string, get func() any) (val any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = h.opts.Recovered(where, r)
		}
	}()
	return get(), nil
}

// toJS converts a method's result. JSON-shaped values are wrapped lazily by goja; RowData
// becomes an object whose fields have .value and which serialises to plain JSON; an
// elements.Object becomes an object with its methods.
func (h *Host) toJS(v *vm, val any) goja.Value {
	rt := v.rt
	switch x := val.(type) {
	case nil:
		return goja.Null()
	case goja.Value:
		return x
	case *elements.RowData:
		if x == nil {
			return goja.Null()
		}
		obj := rt.NewObject()
		for _, k := range x.Fields() {
			f := rt.NewObject()
			f.Set("value", h.toJS(v, x.Get(k)))
			obj.Set(k, f)
		}
		obj.DefineDataProperty("toJSON", rt.ToValue(func(goja.FunctionCall) goja.Value {
			flat := rt.NewObject()
			for _, k := range x.Fields() {
				flat.Set(k, h.toJS(v, x.Get(k)))
			}
			return flat
		}), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
		return obj
	case []*elements.RowData:
		items := make([]any, len(x))
		for i, r := range x {
			items[i] = h.toJS(v, r)
		}
		return rt.NewArray(items...)
	case elements.Object:
		return h.bindObject(v, x)
	case elements.List:
		return rt.NewDynamicArray(&listArray{h: h, v: v, list: x})
	case elements.Record:
		return rt.NewDynamicObject(&recordObject{h: h, v: v, rec: x})
	case []any:
		items := make([]any, len(x))
		for i, it := range x {
			items[i] = h.toJS(v, it)
		}
		return rt.NewArray(items...)
	case map[string]any:
		// A native object with sorted keys, so that what a script prints is stable.
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		obj := rt.NewObject()
		for _, k := range keys {
			obj.Set(k, h.toJS(v, x[k]))
		}
		return obj
	case []string:
		items := make([]any, len(x))
		for i, it := range x {
			items[i] = it
		}
		return rt.NewArray(items...)
	}
	return rt.ToValue(val)
}

// exportArgs turns JS arguments into JSON-shaped Go values.
func exportArgs(vals []goja.Value) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
			continue
		}
		out[i] = normalize(v.Export())
	}
	return out
}

// normalize makes exported JS values JSON-shaped: whole numbers become float64 like any
// other number, and nested maps and slices are walked.
func normalize(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, it := range x {
			out[k] = normalize(it)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, it := range x {
			out[i] = normalize(it)
		}
		return out
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}

// jsError makes a JS Error with a `code` from a Go error; the message is masked.
func (h *Host) jsError(v *vm, err error) goja.Value {
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return ex.Value()
	}
	var intr *goja.InterruptedError
	if errors.As(err, &intr) {
		panic(intr) // let an interrupt unwind the whole run
	}
	ctor, _ := goja.AssertConstructor(v.rt.Get("Error"))
	obj, cerr := ctor(nil, v.rt.ToValue(h.opts.Redactor.String(err.Error())))
	if cerr != nil {
		return v.rt.ToValue(err.Error())
	}
	obj.Set("code", elements.CodeOf(err))
	return obj
}

// RunResult is what a run produced.
type RunResult struct {
	// JSON is the completion value of the script as JSON, or nil when it was undefined.
	JSON json.RawMessage
}

// Script is a script to run.
type Script struct {
	// Name is the file name shown in errors and the base of relative require() (app-relative,
	// slash-separated; "<eval>" for code given inline).
	Name string
	Code string
	// Stdout and Stderr receive console output (the host's Options when nil).
	Stdout, Stderr io.Writer
	// Timeout overrides the host's limit for this run when positive.
	Timeout time.Duration
}

// RunFile runs an app-relative script file (or an absolute path).
func (h *Host) RunFile(ctx context.Context, rel string, stdout io.Writer) (*RunResult, error) {
	full := filepath.Join(h.opts.Dir, filepath.FromSlash(rel))
	if filepath.IsAbs(rel) {
		full = rel
	}
	code, err := appfile.Read(h.opts.Dir, full, appfile.MaxScript)
	if err != nil {
		return nil, fmt.Errorf("read script: %w", err)
	}
	return h.Run(ctx, Script{Name: h.ScriptName(full), Code: string(code), Stdout: stdout})
}

// ScriptName is how a script file is named in errors: app-relative when it is in the app.
func (h *Host) ScriptName(file string) string {
	if abs, err := filepath.Abs(file); err == nil && appfile.Within(h.opts.Dir, abs) {
		if r, err := filepath.Rel(h.opts.Dir, abs); err == nil {
			return filepath.ToSlash(r)
		}
	}
	return filepath.ToSlash(file)
}

// timeoutMarker is what Interrupt is given when a run's time limit passes.
type timeoutMarker struct{ limit time.Duration }

// Run runs a script to completion, within its time limit.
func (h *Host) Run(ctx context.Context, s Script) (res *RunResult, err error) {
	if s.Name == "" {
		s.Name = "<eval>"
	}
	prog, err := compileScript(s.Name, s.Code)
	if err != nil {
		h.runs.Add(1)
		return nil, err
	}
	err = h.withVM(ctx, s.Timeout, s.Stdout, s.Stderr, s.Name, func(v *vm) error {
		val, err := v.rt.RunProgram(prog)
		if err != nil {
			return err
		}
		res = &RunResult{}
		if val != nil && !goja.IsUndefined(val) {
			res.JSON, err = h.stringify(v, val)
		}
		return err
	})
	return res, err
}

// CallExport requires an app-relative module and calls one of its exported functions with
// args, in a run of its own; the result comes back JSON-shaped.
func (h *Host) CallExport(ctx context.Context, module, export string, args ...any) (any, error) {
	var out any
	name := path.Clean(module)
	err := h.withVM(ctx, 0, nil, nil, name, func(v *vm) (err error) {
		out, err = h.callModule(v, name, export, goja.Undefined(), args)
		return err
	})
	return out, err
}

// CallMethod runs a JS method of an app Type element (an export of module) in a run of
// its own, with `this` the element fullName and this.$super the methods at superLevel of
// its Type chain (the link above module's).
func (h *Host) CallMethod(ctx context.Context, fullName, module, method string, superLevel int, args []any) (any, error) {
	var out any
	err := h.withVM(ctx, 0, nil, nil, module, func(v *vm) error {
		this, err := h.bindElement(v, fullName, superLevel)
		if err != nil {
			return err
		}
		out, err = h.callModule(v, module, method, this, args)
		return err
	})
	return out, err
}

// ModuleFunctions loads a module in a run of its own and lists the functions it exports.
func (h *Host) ModuleFunctions(ctx context.Context, module string) ([]string, error) {
	var names []string
	err := h.withVM(ctx, 0, nil, nil, module, func(v *vm) error {
		mod, err := h.registry.Load().Enable(v.rt).Require("./" + module)
		if err != nil {
			return err
		}
		obj := mod.ToObject(v.rt)
		for _, k := range obj.Keys() {
			if _, ok := goja.AssertFunction(obj.Get(k)); ok {
				names = append(names, k)
			}
		}
		return nil
	})
	slices.Sort(names)
	return names, err
}

// callModule requires an app-relative module in v, calls its exported function with this
// and args, and returns the result JSON-shaped.
func (h *Host) callModule(v *vm, module, export string, this goja.Value, args []any) (any, error) {
	mod, err := h.registry.Load().Enable(v.rt).Require("./" + module)
	if err != nil {
		return nil, err
	}
	fn, ok := goja.AssertFunction(mod.ToObject(v.rt).Get(export))
	if !ok {
		return nil, &elements.Error{Code: elements.CodeUnknownMethod, Err: elements.ErrUnknownMethod,
			Message: fmt.Sprintf("%s exports no function %q", module, export)}
	}
	jsArgs := make([]goja.Value, len(args))
	for i, a := range args {
		jsArgs[i] = h.toJS(v, a)
	}
	val, err := fn(this, jsArgs...)
	if err != nil || val == nil || goja.IsUndefined(val) {
		return nil, err
	}
	raw, err := h.stringify(v, val)
	if err != nil || raw == nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(raw, &out)
}

// withVM runs fn on a runtime of the pool with the run's time limit, console writers and
// a fresh module cache, and turns what goja returns (or a panic) into a coded error.
//
// The time limit interrupts the runtime from a timer. A runtime goes back to the pool only
// once that timer is settled — stopped before it fired, or fired and done — so that a late
// interrupt can never end the next run on the same runtime (the k6 handshake).
func (h *Host) withVM(ctx context.Context, limit time.Duration, stdout, stderr io.Writer, name string, fn func(v *vm) error) (err error) {
	if limit <= 0 {
		limit = h.Timeout()
	}
	release, err := h.turn(ctx)
	if err != nil {
		return err
	}
	defer release()
	h.runs.Add(1)
	lim := h.limits()
	v, pooled := h.get()
	r := &run{v: v}
	v.run = r
	v.rt.SetMaxCallStackSize(lim.CallStack)
	ctx, cancel := context.WithTimeoutCause(context.WithValue(ctx, inRunKey{}, true), limit, errRunLimit)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if context.Cause(ctx) == errRunLimit {
			r.interrupt(timeoutMarker{limit})
		} else {
			r.interrupt(ctx.Err())
		}
	})
	h.watch.add(r)
	defer func() {
		stop()
		h.watch.remove(r)
		// From here no timer and no watchdog interrupts the runtime: it can be cleared
		// and reused without a late interrupt ending the next run (the k6 handshake).
		r.finish()
		healthy := true
		if p := recover(); p != nil {
			// A panic inside goja leaves the runtime in an unknown state: it is replaced.
			err, healthy = h.opts.Recovered("script "+name, p), false
		}
		h.put(v, pooled, healthy)
	}()
	v.ctx = ctx
	v.out = h.opts.Redactor.Writer(orDefault(stdout, h.opts.Stdout))
	v.errw = h.opts.Redactor.Writer(orDefault(stderr, h.opts.Stderr))
	h.registry.Load().Enable(v.rt) // a fresh module cache for every run
	if err := fn(v); err != nil {
		err = h.runError(err, name, lim)
		if context.Cause(ctx) == errRunLimit && !errors.Is(err, elements.ErrTimeout) {
			// the time ran out in Go work the script called (a sync waiting for its
			// platform's call limit): the script then failed with that work's error
			h.timeouts.Add(1)
			return &elements.Error{Code: elements.CodeTimeout, Err: elements.ErrTimeout,
				Message: fmt.Sprintf("script timed out after %s (raise the limit with --timeout): %v", limit, err)}
		}
		return err
	}
	return nil
}

// errRunLimit is why a run's context ends when its time limit passes.
var errRunLimit = errors.New("the run's time limit passed")

func orDefault(w, def io.Writer) io.Writer {
	if w != nil {
		return w
	}
	return def
}

// stringify serialises a completion value with JSON.stringify, so that toJSON and wrapped
// Go values serialise as scripts see them.
func (h *Host) stringify(v *vm, val goja.Value) (json.RawMessage, error) {
	jsonObj := v.rt.Get("JSON").ToObject(v.rt)
	fn, _ := goja.AssertFunction(jsonObj.Get("stringify"))
	out, err := fn(jsonObj, val, goja.Null(), v.rt.ToValue(2))
	if err != nil {
		return nil, err
	}
	if goja.IsUndefined(out) {
		return nil, nil // a function or symbol: nothing to print
	}
	return json.RawMessage(h.opts.Redactor.String(out.String())), nil
}

// get takes a runtime from the pool: one that is there, else the next the pool is still
// being filled with, else a one-off runtime made for the run.
func (h *Host) get() (*vm, bool) {
	select {
	case v := <-h.pool:
		return v, true
	default:
	}
	select {
	case v := <-h.pool:
		return v, true
	case <-h.filled:
		select {
		case v := <-h.pool:
			return v, true
		default:
			return h.newVM(), false
		}
	}
}

// put returns a pooled runtime to the pool, or a fresh one in its place when the run left
// it unfit (globals added, or a panic).
func (h *Host) put(v *vm, pooled, healthy bool) {
	v.rt.ClearInterrupt()
	v.ctx, v.out, v.errw, v.run = nil, io.Discard, io.Discard, nil
	if !pooled || h.opts.OneRun {
		return
	}
	if !healthy || !v.fp.unchanged(v.rt) {
		v = h.newVM()
	}
	select {
	case h.pool <- v:
	default:
	}
}

// Close drops the pooled runtimes, and stops making them if the pool is still being filled.
func (h *Host) Close() {
	h.closed.Store(true)
	for {
		select {
		case <-h.pool:
		default:
			return
		}
	}
}
