package org

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jitrt/jitrt/kv"
)

// BenchmarkViewsAfterAWrite is the console's reads of an org of a million members in 8,000
// departments (JITRT_BENCH_MEMBERS to change): the department tree and a member search,
// each right after a write that changes one member (taken offline and back, moved), and
// a search as the org stands; the targets are 5 ms and 30 ms.
func BenchmarkViewsAfterAWrite(b *testing.B) {
	members := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("JITRT_BENCH_MEMBERS")); err == nil {
		members = v
	}
	st, err := kv.Open(context.Background(), b.TempDir(), kv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	d := New(Config{Store: st, Name: "corps.B", CorpID: "b", Roles: DefaultRoles})
	f := &Fetched{Depts: []Dept{{DeptID: 1, Name: "root"}}}
	for id := int64(2); id <= 8000; id++ {
		f.Depts = append(f.Depts, Dept{DeptID: id, Name: fmt.Sprint("部门", id), ParentID: 1 + (id-2)/20})
	}
	for i := range members {
		ds := []int64{int64(1 + i%8000)}
		if i%7 == 0 {
			ds = append(ds, int64(1+(i/7)%8000))
		}
		m := &Member{MemberID: fmt.Sprintf("zhang%07d", i), Name: fmt.Sprint("张", i), DeptIDs: ds, MainDeptID: ds[0], Position: "工程师"}
		f.Members = append(f.Members, MakeFetched(m, false))
	}
	if err := d.Commit(context.Background(), d.Prefetch(), f, &SyncReport{}, CommitOptions{Start: time.Now(), Init: true}); err != nil {
		b.Fatal(err)
	}
	tree := func() {
		if _, err := d.deptTree(0, 2); err != nil {
			b.Fatal(err)
		}
	}
	search := func() {
		if _, err := d.listMembers(memberQuery{query: "zhang00012", limit: 100}); err != nil {
			b.Fatal(err)
		}
	}
	tree()
	search()
	write := func(i int) {
		m := &Member{MemberID: "zhang0000042", Status: StatusActive, Name: "张42", DeptIDs: []int64{int64(2 + i%100)}, MainDeptID: int64(2 + i%100), CreatedAt: "t", UpdatedAt: "t"}
		if i%2 == 1 {
			m.Status = StatusOffline
		}
		if err := st.Apply([]kv.Change{{Key: d.keys.Member(m.MemberID), Value: EncodeMember(m)}}, nil); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		read  func()
		write bool
	}{
		{"tree-after-a-member-write", tree, true},
		{"search-after-a-member-write", search, true},
		{"search", search, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			var took time.Duration
			n := 0
			for i := 0; b.Loop(); i++ {
				if c.write {
					b.StopTimer()
					write(i)
					b.StartTimer()
				}
				start := time.Now()
				c.read()
				took += time.Since(start)
				n++
			}
			b.ReportMetric(float64(took.Microseconds())/1000/float64(n), "ms/read")
		})
	}
}
