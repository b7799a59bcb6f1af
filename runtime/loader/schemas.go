package loader

import (
	"maps"
	"slices"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
)

// JSONSchemas are the JSON Schemas (draft 2020-12) of an app's files, by file name:
// "app.schema.json" for app.json, "e.schema.json" for every e.json (each registered Type's
// own keys, and a Type element's extend and callable), and "<TypeID>.schema.json" for the
// config of each registered Type that reads one. They are derived from the same
// descriptions the loader checks files against; what a schema cannot say (a URL's form, a
// method that exists) is left to jitrt check.
func JSONSchemas() map[string]map[string]any {
	out := map[string]map[string]any{}
	app := appSchema.JSONSchema()
	if props, ok := app["properties"].(map[string]any); ok {
		if p, ok := props["storeSchema"].(map[string]any); ok {
			p["pattern"] = kv.SchemaPattern // what jitrt check says of it, in the editor too
		}
	}
	out["app.schema.json"] = document(app, "app.schema.json", "jitrt app.json", "an app's name, title, entry script, time zone, limits and permissions")
	out["e.schema.json"] = document(elementSchema(), "e.schema.json", "jitrt e.json", "an element: its title and type, and the keys its Type reads")
	for _, id := range elements.Types() {
		t, _ := elements.LookupType(id)
		if !t.ConfigFile {
			continue
		}
		name := id + ".schema.json"
		out[name] = document(t.Schema.JSONSchema(), name, id+" config", t.Doc)
	}
	return out
}

func document(s map[string]any, id, title, doc string) map[string]any {
	s["$schema"] = elements.JSONSchemaDraft
	s["$id"] = "https://jitrt.dev/schemas/" + id
	s["title"] = title
	if doc != "" {
		s["description"] = doc
	}
	return s
}

// elementSchema is e.json: title and type, then per registered Type its own keys (and
// nothing else), per Meta a Type element's keys.
func elementSchema() map[string]any {
	base := map[string]any{
		"title": map[string]any{"type": "string", "description": "the element's title"},
		"type": map[string]any{"type": "string", "minLength": 1,
			"description": "the element's Type (" + join(elements.Types()) + ", or one of the app's Type elements), or a Meta (" + join(elements.Metas()) + ") for a Type element"},
	}
	var cases []any
	for _, id := range elements.Types() {
		t, _ := elements.LookupType(id)
		def := t.DefinitionSchema.JSONSchema()
		props := def["properties"].(map[string]any)
		maps.Copy(props, base)
		cases = append(cases, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"type": map[string]any{"const": id}}, "required": []any{"type"}},
			"then": def,
		})
	}
	for _, id := range elements.Metas() {
		cases = append(cases, map[string]any{
			"if": map[string]any{"properties": map[string]any{"type": map[string]any{"const": id}}, "required": []any{"type"}},
			"then": map[string]any{"properties": map[string]any{
				"extend":   map[string]any{"type": "string", "description": "the Type this Type element builds on: a registered one or another of the app's Type elements"},
				"callable": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "the methods index.js adds that the HTTP API and tasks may call"},
			}},
		})
	}
	return map[string]any{"type": "object", "properties": base, "required": []any{"type"}, "allOf": cases}
}

func join(ids []string) string {
	s := ""
	for i, id := range slices.Sorted(slices.Values(ids)) {
		if i > 0 {
			s += ", "
		}
		s += id
	}
	return s
}
