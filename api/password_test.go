package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/jitrt/jitrt/api"
	"github.com/jitrt/jitrt/elements"
	_ "github.com/jitrt/jitrt/elements/corps/normal"
	"github.com/jitrt/jitrt/runtime"
)

const (
	pwLogin       = "auths.loginTypes.P"
	pwAdmin       = "first-admin-pw-91c2"
	pwMember      = "member-pass-5e77"
	pwMemberNewer = "member-pass-newer-8d1"
)

// startPasswordApp serves an app with a local org (corps.L, a department tree and a member
// "zs" in 后端组 under 研发部, which grants "dev") and a password login.
func startPasswordApp(t testing.TB, loginConfig string) *loginEnv {
	t.Helper()
	dir := t.TempDir()
	if loginConfig == "" {
		loginConfig = `{}`
	}
	files := map[string]string{
		"app.json":                  `{"name": "pwtest", "permissions": {"corps.L.getAdmin": ["dev", "admin"]}}`,
		"corps/L/e.json":            `{"title": "本地组织", "type": "corps.NormalType"}`,
		"corps/L/L.json":            `{"firstMember": {"memberId": "boss", "nick": "老板", "username": "boss", "password": "${ADMIN_PASSWORD}"}, "roles": [{"roleId": "admin"}, {"roleId": "dev", "name": "开发"}]}`,
		"auths/loginTypes/P/e.json": `{"title": "账号密码登录", "type": "auths.loginTypes.PasswordType"}`,
		"auths/loginTypes/P/P.json": loginConfig,
	}
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	logs := &syncBuffer{}
	var served string
	var mu sync.Mutex
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(), Service: true, Getenv: withEnv("ADMIN_PASSWORD", pwAdmin),
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Services: map[string]any{elements.PublicURLService: func() string { mu.Lock(); defer mu.Unlock(); return served }}})
	if err != nil {
		t.Fatal(err)
	}
	if ps := app.Problems(); len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	srv, err := api.New(app, api.Options{Addr: "127.0.0.1:0"})
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
	e := &loginEnv{t: t, app: app, url: served, logs: logs, dir: dir}
	e.stop = func() { cancel(); <-done; app.Close() }
	t.Cleanup(e.stop)
	e.js(fmt.Sprintf(`const o = app.getElement("corps.L"); o.initCorp();
	const rd = o.createDept("研发部"), be = o.createDept({name: "后端组", parentId: rd.deptId.value});
	o.setDeptRole(rd.deptId.value, ["dev"]);
	o.addMember({nick: "张三", memberId: "zs", deptIdList: [be.deptId.value], username: "zhangsan", password: %q})`, pwMember))
	return e
}

// signIn opens the sign-in page and posts the form.
func (b *browser) signIn(e *loginEnv, username, password string) page {
	b.t.Helper()
	p := b.get(e.url + "/auth/" + pwLogin + "/login")
	if p.status != 200 || !strings.Contains(p.body, `name="password"`) {
		b.t.Fatalf("the sign-in page: %d %s", p.status, p.body)
	}
	state := regexp.MustCompile(`name="state" value="([^"]+)"`).FindStringSubmatch(p.body)
	if state == nil {
		b.t.Fatalf("the sign-in page has no state: %s", p.body)
	}
	return b.do("POST", e.url+"/auth/"+pwLogin+"/login", url.Values{"username": {username}, "password": {password}, "state": {state[1]}})
}

// A member signs in with a password and gets a session whose /api/me shows the role their
// department's parent grants; wrong passwords get the same answer whether the user exists
// or not; after five the account is locked (429 with Retry-After) even to the right
// password; a change of password ends the member's other sessions; no password or hash
// is in any page, answer or log line.
func TestPasswordSignIn(t *testing.T) {
	t.Parallel()
	e := startPasswordApp(t, "")
	a := newBrowser(t)
	p := a.signIn(e, "zhangsan", pwMember)
	if p.status != 303 || p.loc != "/me" {
		t.Fatalf("sign-in: %d %q %s", p.status, p.loc, p.body)
	}
	status, me := a.me(e)
	data, _ := me["data"].(map[string]any)
	if status != 200 || data["memberId"] != "zs" || !strings.Contains(fmt.Sprint(data["roles"]), "roleId:dev") {
		t.Fatalf("/api/me: %d %v", status, me)
	}
	// a member's call is allowed by the inherited role
	if r := a.do("POST", e.url+"/api/elements/corps.L/getAdmin", nil, "Content-Type", "application/json"); r.status != 200 {
		t.Fatalf("a member with dev calls getAdmin: %d %s", r.status, r.body)
	}

	// wrong passwords: one answer for a wrong password and an unknown user
	x := newBrowser(t)
	wrong := x.signIn(e, "zhangsan", "not-the-password")
	unknown := x.signIn(e, "nobody-here", "not-the-password")
	if wrong.status != 401 || unknown.status != 401 {
		t.Fatalf("wrong password: %d; unknown user: %d; want 401 both", wrong.status, unknown.status)
	}
	msg := regexp.MustCompile(`<p class="msg" id="message">([^<]*)</p>`)
	if m1, m2 := msg.FindStringSubmatch(wrong.body), msg.FindStringSubmatch(unknown.body); m1 == nil || m2 == nil || m1[1] != m2[1] {
		t.Fatalf("the answers differ:\n%s\n%s", wrong.body, unknown.body)
	}
	for i := 0; i < 4; i++ { // five wrong in all
		if p := x.signIn(e, "ZhangSan", "still-wrong-pass"); p.status != 401 && i < 3 {
			t.Fatalf("wrong password %d: %d", i+2, p.status)
		}
	}
	locked := x.signIn(e, "zhangsan", pwMember)
	if locked.status != 429 || x.sessionToken(e) != "" {
		t.Fatalf("the right password after five wrong ones: %d %s", locked.status, locked.body)
	}
	resp := x.doRaw("POST", e.url+"/api/elements/"+pwLogin+"/getLoginCode", `{"username": "zhangsan", "password": "`+pwMember+`"}`)
	if s, _ := strconv.Atoi(resp.retryAfter); resp.status != 429 || s < 1 || s > 15*60 {
		t.Fatalf("getLoginCode of a locked account: %d, Retry-After %q (want 429, within the 15 minutes)", resp.status, resp.retryAfter)
	}
	// the lock is the account's, in every browser; another account signs in
	if p := newBrowser(t).signIn(e, "zhangsan", pwMember); p.status != 429 {
		t.Fatalf("zhangsan in another browser during the lock: %d", p.status)
	}
	if p := newBrowser(t).signIn(e, "boss", pwAdmin); p.status != 303 {
		t.Fatalf("boss during zhangsan's lock: %d %s", p.status, p.body)
	}
	for _, secret := range []string{pwMember, pwAdmin, "argon2id"} {
		if strings.Contains(e.logs.String(), secret) {
			t.Fatalf("the log holds %q", secret)
		}
	}
}

// TestPasswordChangeEndsOtherSessions: two sessions of a member; updatePassword in one
// ends the other, keeps the first; the old password no longer signs in, the new one does.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	e := startPasswordApp(t, "")
	a, b := newBrowser(t), newBrowser(t)
	for _, br := range []*browser{a, b} {
		if p := br.signIn(e, "zhangsan", pwMember); p.status != 303 {
			t.Fatalf("sign-in: %d %s", p.status, p.body)
		}
	}
	if r := a.doRaw("POST", e.url+"/auth/"+pwLogin+"/password", fmt.Sprintf(`{"oldPassword": %q, "newPassword": %q}`, "wrong-old-pass", pwMemberNewer)); r.status != 401 {
		t.Fatalf("a change with a wrong old password: %d %s", r.status, r.body)
	}
	if r := a.doRaw("POST", e.url+"/auth/"+pwLogin+"/password", fmt.Sprintf(`{"oldPassword": %q, "newPassword": %q}`, pwMember, pwMemberNewer)); r.status != 200 {
		t.Fatalf("the change of password: %d %s", r.status, r.body)
	}
	if status, _ := a.me(e); status != 200 {
		t.Fatalf("the session that changed the password: %d", status)
	}
	if status, me := b.me(e); status != 401 {
		t.Fatalf("the other session after the change: %d %v", status, me)
	}
	if p := newBrowser(t).signIn(e, "zhangsan", pwMember); p.status != 401 {
		t.Fatalf("the old password: %d", p.status)
	}
	if p := newBrowser(t).signIn(e, "zhangsan", pwMemberNewer); p.status != 303 {
		t.Fatalf("the new password: %d %s", p.status, p.body)
	}
	// an admin's reset (setMemberPassword) ends every session made with the old one
	e.js(`app.getElement("corps.L").setMemberPassword({memberId: "zs", password: "reset-by-admin-1"})`)
	if status, _ := a.me(e); status != 401 {
		t.Fatalf("a session after the admin's reset: %d", status)
	}
	// offline ends sessions
	c := newBrowser(t)
	if p := c.signIn(e, "zhangsan", "reset-by-admin-1"); p.status != 303 {
		t.Fatalf("sign-in after the reset: %d", p.status)
	}
	e.js(`app.getElement("corps.L").changeMemberStatus(["zs"], 2)`)
	if status, _ := c.me(e); status != 401 {
		t.Fatalf("a session of a resigned member: %d", status)
	}
	if p := newBrowser(t).signIn(e, "zhangsan", "reset-by-admin-1"); p.status == 303 {
		t.Fatalf("a resigned member signed in")
	}
	for _, secret := range []string{pwMember, pwMemberNewer, "reset-by-admin-1", "argon2id"} {
		if strings.Contains(e.logs.String(), secret) {
			t.Fatalf("the log holds %q", secret)
		}
	}
}

// Wrong old passwords given to change a password count as wrong sign-ins do: after five,
// the change is refused (429 with Retry-After) even with the right old password, and the
// password stays as it was.
func TestWrongOldPasswordsLockTheChange(t *testing.T) {
	t.Parallel()
	e := startPasswordApp(t, "")
	a := newBrowser(t)
	if p := a.signIn(e, "zhangsan", pwMember); p.status != 303 {
		t.Fatalf("sign-in: %d %s", p.status, p.body)
	}
	change := func(old string) rawResp {
		return a.doRaw("POST", e.url+"/auth/"+pwLogin+"/password", fmt.Sprintf(`{"oldPassword": %q, "newPassword": %q}`, old, pwMemberNewer))
	}
	for i := range 5 {
		if r := change(fmt.Sprintf("guess-number-%d", i)); r.status != 401 {
			t.Fatalf("wrong old password %d: %d %s", i, r.status, r.body)
		}
	}
	r := change(pwMember)
	if s, _ := strconv.Atoi(r.retryAfter); r.status != 429 || s < 1 || s > 15*60 {
		t.Fatalf("the right old password after five wrong ones: %d, Retry-After %q (want 429 within the 15 minutes)", r.status, r.retryAfter)
	}
	if p := newBrowser(t).signIn(e, "zhangsan", pwMember); p.status != 303 {
		t.Fatalf("the password changed while locked: a sign-in with it answers %d", p.status)
	}
}

// A form posted without the state this browser got, or from another site, signs no one in.
func TestSignInFormsAreThisBrowsers(t *testing.T) {
	t.Parallel()
	e := startPasswordApp(t, "")
	b := newBrowser(t)
	p := b.do("POST", e.url+"/auth/"+pwLogin+"/login", url.Values{"username": {"zhangsan"}, "password": {pwMember}, "state": {"forged"}})
	if p.status != 400 || b.sessionToken(e) != "" {
		t.Fatalf("a form with a forged state: %d", p.status)
	}
	other := newBrowser(t)
	page := other.get(e.url + "/auth/" + pwLogin + "/login")
	state := regexp.MustCompile(`name="state" value="([^"]+)"`).FindStringSubmatch(page.body)[1]
	// the state of another browser, without its cookie
	p = b.do("POST", e.url+"/auth/"+pwLogin+"/login", url.Values{"username": {"zhangsan"}, "password": {pwMember}, "state": {state}})
	if p.status != 400 || b.sessionToken(e) != "" {
		t.Fatalf("a form with another browser's state: %d", p.status)
	}
	// a page of another site posting the form
	p = other.do("POST", e.url+"/auth/"+pwLogin+"/login", url.Values{"username": {"zhangsan"}, "password": {pwMember}, "state": {state}},
		"Origin", "https://evil.example")
	if p.status != 403 || other.sessionToken(e) != "" {
		t.Fatalf("a form posted from another site: %d %s", p.status, p.body)
	}
}

// A member signs in in a real browser: the sign-in page, the form, /me with the role their
// department's parent grants.
func TestPasswordSignInInARealBrowser(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	e := startPasswordApp(t, "")
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/auth/"+pwLogin+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "zhangsan"),
		chromedp.SendKeys(chromedp.ID("password"), pwMember),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("name")),
	)
	if err != nil {
		t.Fatalf("browser: %v\nlog:\n%s", err, e.logs.String())
	}
	name, err1 := chromedp.Run(ctx, chromedp.Text(chromedp.ID("name")))
	roles, err2 := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("tr.role")].map(r => r.dataset.role)`))
	html, err3 := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if name != "张三" || len(roles) != 1 || roles[0] != "dev" {
		t.Fatalf("/me shows %q with roles %v, want 张三 with dev (from 研发部)", name, roles)
	}
	if strings.Contains(html, pwMember) || strings.Contains(html, "argon2") {
		t.Fatal("the page holds the password or its hash")
	}
}

// rawResp is an answer with its Retry-After.
type rawResp struct {
	status     int
	body       string
	retryAfter string
}

// doRaw sends a JSON body and returns the answer with its Retry-After.
func (b *browser) doRaw(method, u, body string) rawResp {
	b.t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return rawResp{status: resp.StatusCode, body: string(raw), retryAfter: resp.Header.Get("Retry-After")}
}
