package corps_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom"
)

// effective is getMemberRoles' answer.
type effective []struct {
	RoleID string
	Name   string
	From   []string
}

func (e effective) String() string {
	var parts []string
	for _, r := range e {
		parts = append(parts, r.RoleID+"<"+strings.Join(r.From, "+"))
	}
	return strings.Join(parts, " ")
}

func (e *env) roles(memberID string) effective {
	e.t.Helper()
	var out effective
	e.mustJS(fmt.Sprintf(`corp.getMemberRoles(%q)`, memberID), &out)
	return out
}

// chain finds three departments, each the parent of the next, and a member of the last who
// is in no other department.
func chain(t *testing.T, org *wecom.Org) (gp, p, d int64, member string) {
	parent := map[int64]int64{}
	for _, dep := range org.Departments {
		parent[dep.ID] = dep.ParentID
	}
	for _, u := range org.Users {
		if len(u.Department) != 1 {
			continue
		}
		d := u.Department[0]
		if p, ok := parent[d]; ok && p != 0 {
			if gp, ok := parent[p]; ok && gp != 0 {
				return gp, p, d, u.UserID
			}
		}
	}
	t.Fatal("the generated org has no member two levels below a department")
	return
}

const rolesConfig = `, "roles": [{"roleId": "admin", "name": "管理员"}, {"roleId": "member", "name": "成员"}, {"roleId": "finance", "name": "财务"}, {"roleId": "hr", "name": "人事"}]`

func TestRolesGrantedToADepartmentReachEveryDescendant(t *testing.T) {
	e := newEnv(t, 400, 40, rolesConfig)
	e.mustJS(`corp.initCorp()`, nil)
	gp, p, d, m := chain(t, e.sim.Org())
	if got := e.roles(m); len(got) != 0 {
		t.Fatalf("before any grant: %v", got)
	}
	e.mustJS(fmt.Sprintf(`corp.setDeptRole(%d, ["finance"]); corp.setDeptRole(%d, ["finance", "hr"]); corp.setUserRole(%q, ["member"])`, gp, d, m), nil)
	want := fmt.Sprintf("member<direct finance<dept:%d+dept:%d hr<dept:%d", d, gp, d)
	if got := e.roles(m).String(); got != want {
		t.Fatalf("roles of %s (in %d, under %d, under %d):\n got  %s\n want %s", m, d, p, gp, got, want)
	}
	var grant struct {
		DeptID     int64
		RoleIDList []string
	}
	e.mustJS(fmt.Sprintf(`corp.getDeptRole(%d)`, d), &grant)
	if grant.DeptID != d || !slices.Equal(grant.RoleIDList, []string{"finance", "hr"}) {
		t.Fatalf("getDeptRole: %+v", grant)
	}
	var rows []map[string]any
	e.mustJS(`corp.getLocalCorpData().deptRoleList`, &rows)
	if len(rows) != 3 {
		t.Fatalf("deptRoleList: %v", rows)
	}
	// an empty list takes a department's grants away
	e.mustJS(fmt.Sprintf(`corp.setDeptRole(%d, [])`, d), nil)
	if got, want := e.roles(m).String(), fmt.Sprintf("member<direct finance<dept:%d", gp); got != want {
		t.Fatalf("after the grant to %d was taken away: %s, want %s", d, got, want)
	}
	// admins hold admin
	e.mustJS(fmt.Sprintf(`corp.setAdmin([%q])`, m), nil)
	if got, want := e.roles(m).String(), fmt.Sprintf("admin<admin member<direct finance<dept:%d", gp); got != want {
		t.Fatalf("an admin: %s, want %s", got, want)
	}
}

func TestAMoveInWeComChangesInheritedRolesWithNoOtherStep(t *testing.T) {
	e := newEnv(t, 400, 40, rolesConfig)
	e.mustJS(`corp.initCorp()`, nil)
	gp, _, _, m := chain(t, e.sim.Org())
	e.mustJS(fmt.Sprintf(`corp.setDeptRole(%d, ["hr"])`, gp), nil)
	if !strings.Contains(e.roles(m).String(), "hr<") {
		t.Fatalf("before the move: %s", e.roles(m))
	}
	// move the member to a department outside gp's subtree: the root's direct child that is not gp's ancestor
	parent := map[int64]int64{}
	for _, dep := range e.sim.Org().Departments {
		parent[dep.ID] = dep.ParentID
	}
	under := func(x, anc int64) bool {
		for ; x != 0; x = parent[x] {
			if x == anc {
				return true
			}
		}
		return false
	}
	var elsewhere int64
	for _, dep := range e.sim.Org().Departments {
		if !under(dep.ID, gp) && !under(gp, dep.ID) {
			elsewhere = dep.ID
			break
		}
	}
	if elsewhere == 0 {
		t.Fatal("no department outside the granted subtree")
	}
	e.must(e.sim.UpdateUser(m, func(u *wecom.User) { u.Department, u.MainDepartment = []int64{elsewhere}, elsewhere }))
	e.sync("")
	if got := e.roles(m); len(got) != 0 {
		t.Fatalf("after moving to %d, outside %d: %v", elsewhere, gp, got)
	}
	// and back
	e.must(e.sim.UpdateUser(m, func(u *wecom.User) { u.Department, u.MainDepartment = []int64{gp}, gp }))
	e.sync("")
	if got, want := e.roles(m).String(), fmt.Sprintf("hr<dept:%d", gp); got != want {
		t.Fatalf("after moving into %d: %s, want %s", gp, got, want)
	}
}

func TestAnOfflineMemberHoldsNoRoleAndLeavesTheAdmins(t *testing.T) {
	e := newEnv(t, 60, 6, rolesConfig)
	e.mustJS(`corp.initCorp()`, nil)
	u := e.sim.Org().Users
	a, b, c := u[0].UserID, u[1].UserID, u[2].UserID
	e.mustJS(fmt.Sprintf(`corp.setAdmin([%q, %q, %q]); corp.setUserRole(%q, ["finance"]); corp.setDeptRole(%d, ["hr"])`,
		a, b, c, a, u[0].Department[0]), nil)
	if len(e.roles(a)) != 3 {
		t.Fatalf("before: %v", e.roles(a))
	}
	// offline here, with offlineMember
	e.mustJS(fmt.Sprintf(`corp.offlineMember([%q])`, a), nil)
	if got := e.roles(a); len(got) != 0 {
		t.Fatalf("an offline member holds %v", got)
	}
	var admins []string
	e.mustJS(`corp.getAdmin()`, &admins)
	if !slices.Equal(admins, []string{b, c}) {
		t.Fatalf("admins after %s went offline: %v", a, admins)
	}
	e.mustJS(`corp.setAdmin(corp.getAdmin())`, nil) // the list is one setAdmin accepts
	// offline in WeCom, through a sync
	e.must(e.sim.RemoveUser(b))
	e.sync("")
	e.mustJS(`corp.getAdmin()`, &admins)
	if !slices.Equal(admins, []string{c}) {
		t.Fatalf("admins after %s left WeCom: %v", b, admins)
	}
	var stored []string
	e.mustJS(`corp.getLocalCorpData().adminList`, &stored)
	if !slices.Equal(stored, []string{c}) {
		t.Fatalf("the stored admin list keeps an offline member: %v", stored)
	}
	if got := e.roles(b); len(got) != 0 {
		t.Fatalf("a member who left WeCom holds %v", got)
	}
}

func TestDepartmentRoleErrorsNameWhatIsWrongAndWriteNothing(t *testing.T) {
	e := newEnv(t, 30, 4, rolesConfig)
	e.mustJS(`corp.initCorp()`, nil)
	d := e.sim.Org().Departments[1].ID
	before := e.stateBytes()
	for _, c := range []struct{ code, want, errCode string }{
		{`corp.setDeptRole(987654, ["hr"])`, `no department "987654" in corp corps.Test`, "not_found"},
		{fmt.Sprintf(`corp.setDeptRole(%d, ["boss"])`, d), `role "boss" is not declared`, "invalid_argument"},
		{fmt.Sprintf(`corp.setDeptRole(%d, ["hr", "hr"])`, d), `roleIdList holds "hr" twice`, "invalid_argument"},
		{`corp.setDeptRole(0, ["hr"])`, `deptId 0 is not a WeCom department id`, "invalid_argument"},
		{`corp.setDeptRole(1.5, ["hr"])`, `deptId`, "invalid_argument"},
		{`corp.getDeptRole(987654)`, `no department "987654"`, "not_found"},
		{`corp.getMemberRoles("ghost")`, `no member "ghost" in corp corps.Test`, "not_found"},
		{`corp.getMemberRoles("../x")`, `not a WeCom userid`, "invalid_argument"},
		{`corp.getMember("ghost")`, `no member "ghost"`, "not_found"},
	} {
		err := e.js(c.code, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || elements.CodeOf(err) != c.errCode {
			t.Errorf("%s:\n got  %v (%s)\n want %q (%s)", c.code, err, elements.CodeOf(err), c.want, c.errCode)
		}
	}
	if !bytes.Equal(before, e.stateBytes()) {
		t.Fatal("a refused call wrote to the store")
	}
	// the same grant twice writes once
	e.mustJS(fmt.Sprintf(`corp.setDeptRole(%d, ["hr"])`, d), nil)
	once := e.stateBytes()
	e.mustJS(fmt.Sprintf(`corp.setDeptRole(%d, ["hr"])`, d), nil)
	if !bytes.Equal(once, e.stateBytes()) {
		t.Fatal("granting what a department holds wrote again")
	}
}

func TestAGoneDepartmentTakesItsGrantsWithIt(t *testing.T) {
	e := newEnv(t, 30, 4, rolesConfig)
	e.mustJS(`corp.initCorp()`, nil)
	e.must(e.sim.AddDepartment(wecom.Department{ID: 900, Name: "临时", ParentID: 1}))
	e.must(e.sim.AddUser(wecom.User{UserID: "temp1", Name: "临时工", Department: []int64{900}}))
	e.sync("")
	e.mustJS(`corp.setDeptRole(900, ["hr"])`, nil)
	if got := e.roles("temp1").String(); got != "hr<dept:900" {
		t.Fatalf("in 900: %s", got)
	}
	e.must(e.sim.UpdateUser("temp1", func(u *wecom.User) { u.Department, u.MainDepartment = []int64{1}, 1 }))
	e.must(e.sim.RemoveDepartment(900))
	e.sync("")
	var rows []map[string]any
	e.mustJS(`corp.getLocalCorpData().deptRoleList`, &rows)
	if len(rows) != 0 {
		t.Fatalf("grants of a department WeCom removed: %v", rows)
	}
	if got := e.roles("temp1"); len(got) != 0 {
		t.Fatalf("after 900 was removed: %v", got)
	}
}

func TestGetMemberIsTheRowOfTheList(t *testing.T) {
	e := newEnv(t, 300, 10, "")
	e.mustJS(`corp.initCorp()`, nil)
	var same bool
	e.mustJS(`const l = corp.getLocalCorpData().userList; l.every(u => JSON.stringify(corp.getMember(u.memberId)) === JSON.stringify(u))`, &same)
	if !same {
		t.Fatal("getMember differs from the row of getLocalCorpData().userList")
	}
}

// A role taken out of the corp's roles grants nothing, whether granted to a department or
// to the member; the grants are kept (declared again, the role is held again), the corp
// says at start which grants give nothing, and app.json permissions naming the role are
// warned of.
func TestAnUndeclaredRoleGrantsNothing(t *testing.T) {
	e := newEnv(t, 30, 4, rolesConfig)
	e.mustJS(`corp.initCorp()`, nil)
	_, _, d, member := chain(t, e.sim.Org())
	e.mustJS(fmt.Sprintf(`corp.setDeptRole(%d, ["finance"]); corp.setUserRole(%q, ["hr"])`, d, member), nil)
	if got := e.roles(member).String(); !strings.Contains(got, "finance<dept:") || !strings.Contains(got, "hr<direct") {
		t.Fatalf("before: %s", got)
	}
	e.write("app.json", `{"name": "undeclared", "permissions": {"corps.Test.getAdmin": ["finance"]}}`)
	e.write("corps/Test/Test.json", fmt.Sprintf(`{"corpId": %q, "agentId": "1000002", "secret": "${CORP_TEST_SECRET}", "apiBase": %q, "roles": [{"roleId": "admin", "name": "管理员"}, {"roleId": "member", "name": "成员"}]}`,
		e.sim.CorpID(), e.sim.URL()))
	e.app.ReloadApp()
	if evs := e.app.ReloadElement("corps/Test"); evs[0].Kind != "reload" {
		t.Fatalf("the reload: %+v", evs[0])
	}
	if got := e.roles(member).String(); got != "" {
		t.Fatalf("after finance and hr were taken out of the roles, the member holds %s", got)
	}
	var warned []string
	for _, w := range e.app.Warnings() {
		warned = append(warned, w.String())
	}
	if !slices.ContainsFunc(warned, func(w string) bool { return strings.Contains(w, `role "finance", which no corp declares`) }) {
		t.Fatalf("no warning of the permission naming the undeclared role: %v", warned)
	}
	o, release, err := org.Of(e.app, "corps.Test")
	if err != nil {
		t.Fatal(err)
	}
	grants := o.Directory().UndeclaredGrants()
	release()
	if len(grants) != 2 || !strings.Contains(grants[0], fmt.Sprintf("department %d is granted role \"finance\"", d)) || !strings.Contains(grants[1], `role "hr"`) {
		t.Fatalf("the grants said to give nothing: %q", grants)
	}
	// declared again: held again
	e.write("corps/Test/Test.json", fmt.Sprintf(`{"corpId": %q, "agentId": "1000002", "secret": "${CORP_TEST_SECRET}", "apiBase": %q%s}`, e.sim.CorpID(), e.sim.URL(), rolesConfig))
	e.app.ReloadElement("corps/Test")
	if got := e.roles(member).String(); !strings.Contains(got, "finance<dept:") || !strings.Contains(got, "hr<direct") {
		t.Fatalf("declared again: %s", got)
	}
}
