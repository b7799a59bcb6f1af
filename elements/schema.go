package elements

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/jitrt/jitrt/internal/jsonpos"
)

// Kind is a JSON type.
type Kind = jsonpos.Kind

// The JSON kinds a schema field or param may require.
const (
	KindNull   = jsonpos.Null
	KindBool   = jsonpos.Bool
	KindNumber = jsonpos.Number
	KindString = jsonpos.String
	KindArray  = jsonpos.Array
	KindObject = jsonpos.Object
)

// Schema declares the keys of an element's config file.
type Schema struct {
	Fields []Field
	// AllowUnknown accepts keys the schema does not declare. Without it an undeclared key is
	// an error, so that a misspelt key ("corpID") is caught rather than silently ignored.
	AllowUnknown bool
	// Type is the config struct the schema was derived from (SchemaOf), nil for a schema
	// written by hand.
	Type reflect.Type
}

// Field is one config key.
type Field struct {
	Name     string
	Kind     Kind
	Required bool
	// Secret marks a value that must never be shown: the runtime masks it in every log line
	// and output, and Types must mask it in what they return.
	Secret bool
	// Any accepts any JSON kind, or any of Kinds (the Type reads it); Kind documents the
	// usual one.
	Any   bool
	Kinds []Kind
	Doc   string
	// Enum lists the values a string may take; Min and Max bound a number (or each number
	// of a list).
	Enum     []string
	Min, Max *float64
	// Example is a value that passes the checks, as JSON or a plain string (jitrt new
	// writes it for a required key).
	Example string
	// Type is the Go type the field decodes into (set by SchemaOf), and goIndex its place
	// in the struct.
	Type    reflect.Type
	goIndex int
}

// IsAnnotation reports whether a key of a config or e.json is for people and editors, not
// for the Type: "$schema" (the file's JSON Schema), "$optional" (what jitrt new lists),
// "$comment" — any key that starts with "$". The loader ignores them.
func IsAnnotation(key string) bool { return strings.HasPrefix(key, "$") }

func (s Schema) check() error {
	seen := map[string]bool{}
	for _, f := range s.Fields {
		if f.Name == "" {
			return fmt.Errorf("schema field with no name")
		}
		if seen[f.Name] {
			return fmt.Errorf("schema field %q declared twice", f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// Field returns the declared field with that name, or nil.
func (s Schema) Field(name string) *Field {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// Reporter receives the problems found in a config; each names the key it is about, and the
// runtime turns it into a path:line:col message.
type Reporter interface {
	// Errorf reports a problem with key: a key of the config file or of e.json, dotted for
	// nested keys ("timerCfg.repeat.period"); "" for the file itself.
	Errorf(key string, format string, args ...any)
}

// CheckSchema checks a parsed config against the schema and reports each problem at the
// position of the key (or of the object, for a missing key).
func (s Schema) CheckSchema(cfg *jsonpos.Node, report func(pos jsonpos.Pos, msg string)) {
	if cfg.Kind != jsonpos.Object {
		report(cfg.Pos, fmt.Sprintf("config must be a JSON object, not %s", cfg.Kind))
		return
	}
	for _, f := range s.Fields {
		m := cfg.Get(f.Name)
		if m == nil {
			if f.Required {
				report(cfg.Pos, fmt.Sprintf("missing required key %q (%s)", f.Name, f.Kind))
			}
			continue
		}
		if !f.Any && m.Value.Kind != f.Kind && !(m.Value.Kind == jsonpos.Null && !f.Required) {
			report(m.Value.Pos, fmt.Sprintf("key %q must be %s, not %s", f.Name, f.Kind.Article(), m.Value.Kind.Article()))
			continue
		}
		if f.Required && f.Kind == jsonpos.String && strings.TrimSpace(m.Value.Str) == "" {
			report(m.Value.Pos, fmt.Sprintf("key %q must not be empty", f.Name))
		}
	}
	if s.AllowUnknown {
		return
	}
	for _, m := range cfg.Members {
		if s.Field(m.Key) != nil || IsAnnotation(m.Key) {
			continue
		}
		msg := fmt.Sprintf("unknown key %q", m.Key)
		if near := s.nearest(m.Key); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		report(m.KeyPos, msg)
	}
}

// nearest returns the declared key closest to a misspelt one, or "".
func (s Schema) nearest(key string) string {
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Name
	}
	return Nearest(key, names)
}

// Nearest returns the candidate closest to a misspelt name (the same but for case, or at
// most two edits away), or "".
func Nearest(name string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if strings.EqualFold(c, name) {
			return c
		}
		if d := editDistance(strings.ToLower(c), strings.ToLower(name)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
