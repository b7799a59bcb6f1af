package fsinner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitrt/jitrt/api"
	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/auths"
	"github.com/jitrt/jitrt/elements/corps/fsinner"
	"github.com/jitrt/jitrt/feishu/callback"
	"github.com/jitrt/jitrt/feishu/feishusim"
	"github.com/jitrt/jitrt/internal/orgtest"
	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime"
)

const (
	vToken    = "fsTestVerificationToken"
	encKey    = "fs test encrypt key"
	appID     = "cli_fstest00000001"
	appSecret = "fs-test-secret-never-shown"
)

// env is an app with a Feishu corp (corps.Test) on its built-in emulator and a Feishu login
// on it, served over HTTP as jitrt run serves it; sim is the emulator the corp started.
type env struct {
	t   *testing.T
	app *runtime.App
	sim *feishusim.Server
	url string
	// dir and data are the app folder and its state folder; services what it loads with
	dir, data string
	services  map[string]any
}

func newEnv(t *testing.T, members, depts int) *env {
	t.Helper()
	dir := testapp.WriteTree(t, map[string]string{
		"app.json":          `{"name": "fs"}`,
		"corps/Test/e.json": `{"title": "飞书组织", "type": "corps.FSInnerType"}`,
		"corps/Test/Test.json": fmt.Sprintf(`{"appId": %q, "appSecret": %q, "simulator": {"members": %d, "departments": %d, "seed": 6},
			"verificationToken": %q, "encryptKey": %q}`, appID, appSecret, members, depts, vToken, encKey),
		"auths/loginTypes/L/e.json": `{"title": "飞书登录", "type": "auths.loginTypes.FSInnerType"}`,
		"auths/loginTypes/L/L.json": fmt.Sprintf(`{"appId": %q, "appSecret": %q, "simulator": true}`, appID, appSecret),
	})
	e := &env{t: t}
	var mu sync.Mutex
	var served string
	services := simwire.Services()
	services[fsinner.SimulatorService] = fsinner.StartSimulator(func(ctx context.Context, s fsinner.SimulatorSpec) (fsinner.Simulator, error) {
		sim, err := simwire.StartFeishu(ctx, s)
		if err == nil {
			mu.Lock()
			e.sim = sim.(*feishusim.Server)
			mu.Unlock()
		}
		return sim, err
	})
	services[elements.PublicURLService] = func() string { mu.Lock(); defer mu.Unlock(); return served }
	e.dir, e.data, e.services = dir, t.TempDir(), services
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: e.data, Services: services, Service: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	e.app = app
	srv, err := api.New(app, api.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	served = "http://" + srv.Addr()
	e.url = served
	mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := app.CallJSON(context.Background(), "corps.Test", "initCorp", nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// call calls a method of the corp and returns its answer as JSON gives it.
func (e *env) call(method string, args any) (map[string]any, error) {
	res, err := e.app.CallJSON(context.Background(), "corps.Test", method, args)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	err = d.Decode(&out)
	return out, err
}

// corps.FSInnerType passes the corp Types' conformance suite, its org built from its
// emulator, its members logging in through the Feishu web login.
func TestFeishuCorpConforms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 120, 12)
	s := &orgtest.Subject{Type: fsinner.TypeID, Corp: "corps.Test", App: e.app, Secrets: []string{appSecret, encKey},
		Fixture: orgtest.FindFixture(t, e.app, "corps.Test"),
		Offline: func(t testing.TB, id string) {
			if err := e.sim.RemoveUser(id); err != nil {
				t.Fatal(err)
			}
			if _, err := e.call("syncCorp", nil); err != nil {
				t.Fatal(err)
			}
		},
		SignIn: func(t testing.TB, id string) func() bool {
			ctx := context.Background()
			login := func() (*auths.FSLogin, func()) {
				inst, release, err := e.app.Instance("auths.loginTypes.L")
				if err != nil {
					t.Fatal(err)
				}
				return inst.(*auths.FSLogin), release
			}
			l, release := login()
			defer release()
			cfg, err := l.LoginConfig()
			if err != nil {
				t.Fatal(err)
			}
			code, err := e.sim.IssueAuthCode(id, fmt.Sprint(cfg["redirectUri"]))
			if err != nil {
				t.Fatal(err)
			}
			s, err := l.LoginCode(ctx, code, fmt.Sprint(cfg["state"]), "qr")
			if err != nil {
				t.Fatal(err)
			}
			return func() bool {
				l, release := login()
				defer release()
				_, err := l.Session(ctx, s.Token)
				return err == nil
			}
		}}
	orgtest.Run(t, s)
}

// Feishu's pushes reach the org through jitrt's route, encrypted and signed: a hire, a
// change, a leave and a new department are applied, each fetched from Feishu; the org is
// Feishu's after (a sync finds nothing the events missed). A redelivered event is stored
// once; a forged signature, a wrong token and a clear push to an encrypting app are refused.
func TestFeishuEventsAreApplied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 40, 6)
	users := e.sim.Users()
	mover, leaver := users[4].UserID, users[5].UserID
	if err := e.sim.AddDepartment(feishusim.Department{OpenID: "od-newteam", Name: "新团队", ParentID: "0", Order: 3}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.AddUser(feishusim.User{UserID: "fsnewbie", Name: "飞书新人", JobTitle: "工程师", Depts: []string{"od-newteam"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.UpdateUser(mover, func(u *feishusim.User) { u.JobTitle = "架构师"; u.Depts = []string{"od-newteam"} }); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.RemoveUser(leaver); err != nil {
		t.Fatal(err)
	}
	member := func(id string) map[string]any { m, _ := e.call("getMember", map[string]any{"memberId": id}); return m }
	testwait.For(t, "the events to be applied", func() bool {
		n, mv, lv := member("fsnewbie"), member(mover), member(leaver)
		return n != nil && n["name"] == "飞书新人" && mv != nil && mv["position"] == "架构师" && lv != nil && lv["status"] == "offline"
	})
	if fmt.Sprint(member("fsnewbie")["mainDeptId"]) != fmt.Sprint(member(mover)["mainDeptId"]) {
		t.Fatalf("the new member and the mover are not in the same new department: %v %v", member("fsnewbie"), member(mover))
	}
	rep, err := e.call("syncCorp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := rep["drift"]; d != nil && fmt.Sprint(d) != "0" {
		t.Fatalf("the events left the org behind Feishu: drift %v (%v)", d, rep)
	}

	// pushes made here, through the route
	c := callback.New(vToken, encKey)
	push := func(plain []byte, mutate func(body []byte, h map[string]string) []byte) (int, []byte) {
		body, h, err := c.Seal(plain, strconv.FormatInt(time.Now().Unix(), 10), fmt.Sprint(time.Now().UnixNano()))
		if err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			body = mutate(body, h)
		}
		req, _ := http.NewRequest("POST", e.url+"/feishu/corps.Test/callback", bytes.NewReader(body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	ev := []byte(`{"schema":"2.0","header":{"event_id":"ev-test-1","event_type":"contact.user.updated_v3","create_time":"1","token":"` + vToken + `","app_id":"` + appID + `"},"event":{"object":{"user_id":"` + mover + `"}}}`)
	if st, out := push(ev, nil); st != 200 || !strings.Contains(string(out), "success") {
		t.Fatalf("a push: %d %s", st, out)
	}
	// the same event again, sealed anew (a retry): acknowledged, not stored again
	if st, _ := push(ev, nil); st != 200 {
		t.Fatalf("a redelivery: %d", st)
	}
	receive := func(plain []byte) map[string]any {
		body, h, _ := c.Seal(plain, strconv.FormatInt(time.Now().Unix(), 10), fmt.Sprint(time.Now().UnixNano()))
		res, err := e.app.Invoke(context.Background(), elements.Call{Element: "corps.Test", Method: "receiveCallback", Mode: elements.ArgsNamed,
			Args: []any{map[string]any{"timestamp": h["X-Lark-Request-Timestamp"], "nonce": h["X-Lark-Request-Nonce"], "signature": h["X-Lark-Signature"], "body": string(body)}}})
		if err != nil {
			t.Fatal(err)
		}
		return res.(map[string]any)
	}
	ev2 := []byte(strings.Replace(string(ev), "ev-test-1", "ev-test-2", 1))
	if r := receive(ev2); r["stored"] != true {
		t.Fatalf("a new event: %v", r)
	}
	if r := receive(ev2); r["stored"] != false {
		t.Fatalf("its redelivery: %v", r)
	}
	// Feishu's internal resend: the same event_id, another create_time: still once
	resent := []byte(strings.Replace(string(ev2), `"create_time":"1"`, `"create_time":"2"`, 1))
	if r := receive(resent); r["stored"] != false {
		t.Fatalf("a resend with the same event_id: %v", r)
	}
	if st, _ := push(ev, func(body []byte, h map[string]string) []byte {
		h["X-Lark-Signature"] = strings.Repeat("0", 64)
		return body
	}); st != 401 {
		t.Fatalf("a forged signature: %d", st)
	}
	bad := []byte(strings.Replace(string(ev), vToken, "not-the-token", 1))
	if st, _ := push(bad, nil); st != 401 {
		t.Fatalf("a wrong verification token: %d", st)
	}
	if st, _ := push(ev, func(_ []byte, h map[string]string) []byte {
		clear := ev
		h["X-Lark-Signature"] = callback.Signature(h["X-Lark-Request-Timestamp"], h["X-Lark-Request-Nonce"], encKey, clear)
		return clear
	}); st != 400 {
		t.Fatalf("a clear push to an encrypting app: %d", st)
	}
	challenge := []byte(`{"challenge":"ch-42","token":"` + vToken + `","type":"url_verification"}`)
	if st, out := push(challenge, nil); st != 200 || string(out) != `{"challenge":"ch-42"}` {
		t.Fatalf("the url_verification: %d %s", st, out)
	}
}

// load opens the app on a state folder, as a process of its own would (not as a service).
func (e *env) load(data string) (*runtime.App, error) {
	return runtime.Load(context.Background(), e.dir, runtime.Options{DataDir: data, Services: simwire.Services()})
}

// A Feishu corp killed with kill -9 in the middle of its writes reopens as of the last
// write finished or the one in progress, with the audit record of each (the suite's Kill).
func TestFeishuCorpSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes: make test-slow")
	}
	e := newEnv(t, 30, 4)
	users := e.sim.Users()
	e.app.Close()
	orgtest.Kill(t, orgtest.KillSubject{Corp: "corps.Test", Member: users[0].UserID, Other: users[1].UserID, DataDir: e.data, Load: e.load})
}

// A member logs in as a browser does: /auth/{login}/login sends them to Feishu's page (the
// emulator's), the pick comes back with a code, the callback sets the session
// cookie, and /api/me knows them; the same callback again, with its cookie, is refused (its
// state is spent; the code's single use is the client test's).
func TestAFeishuLoginInTheBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20, 3)
	id := e.sim.Users()[3].UserID
	session, back, state := orgtest.BrowserLogin(t, e.url, "auths.loginTypes.L", url.Values{"user_id": {id}})
	req, _ := http.NewRequest("GET", e.url+"/api/me", nil)
	req.Header.Set("Cookie", session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), id) {
		t.Fatalf("/api/me: %d %s", resp.StatusCode, body)
	}
	// the callback again (a replay), with the browser's state cookie: refused
	req, _ = http.NewRequest("GET", back, nil)
	req.Header.Set("Cookie", state)
	resp, err = orgtest.NoRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusFound {
		t.Fatal("the same login code made a second session")
	}
	// in the Feishu client: a code of tt.requestAuthCode, issued for no redirect URI
	inst, release, err := e.app.Instance("auths.loginTypes.L")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	code, _ := e.sim.IssueAuthCode(id, "")
	if s, err := inst.(*auths.FSLogin).LoginCode(context.Background(), code, "", "inapp"); err != nil || s.MemberID != id {
		t.Fatalf("the in-client login: %+v %v", s, err)
	}
}

// The console shows the org as it shows WeCom's: its page, a member's page with the member,
// the audit page.
func TestTheConsoleShowsTheOrg(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20, 3)
	id := e.sim.Users()[2].UserID
	for path, want := range map[string]string{
		"/console/corps/corps.Test":               "corps.Test",
		"/console/corps/corps.Test/members/" + id: id,
		"/console/corps/corps.Test/audit":         "initCorp",
	} {
		resp, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d, no %q", path, resp.StatusCode, want)
		}
	}
}
