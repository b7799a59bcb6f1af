// Package tsdecl writes TypeScript declarations of an app's elements (jitrt types), so that
// an editor completes and checks app.getElement("corps.X").method(…) in the app's scripts.
package tsdecl

import (
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jitrt/jitrt/elements"
)

// Element is one element of the app as scripts reach it.
type Element struct {
	FullName, Type, Title string
	Methods               []elements.Method
	Properties            []elements.Property
}

// Write writes the declarations of the app's elements: one interface per Type, and
// app.getElement overloaded by fullName.
func Write(w io.Writer, appName string, els []Element) error {
	g := &gen{named: map[reflect.Type]string{}}
	var b strings.Builder
	fmt.Fprintf(&b, `// The elements of app %q, as scripts reach them through app.getElement.
// Written by jitrt types: run it again after adding elements or changing Types.

declare namespace jitrt {
  /** A field of a RowData row: its value in .value. */
  interface RowField<T = any> { readonly value: T }
  /** A row as the seed's methods return them (root.name.value); JSON.stringify gives plain values. */
  type RowData = { readonly [field: string]: RowField };
  /** An element of app.elements(). */
  interface ElementInfo { fullName: string; type: string; title: string; status: string }

`, appName)
	slices.SortFunc(els, func(a, b Element) int { return strings.Compare(a.FullName, b.FullName) })
	// one interface per Type: its instances have the same methods and properties
	var iface strings.Builder
	declared := map[string]bool{}
	for _, el := range els {
		if declared[el.Type] {
			continue
		}
		declared[el.Type] = true
		fmt.Fprintf(&iface, "  /** an element of type %s */\n", el.Type)
		fmt.Fprintf(&iface, "  interface %s {\n", ifaceName(el.Type))
		for _, p := range el.Properties {
			if p.Doc != "" {
				fmt.Fprintf(&iface, "    /** %s */\n", comment(p.Doc))
			}
			t := "any"
			switch {
			case p.Result != nil:
				t = g.ts(reflect.TypeOf(p.Result))
			case p.Name == "title" || p.Name == "fullName" || p.Name == "type":
				t = "string"
			}
			fmt.Fprintf(&iface, "    readonly %s: %s;\n", prop(p.Name), t)
		}
		for _, m := range el.Methods {
			g.method(&iface, m)
		}
		iface.WriteString("    /** the methods one link up the element's Type chain (in a Type element's index.js) */\n")
		fmt.Fprintf(&iface, "    readonly $super: { readonly [method: string]: (...args: any[]) => any };\n  }\n\n")
	}
	for _, name := range g.order {
		b.WriteString(g.decls[name])
	}
	b.WriteString(iface.String())
	b.WriteString("  interface App {\n")
	for _, el := range els {
		fmt.Fprintf(&b, "    /** %s%s */\n", el.FullName, titleDoc(el.Title))
		fmt.Fprintf(&b, "    getElement(fullName: %s): %s;\n", strconv.Quote(el.FullName), ifaceName(el.Type))
	}
	b.WriteString(`    /** every element with its type, title and status */
    elements(): ElementInfo[];
    /**
     * runs fn holding a lock of the whole cluster: a corp's fullName takes the lock its own
     * writers take (a read-modify-write of its methods inside fn is atomic against every
     * other writer of the corp, on every replica); another name is a lock of the app's own.
     * fn's value is returned; a transaction of the same name inside it is an error.
     */
    transaction<T>(name: string, fn: () => T): T;
    readonly name: string;
    readonly title: string;
  }
}

/** The app: its elements by fullName. */
declare const app: jitrt.App;

/** Console output of a run (stdout; error and warn go to stderr). */
declare const console: {
  log(...values: any[]): void;
  info(...values: any[]): void;
  warn(...values: any[]): void;
  error(...values: any[]): void;
};
`)
	_, err := io.WriteString(w, b.String())
	return err
}

type gen struct {
	named map[reflect.Type]string // struct types declared, by name
	order []string
	decls map[string]string
}

// method writes a method's signatures: positional, and with its arguments by name.
func (g *gen) method(b *strings.Builder, m elements.Method) {
	ret := "any"
	if m.Result != nil {
		ret = g.ts(reflect.TypeOf(m.Result))
	}
	doc := comment(m.Doc)
	if doc != "" {
		fmt.Fprintf(b, "    /** %s */\n", doc)
	}
	if m.Variadic && m.TS != nil { // a JS method, typed by its JSDoc
		var ps []string
		optional := true // only trailing parameters may be left out
		for i := len(m.TS.Params) - 1; i >= 0; i-- {
			p := m.TS.Params[i]
			q := ""
			if optional && p.Optional {
				q = "?"
			} else {
				optional = false
			}
			ps = append([]string{fmt.Sprintf("%s%s: %s", ident(p.Name), q, p.Type)}, ps...)
		}
		if m.TS.Returns != "" && m.Result == nil {
			ret = m.TS.Returns
		}
		fmt.Fprintf(b, "    %s(%s): %s;\n", prop(m.Name), strings.Join(ps, ", "), ret)
		return
	}
	if m.Variadic {
		fmt.Fprintf(b, "    %s(...args: any[]): %s;\n", prop(m.Name), ret)
		return
	}
	var pos, named []string
	optionalFrom := len(m.Params)
	for i := len(m.Params) - 1; i >= 0 && !m.Params[i].Required; i-- {
		optionalFrom = i
	}
	for i, p := range m.Params {
		t := paramType(p)
		q := ""
		if i >= optionalFrom {
			q = "?"
		}
		pos = append(pos, fmt.Sprintf("%s%s: %s", ident(p.Name), q, t))
		nq := "?"
		if p.Required {
			nq = ""
		}
		named = append(named, fmt.Sprintf("%s%s: %s", prop(p.Name), nq, t))
	}
	fmt.Fprintf(b, "    %s(%s): %s;\n", prop(m.Name), strings.Join(pos, ", "), ret)
	if len(m.Params) > 0 {
		if doc != "" {
			fmt.Fprintf(b, "    /** %s */\n", doc)
		}
		opt := ""
		if optionalFrom == 0 {
			opt = "?"
		}
		fmt.Fprintf(b, "    %s(args%s: { %s }): %s;\n", prop(m.Name), opt, strings.Join(named, "; "), ret)
	}
}

func paramType(p elements.Param) string {
	if p.Any {
		return "any"
	}
	switch p.Kind {
	case elements.KindString:
		return "string"
	case elements.KindNumber:
		return "number"
	case elements.KindBool:
		return "boolean"
	case elements.KindArray:
		return "any[]"
	case elements.KindObject:
		return "{ [key: string]: any }"
	}
	return "any"
}

var rowDataType = reflect.TypeOf((*elements.RowData)(nil))

// ts is the TypeScript type of a Go type, declaring the structs it names.
func (g *gen) ts(t reflect.Type) string {
	if t == rowDataType || t == rowDataType.Elem() {
		return "jitrt.RowData"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.ts(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		el := g.ts(t.Elem())
		if strings.ContainsAny(el, " |") {
			el = "(" + el + ")"
		}
		return el + "[]"
	case reflect.Map:
		return "{ [key: string]: " + g.ts(t.Elem()) + " }"
	case reflect.Struct:
		return "jitrt." + g.declare(t, "Result")
	}
	return "any"
}

// declare writes an interface for a struct type once and returns its name.
// An anonymous struct is named after where it is (hint: SyncReportFetched).
func (g *gen) declare(t reflect.Type, hint string) string {
	if name, ok := g.named[t]; ok {
		return name
	}
	name := t.Name()
	if name == "" {
		name = hint
	}
	name = strings.ToUpper(name[:1]) + name[1:]
	for taken := true; taken; {
		taken = false
		for _, n := range g.named {
			if n == name {
				taken, name = true, name+"_"
				break
			}
		}
	}
	g.named[t] = name
	if g.decls == nil {
		g.decls = map[string]string{}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  interface %s {\n", name)
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		q := ""
		if strings.Contains(opts, "omitempty") || f.Type.Kind() == reflect.Pointer {
			q = "?"
		}
		if doc := f.Tag.Get("doc"); doc != "" {
			fmt.Fprintf(&b, "    /** %s */\n", comment(doc))
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.Name() == "" {
			g.declare(ft, name+f.Name) // named after its field
		}
		fmt.Fprintf(&b, "    %s%s: %s;\n", prop(tag), q, g.ts(f.Type))
	}
	b.WriteString("  }\n\n")
	g.decls[name] = b.String()
	g.order = append(g.order, name)
	return name
}

var identPattern = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// prop is a property name as TypeScript needs it written.
func prop(name string) string {
	if identPattern.MatchString(name) {
		return name
	}
	return strconv.Quote(name)
}

// ident is a parameter name TypeScript accepts.
func ident(name string) string {
	if identPattern.MatchString(name) && !reserved[name] {
		return name
	}
	return "arg_" + regexp.MustCompile(`[^A-Za-z0-9_$]`).ReplaceAllString(name, "_")
}

var reserved = map[string]bool{"default": true, "function": true, "new": true, "delete": true, "class": true, "var": true, "in": true, "for": true}

// ifaceName is the interface of a Type: corps.QywxInnerType → Type_corps_QywxInnerType.
func ifaceName(typeID string) string {
	return "Type_" + strings.ReplaceAll(typeID, ".", "_")
}

func titleDoc(title string) string {
	if title == "" {
		return ""
	}
	return ": " + comment(title)
}

// comment makes text safe inside /** … */.
func comment(s string) string { return strings.ReplaceAll(s, "*/", "*\\/") }
