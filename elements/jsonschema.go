package elements

import (
	"encoding/json"
	"reflect"
)

// JSONSchemaDraft is the JSON Schema dialect JSONSchema writes.
const JSONSchemaDraft = "https://json-schema.org/draft/2020-12/schema"

// JSONSchema is the schema as a JSON Schema (draft 2020-12) object: each key with its JSON
// type (to the bottom of a config struct), doc as description, required keys, enums and
// bounds; a secret is writeOnly. Unknown keys are refused unless the schema allows them;
// annotations ("$schema", "$optional": any key starting with "$") are always allowed.
func (s Schema) JSONSchema() map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range s.Fields {
		props[f.Name] = fieldJSONSchema(f)
		if f.Required {
			required = append(required, f.Name)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "patternProperties": map[string]any{`^\$`: map[string]any{}}}
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
	if f.Example != "" {
		out["examples"] = []any{f.ExampleValue()}
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
		return Schema{Fields: fieldsOf(t)}.JSONSchema()
	}
	return map[string]any{} // any
}

// exampleValue is a field's example as a JSON value: JSON if it parses as such (a number,
// an object), else the string itself.
func exampleValue(ex string) any {
	var v any
	if err := json.Unmarshal([]byte(ex), &v); err == nil {
		return v
	}
	return ex
}

// ExampleValue is a value of the field that passes its checks: its example, else, for a
// struct, an object of its required keys' examples; nil when there is none.
func (f Field) ExampleValue() any {
	if f.Example != "" && f.Kind == KindString && !f.Any {
		return f.Example
	}
	if f.Example != "" {
		return exampleValue(f.Example)
	}
	t := f.Type
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t.Kind() == reflect.Struct {
		obj := map[string]any{}
		for _, sub := range fieldsOf(t) {
			if v := sub.ExampleValue(); sub.Required && v != nil {
				obj[sub.Name] = v
			}
		}
		return obj
	}
	if len(f.Enum) > 0 {
		return f.Enum[0]
	}
	return nil
}
