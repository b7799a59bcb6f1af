package org

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sortRecords sorts as a plain sort does, whatever the ids (repeated, all equal, sorted,
// reversed), in both of its ways.
func TestSortRecordsSortsById(t *testing.T) {
	for _, n := range []int{0, 1, 7, 49_999, 120_000} {
		for _, shape := range []string{"random", "sorted", "reversed", "equal", "few"} {
			recs := make([]memberRec, n)
			for i := range recs {
				var id string
				switch shape {
				case "random":
					id = fmt.Sprintf("u%08d", rand.IntN(1<<30))
				case "sorted":
					id = fmt.Sprintf("u%08d", i)
				case "reversed":
					id = fmt.Sprintf("u%08d", n-i)
				case "equal":
					id = "same"
				case "few":
					id = fmt.Sprintf("u%d", rand.IntN(3))
				}
				recs[i] = memberRec{id: id, tail: fmt.Sprint(i)}
			}
			want := slices.Clone(recs)
			slices.SortStableFunc(want, func(a, b memberRec) int { return strings.Compare(a.id, b.id) })
			sortRecords(recs)
			if !slices.IsSortedFunc(recs, func(a, b memberRec) int { return strings.Compare(a.id, b.id) }) {
				t.Fatalf("%d %s: not sorted", n, shape)
			}
			seen := map[string]int{}
			for _, r := range want {
				seen[r.tail]++
			}
			for _, r := range recs {
				seen[r.tail]--
			}
			for k, v := range seen {
				if v != 0 {
					t.Fatalf("%d %s: record %s lost or doubled", n, shape, k)
				}
			}
		}
	}
}
