package jsonpos

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestPositionsOfKeysAndValues(t *testing.T) {
	src := "{\n  \"title\": \"演示\",\n  \"n\": [1, {\"deep\": true}],\n\t\"z\": null\n}"
	n, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key       string
		keyPos    Pos
		valPos    Pos
		valueKind Kind
	}{
		{"title", Pos{2, 3}, Pos{2, 12}, String},
		{"n", Pos{3, 3}, Pos{3, 8}, Array},
		{"z", Pos{4, 2}, Pos{4, 7}, Null},
	} {
		m := n.Get(c.key)
		if m == nil {
			t.Fatalf("key %q missing", c.key)
		}
		if m.KeyPos != c.keyPos || m.Value.Pos != c.valPos || m.Value.Kind != c.valueKind {
			t.Errorf("%s: key at %v value at %v (%v), want %v %v (%v)", c.key, m.KeyPos, m.Value.Pos, m.Value.Kind, c.keyPos, c.valPos, c.valueKind)
		}
	}
	deep := n.Get("n").Value.Items[1].Get("deep")
	if deep.KeyPos != (Pos{3, 13}) || !deep.Value.Bool {
		t.Errorf("deep at %v = %v", deep.KeyPos, deep.Value.Bool)
	}
	got := n.Interface().(map[string]any)
	if got["title"] != "演示" || got["n"].([]any)[0] != 1.0 || got["z"] != nil {
		t.Errorf("Interface() = %#v", got)
	}
}

func TestSyntaxErrorsNameLineAndColumn(t *testing.T) {
	for _, c := range []struct {
		src  string
		pos  Pos
		want string
	}{
		{"{\n  \"a\": 1\n  \"b\": 2\n}", Pos{3, 3}, "expected ',' or '}'"},
		{"{\n  \"a\": 1,\n}", Pos{3, 1}, "trailing comma"},
		{"{\"a\": tru}", Pos{1, 7}, "expected a value"},
		{"{\"a\": 'x'}", Pos{1, 7}, "double quotes"},
		{"{\"a\": \"x}", Pos{1, 7}, "not closed"},
		{"{\"a\": 1} x", Pos{1, 10}, "after the end"},
		{"", Pos{1, 1}, "empty file"},
		{"{\"a\": 1, \"a\": 2}", Pos{1, 10}, "duplicate key \"a\""},
		{"{\"标题\": 01}", Pos{1, 8}, "invalid number"},
		{"[1, 2", Pos{1, 6}, "not closed"},
	} {
		_, err := Parse([]byte(c.src))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: got %v, want a SyntaxError", c.src, err)
			continue
		}
		if se.Pos != c.pos || !strings.Contains(se.Msg, c.want) {
			t.Errorf("%q: got %v %q, want %v containing %q", c.src, se.Pos, se.Msg, c.pos, c.want)
		}
	}
}

func TestBOMIsSkipped(t *testing.T) {
	n, err := Parse([]byte("\xEF\xBB\xBF{\"a\": 1}"))
	if err != nil || n.Get("a") == nil || n.Get("a").KeyPos != (Pos{1, 2}) {
		t.Fatalf("got %v %v", n, err)
	}
}

func FuzzParseNeverPanicsAndAgreesWithValidity(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":null}]}`, `[`, `"\u00e9"`, `{"a":1,}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := Parse([]byte(s))
		if err == nil && !json.Valid([]byte(s)) && !strings.HasPrefix(s, "\xEF\xBB\xBF") {
			t.Fatalf("Parse accepted invalid JSON %q", s)
		}
		if err != nil && json.Valid([]byte(s)) && !strings.Contains(err.Error(), "duplicate key") && !strings.Contains(err.Error(), "nesting") {
			t.Fatalf("Parse rejected valid JSON %q: %v", s, err)
		}
	})
}

func TestTextAndNumbersThatWouldBeChangedSilentlyAreErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"{\"a\": \"caf\xe9\"}", "1:7: invalid string: byte 0xe9 at 4 is not UTF-8 (save the file as UTF-8)"},
		{`{"a": "\ud800"}`, "1:7: invalid string: a \\u escape of a high surrogate is not followed by its low surrogate"},
		{`{"a": "\udc00x"}`, "1:7: invalid string: \\udc00 is a lone low surrogate"},
		{`{"a": "\ud800\ud800"}`, "1:7: invalid string: two high surrogates in a row"},
		{`{"a": 1e400}`, "1:7: number 1e400 is out of range"},
		{`{"a": -1e309}`, "1:7: number -1e309 is out of range"},
	} {
		_, err := Parse([]byte(c.in))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %s", c.in, err, c.want)
		}
	}
	n, err := Parse([]byte(`{"a": "\ud83d\ude00 \u00e9 ok", "b": 1e300}`))
	if err != nil || n.Get("a").Value.Str != "😀 é ok" {
		t.Fatal(n, err)
	}
}
