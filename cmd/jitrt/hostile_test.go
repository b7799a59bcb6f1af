package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/testwait"
)

// jitrt check refuses what an app folder should not hold, each at its path:line:col, reads
// nothing it should not (a device, a FIFO, a file outside the app) and never hangs.
func TestCheckRefusesHostileFiles(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "e.json"), []byte(`{"type": "corps.QywxInnerType"}`), 0o644)
	app := writeTree(t, map[string]string{
		"app.json":               `{"name": "hostile", "titel": "x", "limits": {"runs": 0, "memory": "1KB"}}`,
		"corps/Titel/e.json":     `{"titel": "拼错", "type": "corps.QywxInnerType"}`,
		"corps/Titel/Titel.json": `{"corpId": "ww1", "agentId": "1", "secret": "${JITRT_HOSTILE_SECRET}"}`,
		"corps/Scope/e.json":     `{"type": "corps.QywxInnerType"}`,
		"corps/Scope/Scope.json": `{"corpId": "ww1", "agentId": "1", "secret": "${JITRT_HOSTILE_SECRET}", "scope": [1e300, 4294967296]}`,
		"corps/Seed/e.json":      `{"type": "corps.QywxInnerType"}`,
		"corps/Seed/Seed.json":   `{"corpId": "ww1", "agentId": "1", "secret": "${JITRT_HOSTILE_SECRET}", "simulator": {"seed": 1e20}}`,
		"corps/Text/e.json":      "{\"title\": \"caf\xe9\", \"type\": \"corps.QywxInnerType\"}",
		"corps/Surrogate/e.json": `{"title": "\ud800", "type": "corps.QywxInnerType"}`,
		"corps/Role/e.json":      `{"type": "corps.QywxInnerType"}`,
		"corps/Role/Role.json":   `{"corpId": "ww1", "agentId": "1", "secret": "${JITRT_HOSTILE_SECRET}", "roles": [{"roleId": "a:b"}]}`,
		"tasks/Inf/e.json":       `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.Scope.syncCorp", "timerCfg": {"startTime": "2024-01-01", "repeat": {"repeatType": "minute", "period": 1e400}}}`,
		"tasks/Flood/e.json":     `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.Scope.syncCorp", "timerCfg": {"startTime": "2024-01-01", "repeat": {"repeatType": "minute", "period": 200000000}}}`,
		"tasks/NoMethod/e.json":  `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.Good.syncCrop", "timerCfg": {"startTime": "2024-01-01"}}`,
		"tasks/Private/e.json":   `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.Good.getClient", "timerCfg": {"startTime": "2024-01-01"}}`,
		"corps/Good/e.json":      `{"type": "corps.QywxInnerType"}`,
		"corps/Good/Good.json":   `{"corpId": "ww1", "agentId": "1", "secret": "${JITRT_HOSTILE_SECRET}"}`,
		"corps/Big/e.json":       `{"type": "corps.QywxInnerType"}`,
		"corps/Big/Big.json":     `{"corpId": "ww1", "agentId": "1", "secret": "${JITRT_HOSTILE_SECRET}", "apiBase": "` + strings.Repeat("x", 1<<20) + `"}`,
	})
	for name, target := range map[string]string{"Zero": "/dev/zero", "Outside": filepath.Join(outside, "e.json")} {
		os.MkdirAll(filepath.Join(app, "corps", name), 0o755)
		os.Symlink(target, filepath.Join(app, "corps", name, "e.json"))
	}
	os.MkdirAll(filepath.Join(app, "corps/Fifo"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(app, "corps/Fifo/e.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JITRT_HOSTILE_SECRET", "hostile-secret-value")
	// /dev/zero and a FIFO must not make it read forever: a hang fails, a slow machine not
	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := jitrt(t, "check", app)
		done <- result{code, out, errs}
	}()
	r := testwait.Recv(t, "jitrt check of a tree with /dev/zero and a FIFO", done)
	code, out, errs := r.code, r.out, r.errs
	if code != 1 {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	for _, want := range []string{
		`app.json:1:21: unknown key "titel" (did you mean "title"?)`,
		`app.json:1:54: limits.runs must be a whole number from 1 to 10000, not 0`,
		`app.json:1:67: limits.memory: "1KB" is less than 64MiB`,
		`corps/Big/Big.json:1:1: Big.json is 10486`,
		`corps/Fifo/e.json:1:1: e.json is not a regular file (a named pipe)`,
		`corps/Outside/e.json:1:1: corps/Outside/e.json is a link to ` + filepath.Join(outside, "e.json") + `, outside the app folder`,
		`corps/Role/Role.json:1:93: roles.0.roleId "a:b" must be 1 to 64 letters, digits, _ and -`,
		`corps/Scope/Scope.json:1:82: scope.0 must be a whole number from 1 to 4294967295, not 1e+300`,
		`corps/Scope/Scope.json:1:89: scope.1 must be a whole number from 1 to 4294967295, not 4.294967296e+09`,
		`corps/Seed/Seed.json:1:94: simulator.seed must be a whole number from -2^53 to 2^53, not 1e+20`,
		`corps/Surrogate/e.json:1:11: invalid JSON: invalid string: a \u escape of a high surrogate is not followed by its low surrogate`,
		`corps/Text/e.json:1:11: invalid JSON: invalid string: byte 0xe9 at 4 is not UTF-8 (save the file as UTF-8)`,
		`corps/Titel/e.json:1:2: unknown key "titel" (did you mean "title"?)`,
		`corps/Zero/e.json:1:1: corps/Zero/e.json is a link to /dev/zero, outside the app folder`,
		`tasks/Flood/e.json:1:169: timerCfg.repeat.period 200000000 is more than ten years of minutes (at most 5270400)`,
		`tasks/Inf/e.json:1:169: invalid JSON: number 1e400 is out of range`,
		`tasks/NoMethod/e.json:1:60: func corps.Good.syncCrop: element corps.Good (corps.QywxInnerType) has no method "syncCrop" (did you mean "syncCorp"?)`,
		`tasks/Private/e.json:1:60: func corps.Good.getClient can only be called from the app's scripts, not by a task`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing:\n  %s\nin:\n%s", want, out)
		}
	}
	if strings.Contains(out, "x"+strings.Repeat("x", 100)) {
		t.Error("check printed a file's contents")
	}
}

var bombApp = map[string]string{
	"app.json":          `{"name": "bombs"}`,
	"corps/Bomb/e.json": `{"type": "corps.Meta", "extend": "corps.QywxInnerType", "callable": ["bomb", "slow"]}`,
	"corps/Bomb/index.js": `exports.bomb = function () { const a = [], s = "x".repeat(1e6); for (let i = 0; ; i++) a.push(s + i) };
exports.slow = function () { this.getThirdCorpData(); return "done" };`,
	"corps/B/e.json": `{"type": "corps.Bomb"}`,
	"corps/B/B.json": `{"corpId": "wwbomb", "agentId": "1", "secret": "bomb-secret-1234", "simulator": {"members": 10, "departments": 2}}`,
}

// peakRSS is a process's peak resident memory.
func peakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// Three memory bombs over HTTP at once are stopped with code resource_exhausted while the
// server answers /healthz, its peak memory under its budget and 512 MiB more.
func TestHTTPMemoryBombsLeaveTheServerUp(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	app := writeTree(t, bombApp)
	// a time limit far above what the bombs need to reach the memory ceiling, on any machine
	srv := startServerArgs(t, bin, app, t.TempDir(), "--max-memory", "512MiB", "--timeout", "10m")
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := srv.call(t, "corps.B", "bomb", "[]")
			if code != 507 || !strings.Contains(body, `"code":"resource_exhausted"`) {
				t.Errorf("bomb %d: %d %s", i, code, body)
			}
		}()
	}
	healthy := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		default:
			if resp, err := hc.Get(srv.base + "/healthz"); err == nil && resp.StatusCode == 200 {
				healthy++
				resp.Body.Close()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if resp, err := hc.Get(srv.base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after the bombs: %v", err)
	}
	peak := peakRSS(t, srv.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB; /healthz answered %d times during the bombs", peak>>20, healthy)
	if peak > (512+512)<<20 {
		t.Fatalf("peak RSS %d MiB is over the 512 MiB budget + 512 MiB", peak>>20)
	}
	if healthy == 0 {
		t.Fatal("/healthz never answered while the bombs ran")
	}
	srv.stop(t)
}

// Past the runs it may have at once, the API answers 503 with Retry-After.
func TestBusyServerAnswers503(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	srv := startServerArgs(t, bin, writeTree(t, bombApp), t.TempDir(), "--max-runs", "1", "--log-level", "debug")
	// the run of the first call holds while its fetch is held in the corp's emulator
	sim := srv.logged(t, "WeCom emulator started", "url")
	hold := func(on bool) { simHold(t, sim, "department/list", on) }
	hold(true)
	first := make(chan string)
	go func() {
		_, body := srv.call(t, "corps.B", "slow", "[]")
		first <- body
	}()
	testwait.For(t, "the first call's fetch to reach the emulator", func() bool { return simHeld(t, sim, "department/list") == 1 })
	resp, err := hc.Post(srv.base+"/api/elements/corps.B/slow", "application/json", strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), `"code":"busy"`) {
		t.Fatalf("a call past the cap: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	hold(false)
	if got := testwait.Recv(t, "the first call's answer", first); !strings.Contains(got, `"data":"done"`) {
		t.Fatalf("the first call: %s", got)
	}
	// small things over HTTP: an id out of range is a 400, the scheme of a token any case
	if code, body := srv.call(t, "corps.B", "getDeptMembers", "[1]"); code != 409 || !strings.Contains(body, `"code":"failed_precondition"`) || !strings.Contains(body, "initCorp") {
		t.Fatalf("before initCorp: %d %s", code, body)
	}
	if code, body := srv.call(t, "corps.B", "initCorp", "[]"); code != 200 {
		t.Fatalf("initCorp: %d %s", code, body)
	}
	if code, body := srv.call(t, "corps.B", "getDeptMembers", "[1e300]"); code != 400 {
		t.Fatalf("[1e300]: %d %s", code, body)
	}
	if code, body := srv.call(t, "corps.B", "bulkRegister", `[{"userDict": {"zz:x": {"userid": "zz:x", "name": "X", "department": [1]}}}]`); code != 400 || !strings.Contains(body, `member id \"zz:x\" is not a WeCom userid`) {
		t.Fatalf("an invalid userid: %d %s", code, body)
	}
	srv.stop(t)
}
