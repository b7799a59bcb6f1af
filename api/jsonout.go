package api

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendPlainJSON appends v as encoding/json writes it (HTML escaped, map keys sorted), for
// the plain values most methods answer with: nil, strings, booleans, numbers, and slices
// and string-keyed maps of them. ok is false for anything else (a struct, a value nested
// deeper than maxPlainDepth, a NaN), which the caller encodes the general way. A cheap read's
// answer is a few strings, and a general encoder's setup cost more than writing them.
func appendPlainJSON(b []byte, v any, depth int) (_ []byte, ok bool) {
	if depth > maxPlainDepth {
		return b, false
	}
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return appendJSONString(b, v), true
	case bool:
		return strconv.AppendBool(b, v), true
	case float64:
		return appendJSONFloat(b, v, 64)
	case float32:
		return appendJSONFloat(b, float64(v), 32)
	case int:
		return strconv.AppendInt(b, int64(v), 10), true
	case int64:
		return strconv.AppendInt(b, v, 10), true
	case int32:
		return strconv.AppendInt(b, int64(v), 10), true
	case []string:
		if v == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']'), true
	case []any:
		if v == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendPlainJSON(b, e, depth+1); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case map[string]any:
		return appendPlainMap(b, v, func(b []byte, e any) ([]byte, bool) { return appendPlainJSON(b, e, depth+1) })
	case map[string]string:
		return appendPlainMap(b, v, func(b []byte, e string) ([]byte, bool) { return appendJSONString(b, e), true })
	}
	return b, false
}

// appendPlainMap writes a string-keyed map, its keys sorted, each value by appendValue.
func appendPlainMap[V any](b []byte, m map[string]V, appendValue func([]byte, V) ([]byte, bool)) (_ []byte, ok bool) {
	if m == nil {
		return append(b, "null"...), true
	}
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		if b, ok = appendValue(append(appendJSONString(b, k), ':'), m[k]); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// maxPlainDepth is how deep appendPlainJSON follows slices and maps before it leaves the
// value to the general encoder.
const maxPlainDepth = 32

// appendJSONFloat is encoding/json's float: the shortest form, with an exponent only below
// 1e-6 or from 1e21 up (as JavaScript), and e-07 written e-7. NaN and the infinities are no
// JSON: not ok.
func appendJSONFloat(b []byte, f float64, bits int) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// appendJSONString is encoding/json's string with HTML escaping: quotes, backslashes and
// control characters escaped, <, > and & as \u003c, \u003e, \u0026, U+2028 and U+2029
// escaped, invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
