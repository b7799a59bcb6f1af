package normal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	_ "github.com/jitrt/jitrt/elements/corps/normal"
	"github.com/jitrt/jitrt/runtime"
)

const adminPassword = "first-admin-pass-7f3a"

// env is an app with one local org (corps.L) on a state folder of its own.
type env struct {
	t         testing.TB
	dir, data string
	app       *runtime.App
	out       bytes.Buffer // every script's console output
}

func newEnv(t testing.TB, config string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), data: t.TempDir()}
	if config == "" {
		config = `{"firstMember": {"memberId": "boss", "nick": "老板", "username": "boss", "password": "${ADMIN_PASSWORD}"}, "allowJoin": 1,
		  "roles": [{"roleId": "admin", "name": "管理员"}, {"roleId": "member", "name": "成员"}, {"roleId": "dev", "name": "开发"}]}`
	}
	for rel, content := range map[string]string{
		"app.json":       `{"name": "localtest"}`,
		"corps/L/e.json": `{"title": "本地组织", "type": "corps.NormalType"}`,
		"corps/L/L.json": config,
	} {
		p := filepath.Join(e.dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.open()
	return e
}

// load opens the env's app on a data dir.
func (e *env) load(data string) (*runtime.App, error) {
	return runtime.Load(context.Background(), e.dir, runtime.Options{DataDir: data,
		Getenv: func(k string) (string, bool) { return adminPassword, k == "ADMIN_PASSWORD" }})
}

func (e *env) open() {
	e.t.Helper()
	if e.app != nil {
		e.app.Close()
	}
	app, err := e.load(e.data)
	if err != nil {
		e.t.Fatal(err)
	}
	if ps := app.Problems(); len(ps) > 0 {
		e.t.Fatal(ps)
	}
	e.app = app
	e.t.Cleanup(func() { app.Close() })
}

// js runs a script with `org` bound and decodes its completion value into out.
func (e *env) js(code string, out any) error {
	e.t.Helper()
	res, err := e.app.Host().Run(context.Background(), runtime.Script{Name: "test.js",
		Code: `const org = app.getElement("corps.L");` + "\n" + code, Stdout: &e.out, Stderr: &e.out})
	if err != nil {
		return err
	}
	e.out.Write(res.JSON)
	if out != nil && res.JSON != nil {
		if err := json.Unmarshal(res.JSON, out); err != nil {
			e.t.Fatalf("decode %s: %v", res.JSON, err)
		}
	}
	return nil
}

func (e *env) mustJS(code string, out any) {
	e.t.Helper()
	if err := e.js(code, out); err != nil {
		e.t.Fatalf("%s\n→ %v", code, err)
	}
}

// wantCode runs code and wants an error of the given code whose message holds each of
// the strings.
func (e *env) wantCode(code, want string, holds ...string) {
	e.t.Helper()
	err := e.js(code, nil)
	if got := elements.CodeOf(err); got != want {
		e.t.Fatalf("%s\n→ %v (code %q), want code %q", code, err, got, want)
	}
	for _, h := range holds {
		if !strings.Contains(err.Error(), h) {
			e.t.Fatalf("%s\n→ %v: the message does not say %q", code, err, h)
		}
	}
}

// A department tree and 1,000 members made by script; a department's role reaches the
// members below it; the first admin is made once; every write method checks what it is
// given and names the member, department and org it cannot find.
func TestALocalOrgIsMadeByScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	e.wantCode(`org.addMember({nick: "x", deptIdList: [1]})`, elements.CodeFailedPrecondition, "initCorp")
	e.mustJS(`org.initCorp(); org.initCorp()`, nil) // twice: the second changes nothing
	var tree struct {
		DeptID   int64
		Name     string
		Total    int
		Children []struct {
			DeptID   int64
			Name     string
			Total    int
			Children []struct{ DeptID, Total int64 }
		}
	}
	e.mustJS(`
	const rd = org.createDept("研发部"), sales = org.createDept({name: "销售部"});
	const be = org.createDept({name: "后端组", parentId: rd.deptId.value}), fe = org.createDept({name: "前端组", parentId: String(rd.deptId.value)});
	for (let i = 0; i < 1000; i++) {
		org.addMember({nick: "成员" + i, memberId: "m" + String(i).padStart(4, "0"), deptIdList: [[be, fe, sales][i % 3].deptId.value]});
	}
	org.setDeptRole(rd.deptId.value, ["dev"]);
	JSON.stringify(org.getDeptTree({depth: 2}))`, nil)
	var s string
	e.mustJS(`JSON.stringify(org.getDeptTree({depth: 2}))`, &s)
	if err := json.Unmarshal([]byte(s), &tree); err != nil {
		t.Fatal(err)
	}
	if tree.Name != "本地组织" || tree.Total != 1001 || len(tree.Children) != 2 {
		t.Fatalf("the tree: %s", s)
	}
	rd := tree.Children[0]
	if rd.Name != "研发部" || rd.Total != 667 || len(rd.Children) != 2 {
		t.Fatalf("研发部: %+v", rd)
	}
	var roles []struct {
		RoleID string
		From   []string
	}
	e.mustJS(`org.getMemberRoles("m0000")`, &roles)
	if len(roles) != 1 || roles[0].RoleID != "dev" || roles[0].From[0] != "dept:2" {
		t.Fatalf("m0000 (in 后端组, under 研发部 which grants dev): %+v", roles)
	}
	e.mustJS(`org.getMemberRoles("m0002")`, &roles) // in 销售部
	if len(roles) != 0 {
		t.Fatalf("m0002 (in 销售部) holds %+v", roles)
	}
	var admins []string
	e.mustJS(`org.getAdmin()`, &admins)
	if len(admins) != 1 || admins[0] != "boss" {
		t.Fatalf("the first member is the admin: %v", admins)
	}
	e.mustJS(`org.getMemberRoles("boss")`, &roles)
	if len(roles) != 1 || roles[0].RoleID != "admin" {
		t.Fatalf("boss's roles: %+v", roles)
	}

	// Bad input: a clear error, nothing written.
	e.wantCode(`org.addMember({nick: "x", deptIdList: [99]})`, elements.CodeNotFound, `department "99"`, "corps.L")
	e.wantCode(`org.addMember({nick: "x", deptIdList: [2], memberId: "m0001"})`, elements.CodeInvalidArgument, `"m0001" exists`)
	e.wantCode(`org.addMember({nick: "x", deptIdList: [2], memberId: "a b"})`, elements.CodeInvalidArgument, `"a b"`)
	e.wantCode(`org.addMember({nick: "x", deptIdList: [2], roleIdList: ["nope"]})`, elements.CodeInvalidArgument, `role "nope" is not declared`)
	e.wantCode(`org.getMember("ghost")`, elements.CodeNotFound, `"ghost"`, "corps.L")
	e.wantCode(`org.deleteDept(2)`, elements.CodeInvalidArgument, "sub-departments")
	e.wantCode(`org.deleteDept(3)`, elements.CodeInvalidArgument, "member(s)")
	e.wantCode(`org.deleteDept(1)`, elements.CodeInvalidArgument, "root")
	e.wantCode(`org.updateDept({deptId: 2, name: "研发部", parentId: 4})`, elements.CodeInvalidArgument, "sub-departments")
	e.wantCode(`org.deleteMember(["m0001"])`, elements.CodeInvalidArgument, "changeMemberStatus")
	e.wantCode(`org.changeMemberStatus(["m0001"], 3)`, elements.CodeInvalidArgument, "status 3")
	e.wantCode(`org.updateUserInfo("m0001", {password: "x"})`, elements.CodeInvalidArgument, "updateDict.password")
	e.wantCode(`org.deleteDeptMember(4, ["m0003"])`, elements.CodeInvalidArgument, "only one")
	e.wantCode(`org.syncCorp()`, elements.CodeFailedPrecondition, "local org", "nothing")
	e.wantCode(`org.bulkRegister({userDict: {}})`, elements.CodeFailedPrecondition, "local org")
	var n struct{ Total int }
	e.mustJS(`org.listMembers({limit: 1})`, &n)
	if n.Total != 1001 {
		t.Fatalf("after the refused writes there are %d members, want 1001", n.Total)
	}

	// The rest of JitAi's methods.
	var got map[string]any
	e.mustJS(`
	org.addDeptMember(5, ["m0000"]); org.setDeptLeaderByDept(5, ["m0000"]);
	org.updateUserInfo("m0000", {nick: "零号", phone: "13800000000", email: "m0@example.com", photo: "https://example.com/0.png", gender: 1, extendConf: {level: 3}});
	org.createRole({name: "审计", roleId: "audit", roleGroupId: "g"}); org.addRoleMember("audit", ["m0000"]);
	org.changeMemberStatus(["m0003"], 2); org.deleteMember(["m0003"]);
	org.deleteDeptMember(4, ["m0000"]);
	const m = org.getMember("m0000");
	JSON.stringify({m, roles: org.getMemberRoles("m0000").map(r => r.roleId), gone: org.listMembers({query: "m0003"}).total,
	  leaders: org.getRootDept() && org.getDeptMembers(5).length})`, &s)
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		t.Fatal(err)
	}
	m := got["m"].(map[string]any)
	if m["name"] != "零号" || m["mobile"] != "13800000000" || m["avatar"] != "https://example.com/0.png" || m["gender"] != "1" ||
		m["extendConf"] == nil || m["mainDeptId"] != 5.0 || len(m["leaderDeptIds"].([]any)) != 1 {
		t.Fatalf("m0000 after the updates: %v", m)
	}
	if r := got["roles"].([]any); len(r) != 2 || r[0] != "dev" || r[1] != "audit" {
		t.Fatalf("m0000's roles: %v (want dev from 研发部, audit direct)", r)
	}
	if got["gone"] != 0.0 {
		t.Fatalf("a deleted member is still listed: %v", got["gone"])
	}
}

// A password is kept only as an argon2id hash: no method, script value or config answer
// holds the password or its hash; the state file holds the hash, never the password.
func TestAPasswordIsKeptOnlyHashed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	e.mustJS(`org.initCorp(); org.addMember({nick: "张三", deptIdList: [1], memberId: "zs", username: "zhangsan", password: "zs-secret-pass-1"});
	org.setMemberPassword({memberId: "zs", password: "zs-secret-pass-2"});
	JSON.stringify([org.getLocalCorpData(), org.getMember("zs"), org.getCorpInfo(), org.corpData, org.authConfig, org.listMembers({}), org.getDeptMembers(1)])`, nil)
	e.wantCode(`org.addMember({nick: "x", deptIdList: [1], username: "zhangsan", password: "another-pass-1"})`, elements.CodeInvalidArgument, `"zhangsan" is taken`)
	e.wantCode(`org.setMemberPassword({memberId: "zs", password: "short"})`, elements.CodeInvalidArgument, "8 to 128")
	out := e.out.String()
	for _, secret := range []string{adminPassword, "zs-secret-pass-1", "zs-secret-pass-2", "argon2id"} {
		if strings.Contains(out, secret) {
			t.Fatalf("a script saw %q:\n%s", secret, out)
		}
	}
	e.app.Close()
	e.app = nil
	state, err := os.ReadFile(filepath.Join(e.data, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{adminPassword, "zs-secret-pass-1", "zs-secret-pass-2"} {
		if bytes.Contains(state, []byte(pw)) {
			t.Fatalf("the state file holds the password %q", pw)
		}
	}
	if n := bytes.Count(state, []byte("$argon2id$v=19$m=19456,t=2,p=1$")); n < 3 {
		t.Fatalf("the state file holds %d argon2id hashes, want one per password set (3)", n)
	}
}

// A first admin's password written in the config is a warning of jitrt check, and the
// password is masked in the app's logs like every secret.
func TestAPasswordWrittenInTheConfigIsWarnedAbout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `{"firstMember": {"memberId": "boss", "nick": "老板", "password": "written-in-the-file-1"}}`)
	ws := e.app.Warnings()
	if !strings.Contains(ws.Error(), `"firstMember.password" is written in the file`) {
		t.Fatalf("warnings: %v", ws)
	}
	if got := e.app.Redactor().String("the password is written-in-the-file-1"); strings.Contains(got, "written-in-the-file-1") {
		t.Fatalf("the redactor keeps the password: %q", got)
	}
}
