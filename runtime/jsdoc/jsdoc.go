// Package jsdoc reads the JSDoc of the functions a CommonJS module exports (@param,
// @returns), so that the methods a JS Type element adds are typed for editors as their
// author wrote them.
package jsdoc

import (
	"regexp"
	"strings"
)

// Param is one @param: its name, its type as TypeScript reads it, whether it may be left
// out ([name], or a type ending in =) and what it is.
type Param struct {
	Name, Type string
	Optional   bool
	Doc        string
}

// Func is the JSDoc of one function: what it does, its parameters in order, what it returns
// ("" when the comment does not say).
type Func struct {
	Doc     string
	Params  []Param
	Returns string
}

// exported finds a doc comment right before an exported function: exports.name = …,
// module.exports.name = …, or function name(…) (exported by name later).
var exported = regexp.MustCompile(`(?s)/\*\*(.*?)\*/\s*(?:(?:module\.)?exports\.([A-Za-z_$][\w$]*)\s*=|(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*\()`)

// Parse reads the doc comments of a module's source, by function name.
func Parse(src string) map[string]*Func {
	out := map[string]*Func{}
	for _, m := range exported.FindAllStringSubmatch(src, -1) {
		name := m[2]
		if name == "" {
			name = m[3]
		}
		if _, seen := out[name]; !seen {
			out[name] = parseComment(m[1])
		}
	}
	return out
}

var (
	paramTag  = regexp.MustCompile(`^@(?:param|arg|argument)\s+(?:\{(.*)\}\s*)?(\[[^\]]*\]|[A-Za-z_$][\w$.]*)\s*(?:-\s*)?(.*)$`)
	returnTag = regexp.MustCompile(`^@returns?\s+\{(.*)\}`)
)

// parseComment reads the inside of /** … */.
func parseComment(body string) *Func {
	f := &Func{}
	var doc []string
	inDoc := true
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		switch {
		case strings.HasPrefix(line, "@"):
			inDoc = false
			if m := paramTag.FindStringSubmatch(line); m != nil {
				p := Param{Type: tsType(m[1]), Name: m[2], Doc: strings.TrimSpace(m[3])}
				if strings.HasPrefix(p.Name, "[") {
					p.Optional = true
					p.Name, _, _ = strings.Cut(strings.Trim(p.Name, "[]"), "=")
				}
				if strings.HasSuffix(strings.TrimSpace(m[1]), "=") {
					p.Optional = true
				}
				if !strings.Contains(p.Name, ".") { // a property of an object param is the param's
					f.Params = append(f.Params, p)
				}
			} else if m := returnTag.FindStringSubmatch(line); m != nil {
				f.Returns = tsType(m[1])
			}
		case inDoc && line != "":
			doc = append(doc, line)
		}
	}
	f.Doc = strings.Join(doc, " ")
	return f
}

// tsType is a JSDoc type as TypeScript reads it: "*" and "" are any, a trailing "=" (may be
// left out) goes, "?" (nullable) becomes "| null".
// JSDoc's own spellings become TypeScript's (Array.<T>, Object.<K, V>, function), and a type
// that could not be one (a line break, a comment's end) is any.
func tsType(t string) string {
	t = strings.TrimSpace(t)
	t = strings.TrimSuffix(t, "=")
	switch {
	case t == "" || t == "*" || strings.ContainsAny(t, "\n;") || strings.Contains(t, "*/"):
		return "any"
	case strings.HasPrefix(t, "?") && len(t) > 1:
		return tsType(t[1:]) + " | null"
	case t == "function":
		return "Function"
	}
	return strings.NewReplacer("Array.<", "Array<", "Object.<", "Record<").Replace(t)
}
