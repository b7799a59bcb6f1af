package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/testwait"
)

// hc is the tests' HTTP client: a request that gets no answer within testwait.Hang is a
// hang, and fails its test with what was asked, not the package's timeout.
var hc = &http.Client{Timeout: testwait.Hang}

// server is a jitrt run of the real binary.
type server struct {
	cmd  *exec.Cmd
	base string
	logs *strings.Builder
	mu   *sync.Mutex
}

func startServer(t *testing.T, bin, app, data string) *server {
	t.Helper()
	return startServerArgs(t, bin, app, data)
}

func startServerArgs(t *testing.T, bin, app, data string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run", app, "--data", data, "--addr", "127.0.0.1:0", "--no-watch"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &strings.Builder{}, mu: &sync.Mutex{}}
	sc := bufio.NewScanner(stderr)
	running := false
	for (s.base == "" || !running) && sc.Scan() {
		s.logs.WriteString(sc.Text() + "\n")
		if i := strings.Index(sc.Text(), "addr=http://"); i >= 0 {
			s.base = strings.Fields(sc.Text()[i+5:])[0]
		}
		running = running || strings.Contains(sc.Text(), "running; press Ctrl-C")
	}
	go func() {
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	if s.base == "" {
		cmd.Process.Kill()
		t.Fatalf("jitrt run did not start:\n%s", s.logs.String())
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return s
}

// call posts a method call and returns the status and the body.
func (s *server) call(t *testing.T, element, method, body string) (int, string) {
	resp, err := hc.Post(s.base+"/api/elements/"+element+"/"+method, "application/json", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// logged waits for the server to log a line containing msg, and returns the value of its
// attribute key (key=value, as the text log writes it).
func (s *server) logged(t *testing.T, msg, key string) string {
	t.Helper()
	var value string
	testwait.For(t, fmt.Sprintf("the server to log %q with %s", msg, key), func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, l := range strings.Split(s.logs.String(), "\n") {
			if !strings.Contains(l, msg) {
				continue
			}
			for _, f := range strings.Fields(l) {
				if v, ok := strings.CutPrefix(f, key+"="); ok {
					value = strings.Trim(v, `"`)
					return true
				}
			}
		}
		return false
	})
	return value
}

// memberIDs are the ids of the first n members of corps.C, as listMembers lists them (the
// test fails if it lists fewer).
func (s *server) memberIDs(t *testing.T, n int) []string {
	t.Helper()
	var page struct {
		Members []struct {
			MemberID string `json:"memberId"`
		} `json:"members"`
	}
	status, body := s.call(t, "corps.C", "listMembers", fmt.Sprintf(`{"limit": %d}`, n))
	data(t, status, body, &page)
	if len(page.Members) < n {
		t.Fatalf("%d members listed, want %d: %s", len(page.Members), n, body)
	}
	ids := make([]string, len(page.Members))
	for i, m := range page.Members {
		ids[i] = m.MemberID
	}
	return ids
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("jitrt run exited with %v:\n%s", err, s.logs.String())
	}
}

var ownerApp = map[string]string{
	"app.json":       `{"name": "owners"}`,
	"corps/C/e.json": `{"title": "C", "type": "corps.QywxInnerType"}`,
	"corps/C/C.json": `{"corpId": "wwowner", "agentId": "1", "secret": "owner-secret-1234", "simulator": {"members": 40, "departments": 3, "seed": 5}}`,
}

// signatures reads every signature of the corp with a jitrt exec.
func signatures(t *testing.T, bin, app, data string) map[string]string {
	t.Helper()
	out, err := exec.Command(bin, "exec", app, "--data", data, "-e",
		`const d = app.getElement("corps.C").getLocalCorpData(); Object.fromEntries(d.signatureList.map(s => [s.memberId, s.signature]))`).CombinedOutput()
	if err != nil {
		t.Fatalf("read the signatures: %v\n%s", err, out)
	}
	got := map[string]string{}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return got
}

// Eight jitrt exec processes write at once, twenty times over, beside a jitrt run that
// takes HTTP writes: the state opens every time, and every write that reported success is
// there — over HTTP at once, and after the server restarts.
func TestExecsBesideARunningServerLoseNoWrite(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	app, data := writeTree(t, ownerApp), t.TempDir()
	if out, err := exec.Command(bin, "call", app, "corps.C", "initCorp", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("initCorp: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "exec", app, "--data", data, "-e", `app.getElement("corps.C").getLocalCorpData().userList.map(u => u.memberId)`).Output()
	var members []string
	if err != nil || json.Unmarshal(out, &members) != nil || len(members) != 40 {
		t.Fatalf("members: %v %s", err, out)
	}
	srv := startServer(t, bin, app, data)
	const procs, httpWrites = 8, 4
	rounds := 20
	if testing.Short() {
		rounds = 3 // make test-slow runs the 20
	}
	want := map[string]string{}
	var mu sync.Mutex
	ok := func(member, url string) {
		mu.Lock()
		want[member] = url
		mu.Unlock()
	}
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		for p := 0; p < procs; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				member, url := members[p], fmt.Sprintf("https://sig.example/%d/exec%d.png", r, p)
				out, err := exec.Command(bin, "exec", app, "--data", data, "-e",
					fmt.Sprintf(`console.log("writing"); app.getElement("corps.C").saveUserSignature(%q, %q).success`, member, url)).CombinedOutput()
				if err != nil || string(out) != "writing\ntrue\n" {
					t.Errorf("exec %d of round %d: %v\n%s", p, r, err, out)
					return
				}
				ok(member, url)
			}()
		}
		for h := 0; h < httpWrites; h++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				member, url := members[procs+h], fmt.Sprintf("https://sig.example/%d/http%d.png", r, h)
				if code, body := srv.call(t, "corps.C", "saveUserSignature", fmt.Sprintf(`[%q, %q]`, member, url)); code != 200 {
					t.Errorf("HTTP write %d of round %d: %d %s", h, r, code, body)
					return
				}
				ok(member, url)
			}()
		}
		wg.Wait()
		// every write is live in the server at once
		for member, url := range want {
			if _, body := srv.call(t, "corps.C", "getUserSignature", fmt.Sprintf(`[%q]`, member)); !strings.Contains(body, url) {
				t.Fatalf("round %d: %s's signature over HTTP: %s, want %s", r, member, body, url)
			}
		}
		// and the file opens, beside the server, without the lock
		if out, err := exec.Command(bin, "ls", app, "--data", data).CombinedOutput(); err != nil {
			t.Fatalf("round %d: jitrt ls: %v\n%s", r, err, out)
		}
	}
	if len(want) != procs+httpWrites {
		t.Fatalf("%d members written", len(want))
	}
	srv.stop(t)
	// after the server: a local exec owns the state and finds every write
	if got := signatures(t, bin, app, data); !equalMaps(got, want) {
		t.Fatalf("after the server stopped:\n got %v\nwant %v", got, want)
	}
	// and a restarted server serves them
	srv = startServer(t, bin, app, data)
	for member, url := range want {
		if _, body := srv.call(t, "corps.C", "getUserSignature", fmt.Sprintf(`{"memberId": %q}`, member)); !strings.Contains(body, url) {
			t.Fatalf("after a restart: %s", body)
		}
	}
	srv.stop(t)
}

// With no server, execs that write at once take turns on the state's lock; none fails and
// none loses its write. One that cannot get the lock in time names the holder.
func TestExecsWithoutAServerTakeTurns(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	app, data := writeTree(t, ownerApp), t.TempDir()
	if out, err := exec.Command(bin, "call", app, "corps.C", "initCorp", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("initCorp: %v\n%s", err, out)
	}
	want := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(bin, "exec", app, "--data", data, "-e", fmt.Sprintf(`
				const c = app.getElement("corps.C"); const m = c.getLocalCorpData().userList[%d].memberId;
				c.saveUserSignature(m, "https://sig.example/p%d.png"); m`, p, p)).CombinedOutput()
			var member string
			if err != nil || json.Unmarshal(out, &member) != nil {
				t.Errorf("exec %d: %v\n%s", p, err, out)
				return
			}
			mu.Lock()
			want[member] = fmt.Sprintf("https://sig.example/p%d.png", p)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got := signatures(t, bin, app, data); !equalMaps(got, want) || len(want) != 8 {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// a holder that keeps the lock past --lock-timeout is named
	// (it holds until the test kills it, however slow the machine is to start the next one)
	holder := exec.Command(bin, "exec", app, "--data", data, "--timeout", "10m", "-e", `console.log("holding"); while (true) {}`)
	stdout, _ := holder.StdoutPipe()
	holder.Start()
	defer func() { holder.Process.Kill(); holder.Wait() }()
	bufio.NewReader(stdout).ReadString('\n')
	start := time.Now()
	out, err := exec.Command(bin, "call", app, "corps.C", "getAdmin", "--data", data, "--lock-timeout", "300ms").CombinedOutput()
	wantMsg := fmt.Sprintf("jitrt: state of %s is in use by pid %d (jitrt exec %s)\n", app, holder.Process.Pid, app)
	if err == nil || string(out) != wantMsg {
		t.Fatalf("%v after %s: %q, want %q", err, time.Since(start), out, wantMsg)
	}
	t.Logf("the call gave up after %s (--lock-timeout 300ms)", time.Since(start))
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
