// Package jsonpos parses JSON into a tree that remembers the line and column of every value
// and object key, so that configuration errors can point at the exact place in a file.
package jsonpos

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the JSON type of a Node.
type Kind int

// The JSON kinds, named as JSON names them.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "boolean"
	case Number:
		return "number"
	case String:
		return "string"
	case Array:
		return "array"
	case Object:
		return "object"
	}
	return "unknown"
}

// Article is the kind with its article, for messages: "an array", "a string", "null".
func (k Kind) Article() string {
	switch k {
	case Null:
		return "null"
	case Array, Object:
		return "an " + k.String()
	}
	return "a " + k.String()
}

// Pos is a 1-based line and column (columns count characters, not bytes).
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Member is one key of an object with the position of the key itself.
type Member struct {
	Key    string
	KeyPos Pos
	Value  *Node
}

// Node is one parsed JSON value.
type Node struct {
	Kind    Kind
	Pos     Pos
	Bool    bool
	Num     json.Number
	Str     string
	Items   []*Node
	Members []Member // in file order; a repeated key is reported by Parse
}

// Get returns the member named key, or nil.
func (n *Node) Get(key string) *Member {
	if n == nil || n.Kind != Object {
		return nil
	}
	for i := range n.Members {
		if n.Members[i].Key == key {
			return &n.Members[i]
		}
	}
	return nil
}

// Interface converts the node to the values encoding/json produces with UseNumber off:
// map[string]any, []any, string, float64, bool, nil.
func (n *Node) Interface() any {
	switch n.Kind {
	case Bool:
		return n.Bool
	case Number:
		f, _ := n.Num.Float64()
		return f
	case String:
		return n.Str
	case Array:
		out := make([]any, len(n.Items))
		for i, it := range n.Items {
			out[i] = it.Interface()
		}
		return out
	case Object:
		out := make(map[string]any, len(n.Members))
		for _, m := range n.Members {
			out[m.Key] = m.Value.Interface()
		}
		return out
	}
	return nil
}

// SyntaxError is a parse failure at a position.
type SyntaxError struct {
	Pos Pos
	Msg string
}

func (e *SyntaxError) Error() string { return e.Pos.String() + ": " + e.Msg }

// Parse parses one JSON document. Errors are *SyntaxError.
func Parse(data []byte) (*Node, error) {
	p := &parser{src: data, line: 1, col: 1}
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		p.i = 3 // a UTF-8 byte order mark, as some Windows editors write
	}
	p.skipSpace()
	if p.i >= len(p.src) {
		return nil, p.errf("empty file: expected a JSON value")
	}
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i < len(p.src) {
		return nil, p.errf("unexpected %s after the end of the JSON value", p.describe())
	}
	return n, nil
}

const maxDepth = 512

type parser struct {
	src       []byte
	i         int
	line, col int
}

func (p *parser) pos() Pos { return Pos{p.line, p.col} }

func (p *parser) errf(format string, args ...any) error {
	return &SyntaxError{Pos: p.pos(), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) advance(n int) {
	for k := 0; k < n && p.i < len(p.src); {
		r, size := utf8.DecodeRune(p.src[p.i:])
		p.i += size
		k += size
		if r == '\n' {
			p.line++
			p.col = 1
		} else {
			p.col++
		}
	}
}

func (p *parser) skipSpace() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\r', '\n':
			p.advance(1)
		default:
			return
		}
	}
}

func (p *parser) describe() string {
	if p.i >= len(p.src) {
		return "end of file"
	}
	r, _ := utf8.DecodeRune(p.src[p.i:])
	return strconv.QuoteRune(r)
}

func (p *parser) value(depth int) (*Node, error) {
	if depth > maxDepth {
		return nil, p.errf("nesting deeper than %d levels", maxDepth)
	}
	if p.i >= len(p.src) {
		return nil, p.errf("unexpected end of file: expected a value")
	}
	start := p.pos()
	switch c := p.src[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &Node{Kind: String, Pos: start, Str: s}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if strings.HasPrefix(string(p.src[p.i:min(len(p.src), p.i+5)]), lit) {
				p.advance(len(lit))
				n := &Node{Pos: start}
				switch lit {
				case "true":
					n.Kind, n.Bool = Bool, true
				case "false":
					n.Kind = Bool
				}
				return n, nil
			}
		}
	case c == '\'':
		return nil, p.errf("strings must use double quotes, not single quotes")
	}
	return nil, p.errf("unexpected %s: expected a value", p.describe())
}

func (p *parser) object(depth int) (*Node, error) {
	n := &Node{Kind: Object, Pos: p.pos()}
	p.advance(1)
	p.skipSpace()
	if p.i < len(p.src) && p.src[p.i] == '}' {
		p.advance(1)
		return n, nil
	}
	seen := map[string]bool{}
	for {
		p.skipSpace()
		if p.i >= len(p.src) {
			return nil, p.errf("unexpected end of file: object opened at %s is not closed", n.Pos)
		}
		if p.src[p.i] == '}' {
			return nil, p.errf("trailing comma before '}'")
		}
		if p.src[p.i] != '"' {
			return nil, p.errf("unexpected %s: expected a double-quoted key", p.describe())
		}
		keyPos := p.pos()
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, &SyntaxError{Pos: keyPos, Msg: fmt.Sprintf("duplicate key %q", key)}
		}
		seen[key] = true
		p.skipSpace()
		if p.i >= len(p.src) || p.src[p.i] != ':' {
			return nil, p.errf("unexpected %s: expected ':' after key %q", p.describe(), key)
		}
		p.advance(1)
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.Members = append(n.Members, Member{Key: key, KeyPos: keyPos, Value: v})
		p.skipSpace()
		if p.i >= len(p.src) {
			return nil, p.errf("unexpected end of file: object opened at %s is not closed", n.Pos)
		}
		switch p.src[p.i] {
		case ',':
			p.advance(1)
		case '}':
			p.advance(1)
			return n, nil
		default:
			return nil, p.errf("unexpected %s: expected ',' or '}' after the value of %q", p.describe(), key)
		}
	}
}

func (p *parser) array(depth int) (*Node, error) {
	n := &Node{Kind: Array, Pos: p.pos()}
	p.advance(1)
	p.skipSpace()
	if p.i < len(p.src) && p.src[p.i] == ']' {
		p.advance(1)
		return n, nil
	}
	for {
		p.skipSpace()
		if p.i < len(p.src) && p.src[p.i] == ']' {
			return nil, p.errf("trailing comma before ']'")
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.Items = append(n.Items, v)
		p.skipSpace()
		if p.i >= len(p.src) {
			return nil, p.errf("unexpected end of file: array opened at %s is not closed", n.Pos)
		}
		switch p.src[p.i] {
		case ',':
			p.advance(1)
		case ']':
			p.advance(1)
			return n, nil
		default:
			return nil, p.errf("unexpected %s: expected ',' or ']' in array", p.describe())
		}
	}
}

func (p *parser) str() (string, error) {
	start := p.pos()
	j := p.i + 1
	for j < len(p.src) {
		c := p.src[j]
		if c == '"' {
			break
		}
		if c == '\\' {
			j += 2
			continue
		}
		if c < 0x20 {
			p.advance(j - p.i)
			if c == '\n' {
				return "", &SyntaxError{Pos: start, Msg: "string is not closed before the end of the line"}
			}
			return "", p.errf("control character %#x in string", c)
		}
		j++
	}
	if j >= len(p.src) {
		return "", &SyntaxError{Pos: start, Msg: "string is not closed"}
	}
	raw := p.src[p.i : j+1]
	if msg := badText(raw); msg != "" {
		return "", &SyntaxError{Pos: start, Msg: msg}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &SyntaxError{Pos: start, Msg: "invalid string: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	p.advance(j + 1 - p.i)
	return s, nil
}

func (p *parser) number() (*Node, error) {
	start := p.pos()
	j := p.i
	for j < len(p.src) && strings.IndexByte("+-0123456789.eE", p.src[j]) >= 0 {
		j++
	}
	lit := string(p.src[p.i:j])
	if !json.Valid([]byte(lit)) {
		return nil, p.errf("invalid number %q", lit)
	}
	if f, err := strconv.ParseFloat(lit, 64); err != nil || math.IsInf(f, 0) {
		return nil, p.errf("number %s is out of range", lit)
	}
	p.advance(j - p.i)
	return &Node{Kind: Number, Pos: start, Num: json.Number(lit)}, nil
}

// badText says what is wrong with the text of a quoted JSON string, "" if nothing: bytes
// that are not UTF-8, or an escaped UTF-16 surrogate without its pair (both would become
// U+FFFD, silently, in a decoded string).
func badText(raw []byte) string {
	if !utf8.Valid(raw) {
		for i := 0; i < len(raw); {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				return fmt.Sprintf("invalid string: byte %#x at %d is not UTF-8 (save the file as UTF-8)", raw[i], i)
			}
			i += size
		}
	}
	pendingHigh := false
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			if pendingHigh {
				return "invalid string: a \\u escape of a high surrogate is not followed by its low surrogate"
			}
			continue
		}
		i++
		if i >= len(raw) || raw[i] != 'u' {
			if pendingHigh {
				return "invalid string: a \\u escape of a high surrogate is not followed by its low surrogate"
			}
			continue
		}
		if i+4 >= len(raw) {
			break // the decoder reports it
		}
		v, err := strconv.ParseUint(string(raw[i+1:i+5]), 16, 16)
		if err != nil {
			break
		}
		i += 4
		switch {
		case v >= 0xD800 && v < 0xDC00:
			if pendingHigh {
				return "invalid string: two high surrogates in a row"
			}
			pendingHigh = true
		case v >= 0xDC00 && v < 0xE000:
			if !pendingHigh {
				return fmt.Sprintf("invalid string: \\u%04x is a lone low surrogate", v)
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return "invalid string: a \\u escape of a high surrogate is not followed by its low surrogate"
			}
		}
	}
	if pendingHigh {
		return "invalid string: a \\u escape of a high surrogate is not followed by its low surrogate"
	}
	return ""
}
