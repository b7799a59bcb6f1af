package corps_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/wecom"
)

// The frictions a new user met (issue 15), one test each.

func TestADryRunWithNoChangeHasAnEmptyChangeList(t *testing.T) {
	e := newEnv(t, 20, 3, "")
	e.mustJS(`corp.initCorp()`, nil)
	var n float64
	e.mustJS(`corp.syncCorp({dryRun: true}).changes.length`, &n)
	if n != 0 {
		t.Fatalf("changes of a dry run with nothing to change: %v", n)
	}
	e.mustJS(`corp.syncCorp().changes.length + corp.getSyncHistory()[0].changes.length`, &n)
	if n != 0 {
		t.Fatalf("changes of a real sync with nothing to change: %v", n)
	}
}

func TestReactivateMemberUndoesOfflineMember(t *testing.T) {
	e := newEnv(t, 30, 3, "")
	e.mustJS(`corp.initCorp()`, nil)
	u := e.sim.Org().Users
	a, b := u[1], u[2]
	e.mustJS(fmt.Sprintf(`corp.offlineMember([%q, %q])`, a.UserID, b.UserID), nil)
	r := e.sync("")
	warned := strings.Join(r.Warnings, "\n")
	if !strings.Contains(warned, a.Name+" ("+a.UserID+")") || !strings.Contains(warned, "reactivateMember") {
		t.Fatalf("the warning does not name the members kept offline: %v", r.Warnings)
	}
	e.mustJS(fmt.Sprintf(`corp.reactivateMember([%q])`, a.UserID), nil)
	e.sync("")
	var status []string
	e.mustJS(fmt.Sprintf(`[corp.getMember(%q).status, corp.getMember(%q).status]`, a.UserID, b.UserID), &status)
	if status[0] != "active" || status[1] != "offline" {
		t.Fatalf("after reactivateMember and a sync: %v", status)
	}
	// someone who left WeCom is brought back by a sync, not by reactivateMember
	e.must(e.sim.RemoveUser(u[3].UserID))
	e.sync("")
	err := e.js(fmt.Sprintf(`corp.reactivateMember([%q])`, u[3].UserID), nil)
	if err == nil || !strings.Contains(err.Error(), "left WeCom") || elements.CodeOf(err) != elements.CodeInvalidArgument {
		t.Fatalf("reactivating a member who left WeCom: %v", err)
	}
	if err := e.js(`corp.reactivateMember(["ghost"])`, nil); elements.CodeOf(err) != elements.CodeNotFound {
		t.Fatalf("an unknown member: %v", err)
	}
}

func TestEveryMethodOfTheLocalOrgSaysInitCorpFirst(t *testing.T) {
	e := newEnv(t, 10, 2, "")
	id := e.sim.Org().Users[0].UserID // in WeCom, not yet here
	for _, call := range []string{
		`getLocalCorpData()`, `getRootDept()`, `setUserRole("` + id + `", ["admin"])`, `offlineMember(["` + id + `"])`,
		`reactivateMember(["` + id + `"])`, `getUserSignature("` + id + `")`, `saveUserSignature("` + id + `", "https://x.example/s.png")`,
		`setAdmin(["` + id + `"])`, `getAdmin()`, `getDeptMembers(1)`, `getMember("` + id + `")`, `getMemberRoles("` + id + `")`,
		`setDeptRole(1, ["admin"])`, `getDeptRole(1)`, `getDeptTree()`, `listMembers()`,
	} {
		err := e.js(`corp.`+call, nil)
		if elements.CodeOf(err) != elements.CodeFailedPrecondition || !strings.Contains(err.Error(), "call initCorp() first") {
			t.Errorf("%s before initCorp: %v", call, err)
		}
	}
}

func TestBulkRegisterSaysWhatIsWrongInJSONsWords(t *testing.T) {
	e := newEnv(t, 5, 1, "")
	e.mustJS(`corp.initCorp()`, nil)
	for code, want := range map[string]string{
		`corp.bulkRegister({userDict: []})`:                             "corpData.userDict must be an object, not an array",
		`corp.bulkRegister({userDict: {a: {userid: "a", name: 5}}})`:    "must be a string, not a number",
		`corp.bulkRegister({userDict: {}, deptDict: {"1": {id: "x"}}})`: "must be a number, not a string",
	} {
		err := e.js(code, nil)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Go struct") ||
			strings.Contains(err.Error(), "map[") || strings.Contains(err.Error(), "wecom.") {
			t.Errorf("%s:\n got  %v\n want …%s…, in JSON's words", code, err, want)
		}
	}
}

func TestAnUnknownWeComPathIsNotRetried(t *testing.T) {
	e := newEnv(t, 5, 1, "")
	e.sim.ResetCalls()
	err := e.js(`corp.getClient().get("no/such/endpoint")`, nil)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("an unknown path: %v", err)
	}
	if n := e.sim.Calls("no/such/endpoint"); n != 1 {
		t.Fatalf("an unknown path was asked %d times", n)
	}
}

func TestTheWrongSecretAdviceFitsAnInlineSecret(t *testing.T) {
	a := wecom.Advice(wecom.CodeInvalidSecret)
	if !strings.Contains(a, "into the config") {
		t.Fatalf("advice for a wrong secret: %s", a)
	}
}
