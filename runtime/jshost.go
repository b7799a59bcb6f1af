package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
	"github.com/dop251/goja_nodejs/require"
	"github.com/dop251/goja_nodejs/util"

	"github.com/jitrt/jitrt/elements"
)

// Host runs scripts of one app. goja runtimes are not safe for concurrent use, so each run
// takes a runtime of its own from a fixed pool of pre-warmed ones, or a one-off runtime when
// all are busy; a runtime is reset (interrupt cleared, modules reloaded) before reuse.
type Host struct {
	app  *App
	pool chan *vm
	// registry compiles app modules for require(); replaced by InvalidateScripts so that an
	// edited module is compiled afresh.
	registry atomic.Pointer[require.Registry]
	runs     atomic.Int64
	timeouts atomic.Int64
}

// vm is one pooled runtime with the app bindings installed.
type vm struct {
	rt    *goja.Runtime
	out   io.Writer // console.log target of the current run
	errw  io.Writer // console.error target of the current run
	ctx   context.Context
	cache map[*Entry]*boundElement
	// globals is the number of global properties of a fresh runtime; a run that added some
	// (a top-level var or function, or globalThis.x = …) leaves the runtime dirty, and it is
	// replaced rather than reused, so that no run sees another's leftovers.
	globals int
}

type boundElement struct {
	ref *instanceRef
	obj *goja.Object
}

func newHost(a *App) *Host {
	h := &Host{app: a}
	h.InvalidateScripts()
	n := a.opts.PoolSize
	if n <= 0 {
		n = goruntime.GOMAXPROCS(0)
	}
	h.pool = make(chan *vm, n)
	for i := 0; i < n; i++ {
		h.pool <- h.newVM()
	}
	return h
}

// InvalidateScripts drops compiled modules, so that the next run reads every script afresh.
func (h *Host) InvalidateScripts() {
	h.registry.Store(require.NewRegistry(
		require.WithLoader(h.loadSource),
		require.WithPathResolver(func(base, p string) string { return path.Join(base, p) }),
	))
}

// Stats reports the number of runs and of runs that timed out.
func (h *Host) Stats() (runs, timeouts int64) { return h.runs.Load(), h.timeouts.Load() }

// loadSource reads an app-relative module; nothing outside the app folder can be required.
func (h *Host) loadSource(p string) ([]byte, error) {
	full := filepath.Join(h.app.Dir, filepath.FromSlash(p))
	if !within(h.app.Dir, full) {
		return nil, fmt.Errorf("module %q is outside the app folder", p)
	}
	data, err := os.ReadFile(full)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, require.ModuleFileDoesNotExistError
		}
		return nil, err
	}
	if fi, err := os.Stat(full); err == nil && fi.IsDir() {
		return nil, require.ModuleFileDoesNotExistError
	}
	return data, nil
}

func (h *Host) newVM() *vm {
	v := &vm{rt: goja.New(), out: io.Discard, errw: io.Discard, cache: map[*Entry]*boundElement{}}
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
	v.globals = len(v.rt.GlobalObject().Keys())
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
	a := h.app
	rt := v.rt
	o := rt.NewObject()
	for name, get := range map[string]func() string{"name": func() string { return a.Info().Name }, "title": func() string { return a.Info().Title }} {
		get := get
		o.DefineAccessorProperty(name, rt.ToValue(func(goja.FunctionCall) goja.Value { return rt.ToValue(get()) }), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	o.Set("getElement", func(call goja.FunctionCall) goja.Value {
		name := call.Argument(0)
		if goja.IsUndefined(name) || goja.IsNull(name) {
			panic(h.jsError(v, &elements.Error{Code: elements.CodeInvalidArgument, Message: "getElement needs a fullName such as \"corps.MyCorp\"", Err: elements.ErrInvalidArgument}))
		}
		obj, err := h.bindElement(v, name.String())
		if err != nil {
			panic(h.jsError(v, err))
		}
		return obj
	})
	o.Set("elements", func(goja.FunctionCall) goja.Value {
		var list []any
		for _, e := range a.Entries() {
			s := e.Status()
			list = append(list, map[string]any{"fullName": s.FullName, "type": s.Type, "title": s.Title, "status": s.Status})
		}
		return h.toJS(v, list)
	})
	return o
}

// bindElement returns the JS object of an element. Each method call and property read goes
// to the element's current instance, so a hot-reloaded element is used by the next call.
func (h *Host) bindElement(v *vm, fullName string) (goja.Value, error) {
	e, err := h.app.Element(fullName)
	if err != nil {
		return nil, err
	}
	ref, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer ref.release()
	if b := v.cache[e]; b != nil && b.ref == ref {
		return b.obj, nil
	}
	rt := v.rt
	obj := rt.NewObject()
	for _, name := range ref.propNames {
		name := name
		getter := rt.ToValue(func(goja.FunctionCall) goja.Value {
			val, ok, err := e.Property(name)
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
	for _, name := range ref.names {
		name := name
		obj.Set(name, func(call goja.FunctionCall) goja.Value {
			args := exportArgs(call.Arguments)
			res, err := e.Call(v.ctx, name, func(m *elements.Method) (elements.Args, error) { return m.Bind(args) })
			if err != nil {
				panic(h.jsError(v, err))
			}
			return h.toJS(v, res)
		})
	}
	// $super: the Type's own methods, for the overrides of an app's Type element.
	super := rt.NewObject()
	for name, m := range ref.base {
		super.Set(name, h.goMethod(v, m))
	}
	obj.DefineDataProperty("$super", super, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	obj.DefineDataProperty("toString", rt.ToValue(func(goja.FunctionCall) goja.Value {
		return rt.ToValue("[element " + fullName + "]")
	}), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	v.cache[e] = &boundElement{ref: ref, obj: obj}
	return obj, nil
}

// bindObject exposes an elements.Object (such as a WeCom client) to JS.
func (h *Host) bindObject(v *vm, o elements.Object) goja.Value {
	rt := v.rt
	obj := rt.NewObject()
	for _, p := range o.Properties() {
		p := p
		obj.DefineAccessorProperty(p.Name, rt.ToValue(func(goja.FunctionCall) goja.Value { return h.toJS(v, p.Get()) }), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	for _, m := range o.Methods() {
		obj.Set(m.Name, h.goMethod(v, &m))
	}
	return obj
}

// goMethod is a JS function that calls a Go method directly: arguments bound as the method
// declares them, errors thrown as JS Errors with their code.
func (h *Host) goMethod(v *vm, m *elements.Method) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		args, err := m.Bind(exportArgs(call.Arguments))
		if err != nil {
			panic(h.jsError(v, err))
		}
		res, err := m.Call(v.ctx, args)
		if err != nil {
			panic(h.jsError(v, err))
		}
		return h.toJS(v, res)
	}
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
	obj, cerr := ctor(nil, v.rt.ToValue(h.app.redactor.String(err.Error())))
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
	// Stdout and Stderr receive console output (the app's Options when nil).
	Stdout, Stderr io.Writer
	// Timeout overrides the app's limit for this run when positive.
	Timeout time.Duration
}

// RunFile runs an app-relative script file (or an absolute path).
func (h *Host) RunFile(ctx context.Context, rel string, stdout io.Writer) (*RunResult, error) {
	full := filepath.Join(h.app.Dir, filepath.FromSlash(rel))
	if filepath.IsAbs(rel) {
		full = rel
	}
	code, err := os.ReadFile(full)
	if err != nil {
		return nil, fmt.Errorf("read script: %w", err)
	}
	name := filepath.ToSlash(rel)
	if r, err := filepath.Rel(h.app.Dir, full); err == nil && within(h.app.Dir, full) {
		name = filepath.ToSlash(r)
	}
	return h.Run(ctx, Script{Name: name, Code: string(code), Stdout: stdout})
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

// CallScript is CallExport (elements.AppHandle).
func (a *App) CallScript(ctx context.Context, module, export string, args ...any) (any, error) {
	return a.host.CallExport(ctx, module, export, args...)
}

// withVM runs fn on a runtime of the pool with the run's time limit, console writers and
// a fresh module cache, and turns what goja returns into a coded error.
func (h *Host) withVM(ctx context.Context, limit time.Duration, stdout, stderr io.Writer, name string, fn func(v *vm) error) error {
	h.runs.Add(1)
	if limit <= 0 {
		limit = h.app.opts.Timeout
	}
	v, pooled := h.get()
	defer h.put(v, pooled)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			v.rt.Interrupt(timeoutMarker{limit})
		} else {
			v.rt.Interrupt(ctx.Err())
		}
	})
	defer stop()
	v.ctx = ctx
	v.out = h.app.redactor.Writer(orDefault(stdout, h.app.opts.Stdout))
	v.errw = h.app.redactor.Writer(orDefault(stderr, h.app.opts.Stderr))
	h.registry.Load().Enable(v.rt) // a fresh module cache for every run
	if err := fn(v); err != nil {
		return h.runError(err, name)
	}
	return nil
}

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
	return json.RawMessage(h.app.redactor.String(out.String())), nil
}

// compileScript compiles a top-level script inside a block, so that its let, const and class
// declarations do not outlive the run in a pooled runtime. The brace stands on the first line,
// so line numbers are unchanged and only columns of line 1 shift (positionOf undoes that).
func compileScript(name, code string) (*goja.Program, error) {
	ast, err := parser.ParseFile(nil, name, "{"+code+"\n}", 0)
	if err != nil {
		var list parser.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			p := list[0].Position
			col := p.Column
			if p.Line == 1 && col > 1 {
				col--
			}
			return nil, &elements.Error{Code: elements.CodeScript, Message: fmt.Sprintf("%s:%d:%d: SyntaxError: %s", name, p.Line, col, list[0].Message)}
		}
		return nil, &elements.Error{Code: elements.CodeScript, Message: "SyntaxError: " + err.Error()}
	}
	prog, err := goja.CompileAST(ast, false)
	if err != nil {
		return nil, &elements.Error{Code: elements.CodeScript, Message: fmt.Sprintf("%s: %v", name, err)}
	}
	return prog, nil
}

// runError turns what goja returned into an error with a code and, for script errors, the
// file:line:col where it was thrown.
func (h *Host) runError(err error, mainName string) error {
	var intr *goja.InterruptedError
	if errors.As(err, &intr) {
		switch x := intr.Value().(type) {
		case timeoutMarker:
			h.timeouts.Add(1)
			return &elements.Error{Code: elements.CodeTimeout, Err: elements.ErrTimeout,
				Message: fmt.Sprintf("script timed out after %s (raise the limit with --timeout)", x.limit)}
		case error:
			return &elements.Error{Code: elements.CodeTimeout, Err: x, Message: "script interrupted"}
		}
		return &elements.Error{Code: elements.CodeTimeout, Err: elements.ErrTimeout, Message: "script interrupted"}
	}
	var syn *goja.CompilerSyntaxError
	if errors.As(err, &syn) {
		if fixed, ok := fixModuleSyntax(syn.Message); ok {
			return &elements.Error{Code: elements.CodeScript, Message: fixed}
		}
		msg := "SyntaxError: " + syn.Message
		if syn.File != nil {
			p := syn.File.Position(syn.Offset)
			msg = fmt.Sprintf("%s:%d:%d: %s", p.Filename, p.Line, p.Column, msg)
		}
		return &elements.Error{Code: elements.CodeScript, Message: msg}
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return h.exceptionError(ex, mainName)
	}
	return err
}

// moduleWrapper is what goja_nodejs puts before a module's source on its first line.
const moduleWrapper = "(function(exports,require,module,__filename,__dirname){"

// moduleSyntax matches the parser's message for a module that does not compile.
var moduleSyntax = regexp.MustCompile(`^(?:SyntaxError: )?(\S+): Line (\d+):(\d+) (.+?)(?: \(and \d+ more errors?\))?$`)

// fixModuleSyntax rewrites "SyntaxError: f.js: Line 2:11 Unexpected token" as
// "f.js:2:11: SyntaxError: Unexpected token", columns of line 1 without the wrapper.
func fixModuleSyntax(msg string) (string, bool) {
	m := moduleSyntax.FindStringSubmatch(msg)
	if m == nil {
		return msg, false
	}
	line, _ := strconv.Atoi(m[2])
	col, _ := strconv.Atoi(m[3])
	if line == 1 && col > len(moduleWrapper) {
		col -= len(moduleWrapper)
	}
	return fmt.Sprintf("%s:%d:%d: SyntaxError: %s", m[1], line, col, m[4]), true
}

// exceptionError keeps the code of an Error thrown from Go (or set by the script) and puts
// the place it was thrown in front of the message.
func (h *Host) exceptionError(ex *goja.Exception, mainName string) error {
	code := elements.CodeScript
	msg := ""
	if obj, ok := ex.Value().(*goja.Object); ok {
		if c := obj.Get("code"); c != nil && !goja.IsUndefined(c) && !goja.IsNull(c) {
			code = c.String()
		}
		msg = obj.String()
	} else if ex.Value() != nil {
		msg = "Uncaught " + ex.Value().String()
	}
	if fixed, ok := fixModuleSyntax(msg); ok {
		return &elements.Error{Code: elements.CodeScript, Message: h.app.redactor.String(fixed)}
	}
	where := ""
	for _, f := range ex.Stack() {
		if f.SrcName() == "" || f.SrcName() == "<native>" {
			continue
		}
		p := f.Position()
		if p.Line > 0 {
			switch {
			case f.SrcName() == mainName && p.Line == 1 && p.Column > 1:
				p.Column-- // the block brace compileScript added
			case f.SrcName() != mainName && p.Line == 1 && p.Column > len(moduleWrapper):
				p.Column -= len(moduleWrapper) // the wrapper goja_nodejs puts around a module
			}
			where = fmt.Sprintf("%s:%d:%d: ", f.SrcName(), p.Line, p.Column)
			break
		}
	}
	return &elements.Error{Code: code, Message: h.app.redactor.String(where + msg)}
}

func (h *Host) get() (*vm, bool) {
	select {
	case v := <-h.pool:
		if v == nil {
			return h.newVM(), false
		}
		return v, true
	default:
		return h.newVM(), false
	}
}

func (h *Host) put(v *vm, pooled bool) {
	v.rt.ClearInterrupt()
	v.ctx, v.out, v.errw = nil, io.Discard, io.Discard
	// drop bindings of replaced instances
	for e, b := range v.cache {
		if e.cur.Load() != b.ref {
			delete(v.cache, e)
		}
	}
	if !pooled {
		return
	}
	if len(v.rt.GlobalObject().Keys()) != v.globals {
		v = h.newVM()
	}
	select {
	case h.pool <- v:
	default:
	}
}

func (h *Host) close() {
	for {
		select {
		case <-h.pool:
		default:
			return
		}
	}
}
