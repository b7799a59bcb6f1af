package runtime

import (
	"context"
	"path/filepath"
	"slices"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/runtime/jsdoc"
	"github.com/jitrt/jitrt/runtime/loader"
	"github.com/jitrt/jitrt/runtime/wasmhost"
)

// appType returns the app's Type element of that fullName, or nil (see loader.TypeElement
// for what a Type element is).
func (a *App) appType(id string) *loader.TypeElement {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.types[id]
}

// instancesOf lists the folders of what is built through the Type element id: the Type
// elements that extend it (each then rebuilds its own) and the instances whose type it is.
func (a *App) instancesOf(id string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var types, rels []string
	for name, te := range a.types {
		if name != id && te != nil && te.ExtendID == id {
			types = append(types, te.Rel)
		}
	}
	for _, e := range a.entries {
		e.mu.Lock()
		if e.typeID == id && !e.isType {
			rels = append(rels, e.dir)
		}
		e.mu.Unlock()
	}
	slices.Sort(types)
	slices.Sort(rels)
	return slices.Compact(append(types, rels...))
}

// overrides are the JS methods an instance takes from its Type element.
type overrides struct {
	module   string
	names    []string               // exported function names
	docs     map[string]*jsdoc.Func // their JSDoc, by name
	callable []string
	wasm     *wasmhost.Module // the module, for a link's index.wasm
}

// overrideMethods puts one link's JS methods over the methods of the level below (level
// superLevel of the chain). A JS method runs in a run of its own with `this` the element and
// this.$super that level, through the JS host.
func (a *App) overrideMethods(fullName string, base map[string]*elements.Method, ov *overrides, superLevel int) map[string]*elements.Method {
	out := make(map[string]*elements.Method, len(base)+len(ov.names))
	for n, m := range base {
		out[n] = m
	}
	for _, name := range ov.names {
		m := &elements.Method{Name: name, Doc: "defined in " + ov.module, Variadic: true, Callable: slices.Contains(ov.callable, name)}
		if d := ov.docs[name]; d != nil {
			m.TS = &elements.TSSignature{Returns: d.Returns}
			for _, p := range d.Params {
				m.TS.Params = append(m.TS.Params, elements.TSParam{Name: p.Name, Type: p.Type, Optional: p.Optional})
			}
			if d.Doc != "" {
				m.Doc = d.Doc + " (" + ov.module + ")"
			}
		}
		if b := base[name]; b != nil {
			m.Params, m.Variadic, m.Callable, m.Doc, m.TS = b.Params, false, b.Callable, b.Doc+" (overridden in "+ov.module+")", nil
		}
		m.Call = func(ctx context.Context, args elements.Args) (any, error) {
			if ov.wasm != nil {
				return a.callWasm(ctx, fullName, ov, name, superLevel, positional(m, args))
			}
			return a.host.CallMethod(ctx, fullName, ov.module, name, superLevel, positional(m, args))
		}
		out[name] = m
	}
	return out
}

// positional lists bound arguments in parameter order for a JS function.
func positional(m *elements.Method, args elements.Args) []any {
	if m.Variadic {
		list, _ := args[elements.VariadicArgs].([]any)
		return list
	}
	var out []any
	for _, p := range m.Params {
		v, ok := args[p.Name]
		if !ok {
			break
		}
		out = append(out, v)
	}
	return out
}

// maxWasmModule is the largest index.wasm jitrt loads.
const maxWasmModule = 64 << 20

// maxWasmDepth bounds Wasm calls nested through jitrt.call.
const maxWasmDepth = 32

type wasmDepthKey struct{}

// wasmOverrides compiles a Type element's index.wasm (or finds it compiled) with what its
// e.json grants; a module that cannot load is a problem at e.json's "wasm" key.
func (a *App) wasmOverrides(ctx context.Context, te *loader.TypeElement) (*overrides, *Problem) {
	problem := func(err error) *Problem {
		return &Problem{Path: te.Rel + "/e.json", Pos: te.WasmPos, Msg: a.redactor.String(err.Error())}
	}
	data, err := wasmhost.ReadModule(filepath.Join(a.Dir, filepath.FromSlash(te.Wasm)), maxWasmModule)
	if err != nil {
		return nil, problem(err)
	}
	g := wasmhost.Grants{Clock: slices.Contains(te.WasmWASI, "clock"), Random: slices.Contains(te.WasmWASI, "random"),
		FS: slices.Contains(te.WasmWASI, "fs"), Dir: filepath.Join(a.Dir, filepath.FromSlash(te.Rel)), MemoryPages: uint32(te.WasmMemory >> 16)}
	mod, err := a.wasm.Load(ctx, te.Wasm, data, g)
	if err != nil {
		return nil, problem(err)
	}
	return &overrides{module: te.Wasm, names: mod.Exports, callable: te.Callable, wasm: mod}, nil
}

// callWasm runs a Wasm method of the element under the app's time limit; its calls back
// into the app (jitrt.call) go through Invoke like a script's, $super being the link above.
func (a *App) callWasm(ctx context.Context, fullName string, ov *overrides, method string, superLevel int, args []any) (any, error) {
	// each nested Wasm call holds an instance of its own (its memory): bound the nesting,
	// as goja's call stack bounds a script's
	depth, _ := ctx.Value(wasmDepthKey{}).(int)
	if depth >= maxWasmDepth {
		return nil, elements.Errorf(elements.CodeResourceExhausted, "%s.%s: WebAssembly calls nested deeper than %d (a method that calls itself without end?)", fullName, method, maxWasmDepth)
	}
	ctx = context.WithValue(ctx, wasmDepthKey{}, depth+1)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.Timeout())
		defer cancel()
	}
	return ov.wasm.Call(ctx, wasmhost.Call{
		Export:  method,
		Args:    args,
		Log:     a.log,
		Element: fullName,
		Config: func() map[string]any { // only when the guest asks
			e, err := a.Element(fullName)
			if err != nil {
				return map[string]any{}
			}
			return e.publicConfig()
		},
		Invoke: func(ctx context.Context, r wasmhost.Request) (any, error) {
			c := elements.Call{Element: r.Element, Method: r.Method, Args: r.Args, Mode: elements.ArgsAuto}
			if c.Element == "" || c.Element == fullName {
				c.Element, c.Super, c.Level = fullName, r.Super, superLevel
			} else if r.Super {
				return nil, elements.Errorf(elements.CodeInvalidArgument, "super calls go to this element's own Type chain, not to %s", r.Element)
			}
			res, err := a.Invoke(ctx, c)
			if _, isObj := res.(elements.Object); isObj {
				return nil, elements.Errorf(elements.CodeInvalidArgument, "%s of %s returns an object only scripts can use", r.Method, c.Element)
			}
			return res, err
		},
	})
}

// publicConfig is the element's config without its secrets (for a Wasm guest).
func (e *Entry) publicConfig() map[string]any {
	e.mu.Lock()
	def := e.def
	e.mu.Unlock()
	if def == nil || def.Element == nil || def.Type == nil {
		return map[string]any{}
	}
	out := map[string]any{}
	for k, v := range def.Element.Config {
		if f := def.Type.Schema.Field(k); f != nil && f.Secret {
			continue
		}
		out[k] = v
	}
	return out
}
