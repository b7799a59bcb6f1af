package wecomsim_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/callback"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

const (
	corpID = "wwpush0000000001"
	token  = "pushToken1"
	aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// receiver is an app's callback endpoint: it verifies, decrypts and keeps each event.
type receiver struct {
	t      *testing.T
	crypto *callback.Crypto
	srv    *httptest.Server
	mu     sync.Mutex
	events []*callback.Event
	fail   atomic.Int64 // answer 500 to this many requests first
}

func newReceiver(t *testing.T) *receiver {
	c, err := callback.New(token, aesKey, corpID)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, crypto: c}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.fail.Add(-1) >= 0 {
			w.WriteHeader(500)
			return
		}
		body, _ := io.ReadAll(req.Body)
		var env callback.Envelope
		if err := xml.Unmarshal(body, &env); err != nil {
			t.Errorf("envelope: %v", err)
			return
		}
		q := req.URL.Query()
		if err := c.Verify(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), env.Encrypt.V); err != nil {
			t.Errorf("signature: %v", err)
			return
		}
		msg, err := c.Decrypt(env.Encrypt.V)
		if err != nil {
			t.Errorf("decrypt: %v", err)
			return
		}
		ev, err := callback.ParseEvent(msg)
		if err != nil {
			t.Errorf("event: %v", err)
			return
		}
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []*callback.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*callback.Event(nil), r.events...)
}

func start(t *testing.T, r *receiver, minimal bool) *wecomsim.Server {
	sim, err := wecomsim.Start(wecomsim.Options{CorpID: corpID, Members: 30, Departments: 5, Seed: 9,
		Callbacks: []wecomsim.Callback{{URL: r.srv.URL + "/cb?x=1", Token: token, EncodingAESKey: aesKey, Minimal: minimal}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.SetEventFaults(wecomsim.EventFaults{RetryInterval: time.Millisecond})
	return sim
}

func kinds(evs []*callback.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind())
	}
	return strings.Join(out, " ")
}

func TestEveryChangeIsPushedInOrder(t *testing.T) {
	r := newReceiver(t)
	sim := start(t, r, false)
	u := sim.Org().Users
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sim.AddDepartment(wecom.Department{ID: 100, Name: "新部门", ParentID: 1}))
	must(sim.AddUser(wecom.User{UserID: "hire1", Name: "新人", Department: []int64{100}, Mobile: "13900000000"}))
	must(sim.UpdateUser("hire1", func(x *wecom.User) { x.Position = "工程师" }))
	must(sim.UpdateUser("hire1", func(x *wecom.User) {})) // no change: no event
	must(sim.RenameUser("hire1", "hire1.new"))
	must(sim.UpdateDepartment(100, func(d *wecom.Department) { d.Name = "研发部" }))
	must(sim.UpdateTag(sim.Org().Tags[0].TagID, []string{u[0].UserID}, nil, []int64{100}, nil))
	must(sim.RemoveUser("hire1.new"))
	must(sim.RemoveDepartment(100))
	if !sim.WaitPushed(hang) {
		t.Fatal("not delivered")
	}
	got := r.got()
	// the tag event after the removal: department 100 leaves the tag
	want := "create_party create_user update_user update_user update_party update_tag delete_user delete_party update_tag"
	if kinds(got) != want {
		t.Fatalf("events:\n got  %s\n want %s", kinds(got), want)
	}
	if got[2].Position == nil || got[2].Position.V != "工程师" || got[2].Name != nil || got[2].Mobile != nil {
		t.Fatalf("a partial update carries: %s", got[2].Marshal())
	}
	if got[3].User() != "hire1" || got[3].NewUser() != "hire1.new" {
		t.Fatalf("rename: %s", got[3].Marshal())
	}
	if got[1].Mobile == nil || got[1].Department.V != "100" {
		t.Fatalf("create_user: %s", got[1].Marshal())
	}
	// every change is readable at once
	if _, ok := sim.User("hire1.new"); ok {
		t.Fatal("a removed member is still there")
	}
}

func TestFaultsAndRetries(t *testing.T) {
	r := newReceiver(t)
	sim := start(t, r, false)
	id := sim.Org().Users[1].UserID
	made := 0
	change := func(n int) {
		for i := 0; i < n; i++ {
			made++
			sim.UpdateUser(id, func(x *wecom.User) { x.Position = strings.Repeat("x", made) })
		}
		sim.WaitPushed(hang)
	}
	sim.SetEventFaults(wecomsim.EventFaults{Drop: 1})
	change(5)
	if n := len(r.got()); n != 0 {
		t.Fatalf("dropped events arrived: %d", n)
	}
	sim.SetEventFaults(wecomsim.EventFaults{Duplicate: 1, RetryInterval: time.Millisecond})
	change(3)
	if n := len(r.got()); n != 6 {
		t.Fatalf("duplicated: %d events, want 6", n)
	}
	// two failures, then success: delivered once, retried twice
	before := sim.PushStats()
	r.fail.Store(2)
	sim.SetEventFaults(wecomsim.EventFaults{RetryInterval: time.Millisecond})
	change(1)
	st := sim.PushStats()
	if len(r.got()) != 7 || st.Retried-before.Retried != 2 || st.Failed != 0 {
		t.Fatalf("retries: %d events, stats %+v", len(r.got()), st)
	}
	// more failures than retries: given up, counted
	r.fail.Store(10)
	sim.SetEventFaults(wecomsim.EventFaults{Retries: 2, RetryInterval: time.Millisecond})
	change(1)
	if st := sim.PushStats(); st.Failed != 1 {
		t.Fatalf("a failed delivery: %+v", st)
	}
}

func TestMinimalEventsCarryOnlyIDs(t *testing.T) {
	r := newReceiver(t)
	sim := start(t, r, true)
	u := sim.Org().Users[2]
	sim.UpdateUser(u.UserID, func(x *wecom.User) { x.Position = "经理"; x.Department = []int64{1}; x.MainDepartment = 1 })
	sim.UpdateDepartment(2, func(d *wecom.Department) { d.Name = "改名不移动" }) // the assistant hears nothing
	sim.AddDepartment(wecom.Department{ID: 77, Name: "x", ParentID: 1})
	sim.WaitPushed(hang)
	got := r.got()
	if kinds(got) != "update_user create_party" {
		t.Fatalf("events: %s", kinds(got))
	}
	if got[0].UserFields() || got[0].Department == nil || got[0].Position != nil {
		t.Fatalf("minimal update_user: %s", got[0].Marshal())
	}
	if got[1].Name != nil || got[1].ParentID == nil {
		t.Fatalf("minimal create_party: %s", got[1].Marshal())
	}
}

func TestChurnChangesTheOrgAndPushesEveryChange(t *testing.T) {
	r := newReceiver(t)
	sim := start(t, r, false)
	before := sim.Org()
	sim.StartChurn(500)
	deadline := time.Now().Add(hang)
	for sim.PushStats().Events < 50 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	sim.StopChurn()
	sim.WaitPushed(hang)
	st := sim.PushStats()
	if st.Events < 50 || int64(len(r.got())) != st.Delivered || st.Delivered != st.Events {
		t.Fatalf("churn: %+v, %d received", st, len(r.got()))
	}
	if after := sim.Org(); len(after.Users) == len(before.Users) && len(after.Departments) == len(before.Departments) && after.Users[0].Name == before.Users[0].Name && after.Users[5].Position == before.Users[5].Position {
		t.Log("the org looks unchanged (possible, but unlikely)")
	}
}

// hang is how long a test waits for the emulator before calling it a hang: a busy machine
// makes the test slower, never red.
const hang = 3 * time.Minute
