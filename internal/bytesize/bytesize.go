// Package bytesize reads and writes sizes such as "256MiB" or "2GiB", for limits given in
// app.json and on the command line.
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

var units = []struct {
	name string
	size int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3},
	{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

// Parse reads a size: a whole number of bytes, or a number with a unit (KiB, MiB, GiB,
// TiB, or KB, MB, GB, TB in powers of ten; K, M, G, T are binary). It must be at least 1.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.name) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.name)), u.size
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a size such as \"256MiB\" or \"2GiB\"", s)
	}
	n := f * float64(mult)
	if n < 1 || n > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q is out of range (1 byte to 4 EiB)", s)
	}
	return int64(n), nil
}

// Format writes a size in the largest binary unit it is a whole number of.
func Format(n int64) string {
	for _, u := range units[:4] {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// Flag is a size as a command-line flag value (0 when not given).
type Flag struct{ N int64 }

func (f *Flag) String() string {
	if f.N == 0 {
		return ""
	}
	return Format(f.N)
}

// Set parses the flag's value.
func (f *Flag) Set(s string) error {
	n, err := Parse(s)
	if err != nil {
		return err
	}
	f.N = n
	return nil
}

// Type names the flag's kind in help.
func (f *Flag) Type() string { return "size" }

// Human writes a size for people: "1.9 MiB".
func Human(n int64) string {
	for _, u := range units[:4] {
		if n >= u.size {
			return strconv.FormatFloat(float64(n)/float64(u.size), 'f', 1, 64) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}
