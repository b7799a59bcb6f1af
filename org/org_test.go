package org

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitrt/jitrt/kv"
)

// newTestDir is an org in a store of its own, and the count of panics it recorded.
func newTestDir(t *testing.T) (*Directory, *atomic.Int32) {
	t.Helper()
	st, err := kv.Open(context.Background(), t.TempDir(), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var panics atomic.Int32
	d := New(Config{Store: st, Name: "corps.T", CorpID: "t", Roles: DefaultRoles,
		Recovered: func(where string, r any) error { panics.Add(1); return fmt.Errorf("%s: panic: %v", where, r) }})
	return d, &panics
}

// fetchedOrg is a root and n members in it.
func fetchedOrg(n int) *Fetched {
	f := &Fetched{Depts: []Dept{{DeptID: 1, Name: "root"}}}
	for i := range n {
		m := &Member{MemberID: fmt.Sprintf("m%05d", i), Name: fmt.Sprint("member ", i), DeptIDs: []int64{1}, MainDeptID: 1}
		f.Members = append(f.Members, MakeFetched(m, false))
	}
	return f
}

// A panic in a goroutine the org's sync starts (the stored org's read, a compare worker)
// is the sync's error, recorded once; nothing is written; the next sync works.
func TestAPanicInASyncGoroutineIsTheSyncsError(t *testing.T) {
	d, panics := newTestDir(t)
	ctx := context.Background()
	commit := func() error {
		rep := &SyncReport{}
		return d.Commit(ctx, d.Prefetch(), fetchedOrg(3000), rep, CommitOptions{Start: time.Now(), Init: true})
	}
	prefetchHook = func() { panic("injected into the read") }
	err := commit()
	prefetchHook = nil
	if err == nil || !strings.Contains(err.Error(), "injected into the read") || panics.Load() != 1 {
		t.Fatalf("a sync whose read panicked: %v (panics recorded: %d)", err, panics.Load())
	}
	compareHook = func(w int) {
		if w == 0 {
			panic("injected into a compare worker")
		}
	}
	err = commit()
	compareHook = nil
	if err == nil || !strings.Contains(err.Error(), "injected into a compare worker") || panics.Load() != 2 {
		t.Fatalf("a sync whose compare worker panicked: %v (panics recorded: %d)", err, panics.Load())
	}
	if err := d.RequireInit(); err == nil {
		t.Fatal("a sync that failed wrote the org")
	}
	if err := commit(); err != nil {
		t.Fatalf("the sync after the panics: %v", err)
	}
	if p, err := d.List(MemberQuery{Limit: 1}); err != nil || p.Total != 3000 {
		t.Fatalf("after the sync: %+v %v", p, err)
	}
}

// A record in today's layout and one of the release before the org engine (26 fields)
// decode to the same member, and the upgraded record is what the WeCom provider writes
// (same fields, same order, same bytes).
func TestALegacyRecordReadsAsToday(t *testing.T) {
	legacy := `["u1","active","","","2026-01-01T00:00:00Z","2026-01-02T00:00:00Z","张三",[1,2],2,[2],"工程师","138","a@x.com","a@biz.x","https://a/0","https://a/100","1","https://qr","北京","010","老张","Zhang","外部",["L1"],{"attrs":[{"type":0,"name":"工号","text":{"value":"A1"}}]},1]`
	m, err := DecodeMember(legacy)
	if err != nil {
		t.Fatal(err)
	}
	var ext ExtBuilder
	for _, s := range []string{"a@biz.x", "https://a/100", "https://qr", "北京", "老张", "外部"} {
		ext.String(s)
	}
	ext.Raw(`{"attrs":[{"type":0,"name":"工号","text":{"value":"A1"}}]}`)
	ext.Int(1)
	want := &Member{MemberID: "u1", Status: "active", CreatedAt: "2026-01-01T00:00:00Z", UpdatedAt: "2026-01-02T00:00:00Z", Name: "张三",
		DeptIDs: []int64{1, 2}, MainDeptID: 2, LeaderDeptIDs: []int64{2}, Position: "工程师", Mobile: "138", Email: "a@x.com",
		Avatar: "https://a/0", Gender: "1", Telephone: "010", EnglishName: "Zhang", DirectLeader: []string{"L1"}, Ext: ext.JSON()}
	if got, w := EncodeMember(m), EncodeMember(want); got != w {
		t.Fatalf("the legacy record upgrades to\n%s\nwant\n%s", got, w)
	}
	again, err := DecodeMember(EncodeMember(m))
	if err != nil || EncodeMember(again) != EncodeMember(m) {
		t.Fatalf("today's record does not read back the same: %v", err)
	}
	if !isLegacy(legacy) || isLegacy(EncodeMember(m)) {
		t.Fatal("isLegacy tells the layouts apart wrongly")
	}
	v := memberView{EncodeMember(m), &Profile{ExtFields: LegacyExt, Aliases: []Alias{{Name: "wecomUserId", Of: "memberId"}}}}
	keys := strings.Join(v.Keys(), ",")
	if keys != "memberId,status,createdAt,updatedAt,name,deptIds,mainDeptId,leaderDeptIds,position,mobile,email,avatar,gender,telephone,englishName,directLeader,bizMail,thumbAvatar,qrCode,address,alias,externalPosition,extAttr,wecomStatus,wecomUserId" {
		t.Fatalf("the member's fields: %s", keys)
	}
	if f, ok := v.Field("wecomUserId"); !ok || f != "u1" {
		t.Fatalf("the alias: %v %v", f, ok)
	}
	if f, ok := v.Field("address"); !ok || f != "北京" {
		t.Fatalf("a provider field: %v %v", f, ok)
	}
}

// A sync that finds nothing to change writes 0 bytes of state, yet counts as the last sync
// for every process: another process opening the state afterwards (jitrt exec, then the
// console of jitrt run) sees its time as lastSyncAt and its report first in the history
// (issue #26, trap 6).
func TestANoChangeSyncCountsAsTheLastSyncInEveryProcess(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() (*Directory, *kv.Store) {
		st, err := kv.Open(ctx, dir, kv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return New(Config{Store: st, Name: "corps.T", CorpID: "t", Roles: DefaultRoles}), st
	}
	sync := func(d *Directory, init bool) *SyncReport {
		rep := &SyncReport{StartedAt: time.Now().UTC().Format(time.RFC3339Nano)}
		if err := d.Commit(ctx, d.Prefetch(), fetchedOrg(50), rep, CommitOptions{Start: time.Now(), Init: init}); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	d, st := open()
	first := sync(d, true)
	st.Close()

	d, st = open()
	before, err := os.ReadFile(filepath.Join(dir, kv.FileName))
	if err != nil {
		t.Fatal(err)
	}
	quiet := sync(d, false)
	if quiet.Writes != 0 || quiet.FinishedAt == first.FinishedAt {
		t.Fatalf("the second sync: %+v", quiet)
	}
	st.Close()
	after, _ := os.ReadFile(filepath.Join(dir, kv.FileName))
	if !bytes.Equal(before, after) {
		t.Fatalf("a no-change sync wrote %d bytes of state", len(after)-len(before))
	}

	d, st = open() // another process
	defer st.Close()
	counts, err := d.Counts(ctx)
	if err != nil || counts["lastSyncAt"] != quiet.FinishedAt {
		t.Fatalf("lastSyncAt in another process: %v (%v), want the no-change sync's %s (the first finished %s)", counts["lastSyncAt"], err, quiet.FinishedAt, first.FinishedAt)
	}
	hist, err := d.SyncHistory(ctx, 10, false, "")
	if err != nil || len(hist) != 2 || hist[0].(map[string]any)["finishedAt"] != quiet.FinishedAt {
		t.Fatalf("history in another process: %v %v", hist, err)
	}
}

// Syncs of huge orgs that overlap set the collector tighter once and put back what was
// set before when the last ends, in whatever order they end.
func TestOverlappingHugeSyncsPutTheCollectorBack(t *testing.T) {
	before := debug.SetGCPercent(137)
	defer debug.SetGCPercent(before)
	a, b := tightGC(), tightGC()
	if got := debug.SetGCPercent(hugeOrgGC); got != hugeOrgGC {
		t.Fatalf("during the syncs: %d", got)
	}
	a()
	if got := debug.SetGCPercent(hugeOrgGC); got != hugeOrgGC {
		t.Fatalf("after the first ended, the second runs: %d", got)
	}
	b()
	if got := debug.SetGCPercent(137); got != 137 {
		t.Fatalf("after both: %d, want 137 back", got)
	}
}
