package console

import (
	"fmt"
	"testing"
)

func TestChartDrawsTheNewestSyncsOldestFirstToScale(t *testing.T) {
	var rs []report // newest first, as getSyncHistory answers
	for i := 60; i > 0; i-- {
		rs = append(rs, report{StartedAt: fmt.Sprintf("t%02d", i), DurationMs: int64(i * 10), Added: i, Updated: 2 * i})
	}
	for i := range rs {
		rs[i].finish("/b")
	}
	c := newChart(rs)
	var ms []bar
	for _, b := range c.Bars {
		if b.Class == "ms" {
			ms = append(ms, b)
		}
	}
	if len(ms) != chartSyncs || c.MaxMs != 600 {
		t.Fatalf("%d columns, longest %d ms", len(ms), c.MaxMs)
	}
	if ms[0].Href != "/b/syncs/t21" || ms[len(ms)-1].Href != "/b/syncs/t60" {
		t.Fatalf("the columns run %s … %s, want the 40 newest oldest first", ms[0].Href, ms[len(ms)-1].Href)
	}
	if last := ms[len(ms)-1]; last.H != c.Axis-10 || last.Y+last.H != c.Axis {
		t.Fatalf("the longest sync's bar: %+v (axis %d)", last, c.Axis)
	}
	if h := ms[0].H; h != (c.Axis-10)*210/600 {
		t.Fatalf("a 210 ms bar is %d high", h)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].X <= ms[i-1].X || ms[i].H < ms[i-1].H {
			t.Fatalf("column %d is not right of and at least as high as the one before", i)
		}
	}
	if e := newChart(nil); !e.Empty || len(e.Bars) != 0 {
		t.Fatal("no syncs: an empty chart")
	}
	if z := newChart([]report{{StartedAt: "z"}}); len(z.Bars) != 1 || z.Bars[0].H != 1 {
		t.Fatalf("a sync of 0 ms with no change: %+v", z.Bars)
	}
}
