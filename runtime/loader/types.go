package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/bytesize"
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
//
// A Type element may extend another of the app's Type elements, to any depth: the chain
// ends at a registered Type, and in each link's overrides this.$super is the link above
// (the registered Type's own methods for the first). "extend" names the app's Type
// element of that fullName when there is one (so the app's rewrite of a registered Type is
// what others extend), else the registered Type.
type TypeElement struct {
	FullName string
	Rel      string
	Base     *elements.Type // the registered Type at the root of the chain
	Parent   *TypeElement   // the app's Type element it extends; nil if it extends Base itself
	ExtendID string         // what "extend" names, loaded or not ("" when e.json has none)
	Module   string         // app-relative index.js, "" if there is none
	Callable []string       // new methods reachable from outside the app
	Problems Problems
	// Wasm is the app-relative index.wasm, "" if there is none: its exports are methods
	// too (package runtime/wasmhost). WasmWASI are the WASI pieces e.json grants it
	// (clock, random, fs), WasmMemory its memory ceiling in bytes (0: the default), and
	// WasmPos where e.json says so (its "wasm" key, or the object), for problems.
	Wasm       string
	WasmWASI   []string
	WasmMemory int64
	WasmPos    jsonpos.Pos
}

// WasmModule is the file of a Type element that holds its WebAssembly methods.
const WasmModule = "index.wasm"

// wasmGrants are the WASI pieces a Type element may grant its module.
var wasmGrants = []string{"clock", "random", "fs"}

// Chain lists the Type elements from the one that extends the registered Type down to te.
func (te *TypeElement) Chain() []*TypeElement {
	var c []*TypeElement
	for t := te; t != nil && len(c) <= maxChain; t = t.Parent {
		c = append(c, t)
	}
	slices.Reverse(c)
	return c
}

// Extends reports whether te is id or extends it, directly or further up its chain.
func (te *TypeElement) Extends(id string) bool {
	for _, t := range te.Chain() {
		if t.FullName == id {
			return true
		}
	}
	return false
}

// maxChain bounds the links of a chain (a cycle is reported before it gets there).
const maxChain = 64

// OverrideModule is the file of a Type element that holds its JS methods.
const OverrideModule = "index.js"

// parseTypeElement reads the Type-element keys of e.json (extend, callable); appTypes finds
// the app's Type elements loaded so far (TypesFirst loads bases before what extends them).
func parseTypeElement(appDir, rel, fullName, meta string, def *jsonpos.Node, appTypes func(string) *TypeElement) *TypeElement {
	te := &TypeElement{FullName: fullName, Rel: rel}
	ejson := rel + "/e.json"
	report := func(pos jsonpos.Pos, format string, args ...any) {
		te.Problems = append(te.Problems, Problem{Path: ejson, Pos: pos, Msg: fmt.Sprintf(format, args...)})
	}
	if m := def.Get("extend"); m != nil {
		if m.Value.Kind != jsonpos.String {
			report(m.Value.Pos, "key \"extend\" must be a string naming a Type, such as \"corps.QywxInnerType\" or one of the app's Type elements")
			return te
		}
		te.ExtendID = m.Value.Str
		te.extend(appDir, meta, m.Value.Str, m.Value.Pos, appTypes, report)
	} else if typ, err := elements.LookupType(fullName); err == nil && typ.Meta == meta {
		te.Base = typ // the app rewrites a registered Type of the same name
	} else {
		var ofMeta []string
		for _, id := range elements.Types() {
			if t, _ := elements.LookupType(id); t != nil && t.Meta == meta {
				ofMeta = append(ofMeta, id)
			}
		}
		if len(ofMeta) == 1 {
			te.Base, _ = elements.LookupType(ofMeta[0])
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
			te.Callable = append(te.Callable, it.Str)
		}
		if !ok {
			report(m.Value.Pos, "key \"callable\" must be a list of method names")
		}
	}
	if _, err := os.Stat(filepath.Join(appDir, filepath.FromSlash(rel), OverrideModule)); err == nil {
		te.Module = rel + "/" + OverrideModule
	}
	te.WasmPos = def.Pos
	if m := def.Get("wasm"); m != nil {
		te.WasmPos = m.Value.Pos
		te.parseWasm(m.Value, report)
	}
	if _, err := os.Stat(filepath.Join(appDir, filepath.FromSlash(rel), WasmModule)); err == nil {
		te.Wasm = rel + "/" + WasmModule
	}
	return te
}

// extend links te to what it extends: one of the app's Type elements (its chain goes on
// above), or a registered Type. A base that is missing, of another Meta, broken, or that
// leads back to te is reported at the "extend" key, naming the chain.
func (te *TypeElement) extend(appDir, meta, baseID string, pos jsonpos.Pos, appTypes func(string) *TypeElement, report func(jsonpos.Pos, string, ...any)) {
	if baseID != te.FullName {
		if chain := cycleFrom(appDir, te.FullName, baseID); chain != nil {
			report(pos, "extend: a cycle of Type elements: %s", strings.Join(chain, " → "))
			return
		}
		if parent := appTypes(baseID); parent != nil {
			switch {
			case len(parent.Problems) > 0 || parent.Base == nil:
				report(pos, "extend: the app's Type element %s (%s) has errors: %s", baseID, parent.Rel, parent.Problems.Error())
			case parent.Base.Meta != meta:
				report(pos, "extend: %s belongs to %s, not to this element's %s", baseID, parent.Base.Meta, meta)
			case len(parent.Chain()) >= maxChain:
				report(pos, "extend: the chain %s is longer than %d Type elements", chainNames(parent), maxChain)
			default:
				te.Parent, te.Base = parent, parent.Base
			}
			return
		}
	}
	typ, err := elements.LookupType(baseID)
	switch {
	case err != nil && baseID == te.FullName:
		report(pos, "extend: %s is this Type element itself; name the Type it builds on", baseID)
	case err != nil && isTypeFolder(appDir, baseID):
		report(pos, "extend: the app's Type element %s did not load", baseID)
	case err != nil:
		report(pos, "extend: %v: neither a registered Type (%s) nor a Type element of this app", err, strings.Join(elements.Types(), ", "))
	case typ.Meta != meta:
		report(pos, "extend: %s belongs to %s, not to this element's %s", baseID, typ.Meta, meta)
	default:
		te.Base = typ
	}
}

// chainNames is a chain as "a → b → c", from the registered Type down.
func chainNames(te *TypeElement) string {
	names := []string{te.Chain()[0].Base.ID}
	for _, t := range te.Chain() {
		names = append(names, t.FullName)
	}
	return strings.Join(names, " → ")
}

// folderOf is the app folder a fullName lives in ("corps.X" → "corps/X").
func folderOf(fullName string) string { return strings.ReplaceAll(fullName, ".", "/") }

// isTypeFolder reports whether the app has a Type element of that fullName.
func isTypeFolder(appDir, fullName string) bool {
	t, _ := peekTypeExtend(appDir, folderOf(fullName))
	return elements.IsMeta(t)
}

// cycleFrom follows "extend" through the app's Type element folders from baseID; if it
// comes back to self it returns the loop (self → … → self), else nil.
func cycleFrom(appDir, self, baseID string) []string {
	chain := []string{self}
	for id := baseID; len(chain) <= maxChain; {
		chain = append(chain, id)
		if id == self {
			return chain
		}
		t, ext := peekTypeExtend(appDir, folderOf(id))
		if !elements.IsMeta(t) || ext == "" || ext == id {
			return nil
		}
		id = ext
	}
	return nil
}

// peekTypeExtend reads just the type and extend of an element folder's e.json ("" for
// what it does not have).
func peekTypeExtend(appDir, rel string) (typ, extend string) {
	data, err := readFile(appDir, rel+"/e.json")
	if err != nil {
		return "", ""
	}
	n, err := jsonpos.Parse(data)
	if err != nil {
		return "", ""
	}
	if m := n.Get("type"); m != nil {
		typ = m.Value.Str
	}
	if m := n.Get("extend"); m != nil {
		extend = m.Value.Str
	}
	return typ, extend
}

// TypesFirst orders element folders so that Type elements come before the instances built
// through them, and each Type element after the one it extends, reading each e.json once.
func TypesFirst(appDir string, rels []string) []string {
	var others []string
	extends := map[string]string{} // Type element folder → the folder of the app Type it extends
	var types []string
	for _, rel := range rels {
		t, ext := peekTypeExtend(appDir, rel)
		if !elements.IsMeta(t) {
			others = append(others, rel)
			continue
		}
		types = append(types, rel)
		if ext != "" && folderOf(ext) != rel {
			extends[rel] = folderOf(ext)
		}
	}
	isType := map[string]bool{}
	for _, rel := range types {
		isType[rel] = true
	}
	var ordered []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(rel string)
	visit = func(rel string) {
		if state[rel] != 0 {
			return // done, or a cycle (each link reports it when it loads)
		}
		state[rel] = 1
		if base := extends[rel]; isType[base] {
			visit(base)
		}
		state[rel] = 2
		ordered = append(ordered, rel)
	}
	for _, rel := range types {
		visit(rel)
	}
	return append(ordered, others...)
}

var problemPattern = regexp.MustCompile(`^(.+?):(\d+):(\d+): (.*)$`)

// ProblemOf turns a script error ("file:line:col: message") into a Problem.
func ProblemOf(err error, fallback string) Problem {
	if m := problemPattern.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		return Problem{Path: m[1], Pos: jsonpos.Pos{Line: line, Col: col}, Msg: m[4]}
	}
	return Problem{Path: fallback, Pos: jsonpos.Pos{Line: 1, Col: 1}, Msg: err.Error()}
}

// ResolveType finds what a type name means in the app folder without loading it: a
// registered Type, or one of the app's Type elements (fullName → folder), followed up its
// extend chain to the registered Type it builds on. meta is the Meta the type belongs to;
// appType says that id is one of the app's Type elements.
func ResolveType(appDir, id string) (base *elements.Type, meta string, appType bool, err error) {
	seen := map[string]bool{}
	for cur := id; ; {
		t, ext := peekTypeExtend(appDir, folderOf(cur))
		if !elements.IsMeta(t) {
			typ, lerr := elements.LookupType(cur)
			switch {
			case lerr != nil && cur == id:
				return nil, "", false, fmt.Errorf("%w: neither registered (%s) nor a Type element of the app", lerr, strings.Join(elements.Types(), ", "))
			case lerr != nil:
				return nil, "", appType, fmt.Errorf("type %s extends %s: %w", id, cur, lerr)
			}
			if meta == "" {
				meta = typ.Meta
			}
			return typ, meta, appType, nil
		}
		if seen[cur] {
			return nil, "", appType, fmt.Errorf("type %s: a cycle of Type elements through %s", id, cur)
		}
		seen[cur], appType = true, appType || cur == id
		if meta == "" {
			meta = t
		}
		if ext != "" && ext != cur {
			cur = ext
			continue
		}
		// no extend, or its own name: the registered Type of that name, or the Meta's one Type
		if typ, err := elements.LookupType(cur); err == nil && typ.Meta == t {
			return typ, meta, appType, nil
		}
		var ofMeta []*elements.Type
		for _, rid := range elements.Types() {
			if typ, _ := elements.LookupType(rid); typ.Meta == t {
				ofMeta = append(ofMeta, typ)
			}
		}
		if len(ofMeta) == 1 {
			return ofMeta[0], meta, appType, nil
		}
		return nil, "", appType, fmt.Errorf("type %s: Type element %s names no Type to extend", id, cur)
	}
}

// parseWasm reads e.json's "wasm": {"wasi": ["clock", "random", "fs"], "memory": "64MiB"}.
func (te *TypeElement) parseWasm(n *jsonpos.Node, report func(jsonpos.Pos, string, ...any)) {
	if n.Kind != jsonpos.Object {
		report(n.Pos, "key \"wasm\" must be an object such as {\"wasi\": [\"clock\"], \"memory\": \"64MiB\"}")
		return
	}
	for _, m := range n.Members {
		switch m.Key {
		case "wasi":
			if m.Value.Kind != jsonpos.Array {
				report(m.Value.Pos, "wasm.wasi must be a list of the WASI pieces the module may use: %s", strings.Join(wasmGrants, ", "))
				continue
			}
			for _, it := range m.Value.Items {
				if it.Kind != jsonpos.String || !slices.Contains(wasmGrants, it.Str) {
					report(it.Pos, "wasm.wasi: %v is not one of %s", it.Interface(), strings.Join(wasmGrants, ", "))
					continue
				}
				te.WasmWASI = append(te.WasmWASI, it.Str)
			}
		case "memory":
			size, err := bytesize.Parse(m.Value.Str)
			switch {
			case m.Value.Kind != jsonpos.String || err != nil:
				report(m.Value.Pos, "wasm.memory must be a size such as \"64MiB\"")
			case size < 1<<20 || size > 4<<30:
				report(m.Value.Pos, "wasm.memory %s must be from 1MiB to 4GiB", m.Value.Str)
			default:
				te.WasmMemory = size
			}
		default:
			msg := fmt.Sprintf("wasm has no key %q (keys: wasi, memory)", m.Key)
			report(m.KeyPos, "%s", msg)
		}
	}
}
