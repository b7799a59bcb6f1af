package org

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitrt/jitrt/kv"
)

// The member index and the department tree kept up to date from the members each commit
// changed are what building them anew from the store gives, through member writes of
// every kind (added, moved, in several departments, taken offline, removed), writes the
// views do not read, folds and department changes (which build them anew).
func TestViewsKeptUpToDateEqualViewsBuiltAnew(t *testing.T) {
	d, _ := newTestDir(t)
	ctx := context.Background()
	depts := []Dept{{DeptID: 1, Name: "root"}}
	for id := int64(2); id <= 13; id++ {
		depts = append(depts, Dept{DeptID: id, Name: fmt.Sprint("d", id), ParentID: 1 + (id-2)/3*int64(min(id-1, 1))})
	}
	f := &Fetched{Depts: depts}
	rng := rand.New(rand.NewPCG(7, 8))
	someDepts := func() []int64 {
		n := 1 + rng.IntN(3)
		var out []int64
		for range n {
			out = append(out, int64(1+rng.IntN(14))) // 14: a department not in the tree
		}
		return out
	}
	for i := range 300 {
		ds := someDepts()
		f.Members = append(f.Members, MakeFetched(&Member{MemberID: fmt.Sprintf("m%04d", i), Name: fmt.Sprint("member ", i), DeptIDs: ds, MainDeptID: ds[0]}, false))
	}
	if err := d.Commit(ctx, d.Prefetch(), f, &SyncReport{}, CommitOptions{Start: time.Now(), Init: true}); err != nil {
		t.Fatal(err)
	}
	advanced := 0
	advanceHook = func() { advanced++ }
	defer func() { advanceHook = nil }()
	check := func(step int, what string) (incremental bool) {
		t.Helper()
		err := d.store.View(func(tx *kv.Tx) error {
			was := advanced
			ov, err := d.orgView(tx)
			if err != nil {
				return err
			}
			ix, err := d.index(tx)
			if err != nil {
				return err
			}
			incremental = advanced > was
			// another directory of the same org, with nothing kept: built anew
			other := New(Config{Store: d.store, Name: "corps.T", CorpID: "t", Roles: DefaultRoles})
			fresh, err := other.orgView(tx)
			if err != nil {
				return err
			}
			freshIx := other.memberIx.Load()
			if ix.total != freshIx.total || ix.active != freshIx.active {
				t.Fatalf("step %d (%s): index total/active %d/%d, built anew %d/%d", step, what, ix.total, ix.active, freshIx.total, freshIx.active)
			}
			for id := int64(1); id <= 14; id++ {
				if !slices.Equal(ix.byDept[id], freshIx.byDept[id]) {
					t.Fatalf("step %d (%s): department %d lists %d members, built anew %d", step, what, id, len(ix.byDept[id]), len(freshIx.byDept[id]))
				}
				a, b := ov.depts[id], fresh.depts[id]
				if (a == nil) != (b == nil) || a != nil && (a.direct != b.direct || a.total != b.total || !slices.Equal(a.children, b.children)) {
					t.Fatalf("step %d (%s): department %d kept %+v, built anew %+v", step, what, id, a, b)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// a search finds what reading every record finds
		for _, needle := range []string{"m00", "M01", "member 1", "x", "ber 2", "m0001", "zzz"} {
			for _, status := range []string{"", StatusOffline} {
				got, err := d.listMembers(memberQuery{query: needle, status: status, limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				d.store.View(func(tx *kv.Tx) error {
					return scanMembers(tx, d.keys, func(id, raw string) bool {
						n := strings.ToLower(needle)
						if (strings.Contains(strings.ToLower(id), n) || strings.Contains(strings.ToLower(MemberField(raw, fName).String()), n)) &&
							(status == "" || MemberField(raw, fStatus).String() == status) {
							want = append(want, id)
						}
						return true
					})
				})
				page := got.(map[string]any)
				var ids []string
				for _, r := range page["members"].([]any) {
					ids = append(ids, r.(map[string]any)["memberId"].(string))
				}
				if int(page["total"].(float64)) != len(want) || !slices.Equal(ids, want) {
					t.Fatalf("step %d (%s): search %q (%s): %d %v, reading every record: %d %v", step, what, needle, status, int(page["total"].(float64)), ids, len(want), want)
				}
			}
		}
		return incremental
	}
	check(0, "first")
	kept := 0
	for step := 1; step <= 300; step++ {
		id := fmt.Sprintf("m%04d", rng.IntN(330)) // some not there yet
		var what string
		var changes []kv.Change
		switch r := rng.IntN(20); {
		case r < 12:
			ds := someDepts()
			status := StatusActive
			if rng.IntN(4) == 0 {
				status = StatusOffline
			}
			m := &Member{MemberID: id, Status: status, Name: "x", DeptIDs: ds, MainDeptID: ds[0], CreatedAt: "t", UpdatedAt: "t"}
			what, changes = "member written", []kv.Change{{Key: d.keys.Member(id), Value: EncodeMember(m)}}
			if rng.IntN(3) == 0 { // two in one commit, one twice
				m.DeptIDs = someDepts()
				changes = append(changes, kv.Change{Key: d.keys.Member(id), Value: EncodeMember(m)},
					kv.Change{Key: d.keys.Member("m0001"), Value: EncodeMember(&Member{MemberID: "m0001", Status: StatusActive, DeptIDs: []int64{5}, MainDeptID: 5})})
			}
		case r < 14:
			what, changes = "single record removed", []kv.Change{{Key: d.keys.Member(id), Delete: true}}
		case r < 17:
			what, changes = "a key the views do not read", []kv.Change{{Key: d.keys.Sig(id), Value: fmt.Sprint(step)}}
		case r < 18:
			dep := depts[1+rng.IntN(len(depts)-1)]
			dep.ParentID = int64(1 + rng.IntN(int(dep.DeptID-1)))
			what, changes = "department moved", []kv.Change{{Key: d.keys.Dept(dep.DeptID), Value: MustJSON(dep)}}
		default:
			what = "members folded"
			err := d.store.Update(func(tx *kv.Tx) error {
				stored, err := readMembers(tx, d.keys)
				if err != nil {
					return err
				}
				var final []memberRec
				for _, id := range sortedIDs(stored.raw) {
					final = append(final, memberRec{id: id, tail: stored.raw[id]})
				}
				for _, c := range foldChanges(d.keys, final, stored) {
					if c.Delete {
						tx.Delete(c.Key)
					} else {
						tx.Set(c.Key, c.Value)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if changes != nil {
			if err := d.store.Apply(changes, nil); err != nil {
				t.Fatal(err)
			}
		}
		if check(step, what) {
			kept++
		}
	}
	if kept < 150 {
		t.Fatalf("only %d of 300 steps brought the views up to date rather than building them anew", kept)
	}
	t.Logf("%d of 300 steps kept the views up to date", kept)
}
