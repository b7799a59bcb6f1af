package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

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
type TypeElement struct {
	FullName string
	Rel      string
	Base     *elements.Type // the registered Type it extends
	Module   string         // app-relative index.js, "" if there is none
	Callable []string       // new methods reachable from outside the app
	Problems Problems
}

// OverrideModule is the file of a Type element that holds its JS methods.
const OverrideModule = "index.js"

// parseTypeElement reads the Type-element keys of e.json (extend, callable).
func parseTypeElement(appDir, rel, fullName, meta string, def *jsonpos.Node) *TypeElement {
	te := &TypeElement{FullName: fullName, Rel: rel}
	ejson := rel + "/e.json"
	report := func(pos jsonpos.Pos, format string, args ...any) {
		te.Problems = append(te.Problems, Problem{Path: ejson, Pos: pos, Msg: fmt.Sprintf(format, args...)})
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
			te.Base = typ
		}
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
	return te
}

// peekType reads just the type of an element folder's e.json ("" if it has none).
func peekType(appDir, rel string) string {
	data, err := readFile(appDir, rel+"/e.json")
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

// TypesFirst orders element folders so that Type elements come before the instances built
// through them, reading each e.json once.
func TypesFirst(appDir string, rels []string) []string {
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
