package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/jitrt/jitrt/elements"
)

// schemas runs jitrt schema and compiles what it wrote, by file name.
func schemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	dir := t.TempDir()
	if code, _, errs := jitrt(t, "schema", dir); code != 0 {
		t.Fatal(errs)
	}
	c := jsonschema.NewCompiler()
	entries, _ := os.ReadDir(dir)
	out := map[string]*jsonschema.Schema{}
	for _, e := range entries {
		f, _ := os.Open(filepath.Join(dir, e.Name()))
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if err := c.AddResource("file:///schemas/"+e.Name(), doc); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		s, err := c.Compile("file:///schemas/" + e.Name())
		if err != nil {
			t.Fatalf("%s does not compile: %v", e.Name(), err)
		}
		out[e.Name()] = s
	}
	if len(out) < 4 {
		t.Fatalf("jitrt schema wrote %d schemas", len(out))
	}
	return out
}

func validate(t *testing.T, s *jsonschema.Schema, data string) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return s.Validate(inst)
}

// registeredBase is the registered Type an element's type resolves to in app: itself, or
// the root of the app Type element's chain.
func registeredBase(t *testing.T, app, typeID string) *elements.Type {
	for range 64 {
		if typ, err := elements.LookupType(typeID); err == nil {
			return typ
		}
		var def struct{ Type, Extend string }
		b, err := os.ReadFile(filepath.Join(app, strings.ReplaceAll(typeID, ".", "/"), "e.json"))
		if err != nil || json.Unmarshal(b, &def) != nil {
			t.Fatalf("type %s: %v", typeID, err)
		}
		if def.Extend == "" {
			for _, id := range elements.Types() {
				if typ, _ := elements.LookupType(id); typ.Meta == def.Type {
					return typ
				}
			}
		}
		typeID = def.Extend
	}
	t.Fatalf("type %s: no registered base", typeID)
	return nil
}

// The schemas take every file of the demo app.
func TestSchemasValidateEveryFileOfTheDemo(t *testing.T) {
	t.Parallel()
	s := schemas(t)
	n := 0
	filepath.WalkDir(demo, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		rel, _ := filepath.Rel(demo, path)
		data, _ := os.ReadFile(path)
		var schema string
		switch {
		case rel == "app.json":
			schema = "app.schema.json"
		case filepath.Base(path) == "e.json":
			schema = "e.schema.json"
		default:
			var def struct{ Type string }
			b, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "e.json"))
			json.Unmarshal(b, &def)
			if filepath.Base(path) != filepath.Base(filepath.Dir(path))+".json" || elements.IsMeta(def.Type) {
				return nil // not an element's config
			}
			schema = registeredBase(t, demo, def.Type).ID + ".schema.json"
		}
		if err := validate(t, s[schema], string(data)); err != nil {
			t.Errorf("%s against %s: %v", rel, schema, err)
		}
		n++
		return nil
	})
	if n < 8 {
		t.Fatalf("validated %d files of the demo", n)
	}
}

// Each broken file the loader refuses, the schemas refuse too; the good ones both take.
func TestSchemasRejectWhatTheLoaderRejects(t *testing.T) {
	s := schemas(t)
	cfg := `"corpId": "ww1", "agentId": "1", "secret": "${S}"`
	for _, c := range []struct {
		name, file, content, loader string
		good                        bool
	}{
		{"good corp", "corps/C/C.json", `{` + cfg + `, "scope": [1, 2], "roles": [{"roleId": "a", "name": "A"}], "simulator": {"members": 3}}`, "", true},
		{"good task", "tasks/T/e.json", `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.C.getCorpInfo", "timerCfg": {"startTime": "2024-01-01 00:00:00", "repeat": {"repeatType": "day", "period": 2}}}`, "", true},
		{"no type", "corps/C/e.json", `{"title": "x"}`, `missing required key "type"`, false},
		{"misspelt key", "corps/C/e.json", `{"type": "corps.QywxInnerType", "titel": "x"}`, `unknown key "titel"`, false},
		{"title a number", "corps/C/e.json", `{"type": "corps.QywxInnerType", "title": 5}`, `key "title" must be a string`, false},
		{"missing corpId", "corps/C/C.json", `{"agentId": "1", "secret": "${S}"}`, `missing required key "corpId"`, false},
		{"empty corpId", "corps/C/C.json", `{"corpId": "", "agentId": "1", "secret": "${S}"}`, `key "corpId" must not be empty`, false},
		{"agentId a number", "corps/C/C.json", `{"corpId": "ww1", "agentId": 1, "secret": "${S}"}`, `key "agentId" must be a string`, false},
		{"unknown config key", "corps/C/C.json", `{` + cfg + `, "corpID": "x"}`, `unknown key "corpID" (did you mean "corpId"?)`, false},
		{"scope of strings", "corps/C/C.json", `{` + cfg + `, "scope": ["1"]}`, `scope.0 must be a number`, false},
		{"scope zero", "corps/C/C.json", `{` + cfg + `, "scope": [0]}`, `scope.0 must be a whole number from 1`, false},
		{"role without id", "corps/C/C.json", `{` + cfg + `, "roles": [{"name": "x"}]}`, `roles.0 needs the key "roleId"`, false},
		{"simulator misspelt", "corps/C/C.json", `{` + cfg + `, "simulator": {"member": 3}}`, `simulator has no key "member"`, false},
		{"simulator negative", "corps/C/C.json", `{` + cfg + `, "simulator": {"members": -1}}`, `simulator.members must be a whole number from 0`, false},
		{"task funcType", "tasks/T/e.json", `{"type": "tasks.NormalType", "funcType": "Later", "timerCfg": {"startTime": "2024-01-01"}}`, `funcType must be one of "Global", "Inner"`, false},
		{"task no timerCfg", "tasks/T/e.json", `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.C.getCorpInfo"}`, `missing required key "timerCfg"`, false},
		{"task no startTime", "tasks/T/e.json", `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.C.getCorpInfo", "timerCfg": {}}`, `timerCfg needs the key "startTime"`, false},
		{"task repeatType", "tasks/T/e.json", `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.C.getCorpInfo", "timerCfg": {"startTime": "2024-01-01", "repeat": {"repeatType": "year"}}}`, `repeatType must be one of`, false},
		{"task period", "tasks/T/e.json", `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.C.getCorpInfo", "timerCfg": {"startTime": "2024-01-01", "repeat": {"repeatType": "day", "period": 0}}}`, `period must be a whole number from 1`, false},
		{"task enable", "tasks/T/e.json", `{"type": "tasks.NormalType", "enable": "yes", "funcType": "Global", "func": "corps.C.getCorpInfo", "timerCfg": {"startTime": "2024-01-01"}}`, `enable must be a number or a boolean`, false},
		{"task timerCfg key", "tasks/T/e.json", `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.C.getCorpInfo", "timerCfg": {"startTime": "2024-01-01", "every": 1}}`, `timerCfg has no key "every"`, false},
		{"login scope", "auths/loginTypes/L/L.json", `{"corpId": "ww1", "agentId": "1", "corpSecret": "${S}", "oauthScope": "snsapi_userinfo"}`, `oauthScope must be one of`, false},
		{"login simulator", "auths/loginTypes/L/L.json", `{"corpId": "ww1", "agentId": "1", "corpSecret": "${S}", "simulator": "yes"}`, `simulator must be a boolean or an object`, false},
		{"app.json key", "app.json", `{"name": "x", "titel": "y"}`, `unknown key "titel"`, false},
		{"app.json storeSchema", "app.json", `{"name": "x", "storeSchema": "My-Schema"}`, `app.json:1:30: storeSchema: schema "My-Schema" is not a name jitrt uses`, false},
		{"app.json runs", "app.json", `{"limits": {"runs": 0}}`, `limits.runs must be a whole number from 1 to 10000`, false},
		{"app.json permissions", "app.json", `{"permissions": {"corps.C.getAdmin": "admin"}}`, `permissions`, false},
		{"type element extend", "corps/T/e.json", `{"type": "corps.Meta", "extend": 5}`, `key "extend" must be a string`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{
				"app.json":       `{"name": "s"}`,
				"corps/C/e.json": `{"type": "corps.QywxInnerType"}`,
				"corps/C/C.json": `{` + cfg + `}`,
			}
			if strings.HasPrefix(c.file, "auths/") {
				files["auths/loginTypes/L/e.json"] = `{"type": "auths.loginTypes.QywxInnerType"}`
			}
			files[c.file] = c.content
			app := writeTree(t, files)
			t.Setenv("S", "a-secret-for-the-schema-test")
			code, out, errs := jitrt(t, "check", app)
			if c.good != (code == 0) || (!c.good && !strings.Contains(out, c.loader)) {
				t.Fatalf("jitrt check: exit %d\n%s%s\nwant %q", code, out, errs, c.loader)
			}
			schema := "e.schema.json"
			switch {
			case c.file == "app.json":
				schema = "app.schema.json"
			case strings.HasPrefix(c.file, "corps/C/C."):
				schema = "corps.QywxInnerType.schema.json"
			case strings.HasPrefix(c.file, "auths/loginTypes/L/L."):
				schema = "auths.loginTypes.QywxInnerType.schema.json"
			}
			err := validate(t, s[schema], c.content)
			if c.good && err != nil {
				t.Fatalf("%s refuses a good file: %v", schema, err)
			}
			if !c.good && err == nil {
				t.Fatalf("%s takes the broken file %s", schema, c.content)
			}
		})
	}
}
