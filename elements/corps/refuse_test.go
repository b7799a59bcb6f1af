package corps_test

import (
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/callback"
)

// sendEvent posts one signed event and applies the queue.
func (e *eventEnv) sendEvent(ev *callback.Event) {
	e.t.Helper()
	msg, err := xml.Marshal(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	if status, body := e.post(msg, fmt.Sprint(time.Now().Unix()), fmt.Sprint(time.Now().UnixNano())); status != 200 {
		e.t.Fatalf("the event was not taken: %d %s", status, body)
	}
	e.settle()
}

// lastEventReport is the newest events report of the history (the events of a minute are
// one report).
func (e *eventEnv) lastEventReport() map[string]any {
	e.t.Helper()
	var hist []map[string]any
	e.js(`corp.getSyncHistory()`, &hist)
	for _, h := range hist {
		if h["kind"] == "events" {
			return h
		}
	}
	return map[string]any{}
}

// refused is how many events the newest events report refused.
func (e *eventEnv) refused() float64 {
	n, _ := e.lastEventReport()["refused"].(float64)
	return n
}

// A rename onto an id another member holds (active, or offline: a departed member's id
// WeCom let be reused) hands over nothing: both records stay as they were, the event is
// refused and counted with both names, and a sync takes WeCom's truth.
func TestARenameOntoAnExistingIDIsRefused(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, 40, 4)
	users := e.sim.Org().Users
	a, b, gone := users[1], users[2], users[3]
	e.js(fmt.Sprintf(`corp.setAdmin([%q]); corp.setUserRole(%q, ["member"]); corp.saveUserSignature(%q, "https://sig.example/b.png")`,
		gone.UserID, gone.UserID, b.UserID), nil)
	e.sendEvent(callback.UserEvent(evCorpID, callback.DeleteUser, time.Now().Unix(), &gone, nil, false))
	if m, _ := e.member(gone.UserID); m.Status != "offline" {
		t.Fatalf("the departed member: %+v", m)
	}
	var before int
	e.js(`corp.getLocalCorpData().userList.length`, &before)
	for _, onto := range []wecom.User{b, gone} {
		renamed := a
		renamed.UserID = onto.UserID
		was := e.refused()
		e.sendEvent(callback.UserEvent(evCorpID, callback.UpdateUser, time.Now().Unix(), &a, &renamed, false))
		rep := e.lastEventReport()
		if e.refused() != was+1 || !strings.Contains(fmt.Sprint(rep["warnings"]), a.UserID) || !strings.Contains(fmt.Sprint(rep["warnings"]), onto.UserID) {
			t.Fatalf("onto %s: the report does not count and name the refusal: %v", onto.UserID, rep)
		}
	}
	var after int
	e.js(`corp.getLocalCorpData().userList.length`, &after)
	if after != before {
		t.Fatalf("%d members after the refused renames, were %d", after, before)
	}
	if m, ok := e.member(a.UserID); !ok || m.Name != a.Name {
		t.Fatalf("the member renamed from lost their record: %+v %v", m, ok)
	}
	var roles, admins []string
	var sig map[string]any
	e.js(fmt.Sprintf(`corp.getMemberRoles(%q).filter(r => r.from.includes("direct")).map(r => r.roleId)`, a.UserID), &roles)
	e.js(`corp.getAdmin()`, &admins)
	e.js(fmt.Sprintf(`corp.getUserSignature(%q)`, a.UserID), &sig)
	if len(roles) != 0 || strings.Contains(fmt.Sprint(admins), a.UserID) || sig["signature"] != nil {
		t.Fatalf("the member renamed from got the others' grants: roles %v admins %v signature %v", roles, admins, sig)
	}
	if !strings.Contains(e.logs.String(), "a change event was refused") {
		t.Fatal("the refusal was not logged")
	}
	// the next sync takes WeCom's truth (here: nothing was renamed there)
	var rep map[string]any
	e.js(`corp.syncCorp()`, &rep)
	if m, ok := e.member(a.UserID); !ok || m.Status != "active" {
		t.Fatalf("after the sync: %+v", m)
	}
}

// Events that would break the tree are refused: a cycle, a department its own parent, the
// root deleted or moved; the org stays a tree, every reader keeps working.
func TestEventsThatWouldBreakTheTreeAreRefused(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, 200, 30)
	org := e.sim.Org()
	parent := map[int64]int64{}
	for _, d := range org.Departments {
		parent[d.ID] = d.ParentID
	}
	// a department with a grandchild
	var top, below wecom.Department
	for _, d := range org.Departments {
		if p := parent[d.ID]; p != 0 && parent[p] != 0 && parent[parent[p]] != 0 {
			below = d
			for id := d.ID; parent[id] != 0; id = parent[id] {
				if parent[parent[id]] == 0 {
					for _, x := range org.Departments {
						if x.ID == id {
							top = x
						}
					}
				}
			}
			break
		}
	}
	if below.ID == 0 {
		t.Fatal("the emulator's org has no department three levels down")
	}
	var root wecom.Department
	for _, d := range org.Departments {
		if d.ParentID == 0 {
			root = d
		}
	}
	var treeBefore, countsBefore string
	e.js(`JSON.stringify(corp.getDeptTree())`, &treeBefore)
	e.js(`const d = corp.corpData; delete d.lastSyncAt; JSON.stringify(d)`, &countsBefore)
	moved := func(d wecom.Department, parent int64) *callback.Event {
		n := d
		n.ParentID = parent
		return callback.PartyEvent(evCorpID, callback.UpdateParty, time.Now().Unix(), &d, &n, false)
	}
	for name, ev := range map[string]*callback.Event{
		"a cycle":                  moved(top, below.ID),
		"its own parent":           moved(below, below.ID),
		"the root under its child": moved(root, top.ID),
		"the root deleted":         callback.PartyEvent(evCorpID, callback.DeleteParty, time.Now().Unix(), &root, nil, false),
	} {
		was := e.refused()
		e.sendEvent(ev)
		if e.refused() != was+1 {
			t.Fatalf("%s: not refused: %v", name, e.lastEventReport())
		}
		// a move is checked with WeCom at once: its own record of the department is applied
		if ws := fmt.Sprint(e.lastEventReport()["warnings"]); name != "the root deleted" && !strings.Contains(ws, "WeCom's own record of it was applied") {
			t.Fatalf("%s: WeCom's record was not fetched: %s", name, ws)
		}
		var tree string
		e.js(`JSON.stringify(corp.getDeptTree())`, &tree)
		if tree != treeBefore {
			t.Fatalf("%s changed the tree", name)
		}
	}
	var counts string
	e.js(`const d = corp.corpData; delete d.lastSyncAt; JSON.stringify(d)`, &counts)
	if counts != countsBefore {
		t.Fatalf("the counts changed:\n%s\nwere\n%s", counts, countsBefore)
	}
}

// A field over WeCom's cap (a 700 KB position) is not stored: the event is refused.
func TestOversizedEventFieldsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, 10, 2)
	u := e.sim.Org().Users[1]
	big := u
	big.Position = strings.Repeat("岗", 2000) // 6 KB; any size over the cap is refused alike
	e.sendEvent(callback.UserEvent(evCorpID, callback.UpdateUser, time.Now().Unix(), &u, &big, false))
	if m, _ := e.member(u.UserID); m.Position != u.Position {
		t.Fatalf("a %d-byte position was stored", len(m.Position))
	}
	if rep := e.lastEventReport(); e.refused() != 1 || !strings.Contains(fmt.Sprint(rep["warnings"]), "Position is 2000 characters, over WeCom's 128") {
		t.Fatalf("the report: %v", rep)
	}
}

// WeCom gives a departed member's userid to someone new: the newcomer (a create_user of it)
// starts with no roles, no admin status and no signature of the one who left; a late
// retry of the departed member's own hire brings nobody back.
func TestAReusedUserIDStartsWithNothingOfTheOneWhoLeft(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, 30, 3)
	gone := e.sim.Org().Users[5]
	e.js(fmt.Sprintf(`corp.setAdmin([%q]); corp.setUserRole(%q, ["admin"]); corp.saveUserSignature(%q, "https://sig.example/gone.png")`,
		gone.UserID, gone.UserID, gone.UserID), nil)
	must(t, e.sim.RemoveUser(gone.UserID))
	e.settle()
	if m, _ := e.member(gone.UserID); m.Status != "offline" {
		t.Fatalf("the departed member: %+v", m)
	}
	// a late retry of the departed member's hire: WeCom has no such member, nothing comes back
	e.sendEvent(callback.UserEvent(evCorpID, callback.CreateUser, time.Now().Unix(), nil, &gone, false))
	if m, _ := e.member(gone.UserID); m.Status != "offline" {
		t.Fatalf("a late create of a departed member brought them back: %+v", m)
	}
	// the id given to someone new
	newcomer := wecom.User{UserID: gone.UserID, Name: "新来的", Department: []int64{1}, Position: "实习生"}
	must(t, e.sim.AddUser(newcomer))
	e.settle()
	m, _ := e.member(gone.UserID)
	if m.Status != "active" || m.Name != "新来的" {
		t.Fatalf("the newcomer: %+v", m)
	}
	var roles, admins []string
	var sig map[string]any
	e.js(fmt.Sprintf(`corp.getMemberRoles(%q).filter(r => r.from.includes("direct")).map(r => r.roleId)`, gone.UserID), &roles)
	e.js(`corp.getAdmin()`, &admins)
	e.js(fmt.Sprintf(`corp.getUserSignature(%q)`, gone.UserID), &sig)
	if len(roles) != 0 || strings.Contains(fmt.Sprint(admins), gone.UserID) || sig["signature"] != nil {
		t.Fatalf("the newcomer got the departed member's grants: roles %v admins %v signature %v", roles, admins, sig)
	}
}
