package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/pgtest"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/callback"
)

const (
	clusterCorp   = "wwcluster0001"
	clusterSecret = "cluster-secret-5678"
	clusterToken  = "clustertoken"
)

var clusterAESKey = base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))[:43]

// clusterApp is one app that three jitrt run share: a corp on an external emulator that
// takes change events, a login, and a task every 2 s.
func clusterApp(simURL string) map[string]string {
	return map[string]string{
		"app.json":       `{"name": "cluster"}`,
		"corps/C/e.json": `{"title": "C", "type": "corps.QywxInnerType"}`,
		"corps/C/C.json": fmt.Sprintf(`{"corpId": %q, "agentId": "1000002", "secret": "${CLUSTER_SECRET}", "apiBase": %q, "callbackToken": %q, "encodingAESKey": %q}`,
			clusterCorp, simURL, clusterToken, clusterAESKey),
		"auths/loginTypes/L/e.json": `{"title": "登录", "type": "auths.loginTypes.QywxInnerType"}`,
		"auths/loginTypes/L/L.json": fmt.Sprintf(`{"corpId": %q, "agentId": "1000002", "corpSecret": "${CLUSTER_SECRET}", "apiBase": %q}`, clusterCorp, simURL),
		"tasks/Tick/e.json": `{"type": "tasks.NormalType", "title": "tick", "enable": 1, "funcType": "Inner",
			"timerCfg": {"startTime": "2000-01-01 00:00:00", "cron": "@every 2s"}}`,
		"tasks/Tick/inner.js": `exports.customFunc = function (info) { return {ok: true}; };`,
	}
}

// loginMember logs member in through the WeCom login element login, as a browser does: the
// login starts on s, the member is picked on the emulator's page, and the login comes back to
// back (s itself, or another replica behind the same load balancer). It returns the session
// cookie ("jitrt_session=…").
func (s *server) loginMember(t *testing.T, login, member string, back *server) string {
	t.Helper()
	status, _, h := s.get(t, "/auth/"+login+"/login")
	if status != 302 {
		t.Fatalf("/login: %d", status)
	}
	loginURL, _ := url.Parse(h.Get("Location"))
	stateCookie := ""
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "jitrt_state" {
			stateCookie = c.Name + "=" + c.Value
		}
	}
	q := loginURL.Query()
	form := url.Values{"appid": {q.Get("appid")}, "redirect_uri": {q.Get("redirect_uri")}, "state": {q.Get("state")}, "userid": {member}}
	sim := loginURL.Scheme + "://" + loginURL.Host
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).PostForm(sim+"/wwlogin/sso/scan", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	to, _ := url.Parse(resp.Header.Get("Location"))
	status, body, h := back.get(t, to.Path+"?"+to.RawQuery, "Cookie", stateCookie)
	if status != 302 {
		t.Fatalf("the login's return: %d %s", status, body)
	}
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "jitrt_session" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// startSim starts jitrt wecom-sim as a process of its own and returns its URL.
func startSim(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"wecom-sim", "--corp-id", clusterCorp, "--secret", clusterSecret}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "wecom-sim listening on ") {
		t.Fatalf("wecom-sim: %q %v", line, err)
	}
	go io.Copy(io.Discard, stdout)
	return strings.Fields(line)[3]
}

// simStats is, by endpoint, how many times the emulator answered each (calls) and how many
// requests it holds now (held).
type simStats struct {
	Calls map[string]int `json:"calls"`
	Held  map[string]int `json:"held"`
}

func readSimStats(t *testing.T, simURL string) simStats {
	t.Helper()
	resp, err := hc.Get(simURL + "/sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st simStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("the emulator's stats: %v", err)
	}
	return st
}

// simCalls is how many times the emulator answered each endpoint.
func simCalls(t *testing.T, simURL string) map[string]int { return readSimStats(t, simURL).Calls }

// data is the data of an API answer.
func data(t *testing.T, status int, body string, v any) {
	t.Helper()
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}

func (s *server) get(t *testing.T, path string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// leading reads the replica's /metrics: whether it leads the corp's sync now, and how
// many it led.
// simHold holds (or releases) the requests to one endpoint of the emulator.
func simHold(t *testing.T, simURL, endpoint string, hold bool) {
	t.Helper()
	resp, err := hc.Post(simURL+"/sim/hold", "application/json", strings.NewReader(fmt.Sprintf(`{"endpoint": %q, "hold": %v}`, endpoint, hold)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("hold %s in the emulator: %v %v", endpoint, err, resp)
	}
	resp.Body.Close()
}

// simHeld is how many requests to endpoint the emulator holds now.
func simHeld(t *testing.T, simURL, endpoint string) int {
	return readSimStats(t, simURL).Held[endpoint]
}

// waiting is how many callers of the replica wait now for the corp's sync leader.
func (s *server) waiting(t *testing.T) int {
	t.Helper()
	_, body, _ := s.get(t, "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, `jitrt_lead_waiting{name="sync:corps.C"} `); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func (s *server) leading(t *testing.T) (now bool, led int) {
	t.Helper()
	_, body, _ := s.get(t, "/metrics")
	for _, line := range strings.Split(body, "\n") {
		switch {
		case strings.HasPrefix(line, `jitrt_leader{name="sync:corps.C"} `):
			now = strings.HasSuffix(line, " 1")
		case strings.HasPrefix(line, `jitrt_leads_total{name="sync:corps.C",role="led"} `):
			led, _ = strconv.Atoi(strings.Fields(line)[1])
		}
	}
	return now, led
}

// Three jitrt run on one app and one PostgreSQL, as behind a load balancer: 30 concurrent
// syncs spread over them fetch the org once per round; a leader killed mid-sync leaves
// the old org and the next call syncs; a task every 2 s runs once per due time across
// them; a member who logs in through one is known to the others (the login itself may
// come back to another); an event posted to one is read through another within 200 ms.
func TestThreeReplicasShareOneDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("three servers, a PostgreSQL and a 30 s task window: make test-slow")
	}
	dbURL := pgtest.Start(t)
	bin := buildJitrt(t)
	simURL := startSim(t, bin, "--members", "300", "--departments", "6", "--seed", "11")
	app := writeTree(t, clusterApp(simURL))
	t.Setenv("CLUSTER_SECRET", clusterSecret)
	const lb = "http://127.0.0.1:1" // the address users reach the replicas at
	start := func() *server {
		return startServerArgs(t, bin, app, t.TempDir(), "--store", dbURL, "--public-url", lb, "--log-level", "debug")
	}
	replicas := []*server{start(), start(), start()}
	windowStart := time.Now()

	for i, r := range replicas {
		if _, body, _ := r.get(t, "/metrics"); !strings.Contains(body, `jitrt_leader{name="sync:corps.C"} 0`) {
			t.Fatalf("replica %d's /metrics does not say it does not lead the corp's sync", i)
		}
	}
	status, body := replicas[0].call(t, "corps.C", "initCorp", "{}")
	if status != 200 {
		t.Fatalf("initCorp: %d %s", status, body)
	}

	// 30 syncs at once over the three, three rounds: one fetch of the whole org each. The
	// leader's fetch is held in the emulator until the 29 others wait for it: they overlap
	// by construction.
	for round := range 3 {
		before := simCalls(t, simURL)["department/list"]
		simHold(t, simURL, "department/list", true)
		var wg sync.WaitGroup
		reports := make([]string, 30)
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, body := replicas[i%3].call(t, "corps.C", "syncCorp", "{}")
				var rep struct {
					StartedAt string `json:"startedAt"`
				}
				data(t, status, body, &rep)
				reports[i] = rep.StartedAt
			}()
		}
		testwait.For(t, "one sync to fetch and 29 callers to wait for it", func() bool {
			n := 0
			for _, r := range replicas {
				n += r.waiting(t)
			}
			return n == 29 && simHeld(t, simURL, "department/list") == 1
		})
		simHold(t, simURL, "department/list", false)
		wg.Wait()
		if n := simCalls(t, simURL)["department/list"] - before; n != 1 {
			t.Fatalf("round %d: 30 concurrent syncs over three replicas fetched the org %d times", round, n)
		}
		if distinct := slices.Compact(slices.Sorted(slices.Values(reports))); len(distinct) != 1 {
			t.Fatalf("round %d: the callers got different reports: %v", round, distinct)
		}
	}
	// WeCom's limits are per corp: the replicas count their calls together, so a process
	// beside them sees the calls the leaders made (its own count would be 0)
	code, out, errs := jitrt(t, "exec", app, "--store", dbURL, "--data", t.TempDir(), "-e", `app.getElement("corps.C").getClient().calls.lastHour`)
	used, _ := strconv.Atoi(strings.TrimSpace(out))
	if fetched := simCalls(t, simURL)["department/list"]; code != 0 || fetched < 3 || used < fetched {
		t.Fatalf("the calls the replicas made of the corp's budget, as another process reads them: %q (exit %d, %s); department/list alone was called %d times", out, code, errs, fetched)
	}
	led := 0
	for _, r := range replicas {
		_, n := r.leading(t)
		led += n
	}
	if led != 3 { // one leader a round (initCorp is not a sync of the leader's)
		t.Fatalf("the replicas' /metrics count %d syncs led in 3 rounds", led)
	}

	// SIGKILL of the leader mid-sync: the old org stays, and the next call syncs
	member := readMember(t, replicas[1], "")
	if out, err := exec.Command(bin, "wecom-sim", "ctl", simURL, "update-user", "userid="+member.UserID, "position=杀后").CombinedOutput(); err != nil {
		t.Fatalf("ctl: %v %s", err, out)
	}
	victim := replicas[0]
	simHold(t, simURL, "department/list", true) // the sync is mid-fetch when it is killed
	go func() {                                 // its answer never comes
		if resp, err := hc.Post(victim.base+"/api/elements/corps.C/syncCorp", "application/json", strings.NewReader("{}")); err == nil {
			resp.Body.Close()
		}
	}()
	testwait.For(t, "the replica to lead the sync and fetch", func() bool {
		now, _ := victim.leading(t)
		return now && simHeld(t, simURL, "department/list") == 1
	})
	victim.cmd.Process.Signal(syscall.SIGKILL)
	victim.cmd.Wait()
	simHold(t, simURL, "department/list", false)
	if m := readMember(t, replicas[1], member.UserID); m.Position == "杀后" {
		t.Fatal("a sync killed mid-way wrote its change")
	}
	status, body = replicas[2].call(t, "corps.C", "syncCorp", "{}")
	if status != 200 {
		t.Fatalf("the sync after the kill: %d %s", status, body)
	}
	if m := readMember(t, replicas[1], member.UserID); m.Position != "杀后" {
		t.Fatalf("after the next sync the member's position is %q", m.Position)
	}
	if now, n := replicas[2].leading(t); now || n == 0 {
		t.Fatalf("the replica that synced after the kill: leading now %v, led %d", now, n)
	}
	replicas[0] = start() // the killed machine comes back

	// a login started on A comes back to B (the load balancer's choice) and the session is
	// known to all three
	a, b := replicas[0], replicas[1]
	session := a.loginMember(t, "auths.loginTypes.L", member.UserID, b)
	for i, r := range replicas {
		status, body, _ := r.get(t, "/api/me", "Cookie", session)
		if status != 200 || !strings.Contains(body, member.UserID) {
			t.Fatalf("replica %d does not know the session: %d %s", i, status, body)
		}
	}

	// events posted to B, read through C
	crypto, err := callback.New(clusterToken, clusterAESKey, clusterCorp)
	if err != nil {
		t.Fatal(err)
	}
	c := replicas[2]
	// post sends an event to a replica as WeCom does (a delivery repeated is the same body)
	post := func(to *server, env []byte, ts, nonce, sig string) {
		t.Helper()
		resp, err := hc.Post(fmt.Sprintf("%s/wecom/corps.C/callback?msg_signature=%s&timestamp=%s&nonce=%s", to.base, sig, ts, nonce),
			"text/xml", strings.NewReader(string(env)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("an event posted to %s: %d %s", to.base, resp.StatusCode, body)
		}
	}
	event := func(position, nonce string) (env []byte, ts, sig string) {
		now := time.Now()
		u := member
		u.Position = position
		enc, _ := crypto.Encrypt(callback.UserEvent(clusterCorp, callback.UpdateUser, now.Unix(), &member, &u, false).Marshal())
		env, _ = xml.Marshal(callback.Envelope{ToUserName: callback.Text{V: clusterCorp}, Encrypt: callback.Text{V: enc}})
		ts = fmt.Sprint(now.Unix())
		return env, ts, crypto.Sign(ts, nonce, enc)
	}
	var lags []time.Duration
	for i := range 100 {
		u := member
		u.Position = fmt.Sprintf("事件%d", i)
		env, ts, sig := event(u.Position, fmt.Sprint(i))
		post(b, env, ts, fmt.Sprint(i), sig)
		posted := time.Now()
		for {
			if readMember(t, c, member.UserID).Position == u.Position {
				break
			}
			if time.Since(posted) > testwait.Hang {
				t.Fatalf("event %d never reached C", i)
			}
			time.Sleep(time.Millisecond)
		}
		lags = append(lags, time.Since(posted))
	}
	slices.Sort(lags)
	t.Logf("an event posted to B, read through C: p50 %s, p99 %s, max %s", lags[50].Round(time.Microsecond), lags[98].Round(time.Microsecond), lags[99].Round(time.Microsecond))
	// a figure, not a guarantee: a busy machine is slower (the benchmarks measure it)

	// WeCom delivers one event again, to another replica: it is stored once
	skipped := func(r *server) int {
		_, body, _ := r.get(t, "/metrics")
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, `jitrt_element_operations_total{element="corps.C",op="callback_skipped"`) {
				n, _ := strconv.Atoi(strings.Fields(line)[1])
				return n
			}
		}
		return 0
	}
	before := skipped(c)
	env, ts, sig := event("重复投递", "again")
	post(b, env, ts, "again", sig)
	post(c, env, ts, "again", sig)
	if skipped(c) != before+1 {
		t.Fatal("an event WeCom delivered again to another replica was stored twice")
	}

	// what one replica writes, the next request to another reads: admins set on A, read
	// on B, 50 times in a row (before CatchUpIfBehind, about one read in a hundred was stale)
	status, body = a.call(t, "corps.C", "listMembers", `{"limit": 50}`)
	var page struct {
		Members []struct {
			MemberID string `json:"memberId"`
		} `json:"members"`
	}
	data(t, status, body, &page)
	for i, m := range page.Members {
		if m.MemberID == member.UserID {
			continue
		}
		if status, body := replicas[i%3].call(t, "corps.C", "setAdmin", fmt.Sprintf(`[[%q]]`, m.MemberID)); status != 200 {
			t.Fatalf("setAdmin: %d %s", status, body)
		}
		if _, body := replicas[(i+1)%3].call(t, "corps.C", "getAdmin", "{}"); !strings.Contains(body, m.MemberID) {
			t.Fatalf("admin %s set on replica %d, replica %d's next answer: %s", m.MemberID, i%3, (i+1)%3, body)
		}
	}
	// a member taken offline on A has no session on C from the next request on
	if status, body := a.call(t, "corps.C", "offlineMember", fmt.Sprintf(`[[%q]]`, member.UserID)); status != 200 {
		t.Fatalf("offlineMember on A: %d %s", status, body)
	}
	if status, _, _ := c.get(t, "/api/me", "Cookie", session); status != 401 {
		t.Fatalf("C still knows the session of a member taken offline on A: %d", status)
	}

	// the task: every due time of the 30 s after the replicas started ran once
	time.Sleep(time.Until(windowStart.Add(31 * time.Second)))
	status, body = c.call(t, "tasks.Tick", "getRunHistory", "{}")
	var runs []struct {
		Due string `json:"due"`
	}
	data(t, status, body, &runs)
	var dues []time.Time
	for _, r := range runs {
		at, err := time.Parse(time.RFC3339Nano, r.Due)
		if err != nil {
			continue // a manual run
		}
		if !at.Before(windowStart) && at.Before(windowStart.Add(30*time.Second)) {
			dues = append(dues, at)
		}
	}
	slices.SortFunc(dues, func(x, y time.Time) int { return x.Compare(y) })
	if len(slices.CompactFunc(slices.Clone(dues), time.Time.Equal)) != len(dues) {
		t.Fatalf("a due time ran twice: %v", dues)
	}
	t.Logf("the task every 2 s ran %d times in 30 s across three replicas (one killed and started again)", len(dues))
	if len(dues) < 14 || len(dues) > 16 {
		t.Fatalf("the task every 2 s ran %d times in 30 s, want 15 ± 1: %v", len(dues), dues)
	}
	for _, r := range replicas {
		r.stop(t)
	}
}

// readMember reads a member through a replica's API ("" for the first active one).
func readMember(t *testing.T, s *server, id string) wecom.User {
	t.Helper()
	if id == "" {
		status, body := s.call(t, "corps.C", "listMembers", `{"limit": 1}`)
		var page struct {
			Members []struct {
				MemberID string `json:"memberId"`
			} `json:"members"`
		}
		data(t, status, body, &page)
		if len(page.Members) == 0 {
			t.Fatal("no member")
		}
		id = page.Members[0].MemberID
	}
	status, body := s.call(t, "corps.C", "getMember", fmt.Sprintf(`{"memberId": %q}`, id))
	var m struct {
		MemberID   string  `json:"memberId"`
		Name       string  `json:"name"`
		Position   string  `json:"position"`
		DeptIDs    []int64 `json:"deptIds"`
		MainDeptID int64   `json:"mainDeptId"`
	}
	data(t, status, body, &m)
	return wecom.User{UserID: m.MemberID, Name: m.Name, Position: m.Position, Department: m.DeptIDs, MainDepartment: m.MainDeptID}
}
