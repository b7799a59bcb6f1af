package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitrt/jitrt/api"
	"github.com/jitrt/jitrt/elements/auths"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

const (
	loginSecret = "login-corp-secret-5d6e7f8a9b"
	loginCorpID = "wwlogintest000001"
	loginName   = "auths.loginTypes.L"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loginEnv is a served app with a corp (on an emulator the test controls) and a login.
type loginEnv struct {
	t    testing.TB
	sim  *wecomsim.Server
	app  *runtime.App
	url  string
	logs *syncBuffer
	stop func()
	dir  string // the app's folder
}

type loginOpts struct {
	token   string // JITRT_API_TOKEN
	appJSON string
	login   string // extra keys of the login's config
	corp    string // extra keys of the corp's config
	// members and depts size the emulator's org (60 and 8 when zero)
	members, depts int
}

func startLogin(t testing.TB, o loginOpts) *loginEnv {
	t.Helper()
	if o.members == 0 {
		o.members, o.depts = 60, 8
	}
	sim, err := wecomsim.Start(wecomsim.Options{CorpID: loginCorpID, Secret: loginSecret, Members: o.members, Departments: o.depts, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	if o.appJSON == "" {
		o.appJSON = `{"name": "logintest", "permissions": {"corps.C.getAdmin": ["member", "admin"], "corps.C.setAdmin": ["admin"]}}`
	}
	files := map[string]string{
		"app.json":                  o.appJSON,
		"corps/C/e.json":            `{"title": "测试企业", "type": "corps.QywxInnerType"}`,
		"corps/C/C.json":            fmt.Sprintf(`{"corpId": %q, "agentId": "1000002", "secret": "${LOGIN_SECRET}", "apiBase": %q%s}`, loginCorpID, sim.URL(), o.corp),
		"auths/loginTypes/L/e.json": `{"title": "企业微信登录", "type": "auths.loginTypes.QywxInnerType"}`,
		"auths/loginTypes/L/L.json": fmt.Sprintf(`{"corpId": %q, "agentId": "1000002", "corpSecret": "${LOGIN_SECRET}"%s}`, loginCorpID, o.login),
	}
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	logs := &syncBuffer{}
	var served string
	var mu sync.Mutex
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(), Service: true, Getenv: withEnv("LOGIN_SECRET", loginSecret),
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Services: map[string]any{auths.PublicURLService: func() string { mu.Lock(); defer mu.Unlock(); return served }}})
	if err != nil {
		t.Fatal(err)
	}
	if ps := app.Problems(); len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	srv, err := api.New(app, api.Options{Addr: "127.0.0.1:0", Token: o.token})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	served = "http://" + srv.Addr()
	mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	e := &loginEnv{t: t, sim: sim, app: app, url: served, logs: logs, dir: dir}
	e.stop = func() { cancel(); <-done; app.Close() }
	t.Cleanup(e.stop)
	if _, err := app.CallJSON(context.Background(), "corps.C", "initCorp", nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// browser is an HTTP client with cookies that does not follow redirects by itself.
type browser struct {
	t   testing.TB
	c   *http.Client
	ua  string
	jar *cookiejar.Jar
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status  int
	loc     string
	body    string
	cookies []string
}

func (b *browser) do(method, u string, form url.Values, header ...string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.ua != "" {
		req.Header.Set("User-Agent", b.ua)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, loc: resp.Header.Get("Location"), body: string(raw), cookies: resp.Header.Values("Set-Cookie")}
}

func (b *browser) get(u string) page { return b.do("GET", u, nil) }

// startLogin goes to the app's login and on to the emulator's page; it returns the
// emulator page's URL (with the redirect and state WeCom got).
func (b *browser) startLogin(e *loginEnv) *url.URL {
	b.t.Helper()
	p := b.get(e.url + "/auth/" + loginName + "/login")
	if p.status != 302 {
		b.t.Fatalf("/login: %d %s", p.status, p.body)
	}
	u, _ := url.Parse(p.loc)
	return u
}

// scan picks a member on the emulator's page (as for a QR scan) and returns where the
// emulator sends the browser (the app's callback).
func (b *browser) scan(login *url.URL, form url.Values) string {
	b.t.Helper()
	q := login.Query()
	form.Set("appid", q.Get("appid"))
	form.Set("redirect_uri", q.Get("redirect_uri"))
	form.Set("state", q.Get("state"))
	p := b.do("POST", login.Scheme+"://"+login.Host+"/wwlogin/sso/scan", form)
	if p.status != 302 {
		b.t.Fatalf("scan: %d %s", p.status, p.body)
	}
	return p.loc
}

// loginAs logs the browser in as a member and returns the callback's page.
func (b *browser) loginAs(e *loginEnv, member string) page {
	b.t.Helper()
	return b.get(b.scan(b.startLogin(e), url.Values{"userid": {member}}))
}

// me is /api/me.
func (b *browser) me(e *loginEnv) (int, map[string]any) {
	p := b.get(e.url + "/api/me")
	var out map[string]any
	json.Unmarshal([]byte(p.body), &out)
	return p.status, out
}

func (b *browser) sessionToken(e *loginEnv) string {
	u, _ := url.Parse(e.url)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "jitrt_session" {
			return c.Value[strings.LastIndexByte(c.Value, '.')+1:]
		}
	}
	return ""
}

func (e *loginEnv) js(code string) any {
	e.t.Helper()
	res, err := e.app.Host().Run(context.Background(), runtime.Script{Code: code})
	if err != nil {
		e.t.Fatalf("%s: %v", code, err)
	}
	var v any
	json.Unmarshal(res.JSON, &v)
	return v
}

func TestBrowserLoginSetsASessionAndLandsOnMe(t *testing.T) {
	e := startLogin(t, loginOpts{})
	member := e.sim.Org().Users[4]
	e.js(fmt.Sprintf(`app.getElement("corps.C").setUserRole(%q, ["member"])`, member.UserID))
	b := newBrowser(t)
	login := b.startLogin(e)
	if login.Path != "/wwlogin/sso/login" || login.Query().Get("login_type") != "CorpApp" || login.Query().Get("appid") != loginCorpID ||
		login.Query().Get("redirect_uri") != e.url+"/auth/"+loginName+"/callback" || len(login.Query().Get("state")) < 32 {
		t.Fatalf("the QR login URL: %s", login)
	}
	cb := b.get(b.scan(login, url.Values{"userid": {member.UserID}}))
	if cb.status != 302 || cb.loc != "/me" {
		t.Fatalf("callback: %d %q %s", cb.status, cb.loc, cb.body)
	}
	var session string
	for _, c := range cb.cookies {
		if strings.HasPrefix(c, "jitrt_session=") {
			session = c
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=28"} {
		if !strings.Contains(session, attr) {
			t.Errorf("session cookie %q lacks %s", session, attr)
		}
	}
	if strings.Contains(session, "Secure") {
		t.Errorf("a cookie over http is marked Secure: %q", session)
	}
	token := b.sessionToken(e)
	if len(token) < 43 {
		t.Fatalf("session token %q is under 256 bits", token)
	}
	if p := b.get(e.url + "/me"); p.status != 200 || !strings.Contains(p.body, "/api/me") {
		t.Fatalf("/me: %d", p.status)
	}
	status, me := b.me(e)
	data, _ := me["data"].(map[string]any)
	if status != 200 || data["memberId"] != member.UserID || data["member"].(map[string]any)["name"] != member.Name {
		t.Fatalf("/api/me: %d %v", status, me)
	}
	if roles := fmt.Sprint(data["roles"]); !strings.Contains(roles, "roleId:member") || !strings.Contains(roles, "direct") {
		t.Fatalf("roles: %v", roles)
	}
	// the state file keeps the token's hash, never the token
	state, _ := os.ReadFile(filepath.Join(e.app.DataDir(), "state.db"))
	if bytes.Contains(state, []byte(token)) {
		t.Fatal("the session token is in the state file")
	}
	// logout
	if p := b.do("POST", e.url+"/auth/logout", nil, "X-Jitrt-Request", "1"); p.status != 200 {
		t.Fatalf("logout: %d %s", p.status, p.body)
	}
	if status, _ := b.me(e); status != 401 {
		t.Fatalf("after logout /api/me is %d", status)
	}
	// the token is dead for good, not only the cookie
	if _, err := e.app.CallJSON(context.Background(), loginName, "getSession", map[string]any{"token": token}); err == nil {
		t.Fatal("a logged-out token still has a session")
	}
	// no secret, token, code or state in any log line
	logs := e.logs.String()
	for what, s := range map[string]string{"secret": loginSecret, "token": token, "state": login.Query().Get("state")} {
		if strings.Contains(logs, s) {
			t.Errorf("the %s is in the log", what)
		}
	}
	if !strings.Contains(logs, "member logged in") {
		t.Fatal("the log says nothing of the login (is it captured?)")
	}
}

func TestTheWeComClientIsSentToTheInClientLogin(t *testing.T) {
	e := startLogin(t, loginOpts{})
	b := newBrowser(t)
	b.ua = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 wxwork/4.1.22 MicroMessenger/7.0.1"
	u := b.startLogin(e)
	if u.Path != "/connect/oauth2/authorize" || u.Fragment != "wechat_redirect" || u.Query().Get("scope") != "snsapi_base" ||
		u.Query().Get("response_type") != "code" || u.Query().Get("agentid") != "1000002" {
		t.Fatalf("in-client login URL: %s", u)
	}
	// the documented parameter order
	if !strings.HasPrefix(u.RawQuery, "appid=") || strings.Index(u.RawQuery, "redirect_uri=") > strings.Index(u.RawQuery, "state=") {
		t.Fatalf("parameter order: %s", u.RawQuery)
	}
}

func TestLoginRefusalsAreClearAndLeaveNoSession(t *testing.T) {
	e := startLogin(t, loginOpts{})
	users := e.sim.Org().Users
	cbURL := e.url + "/auth/" + loginName + "/callback"
	noSession := func(b *browser, what string) {
		t.Helper()
		if status, _ := b.me(e); status != 401 {
			t.Fatalf("%s: /api/me is %d, want 401", what, status)
		}
	}

	t.Run("wrong or missing state", func(t *testing.T) {
		b := newBrowser(t)
		login := b.startLogin(e)
		code, _ := e.sim.IssueCode(users[1].UserID, login.Query().Get("redirect_uri"))
		for _, q := range []string{"code=" + code, "code=" + code + "&state=0123456789abcdef0123456789abcdef", "code=" + code + "&state="} {
			if p := b.get(cbURL + "?" + q); p.status != 400 || !strings.Contains(p.body, "state does not match") {
				t.Fatalf("%s: %d %s", q, p.status, p.body)
			}
		}
		// the right state from another browser (no state cookie there)
		other := newBrowser(t)
		if p := other.get(cbURL + "?code=" + code + "&state=" + login.Query().Get("state")); p.status != 400 {
			t.Fatalf("another browser's state: %d", p.status)
		}
		noSession(b, "bad state")
		noSession(other, "another browser's state")
	})

	t.Run("a code used twice", func(t *testing.T) {
		b := newBrowser(t)
		login := b.startLogin(e)
		cb := b.scan(login, url.Values{"userid": {users[2].UserID}})
		if p := b.get(cb); p.status != 302 {
			t.Fatalf("first use: %d %s", p.status, p.body)
		}
		used, _ := url.Parse(cb)
		b2 := newBrowser(t)
		login2 := b2.startLogin(e)
		p := b2.get(cbURL + "?code=" + used.Query().Get("code") + "&state=" + login2.Query().Get("state"))
		if p.status != 401 || !strings.Contains(p.body, "40029") {
			t.Fatalf("second use: %d %s", p.status, p.body)
		}
		noSession(b2, "a used code")
		// and through the method
		_, err := e.app.CallJSON(context.Background(), loginName, "getLoginCode", map[string]any{"authCode": used.Query().Get("code")})
		if err == nil || !strings.Contains(err.Error(), "used already") {
			t.Fatalf("getLoginCode with a used code: %v", err)
		}
	})

	t.Run("an expired code", func(t *testing.T) {
		b := newBrowser(t)
		login := b.startLogin(e)
		cb := b.scan(login, url.Values{"userid": {users[3].UserID}})
		e.sim.AgeCodes(wecomsim.CodeTTL + time.Second)
		if p := b.get(cb); p.status != 401 || !strings.Contains(p.body, "over 5 minutes old") {
			t.Fatalf("expired: %d %q", p.status, p.body)
		}
		noSession(b, "an expired code")
	})

	t.Run("a non-member", func(t *testing.T) {
		b := newBrowser(t)
		p := b.get(b.scan(b.startLogin(e), url.Values{"as": {"outsider"}}))
		if p.status != 403 || !strings.Contains(p.body, "not a member") {
			t.Fatalf("non-member: %d %s", p.status, p.body)
		}
		noSession(b, "a non-member")
	})

	t.Run("declined", func(t *testing.T) {
		b := newBrowser(t)
		p := b.get(b.scan(b.startLogin(e), url.Values{"as": {"decline"}}))
		if p.status != 400 || !strings.Contains(p.body, "declined") {
			t.Fatalf("declined: %d %s", p.status, p.body)
		}
	})

	t.Run("an offline member", func(t *testing.T) {
		m := users[6].UserID
		e.js(fmt.Sprintf(`app.getElement("corps.C").offlineMember([%q])`, m))
		b := newBrowser(t)
		if p := b.loginAs(e, m); p.status != 403 || !strings.Contains(p.body, "offline") {
			t.Fatalf("offline member: %d %s", p.status, p.body)
		}
		noSession(b, "an offline member")
	})

	t.Run("a member not in the local org", func(t *testing.T) {
		if err := e.sim.AddUser(wecom.User{UserID: "newcomer", Name: "新人", Department: []int64{1}}); err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t)
		if p := b.loginAs(e, "newcomer"); p.status != 404 || !strings.Contains(p.body, "sync it first") {
			t.Fatalf("not synced: %d %q", p.status, p.body)
		}
		noSession(b, "a member not synced")
	})

	t.Run("an untrusted redirect host", func(t *testing.T) {
		b := newBrowser(t)
		login := b.startLogin(e)
		cb := b.scan(login, url.Values{"userid": {users[7].UserID}})
		e.sim.SetTrustedDomains([]string{"app.example.com"})
		defer e.sim.SetTrustedDomains(nil)
		// WeCom's page refuses to send a login back to the app's host
		if p := b.get(b.startLogin(e).String()); p.status != 400 || !strings.Contains(p.body, "50001") {
			t.Fatalf("login page for an untrusted host: %d %.300s", p.status, p.body)
		}
		// and the exchange of a code issued before refuses too
		b2 := newBrowser(t)
		st := b2.startLogin(e).Query().Get("state")
		c, _ := url.Parse(cb)
		if p := b2.get(cbURL + "?code=" + c.Query().Get("code") + "&state=" + st); p.status != 409 || !strings.Contains(p.body, "trusted domain") {
			t.Fatalf("exchange for an untrusted host: %d %s", p.status, p.body)
		}
		noSession(b2, "an untrusted host")
	})

	if logs := e.logs.String(); strings.Contains(logs, loginSecret) {
		t.Fatal("the secret is in the log")
	}
}

func TestTakingAMemberOfflineEndsTheirSessionsAtOnce(t *testing.T) {
	e := startLogin(t, loginOpts{})
	m := e.sim.Org().Users[8].UserID
	b1, b2 := newBrowser(t), newBrowser(t)
	for _, b := range []*browser{b1, b2} {
		if p := b.loginAs(e, m); p.status != 302 {
			t.Fatalf("login: %d %s", p.status, p.body)
		}
		if status, _ := b.me(e); status != 200 {
			t.Fatalf("/api/me: %d", status)
		}
	}
	e.js(fmt.Sprintf(`app.getElement("corps.C").offlineMember([%q])`, m))
	status, body := b1.me(e)
	if status != 401 || !strings.Contains(fmt.Sprint(body), "offline") {
		t.Fatalf("a session after offlineMember: %d %v", status, body)
	}
	if status, _ := b2.me(e); status != 401 {
		t.Fatalf("the member's other session after offlineMember: %d", status)
	}
	// and a member who leaves WeCom, through a sync
	m2 := e.sim.Org().Users[9].UserID
	b3 := newBrowser(t)
	b3.loginAs(e, m2)
	if status, _ := b3.me(e); status != 200 {
		t.Fatal("login")
	}
	e.sim.RemoveUser(m2)
	e.js(`app.getElement("corps.C").syncCorp()`)
	if status, _ := b3.me(e); status != 401 {
		t.Fatalf("a member who left WeCom still has a session: %d", status)
	}
}

func TestPermissionsGateMethodsByTheMembersRoles(t *testing.T) {
	e := startLogin(t, loginOpts{token: "machine-token-1234567890"})
	users := e.sim.Org().Users
	plain, admin := users[10], users[11]
	e.js(fmt.Sprintf(`const c = app.getElement("corps.C"); c.setUserRole(%q, ["member"]); c.setDeptRole(%d, ["admin"])`,
		plain.UserID, admin.MainDepartment))
	bp, ba := newBrowser(t), newBrowser(t)
	bp.loginAs(e, plain.UserID)
	ba.loginAs(e, admin.UserID)
	call := func(b *browser, method, body string, auth ...string) (int, string) {
		h := []string{"Content-Type", "application/json"}
		if len(auth) > 0 {
			h = append(h, "Authorization", "Bearer "+auth[0])
		}
		req, _ := http.NewRequest("POST", e.url+"/api/elements/corps.C/"+method, strings.NewReader(body))
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	if status, body := call(bp, "getAdmin", "[]"); status != 200 {
		t.Fatalf("a member calling getAdmin (member may): %d %s", status, body)
	}
	status, body := call(bp, "setAdmin", fmt.Sprintf(`[[%q]]`, plain.UserID))
	if status != 403 || !strings.Contains(body, `"permission_denied"`) || !strings.Contains(body, "needs role admin") || !strings.Contains(body, plain.UserID) {
		t.Fatalf("a member calling setAdmin: %d %s", status, body)
	}
	if status, body := call(bp, "getLocalCorpData", "[]"); status != 403 || !strings.Contains(body, "not open to members") {
		t.Fatalf("a method permissions does not list: %d %s", status, body)
	}
	// an admin by a department's grant may
	if status, body := call(ba, "setAdmin", fmt.Sprintf(`[[%q]]`, admin.UserID)); status != 200 {
		t.Fatalf("an admin calling setAdmin: %d %s", status, body)
	}
	// the bearer token stays for machine clients: it may call anything
	if status, body := call(newBrowser(t), "getLocalCorpData", "[]", "machine-token-1234567890"); status != 200 {
		t.Fatalf("a machine client: %d %.200s", status, body)
	}
	// without either: 401
	if status, _ := call(newBrowser(t), "getAdmin", "[]"); status != 401 {
		t.Fatalf("no token, no session: %d", status)
	}
	// a session does not open the rest of the API
	if p := bp.get(e.url + "/api/elements"); p.status != 401 {
		t.Fatalf("a member listing the elements: %d", p.status)
	}
	// a role taken away is gone at the next call
	e.js(fmt.Sprintf(`app.getElement("corps.C").setUserRole(%q, ["admin"])`, plain.UserID))
	if status, body := call(bp, "setAdmin", fmt.Sprintf(`[[%q]]`, admin.UserID)); status != 200 {
		t.Fatalf("after being made admin: %d %s", status, body)
	}
}

// BenchmarkLoginCallback logs members in at a steady 200 logins a second, each a browser's
// whole login (its /login, a code from the emulator, its /callback), and reports the
// latency of the callback — state check, code exchange with the emulator over HTTP, the
// member and their roles, the session written to the state file — at p50 and p99.
func BenchmarkLoginCallback(b *testing.B) {
	e := startLogin(b, loginOpts{})
	users := e.sim.Org().Users
	const rate, seconds = 200, 3
	n := rate * seconds
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	failed := atomic.Int64{}
	b.ResetTimer()
	for i := 0; i < n; i++ {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := newBrowser(b)
			login := br.startLogin(e)
			code, err := e.sim.IssueCode(users[i%len(users)].UserID, login.Query().Get("redirect_uri"))
			if err != nil {
				failed.Add(1)
				return
			}
			start := time.Now()
			p := br.get(e.url + "/auth/" + loginName + "/callback?code=" + code + "&state=" + login.Query().Get("state"))
			lat[i] = time.Since(start)
			if p.status != 302 {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d logins failed", failed.Load(), n)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[n-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(rate, "logins/s")
}

func TestCookiesAreSecureWhenTheLoginIsServedOverHTTPS(t *testing.T) {
	e := startLogin(t, loginOpts{login: `, "redirectUri": "https://app.example.com/auth/auths.loginTypes.L/callback"`})
	b := newBrowser(t)
	p := b.get(e.url + "/auth/" + loginName + "/login")
	if p.status != 302 || len(p.cookies) != 1 {
		t.Fatalf("/login: %d %v", p.status, p.cookies)
	}
	for _, attr := range []string{"jitrt_state=", "Secure", "HttpOnly", "SameSite=Lax", "Path=/auth/" + loginName + "/", "Max-Age=600"} {
		if !strings.Contains(p.cookies[0], attr) {
			t.Errorf("state cookie %q lacks %s", p.cookies[0], attr)
		}
	}
	u, _ := url.Parse(p.loc)
	if u.Query().Get("redirect_uri") != "https://app.example.com/auth/auths.loginTypes.L/callback" {
		t.Fatalf("the redirect is not the configured one: %s", u)
	}
	// the redirect comes from the config, never from the request; a Host the server does not
	// serve is refused outright
	p = b.do("GET", e.url+"/auth/"+loginName+"/login", nil, "X-Forwarded-Host", "evil.example")
	if u, _ := url.Parse(p.loc); u.Query().Get("redirect_uri") != "https://app.example.com/auth/auths.loginTypes.L/callback" {
		t.Fatalf("a request's X-Forwarded-Host changed the redirect: %s", p.loc)
	}
	if p = b.do("GET", e.url+"/auth/"+loginName+"/login", nil, "Host", "evil.example"); p.status != 403 || p.loc != "" {
		t.Fatalf("a foreign Host: %d %s", p.status, p.loc)
	}
}

// A member WeCom gives a new userid keeps their session: the corp learns the rename from
// its change event, and the session follows the member.
func TestASessionFollowsARenamedMember(t *testing.T) {
	const token, key = "renameToken", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	e := startLogin(t, loginOpts{corp: `, "callbackToken": "` + token + `", "encodingAESKey": "` + key + `"`})
	if err := e.sim.AddCallback(wecomsim.Callback{URL: e.url + "/wecom/corps.C/callback", Token: token, EncodingAESKey: key}); err != nil {
		t.Fatal(err)
	}
	e.sim.SetEventFaults(wecomsim.EventFaults{RetryInterval: 5 * time.Millisecond})
	m := e.sim.Org().Users[13]
	e.js(fmt.Sprintf(`app.getElement("corps.C").setUserRole(%q, ["admin"])`, m.UserID))
	b := newBrowser(t)
	if p := b.loginAs(e, m.UserID); p.status != 302 {
		t.Fatalf("login: %d", p.status)
	}
	if err := e.sim.RenameUser(m.UserID, m.UserID+".new"); err != nil {
		t.Fatal(err)
	}
	e.sim.WaitPushed(testwait.Hang)
	if _, err := e.app.CallJSON(context.Background(), "corps.C", "applyEvents", nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second look finds the session under the new id
		status, me := b.me(e)
		data, _ := me["data"].(map[string]any)
		if status != 200 || data["memberId"] != m.UserID+".new" || !strings.Contains(fmt.Sprint(data["roles"]), "roleId:admin") {
			t.Fatalf("look %d after the rename: %d %v", i+1, status, me)
		}
	}
	state, _ := os.ReadFile(filepath.Join(e.app.DataDir(), "state.db"))
	if !bytes.Contains(state, []byte("msession:"+m.UserID+".new:")) {
		t.Fatal("the session was not moved to the new userid")
	}
}

// withEnv is the process's environment with one variable set, for this app alone (tests
// that set it so can run in parallel).
func withEnv(name, value string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if k == name {
			return value, true
		}
		return os.LookupEnv(k)
	}
}
