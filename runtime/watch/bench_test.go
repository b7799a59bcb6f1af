package watch_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime/watch"
)

// BenchmarkReloadLatency is the time from the write of an e.json to the new instance being
// the one getElement returns, with the default watch options; it reports p50 and p99.
func BenchmarkReloadLatency(b *testing.B) {
	dir := testapp.WriteTree(b, echoApp)
	app := loadTest(b, dir)
	watchApp(b, app, watch.Options{})
	e := mustElement(b, app, "e.Hello")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want := fmt.Sprintf("edit %d", i)
		start := time.Now()
		writeFile(b, dir, "e/Hello/e.json", `{"title": "`+want+`", "type": "testing.Echo"}`)
		for {
			if v, _, _ := e.Property("title"); v == want {
				break
			}
			if time.Since(start) > testwait.Hang {
				b.Fatalf("edit %d never became visible", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
		time.Sleep(5 * time.Millisecond) // edits a person makes are apart
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}
