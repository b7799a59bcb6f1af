package elements

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Args are a method call's arguments by parameter name, with JSON-shaped values
// (string, float64, bool, nil, []any, map[string]any).
type Args map[string]any

// VariadicArgs is the Args key of a Variadic method's arguments.
const VariadicArgs = "..."

// BindPositional maps positional values onto the method's params.
func (m *Method) BindPositional(values []any) (Args, error) {
	if m.Variadic {
		return Args{VariadicArgs: values}, nil
	}
	if len(values) > len(m.Params) {
		return nil, m.argErr("takes at most %d argument(s) (%s), got %d", len(m.Params), m.paramList(), len(values))
	}
	args := make(Args, len(values))
	for i, v := range values {
		args[m.Params[i].Name] = v
	}
	return args, m.check(args)
}

// BindNamed checks named values against the method's params.
func (m *Method) BindNamed(values map[string]any) (Args, error) {
	if m.Variadic {
		return nil, m.argErr("takes positional arguments only (a JSON array)")
	}
	args := make(Args, len(values))
	var unknown []string
	for k, v := range values {
		if m.param(k) == nil {
			unknown = append(unknown, k)
			continue
		}
		args[k] = v
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, m.argErr("has no parameter %s (parameters: %s)", strings.Join(quoteAll(unknown), ", "), m.paramList())
	}
	return args, m.check(args)
}

// ArgsMode says how a Call's Args are read.
type ArgsMode int

const (
	// ArgsAuto reads Args as a script gives them: one plain object is the arguments by
	// name (corp.setUserRole({memberId, roleIdList})), anything else is positional. When the
	// method's first parameter itself takes an object, the object is that argument unless
	// its keys all name parameters. A JSON object body is read this way too.
	ArgsAuto ArgsMode = iota
	// ArgsPositional reads Args in parameter order (a JSON array body).
	ArgsPositional
	// ArgsNamed reads Args[0], a map, as the arguments by name.
	ArgsNamed
)

// JSONArgs reads arguments as a JSON body gives them: an array is positional, an object is
// read as ArgsAuto, nothing (or null) is no arguments, and any other value (a string, a
// number, true or false) is the one argument, as jitrt call reads it.
func JSONArgs(v any) ([]any, ArgsMode, error) {
	switch x := v.(type) {
	case nil:
		return nil, ArgsPositional, nil
	case []any:
		return x, ArgsPositional, nil
	case map[string]any:
		return []any{x}, ArgsAuto, nil
	}
	return []any{v}, ArgsPositional, nil // any other value is the one argument
}

// BindArgs binds a call's arguments to the method's params. A named argument the method
// does not have is an error that names it and lists the params.
func (m *Method) BindArgs(values []any, mode ArgsMode) (Args, error) {
	switch mode {
	case ArgsNamed:
		if m.Variadic {
			return nil, m.argErr("takes positional arguments only (it is defined in JS)")
		}
		var named map[string]any
		if len(values) > 0 {
			named, _ = values[0].(map[string]any)
		}
		return m.BindNamed(named)
	case ArgsAuto:
		if m.Variadic {
			return m.BindPositional(values)
		}
		if len(values) == 1 {
			if obj, ok := values[0].(map[string]any); ok && m.takesNamed(obj) {
				return m.BindNamed(obj)
			}
		}
		// Trailing undefined/null arguments are as if not given.
		for len(values) > 0 && values[len(values)-1] == nil {
			values = values[:len(values)-1]
		}
	}
	return m.BindPositional(values)
}

// takesNamed decides whether one plain object given to the method is its arguments by name.
func (m *Method) takesNamed(obj map[string]any) bool {
	if len(m.Params) == 0 {
		return true
	}
	first := m.Params[0]
	if first.Kind != KindObject && !first.Any {
		return true // an object cannot be the first argument: it names the arguments
	}
	if len(obj) == 0 {
		return false
	}
	for k := range obj {
		if m.param(k) == nil {
			return false
		}
	}
	return true
}

func (m *Method) param(name string) *Param {
	for i := range m.Params {
		if m.Params[i].Name == name {
			return &m.Params[i]
		}
	}
	return nil
}

func (m *Method) check(args Args) error {
	for _, p := range m.Params {
		v, ok := args[p.Name]
		if !ok || v == nil {
			if p.Required {
				return m.argErr("needs %q (%s)", p.Name, p.Kind)
			}
			delete(args, p.Name)
			continue
		}
		if p.Any {
			continue
		}
		if k := KindOfValue(v); k != p.Kind {
			hint := ""
			if p.Kind == KindArray && m.Params[0].Name == p.Name {
				hint = fmt.Sprintf(" (arguments in a JSON array go in order: a list as the first argument goes inside it, [[…]], or by name: {%q: […]})", p.Name)
			}
			return m.argErr("argument %q must be %s, not %s%s", p.Name, p.Kind.Article(), k.Article(), hint)
		}
	}
	return nil
}

func (m *Method) argErr(format string, args ...any) error {
	return &Error{Code: CodeInvalidArgument, Message: m.Name + " " + fmt.Sprintf(format, args...), Err: ErrInvalidArgument}
}

func (m *Method) paramList() string {
	if len(m.Params) == 0 {
		return "none"
	}
	names := make([]string, len(m.Params))
	for i, p := range m.Params {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// KindOfValue returns the JSON kind of a JSON-shaped Go value.
func KindOfValue(v any) Kind {
	switch v.(type) {
	case nil:
		return KindNull
	case bool:
		return KindBool
	case float64, float32, int, int64, int32, uint, uint64, uint32, json.Number:
		return KindNumber
	case string:
		return KindString
	case []any, []string:
		return KindArray
	case map[string]any:
		return KindObject
	}
	return KindObject
}

// String returns a string argument ("" when absent).
func (a Args) String(name string) string {
	s, _ := a[name].(string)
	return s
}

// Bool returns a boolean argument (false when absent).
func (a Args) Bool(name string) bool {
	b, _ := a[name].(bool)
	return b
}

// Int returns a whole-number argument, or an error naming it if it is not one.
func (a Args) Int(name string) (int64, bool, error) {
	v, ok := a[name]
	if !ok {
		return 0, false, nil
	}
	f, isNum := v.(float64)
	if !isNum || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, true, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("argument %q must be a whole number from -2^53 to 2^53, not %v", name, v), Err: ErrInvalidArgument}
	}
	return int64(f), true, nil
}

// Strings returns a list-of-strings argument; an element that is not a string is an error
// naming the argument and the index.
func (a Args) Strings(name string) ([]string, error) {
	v, ok := a[name]
	if !ok {
		return nil, nil
	}
	switch list := v.(type) {
	case []string:
		return list, nil
	case []any:
		out := make([]string, len(list))
		for i, it := range list {
			s, ok := it.(string)
			if !ok {
				return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("argument %q[%d] must be a string, not %s", name, i, KindOfValue(it)), Err: ErrInvalidArgument}
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("argument %q must be a list of strings", name), Err: ErrInvalidArgument}
}
