package api

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"
)

// randomPlain is a random value of the kinds appendPlainJSON writes, strings drawn from
// bytes that need escaping (controls, quotes, HTML, U+2028, invalid UTF-8) and numbers
// across the magnitudes where encoding/json changes form.
func randomPlain(r *rand.Rand, depth int) any {
	pieces := []string{"a", "Zz", " ", "\"", "\\", "/", "<", ">", "&", "\x00", "\x01", "\b", "\f", "\n", "\r", "\t", "\x1f", "\x7f",
		"é", "张三", "\u2028", "\u2029", "\U0001F600", "\xff", "\xc3", "\xe2\x80", "\ufffd", "'", "u1"}
	str := func() string {
		var sb strings.Builder
		for range r.IntN(8) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		return sb.String()
	}
	kinds := 9
	if depth > 3 {
		kinds = 6
	}
	switch r.IntN(kinds) {
	case 0:
		return nil
	case 1:
		return str()
	case 2:
		return r.IntN(2) == 0
	case 3:
		floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e-7, 1.5e-300, 1e20, 1e21, 123456789e15,
			math.MaxFloat64, math.SmallestNonzeroFloat64, 3.141592653589793, -2.5e-8, 1e100}
		f := floats[r.IntN(len(floats))]
		if r.IntN(3) == 0 {
			f = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(50)-25))
		}
		if r.IntN(4) == 0 && !math.IsInf(float64(float32(f)), 0) {
			return float32(f)
		}
		return f
	case 4:
		switch r.IntN(3) {
		case 0:
			return r.IntN(1 << 40)
		case 1:
			return -r.Int64()
		}
		return int32(r.Int32())
	case 5:
		if r.IntN(5) == 0 {
			return []string(nil)
		}
		list := []string{}
		for range r.IntN(4) {
			list = append(list, str())
		}
		return list
	case 6:
		if r.IntN(6) == 0 {
			return []any(nil)
		}
		list := []any{}
		for range r.IntN(4) {
			list = append(list, randomPlain(r, depth+1))
		}
		return list
	case 7:
		if r.IntN(6) == 0 {
			return map[string]any(nil)
		}
		m := map[string]any{}
		for range r.IntN(5) {
			m[str()] = randomPlain(r, depth+1)
		}
		return m
	}
	m := map[string]string{}
	for range r.IntN(4) {
		m[str()] = str()
	}
	return m
}

func TestPlainValuesAreWrittenAsEncodingJSONWritesThem(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 5))
	for i := range 20000 {
		v := randomPlain(r, 0)
		got, ok := appendPlainJSON(nil, v, 0)
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("encoding/json of %#v: %v", v, err)
		}
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("value %d, %#v:\nwritten  %s (ok %v)\nencoding/json %s", i, v, got, ok, want)
		}
		// and what the API wrote before: goccy/go-json, the same bytes
		if g, _ := gojson.Marshal(v); !bytes.Equal(g, want) {
			t.Fatalf("goccy differs from encoding/json for %#v: %s / %s", v, g, want)
		}
	}
}

func TestOtherValuesAreLeftToTheGeneralEncoder(t *testing.T) {
	deep := any("x")
	for range maxPlainDepth + 2 {
		deep = []any{deep}
	}
	for _, v := range []any{struct{ A int }{1}, math.NaN(), math.Inf(1), []any{"a", struct{}{}}, map[string]any{"k": uint8(1)}, deep, json.Number("1")} {
		if _, ok := appendPlainJSON(nil, v, 0); ok {
			t.Errorf("%#v written as plain", v)
		}
	}
}
