package runtime

import (
	"context"
	"slices"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/runtime/loader"
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
	names    []string // exported function names
	callable []string
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
		if b := base[name]; b != nil {
			m.Params, m.Variadic, m.Callable, m.Doc = b.Params, false, b.Callable, b.Doc+" (overridden in "+ov.module+")"
		}
		m.Call = func(ctx context.Context, args elements.Args) (any, error) {
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
