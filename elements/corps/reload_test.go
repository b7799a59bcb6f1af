package corps_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/runtime/watch"
)

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	return len(entries)
}

// settle waits (up to 15 s) for closed connections and the goroutines of closed servers and
// clients to go, until the counts are within slack of the given ones, and returns them.
func settle(t *testing.T, g0, fd0, slack int) (goroutines, fds int) {
	deadline := time.Now().Add(testwait.Hang)
	for {
		goruntime.GC()
		goroutines, fds = goruntime.NumGoroutine(), openFDs(t)
		if (goroutines <= g0+slack && fds <= fd0+slack) || time.Now().After(deadline) {
			return goroutines, fds
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNoLeakAcross200Reloads edits a corp that runs the built-in emulator 200 times while
// the app watches: every reload starts a new emulator on a new port and must close the
// old one, with its connections and goroutines.
func TestNoLeakAcross200Reloads(t *testing.T) {
	if testing.Short() {
		t.Skip("200 reloads")
	}
	dir, data := t.TempDir(), t.TempDir()
	cfg := func(i int) string {
		return fmt.Sprintf(`{"corpId": "wwleak", "agentId": "%d", "secret": "leak-secret", "simulator": {"members": 20, "departments": 3, "seed": 1}}`, i)
	}
	os.MkdirAll(filepath.Join(dir, "corps/L"), 0o755)
	os.WriteFile(filepath.Join(dir, "corps/L/e.json"), []byte(`{"title": "L", "type": "corps.QywxInnerType"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "corps/L/L.json"), []byte(cfg(0)), 0o644)
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: data, Services: simwire.Services()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	reloaded := make(chan runtime.ReloadEvent, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watcher, err := watch.New(app, watch.Options{Debounce: 5 * time.Millisecond, OnReload: func(ev runtime.ReloadEvent) { reloaded <- ev }})
	if err != nil {
		t.Fatal(err)
	}
	go watcher.Run(ctx)
	call := func() {
		if _, err := app.CallJSON(context.Background(), "corps.L", "initCorp", nil); err != nil {
			t.Fatal(err)
		}
	}
	call()                      // the first instance talks to its emulator: connections open
	time.Sleep(3 * time.Second) // idle connections and their cleaners settle
	g0, fd0 := goruntime.NumGoroutine(), openFDs(t)
	for i := 1; i <= 200; i++ {
		os.WriteFile(filepath.Join(dir, "corps/L/L.json"), []byte(cfg(i)), 0o644)
		select {
		case ev := <-reloaded:
			if ev.Kind != "reload" {
				t.Fatalf("reload %d: %+v", i, ev)
			}
		case <-time.After(testwait.Hang):
			t.Fatalf("reload %d did not happen", i)
		}
		if i%20 == 0 {
			call()
		}
	}
	call()
	g1, fd1 := settle(t, g0, fd0, 5)
	t.Logf("after 200 reloads: goroutines %d → %d, open files %d → %d", g0, g1, fd0, fd1)
	if g1 > g0+5 || fd1 > fd0+5 {
		t.Fatalf("leak: goroutines %d → %d, open files %d → %d", g0, g1, fd0, fd1)
	}
	var agent string
	if v, _, err := mustEntry(t, app).Property("authConfig"); err == nil {
		agent = v.(map[string]any)["agentId"].(string)
	}
	if agent != "200" {
		t.Fatalf("the last edit is not the one serving: agentId %q", agent)
	}
	var members float64
	data2, _, _ := mustEntry(t, app).Property("corpData")
	members = data2.(map[string]any)["members"].(float64)
	if members != 20 {
		t.Fatalf("the org did not survive the reloads: %v members", members)
	}
}

func mustEntry(t *testing.T, app *runtime.App) *runtime.Entry {
	e, err := app.Element("corps.L")
	if err != nil {
		t.Fatal(err)
	}
	return e
}
