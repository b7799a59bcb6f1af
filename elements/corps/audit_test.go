package corps_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom"
)

func (e *env) auditLog(q string) []org.AuditRecord {
	e.t.Helper()
	var out []org.AuditRecord
	e.mustJS(`corp.getAuditLog(`+q+`)`, &out)
	return out
}

// Every write of the org carries a record of who made it, through which method, with what
// arguments: the actor each entry point names (a token, a member, a task…), in the same
// transaction as the write. A call that wrote nothing leaves none; a failed one is kept in
// memory, not stored (a refused call writes nothing); the log filters by member and time.
func TestEveryWriteOfTheOrgIsAudited(t *testing.T) {
	e := newEnv(t, 30, 4, rolesConfig)
	call := func(who elements.Actor, method string, args any) error {
		_, err := e.app.CallJSON(elements.WithActor(context.Background(), who), "corps.Test", method, args)
		return err
	}
	if err := call(elements.Actor{Kind: "script", ID: "init.js"}, "initCorp", nil); err != nil {
		t.Fatal(err)
	}
	a, b := e.sim.Org().Users[0].UserID, e.sim.Org().Users[1].UserID
	if err := call(elements.Actor{Kind: "token"}, "setAdmin", []any{[]any{a}}); err != nil {
		t.Fatal(err)
	}
	if err := call(elements.Actor{Kind: "member", ID: a, Via: "auths.loginTypes.W"}, "saveUserSignature", []any{b, "https://sig.example/b.png"}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second grants the same: nothing written, nothing recorded
		if err := call(elements.Actor{Kind: "task", ID: "tasks.Grant"}, "setDeptRole", []any{1.0, []any{"finance"}}); err != nil {
			t.Fatal(err)
		}
	}
	before := e.stateBytes()
	if err := call(elements.Actor{Kind: "loopback"}, "setUserRole", []any{"ghost", []any{"hr"}}); err == nil {
		t.Fatal("a role given to no member")
	}
	if !strings.EqualFold(string(before), string(e.stateBytes())) {
		t.Fatal("a refused call wrote to the store")
	}
	if err := call(elements.Actor{Kind: "task", ID: "tasks.Sync"}, "syncCorp", nil); err != nil { // no change
		t.Fatal(err)
	}

	log := e.auditLog(`{}`)
	var got []string
	for _, r := range log {
		got = append(got, fmt.Sprintf("%s %s %s %v", r.Method, r.Actor, r.Result, r.Stored))
		if r.Element != "corps.Test" || r.Replica == "" || r.At == "" {
			t.Errorf("a record without its element, replica or time: %+v", r)
		}
	}
	want := []string{
		"setUserRole loopback not_found false",
		"setDeptRole task tasks.Grant ok true",
		"saveUserSignature member " + a + " (auths.loginTypes.W) ok true",
		"setAdmin token ok true",
		"initCorp script init.js ok true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the audit log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if sig := log[2]; sig.Args["signature"] != "https://sig.example/b.png" || len(sig.Members) != 1 || sig.Members[0] != b {
		t.Fatalf("the signature's record: %+v", sig)
	}
	// by member: the writes that named them
	if byB := e.auditLog(fmt.Sprintf(`{member: %q}`, b)); len(byB) != 1 || byB[0].Method != "saveUserSignature" {
		t.Fatalf("member %s's records: %+v", b, byB)
	}
	if recent := e.auditLog(`{since: "1h", limit: 2}`); len(recent) != 2 || recent[0].Method != "setUserRole" {
		t.Fatalf("since 1h, 2 of them: %+v", recent)
	}
	if err := e.js(`corp.getAuditLog({since: "yesterday"})`, nil); elements.CodeOf(err) != elements.CodeInvalidArgument {
		t.Fatalf("an unreadable since: %v", err)
	}

	// a sync that changes the org is its caller's, though it runs on a goroutine of the org's
	// (it outlives a caller that stops waiting)
	if err := e.sim.UpdateUser(b, func(u *wecom.User) { u.Position = "审计" }); err != nil {
		t.Fatal(err)
	}
	if err := call(elements.Actor{Kind: "task", ID: "tasks.Sync", Via: "timer"}, "syncCorp", nil); err != nil {
		t.Fatal(err)
	}
	if last := e.auditLog(`{limit: 1}`); len(last) != 1 || last[0].Method != "syncCorp" || last[0].Actor.String() != "task tasks.Sync (timer)" || !last[0].Stored {
		t.Fatalf("the sync that changed the org: %+v", last)
	}
}
