package org

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A record keeps its times packed (seconds since 1970, updatedAt empty while it is
// createdAt), and every way of reading a member gives them back as RFC 3339: decoded, as a
// member object's fields, one field at a time, as a third-party auth record. A record of
// an earlier jitrt, its times written out, reads the same; a sync comparing the two finds
// no time changed; a time that is not whole seconds in UTC is kept as written.
func TestARecordKeepsItsTimesPackedAndShowsThemWhole(t *testing.T) {
	m := &Member{MemberID: "u1", Status: StatusActive, CreatedAt: "2026-12-07T04:40:04Z", UpdatedAt: "2026-12-07T04:40:04Z",
		Name: "张三", DeptIDs: []int64{1}, MainDeptID: 1}
	raw := EncodeMember(m)
	if !strings.HasPrefix(raw, `["u1","active","","","1796618404","",`) {
		t.Fatalf("a member added and not changed since is stored as\n%s", raw)
	}
	written := `["u1","active","","","2026-12-07T04:40:04Z","2026-12-07T04:40:04Z",` + tailOf(raw)
	for _, r := range []string{raw, written} {
		got, err := DecodeMember(r)
		if err != nil || got.CreatedAt != m.CreatedAt || got.UpdatedAt != m.UpdatedAt || got.OfflineAt != "" {
			t.Fatalf("%s decodes to %+v (%v)", r, got, err)
		}
		v := memberView{r, &Profile{Aliases: []Alias{{Name: "joinedAt", Of: "createdAt"}}}}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			t.Fatal(err)
		}
		if obj["createdAt"] != m.CreatedAt || obj["updatedAt"] != m.UpdatedAt || obj["joinedAt"] != m.CreatedAt || obj["offlineAt"] != nil {
			t.Fatalf("%s shows as %s", r, b)
		}
		for key, want := range map[string]any{"createdAt": m.CreatedAt, "updatedAt": m.UpdatedAt, "joinedAt": m.CreatedAt} {
			if f, ok := v.Field(key); !ok || f != want {
				t.Fatalf("%s: field %s is %v (%v), want %v", r, key, f, ok, want)
			}
		}
		if a := (authList{corpID: "c", raws: []string{r}}).At(0).(map[string]any); a["createdAt"] != m.CreatedAt {
			t.Fatalf("%s: the auth record %v", r, a)
		}
	}
	if changed := memberChangedFields(written, raw); len(changed) != 0 {
		t.Fatalf("the record written out and packed differ in %v", changed)
	}

	m.UpdatedAt, m.Status, m.OfflineBy, m.OfflineAt = "2026-12-08T00:00:00Z", StatusOffline, OfflineBySync, "2026-12-08T00:00:00Z"
	raw = EncodeMember(m)
	if !strings.HasPrefix(raw, `["u1","offline","sync","1796688000","1796618404","1796688000",`) {
		t.Fatalf("a member changed since it was added is stored as\n%s", raw)
	}
	if got, _ := DecodeMember(raw); got.UpdatedAt != m.UpdatedAt || got.OfflineAt != m.OfflineAt {
		t.Fatalf("read back: %+v", got)
	}
	if changed := memberChangedFields(written, raw); strings.Join(changed, ",") != "offlineAt,offlineBy,status" {
		t.Fatalf("changed fields: %v", changed)
	}

	for _, odd := range []string{"2026-12-07T04:40:04.5Z", "2026-12-07T12:40:04+08:00", "2026-02-30T00:00:00Z", "1969-12-31T23:59:59Z", "soon"} {
		m.CreatedAt, m.UpdatedAt = odd, odd
		got, err := DecodeMember(EncodeMember(m))
		if err != nil || got.CreatedAt != odd || got.UpdatedAt != odd {
			t.Fatalf("the time %q reads back as %+v (%v)", odd, got, err)
		}
	}
}

// A record's tail is written in one allocation sized to it (no copy into a string, no
// growth) when nothing in it needs escaping, and reads back as the member whatever its
// fields hold: escapes, line separators, negative and long numbers, no departments.
func TestATailIsOneAllocationAndReadsBack(t *testing.T) {
	plain := &Member{MemberID: "u1", Status: StatusActive, Name: "张三", DeptIDs: []int64{1, 22, 333333333333}, MainDeptID: 22,
		LeaderDeptIDs: []int64{22}, Position: "工程师", Mobile: "138", Email: "a@x.com", Avatar: "https://a/0", Gender: "1",
		DirectLeader: []string{"L1", "L2"}, Ext: json.RawMessage(`["a@biz.x",{"attrs":[]},1]`)}
	if n := testing.AllocsPerRun(100, func() { encodeTail(plain) }); n != 1 {
		t.Fatalf("a tail took %v allocations, want 1", n)
	}
	odd := []*Member{plain,
		{MemberID: "u2", Name: "a \"quoted\" \\ name\nwith\u2028lines\x01", DeptIDs: []int64{-5}, MainDeptID: -5, Position: "\u2029"},
		{MemberID: "u3", Name: "", DeptIDs: []int64{}, DirectLeader: []string{"\"", ""}},
	}
	for _, m := range odd {
		m.Status, m.CreatedAt, m.UpdatedAt = StatusActive, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"
		raw := EncodeMember(m)
		if strings.Contains(raw, "\n") {
			t.Fatalf("a record with a raw newline: %q", raw)
		}
		got, err := DecodeMember(raw)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if EncodeMember(got) != raw || got.Name != m.Name || got.Position != m.Position || len(got.DeptIDs) != len(m.DeptIDs) {
			t.Fatalf("%q reads back as %+v", raw, got)
		}
	}
}

// MemberEstimate counts the stored members from the keys alone: none before a sync, then
// the members of the org, at most a chunk's worth over, single records counted too.
func TestMemberEstimateIsTheStoredCountFromKeysAlone(t *testing.T) {
	d, _ := newTestDir(t)
	if n := d.MemberEstimate(); n != 0 {
		t.Fatalf("an empty org estimates %d members", n)
	}
	rep := &SyncReport{}
	if err := d.Commit(context.Background(), d.Prefetch(), fetchedOrg(3000), rep, CommitOptions{Start: time.Now(), Init: true}); err != nil {
		t.Fatal(err)
	}
	if n := d.MemberEstimate(); n < 3000 || n >= 3000+chunkSize {
		t.Fatalf("3000 members stored, estimated %d", n)
	}
}
