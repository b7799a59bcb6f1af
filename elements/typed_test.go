package elements

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

type testInner struct {
	Count int    `json:"count" jitrt:"required,min=1,max=5" doc:"how many"`
	Mode  string `json:"mode" jitrt:"enum=fast|slow"`
}

func (t *testInner) SetDefaults() { t.Mode = "slow" }

type testConfig struct {
	Name    string               `json:"name" jitrt:"required" doc:"the name"`
	Key     string               `json:"key" jitrt:"secret"`
	IDs     []int64              `json:"ids" jitrt:"min=1,max=9"`
	Inner   *testInner           `json:"inner"`
	List    []testInner          `json:"list"`
	ByName  map[string]testInner `json:"byName"`
	Flag    any                  `json:"flag" jitrt:"kinds=number|boolean"`
	Ratio   float64              `json:"ratio" jitrt:"max=1"`
	Ignored string               `json:"-"`
}

func TestSchemaOfDerivesTheFieldsFromTheTags(t *testing.T) {
	s := SchemaOf(testConfig{})
	var names []string
	for _, f := range s.Fields {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"name", "key", "ids", "inner", "list", "byName", "flag", "ratio"}) {
		t.Fatalf("fields %v", names)
	}
	name, key, ids, flag := s.Field("name"), s.Field("key"), s.Field("ids"), s.Field("flag")
	if !name.Required || name.Kind != KindString || name.Doc != "the name" || !key.Secret || ids.Kind != KindArray || *ids.Min != 1 ||
		!flag.Any || !slices.Equal(flag.Kinds, []Kind{KindNumber, KindBool}) || s.Field("inner").Kind != KindObject {
		t.Fatalf("%+v %+v %+v %+v", name, key, ids, flag)
	}
	for _, bad := range []any{
		struct{ X string }{},
		struct {
			X string `json:"x" jitrt:"requird"`
		}{},
		struct {
			X int `json:"x" jitrt:"min=one"`
		}{},
		struct {
			X string `json:"x" jitrt:"kinds=string"`
		}{},
		struct {
			X any `json:"x" jitrt:"kinds=text"`
		}{},
		"not a struct",
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SchemaOf(%#v) did not panic", bad)
				}
			}()
			SchemaOf(bad)
		}()
	}
}

func decodeAll(raw string) (testConfig, []string) {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		panic(err)
	}
	var c testConfig
	var got []string
	Decode(m, &c, func(key, format string, args ...any) { got = append(got, key+": "+fmt.Sprintf(format, args...)) })
	return c, got
}

func TestDecodeFillsTheStructAndNamesEachProblemByKey(t *testing.T) {
	c, got := decodeAll(`{"name": "n", "key": "k", "ids": [1, 9], "inner": {"count": 2}, "list": [{"count": 1, "mode": "fast"}],
		"byName": {"a": {"count": 5}}, "flag": true, "ratio": 0.5}`)
	if len(got) > 0 {
		t.Fatal(got)
	}
	if c.Name != "n" || !slices.Equal(c.IDs, []int64{1, 9}) || c.Inner.Count != 2 || c.Inner.Mode != "slow" || c.List[0].Mode != "fast" ||
		c.ByName["a"].Count != 5 || c.Flag != true || c.Ratio != 0.5 {
		t.Fatalf("%+v", c)
	}
	_, got = decodeAll(`{"name": "n", "ids": [0, 2.5, "3", null], "inner": {"count": 6, "mode": "medium", "cuont": 1},
		"list": [{}], "byName": {"b": {"count": "x"}}, "flag": "yes", "ratio": 2}`)
	want := []string{
		`ids.0: ids.0 must be a whole number from 1 to 9, not 0`,
		`ids.1: ids.1 must be a whole number from 1 to 9, not 2.5`,
		`ids.2: ids.2 must be a number, not a string`,
		`ids: ids.3 must be a number, not null`,
		`inner.count: inner.count must be a whole number from 1 to 5, not 6`,
		`inner.mode: inner.mode must be one of "fast", "slow", not "medium"`,
		`inner.cuont: inner has no key "cuont" (did you mean "count"?)`,
		`list.0: list.0 needs the key "count" (number)`,
		`byName.b.count: byName.b.count must be a number, not a string`,
		`flag: flag must be a number or a boolean, not a string`,
		`ratio: ratio must be at most 1, not 2`,
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestJSONSchemaFollowsTheStruct(t *testing.T) {
	js := SchemaOf(testConfig{}).JSONSchema()
	b, _ := json.Marshal(js)
	for _, want := range []string{
		`"required":["name"]`, `"additionalProperties":false`, `"key":{"type":"string","writeOnly":true}`,
		`"ids":{"items":{"maximum":9,"minimum":1,"type":"integer"},"type":"array"}`,
		`"mode":{"enum":["fast","slow"],"type":"string"}`, `"flag":{"type":["number","boolean"]}`,
		`"byName":{"additionalProperties":{"additionalProperties":false`, `"patternProperties":{"^\\$":{}}`,
		`"name":{"description":"the name","minLength":1,"type":"string"}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("missing %s in %s", want, b)
		}
	}
}
