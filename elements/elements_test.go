package elements

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func mustPanic(t *testing.T, want string, fn func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), want) {
			t.Errorf("panic = %v, want %q", r, want)
		}
	}()
	fn()
}

func TestRegistry(t *testing.T) {
	newFn := func(*Element) (Instance, error) { return nil, nil }
	RegisterMeta("regtest.Meta", "")
	RegisterType(Type{ID: "regtest.One", Meta: "regtest.Meta", New: newFn})
	mustPanic(t, "already registered", func() { RegisterType(Type{ID: "regtest.One", New: newFn}) })
	mustPanic(t, "not of the form", func() { RegisterType(Type{ID: "nodot", New: newFn}) })
	mustPanic(t, "not of the form", func() { RegisterType(Type{ID: "a..b", New: newFn}) })
	mustPanic(t, "not of the form", func() { RegisterType(Type{ID: "a.b.", New: newFn}) })
	mustPanic(t, "not of the form", func() { RegisterType(Type{ID: "a.1b", New: newFn}) })
	mustPanic(t, "no New", func() { RegisterType(Type{ID: "regtest.Two"}) })
	mustPanic(t, "declared twice", func() {
		RegisterType(Type{ID: "regtest.Three", New: newFn, Schema: Schema{Fields: []Field{{Name: "a"}, {Name: "a"}}}})
	})
	if typ, err := LookupType("regtest.One"); err != nil || typ.ID != "regtest.One" {
		t.Fatal(typ, err)
	}
	if _, err := LookupType("regtest.Nope"); !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "regtest.Nope") {
		t.Fatal(err)
	}
	if _, err := LookupType("regtest.Meta"); !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "regtest.One") {
		t.Fatalf("looking up a Meta should suggest its Types: %v", err)
	}
}

// bind is how a script's arguments are bound.
func bind(m *Method, args []any) (Args, error) { return m.BindArgs(args, ArgsAuto) }

func TestBind(t *testing.T) {
	m := &Method{Name: "setUserRole", Params: []Param{
		{Name: "memberId", Kind: KindString, Required: true},
		{Name: "roleIdList", Kind: KindArray, Required: true},
	}}
	pos, err := bind(m, []any{"u1", []any{"r1"}})
	named, err2 := bind(m, []any{map[string]any{"memberId": "u1", "roleIdList": []any{"r1"}}})
	if err != nil || err2 != nil || pos.String("memberId") != "u1" || named.String("memberId") != "u1" {
		t.Fatal(pos, named, err, err2)
	}
	for _, c := range []struct {
		args []any
		want string
	}{
		{nil, `needs "memberId"`},
		{[]any{"u1"}, `needs "roleIdList"`},
		{[]any{"u1", "r1"}, `"roleIdList" must be an array, not a string`},
		{[]any{"u1", []any{}, 3.0}, "takes at most 2"},
		{[]any{map[string]any{"memberId": "u1"}}, `needs "roleIdList"`},
	} {
		_, err := bind(m, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) || CodeOf(err) != CodeInvalidArgument {
			t.Errorf("%v: %v", c.args, err)
		}
	}
	if _, err := m.BindNamed(map[string]any{"memberId": "u", "roleIdList": []any{}, "extra": 1}); err == nil || !strings.Contains(err.Error(), `no parameter "extra"`) {
		t.Errorf("unknown named arg: %v", err)
	}
	// A misspelt name is an error naming it and the parameters, from a script or a body,
	// not a positional object.
	for _, mode := range []ArgsMode{ArgsAuto, ArgsNamed} {
		_, err := m.BindArgs([]any{map[string]any{"memberID": "u1", "roleIdList": []any{"r1"}}}, mode)
		if err == nil || !strings.Contains(err.Error(), `setUserRole has no parameter "memberID" (parameters: memberId, roleIdList)`) {
			t.Errorf("mode %d: %v", mode, err)
		}
	}
	// a JSON array is positional even when it holds one object
	args, mode, _ := JSONArgs([]any{map[string]any{"memberId": "u1"}})
	if _, err := m.BindArgs(args, mode); err == nil || !strings.Contains(err.Error(), `"memberId" must be a string, not an object`) {
		t.Errorf("positional object: %v", err)
	}
	// any other value is the one argument
	if args, mode, err := JSONArgs("x"); err != nil || mode != ArgsPositional || len(args) != 1 || args[0] != "x" {
		t.Errorf("a string body: %v %v %v", args, mode, err)
	}
	// one object param: an object is the argument unless its keys name the param
	one := &Method{Name: "bulkRegister", Params: []Param{{Name: "corpData", Kind: KindObject, Required: true}}}
	a, err := bind(one, []any{map[string]any{"userDict": map[string]any{}}})
	if err != nil || a["corpData"] == nil {
		t.Fatal(a, err)
	}
	a, err = bind(one, []any{map[string]any{"corpData": map[string]any{"x": 1.0}}})
	if err != nil || a["corpData"].(map[string]any)["x"] != 1.0 {
		t.Fatal(a, err)
	}
	opt := &Method{Name: "syncCorp", Params: []Param{{Name: "dryRun", Kind: KindBool}}}
	if a, err := bind(opt, []any{map[string]any{"dryRun": true}}); err != nil || !a.Bool("dryRun") {
		t.Fatal(a, err)
	}
	if a, err := bind(opt, []any{map[string]any{}}); err != nil || a.Bool("dryRun") {
		t.Fatal(a, err)
	}
	if a, err := bind(opt, nil); err != nil || len(a) != 0 {
		t.Fatal(a, err)
	}
}

func TestRowDataSerialisesFlatInOrder(t *testing.T) {
	r := NewRowData("deptId", 1, "name", "总部")
	r.Set("parentId", nil)
	b, _ := json.Marshal(r)
	if string(b) != `{"deptId":1,"name":"总部","parentId":null}` {
		t.Fatal(string(b))
	}
}

func TestCodeOf(t *testing.T) {
	wrapped := errors.Join(errors.New("x"), ErrNotFound)
	if CodeOf(wrapped) != CodeNotFound || CodeOf(errors.New("x")) != CodeInternal || CodeOf(nil) != "" {
		t.Fatal()
	}
	e := Errorf(CodeInvalidArgument, "bad %q: %w", "v", ErrInvalidArgument)
	if e.Error() != `bad "v": invalid argument` || !errors.Is(e, ErrInvalidArgument) {
		t.Fatal(e)
	}
}

// ValidRoleID says what the rule's regexp says, for ids of every length and byte class.
func TestValidRoleIDIsItsPattern(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	for _, id := range roleIDCases() {
		if ValidRoleID(id) != re.MatchString(id) {
			t.Fatalf("ValidRoleID(%q) = %v, the pattern says %v", id, ValidRoleID(id), re.MatchString(id))
		}
	}
}

func roleIDCases() []string {
	out := []string{"", "a", "admin", "A-b_9", "a b", "é", "a\n", "a.b", "-", "_", strings.Repeat("a", 64), strings.Repeat("a", 65), "admin\x00"}
	for c := 0; c < 256; c++ {
		out = append(out, string([]byte{byte(c)}), "x"+string([]byte{byte(c)}))
	}
	return out
}
