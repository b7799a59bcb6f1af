// Package loader reads an app folder — app.json, the element folders, each element's e.json
// and config with ${VAR} interpolated — and validates it against the registered Types,
// reporting every problem at path:line:col. It builds nothing and runs nothing.
package loader

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/jsonpos"
)

// segmentPattern is what each dot-separated part of a fullName must look like.
var segmentPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// AppConfig is app.json.
type AppConfig struct {
	Name     string
	Title    string
	Entry    string
	Timezone string
}

// ReadAppConfig reads app.json; an absent file gives defaults from the folder name.
func ReadAppConfig(dir string) (AppConfig, Problems) {
	cfg := AppConfig{Name: filepath.Base(dir)}
	cfg.Title = cfg.Name
	data, err := os.ReadFile(filepath.Join(dir, "app.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, Problems{problemAt("app.json", err)}
	}
	root, err := jsonpos.Parse(data)
	if err != nil {
		return cfg, Problems{problemAt("app.json", err)}
	}
	var ps Problems
	if root.Kind != jsonpos.Object {
		return cfg, Problems{{Path: "app.json", Pos: root.Pos, Msg: "app.json must be a JSON object"}}
	}
	for _, key := range []struct {
		name string
		dst  *string
	}{{"name", &cfg.Name}, {"title", &cfg.Title}, {"entry", &cfg.Entry}, {"timezone", &cfg.Timezone}} {
		m := root.Get(key.name)
		if m == nil {
			continue
		}
		if m.Value.Kind != jsonpos.String {
			ps = append(ps, Problem{Path: "app.json", Pos: m.Value.Pos, Msg: fmt.Sprintf("key %q must be a string, not %s", key.name, m.Value.Kind)})
			continue
		}
		*key.dst = m.Value.Str
	}
	if m := root.Get("title"); m == nil && cfg.Name != "" {
		cfg.Title = cfg.Name
	}
	if cfg.Timezone != "" {
		if _, err := time.LoadLocation(cfg.Timezone); err != nil {
			ps = append(ps, Problem{Path: "app.json", Pos: root.Get("timezone").Value.Pos, Msg: fmt.Sprintf("unknown time zone %q (use an IANA name such as \"Asia/Shanghai\")", cfg.Timezone)})
			cfg.Timezone = ""
		}
	}
	if cfg.Entry != "" {
		if p := filepath.Join(dir, filepath.FromSlash(cfg.Entry)); !Within(dir, p) {
			ps = append(ps, Problem{Path: "app.json", Pos: root.Get("entry").Value.Pos, Msg: fmt.Sprintf("entry %q is outside the app folder", cfg.Entry)})
		} else if _, err := os.Stat(p); err != nil {
			ps = append(ps, Problem{Path: "app.json", Pos: root.Get("entry").Value.Pos, Msg: fmt.Sprintf("entry script %q does not exist", cfg.Entry)})
		}
	}
	return cfg, ps
}

// Within reports whether path p lies inside dir.
func Within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// Scan returns the app-relative folders (slash-separated) that hold an e.json, sorted.
func Scan(dir string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // an unreadable subfolder is skipped, not fatal
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && IgnoredDir(d.Name()) {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(p, "e.json")); err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			found = append(found, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(found)
	return found, err
}

// IgnoredDir reports folders that never hold elements: dotfolders (.jitrt, .git) and
// node_modules.
func IgnoredDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "node_modules"
}

// fullNameOf turns an app-relative folder into a fullName, or explains why it cannot be one.
func fullNameOf(rel string) (string, error) {
	segs := strings.Split(rel, "/")
	for _, s := range segs {
		if !segmentPattern.MatchString(s) {
			return "", fmt.Errorf("folder name %q is not a valid element name (letters, digits and _, starting with a letter)", s)
		}
	}
	return strings.Join(segs, "."), nil
}

// Definition is what Load found in one element folder.
type Definition struct {
	Rel      string // app-relative folder, slash-separated
	FullName string
	Title    string
	TypeID   string
	Type     *elements.Type // the registered Type instances are built by
	IsType   bool           // an app Type element (its type is a Meta)
	// Element is what the Type's New is given (the runtime fills in what the app provides).
	Element  *elements.Element
	Secrets  []string // values of the config's secret fields
	Problems Problems
	// TypeElem is what a Type element defines (IsType).
	TypeElem *TypeElement
	// Override is the app Type element this element's type names, if it names one.
	Override *TypeElement
	defNode  *jsonpos.Node // e.json, parsed
}

// Load reads and validates one element folder without building an instance. appTypes
// finds the app's Type elements by fullName (nil for none).
func Load(appDir, rel string, getenv func(string) (string, bool), appTypes func(string) *TypeElement) *Definition {
	d := &Definition{Rel: rel}
	ejson := rel + "/e.json"
	name, err := fullNameOf(rel)
	if err != nil {
		d.FullName = strings.ReplaceAll(rel, "/", ".")
		d.Problems = append(d.Problems, Problem{Path: ejson, Pos: jsonpos.Pos{Line: 1, Col: 1}, Msg: err.Error()})
		return d
	}
	d.FullName = name
	data, err := os.ReadFile(filepath.Join(appDir, filepath.FromSlash(ejson)))
	if err != nil {
		d.Problems = append(d.Problems, problemAt(ejson, err))
		return d
	}
	def, err := jsonpos.Parse(data)
	if err != nil {
		d.Problems = append(d.Problems, problemAt(ejson, err))
		return d
	}
	if def.Kind != jsonpos.Object {
		d.Problems = append(d.Problems, Problem{Path: ejson, Pos: def.Pos, Msg: "e.json must be a JSON object"})
		return d
	}
	d.Title = name
	if m := def.Get("title"); m != nil {
		if m.Value.Kind != jsonpos.String {
			d.Problems = append(d.Problems, Problem{Path: ejson, Pos: m.Value.Pos, Msg: fmt.Sprintf("key \"title\" must be a string, not %s", m.Value.Kind)})
		} else {
			d.Title = m.Value.Str
		}
	}
	tm := def.Get("type")
	switch {
	case tm == nil:
		d.Problems = append(d.Problems, Problem{Path: ejson, Pos: def.Pos, Msg: "missing required key \"type\" (string), e.g. \"corps.QywxInnerType\""})
		return d
	case tm.Value.Kind != jsonpos.String:
		d.Problems = append(d.Problems, Problem{Path: ejson, Pos: tm.Value.Pos, Msg: fmt.Sprintf("key \"type\" must be a string, not %s", tm.Value.Kind)})
		return d
	}
	d.TypeID = tm.Value.Str
	if elements.IsMeta(d.TypeID) {
		// An app's own Type element: it describes a type rather than being an instance.
		d.IsType = true
		d.TypeElem = parseTypeElement(appDir, rel, name, d.TypeID, def)
		d.Problems = append(d.Problems, d.TypeElem.Problems...)
		return d
	}
	var typ *elements.Type

	if te := appTypes(d.TypeID); te != nil {
		d.Override = te
		if len(te.Problems) > 0 || te.Base == nil {
			d.Problems = append(d.Problems, Problem{Path: ejson, Pos: tm.Value.Pos,
				Msg: fmt.Sprintf("type %s is the app's Type element %s, which has errors: %s", d.TypeID, te.Rel, te.Problems.Error())})
			return d
		}
		typ = te.Base
	} else {
		typ, err = elements.LookupType(d.TypeID)
	}
	if err != nil {
		msg := err.Error()
		if errors.Is(err, elements.ErrUnknownType) && !strings.Contains(msg, "Meta") {
			msg = fmt.Sprintf("unknown type %q (registered: %s)", d.TypeID, strings.Join(elements.Types(), ", "))
		}
		d.Problems = append(d.Problems, Problem{Path: ejson, Pos: tm.Value.Pos, Msg: msg})
		return d
	}
	d.Type = typ
	el := &elements.Element{
		FullName:   name,
		Name:       name[strings.LastIndexByte(name, '.')+1:],
		Title:      d.Title,
		TypeID:     d.TypeID,
		Dir:        filepath.Join(appDir, filepath.FromSlash(rel)),
		AppDir:     appDir,
		Definition: def.Interface().(map[string]any),
		Config:     map[string]any{},
	}
	d.Element = el
	if len(typ.DefinitionSchema.Fields) > 0 {
		own := &jsonpos.Node{Kind: jsonpos.Object, Pos: def.Pos}
		for _, m := range def.Members {
			if m.Key != "title" && m.Key != "type" {
				own.Members = append(own.Members, m)
			}
		}
		typ.DefinitionSchema.CheckSchema(own, func(pos jsonpos.Pos, msg string) {
			d.Problems = append(d.Problems, Problem{Path: ejson, Pos: pos, Msg: msg})
		})
	}
	d.defNode = def
	if typ.ConfigFile {
		d.loadConfig(appDir, getenv)
	} else if len(d.Problems) == 0 && typ.Validate != nil {
		typ.Validate(el, &keyReporter{files: []keyedNode{{ejson, def}}, report: d.report})
	}
	return d
}

func (d *Definition) report(path string, pos jsonpos.Pos, msg string) {
	d.Problems = append(d.Problems, Problem{Path: path, Pos: pos, Msg: msg})
}

func (d *Definition) loadConfig(appDir string, getenv func(string) (string, bool)) {
	el := d.Element
	cfgPath := d.Rel + "/" + el.Name + ".json"
	el.ConfigPath = cfgPath
	report := func(pos jsonpos.Pos, msg string) {
		d.Problems = append(d.Problems, Problem{Path: cfgPath, Pos: pos, Msg: msg})
	}
	data, err := os.ReadFile(filepath.Join(appDir, filepath.FromSlash(cfgPath)))
	var cfg *jsonpos.Node
	switch {
	case errors.Is(err, fs.ErrNotExist):
		cfg = &jsonpos.Node{Kind: jsonpos.Object, Pos: jsonpos.Pos{Line: 1, Col: 1}}
		if hasRequired(d.Type.Schema) {
			report(cfg.Pos, fmt.Sprintf("config file is missing: %s needs %s", d.TypeID, requiredKeys(d.Type.Schema)))
			return
		}
	case err != nil:
		d.Problems = append(d.Problems, problemAt(cfgPath, err))
		return
	default:
		cfg, err = jsonpos.Parse(data)
		if err != nil {
			d.Problems = append(d.Problems, problemAt(cfgPath, err))
			return
		}
	}
	interpolate(cfg, getenv, report)
	d.Type.Schema.CheckSchema(cfg, report)
	if len(d.Problems) > 0 {
		return
	}
	el.Config = cfg.Interface().(map[string]any)
	for _, f := range d.Type.Schema.Fields {
		if f.Secret {
			if s, ok := el.Config[f.Name].(string); ok {
				d.Secrets = append(d.Secrets, s)
			}
		}
	}
	if d.Type.Validate != nil {
		d.Type.Validate(el, &keyReporter{files: []keyedNode{{cfgPath, cfg}, {d.Rel + "/e.json", d.defNode}}, report: d.report})
	}
}

// keyedNode is a parsed file a Reporter key may point into.
type keyedNode struct {
	path string
	node *jsonpos.Node
}

// keyReporter places a Type's validation problems at the key they name: in the config
// file if it has the key, else in e.json; a dotted key is followed into nested objects.
type keyReporter struct {
	files  []keyedNode
	report func(path string, pos jsonpos.Pos, msg string)
}

func (k *keyReporter) Errorf(key string, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, f := range k.files {
		if f.node == nil {
			continue
		}
		if pos, ok := lookup(f.node, key); ok {
			k.report(f.path, pos, msg)
			return
		}
	}
	k.report(k.files[0].path, k.files[0].node.Pos, msg)
}

// lookup finds the value at a dotted key ("" is the node itself).
func lookup(n *jsonpos.Node, key string) (jsonpos.Pos, bool) {
	if key == "" {
		return n.Pos, true
	}
	for _, part := range strings.Split(key, ".") {
		m := n.Get(part)
		if m == nil {
			return jsonpos.Pos{}, false
		}
		n = m.Value
	}
	return n.Pos, true
}

func hasRequired(s elements.Schema) bool { return requiredKeys(s) != "" }

func requiredKeys(s elements.Schema) string {
	var names []string
	for _, f := range s.Fields {
		if f.Required {
			names = append(names, fmt.Sprintf("%q", f.Name))
		}
	}
	return strings.Join(names, ", ")
}

// interpolate replaces ${NAME} and ${NAME:-default} in every string value (not keys) with
// the environment. "$${" stands for a literal "${". An unset variable with no default is
// reported at the string that names it.
func interpolate(n *jsonpos.Node, getenv func(string) (string, bool), report func(jsonpos.Pos, string)) {
	switch n.Kind {
	case jsonpos.String:
		if strings.Contains(n.Str, "${") {
			s, err := expand(n.Str, getenv)
			if err != nil {
				report(n.Pos, err.Error())
				return
			}
			n.Str = s
		}
	case jsonpos.Array:
		for _, it := range n.Items {
			interpolate(it, getenv, report)
		}
	case jsonpos.Object:
		for _, m := range n.Members {
			interpolate(m.Value, getenv, report)
		}
	}
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func expand(s string, getenv func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed \"${\" in %q", s[i:])
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !varName.MatchString(name) {
			return "", fmt.Errorf("invalid environment variable name %q in \"${%s}\"", name, expr)
		}
		v, ok := getenv(name)
		switch {
		case ok && v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		case ok:
			// set but empty, no default: empty is what was asked for
		default:
			return "", fmt.Errorf("environment variable %s is not set (set it, or give a default: ${%s:-value})", name, name)
		}
		s = s[i+end+1:]
	}
}
