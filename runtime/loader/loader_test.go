package loader

import (
	"strings"
	"testing"
)

func TestInterpolation(t *testing.T) {
	env := map[string]string{"GREETING": "你好", "EMPTY": ""}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, c := range []struct{ in, want, err string }{
		{"${GREETING}", "你好", ""},
		{"pre-${GREETING}-post", "pre-你好-post", ""},
		{"${MISSING:-fallback}", "fallback", ""},
		{"${EMPTY:-fallback}", "fallback", ""},
		{"${EMPTY}", "", ""},
		{"$${GREETING}", "${GREETING}", ""},
		{"${MISSING}", "", "environment variable MISSING is not set"},
		{"${bad name}", "", "invalid environment variable name"},
		{"${GREETING", "", "unclosed"},
		{"no vars $ here", "no vars $ here", ""},
	} {
		got, err := expand(c.in, getenv)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
