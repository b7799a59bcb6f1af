package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

// TestKillWhileEventsStreamLosesNoEvent: jitrt run takes a stream of change events while a
// client syncs the corp again and again; it is killed (SIGKILL) 30 times at random moments
// and started again on the same state. Every event it answered 200 was stored before the
// answer (a delivery again of one still being stored waits for it), and WeCom delivers
// again what was not answered: in the end the local org equals the emulator's.
func TestKillWhileEventsStreamLosesNoEvent(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills processes")
	}
	bin := buildJitrt(t)
	const token, key = "killToken", "0123456789abcdefghijklmnopqrstuvwxyzABCDEF0"
	var mu sync.Mutex
	target := "http://127.0.0.1:1" // nobody, until jitrt run listens
	sim, err := wecomsim.Start(wecomsim.Options{CorpID: "wwkillevents0001", Secret: "kill-secret", Members: 500, Departments: 20, Seed: 4,
		Callbacks: []wecomsim.Callback{{Token: token, EncodingAESKey: key,
			URLFunc: func() string { mu.Lock(); defer mu.Unlock(); return target + "/wecom/corps.K/callback" }}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	// WeCom's retries, made patient enough to outlast a restart
	sim.SetEventFaults(wecomsim.EventFaults{Retries: 400, RetryInterval: 25 * time.Millisecond})
	app := writeTree(t, map[string]string{
		"app.json":       `{"name": "killevents"}`,
		"corps/K/e.json": `{"type": "corps.QywxInnerType"}`,
		"corps/K/K.json": fmt.Sprintf(`{"corpId": "wwkillevents0001", "agentId": "1", "secret": "kill-secret", "apiBase": %q,
			"callbackToken": %q, "encodingAESKey": %q}`, sim.URL(), token, key),
	})
	data := t.TempDir()
	if out, err := exec.Command(bin, "call", app, "corps.K", "initCorp", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("initCorp: %v\n%s", err, out)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", app, "--data", data, "--addr", "127.0.0.1:0", "--no-watch")
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if i := strings.Index(sc.Text(), "addr=http://"); i >= 0 {
				mu.Lock()
				target = strings.Fields(sc.Text()[i+5:])[0]
				mu.Unlock()
				break
			}
		}
		go io.Copy(io.Discard, stderr)
		return cmd
	}
	cmd := start()
	sim.StartChurn(150)
	// a sync thread beside the events: its whole-org writes hold the events' writes back,
	// so that WeCom retries deliveries still being stored
	stopSync := make(chan struct{})
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		for {
			select {
			case <-stopSync:
				return
			case <-time.After(50 * time.Millisecond):
			}
			mu.Lock()
			u := target + "/api/elements/corps.K/syncCorp"
			mu.Unlock()
			if resp, err := hc.Post(u, "application/json", strings.NewReader("{}")); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	kills := 0
	for i := 0; i < 30; i++ {
		time.Sleep(time.Duration(200+rand.IntN(400)) * time.Millisecond) // a random moment of the stream
		cmd.Process.Kill()
		cmd.Wait()
		kills++
		cmd = start()
	}
	sim.StopChurn()
	close(stopSync)
	<-syncDone
	if !sim.WaitPushed(testwait.Hang) {
		t.Fatalf("not delivered: %+v", sim.PushStats())
	}
	st := sim.PushStats()
	t.Logf("%d kills; %+v", kills, st)
	if st.Failed > 0 || st.Retried == 0 {
		t.Fatalf("deliveries: %+v (a kill should make WeCom retry)", st)
	}
	// apply what is queued, then compare, through the running server
	out, err := exec.Command(bin, "exec", app, "--data", data, "-e", `const c = app.getElement("corps.K"); c.applyEvents();
		c.getLocalCorpData().userList.filter(u => u.status === "active").map(u => u.memberId + "|" + u.name + "|" + u.position + "|" + u.deptIds.join(","))`).CombinedOutput()
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var local []string
	if err := json.Unmarshal(out, &local); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var remote []string
	for _, u := range sim.Org().Users {
		d := make([]string, len(u.Department))
		for i, x := range u.Department {
			d[i] = fmt.Sprint(x)
		}
		remote = append(remote, u.UserID+"|"+u.Name+"|"+u.Position+"|"+strings.Join(d, ","))
	}
	slices.Sort(local)
	slices.Sort(remote)
	if !slices.Equal(local, remote) {
		var diff []string
		for _, l := range local {
			if !slices.Contains(remote, l) {
				diff = append(diff, "local only:    "+l)
			}
		}
		for _, r := range remote {
			if !slices.Contains(local, r) {
				diff = append(diff, "emulator only: "+r)
			}
		}
		if len(diff) > 10 {
			diff = diff[:10]
		}
		t.Fatalf("after %d kills the local org differs from the emulator's (%d vs %d members):\n%s", kills, len(local), len(remote), strings.Join(diff, "\n"))
	}
}
