package console

import (
	"fmt"
	"slices"
)

// chart is the sync history drawn as SVG: one column per sync, oldest on the left, its
// duration above the axis and its member changes (added, updated, offlined) stacked below.
type chart struct {
	Width, Height, Axis int
	Bars                []bar
	MaxMs, MaxChanges   int64
	Empty               bool
}

type bar struct {
	X, Y, W, H int
	Class      string
	Title      string
	Href       string
}

// chartSyncs is how many syncs the chart shows.
const chartSyncs = 40

func newChart(reports []report) chart {
	c := chart{Width: 720, Height: 220, Axis: 110}
	rs := slices.Clone(reports[:min(len(reports), chartSyncs)])
	slices.Reverse(rs) // oldest first
	if len(rs) == 0 {
		c.Empty = true
		return c
	}
	for _, r := range rs {
		c.MaxMs = max(c.MaxMs, r.DurationMs, 1)
		c.MaxChanges = max(c.MaxChanges, int64(r.Added+r.Updated+r.Offlined), 1)
	}
	step := c.Width / chartSyncs
	w := step - 4
	up, down := c.Axis-10, c.Height-c.Axis-10
	for i, r := range rs {
		x := i*step + 2
		h := max(int(int64(up)*r.DurationMs/c.MaxMs), 1)
		c.Bars = append(c.Bars, bar{X: x, Y: c.Axis - h, W: w, H: h, Class: "ms", Href: r.Href,
			Title: fmt.Sprintf("%s: %d ms, +%d ~%d -%d", r.Started, r.DurationMs, r.Added, r.Updated, r.Offlined)})
		y := c.Axis + 1
		for _, part := range []struct {
			n     int
			class string
		}{{r.Added, "added"}, {r.Updated, "updated"}, {r.Offlined, "offlined"}} {
			if part.n == 0 {
				continue
			}
			h := max(int(int64(down)*int64(part.n)/c.MaxChanges), 1)
			c.Bars = append(c.Bars, bar{X: x, Y: y, W: w, H: h, Class: part.class, Href: r.Href,
				Title: fmt.Sprintf("%s: %d %s", r.Started, part.n, part.class)})
			y += h
		}
	}
	return c
}
