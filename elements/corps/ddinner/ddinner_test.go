package ddinner_test

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
	"github.com/jitrt/jitrt/dingtalk/callback"
	"github.com/jitrt/jitrt/dingtalk/dingtalksim"
	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/auths"
	"github.com/jitrt/jitrt/elements/corps/ddinner"
	"github.com/jitrt/jitrt/internal/orgtest"
	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime"
)

const (
	cbToken   = "ddTestToken42"
	cbKey     = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij"
	corpID    = "dingtestcorp0001"
	appKey    = "dingtestappkey01"
	appSecret = "dd-test-secret-never-shown"
)

// env is an app with a DingTalk corp (corps.Test) on its built-in emulator, and a DingTalk
// login on it; sim is the emulator the corp started.
type env struct {
	t   *testing.T
	app *runtime.App
	sim *dingtalksim.Server
	url string // where the app is served
	// dir and data are the app folder and its state folder; services what it loads with
	dir, data string
	services  map[string]any
}

func newEnv(t *testing.T, members, depts int, extra map[string]string) *env {
	t.Helper()
	files := map[string]string{
		"app.json":          `{"name": "dd"}`,
		"corps/Test/e.json": `{"title": "钉钉组织", "type": "corps.DDInnerType"}`,
		"corps/Test/Test.json": fmt.Sprintf(`{"authConfig": {"corpId": %q, "agentId": "1000002", "appKey": %q, "appSecret": %q},
			"simulator": {"members": %d, "departments": %d, "seed": 5}, "callbackToken": %q, "aesKey": %q}`,
			corpID, appKey, appSecret, members, depts, cbToken, cbKey),
		"auths/loginTypes/L/e.json": `{"title": "钉钉登录", "type": "auths.loginTypes.DDInnerType"}`,
		"auths/loginTypes/L/L.json": fmt.Sprintf(`{"corpId": %q, "appKey": %q, "appSecret": %q, "simulator": true}`, corpID, appKey, appSecret),
	}
	for k, v := range extra {
		files[k] = v
	}
	dir := testapp.WriteTree(t, files)
	e := &env{t: t}
	var mu sync.Mutex
	services := simwire.Services()
	services[ddinner.SimulatorService] = ddinner.StartSimulator(func(ctx context.Context, s ddinner.SimulatorSpec) (ddinner.Simulator, error) {
		sim, err := simwire.StartDingTalk(ctx, s)
		if err == nil {
			mu.Lock()
			e.sim = sim.(*dingtalksim.Server)
			mu.Unlock()
		}
		return sim, err
	})
	// served over HTTP as jitrt run serves it: the emulator pushes to /dingtalk/corps.Test/callback
	var served string
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
	mu.Unlock()
	e.url = served
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
	d.UseNumber() // department ids are 9 digits: compared as DingTalk writes them
	err = d.Decode(&out)
	return out, err
}

// corps.DDInnerType passes the corp Types' conformance suite, its org built from its
// emulator, its members logging in through the DingTalk web login.
func TestDingTalkCorpConforms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 120, 12, nil)
	s := &orgtest.Subject{Type: ddinner.TypeID, Corp: "corps.Test", App: e.app, Secrets: []string{appSecret},
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
			login := func() (*auths.DDLogin, func()) {
				inst, release, err := e.app.Instance("auths.loginTypes.L")
				if err != nil {
					t.Fatal(err)
				}
				return inst.(*auths.DDLogin), release
			}
			l, release := login()
			defer release()
			cfg, err := l.LoginConfig()
			if err != nil {
				t.Fatal(err)
			}
			code, err := e.sim.IssueAuthCode(id)
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

// The org as synced is DingTalk's: each member with its departments (the main one
// first), the leaders DingTalk names, DingTalk's fields in its part of the record; a
// second sync with nothing changed writes nothing.
func TestTheSyncedOrgIsDingTalks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 60, 8, nil)
	users := e.sim.Users()
	for _, u := range users[:10] {
		m, err := e.call("getMember", map[string]any{"memberId": u.UserID})
		if err != nil {
			t.Fatal(err)
		}
		if m["name"] != u.Name || fmt.Sprint(m["mainDeptId"]) != strconv.FormatInt(u.Depts[0], 10) || m["unionId"] != u.UnionID || m["position"] != u.Title {
			t.Fatalf("member %s: %v, DingTalk has %+v", u.UserID, m, u)
		}
	}
	rep, err := e.call("syncCorp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := rep["writes"]; fmt.Sprint(w) != "0" {
		t.Fatalf("a sync with nothing changed wrote %v", w)
	}
	info, _ := e.call("getCorpInfo", nil)
	if strings.Contains(fmt.Sprint(info), appSecret) {
		t.Fatalf("the secret in getCorpInfo: %v", info)
	}
}

// DingTalk's pushes reach the org through jitrt run's route: a hire, a move, a leave, a
// new department and a removed one are applied in order, each fetched from DingTalk (its
// events carry ids); a push repeated is applied once; a push with a wrong signature or
// for another app is refused and stores nothing.
func TestDingTalkEventsAreApplied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 40, 6, nil)
	depts := e.sim.Departments()
	target := depts[len(depts)-1].ID
	newDept := dingtalksim.DeptID(999)
	member := func(id string) (map[string]any, error) { return e.call("getMember", map[string]any{"memberId": id}) }
	leaver := e.sim.Users()[5].UserID
	mover := e.sim.Users()[6].UserID
	if err := e.sim.AddDepartment(dingtalksim.Department{ID: newDept, Name: "新部门", ParentID: 1, Order: 5}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.AddUser(dingtalksim.User{UserID: "newcomer01", Name: "新人", Depts: []int64{newDept}, Title: "工程师"}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.UpdateUser(mover, func(u *dingtalksim.User) { u.Depts = []int64{target}; u.Title = "架构师" }); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.RemoveUser(leaver); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the events to be applied", func() bool {
		m, err := member("newcomer01")
		if err != nil || m["name"] != "新人" || fmt.Sprint(m["mainDeptId"]) != strconv.FormatInt(newDept, 10) {
			return false
		}
		mv, _ := member(mover)
		lv, _ := member(leaver)
		return mv != nil && mv["position"] == "架构师" && fmt.Sprint(mv["mainDeptId"]) == strconv.FormatInt(target, 10) &&
			lv != nil && lv["status"] == "offline"
	})
	if st := e.sim.PushStats(); st.Delivered < 5 || st.Parked != 0 {
		t.Fatalf("pushes: %+v", st)
	}
	rep, err := e.call("syncCorp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := rep["drift"]; d != nil && fmt.Sprint(d) != "0" {
		t.Fatalf("the events left the org behind DingTalk: drift %v", d)
	}

	// pushes made here: stored once; a replay, a redelivery, a forgery and one for another
	// app store nothing
	mine, _ := callback.New(cbToken, cbKey, appKey)
	other, _ := callback.New(cbToken, cbKey, "dingotherapp")
	ev := &callback.Event{EventType: callback.UserModify, EventID: "ev-1", CorpID: corpID, TimeStamp: "1", UserIDs: []string{mover, "newcomer01"}}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	q, body, _ := mine.Seal(ev.Marshal(), ts, "n1")
	push := func(q url.Values, body []byte) (map[string]any, error) {
		// as the route calls it: from the app's own side
		res, err := e.app.Invoke(context.Background(), elements.Call{Element: "corps.Test", Method: "receiveCallback", Mode: elements.ArgsNamed,
			Args: []any{map[string]any{"query": q.Encode(), "body": string(body)}}})
		if err != nil {
			return nil, err
		}
		m, _ := res.(map[string]any)
		return m, nil
	}
	if r, err := push(q, body); err != nil || r["stored"] != true {
		t.Fatalf("a push: %v %v", r, err)
	} else if err := mine.CheckReply([]byte(fmt.Sprint(r["reply"]))); err != nil {
		t.Fatalf("the reply DingTalk checks: %v", err)
	}
	if r, err := push(q, body); err != nil || r["stored"] != false {
		t.Fatalf("the same push again (a replay): %v %v", r, err)
	}
	q2, body2, _ := mine.Seal(ev.Marshal(), ts, "n2") // DingTalk's retry: new nonce, same event
	if r, err := push(q2, body2); err != nil || r["stored"] != false {
		t.Fatalf("a redelivery: %v %v", r, err)
	}
	q3, body3, _ := other.Seal(ev.Marshal(), ts, "n3")
	if _, err := push(q3, body3); elements.CodeOf(err) != elements.CodePermissionDenied {
		t.Fatalf("a push for another app: %v", err)
	}
	q4, body4, _ := mine.Seal(ev.Marshal(), ts, "n4")
	q4.Set("msg_signature", strings.Repeat("0", 40))
	q4.Set("signature", strings.Repeat("0", 40))
	resp, err := http.Post(e.url+"/dingtalk/corps.Test/callback?"+q4.Encode(), "application/json", bytes.NewReader(body4))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a forged push over HTTP: %d", resp.StatusCode)
	}
	q5, body5, _ := mine.Seal([]byte(`{"EventType":"check_url"}`), ts, "n5")
	resp, err = http.Post(e.url+"/dingtalk/corps.Test/callback?"+q5.Encode(), "application/json", bytes.NewReader(body5))
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || mine.CheckReply(reply) != nil {
		t.Fatalf("check_url over HTTP: %d %s", resp.StatusCode, reply)
	}
}

// load opens the app on a state folder, as a process of its own would (not as a service).
func (e *env) load(data string) (*runtime.App, error) {
	return runtime.Load(context.Background(), e.dir, runtime.Options{DataDir: data, Services: simwire.Services()})
}

// A DingTalk corp killed with kill -9 in the middle of its writes reopens as of the last
// write finished or the one in progress, with the audit record of each (the suite's Kill).
func TestDingTalkCorpSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes: make test-slow")
	}
	e := newEnv(t, 30, 4, nil)
	users := e.sim.Users()
	e.app.Close()
	orgtest.Kill(t, orgtest.KillSubject{Corp: "corps.Test", Member: users[0].UserID, Other: users[1].UserID, DataDir: e.data, Load: e.load})
}

// A member logs in as a browser does: /auth/{login}/login sends them to DingTalk's page (the
// emulator's), the pick comes back with code and authCode, the callback sets the session
// cookie, and /api/me knows them; the same callback again, with its cookie, is refused (its
// state is spent; the code's single use is the client test's).
func TestADingTalkLoginInTheBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20, 3, nil)
	id := e.sim.Users()[3].UserID
	session, back, state := orgtest.BrowserLogin(t, e.url, "auths.loginTypes.L", url.Values{"userid": {id}})
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
	// the login's client used the app token the corp's fetched: one per app in the process
	if n := e.sim.TokenFetches(); n != 1 {
		t.Fatalf("%d app token fetches by the corp and its login, want 1 shared", n)
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
}

// The console shows the org as it shows WeCom's: its page, a member's page with the member,
// the audit page.
func TestTheConsoleShowsTheOrg(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20, 3, nil)
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
