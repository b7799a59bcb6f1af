// Package orgtest is the conformance suite every corp Type passes: the seed's methods and
// properties with their meaning and error codes, roles inherited through departments,
// admins and offline members, signatures, the org's views and its sync history, a kill -9
// during its writes (Kill), whatever platform (or none) the org follows. A new corp Type passes it before it is called done.
package orgtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/runtime"
)

// Subject is a corp Type under test: an app with one org of the Type, built as the Type
// builds its org (from its platform's emulator, or by its own methods).
type Subject struct {
	// Type is the corp Type's id; Corp the element's fullName in App.
	Type, Corp string
	App        *runtime.App
	// Fixture is the org Build made.
	Fixture Fixture
	// Secrets are values that no answer may hold (the platform's secret, a password).
	Secrets []string
	// Offline takes a member offline as the Type's users do (the platform removes them and
	// the org follows; a local org's changeMemberStatus).
	Offline func(t testing.TB, memberID string)
	// SignIn makes a session of a member through the Type's login (the platform's login
	// code; a password) and returns whether that session is still alive, asked later.
	SignIn func(t testing.TB, memberID string) (alive func() bool)
}

// Fixture is what the suite reads: a department Parent with a sub-department Child, a
// member InChild in Child (and in no other department under Parent), a member Elsewhere in
// no department under Parent.
type Fixture struct {
	Parent, Child      int64
	InChild, Elsewhere string
	ActiveMembers      int // how many active members the org has
}

// seedMethods and seedProperties are what every corp Type offers (the seed's 14 methods
// and 5 properties, with the org engine's reads).
var (
	seedMethods = []string{"initCorp", "syncCorp", "getThirdCorpData", "bulkRegister", "getLocalCorpData", "getRootDept",
		"setUserRole", "offlineMember", "getUserSignature", "saveUserSignature", "setAdmin", "getAdmin", "getCorpInfo", "getClient",
		"getDeptMembers", "getMember", "getMemberRoles", "setDeptRole", "getDeptRole", "getDeptTree", "listMembers", "getSyncHistory"}
	seedProperties = []string{"title", "fullName", "corpFullName", "authConfig", "corpData"}
)

// Run runs the suite on a subject whose org is built (initCorp done, Fixture made).
func Run(t *testing.T, s *Subject) {
	t.Run("seed", func(t *testing.T) { seed(t, s) })
	t.Run("roles", func(t *testing.T) { roles(t, s) })
	t.Run("errors", func(t *testing.T) { errs(t, s) })
	t.Run("views", func(t *testing.T) { views(t, s) })
	t.Run("signatures", func(t *testing.T) { signatures(t, s) })
	t.Run("history", func(t *testing.T) { history(t, s) })
	t.Run("offline", func(t *testing.T) { offline(t, s) }) // last: it changes the org
}

// call runs a method as a script calls it and decodes the answer.
func (s *Subject) call(t testing.TB, method string, args any, out any) error {
	t.Helper()
	var body any // the arguments as JSON gives them (numbers as float64)
	if args != nil {
		b, _ := json.Marshal(args)
		json.Unmarshal(b, &body)
	}
	res, err := s.App.CallJSON(context.Background(), s.Corp, method, body)
	if err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("%s: the answer is no JSON: %v", method, err)
	}
	for _, secret := range s.Secrets {
		if secret != "" && strings.Contains(string(b), secret) {
			t.Fatalf("%s answered a secret", method)
		}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %s: %v", method, b, err)
		}
	}
	return nil
}

func (s *Subject) must(t testing.TB, method string, args any, out any) {
	t.Helper()
	if err := s.call(t, method, args, out); err != nil {
		t.Fatalf("%s(%v): %v", method, args, err)
	}
}

// wantCode calls a method and wants an error of the code whose message holds each string.
func (s *Subject) wantCode(t testing.TB, code, method string, args any, holds ...string) {
	t.Helper()
	err := s.call(t, method, args, nil)
	if got := elements.CodeOf(err); got != code {
		t.Fatalf("%s(%v): %v (code %q), want code %q", method, args, err, got, code)
	}
	for _, h := range holds {
		if !strings.Contains(err.Error(), h) {
			t.Fatalf("%s(%v): %v: the message does not say %q", method, args, err, h)
		}
	}
}

func seed(t *testing.T, s *Subject) {
	e, err := s.App.Element(s.Corp)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range seedMethods {
		if mm := e.Method(m); mm == nil || (m != "getClient" && !mm.Callable) {
			t.Errorf("%s has no callable method %s", s.Type, m)
		}
	}
	for _, p := range seedProperties {
		if _, ok, _ := e.Property(p); !ok {
			t.Errorf("%s has no property %s", s.Type, p)
		}
	}
	var info map[string]any
	s.must(t, "getCorpInfo", nil, &info)
	if info["fullName"] != s.Corp || info["type"] != s.Type || info["title"] == "" {
		t.Errorf("getCorpInfo: %v", info)
	}
	var root map[string]any
	s.must(t, "getRootDept", nil, &root)
	if root["deptId"] == nil || root["name"] == nil {
		t.Errorf("getRootDept: %v", root)
	}
	var local map[string]any
	s.must(t, "getLocalCorpData", nil, &local)
	for _, k := range []string{"userList", "deptList", "roleList", "adminList"} {
		if _, ok := local[k]; !ok {
			t.Errorf("getLocalCorpData has no %s", k)
		}
	}
	inst, release, err := s.App.Instance(s.Corp)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, ok := inst.(org.Org); !ok {
		t.Errorf("%s's instance is no org.Org: the console, logins and the CLI cannot find it", s.Type)
	}
}

func roles(t *testing.T, s *Subject) {
	f := s.Fixture
	s.must(t, "setDeptRole", map[string]any{"deptId": f.Parent, "roleIdList": []string{"member"}}, nil)
	defer s.must(t, "setDeptRole", map[string]any{"deptId": f.Parent, "roleIdList": []string{}}, nil)
	var got []org.EffectiveRole
	s.must(t, "getMemberRoles", map[string]any{"memberId": f.InChild}, &got)
	want := fmt.Sprintf("dept:%d", f.Parent)
	if !slices.ContainsFunc(got, func(r org.EffectiveRole) bool { return r.RoleID == "member" && slices.Contains(r.From, want) }) {
		t.Fatalf("a member of a sub-department of %d does not hold its role: %+v", f.Parent, got)
	}
	s.must(t, "getMemberRoles", map[string]any{"memberId": f.Elsewhere}, &got)
	if slices.ContainsFunc(got, func(r org.EffectiveRole) bool { return slices.Contains(r.From, want) }) {
		t.Fatalf("a member outside %d holds its role: %+v", f.Parent, got)
	}
	var grant map[string]any
	s.must(t, "getDeptRole", map[string]any{"deptId": f.Parent}, &grant)
	if fmt.Sprint(grant["roleIdList"]) != "[member]" {
		t.Fatalf("getDeptRole: %v", grant)
	}
	s.must(t, "setUserRole", map[string]any{"memberId": f.Elsewhere, "roleIdList": []string{"member"}}, nil)
	s.must(t, "getMemberRoles", map[string]any{"memberId": f.Elsewhere}, &got)
	if !slices.ContainsFunc(got, func(r org.EffectiveRole) bool { return r.RoleID == "member" && slices.Contains(r.From, "direct") }) {
		t.Fatalf("a direct grant: %+v", got)
	}
}

func errs(t *testing.T, s *Subject) {
	s.wantCode(t, elements.CodeNotFound, "getMember", map[string]any{"memberId": "no-such-member"}, "no-such-member", s.Corp)
	s.wantCode(t, elements.CodeNotFound, "getMemberRoles", map[string]any{"memberId": "no-such-member"}, "no-such-member", s.Corp)
	s.wantCode(t, elements.CodeNotFound, "setAdmin", map[string]any{"memberIdList": []string{"no-such-member"}}, "no-such-member")
	s.wantCode(t, elements.CodeInvalidArgument, "setUserRole", map[string]any{"memberId": s.Fixture.InChild, "roleIdList": []string{"no-such-role"}}, "no-such-role")
	s.wantCode(t, elements.CodeInvalidArgument, "saveUserSignature", map[string]any{"memberId": s.Fixture.InChild, "signature": "javascript:alert(1)"})
	s.wantCode(t, elements.CodeNotFound, "getDeptTree", map[string]any{"deptId": 987654}, "987654")
	s.wantCode(t, elements.CodeInvalidArgument, "listMembers", map[string]any{"status": "sleeping"})
}

func views(t *testing.T, s *Subject) {
	var root org.TreeDept
	s.must(t, "getDeptTree", map[string]any{"depth": 64}, &root)
	if root.Total != s.Fixture.ActiveMembers {
		t.Fatalf("the root's total is %d, want the org's %d active members", root.Total, s.Fixture.ActiveMembers)
	}
	var sum func(d org.TreeDept) int
	sum = func(d org.TreeDept) int {
		if d.Total < d.Members {
			t.Fatalf("department %d counts %d in all and %d directly", d.DeptID, d.Total, d.Members)
		}
		n := 0
		for _, c := range d.Children {
			n += sum(c)
		}
		return n
	}
	sum(root)
	var page org.MemberPage
	s.must(t, "listMembers", map[string]any{"deptId": s.Fixture.Child, "limit": 1000}, &page)
	if !slices.ContainsFunc(page.Members, func(m org.MemberRow) bool { return m.MemberID == s.Fixture.InChild }) {
		t.Fatalf("listMembers of department %d misses %s: %+v", s.Fixture.Child, s.Fixture.InChild, page)
	}
	var m map[string]any
	s.must(t, "getMember", map[string]any{"memberId": s.Fixture.InChild}, &m)
	s.must(t, "listMembers", map[string]any{"query": m["name"], "limit": 1000}, &page)
	if !slices.ContainsFunc(page.Members, func(r org.MemberRow) bool { return r.MemberID == s.Fixture.InChild }) {
		t.Fatalf("a search of %q misses %s", m["name"], s.Fixture.InChild)
	}
	var dm []map[string]any
	s.must(t, "getDeptMembers", map[string]any{"deptId": s.Fixture.Child}, &dm)
	if !slices.ContainsFunc(dm, func(r map[string]any) bool { return r["memberId"] == s.Fixture.InChild }) {
		t.Fatalf("getDeptMembers of %d misses %s", s.Fixture.Child, s.Fixture.InChild)
	}
}

func signatures(t *testing.T, s *Subject) {
	id := s.Fixture.InChild
	var got map[string]any
	s.must(t, "saveUserSignature", map[string]any{"memberId": id, "signature": "https://sign.example/" + id + ".png"}, nil)
	s.must(t, "getUserSignature", map[string]any{"memberId": id}, &got)
	if got["signature"] != "https://sign.example/"+id+".png" {
		t.Fatalf("getUserSignature: %v", got)
	}
}

func history(t *testing.T, s *Subject) {
	var rep map[string]any
	err := s.call(t, "syncCorp", map[string]any{"dryRun": true}, &rep)
	switch code := elements.CodeOf(err); {
	case err == nil:
		if rep["dryRun"] != true {
			t.Fatalf("a dry run's report: %v", rep)
		}
	case code == elements.CodeFailedPrecondition:
		// an org with no platform says so
	default:
		t.Fatalf("syncCorp({dryRun}): %v", err)
	}
	var hist []map[string]any
	s.must(t, "getSyncHistory", nil, &hist)
	for i := 1; i < len(hist); i++ {
		if fmt.Sprint(hist[i-1]["startedAt"]) < fmt.Sprint(hist[i]["startedAt"]) {
			t.Fatalf("the history is not newest first: %v before %v", hist[i-1]["startedAt"], hist[i]["startedAt"])
		}
	}
}

func offline(t *testing.T, s *Subject) {
	id := s.Fixture.InChild
	s.must(t, "setAdmin", map[string]any{"memberIdList": []string{id}}, nil)
	alive := s.SignIn(t, id)
	if !alive() {
		t.Fatal("a session just made is not alive")
	}
	s.Offline(t, id)
	if alive() {
		t.Fatal("the session of a member taken offline is still alive: offline must end their sessions")
	}
	var m map[string]any
	s.must(t, "getMember", map[string]any{"memberId": id}, &m)
	if m["status"] != org.StatusOffline {
		t.Fatalf("the member after going offline: %v", m["status"])
	}
	var admins []string
	s.must(t, "getAdmin", nil, &admins)
	if slices.Contains(admins, id) {
		t.Fatalf("an offline member is still an admin: %v", admins)
	}
	var got []org.EffectiveRole
	s.must(t, "getMemberRoles", map[string]any{"memberId": id}, &got)
	if len(got) != 0 {
		t.Fatalf("an offline member holds roles: %+v", got)
	}
	s.wantCode(t, elements.CodeInvalidArgument, "setAdmin", map[string]any{"memberIdList": []string{id}}, "offline")
}

// FindFixture finds the suite's fixture in a built org: a department with a
// sub-department holding a member in no other department under it, and a member wholly
// outside it.
func FindFixture(t testing.TB, app *runtime.App, corp string) Fixture {
	t.Helper()
	o, release, err := org.Of(app, corp)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dir := o.Directory()
	root, err := dir.Tree(0, 64)
	if err != nil {
		t.Fatal(err)
	}
	parent := map[int64]int64{}
	var walk func(d org.TreeDept)
	walk = func(d org.TreeDept) {
		for _, c := range d.Children {
			parent[c.DeptID] = d.DeptID
			walk(c)
		}
	}
	walk(root)
	under := func(d, p int64) bool {
		for hops := 0; d != 0 && hops < 64; hops++ {
			if d == p {
				return true
			}
			d = parent[d]
		}
		return false
	}
	page, err := dir.List(org.MemberQuery{Status: org.StatusActive, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	f := Fixture{ActiveMembers: root.Total}
	for _, m := range page.Members {
		if len(m.DeptIDs) != 1 || m.DeptIDs[0] == root.DeptID || parent[m.DeptIDs[0]] == root.DeptID {
			continue // the suite wants a member two levels below the root
		}
		child := m.DeptIDs[0]
		p := parent[child]
		for _, o := range page.Members {
			if o.MemberID != m.MemberID && !slices.ContainsFunc(o.DeptIDs, func(d int64) bool { return under(d, p) }) {
				f.Parent, f.Child, f.InChild, f.Elsewhere = p, child, m.MemberID, o.MemberID
				return f
			}
		}
	}
	t.Fatalf("%s has no member two levels below the root with another member outside that subtree", corp)
	return f
}
