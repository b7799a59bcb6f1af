package corps_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
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
// the app watches, its secret each time: every reload starts a new emulator (of the same
// org) on a new port and must close the old one, with its connections and goroutines.
func TestNoLeakAcross200Reloads(t *testing.T) {
	if testing.Short() {
		t.Skip("200 reloads")
	}
	dir, data := t.TempDir(), t.TempDir()
	cfg := func(i int) string {
		return fmt.Sprintf(`{"corpId": "wwleak", "agentId": "%d", "secret": "leak-secret-%d", "simulator": {"members": 20, "departments": 3, "seed": 1}}`, i, i)
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

// An edit of a simulated corp that leaves its simulator settings alone (its title, its
// roles) keeps the emulator: the same port, the same org, a change made in it included.
// An edit of the settings starts a new one, and the old one closes.
func TestAnEditKeepsTheEmulatorUnlessItsSettingsChange(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	write := func(rel, content string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := func(seed int) string {
		return fmt.Sprintf(`{"corpId": "wwkeep", "agentId": "1", "secret": "keep-secret", "simulator": {"members": 20, "departments": 3, "seed": %d}}`, seed)
	}
	write("corps/K/e.json", `{"title": "K", "type": "corps.QywxInnerType"}`)
	write("corps/K/K.json", cfg(1))
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: data, Services: simwire.Services()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	apiBase := func() string {
		info, err := app.CallJSON(context.Background(), "corps.K", "getCorpInfo", nil)
		if err != nil {
			t.Fatal(err)
		}
		return info.(map[string]any)["apiBase"].(string)
	}
	if _, err := app.CallJSON(context.Background(), "corps.K", "initCorp", nil); err != nil {
		t.Fatal(err)
	}
	before := apiBase()
	// a member added in the emulator, as wecom-sim ctl does
	resp, err := http.Post(before+"/sim/change", "application/json", strings.NewReader(`{"op": "add_user", "user": {"userid": "kept", "name": "留下", "department": [1]}}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the change: %v %v", resp, err)
	}
	resp.Body.Close()

	write("corps/K/e.json", `{"title": "K 改名", "type": "corps.QywxInnerType"}`)
	if evs := app.ReloadElement("corps/K"); evs[0].Kind != "reload" {
		t.Fatalf("the reload: %+v", evs[0])
	}
	if after := apiBase(); after != before {
		t.Fatalf("an edit of the title moved the emulator from %s to %s", before, after)
	}
	if _, err := app.CallJSON(context.Background(), "corps.K", "syncCorp", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := app.CallJSON(context.Background(), "corps.K", "getMember", []any{"kept"}); err != nil {
		t.Fatalf("the member added in the emulator before the edit: %v", err)
	}

	write("corps/K/K.json", cfg(2))
	app.ReloadElement("corps/K")
	if after := apiBase(); after == before {
		t.Fatal("an edit of the simulator settings kept the old emulator")
	}
	testwait.For(t, "the old emulator to close", func() bool {
		_, err := http.Get(before + "/cgi-bin/gettoken")
		return err != nil
	})
}
