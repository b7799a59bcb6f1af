package elements

import (
	"reflect"
)

// JSONSchemaDraft is the JSON Schema dialect JSONSchema writes.
const JSONSchemaDraft = "https://json-schema.org/draft/2020-12/schema"

// JSONSchema is the schema as a JSON Schema (draft 2020-12) object: each key with its JSON
// type (to the bottom of a config struct), doc as description, required keys, enums and
// bounds; a secret is writeOnly. Unknown keys are refused unless the schema allows them;
// "$schema" is always allowed, so that a file may name its schema for an editor.
func (s Schema) JSONSchema() map[string]any {
	props := map[string]any{"$schema": map[string]any{"type": "string"}}
	var required []string
	for _, f := range s.Fields {
		props[f.Name] = fieldJSONSchema(f)
		if f.Required {
			required = append(required, f.Name)
		}
	}
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	if !s.AllowUnknown {
		out["additionalProperties"] = false
	}
	return out
}

func fieldJSONSchema(f Field) map[string]any {
	var out map[string]any
	switch {
	case f.Type != nil:
		out = typeJSONSchema(f.Type, f)
	case f.Any:
		out = map[string]any{}
	default:
		out = map[string]any{"type": f.Kind.String()}
	}
	if f.Any && len(f.Kinds) > 0 {
		var ts []string
		for _, k := range f.Kinds {
			ts = append(ts, k.String())
		}
		out["type"] = ts
	}
	if f.Doc != "" {
		out["description"] = f.Doc
	}
	if f.Secret {
		out["writeOnly"] = true
	}
	if f.Required && f.Kind == KindString {
		out["minLength"] = 1
	}
	return out
}

// typeJSONSchema describes a Go type of a config; f's enum and bounds apply to it (or to
// its items, for a list).
func typeJSONSchema(t reflect.Type, f Field) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bounds := func(out map[string]any) map[string]any {
		if f.Min != nil {
			out["minimum"] = *f.Min
		}
		if f.Max != nil {
			out["maximum"] = *f.Max
		}
		return out
	}
	switch t.Kind() {
	case reflect.String:
		out := map[string]any{"type": "string"}
		if len(f.Enum) > 0 {
			out["enum"] = f.Enum
		}
		return out
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Float32, reflect.Float64:
		return bounds(map[string]any{"type": "number"})
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return bounds(map[string]any{"type": "integer"})
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": typeJSONSchema(t.Elem(), Field{Enum: f.Enum, Min: f.Min, Max: f.Max})}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeJSONSchema(t.Elem(), Field{})}
	case reflect.Struct:
		s := Schema{Fields: fieldsOf(t)}
		out := s.JSONSchema()
		delete(out["properties"].(map[string]any), "$schema")
		return out
	}
	return map[string]any{} // any
}
