package org

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
)

// # Views of the org
//
// getDeptTree and listMembers are what jitrt org, jitrt members and the console show: the
// department tree with member counts, one level or more at a time, and members by
// department, status or a search, a page at a time. Both read the department tree and the
// active members by department as of the corp's last write (cached until the next).

// orgView is the department tree with its active-member counts.
type orgView struct {
	version uint64
	root    int64
	depts   map[int64]*deptNode
}

type deptNode struct {
	id, parent int64
	name       string
	order      int64
	children   []int64
	direct     int // active members directly in it
	total      int // distinct active members in it and below
}

func (o *Directory) orgView(tx *kv.Tx) (*orgView, error) {
	v := tx.Generation(o.keys.prefix)
	kept := o.orgIx.Load()
	if kept != nil && kept.version == v {
		return kept, nil
	}
	if kept != nil {
		// the members the commits since changed, if that is all that changed
		if deltas, ok := o.memberDeltas(tx, kept.version); ok {
			ov := kept.advance(deltas, v)
			o.orgIx.Store(ov)
			if advanceHook != nil {
				advanceHook()
			}
			return ov, nil
		}
	}
	ix, err := o.index(tx)
	if err != nil {
		return nil, err
	}
	ov := &orgView{version: v, depts: map[int64]*deptNode{}}
	var meta Meta
	tx.GetJSON(o.keys.Meta(), &meta)
	ov.root = meta.RootDeptID
	tx.Scan(o.keys.Depts(), func(_, raw string) bool {
		f := gjson.GetMany(raw, "deptId", "parentId", "name", "order")
		id := f[0].Int()
		ov.depts[id] = &deptNode{id: id, parent: f[1].Int(), name: f[2].String(), order: f[3].Int(), direct: len(ix.byDept[id])}
		return true
	})
	for _, d := range ov.depts {
		if p := ov.depts[d.parent]; p != nil && d.parent != d.id {
			p.children = append(p.children, d.id)
		}
	}
	for _, d := range ov.depts {
		slices.SortFunc(d.children, func(a, b int64) int {
			da, db := ov.depts[a], ov.depts[b]
			if c := cmp.Compare(db.order, da.order); c != 0 {
				return c // a higher order comes first (as WeCom, DingTalk and Feishu sort)
			}
			return cmp.Compare(a, b)
		})
	}
	var sum func(id int64, depth int) int
	sum = func(id int64, depth int) int {
		d := ov.depts[id]
		if d == nil || depth > 64 {
			return 0
		}
		d.total = d.direct
		for _, ch := range d.children {
			d.total += sum(ch, depth+1)
		}
		return d.total
	}
	for _, d := range ov.depts {
		if ov.depts[d.parent] == nil || d.parent == d.id {
			sum(d.id, 0)
		}
	}
	// a member in two departments of one subtree counts once in it and above
	seen := map[int64]int{}
	ix.eachMulti(func(ds []int64) {
		clear(seen)
		for _, id := range ds {
			for d, hops := ov.depts[id], 0; d != nil && hops <= 64; hops++ {
				seen[d.id]++
				if d.parent == d.id {
					break
				}
				d = ov.depts[d.parent]
			}
		}
		for id, n := range seen {
			ov.depts[id].total -= n - 1
		}
	})
	o.orgIx.Store(ov)
	return ov, nil
}

// advance is the view with the member deltas applied, as of generation v (the tree itself
// unchanged): each member counts once directly in each of its departments and once in
// every department above any of them. The view it was is not changed (readers may hold
// it).
func (ov *orgView) advance(deltas []memberDelta, v uint64) *orgView {
	next := *ov
	next.version = v
	if len(deltas) == 0 {
		return &next
	}
	next.depts = maps.Clone(ov.depts)
	copied := map[int64]bool{}
	node := func(id int64) *deptNode {
		d := next.depts[id]
		if d != nil && !copied[id] {
			c := *d
			d, copied[id] = &c, true
			next.depts[id] = d
		}
		return d
	}
	count := func(depts []int64, n int) {
		above := map[int64]bool{}
		for _, id := range depts {
			if d := node(id); d != nil {
				d.direct += n
			}
			for d, hops := next.depts[id], 0; d != nil && hops <= 64 && !above[d.id]; hops++ {
				above[d.id] = true
				node(d.id).total += n
				if d.parent == d.id {
					break
				}
				d = next.depts[d.parent]
			}
		}
	}
	for _, d := range deltas {
		count(activeDepts(d.old), -1)
		count(activeDepts(d.now), +1)
	}
	return &next
}

// deptTree is a department with its counts and, to depth more levels, its sub-departments.
func (o *Directory) deptTree(deptID int64, depth int) (any, error) {
	var out any
	err := o.store.View(func(tx *kv.Tx) error {
		ov, err := o.orgView(tx)
		if err != nil {
			return err
		}
		if deptID == 0 {
			deptID = ov.root
		}
		if ov.depts[deptID] == nil {
			return o.NotFound("department", strconv.FormatInt(deptID, 10))
		}
		var node func(id int64, left int) map[string]any
		node = func(id int64, left int) map[string]any {
			d := ov.depts[id]
			n := map[string]any{"deptId": float64(d.id), "name": d.name, "parentId": float64(d.parent),
				"members": float64(d.direct), "total": float64(d.total), "subDepartments": float64(len(d.children))}
			if left > 0 {
				kids := make([]any, 0, len(d.children))
				for _, ch := range d.children {
					kids = append(kids, node(ch, left-1))
				}
				n["children"] = kids
			}
			return n
		}
		out = node(deptID, depth)
		return nil
	})
	return out, err
}

// memberQuery is what listMembers selects.
type memberQuery struct {
	deptID        int64
	status, query string
	limit, offset int
}

// listMembers is a page of the members a query selects, in id order, and how many there
// are: {total, members: [{memberId, name, status, position, mainDeptId, deptIds, leader}]}.
func (o *Directory) listMembers(q memberQuery) (any, error) {
	if q.limit <= 0 || q.limit > 1000 {
		q.limit = 100
	}
	if q.status != "" && q.status != StatusActive && q.status != StatusOffline {
		return nil, o.BadArg("status %q must be active or offline", q.status)
	}
	needle := strings.ToLower(strings.TrimSpace(q.query))
	total := 0
	rows := []any{}
	selectRows := func(tx *kv.Tx) error {
		if q.deptID != 0 {
			if _, err := tx.Get(o.keys.Dept(q.deptID)); err != nil {
				return o.NotFound("department", strconv.FormatInt(q.deptID, 10))
			}
		}
		take := func(raw string) {
			total++
			if total <= q.offset || len(rows) >= q.limit {
				return
			}
			rows = append(rows, memberRow(raw, q.deptID))
		}
		match := func(raw string) bool {
			if q.status != "" && MemberField(raw, fStatus).String() != q.status {
				return false
			}
			if needle != "" {
				f := gjson.GetMany(raw, strconv.Itoa(fMemberID), strconv.Itoa(fName))
				if !strings.Contains(strings.ToLower(f[0].Str), needle) && !strings.Contains(strings.ToLower(f[1].Str), needle) {
					return false
				}
			}
			return true
		}
		if q.deptID != 0 && q.status != StatusOffline {
			// the active members of a department come from the index, already in id order
			ix, err := o.index(tx)
			if err != nil {
				return err
			}
			for _, raw := range ix.byDept[q.deptID] {
				if match(raw) {
					take(raw)
				}
			}
			return nil
		}
		if q.deptID == 0 && searchable(needle) {
			// a search of the whole org: the search index holds every id and name
			s, err := o.searchIndex(tx)
			if err != nil {
				return err
			}
			s.each(needle, func(raw string) bool {
				if q.status == "" || MemberField(raw, fStatus).String() == q.status {
					take(raw)
				}
				return true
			})
			return nil
		}
		return scanMembers(tx, o.keys, func(_, raw string) bool {
			if q.deptID != 0 && !slices.Contains(intsOf(MemberField(raw, fDeptIDs)), q.deptID) {
				return true
			}
			if match(raw) {
				take(raw)
			}
			return true
		})
	}
	err := o.store.View(func(tx *kv.Tx) error {
		if err := selectRows(tx); err != nil {
			return err
		}
		// the main department by name too, in the same view (a page holds at most 1,000)
		names := map[float64]string{}
		for _, r := range rows {
			row := r.(map[string]any)
			id, _ := row["mainDeptId"].(float64)
			name, ok := names[id]
			if !ok {
				raw, _ := tx.Get(o.keys.Dept(int64(id)))
				name = gjson.Get(raw, "name").Str
				names[id] = name
			}
			row["mainDeptName"] = name
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"total": float64(total), "members": rows}, nil
}

// memberRow is a member as a list shows it (leader: of the department listed).
func memberRow(raw string, dept int64) map[string]any {
	f := gjson.GetMany(raw, strconv.Itoa(fMemberID), strconv.Itoa(fName), strconv.Itoa(fStatus),
		strconv.Itoa(fieldIndex["position"]), strconv.Itoa(fieldIndex["mainDeptId"]), strconv.Itoa(fDeptIDs), strconv.Itoa(fieldIndex["leaderDeptIds"]))
	depts := []any{}
	for _, d := range intsOf(f[5]) {
		depts = append(depts, float64(d))
	}
	row := map[string]any{"memberId": f[0].Str, "name": f[1].Str, "status": f[2].Str, "position": f[3].Str,
		"mainDeptId": f[4].Num, "deptIds": depts}
	if dept != 0 {
		row["leader"] = slices.Contains(intsOf(f[6]), dept)
	}
	return row
}

// viewMethods are the methods of the org's views.
func (o *Directory) viewMethods() []elements.Method {
	return []elements.Method{
		{Name: "getDeptTree", Callable: true, Doc: "a department (default the root) with member counts and depth levels of sub-departments (default 1)",
			Params: []elements.Param{num("deptId", false), num("depth", false)},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				id, _, err := a.Int("deptId")
				if err != nil {
					return nil, err
				}
				depth, given, err := a.Int("depth")
				if err != nil {
					return nil, err
				}
				if !given {
					depth = 1
				}
				return o.deptTree(id, int(min(max(depth, 0), 64)))
			}},
		{Name: "listMembers", Callable: true, Doc: "a page of members, by department, status (active, offline) or a search of name and id: {total, members}",
			Params: []elements.Param{num("deptId", false), {Name: "status", Kind: elements.KindString}, {Name: "query", Kind: elements.KindString},
				num("limit", false), num("offset", false)},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				q := memberQuery{status: a.String("status"), query: a.String("query")}
				var err error
				var n int64
				if q.deptID, _, err = a.Int("deptId"); err != nil {
					return nil, err
				}
				if n, _, err = a.Int("limit"); err != nil {
					return nil, err
				}
				q.limit = int(n)
				if n, _, err = a.Int("offset"); err != nil {
					return nil, err
				}
				q.offset = int(max(n, 0))
				return o.listMembers(q)
			}},
	}
}
