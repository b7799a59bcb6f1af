package corps_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom"
)

type (
	treeNode   = org.TreeDept
	memberRow  = org.MemberRow
	memberPage = org.MemberPage
)

// expectedCounts works the counts out from WeCom's org: members directly in each
// department and distinct members in it and below, leaving out the members in skip.
func expectedCounts(org *wecom.Org, skip map[string]bool) (direct, total map[int64]int) {
	parent := map[int64]int64{}
	for _, d := range org.Departments {
		parent[d.ID] = d.ParentID
	}
	direct, total = map[int64]int{}, map[int64]int{}
	for _, u := range org.Users {
		if skip[u.UserID] {
			continue
		}
		in := map[int64]bool{}
		for _, d := range u.Department {
			direct[d]++
			for a := d; a != 0; a = parent[a] {
				in[a] = true
			}
		}
		for a := range in {
			total[a]++
		}
	}
	return direct, total
}

func TestDeptTreeCountsEachMemberOnceAndFollowsWrites(t *testing.T) {
	e := newEnv(t, 400, 15, "")
	org := e.sim.Org()
	// one member in two departments of one branch, one in two branches
	var leaf, other wecom.Department
	for _, d := range org.Departments {
		if d.ParentID > 1 && leaf.ID == 0 {
			leaf = d
		}
	}
	for _, d := range org.Departments {
		if d.ParentID == 1 && d.ID != leaf.ParentID {
			other = d
			break
		}
	}
	u := org.Users
	e.must(e.sim.UpdateUser(u[0].UserID, func(m *wecom.User) { m.Department = []int64{leaf.ID, leaf.ParentID} }))
	e.must(e.sim.UpdateUser(u[1].UserID, func(m *wecom.User) { m.Department = []int64{leaf.ID, other.ID} }))
	e.mustJS(`corp.initCorp()`, nil)

	check := func(skip map[string]bool) {
		t.Helper()
		org := e.sim.Org()
		direct, total := expectedCounts(org, skip)
		children := map[int64][]wecom.Department{}
		for _, d := range org.Departments {
			children[d.ParentID] = append(children[d.ParentID], d)
		}
		for _, d := range org.Departments {
			var n treeNode
			e.mustJS(fmt.Sprintf(`corp.getDeptTree({deptId: %d})`, d.ID), &n)
			if n.DeptID != d.ID || n.Name != d.Name || n.ParentID != d.ParentID || n.Members != direct[d.ID] || n.Total != total[d.ID] {
				t.Fatalf("department %d (%s): got %+v, want members %d total %d", d.ID, d.Name, n, direct[d.ID], total[d.ID])
			}
			kids := children[d.ID]
			slices.SortFunc(kids, func(a, b wecom.Department) int {
				if a.Order != b.Order {
					return int(b.Order - a.Order)
				}
				return int(a.ID - b.ID)
			})
			if n.SubDepartments != len(kids) || len(n.Children) != len(kids) {
				t.Fatalf("department %d: %d sub-departments, %d children, want %d", d.ID, n.SubDepartments, len(n.Children), len(kids))
			}
			for i, k := range kids {
				if n.Children[i].DeptID != k.ID || n.Children[i].Children != nil {
					t.Fatalf("department %d: child %d is %d, want %d (one level only)", d.ID, i, n.Children[i].DeptID, k.ID)
				}
			}
		}
		if total[1] != len(org.Users)-len(skip) {
			t.Fatalf("the test's own count: %d of %d", total[1], len(org.Users))
		}
	}
	check(nil)

	// the counts follow the corp's writes: an offline member leaves them at once
	e.mustJS(fmt.Sprintf(`corp.offlineMember([%q, %q])`, u[0].UserID, u[5].UserID), nil)
	check(map[string]bool{u[0].UserID: true, u[5].UserID: true})

	// depth: the whole tree at once, and depth 0 is the department alone
	var whole treeNode
	e.mustJS(`corp.getDeptTree({depth: 64})`, &whole)
	seen := 0
	var walk func(n treeNode, level int)
	walk = func(n treeNode, level int) {
		seen++
		sum := n.Members
		for _, c := range n.Children {
			walk(c, level+1)
			sum += c.Total
		}
		if n.Total > sum {
			t.Fatalf("department %d: total %d is more than its members and its children's totals (%d)", n.DeptID, n.Total, sum)
		}
	}
	walk(whole, 0)
	if seen != len(e.sim.Org().Departments) || whole.DeptID != 1 {
		t.Fatalf("the whole tree from %d has %d departments, want %d", whole.DeptID, seen, len(e.sim.Org().Departments))
	}
	var alone treeNode
	e.mustJS(`corp.getDeptTree({depth: 0})`, &alone)
	if alone.Children != nil || alone.SubDepartments == 0 {
		t.Fatalf("depth 0: %+v", alone)
	}

	// errors say what is wrong
	if err := e.js(`corp.getDeptTree({deptId: 987654})`, nil); elements.CodeOf(err) != elements.CodeNotFound || !strings.Contains(err.Error(), "987654") {
		t.Fatalf("an unknown department: %v", err)
	}
	if err := e.js(`corp.getDeptTree({deptId: "x"})`, nil); elements.CodeOf(err) != elements.CodeInvalidArgument {
		t.Fatalf("a department id that is not a number: %v", err)
	}
}

func TestListMembersPagesFiltersAndSearches(t *testing.T) {
	e := newEnv(t, 250, 8, "")
	e.mustJS(`corp.initCorp()`, nil)
	org := e.sim.Org()
	ids := []string{}
	for _, u := range org.Users {
		ids = append(ids, u.UserID)
	}
	slices.Sort(ids)

	// pages of 37 put together are every member once, in id order
	var got []string
	for off := 0; ; off += 37 {
		var p memberPage
		e.mustJS(fmt.Sprintf(`corp.listMembers({limit: 37, offset: %d})`, off), &p)
		if p.Total != len(ids) {
			t.Fatalf("total %d, want %d", p.Total, len(ids))
		}
		if len(p.Members) == 0 {
			break
		}
		for _, m := range p.Members {
			got = append(got, m.MemberID)
			if m.Leader != nil {
				t.Fatalf("leader is about a department; none was asked for: %+v", m)
			}
		}
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("the pages hold %d members, want the %d in id order", len(got), len(ids))
	}

	// by department, with the leader flag of that department
	dept := org.Users[3].Department[0]
	e.must(e.sim.UpdateUser(org.Users[3].UserID, func(u *wecom.User) {
		u.IsLeaderInDept = make([]int, len(u.Department))
		u.IsLeaderInDept[0] = 1
	}))
	e.sync("")
	var want []string
	leads := map[string]bool{}
	for _, u := range e.sim.Org().Users {
		if i := slices.Index(u.Department, dept); i >= 0 {
			want = append(want, u.UserID)
			leads[u.UserID] = i < len(u.IsLeaderInDept) && u.IsLeaderInDept[i] == 1
		}
	}
	slices.Sort(want)
	var p memberPage
	e.mustJS(fmt.Sprintf(`corp.listMembers({deptId: %d, limit: 1000})`, dept), &p)
	got = nil
	for _, m := range p.Members {
		got = append(got, m.MemberID)
		if m.Leader == nil || *m.Leader != leads[m.MemberID] || !leads[org.Users[3].UserID] {
			t.Fatalf("leader of %d: %+v", dept, m)
		}
	}
	if !slices.Equal(got, want) || p.Total != len(want) {
		t.Fatalf("department %d: %v (total %d), want %v", dept, got, p.Total, want)
	}

	// offline members are listed by status, and by status within a department
	off := org.Users[3].UserID
	e.mustJS(fmt.Sprintf(`corp.offlineMember([%q])`, off), nil)
	for _, q := range []string{`{status: "offline"}`, fmt.Sprintf(`{status: "offline", deptId: %d}`, dept)} {
		e.mustJS(`corp.listMembers(`+q+`)`, &p)
		if p.Total != 1 || p.Members[0].MemberID != off || p.Members[0].Status != "offline" {
			t.Fatalf("listMembers(%s): %+v", q, p)
		}
	}
	e.mustJS(fmt.Sprintf(`corp.listMembers({deptId: %d, limit: 1000})`, dept), &p)
	if p.Total != len(want)-1 || slices.ContainsFunc(p.Members, func(m memberRow) bool {
		return m.MemberID == off
	}) {
		t.Fatalf("a department lists its active members: %+v", p)
	}

	// a search matches a part of the name or of the id, any case
	target := org.Users[7]
	part := []rune(target.Name)
	for _, q := range []string{string(part[len(part)-1:]), strings.ToUpper(target.UserID[1:4])} {
		e.mustJS(fmt.Sprintf(`corp.listMembers({query: %q, limit: 1000})`, q), &p)
		n := 0
		for _, u := range org.Users {
			if strings.Contains(u.Name, q) || strings.Contains(strings.ToLower(u.UserID), strings.ToLower(q)) {
				n++
			}
		}
		if p.Total != n || !slices.ContainsFunc(p.Members, func(m memberRow) bool {
			return m.MemberID == target.UserID
		}) {
			t.Fatalf("query %q: total %d, want %d with %s", q, p.Total, n, target.UserID)
		}
	}

	for call, code := range map[string]string{
		`corp.listMembers({status: "gone"})`: elements.CodeInvalidArgument,
		`corp.listMembers({deptId: 424242})`: elements.CodeNotFound,
		`corp.listMembers({limit: "ten"})`:   elements.CodeInvalidArgument,
		`corp.listMembers({offset: 1.5})`:    elements.CodeInvalidArgument,
	} {
		if err := e.js(call, nil); elements.CodeOf(err) != code {
			t.Errorf("%s: %v, want %s", call, err, code)
		}
	}
}

func TestGetSyncHistoryListsWithoutChangesAndFindsOne(t *testing.T) {
	e := newEnv(t, 40, 3, "")
	e.mustJS(`corp.initCorp()`, nil)
	u := e.sim.Org().Users
	for i := range 3 {
		e.must(e.sim.UpdateUser(u[i].UserID, func(m *wecom.User) { m.Position = fmt.Sprint("P", i) }))
		e.sync("")
	}
	type rep struct {
		StartedAt   string `json:"startedAt"`
		Updated     int    `json:"updated"`
		ChangeCount *int   `json:"changeCount"`
		Changes     []struct {
			ID, Name string
		} `json:"changes"`
	}
	var full, light, two, one []rep
	e.mustJS(`corp.getSyncHistory()`, &full)
	e.mustJS(`corp.getSyncHistory({changes: false})`, &light)
	e.mustJS(`corp.getSyncHistory({limit: 2})`, &two)
	if len(full) < 4 || len(light) != len(full) || len(two) != 2 || two[0].StartedAt != full[0].StartedAt {
		t.Fatalf("%d reports, %d light, %d with limit 2", len(full), len(light), len(two))
	}
	for i := range full {
		if full[i].ChangeCount != nil || light[i].ChangeCount == nil || *light[i].ChangeCount != len(full[i].Changes) || len(light[i].Changes) != 0 || light[i].StartedAt != full[i].StartedAt {
			t.Fatalf("report %d: full %+v, light %+v", i, full[i], light[i])
		}
	}
	e.mustJS(fmt.Sprintf(`corp.getSyncHistory({startedAt: %q})`, full[1].StartedAt), &one)
	if len(one) != 1 || one[0].StartedAt != full[1].StartedAt || len(one[0].Changes) != 1 || one[0].Changes[0].ID != u[1].UserID {
		t.Fatalf("the report started at %s: %+v", full[1].StartedAt, one)
	}
	var none int
	if e.mustJS(`corp.getSyncHistory({startedAt: "never"}).length`, &none); none != 0 {
		t.Fatalf("no report started then, got %d", none)
	}
}
