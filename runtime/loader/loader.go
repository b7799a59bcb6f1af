// Package loader reads an app folder — app.json, the element folders, each element's e.json
// and config with ${VAR} interpolated — and validates it against the registered Types,
// reporting every problem at path:line:col. It builds nothing and runs nothing.
package loader

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/appfile"
	"github.com/jitrt/jitrt/internal/bytesize"
	"github.com/jitrt/jitrt/internal/jsonpos"
	"github.com/jitrt/jitrt/kv"
)

// segmentPattern is what each dot-separated part of a fullName must look like.
var segmentPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// AppConfig is app.json.
type AppConfig struct {
	Name     string
	Title    string
	Entry    string
	Timezone string
	// Store is app.json's "store" as written (a PostgreSQL URL, usually "${DATABASE_URL}";
	// Expand it), StoreSchema its "storeSchema".
	Store, StoreSchema string
	// Limits are app.json's "limits" (zero fields: not given).
	Limits Limits
	// Permissions are app.json's "permissions": for an element method ("corps.X.setAdmin"),
	// the roles a member's session needs to call it over HTTP.
	Permissions map[string][]string
	// PermissionPos is where each permission's key is in app.json.
	PermissionPos map[string]jsonpos.Pos
	// AuditRetentionDays is app.json's "auditRetentionDays": how long the orgs keep their
	// audit records (0: not given).
	AuditRetentionDays int
}

// Limits are the limits of script runs an app asks for in app.json:
//
//	"limits": {"timeout": "30s", "callStack": 10000, "runMemory": "256MiB", "memory": "2GiB", "runs": 16}
type Limits struct {
	Timeout   time.Duration
	CallStack int
	RunMemory int64
	Memory    int64
	Runs      int
}

// appFile is app.json: the one description of its keys, for the loader's checks and the
// JSON Schema (ReadAppConfig reads the values, with messages of its own for limits).
type appFile struct {
	Name               string              `json:"name" doc:"the app's name"`
	Title              string              `json:"title" doc:"the app's title"`
	Entry              string              `json:"entry" doc:"the script jitrt run runs first, app-relative"`
	Timezone           string              `json:"timezone" doc:"IANA time zone of the app's tasks, e.g. Asia/Shanghai"`
	Limits             limitsFile          `json:"limits" doc:"limits of script runs: timeout, callStack, runMemory, memory, runs"`
	Permissions        map[string][]string `json:"permissions" doc:"the roles a member's session needs to call a method over HTTP: {\"corps.X.setAdmin\": [\"admin\"]}"`
	Store              string              `json:"store" doc:"where the state is kept: a PostgreSQL URL, \"${DATABASE_URL}\" (default: the state file in the data folder)"`
	StoreSchema        string              `json:"storeSchema" doc:"the PostgreSQL schema of this app's state (default jitrt_<name>)"`
	AuditRetentionDays int                 `json:"auditRetentionDays" jitrt:"min=1,max=36500" doc:"days the orgs keep their audit records (default 90)"`
}

type limitsFile struct {
	Timeout   string `json:"timeout" doc:"a run's time limit, e.g. \"30s\""`
	CallStack int    `json:"callStack" jitrt:"min=100,max=1000000" doc:"the deepest call chain, 100 to 1000000"`
	RunMemory string `json:"runMemory" doc:"heap a run may grow, e.g. \"256MiB\""`
	Memory    string `json:"memory" doc:"heap the process may reach with scripts running, e.g. \"2GiB\""`
	Runs      int    `json:"runs" jitrt:"min=1,max=10000" doc:"runs at once, 1 to 10000"`
}

var (
	appSchema    = elements.SchemaOf(appFile{})
	limitsSchema = elements.SchemaOf(limitsFile{})
)

// AppSchema is the schema of app.json.
func AppSchema() elements.Schema { return appSchema }

// ReadAppConfig reads app.json; an absent file gives defaults from the folder name.
func ReadAppConfig(dir string) (AppConfig, Problems) {
	cfg := AppConfig{Name: filepath.Base(dir)}
	cfg.Title = cfg.Name
	data, err := readFile(dir, "app.json")
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
	report := func(pos jsonpos.Pos, msg string) { ps = append(ps, Problem{Path: "app.json", Pos: pos, Msg: msg}) }
	appSchema.CheckSchema(root, report)
	for _, key := range []struct {
		name string
		dst  *string
	}{{"name", &cfg.Name}, {"title", &cfg.Title}, {"entry", &cfg.Entry}, {"timezone", &cfg.Timezone},
		{"store", &cfg.Store}, {"storeSchema", &cfg.StoreSchema}} {
		if m := root.Get(key.name); m != nil && m.Value.Kind == jsonpos.String {
			*key.dst = m.Value.Str
		}
	}
	if m := root.Get("storeSchema"); m != nil && m.Value.Kind == jsonpos.String {
		if err := kv.CheckSchema(m.Value.Str); err != nil {
			report(m.Value.Pos, "storeSchema: "+err.Error())
		}
	}
	if m := root.Get("limits"); m != nil && m.Value.Kind == jsonpos.Object {
		cfg.Limits = readLimits(m.Value, report)
	}
	if m := root.Get("permissions"); m != nil && m.Value.Kind == jsonpos.Object {
		cfg.Permissions = readPermissions(m.Value, report)
		cfg.PermissionPos = map[string]jsonpos.Pos{}
		for _, p := range m.Value.Members {
			cfg.PermissionPos[p.Key] = p.KeyPos
		}
	}
	if m := root.Get("auditRetentionDays"); m != nil && m.Value.Kind == jsonpos.Number {
		if n, err := m.Value.Num.Int64(); err == nil {
			cfg.AuditRetentionDays = int(n)
		}
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

// readPermissions reads app.json's "permissions": each key an element's fullName and a
// method ("corps.DemoCorp.setAdmin"), each value the roles that may call it (at least one).
func readPermissions(n *jsonpos.Node, report func(jsonpos.Pos, string)) map[string][]string {
	out := map[string][]string{}
	for _, m := range n.Members {
		if _, _, ok := SplitMethod(m.Key); !ok {
			report(m.KeyPos, fmt.Sprintf("permissions: %q must name an element's method, such as \"corps.DemoCorp.setAdmin\"", m.Key))
			continue
		}
		if m.Value.Kind != jsonpos.Array || len(m.Value.Items) == 0 {
			report(m.Value.Pos, fmt.Sprintf("permissions[%q] must be a non-empty list of role ids, such as [\"admin\"]", m.Key))
			continue
		}
		var roles []string
		for _, it := range m.Value.Items {
			if it.Kind != jsonpos.String || !elements.ValidRoleID(it.Str) {
				report(it.Pos, fmt.Sprintf("permissions[%q]: a role id is 1 to 64 letters, digits, _ and -, not %v", m.Key, it.Interface()))
				continue
			}
			roles = append(roles, it.Str)
		}
		if len(roles) > 0 {
			out[m.Key] = roles
		}
	}
	return out
}

// SplitMethod splits "fullName.method" at its last dot, each side a valid name.
func SplitMethod(s string) (fullName, method string, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 {
		return "", "", false
	}
	fullName, method = s[:i], s[i+1:]
	for _, seg := range strings.Split(fullName, ".") {
		if !segmentPattern.MatchString(seg) {
			return "", "", false
		}
	}
	return fullName, method, segmentPattern.MatchString(method)
}

// readLimits reads app.json's "limits", each value within its domain.
func readLimits(n *jsonpos.Node, report func(jsonpos.Pos, string)) Limits {
	var l Limits
	limitsSchema.CheckSchema(n, report)
	whole := func(key string, lo, hi int) int {
		m := n.Get(key)
		if m == nil || m.Value.Kind != jsonpos.Number {
			return 0
		}
		f, err := m.Value.Num.Float64()
		if err != nil || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
			report(m.Value.Pos, fmt.Sprintf("limits.%s must be a whole number from %d to %d, not %s", key, lo, hi, m.Value.Num))
			return 0
		}
		return int(f)
	}
	size := func(key string, lo int64) int64 {
		m := n.Get(key)
		if m == nil || m.Value.Kind != jsonpos.String {
			return 0
		}
		v, err := bytesize.Parse(m.Value.Str)
		if err == nil && v < lo {
			err = fmt.Errorf("%q is less than %s", m.Value.Str, bytesize.Format(lo))
		}
		if err != nil {
			report(m.Value.Pos, "limits."+key+": "+err.Error())
			return 0
		}
		return v
	}
	l.CallStack, l.Runs = whole("callStack", 100, 1_000_000), whole("runs", 1, 10_000)
	l.RunMemory, l.Memory = size("runMemory", 1<<20), size("memory", 64<<20)
	if m := n.Get("timeout"); m != nil && m.Value.Kind == jsonpos.String {
		d, err := time.ParseDuration(m.Value.Str)
		if err != nil || d <= 0 || d > 24*time.Hour {
			report(m.Value.Pos, fmt.Sprintf("limits.timeout must be a duration from 1ns to 24h such as \"30s\", not %q", m.Value.Str))
		} else {
			l.Timeout = d
		}
	}
	return l
}

// Within reports whether path p lies inside dir.
func Within(dir, p string) bool { return appfile.Within(dir, p) }

// readFile reads an app-relative e.json, config or app.json: a regular file inside the app
// (links resolved) of at most appfile.MaxConfig bytes.
func readFile(appDir, rel string) ([]byte, error) {
	return appfile.Read(appDir, filepath.Join(appDir, filepath.FromSlash(rel)), appfile.MaxConfig)
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
	// Warnings are what does not stop the element from loading but should be fixed (a
	// secret written in its config).
	Warnings Problems
	// TypeElem is what a Type element defines (IsType).
	TypeElem *TypeElement
	// Override is the app Type element this element's type names, if it names one.
	Override *TypeElement
	defNode  *jsonpos.Node // e.json, parsed
	cfgNode  *jsonpos.Node // the config, parsed and interpolated
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
	data, err := readFile(appDir, ejson)
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
		d.TypeElem = parseTypeElement(appDir, rel, name, d.TypeID, def, appTypes)
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
	// e.json holds title, type and the keys the Type declares; any other key is a mistake
	// ("titel"), reported with the key it is nearest to.
	defSchema := elements.Schema{AllowUnknown: typ.DefinitionSchema.AllowUnknown,
		Fields: append([]elements.Field{{Name: "title", Any: true}, {Name: "type", Any: true}}, typ.DefinitionSchema.Fields...)}
	defSchema.CheckSchema(def, func(pos jsonpos.Pos, msg string) {
		d.Problems = append(d.Problems, Problem{Path: ejson, Pos: pos, Msg: msg})
	})
	d.defNode = def
	if len(d.Problems) == 0 {
		typ.DefinitionSchema.Validate(el.Definition, (&keyReporter{files: []keyedNode{{ejson, def}}, report: d.report}).Errorf)
	}
	if typ.ConfigFile {
		d.loadConfig(appDir, getenv)
	} else if len(d.Problems) == 0 && typ.Validate != nil {
		typ.Validate(el, &keyReporter{files: []keyedNode{{ejson, def}}, report: d.report})
	}
	return d
}

// Reporter places problems at keys of the element's config or e.json (see
// elements.Reporter); report receives each.
func (d *Definition) Reporter(report func(Problem)) elements.Reporter {
	files := []keyedNode{{d.Rel + "/e.json", d.defNode}}
	if d.cfgNode != nil {
		files = append([]keyedNode{{d.Element.ConfigPath, d.cfgNode}}, files...)
	}
	return &keyReporter{files: files, report: func(path string, pos jsonpos.Pos, msg string) {
		report(Problem{Path: path, Pos: pos, Msg: msg})
	}}
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
	data, err := readFile(appDir, cfgPath)
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
	written := secretsWritten(d.Type.Schema, cfg, el.Name)
	interpolate(cfg, getenv, report)
	standIn(d.Type.Schema, cfg)
	d.cfgNode = cfg
	d.Type.Schema.CheckSchema(cfg, report)
	if len(d.Problems) > 0 {
		return
	}
	el.Config = cfg.Interface().(map[string]any)
	for k := range el.Config {
		if elements.IsAnnotation(k) {
			delete(el.Config, k)
		}
	}
	rep := &keyReporter{files: []keyedNode{{cfgPath, cfg}, {d.Rel + "/e.json", d.defNode}}, report: d.report}
	if d.Type.Schema.Validate(el.Config, rep.Errorf); len(d.Problems) > 0 {
		return // the structure below the top keys: what the Type reads must be there first
	}
	for _, path := range d.Type.Schema.SecretPaths() {
		var v any = el.Config
		for _, k := range path {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		if s, ok := v.(string); ok {
			d.Secrets = append(d.Secrets, s)
		}
	}
	if d.Type.Validate != nil {
		d.Type.Validate(el, rep)
	}
	if d.Type.LocalOnly == nil || !d.Type.LocalOnly(el) {
		for _, w := range written {
			w.Path = cfgPath
			d.Warnings = append(d.Warnings, w)
		}
	}
}

// secretsWritten finds the secret fields of a config whose value is written in the file
// (before ${VAR} is replaced): inline, or as the default of ${VAR:-default}.
func secretsWritten(schema elements.Schema, cfg *jsonpos.Node, element string) Problems {
	var out Problems
	for _, path := range schema.SecretPaths() {
		node := cfg
		for _, k := range path {
			if m := node.Get(k); m != nil {
				node = m.Value
			} else {
				node = nil
				break
			}
		}
		if node == nil || node.Kind != jsonpos.String || node.Str == "" {
			continue
		}
		name := strings.Join(path, ".")
		raw := node.Str
		switch {
		case !strings.Contains(raw, "${"):
			out = append(out, Problem{Pos: node.Pos, Warning: true, Msg: fmt.Sprintf("the secret %q is written in the file, where anyone who can read the app can read it: put it in the environment and write \"${%s}\"", name, SecretEnvName(element, path[len(path)-1]))})
		case defaultPattern.MatchString(raw):
			out = append(out, Problem{Pos: node.Pos, Warning: true, Msg: fmt.Sprintf("the secret %q has a default written in the file (${NAME:-…}), where anyone who can read the app can read it: set the variable instead", name)})
		}
	}
	return out
}

// SecretEnvName is the environment variable jitrt suggests for a secret: GOOD_SECRET for
// field secret of element Good, MY_CORP_CONTACT_SYNC_SECRET for contactSyncSecret of MyCorp.
func SecretEnvName(element, field string) string {
	var b strings.Builder
	for i, r := range element + "_" + field {
		if i > 0 && unicode.IsUpper(r) && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// defaultPattern matches ${NAME:-default} with a default that is not empty.
var defaultPattern = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*:-[^}]+\}`)

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
		if i, err := strconv.Atoi(part); err == nil && n.Kind == jsonpos.Array {
			if i < 0 || i >= len(n.Items) {
				return jsonpos.Pos{}, false
			}
			n = n.Items[i]
			continue
		}
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

// StandIn is what a getenv may answer for a variable it has no value for when the app is
// loaded only to be described (jitrt types, which needs no secrets): a string that names
// such a variable becomes the example of its key (a value that passes the Type's checks),
// or "placeholder" for a key without one.
const StandIn = "\x00jitrt-stand-in\x00"

// standIn replaces the strings a StandIn went into (see StandIn).
func standIn(schema elements.Schema, n *jsonpos.Node) {
	if n.Kind != jsonpos.Object {
		return
	}
	for _, m := range n.Members {
		v := m.Value
		switch {
		case v.Kind == jsonpos.String && strings.Contains(v.Str, StandIn):
			v.Str = "placeholder"
			if f := schema.Field(m.Key); f != nil && f.Example != "" {
				v.Str = f.Example
			}
		case v.Kind == jsonpos.Object:
			standIn(schema.Sub(m.Key), v) // authConfig.corpId's example, as a top-level key's
		case v.Kind == jsonpos.Array:
			for _, it := range v.Items {
				if it.Kind == jsonpos.String && strings.Contains(it.Str, StandIn) {
					it.Str = "placeholder"
				}
				standIn(elements.Schema{}, it)
			}
		}
	}
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

// Expand replaces ${VAR} (and ${VAR:-default}) in s as configs are interpolated.
func Expand(s string, getenv func(string) (string, bool)) (string, error) { return expand(s, getenv) }

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
