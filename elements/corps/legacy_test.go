package corps_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestStateOfTheReleaseBeforeTheOrgEngineOpensAndServes opens a state file written by
// the release before the org engine (its members as WeCom records): it is upgraded in
// place, and every member, role, admin and department reads as that release answered;
// the next sync rewrites no member (the upgraded records are what the WeCom provider
// writes).
func TestStateOfTheReleaseBeforeTheOrgEngineOpensAndServes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 60, 6, "")
	e.app.Close()
	e.app = nil
	fixture := filepath.Join("testdata", "state-df49055")
	state, err := os.ReadFile(filepath.Join(fixture, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.data, "state.db"), state, 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(fixture, "want.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ { // the second open finds the org upgraded
		e.open()
		var s string
		e.mustJS(`const d = corp.getLocalCorpData(); const ids = d.userList.map(u => u.memberId).filter(id => id !== "ZhaoAll");
		JSON.stringify({users: d.userList, roles: ids.slice(0, 6).concat(["ZhaoAll"]).map(id => [id, corp.getMemberRoles(id)]),
		  admins: corp.getAdmin(), tree: corp.getDeptTree({depth: 3})})`, &s)
		var got map[string]any
		if err := json.Unmarshal([]byte(s), &got); err != nil {
			t.Fatal(err)
		}
		for _, part := range []string{"users", "roles", "admins", "tree"} {
			if !reflect.DeepEqual(got[part], want[part]) {
				g, _ := json.Marshal(got[part])
				w, _ := json.Marshal(want[part])
				t.Fatalf("round %d: %s after the upgrade:\n got %s\nwant %s", round, part, g, w)
			}
		}
		var one map[string]any
		e.mustJS(`corp.getMember("ZhaoAll")`, &one)
		if one["wecomUserId"] != "ZhaoAll" || one["address"] != `北京市"海淀"区` || one["extAttr"] == nil || one["wecomStatus"] != 1.0 {
			t.Fatalf("round %d: getMember(ZhaoAll) lost WeCom's fields: %v", round, one)
		}
	}
	r := e.sync("")
	// ZhaoAll was registered by hand and is not in WeCom: the sync takes them offline;
	// every other member is as WeCom has them, byte for byte.
	if r.Updated != 0 || r.Added != 0 || r.Offlined != 1 {
		t.Fatalf("the first sync after the upgrade: %+v (want 0 updated, 0 added, 1 offlined)", r)
	}
}
