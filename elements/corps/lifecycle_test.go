package corps_test

import (
	"context"
	"encoding/json"
	goruntime "runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitrt/jitrt/elements/corps"
	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/runtime"
)

var bigSimApp = map[string]string{
	"corps/Big/e.json":   `{"title": "大企业", "type": "corps.QywxInnerType"}`,
	"corps/Big/Big.json": `{"corpId": "wwbig", "agentId": "1", "secret": "big-secret-1234", "simulator": {"members": 300000, "departments": 5000, "seed": 1}}`,
}

// countingSim is the emulator service, counting the emulators started.
func countingSim(started *atomic.Int64) map[string]any {
	return map[string]any{corps.SimulatorService: corps.StartSimulator(func(ctx context.Context, s corps.SimulatorSpec) (corps.Simulator, error) {
		started.Add(1)
		return simwire.Start(ctx, s)
	})}
}

// jitrt check and jitrt ls build instances to report on them and start nothing: an app
// whose corp runs an emulator of 300,000 members is checked without generating that org,
// opening a port or starting a goroutine.
func TestCheckAndLsStartNothing(t *testing.T) {
	dir := testapp.WriteTree(t, bigSimApp)
	for _, state := range []runtime.StateMode{runtime.StateNone, runtime.StateReadOnly} {
		var started atomic.Int64
		goroutines := goruntime.NumGoroutine()
		var before, after goruntime.MemStats
		goruntime.GC()
		goruntime.ReadMemStats(&before)
		t0 := time.Now()
		app, err := runtime.Load(context.Background(), dir, runtime.Options{State: state, DataDir: t.TempDir(), Services: countingSim(&started)})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(t0)
		goruntime.ReadMemStats(&after)
		if ps := app.Problems(); len(ps) > 0 {
			t.Fatal(ps)
		}
		e, _ := app.Element("corps.Big")
		if s := e.Status(); s.Status != "ok" || !s.Serving {
			t.Fatalf("status %+v", s)
		}
		// the emulator is the corp's only port, index and goroutines
		if started.Load() != 0 {
			t.Fatalf("state mode %d started the emulator", state)
		}
		if n := goruntime.NumGoroutine(); n > goroutines+2 { // BuntDB's background manager
			t.Fatalf("state mode %d: goroutines %d → %d", state, goroutines, n)
		}
		allocated := after.TotalAlloc - before.TotalAlloc
		if allocated > 50<<20 {
			t.Fatalf("state mode %d allocated %d MiB", state, allocated>>20)
		}
		t.Logf("state mode %d: loaded in %s, %.1f MiB allocated", state, took, float64(allocated)/(1<<20))
		// a call on an instance that was not started says so
		_, err = app.CallJSON(context.Background(), "corps.Big", "syncCorp", nil)
		if err == nil || err.Error() != "corp corps.Big was loaded for inspection only and does not call WeCom" {
			t.Fatalf("sync of an unstarted corp: %v", err)
		}
		app.Close()
	}
	// the commands that run the app start it
	var started atomic.Int64
	app, err := runtime.Load(context.Background(), testapp.WriteTree(t, map[string]string{
		"corps/S/e.json": `{"type": "corps.QywxInnerType"}`,
		"corps/S/S.json": `{"corpId": "wwsmall", "agentId": "1", "secret": "small-secret-1234", "simulator": {"members": 5, "departments": 2}}`,
	}), runtime.Options{DataDir: t.TempDir(), Services: countingSim(&started)})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if started.Load() != 1 {
		t.Fatalf("the emulator was started %d times by a loading that owns the state", started.Load())
	}
}

// BenchmarkCheck300k is jitrt check of an app whose corp runs an emulator of 300,000 members.
func BenchmarkCheck300k(b *testing.B) {
	dir := testapp.WriteTree(b, bigSimApp)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		app, err := runtime.Load(context.Background(), dir, runtime.Options{State: runtime.StateNone, Services: simwire.Services()})
		if err != nil {
			b.Fatal(err)
		}
		app.Close()
	}
}

// WeCom counts calls per corp, so every element of a corp shares one limiter, which a
// reload keeps: its budget is neither doubled nor reset.
func TestOneRateLimiterPerCorp(t *testing.T) {
	dir := testapp.WriteTree(t, map[string]string{
		"corps/X/e.json": `{"type": "corps.QywxInnerType"}`,
		"corps/X/X.json": `{"corpId": "wwsame", "agentId": "1", "secret": "same-secret-1234", "simulator": {"members": 30, "departments": 3}}`,
		"corps/Y/e.json": `{"type": "corps.QywxInnerType"}`,
		"corps/Y/Y.json": `{"corpId": "wwsame", "agentId": "2", "secret": "same-secret-1234", "simulator": {"members": 30, "departments": 3}}`,
		"corps/Z/e.json": `{"type": "corps.QywxInnerType"}`,
		"corps/Z/Z.json": `{"corpId": "wwother", "agentId": "1", "secret": "other-secret-1234", "simulator": {"members": 30, "departments": 3}}`,
	})
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(), Services: simwire.Services()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	calls := func() string {
		res, err := app.Host().Run(context.Background(), runtime.Script{Code: `["X", "Y", "Z"].map(n => app.getElement("corps." + n).getClient().calls.lastMinute)`})
		if err != nil {
			t.Fatal(err)
		}
		return string(res.JSON)
	}
	if _, err := app.CallJSON(context.Background(), "corps.X", "syncCorp", nil); err != nil {
		t.Fatal(err)
	}
	after := calls()
	var n []int
	if err := json.Unmarshal([]byte(after), &n); err != nil || n[0] == 0 || n[1] != n[0] || n[2] != 0 {
		t.Fatalf("calls of X, Y, Z after X synced: %s", after)
	}
	testapp.Write(t, dir, "corps/X/X.json", `{"corpId": "wwsame", "agentId": "3", "secret": "same-secret-1234", "simulator": {"members": 30, "departments": 3}}`)
	if evs := app.ReloadElement("corps/X"); evs[0].Kind != "reload" {
		t.Fatal(evs)
	}
	if got := calls(); got != after {
		t.Fatalf("after a reload of X: %s, before %s", got, after)
	}
}
