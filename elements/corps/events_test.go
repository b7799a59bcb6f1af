package corps_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitrt/jitrt/api"
	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/callback"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

const (
	evCorpID = "wwevents00000001"
	evSecret = "events-secret-1a2b3c"
	evToken  = "evToken42"
	evAESKey = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
)

// eventEnv is jitrt run serving a corp that takes callbacks, and an emulator of its corp
// that pushes every change there.
type eventEnv struct {
	t    testing.TB
	sim  *wecomsim.Server
	app  *runtime.App
	url  string
	logs *lockedBuffer
	dir  string // the app's folder
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newEventEnv(t testing.TB, members, depts int, simOpts ...func(*wecomsim.Options)) *eventEnv {
	t.Helper()
	e := &eventEnv{t: t, logs: &lockedBuffer{}}
	var mu sync.Mutex
	o := wecomsim.Options{CorpID: evCorpID, Secret: evSecret, Members: members, Departments: depts, Seed: 21,
		Callbacks: []wecomsim.Callback{{Token: evToken, EncodingAESKey: evAESKey,
			URLFunc: func() string { mu.Lock(); defer mu.Unlock(); return e.url + "/wecom/corps.E/callback" }}}}
	for _, f := range simOpts {
		f(&o)
	}
	sim, err := wecomsim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	sim.SetEventFaults(wecomsim.EventFaults{RetryInterval: 5 * time.Millisecond})
	e.sim = sim
	dir := t.TempDir()
	e.dir = dir
	os.MkdirAll(filepath.Join(dir, "corps/E"), 0o755)
	os.WriteFile(filepath.Join(dir, "corps/E/e.json"), []byte(`{"title": "事件", "type": "corps.QywxInnerType"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "corps/E/E.json"), []byte(fmt.Sprintf(`{"corpId": %q, "agentId": "1", "secret": "${EV_SECRET}",
		"apiBase": %q, "callbackToken": "${EV_TOKEN}", "encodingAESKey": "${EV_KEY}"}`, evCorpID, sim.URL())), 0o644)
	env := map[string]string{"EV_SECRET": evSecret, "EV_TOKEN": evToken, "EV_KEY": evAESKey}
	metrics := api.NewMetrics()
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(), Service: true, Observer: metrics,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if ps := app.Problems(); len(ps) > 0 {
		t.Fatal(ps)
	}
	e.app = app
	srv, err := api.New(app, api.Options{Addr: "127.0.0.1:0", Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	e.url = "http://" + srv.Addr()
	mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { sim.Close(); cancel(); <-done; app.Close() })
	if _, err := app.CallJSON(context.Background(), "corps.E", "initCorp", nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// settle waits until the emulator has delivered every change and the corp applied it.
func (e *eventEnv) settle() {
	e.t.Helper()
	if !e.sim.WaitPushed(testwait.Hang) {
		e.t.Fatalf("the emulator did not deliver its events: %+v", e.sim.PushStats())
	}
	if _, err := e.app.CallJSON(context.Background(), "corps.E", "applyEvents", nil); err != nil {
		e.t.Fatal(err)
	}
}

func (e *eventEnv) js(code string, out any) {
	e.t.Helper()
	res, err := e.app.Host().Run(context.Background(), runtime.Script{Code: `const corp = app.getElement("corps.E");` + code})
	if err != nil {
		e.t.Fatalf("%s: %v", code, err)
	}
	if out != nil {
		json.Unmarshal(res.JSON, out)
	}
}

type localMember struct {
	MemberID, Name, Position, Mobile, Status, OfflineBy string
	DeptIDs                                             []int64
	MainDeptID                                          int64
	DirectLeader                                        []string
}

func (e *eventEnv) member(id string) (localMember, bool) {
	var m localMember
	err := func() error {
		res, err := e.app.CallJSON(context.Background(), "corps.E", "getMember", map[string]any{"memberId": id})
		if err != nil {
			return err
		}
		b, _ := json.Marshal(res)
		return json.Unmarshal(b, &m)
	}()
	return m, err == nil
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEveryChangeTypeAppliesWithoutASync(t *testing.T) {
	e := newEventEnv(t, 40, 5)
	sim := e.sim
	users := sim.Org().Users
	a, b := users[3], users[4]
	e.js(fmt.Sprintf(`corp.setUserRole(%q, ["admin"]); corp.setAdmin([%q, %q]); corp.saveUserSignature(%q, "https://x.example/s.png")`,
		a.UserID, a.UserID, b.UserID, a.UserID), nil)
	sim.ResetCalls()

	must(t, sim.AddDepartment(wecom.Department{ID: 501, Name: "新设部", ParentID: 1, Order: 3}))
	must(t, sim.AddUser(wecom.User{UserID: "fresh1", Name: "新员工", Department: []int64{501}, Position: "实习", Mobile: "13911112222"}))
	must(t, sim.UpdateUser(a.UserID, func(u *wecom.User) { u.Position = "总监" }))
	must(t, sim.UpdateUser(b.UserID, func(u *wecom.User) { u.Department, u.MainDepartment = []int64{501}, 501 }))
	must(t, sim.RenameUser(a.UserID, a.UserID+".new"))
	must(t, sim.UpdateDepartment(501, func(d *wecom.Department) { d.Name = "研发中心" }))
	must(t, sim.UpdateTag(sim.Org().Tags[0].TagID, []string{"fresh1"}, nil, []int64{501}, nil))
	must(t, sim.RemoveUser(b.UserID))
	e.settle()

	if calls := sim.CallCounts(); calls["user/list"]+calls["department/list"]+calls["user/simplelist"] > 0 {
		t.Fatalf("events made whole-org calls: %v", calls)
	}
	if m, ok := e.member("fresh1"); !ok || m.Name != "新员工" || m.Position != "实习" || m.Mobile != "13911112222" || !slices.Equal(m.DeptIDs, []int64{501}) || m.Status != "active" {
		t.Fatalf("create_user: %+v %v", m, ok)
	}
	renamed := a.UserID + ".new"
	m, ok := e.member(renamed)
	if !ok || m.MemberID != renamed || m.Position != "总监" || m.Name != a.Name || m.Mobile != a.Mobile {
		t.Fatalf("update_user then rename: %+v %v", m, ok)
	}
	// the old id finds the member under the new one
	if old, ok := e.member(a.UserID); !ok || old.MemberID != renamed {
		t.Fatalf("getMember of the old userid: %+v %v", old, ok)
	}
	var state struct {
		Roles  []map[string]any
		Admins []string
		Sig    map[string]any
		Dept   []map[string]any
		Tag    []map[string]any
	}
	e.js(fmt.Sprintf(`({roles: corp.getMemberRoles(%q), admins: corp.getAdmin(), sig: corp.getUserSignature(%q),
		dept: corp.getLocalCorpData().deptList.filter(d => d.deptId === 501), tag: corp.getLocalCorpData().tagList.filter(t => t.tagId === %d)})`,
		renamed, renamed, sim.Org().Tags[0].TagID), &state)
	if len(state.Roles) != 1 || state.Roles[0]["roleId"] != "admin" || fmt.Sprint(state.Roles[0]["from"]) != "[direct admin]" {
		t.Fatalf("roles after the rename: %v", state.Roles)
	}
	if !slices.Equal(state.Admins, []string{renamed}) {
		t.Fatalf("admins (one renamed, one gone): %v", state.Admins)
	}
	if state.Sig["signature"] != "https://x.example/s.png" {
		t.Fatalf("signature after the rename: %v", state.Sig)
	}
	if len(state.Dept) != 1 || state.Dept[0]["name"] != "研发中心" || state.Dept[0]["parentId"] != float64(1) {
		t.Fatalf("the department: %v", state.Dept)
	}
	if len(state.Tag) != 1 || !strings.Contains(fmt.Sprint(state.Tag[0]["memberIds"]), "fresh1") || !strings.Contains(fmt.Sprint(state.Tag[0]["deptIds"]), "501") {
		t.Fatalf("the tag: %v", state.Tag)
	}
	if gone, ok := e.member(b.UserID); !ok || gone.Status != "offline" || gone.OfflineBy != "sync" {
		t.Fatalf("delete_user: %+v %v", gone, ok)
	}
	// delete_party, once the department is empty
	must(t, sim.UpdateUser("fresh1", func(u *wecom.User) { u.Department, u.MainDepartment = []int64{1}, 1 }))
	must(t, sim.RemoveDepartment(501))
	e.settle()
	var depts []any
	e.js(`corp.getLocalCorpData().deptList.filter(d => d.deptId === 501)`, &depts)
	if len(depts) != 0 {
		t.Fatalf("delete_party: %v", depts)
	}
	// the history shows the events
	var hist []map[string]any
	e.js(`corp.getSyncHistory()`, &hist)
	if len(hist) == 0 || hist[0]["kind"] != "events" || hist[0]["events"].(float64) < 10 {
		t.Fatalf("history: %v", hist[0])
	}
	// and a sync finds nothing the events missed
	var dry map[string]any
	e.js(`corp.syncCorp({dryRun: true})`, &dry)
	var rep map[string]any
	e.js(`corp.syncCorp()`, &rep)
	t.Logf("dry run: %v", dry["changes"])
	if rep["drift"] != nil || rep["added"].(float64)+rep["updated"].(float64)+rep["offlined"].(float64) != 0 {
		t.Fatalf("a sync after the events: %v", rep)
	}
}

func TestPartialEventsKeepWhatTheyDoNotCarry(t *testing.T) {
	e := newEventEnv(t, 20, 3)
	u := e.sim.Org().Users[2]
	e.sim.WithholdSensitive(true) // an app created since 2022-06-20: no mobile in events
	must(t, e.sim.UpdateUser(u.UserID, func(x *wecom.User) { x.Position = "新职位"; x.Mobile = "13000000000" }))
	e.settle()
	m, _ := e.member(u.UserID)
	if m.Position != "新职位" || m.Mobile != u.Mobile {
		t.Fatalf("a partial update: position %q, mobile %q (kept %q)", m.Position, m.Mobile, u.Mobile)
	}
}

func TestAnEventForAnUnknownMemberFetchesJustThatMember(t *testing.T) {
	e := newEventEnv(t, 20, 3)
	e.sim.SetEventFaults(wecomsim.EventFaults{Drop: 1})
	must(t, e.sim.AddUser(wecom.User{UserID: "missed1", Name: "漏掉的", Department: []int64{2}, Position: "一"}))
	e.sim.WaitPushed(testwait.Hang)
	e.sim.SetEventFaults(wecomsim.EventFaults{RetryInterval: 5 * time.Millisecond})
	e.sim.ResetCalls()
	must(t, e.sim.UpdateUser("missed1", func(u *wecom.User) { u.Position = "二" }))
	e.settle()
	m, ok := e.member("missed1")
	if !ok || m.Name != "漏掉的" || m.Position != "二" {
		t.Fatalf("the member: %+v %v", m, ok)
	}
	calls := e.sim.CallCounts()
	if calls["user/get"] != 1 || calls["user/list"] != 0 {
		t.Fatalf("calls: %v", calls)
	}
	// a minimal event (the contact-sync assistant's) of an unknown department fetches it
	e.sim.SetEventFaults(wecomsim.EventFaults{Minimal: true, RetryInterval: 5 * time.Millisecond})
	must(t, e.sim.AddDepartment(wecom.Department{ID: 600, Name: "只有编号", ParentID: 1}))
	must(t, e.sim.UpdateUser("missed1", func(u *wecom.User) { u.Department, u.MainDepartment = []int64{600}, 600 }))
	e.settle()
	var depts []map[string]any
	e.js(`corp.getLocalCorpData().deptList.filter(d => d.deptId === 600)`, &depts)
	if len(depts) != 1 || depts[0]["name"] != "只有编号" {
		t.Fatalf("a department from a minimal event: %v", depts)
	}
	if m, _ := e.member("missed1"); !slices.Equal(m.DeptIDs, []int64{600}) || m.Position != "二" {
		t.Fatalf("a minimal update_user: %+v", m)
	}
}

// post sends a callback POST as WeCom would, signed with the corp's config (or another).
func (e *eventEnv) post(msg []byte, ts, nonce string, mod ...func(c **callback.Crypto, sig *string)) (int, string) {
	e.t.Helper()
	c, _ := callback.New(evToken, evAESKey, evCorpID)
	enc, _ := c.Encrypt(msg)
	sig := c.Sign(ts, nonce, enc)
	for _, f := range mod {
		f(&c, &sig)
		if sig == "" {
			enc, _ = c.Encrypt(msg)
			sig = c.Sign(ts, nonce, enc)
		}
	}
	body, _ := xml.Marshal(callback.Envelope{ToUserName: callback.Text{V: evCorpID}, Encrypt: callback.Text{V: enc}})
	u := fmt.Sprintf("%s/wecom/corps.E/callback?msg_signature=%s&timestamp=%s&nonce=%s", e.url, sig, ts, nonce)
	resp, err := http.Post(u, "text/xml", strings.NewReader(string(body)))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *eventEnv) stateBytes() []byte {
	b, _ := os.ReadFile(filepath.Join(e.app.DataDir(), "state.db"))
	return b
}

func TestCallbacksThatAreNotWeComsAreRefusedAndStoreNothing(t *testing.T) {
	e := newEventEnv(t, 10, 2)
	u := e.sim.Org().Users[1]
	now := fmt.Sprint(time.Now().Unix())
	ev := callback.UserEvent(evCorpID, callback.UpdateUser, time.Now().Unix(), &u, &wecom.User{UserID: u.UserID, Name: "伪造", Department: u.Department,
		MainDepartment: u.MainDepartment, Status: 1}, false).Marshal()
	before := e.stateBytes()
	other, _ := callback.New(evToken, evAESKey, "wwsomeoneelse")
	for name, c := range map[string]struct {
		ts     string
		mod    func(c **callback.Crypto, sig *string)
		status int
	}{
		"a bad signature":          {now, func(_ **callback.Crypto, sig *string) { *sig = strings.Repeat("a", 40) }, 401},
		"another corp's message":   {now, func(c **callback.Crypto, sig *string) { *c, *sig = other, "" }, 403},
		"a stale timestamp":        {fmt.Sprint(time.Now().Add(-10 * time.Minute).Unix()), nil, 400},
		"a timestamp from ahead":   {fmt.Sprint(time.Now().Add(10 * time.Minute).Unix()), nil, 400},
		"a timestamp not a number": {"soon", nil, 400},
	} {
		var mods []func(**callback.Crypto, *string)
		if c.mod != nil {
			mods = append(mods, c.mod)
		}
		if status, body := e.post(ev, c.ts, "12345", mods...); status != c.status {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	// a body that is not WeCom's, and a ciphertext with a bad pad
	resp, _ := http.Post(e.url+"/wecom/corps.E/callback?msg_signature=x&timestamp="+now+"&nonce=1", "text/xml", strings.NewReader("<html/>"))
	if resp.StatusCode != 400 {
		t.Errorf("not WeCom's body: %d", resp.StatusCode)
	}
	c, _ := callback.New(evToken, evAESKey, evCorpID)
	bad := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" // one block of zeros: pad byte out of range
	body, _ := xml.Marshal(callback.Envelope{Encrypt: callback.Text{V: bad}})
	resp, _ = http.Post(fmt.Sprintf("%s/wecom/corps.E/callback?msg_signature=%s&timestamp=%s&nonce=9", e.url, c.Sign(now, "9", bad), now), "text/xml", strings.NewReader(string(body)))
	if resp.StatusCode != 400 {
		t.Errorf("a bad pad: %d", resp.StatusCode)
	}
	e.settle()
	if string(before) != string(e.stateBytes()) {
		t.Fatal("a refused callback wrote to the state file")
	}
	if m, _ := e.member(u.UserID); m.Name == "伪造" {
		t.Fatal("a forged event was applied")
	}
	if logs := e.logs.String(); strings.Contains(logs, "伪造") || !strings.Contains(logs, "reason=signature") {
		t.Fatalf("the log holds the payload, or says nothing of the refusal:\n%s", logs)
	}
	for what, secret := range map[string]string{"token": evToken, "AES key": evAESKey, "secret": evSecret} {
		if strings.Contains(e.logs.String(), secret) {
			t.Fatalf("the callback %s is in the log", what)
		}
	}

	// a replay: the same request twice is stored once; the same plaintext sent again
	// (WeCom's retry, encrypted afresh) is applied once
	fixed := [16]byte{1, 2, 3}
	enc := c.EncryptWith(fixed, ev)
	sig := c.Sign(now, "777", enc)
	body, _ = xml.Marshal(callback.Envelope{Encrypt: callback.Text{V: enc}})
	for i := 0; i < 2; i++ {
		res, err := e.app.Invoke(context.Background(), elements.Call{Element: "corps.E", Method: "receiveCallback", Mode: elements.ArgsNamed,
			Args: []any{map[string]any{"msgSignature": sig, "timestamp": now, "nonce": "777", "body": string(body)}}})
		if err != nil || res.(map[string]any)["stored"] != (i == 0) {
			t.Fatalf("delivery %d of one request: %v %v", i+1, res, err)
		}
	}
	if status, _ := e.post(ev, now, "778"); status != 200 {
		t.Fatalf("the same event encrypted afresh: %d", status)
	}
	e.settle()
	var hist []map[string]any
	e.js(`corp.getSyncHistory()`, &hist)
	if m, _ := e.member(u.UserID); m.Name != "伪造" || hist[0]["kind"] != "events" || hist[0]["events"] != float64(1) {
		t.Fatalf("a replayed and a duplicated event: name %q, history %v", m.Name, hist[0])
	}
}

func TestURLVerificationAnswersTheBarePlaintext(t *testing.T) {
	e := newEventEnv(t, 5, 1)
	c, _ := callback.New(evToken, evAESKey, evCorpID)
	echo, _ := c.Encrypt([]byte("7654321012345678901"))
	ts := fmt.Sprint(time.Now().Unix())
	u := fmt.Sprintf("%s/wecom/corps.E/callback?msg_signature=%s&timestamp=%s&nonce=42&echostr=%s", e.url, c.Sign(ts, "42", echo), ts, url.QueryEscape(echo))
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "7654321012345678901" {
		t.Fatalf("verification: %d %q", resp.StatusCode, b)
	}
	resp, _ = http.Get(strings.Replace(u, "nonce=42", "nonce=43", 1))
	if resp.StatusCode != 401 {
		t.Fatalf("a verification with a wrong signature: %d", resp.StatusCode)
	}
}

// canonical is an org as the tests compare it: its active members, departments and tags.
type canonical struct {
	Members map[string]string
	Depts   map[int64]string
	Tags    map[int64]string
}

func (c canonical) diff(o canonical) string {
	var out []string
	for _, p := range []struct {
		name string
		a, b map[string]string
	}{{"member", c.Members, o.Members}} {
		for k, v := range p.a {
			if p.b[k] != v {
				out = append(out, fmt.Sprintf("%s %s:\n  local    %s\n  emulator %s", p.name, k, v, p.b[k]))
			}
		}
		for k := range p.b {
			if _, ok := p.a[k]; !ok {
				out = append(out, fmt.Sprintf("%s %s: only in the emulator", p.name, k))
			}
		}
	}
	for _, p := range []struct {
		name string
		a, b map[int64]string
	}{{"department", c.Depts, o.Depts}, {"tag", c.Tags, o.Tags}} {
		for k, v := range p.a {
			if p.b[k] != v {
				out = append(out, fmt.Sprintf("%s %d:\n  local    %s\n  emulator %s", p.name, k, v, p.b[k]))
			}
		}
		for k := range p.b {
			if _, ok := p.a[k]; !ok {
				out = append(out, fmt.Sprintf("%s %d: only in the emulator", p.name, k))
			}
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("… and %d more", len(out)-10))
	}
	return strings.Join(out, "\n")
}

func memberLine(name, position, mobile string, depts []int64, main int64, leaders []string) string {
	d := slices.Clone(depts)
	slices.Sort(d)
	l := slices.Clone(leaders)
	slices.Sort(l)
	return fmt.Sprintf("%s|%s|%s|%v|%d|%v", name, position, mobile, d, main, l)
}

func emulatorOrg(sim *wecomsim.Server) canonical {
	org := sim.Org()
	c := canonical{Members: map[string]string{}, Depts: map[int64]string{}, Tags: map[int64]string{}}
	for _, u := range org.Users {
		c.Members[u.UserID] = memberLine(u.Name, u.Position, u.Mobile, u.Department, u.MainDepartment, u.DirectLeader)
	}
	for _, d := range org.Departments {
		l := slices.Clone(d.Leaders)
		slices.Sort(l)
		c.Depts[d.ID] = fmt.Sprintf("%s|%d|%v", d.Name, d.ParentID, l)
	}
	for _, t := range org.Tags {
		var ids []string
		for _, u := range t.UserList {
			ids = append(ids, u.UserID)
		}
		sort.Strings(ids)
		p := slices.Clone(t.PartyList)
		slices.Sort(p)
		c.Tags[t.TagID] = fmt.Sprintf("%v|%v", ids, p)
	}
	return c
}

func (e *eventEnv) localOrg() canonical {
	var d struct {
		UserList []struct {
			MemberID, Name, Position, Mobile, Status string
			DeptIDs                                  []int64
			MainDeptID                               int64
			DirectLeader                             []string
		}
		DeptList []struct {
			DeptID, ParentID int64
			Name             string
			Leaders          []string
		}
		TagList []struct {
			TagID     int64
			MemberIDs []string
			DeptIDs   []int64
		}
	}
	e.js(`corp.getLocalCorpData()`, &d)
	c := canonical{Members: map[string]string{}, Depts: map[int64]string{}, Tags: map[int64]string{}}
	for _, u := range d.UserList {
		if u.Status == "active" {
			c.Members[u.MemberID] = memberLine(u.Name, u.Position, u.Mobile, u.DeptIDs, u.MainDeptID, u.DirectLeader)
		}
	}
	for _, dep := range d.DeptList {
		l := slices.Clone(dep.Leaders)
		slices.Sort(l)
		c.Depts[dep.DeptID] = fmt.Sprintf("%s|%d|%v", dep.Name, dep.ParentID, l)
	}
	for _, t := range d.TagList {
		ids := slices.Clone(t.MemberIDs)
		sort.Strings(ids)
		p := slices.Clone(t.DeptIDs)
		slices.Sort(p)
		c.Tags[t.TagID] = fmt.Sprintf("%v|%v", ids, p)
	}
	return c
}

// converge churns the emulator's org at rate changes a second (with the faults) until it
// made events changes' events, however long a busy machine takes, and reports whether the
// local org equals it by events alone, and after one reconcile (a whole-org sync).
func converge(t *testing.T, rate int, events int64, faults wecomsim.EventFaults) (byEvents string, afterSync string, rep map[string]any) {
	members, depts := 2000, 60
	if testing.Short() {
		members, depts = 500, 20
	}
	e := newEventEnv(t, members, depts)
	faults.RetryInterval = 5 * time.Millisecond
	e.sim.SetEventFaults(faults)
	e.sim.StartChurn(rate)
	testwait.For(t, fmt.Sprintf("the churn to make %d events", events), func() bool { return e.sim.PushStats().Events >= events })
	e.sim.StopChurn()
	e.settle()
	t.Logf("churn at %d/s: %+v", rate, e.sim.PushStats())
	byEvents = e.localOrg().diff(emulatorOrg(e.sim))
	e.js(`corp.syncCorp()`, &rep)
	afterSync = e.localOrg().diff(emulatorOrg(e.sim))
	return byEvents, afterSync, rep
}

func TestWithoutFaultsEventsAloneKeepTheOrgEqual(t *testing.T) {
	t.Parallel()
	rate, n := 600, int64(600) // a second of churn; make test-slow runs a minute's
	if !testing.Short() {
		rate, n = 200, 12_000
	}
	byEvents, afterSync, rep := converge(t, rate, n, wecomsim.EventFaults{})
	if byEvents != "" {
		t.Fatalf("after the events alone, the local org differs:\n%s", byEvents)
	}
	if afterSync != "" || rep["drift"] != nil {
		t.Fatalf("the sync found drift %v:\n%s", rep["drift"], afterSync)
	}
}

func TestUnderFaultsOneReconcileMakesTheOrgEqual(t *testing.T) {
	t.Parallel()
	rate, n := 600, int64(600) // a second of churn; make test-slow runs a minute's
	if !testing.Short() {
		rate, n = 200, 12_000
	}
	byEvents, afterSync, rep := converge(t, rate, n, wecomsim.EventFaults{Drop: 0.1, Duplicate: 0.1, Reorder: 0.1, Seed: 7})
	t.Logf("by events alone: %d differences; the sync repaired %v", strings.Count(byEvents, "\n")+1, rep["drift"])
	if byEvents == "" {
		t.Fatal("with 10% of the events dropped, the events alone made the org equal: the faults did not bite")
	}
	if afterSync != "" {
		t.Fatalf("after one reconcile, the local org differs:\n%s", afterSync)
	}
	if rep["drift"] == nil || rep["drift"].(float64) == 0 {
		t.Fatalf("the sync repaired drift but reports none: %v", rep)
	}
}

// BenchmarkEventToReadable measures, change by change, the time from a change in the
// emulator to the change readable through the corp (getMember, as getElement(...).getMember
// reads it): the event's encryption and POST, its verification and durable write, and the
// applier's transaction. It reports p50 and p99.
func BenchmarkEventToReadable(b *testing.B) {
	e := newEventEnv(b, 10_000, 300)
	users := e.sim.Org().Users
	const n = 500
	lat := make([]time.Duration, n)
	b.ResetTimer()
	for i := 0; i < n; i++ {
		id := users[(i*37)%len(users)].UserID
		want := fmt.Sprintf("岗位-%d", i)
		start := time.Now()
		must(b, e.sim.UpdateUser(id, func(u *wecom.User) { u.Position = want }))
		for {
			res, err := e.app.CallJSON(context.Background(), "corps.E", "getMember", map[string]any{"memberId": id})
			if err != nil {
				b.Fatal(err)
			}
			if f, _ := res.(elements.Record).Field("position"); f == want {
				break
			}
			if time.Since(start) > testwait.Hang {
				b.Fatalf("change %d never became readable", i)
			}
		}
		lat[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[n-1].Microseconds())/1000, "max-ms")
}

// BenchmarkEventThroughput pushes changes of distinct members as fast as the emulator
// sends them (8 deliveries in flight, as WeCom's servers would), each stored durably before
// its 200 and applied, and reports the events a second one corp sustains; every change is
// then checked in the local org (zero loss).
func BenchmarkEventThroughput(b *testing.B) {
	e := newEventEnv(b, 20_000, 300, func(o *wecomsim.Options) { o.Callbacks[0].Lanes = 8 })
	users := e.sim.Org().Users
	const n = 10_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = users[i].UserID
	}
	b.ResetTimer()
	start := time.Now()
	must(b, e.sim.UpdateUsers(ids, func(u *wecom.User) { u.Position = "批量-" + u.UserID }))
	if !e.sim.WaitPushed(2 * time.Minute) {
		b.Fatalf("not delivered: %+v", e.sim.PushStats())
	}
	delivered := time.Since(start)
	e.settle()
	took := time.Since(start)
	b.StopTimer()
	var wrong int
	for _, id := range ids {
		m, ok := e.member(id)
		if !ok || m.Position != "批量-"+id {
			wrong++
		}
	}
	if wrong > 0 || e.sim.PushStats().Failed > 0 {
		b.Fatalf("%d of %d changes lost (%+v)", wrong, n, e.sim.PushStats())
	}
	b.ReportMetric(float64(n)/took.Seconds(), "events/s")
	b.ReportMetric(float64(n)/delivered.Seconds(), "delivered/s")
	b.ReportMetric(0, "lost")
}
