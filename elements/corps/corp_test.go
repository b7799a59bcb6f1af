package corps_test

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

// assertMirrors checks that the local org equals the emulator's org plus the given offline
// members.
func (e *env) assertMirrors(offline ...string) {
	e.t.Helper()
	org := e.sim.Org()
	d := e.local()
	if len(d.DeptList) != len(org.Departments) {
		e.t.Fatalf("%d local departments, WeCom has %d", len(d.DeptList), len(org.Departments))
	}
	for i, dept := range d.DeptList {
		w := org.Departments[i]
		if dept.DeptID != w.ID || dept.Name != w.Name || dept.ParentID != w.ParentID {
			e.t.Fatalf("department %d: local %+v, WeCom %+v", i, dept, w)
		}
	}
	byID := map[string]member{}
	var gotOffline []string
	for _, m := range d.UserList {
		byID[m.MemberID] = m
		if m.Status == "offline" {
			gotOffline = append(gotOffline, m.MemberID)
		}
	}
	for _, u := range org.Users {
		m, ok := byID[u.UserID]
		if !ok || m.Status != "active" || m.Name != u.Name || !reflect.DeepEqual(m.DeptIDs, u.Department) || m.MainDeptID != u.MainDepartment {
			e.t.Fatalf("member %s: local %+v, WeCom %+v", u.UserID, m, u)
		}
	}
	sort.Strings(offline)
	sort.Strings(gotOffline)
	if !slices.Equal(offline, gotOffline) {
		e.t.Fatalf("offline members %v, want %v", gotOffline, offline)
	}
	if len(d.UserList) != len(org.Users)+len(offline) {
		e.t.Fatalf("%d local members, want %d + %d offline", len(d.UserList), len(org.Users), len(offline))
	}
}

func TestInitCorpAndTheReadMethods(t *testing.T) {
	e := newEnv(t, 300, 30, "")
	var uninit map[string]any
	if err := e.js(`corp.getRootDept()`, nil); err == nil || !strings.Contains(err.Error(), "call initCorp() first") ||
		elements.CodeOf(err) != elements.CodeFailedPrecondition {
		t.Fatalf("getRootDept before initCorp: %v", err)
	}
	e.mustJS(`corp.corpData`, &uninit)
	if uninit["initialized"] != false {
		t.Fatalf("corpData before init: %v", uninit)
	}
	var res any
	e.mustJS(`corp.initCorp()`, &res)
	if res != nil {
		t.Fatalf("initCorp returned %v, want null", res)
	}
	e.assertMirrors()
	org := e.sim.Org()
	var root struct {
		ID   float64 `json:"id"`
		Name string  `json:"name"`
		JSON string  `json:"json"`
	}
	e.mustJS(`const r = corp.getRootDept(); ({id: r.deptId.value, name: r.name.value, json: JSON.stringify(r)})`, &root)
	if root.ID != 1 || root.Name != org.Departments[0].Name || !strings.HasPrefix(root.JSON, `{"deptId":1,"name":"`+org.Departments[0].Name+`"`) {
		t.Fatalf("root = %+v", root)
	}
	d := e.local()
	if len(d.ThirdAuthList) != len(org.Users) || d.ThirdAuthList[0].CorpID != e.sim.CorpID() || d.ThirdAuthList[0].UserID != d.ThirdAuthList[0].MemberID {
		t.Fatalf("thirdAuthList %d rows: %+v", len(d.ThirdAuthList), d.ThirdAuthList[:1])
	}
	if len(d.RoleList) != 2 || d.RoleList[0].RoleID != "admin" || len(d.TagList) != len(org.Tags) {
		t.Fatalf("roles %+v tags %d", d.RoleList, len(d.TagList))
	}
	var third struct {
		UserDict map[string]map[string]any
		DeptDict map[string]map[string]any
		TagDict  map[string]map[string]any
	}
	e.mustJS(`corp.getThirdCorpData()`, &third)
	u0 := org.Users[0]
	if len(third.UserDict) != len(org.Users) || len(third.DeptDict) != len(org.Departments) || len(third.TagDict) != len(org.Tags) ||
		third.UserDict[u0.UserID]["name"] != u0.Name || third.UserDict[u0.UserID]["mobile"] != u0.Mobile || third.DeptDict["1"]["name"] != org.Departments[0].Name {
		t.Fatalf("getThirdCorpData: %d users, user0 %v", len(third.UserDict), third.UserDict[u0.UserID])
	}
	var info, data, auth map[string]any
	e.mustJS(`corp.getCorpInfo()`, &info)
	e.mustJS(`corp.corpData`, &data)
	e.mustJS(`corp.authConfig`, &auth)
	if info["title"] != "测试企业" || info["fullName"] != "corps.Test" || info["corpId"] != e.sim.CorpID() || info["agentId"] != "1000002" {
		t.Fatalf("getCorpInfo %v", info)
	}
	if data["members"] != float64(len(org.Users)) || data["activeMembers"] != float64(len(org.Users)) || data["departments"] != float64(len(org.Departments)) || data["initialized"] != true {
		t.Fatalf("corpData %v", data)
	}
	if auth["secret"] != "******" || auth["corpId"] != e.sim.CorpID() || auth["agentId"] != "1000002" {
		t.Fatalf("authConfig %v", auth)
	}
	var props []string
	e.mustJS(`[corp.title, corp.fullName, corp.corpFullName]`, &props)
	if !slices.Equal(props, []string{"测试企业", "corps.Test", "corps.Test"}) {
		t.Fatal(props)
	}
	// getClient: typed and raw calls, and WeCom's errors with their code
	var cl struct {
		Name, Raw, Code string
		Depts           int
	}
	e.mustJS(`const c = corp.getClient(); let code; try { c.getUser("nobody") } catch (err) { code = err.code }
		({name: c.getUser("`+u0.UserID+`").name, raw: c.get("user/get", {userid: "`+u0.UserID+`"}).name, depts: c.getDepartmentList().length, code})`, &cl)
	if cl.Name != u0.Name || cl.Raw != u0.Name || cl.Depts != len(org.Departments) || cl.Code != "wecom_60111" {
		t.Fatalf("getClient: %+v", cl)
	}
}

func TestRolesAdminsSignaturesAndOffline(t *testing.T) {
	e := newEnv(t, 100, 10, `, "roles": [{"roleId": "hr", "name": "人事"}, {"roleId": "dev", "name": "开发"}]`)
	e.mustJS(`corp.initCorp()`, nil)
	ids := []string{e.sim.Org().Users[0].UserID, e.sim.Org().Users[1].UserID, e.sim.Org().Users[2].UserID}
	var rows []struct{ MemberID, RoleID, RoleName string }
	e.mustJS(`corp.setUserRole("`+ids[0]+`", ["hr", "dev", "hr"])`, &rows)
	if len(rows) != 2 || rows[0].RoleID != "hr" || rows[0].RoleName != "人事" || rows[1].MemberID != ids[0] {
		t.Fatalf("setUserRole positional: %+v", rows)
	}
	e.mustJS(`corp.setUserRole({memberId: "`+ids[0]+`", roleIdList: ["dev"]})`, &rows)
	if len(rows) != 1 || rows[0].RoleID != "dev" {
		t.Fatalf("setUserRole named: %+v", rows)
	}
	if d := e.local(); len(d.RoleList) != 2 || d.RoleList[0].Name != "人事" {
		t.Fatalf("roleList %+v", d.RoleList)
	}
	var ret map[string]any
	e.mustJS(`corp.setAdmin(["`+ids[1]+`", "`+ids[2]+`"])`, &ret)
	if len(ret) != 0 {
		t.Fatalf("setAdmin returned %v, want {}", ret)
	}
	var admins []string
	e.mustJS(`corp.getAdmin()`, &admins)
	if !slices.Equal(admins, ids[1:]) {
		t.Fatalf("getAdmin %v", admins)
	}
	var sig map[string]any
	e.mustJS(`corp.getUserSignature("`+ids[0]+`")`, &sig)
	if sig["memberId"] != ids[0] || sig["signature"] != nil {
		t.Fatalf("signature before save: %v", sig)
	}
	e.mustJS(`corp.saveUserSignature({memberId: "`+ids[0]+`", signature: "https://example.com/s.png"})`, &sig)
	if sig["success"] != true {
		t.Fatalf("saveUserSignature %v", sig)
	}
	e.mustJS(`corp.getUserSignature("`+ids[0]+`")`, &sig)
	if sig["signature"] != "https://example.com/s.png" {
		t.Fatalf("signature %v", sig)
	}
	e.mustJS(`corp.offlineMember(["`+ids[0]+`"])`, nil)
	// a sync leaves a member taken offline here offline, and says so
	r := e.sync("")
	if r.Reactivated != 0 || len(r.Warnings) == 0 || !strings.Contains(strings.Join(r.Warnings, ";"), "offlineMember") {
		t.Fatalf("sync after offlineMember: %+v", r)
	}
	for _, m := range e.local().UserList {
		if m.MemberID == ids[0] && (m.Status != "offline" || m.OfflineBy != "local") {
			t.Fatalf("%+v", m)
		}
	}
	// local-only data survives syncs
	e.mustJS(`corp.getAdmin()`, &admins)
	e.mustJS(`corp.getUserSignature("`+ids[0]+`")`, &sig)
	if len(admins) != 2 || sig["signature"] == nil {
		t.Fatal("admins or signature lost in a sync")
	}
	// an offline member cannot be made an admin
	if err := e.js(`corp.setAdmin(["`+ids[0]+`"])`, nil); err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("offline admin: %v", err)
	}
}

func TestBadInputIsAClearErrorAndWritesNothing(t *testing.T) {
	e := newEnv(t, 50, 5, "")
	e.mustJS(`corp.initCorp()`, nil)
	real := e.sim.Org().Users[0].UserID
	before := e.stateBytes()
	for _, c := range []struct{ code, want, errCode string }{
		{`corp.setUserRole("ghost", ["admin"])`, `no member "ghost" in corp corps.Test (corpId wwcorptest0001)`, "not_found"},
		{`corp.setUserRole("` + real + `", ["boss"])`, `role "boss" is not declared (declared roles: admin, member`, "invalid_argument"},
		{`corp.offlineMember(["` + real + `", "ghost"])`, `no member "ghost" in corp corps.Test`, "not_found"},
		{`corp.offlineMember([])`, `memberIdList is empty`, "invalid_argument"},
		{`corp.setAdmin(["ghost"])`, `no member "ghost"`, "not_found"},
		{`corp.saveUserSignature("` + real + `", "javascript:alert(1)")`, `signature "javascript:alert(1)" is not an http(s) URL`, "invalid_argument"},
		{`corp.saveUserSignature("` + real + `", "not a url")`, `is not an http(s) URL`, "invalid_argument"},
		{`corp.saveUserSignature("ghost", "https://x.example/s.png")`, `no member "ghost"`, "not_found"},
		{`corp.getUserSignature("ghost")`, `no member "ghost"`, "not_found"},
		{`corp.bulkRegister({deptDict: {}})`, `corpData has no userDict`, "invalid_argument"},
		{`corp.bulkRegister({userDict: {a: {userid: "b", name: "x"}}})`, `userDict["a"] must have userid "a"`, "invalid_argument"},
		{`corp.setUserRole(1, ["admin"])`, `argument "memberId" must be a string`, "invalid_argument"},
	} {
		err := e.js(c.code, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || elements.CodeOf(err) != c.errCode {
			t.Errorf("%s:\n got  %v (%s)\n want %q (%s)", c.code, err, elements.CodeOf(err), c.want, c.errCode)
		}
	}
	if !bytes.Equal(before, e.stateBytes()) {
		t.Fatal("a refused call wrote to the store")
	}
	var m []member
	e.mustJS(`corp.getLocalCorpData().userList.filter(u => u.memberId === "`+real+`")`, &m)
	if m[0].Status != "active" {
		t.Fatal("offlineMember with one unknown id took the known one offline")
	}
}

// Clearing is a write like any other: setAdmin([]) leaves no admins, saveUserSignature
// with "" no signature, setUserRole with [] no direct roles. A role given to an offline
// member is refused, saying the member is offline and how to bring them back.
func TestClearingIsAllowedAndAnOfflineMemberIsSaidToBe(t *testing.T) {
	e := newEnv(t, 20, 3, "")
	e.mustJS(`corp.initCorp()`, nil)
	a, b := e.sim.Org().Users[0].UserID, e.sim.Org().Users[1].UserID
	e.mustJS(`corp.setAdmin(["`+a+`", "`+b+`"]); corp.saveUserSignature("`+a+`", "https://sig.example/a.png"); corp.setUserRole("`+a+`", ["admin"])`, nil)
	var admins []string
	e.mustJS(`corp.setAdmin([]); corp.getAdmin()`, &admins)
	if len(admins) != 0 {
		t.Fatalf("after setAdmin([]): %v", admins)
	}
	var sig map[string]any
	e.mustJS(`corp.saveUserSignature("`+a+`", ""); corp.getUserSignature("`+a+`")`, &sig)
	if sig["signature"] != nil {
		t.Fatalf("after saveUserSignature(id, \"\"): %v", sig)
	}
	var direct []string
	e.mustJS(`corp.setUserRole("`+a+`", []); corp.getMemberRoles("`+a+`").filter(r => r.from.includes("direct")).map(r => r.roleId)`, &direct)
	if len(direct) != 0 {
		t.Fatalf("after setUserRole(id, []): %v", direct)
	}
	e.mustJS(`corp.offlineMember(["`+b+`"])`, nil)
	err := e.js(`corp.setUserRole("`+b+`", ["admin"])`, nil)
	if elements.CodeOf(err) != elements.CodeFailedPrecondition || !strings.Contains(err.Error(), "is offline") || !strings.Contains(err.Error(), "reactivateMember") {
		t.Fatalf("a role given to an offline member: %v (%s)", err, elements.CodeOf(err))
	}
}

func TestRefusedCredentialsNameTheCorp(t *testing.T) {
	e := newEnv(t, 10, 2, "")
	e.write("corps/Bad/e.json", `{"title": "坏", "type": "corps.QywxInnerType"}`)
	e.write("corps/Bad/Bad.json", `{"corpId": "wwWRONGcorp", "agentId": "1", "secret": "${CORP_TEST_SECRET}", "apiBase": "`+e.sim.URL()+`"}`)
	e.write("corps/Bad2/e.json", `{"title": "坏2", "type": "corps.QywxInnerType"}`)
	e.write("corps/Bad2/Bad2.json", `{"corpId": "wwcorptest0001", "agentId": "1", "secret": "wrong-secret-abc", "apiBase": "`+e.sim.URL()+`"}`)
	e.open()
	before := e.stateBytes()
	for name, want := range map[string]string{"corps.Bad": "wwWRONGcorp", "corps.Bad2": "wwcorptest0001"} {
		err := e.js(`app.getElement("`+name+`").initCorp()`, nil)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
		if strings.Contains(err.Error(), "wrong-secret-abc") || strings.Contains(err.Error(), secret) {
			t.Errorf("secret in the error: %v", err)
		}
	}
	if code := elements.CodeOf(e.js(`app.getElement("corps.Bad").syncCorp()`, nil)); code != "wecom_40013" {
		t.Errorf("code %s", code)
	}
	if !bytes.Equal(before, e.stateBytes()) {
		t.Fatal("a refused sync wrote to the store")
	}
}

func TestSyncFollowsWeComChanges(t *testing.T) {
	e := newEnv(t, 200, 20, "")
	e.mustJS(`corp.initCorp()`, nil)
	e.assertMirrors()
	org := e.sim.Org()
	u := org.Users
	// one member in two departments, to move
	var multi wecom.User
	for _, x := range u {
		if len(x.Department) == 1 && x.UserID != u[0].UserID && x.UserID != u[1].UserID && x.UserID != u[2].UserID {
			multi = x
			break
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.sim.AddDepartment(wecom.Department{ID: 900, Name: "新设部门", ParentID: 1, Order: 5}))
	must(e.sim.AddUser(wecom.User{UserID: "new1", Name: "新人一", Department: []int64{900}}))
	must(e.sim.AddUser(wecom.User{UserID: "new2", Name: "新人二", Department: []int64{1, 900}, MainDepartment: 900}))
	must(e.sim.AddUser(wecom.User{UserID: "new3", Name: "新人三", Department: []int64{2}}))
	must(e.sim.RemoveUser(u[0].UserID))
	must(e.sim.RemoveUser(u[1].UserID))
	must(e.sim.UpdateUser(u[2].UserID, func(x *wecom.User) { x.Name = "改了名" }))
	must(e.sim.UpdateUser(multi.UserID, func(x *wecom.User) {
		x.Department, x.MainDepartment, x.Order, x.IsLeaderInDept = []int64{900, 3}, 3, nil, nil
	}))
	r := e.sync("")
	if r.Added != 3 || r.Offlined != 2 || r.Updated != 2 || r.Reactivated != 0 || r.Departments.Added != 1 {
		t.Fatalf("report %+v", r)
	}
	e.assertMirrors(u[0].UserID, u[1].UserID)
	for _, m := range e.local().UserList {
		if m.MemberID == multi.UserID && (!slices.Equal(m.DeptIDs, []int64{900, 3}) || m.MainDeptID != 3) {
			t.Fatalf("moved member %+v", m)
		}
	}
	// a member who left comes back: the same local member, active again
	back := u[0]
	back.Name = "回来了"
	must(e.sim.AddUser(back))
	must(e.sim.RemoveUser("new3"))
	must(e.sim.RemoveUser("new1"))
	must(e.sim.RemoveUser("new2"))
	must(e.sim.UpdateUser(multi.UserID, func(x *wecom.User) { x.Department, x.MainDepartment = []int64{3}, 3 }))
	must(e.sim.RemoveDepartment(900))
	r = e.sync("")
	if r.Reactivated != 1 || r.Offlined != 3 || r.Added != 0 || r.Departments.Removed != 1 || r.Updated != 1 {
		t.Fatalf("report %+v", r)
	}
	e.assertMirrors(u[1].UserID, "new1", "new2", "new3")
	var auths int
	e.mustJS(`corp.getLocalCorpData().thirdAuthList.filter(a => a.memberId === "`+back.UserID+`").length`, &auths)
	if auths != 1 {
		t.Fatalf("%d auth records for the returning member", auths)
	}
	// a second sync with no change writes nothing: the file stays byte for byte
	before := e.local()
	file := e.stateBytes()
	r = e.sync("")
	if !bytes.Equal(file, e.stateBytes()) {
		t.Fatal("a sync with no change wrote to the state file")
	}
	if r.Added+r.Updated+r.Offlined+r.Reactivated != 0 || r.Writes != 0 || r.Unchanged != len(e.sim.Org().Users) {
		t.Fatalf("no-change sync: %+v", r)
	}
	if !reflect.DeepEqual(before, e.local()) {
		t.Fatal("a no-change sync changed the local org")
	}
	var hist []report
	e.mustJS(`corp.getSyncHistory()`, &hist)
	if len(hist) != 4 || hist[0].Writes != 0 || hist[1].Reactivated != 1 || hist[3].Added != 200 {
		t.Fatalf("history (newest first): %+v", hist)
	}
}

func TestDryRunListsChangesAndWritesNothing(t *testing.T) {
	e := newEnv(t, 100, 10, "")
	e.mustJS(`corp.initCorp()`, nil)
	u := e.sim.Org().Users
	e.sim.RemoveUser(u[5].UserID)
	e.sim.AddUser(wecom.User{UserID: "fresh", Name: "新", Department: []int64{1}})
	e.sim.UpdateUser(u[6].UserID, func(x *wecom.User) { x.Position = "新职位" })
	before := e.stateBytes()
	r := e.sync(`{dryRun: true}`)
	if !r.DryRun || r.Added != 1 || r.Offlined != 1 || r.Updated != 1 || len(r.Changes) != 3 {
		t.Fatalf("dry run %+v", r)
	}
	ops := map[string]string{}
	for _, c := range r.Changes {
		ops[c.ID] = c.Op
	}
	if ops["fresh"] != "add" || ops[u[5].UserID] != "offline" || ops[u[6].UserID] != "update" {
		t.Fatalf("changes %+v", r.Changes)
	}
	if !bytes.Equal(before, e.stateBytes()) {
		t.Fatal("a dry run wrote to the store")
	}
	real := e.sync("")
	if real.Added != 1 || real.Offlined != 1 || real.Updated != 1 || len(real.Changes) != len(r.Changes) {
		t.Fatalf("real sync after the dry run %+v", real)
	}
	for _, c := range real.Changes {
		if ops[c.ID] != c.Op {
			t.Fatalf("the real sync's changes differ from the dry run's: %+v", real.Changes)
		}
	}
	// the stored report keeps them, by id and name
	var hist []struct {
		Changes []struct{ Op, ID, Name string }
	}
	e.mustJS(`corp.getSyncHistory()`, &hist)
	if len(hist[0].Changes) != 3 || hist[0].Changes[0].Name == "" {
		t.Fatalf("the stored report's changes: %+v", hist[0].Changes)
	}
}

func TestFailedFetchLeavesTheStoreByteForByte(t *testing.T) {
	e := newEnv(t, 300, 30, "")
	e.mustJS(`corp.initCorp()`, nil)
	e.sim.RemoveUser(e.sim.Org().Users[0].UserID) // a change the failed sync would have made
	before := e.stateBytes()
	for _, fault := range []func(){
		func() { e.sim.FailNext("user/list", 1, wecom.CodeNoPermission) },
		func() { e.sim.FailNext("tag/get", 1, wecom.CodeIPNotAllowed) },
		func() { e.sim.BreakNext("user/list", 50) },
	} {
		fault()
		err := e.js(`corp.syncCorp()`, nil)
		if err == nil {
			t.Fatal("sync succeeded in spite of the fault")
		}
		if !bytes.Equal(before, e.stateBytes()) {
			t.Fatalf("a failed sync wrote to the store (%v)", err)
		}
	}
}

func TestWithheldFieldsNeverBlankLocalValues(t *testing.T) {
	e := newEnv(t, 100, 10, "")
	e.mustJS(`corp.initCorp()`, nil)
	before := e.local()
	e.sim.WithholdSensitive(true)
	e.sim.UpdateUser(e.sim.Org().Users[3].UserID, func(x *wecom.User) { x.Position = "changed" })
	r := e.sync("")
	if r.Updated != 1 || !strings.Contains(strings.Join(r.Warnings, ";"), "withholds") {
		t.Fatalf("report %+v", r)
	}
	after := e.local()
	for i := range before.UserList {
		b, a := before.UserList[i], after.UserList[i]
		if a.Mobile != b.Mobile || a.Email != b.Email || a.Mobile == "" {
			t.Fatalf("withheld fields changed: %+v → %+v", b, a)
		}
	}
	// a new member of such an app has none; two such members do not collide
	e.sim.AddUser(wecom.User{UserID: "noemail1", Name: "甲", Department: []int64{1}})
	e.sim.AddUser(wecom.User{UserID: "noemail2", Name: "乙", Department: []int64{1}})
	if r := e.sync(""); r.Added != 2 {
		t.Fatalf("report %+v", r)
	}
	e.assertMirrors()
}

func TestScopeSyncsOnlyThoseSubtrees(t *testing.T) {
	org := wecomsim.Generate(400, 40, 11)
	parent := map[int64]int64{}
	kids := map[int64]int{}
	for _, d := range org.Departments {
		parent[d.ID] = d.ParentID
		kids[d.ParentID]++
	}
	var scope int64
	for id, n := range kids {
		if id > 1 && n > 0 && (scope == 0 || id < scope) {
			scope = id
		}
	}
	inTree := func(id int64) bool {
		for p := id; p != 0; p = parent[p] {
			if p == scope {
				return true
			}
		}
		return false
	}
	e := newEnv(t, 400, 40, `, "scope": [`+strconv.FormatInt(scope, 10)+`]`)
	e.mustJS(`corp.initCorp()`, nil)
	d := e.local()
	for _, dept := range d.DeptList {
		if !inTree(dept.DeptID) {
			t.Fatalf("department %d outside the scope", dept.DeptID)
		}
	}
	var root float64
	e.mustJS(`corp.getRootDept().deptId.value`, &root)
	if int64(root) != scope {
		t.Fatalf("root %v, want the scope %d", root, scope)
	}
	want := 0
	for _, u := range org.Users {
		if slices.ContainsFunc(u.Department, inTree) {
			want++
		}
	}
	if len(d.UserList) != want || want == 0 {
		t.Fatalf("%d members, want %d", len(d.UserList), want)
	}
	for _, m := range d.UserList {
		for _, id := range m.DeptIDs {
			if !inTree(id) {
				t.Fatalf("member %s keeps department %d outside the scope", m.MemberID, id)
			}
		}
	}
}

func TestEmptyAnswerOfflinesNobody(t *testing.T) {
	e := newEnv(t, 30, 3, "")
	e.mustJS(`corp.initCorp()`, nil)
	for _, u := range e.sim.Org().Users {
		e.sim.RemoveUser(u.UserID)
	}
	r := e.sync("")
	if r.Offlined != 0 || len(r.Warnings) < 2 || !strings.Contains(strings.Join(r.Warnings, ";"), "no members") {
		t.Fatalf("report %+v", r)
	}
	var active float64
	e.mustJS(`corp.corpData.activeMembers`, &active)
	if active != 30 {
		t.Fatalf("%v active", active)
	}
}

func TestDetailRefusedSyncsThroughIDPath(t *testing.T) {
	e := newEnv(t, 150, 15, "")
	e.sim.RefuseDetail(true)
	e.mustJS(`corp.initCorp()`, nil)
	e.assertMirrors()
	if r := e.sync(""); r.Path != "id" || r.Unchanged != 150 {
		t.Fatalf("%+v", r)
	}
}

// Concurrent syncs of one corp share one run: the emulator holds the leader's fetch until
// every other caller has arrived and waits for it, so they overlap by construction.
func TestConcurrentSyncsShareOneRun(t *testing.T) {
	e := newEnv(t, 100, 10, "")
	e.mustJS(`corp.initCorp()`, nil)
	e.sim.ResetCalls()
	const callers = 4
	release := e.sim.Hold("department/list")
	t.Cleanup(release)
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.js(`corp.syncCorp()`, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	testwait.For(t, "the leader's fetch to reach the emulator and the other callers to wait for it", func() bool {
		return e.sim.Held("department/list") == 1 && leadWaiting(e.app.Store(), "sync:corps.Test") == callers-1
	})
	release()
	wg.Wait()
	if n := e.sim.Calls("tag/list"); n != 1 {
		t.Fatalf("%d concurrent syncs fetched the org %d times, want 1", callers, n)
	}
	var hist []report
	e.mustJS(`corp.getSyncHistory()`, &hist)
	if len(hist) != 2 {
		t.Fatalf("%d history entries, want 2 (init + one shared sync)", len(hist))
	}
}

// leadWaiting is how many callers of the store's process wait now for name's leader.
func leadWaiting(s *kv.Store, name string) int64 {
	for _, l := range s.Leadership() {
		if l.Name == name {
			return l.Waiting
		}
	}
	return 0
}

func TestBulkRegisterIsIdempotent(t *testing.T) {
	e := newEnv(t, 80, 8, "")
	var n int
	e.mustJS(`const d = corp.getThirdCorpData(); corp.bulkRegister(d); corp.bulkRegister(d); corp.getLocalCorpData().userList.length`, &n)
	if n != 80 {
		t.Fatalf("%d members", n)
	}
	before := e.stateBytes()
	e.mustJS(`corp.bulkRegister(corp.getThirdCorpData())`, nil)
	if !bytes.Equal(before, e.stateBytes()) {
		t.Fatal("a repeated bulkRegister wrote")
	}
	// registering a part never offlines the rest
	e.mustJS(`const d = corp.getThirdCorpData(); const one = Object.keys(d.userDict)[0];
		corp.bulkRegister({userDict: {[one]: d.userDict[one]}})`, nil)
	var active float64
	e.mustJS(`corp.corpData.activeMembers`, &active)
	if active != 80 {
		t.Fatalf("%v active after a partial register", active)
	}
}

func TestStateSurvivesReopenAndConfigEdits(t *testing.T) {
	e := newEnv(t, 40, 4, "")
	e.mustJS(`corp.initCorp(); corp.setAdmin([corp.getLocalCorpData().userList[0].memberId])`, nil)
	// an edit of anything but corpId keeps the org
	e.write("corps/Test/e.json", `{"title": "改名的企业", "type": "corps.QywxInnerType"}`)
	e.open()
	var admins []string
	e.mustJS(`corp.getAdmin()`, &admins)
	if len(admins) != 1 {
		t.Fatalf("admins after reopen: %v", admins)
	}
	var title string
	e.mustJS(`corp.title`, &title)
	if title != "改名的企业" {
		t.Fatal(title)
	}
}

func TestDeptMembersAndStatusIndex(t *testing.T) {
	e := newEnv(t, 120, 6, "")
	e.mustJS(`corp.initCorp()`, nil)
	org := e.sim.Org()
	want := map[int64][]string{}
	for _, u := range org.Users {
		for _, d := range u.Department {
			want[d] = append(want[d], u.UserID)
		}
	}
	for d, ids := range want {
		var got []struct{ MemberID string }
		e.mustJS(`corp.getDeptMembers(`+strconv.FormatInt(d, 10)+`)`, &got)
		var gotIDs []string
		for _, m := range got {
			gotIDs = append(gotIDs, m.MemberID)
		}
		sort.Strings(ids)
		if !slices.Equal(gotIDs, ids) {
			t.Fatalf("department %d: %v, want %v", d, gotIDs, ids)
		}
	}
	// an offline member leaves the index and the active count
	first := want[1][0]
	e.mustJS(`corp.offlineMember(["`+first+`"])`, nil)
	var got []struct{ MemberID string }
	e.mustJS(`corp.getDeptMembers(1)`, &got)
	if len(got) != len(want[1])-1 {
		t.Fatalf("%d members of department 1 after offlining one of %d", len(got), len(want[1]))
	}
	var active float64
	e.mustJS(`corp.corpData.activeMembers`, &active)
	if int(active) != len(org.Users)-1 {
		t.Fatalf("activeMembers %v", active)
	}
	if err := e.js(`corp.getDeptMembers(99999)`, nil); err == nil || !strings.Contains(err.Error(), `no department "99999"`) {
		t.Fatal(err)
	}
}

// TestTypeElementExtendsQywxInnerType is the seed's "create your own Type element": an app
// Type element that builds on corps.QywxInnerType, overrides a method and adds one.
func TestTypeElementExtendsQywxInnerType(t *testing.T) {
	e := newEnv(t, 60, 6, "")
	e.write("corps/MyType/e.json", `{"type": "corps.Meta", "extend": "corps.QywxInnerType", "callable": ["activeCount"]}`)
	e.write("corps/MyType/index.js", `
exports.getCorpInfo = function () {
  const info = this.$super.getCorpInfo();
  info.region = "华东";
  return info;
};
exports.activeCount = function () { return this.corpData.activeMembers; };`)
	e.write("corps/Test/e.json", `{"title": "测试企业", "type": "corps.MyType"}`)
	e.open()
	var got struct {
		Info  map[string]any
		Count float64
		Root  string
	}
	e.mustJS(`corp.initCorp(); ({info: corp.getCorpInfo(), count: corp.activeCount(), root: corp.getRootDept().name.value})`, &got)
	if got.Info["region"] != "华东" || got.Info["corpId"] != e.sim.CorpID() || got.Info["type"] != "corps.MyType" || got.Count != 60 || got.Root == "" {
		t.Fatalf("%+v", got)
	}
	if _, ok := got.Info["secret"]; ok {
		t.Fatal("the secret reached the override's result")
	}
	res, err := e.app.CallJSON(context.Background(), "corps.Test", "activeCount", nil)
	if err != nil || res != 60.0 {
		t.Fatalf("a callable method of the Type element from Go: %v %v", res, err)
	}
}

// TestReadersSeeTheLastCommittedState reads the org in a loop while a large sync runs:
// every read sees the whole org before the sync or the whole org after it.
func TestReadersSeeTheLastCommittedState(t *testing.T) {
	e := newEnv(t, 5000, 200, "")
	stopReading := make(chan struct{})
	done := make(chan struct{})
	seen := map[[2]float64]int{}
	var mu sync.Mutex
	go func() {
		defer close(done)
		for {
			select {
			case <-stopReading:
				return
			default:
			}
			v, _, err := mustEntryCorp(t, e).Property("corpData")
			if err != nil {
				continue
			}
			d := v.(map[string]any)
			mu.Lock()
			seen[[2]float64{d["members"].(float64), d["departments"].(float64)}]++
			mu.Unlock()
		}
	}()
	e.mustJS(`corp.initCorp()`, nil)
	close(stopReading)
	<-done
	for k, n := range seen {
		if k != [2]float64{0, 0} && k != [2]float64{5000, 200} {
			t.Fatalf("a reader saw %v members/departments (%d times): a partial sync", k, n)
		}
	}
	t.Logf("reads during the sync: %v", seen)
}

func mustEntryCorp(t *testing.T, e *env) interface {
	Property(string) (any, bool, error)
} {
	en, err := e.app.Element("corps.Test")
	if err != nil {
		t.Fatal(err)
	}
	return en
}

// Every member of an org stored in many chunks is found by id, and ids that would sort
// before, between or after the chunks' members are unknown, each named.
func TestEveryMemberIsFoundByIDAcrossChunks(t *testing.T) {
	e := newEnv(t, 1000, 20, "") // eight chunks
	e.mustJS(`corp.initCorp()`, nil)
	var ids []string
	e.mustJS(`corp.getLocalCorpData().userList.map(u => u.memberId)`, &ids)
	if len(ids) != 1000 {
		t.Fatalf("%d members", len(ids))
	}
	var sigs int
	e.mustJS(`let n = 0; for (const u of corp.getLocalCorpData().userList) { corp.getUserSignature(u.memberId); n++ }; n`, &sigs)
	if sigs != 1000 {
		t.Fatalf("found %d of 1000 by id", sigs)
	}
	sort.Strings(ids)
	for _, ghost := range []string{"0", ids[0][:len(ids[0])-1], ids[0] + "0", ids[128] + "_", ids[500] + ".x", ids[999] + "z", "zzzzzz"} {
		if slices.Contains(ids, ghost) {
			continue
		}
		err := e.js(`corp.getUserSignature("`+ghost+`")`, nil)
		if err == nil || !strings.Contains(err.Error(), `no member "`+ghost+`" in corp corps.Test`) || elements.CodeOf(err) != "not_found" {
			t.Errorf("%s: %v", ghost, err)
		}
	}
}
