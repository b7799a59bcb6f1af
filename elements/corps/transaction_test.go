package corps_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/runtime"
)

// rmwScript adds one role to a member's direct roles by reading them and writing them back
// (what a Type method written in JS does), inside app.transaction of the corp or not.
func rmwScript(member, role string, inTransaction bool) string {
	body := fmt.Sprintf(`const corp = app.getElement("corps.Test");
		const have = corp.getMemberRoles(%q).filter(r => r.from.includes("direct")).map(r => r.roleId);
		corp.setUserRole(%q, [...have, %q]);`, member, member, role)
	if inTransaction {
		return `app.transaction("corps.Test", () => {` + body + `})`
	}
	return body
}

// 30 scripts at once each add a role to the same member by reading the member's roles and
// writing them back: inside app.transaction of the corp all 30 are kept, whatever the
// order the scripts ran in; a transaction of the same name inside it, a sync inside it, and
// a transaction without a function are errors, not deadlocks.
func TestATransactionMakesAScriptsReadModifyWriteAtomic(t *testing.T) {
	var roles []string
	for i := range 30 {
		roles = append(roles, fmt.Sprintf(`{"roleId": "r%02d", "name": "角色%d"}`, i, i))
	}
	e := newEnv(t, 20, 3, `, "roles": [`+strings.Join(roles, ",")+`]`)
	e.mustJS(`corp.initCorp()`, nil)
	// 20 runs, a member each, on the state file (the replicas' test does the same on one
	// PostgreSQL)
	for run := range 20 {
		member := e.sim.Org().Users[run].UserID
		var wg sync.WaitGroup
		errs := make(chan error, 30)
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.app.Host().Run(context.Background(), runtime.Script{Name: "rmw.js", Code: rmwScript(member, fmt.Sprintf("r%02d", i), true)})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		e.mustJS(fmt.Sprintf(`corp.getMemberRoles(%q).filter(r => r.from.includes("direct")).map(r => r.roleId)`, member), &got)
		if len(got) != 30 {
			t.Fatalf("run %d: %d of 30 roles kept: %v", run, len(got), got)
		}
	}
	member := e.sim.Org().Users[0].UserID

	for _, c := range []struct{ code, want string }{
		{`app.transaction("corps.Test", () => app.transaction("corps.Test", () => 1))`, elements.CodeFailedPrecondition},
		{`app.transaction("corps.Test", () => corp.syncCorp())`, elements.CodeFailedPrecondition},
		{`app.transaction("corps.Test")`, elements.CodeInvalidArgument},
	} {
		err := e.js(c.code, nil)
		if elements.CodeOf(err) != c.want {
			t.Errorf("%s: %v (code %q), want %s", c.code, err, elements.CodeOf(err), c.want)
		}
	}
	// a throw inside lets the lock go: the next transaction and a built-in write proceed
	if err := e.js(`app.transaction("corps.Test", () => { throw new Error("mine") })`, nil); err == nil || !strings.Contains(err.Error(), "mine") {
		t.Fatalf("a throw inside a transaction: %v", err)
	}
	var n float64
	e.mustJS(`app.transaction("corps.Test", () => { corp.setAdmin([`+fmt.Sprintf("%q", member)+`]); return 7 })`, &n)
	if n != 7 {
		t.Fatalf("a transaction's value: %v", n)
	}
	// a name of the app's own is a lock of its own
	e.mustJS(`app.transaction("billing", () => app.transaction("corps.Test", () => 1))`, &n)
}
