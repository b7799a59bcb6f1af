package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/dop251/goja"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/jsonpos"
)

// An app's own Type element is a folder whose e.json names a Meta as its type:
//
//	corps/MyCorpType/e.json   {"title": "…", "type": "corps.Meta", "extend": "corps.QywxInnerType",
//	                           "callable": ["regionReport"]}
//	corps/MyCorpType/index.js exports.getCorpInfo = function () {
//	                            const info = this.$super.getCorpInfo(); info.region = "华东"; return info }
//
// Instances name it by its fullName ("type": "corps.MyCorpType") and are built by the
// registered Type it extends, with the functions index.js exports overriding methods of the
// same name or adding new ones. In an override, `this` is the element (so this.other()
// calls the element's own, possibly overridden, method) and `this.$super` holds the methods
// of the Type it extends. A Type element whose fullName is a registered Type ID (the app's
// own corps/QywxInnerType) rewrites that Type for the whole app and extends it by default.
// New methods answer the HTTP API and tasks only if e.json lists them under "callable".
type typeElem struct {
	fullName string
	rel      string
	base     *elements.Type
	module   string   // app-relative index.js, "" if there is none
	callable []string // new methods reachable from outside the app
	problems Problems
}

// overrideModule is the file of a Type element that holds its JS methods.
const overrideModule = "index.js"

// parseTypeElement reads the Type-element keys of e.json (extend, callable).
func parseTypeElement(appDir, rel, fullName, meta string, def *jsonpos.Node) *typeElem {
	te := &typeElem{fullName: fullName, rel: rel}
	ejson := rel + "/e.json"
	report := func(pos jsonpos.Pos, format string, args ...any) {
		te.problems = append(te.problems, Problem{Path: ejson, Pos: pos, Msg: fmt.Sprintf(format, args...)})
	}
	baseID := ""
	if m := def.Get("extend"); m != nil {
		if m.Value.Kind != jsonpos.String {
			report(m.Value.Pos, "key \"extend\" must be a string naming a registered Type, such as \"corps.QywxInnerType\"")
			return te
		}
		baseID = m.Value.Str
		typ, err := elements.LookupType(baseID)
		switch {
		case err != nil:
			report(m.Value.Pos, "extend: %v (registered: %s)", err, strings.Join(elements.Types(), ", "))
		case typ.Meta != meta:
			report(m.Value.Pos, "extend: %s belongs to %s, not to this element's %s", baseID, typ.Meta, meta)
		default:
			te.base = typ
		}
	} else if typ, err := elements.LookupType(fullName); err == nil && typ.Meta == meta {
		te.base = typ // the app rewrites a registered Type of the same name
	} else {
		var ofMeta []string
		for _, id := range elements.Types() {
			if t, _ := elements.LookupType(id); t != nil && t.Meta == meta {
				ofMeta = append(ofMeta, id)
			}
		}
		if len(ofMeta) == 1 {
			te.base, _ = elements.LookupType(ofMeta[0])
		} else {
			report(def.Pos, "a Type element needs \"extend\": the registered Type it builds on (%s has %s)", meta, strings.Join(ofMeta, ", "))
		}
	}
	if m := def.Get("callable"); m != nil {
		ok := m.Value.Kind == jsonpos.Array
		for _, it := range m.Value.Items {
			if it.Kind != jsonpos.String {
				ok = false
				break
			}
			te.callable = append(te.callable, it.Str)
		}
		if !ok {
			report(m.Value.Pos, "key \"callable\" must be a list of method names")
		}
	}
	if _, err := os.Stat(filepath.Join(appDir, filepath.FromSlash(rel), overrideModule)); err == nil {
		te.module = rel + "/" + overrideModule
	}
	return te
}

// peekType reads just the type of an element folder's e.json ("" if it has none).
func peekType(appDir, rel string) string {
	data, err := os.ReadFile(filepath.Join(appDir, filepath.FromSlash(rel), "e.json"))
	if err != nil {
		return ""
	}
	n, err := jsonpos.Parse(data)
	if err != nil {
		return ""
	}
	if m := n.Get("type"); m != nil {
		return m.Value.Str
	}
	return ""
}

// typesFirst orders element folders so that Type elements come before the instances built
// through them, reading each e.json once.
func typesFirst(appDir string, rels []string) []string {
	var types, others []string
	for _, rel := range rels {
		if elements.IsMeta(peekType(appDir, rel)) {
			types = append(types, rel)
		} else {
			others = append(others, rel)
		}
	}
	return append(types, others...)
}

// appType returns the app's Type element of that fullName, or nil.
func (a *App) appType(id string) *typeElem {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.types[id]
}

// instancesOf lists the folders of the elements whose type is the Type element id.
func (a *App) instancesOf(id string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var rels []string
	for _, e := range a.entries {
		e.mu.Lock()
		if e.typeID == id && !e.isType {
			rels = append(rels, e.dir)
		}
		e.mu.Unlock()
	}
	slices.Sort(rels)
	return rels
}

// overrides are the JS methods an instance takes from its Type element.
type overrides struct {
	module   string
	names    []string // exported function names
	callable []string
}

var problemPattern = regexp.MustCompile(`^(.+?):(\d+):(\d+): (.*)$`)

// problemOf turns a script error ("file:line:col: message") into a Problem.
func problemOf(err error, fallback string) Problem {
	if m := problemPattern.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		return Problem{Path: m[1], Pos: jsonpos.Pos{Line: line, Col: col}, Msg: m[4]}
	}
	return Problem{Path: fallback, Pos: jsonpos.Pos{Line: 1, Col: 1}, Msg: err.Error()}
}

// moduleFunctions loads a module in a run of its own and lists the functions it exports.
func (h *Host) moduleFunctions(ctx context.Context, module string) ([]string, error) {
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

// overrideMethods merges an instance's Go methods with its Type element's JS ones.
func (a *App) overrideMethods(fullName string, base map[string]*elements.Method, ov *overrides) map[string]*elements.Method {
	out := make(map[string]*elements.Method, len(base)+len(ov.names))
	for n, m := range base {
		out[n] = m
	}
	for _, name := range ov.names {
		name := name
		m := &elements.Method{Name: name, Doc: "defined in " + ov.module, Variadic: true, Callable: slices.Contains(ov.callable, name)}
		if b := base[name]; b != nil {
			m.Params, m.Variadic, m.Callable, m.Doc = b.Params, false, b.Callable, b.Doc+" (overridden in "+ov.module+")"
		}
		m.Call = func(ctx context.Context, args elements.Args) (any, error) {
			return a.host.callOverride(ctx, fullName, ov.module, name, positional(m, args))
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

// callOverride runs a Type element's JS method with `this` the element.
func (h *Host) callOverride(ctx context.Context, fullName, module, method string, args []any) (any, error) {
	var out any
	err := h.withVM(ctx, 0, nil, nil, module, func(v *vm) error {
		this, err := h.bindElement(v, fullName)
		if err != nil {
			return err
		}
		out, err = h.callModule(v, module, method, this, args)
		return err
	})
	return out, err
}
