package elements

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// # Typed configs
//
// A Type describes its config once, as a Go struct; SchemaOf derives the Schema the
// loader checks, the secrets it masks, the docs tools show and the JSON Schema editors
// use, and Decode fills the struct from a config with a problem per key. Tags:
//
//	CorpID string `json:"corpId" jitrt:"required" doc:"WeCom corp ID (企业ID)"`
//	Secret string `json:"secret" jitrt:"required,secret" doc:"the app's Secret"`
//	Scope []int64 `json:"scope" jitrt:"min=1,max=4294967295" doc:"…"`     (min/max of numbers and of the items of a list)
//	Type  string  `json:"funcType" jitrt:"required,enum=Global|Inner"`
//	Enable any    `json:"enable" jitrt:"kinds=number|boolean"`           (any of those JSON kinds; the Type reads it)
//
// Nested structs, lists and maps of them are checked to the bottom, each problem at its
// dotted key ("simulator.members", "roles.2.roleId"). A struct whose pointer has a
// SetDefaults method gets it called before it is filled.

// SchemaOf derives the Schema of a config struct (v is the struct or a pointer to one). It
// panics on a struct it cannot describe: that is a programmer error, found at init.
func SchemaOf(v any) Schema {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("elements: SchemaOf(%T): a config is a struct", v))
	}
	return Schema{Fields: fieldsOf(t), Type: t}
}

// fieldsOf lists the config keys of a struct type.
func fieldsOf(t reflect.Type) []Field {
	var out []Field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			panic(fmt.Sprintf("elements: config field %s.%s needs a json tag naming its key", t.Name(), sf.Name))
		}
		f := Field{Name: name, Doc: sf.Tag.Get("doc"), Example: sf.Tag.Get("example"), Type: sf.Type, goIndex: i}
		for opt := range strings.SplitSeq(sf.Tag.Get("jitrt"), ",") {
			key, val, _ := strings.Cut(strings.TrimSpace(opt), "=")
			switch key {
			case "":
			case "required":
				f.Required = true
			case "secret":
				f.Secret = true
			case "enum":
				f.Enum = strings.Split(val, "|")
			case "min", "max":
				n, err := strconv.ParseFloat(val, 64)
				if err != nil {
					panic(fmt.Sprintf("elements: config field %s.%s: %s=%q is not a number", t.Name(), sf.Name, key, val))
				}
				if key == "min" {
					f.Min = &n
				} else {
					f.Max = &n
				}
			case "kinds":
				for k := range strings.SplitSeq(val, "|") {
					kind, ok := kindNames[k]
					if !ok {
						panic(fmt.Sprintf("elements: config field %s.%s: unknown JSON kind %q", t.Name(), sf.Name, k))
					}
					f.Kinds = append(f.Kinds, kind)
				}
			default:
				panic(fmt.Sprintf("elements: config field %s.%s: unknown jitrt tag option %q", t.Name(), sf.Name, key))
			}
		}
		f.Kind = kindOf(sf.Type)
		if sf.Type.Kind() == reflect.Interface {
			f.Any = true
			if len(f.Kinds) > 0 {
				f.Kind = f.Kinds[0]
			}
		} else if len(f.Kinds) > 0 {
			panic(fmt.Sprintf("elements: config field %s.%s: kinds= is for a field of type any", t.Name(), sf.Name))
		}
		out = append(out, f)
	}
	return out
}

var kindNames = map[string]Kind{"null": KindNull, "boolean": KindBool, "number": KindNumber, "string": KindString, "array": KindArray, "object": KindObject}

// kindOf is the JSON kind a Go type decodes from.
func kindOf(t reflect.Type) Kind {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return KindString
	case reflect.Bool:
		return KindBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return KindNumber
	case reflect.Slice, reflect.Array:
		return KindArray
	case reflect.Map, reflect.Struct:
		return KindObject
	case reflect.Interface:
		return KindNull
	}
	panic(fmt.Sprintf("elements: a config cannot hold a %s", t))
}

// Decode fills dst, a pointer to a config struct, from a JSON-shaped config: each key the
// struct declares, converted to its field's type, checked against its tags. Each problem
// goes to report with its dotted key (report may be nil for a config already checked).
// Keys the struct does not declare are reported below the top level; at the top level,
// Schema.CheckSchema reports them with their positions.
func Decode(raw map[string]any, dst any, report func(key, format string, args ...any)) {
	if report == nil {
		report = func(string, string, ...any) {}
	}
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("elements: Decode into %T: a pointer to a config struct", dst))
	}
	d := decoder{report: report}
	d.object("", raw, v.Elem(), true)
}

// Validate checks a config against the struct the Schema was derived from (below the top
// level keys CheckSchema checks), reporting each problem with its dotted key.
func (s Schema) Validate(raw map[string]any, report func(key, format string, args ...any)) {
	if s.Type == nil {
		return
	}
	Decode(raw, reflect.New(s.Type).Interface(), report)
}

type decoder struct {
	report func(key, format string, args ...any)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object fills the struct dst from obj; top is the config itself (whose unknown keys
// CheckSchema reports).
func (d decoder) object(path string, obj map[string]any, dst reflect.Value, top bool) {
	if p, ok := dst.Addr().Interface().(interface{ SetDefaults() }); ok {
		p.SetDefaults()
	}
	fields := fieldsOf(dst.Type())
	byName := map[string]int{}
	names := make([]string, len(fields))
	for i, f := range fields {
		byName[f.Name] = i
		names[i] = f.Name
	}
	for _, f := range fields {
		val, ok := obj[f.Name]
		key := join(path, f.Name)
		if !ok || val == nil {
			if f.Required && !top { // CheckSchema reports the top level's, at the object's position
				d.report(path, "%s needs the key %q (%s)", orConfig(path), f.Name, f.Kind)
			}
			continue
		}
		if f.Required && f.Kind == KindString {
			if s, ok := val.(string); ok && strings.TrimSpace(s) == "" && !top {
				d.report(key, "%s must not be empty", key)
				continue
			}
		}
		d.value(key, val, dst.Field(f.goIndex), f)
	}
	if top {
		return
	}
	var unknown []string
	for k := range obj {
		if _, ok := byName[k]; !ok && !IsAnnotation(k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		msg := fmt.Sprintf("%s has no key %q", path, k)
		if near := Nearest(k, names); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		} else {
			msg += " (keys: " + strings.Join(names, ", ") + ")"
		}
		d.report(join(path, k), "%s", msg)
	}
}

func orConfig(path string) string {
	if path == "" {
		return "the config"
	}
	return path
}

// value converts one JSON value into dst, checking f's tags.
func (d decoder) value(key string, val any, dst reflect.Value, f Field) {
	if dst.Kind() == reflect.Interface {
		if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, KindOfValue(val)) {
			d.report(key, "%s must be %s, not %s", key, kindList(f.Kinds), KindOfValue(val).Article())
			return
		}
		dst.Set(reflect.ValueOf(val))
		return
	}
	if dst.Kind() == reflect.Pointer {
		p := reflect.New(dst.Type().Elem())
		d.value(key, val, p.Elem(), f)
		dst.Set(p)
		return
	}
	want := kindOf(dst.Type())
	if got := KindOfValue(val); got != want {
		d.report(key, "%s must be %s, not %s", key, want.Article(), got.Article())
		return
	}
	switch dst.Kind() {
	case reflect.String:
		s := val.(string)
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			d.report(key, "%s must be one of %s, not %q", key, strings.Join(quoteAll(f.Enum), ", "), s)
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		dst.SetBool(val.(bool))
	case reflect.Float32, reflect.Float64:
		n := toFloat(val)
		if !d.inRange(key, n, f) {
			return
		}
		dst.SetFloat(n)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := toFloat(val)
		lo, hi := intBounds(dst.Type(), f)
		if n != math.Trunc(n) || n < lo || n > hi {
			d.report(key, "%s must be a whole number from %s to %s, not %v", key, bound(lo), bound(hi), val)
			return
		}
		if dst.CanInt() {
			dst.SetInt(int64(n))
		} else {
			dst.SetUint(uint64(n))
		}
	case reflect.Slice:
		list := val.([]any)
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		item := Field{Enum: f.Enum, Min: f.Min, Max: f.Max}
		for i, it := range list {
			if it == nil {
				d.report(key, "%s.%d must be %s, not null", key, i, kindOf(dst.Type().Elem()).Article())
				continue
			}
			d.value(key+"."+strconv.Itoa(i), it, out.Index(i), item)
		}
		dst.Set(out)
	case reflect.Map:
		obj := val.(map[string]any)
		out := reflect.MakeMapWithSize(dst.Type(), len(obj))
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			ev := reflect.New(dst.Type().Elem()).Elem()
			d.value(key+"."+k, obj[k], ev, Field{})
			out.SetMapIndex(reflect.ValueOf(k), ev)
		}
		dst.Set(out)
	case reflect.Struct:
		d.object(key, val.(map[string]any), dst, false)
	}
}

func (d decoder) inRange(key string, n float64, f Field) bool {
	switch {
	case f.Min != nil && f.Max != nil && (n < *f.Min || n > *f.Max):
		d.report(key, "%s must be from %v to %v, not %v", key, *f.Min, *f.Max, n)
	case f.Min != nil && n < *f.Min:
		d.report(key, "%s must be at least %v, not %v", key, *f.Min, n)
	case f.Max != nil && n > *f.Max:
		d.report(key, "%s must be at most %v, not %v", key, *f.Max, n)
	default:
		return true
	}
	return false
}

// intBounds are the whole numbers a field of integer type t takes: those of the type (and
// of JSON's exact range, ±2^53), within the field's min and max.
func intBounds(t reflect.Type, f Field) (lo, hi float64) {
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		lo, hi = 0, math.Ldexp(1, min(t.Bits(), 53))
		if t.Bits() < 53 {
			hi--
		}
	default:
		b := min(t.Bits()-1, 53)
		lo, hi = -math.Ldexp(1, b), math.Ldexp(1, b)
		if b < 53 {
			hi--
		}
	}
	if f.Min != nil {
		lo = max(lo, *f.Min)
	}
	if f.Max != nil {
		hi = min(hi, *f.Max)
	}
	return lo, hi
}

// bound writes a bound of a range, ±2^53 as such.
func bound(n float64) string {
	switch n {
	case math.Ldexp(1, 53):
		return "2^53"
	case -math.Ldexp(1, 53):
		return "-2^53"
	}
	return strconv.FormatFloat(n, 'f', -1, 64)
}

func kindList(ks []Kind) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, k.Article())
	}
	return strings.Join(parts, " or ")
}

// toFloat is a JSON number as a float64 (configs hold float64; Go callers may give ints).
func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case json.Number:
		f, _ := n.Float64()
		return f
	}
	f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
	return f
}

// Sub is the schema of the object a field holds (authConfig's keys), or an empty one for a
// field that holds no object.
func (s Schema) Sub(name string) Schema {
	f := s.Field(name)
	if f == nil {
		return Schema{}
	}
	t := f.Type
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return Schema{}
	}
	return Schema{Fields: fieldsOf(t)}
}

// SecretPaths are the paths of the secret fields of a Type's config, the top level's and
// those of objects within it (firstMember.password): what the runtime masks, and what
// jitrt check warns about when the file holds its value.
func (s Schema) SecretPaths() [][]string {
	var out [][]string
	for _, f := range s.Fields {
		if f.Secret {
			out = append(out, []string{f.Name})
			continue
		}
		t := f.Type
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t != nil && t.Kind() == reflect.Struct {
			for _, sub := range (Schema{Fields: fieldsOf(t)}).SecretPaths() {
				out = append(out, append([]string{f.Name}, sub...))
			}
		}
	}
	return out
}
