package normal_test

import (
	"context"
	"testing"

	"github.com/jitrt/jitrt/internal/orgtest"
)

// corps.NormalType passes the corp Types' conformance suite, its org made by its own
// methods.
func TestLocalOrgConforms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	e.mustJS(`org.initCorp();
	const a = org.createDept("甲"), b = org.createDept("乙");
	const a1 = org.createDept({name: "甲一", parentId: a.deptId.value}), b1 = org.createDept({name: "乙一", parentId: b.deptId.value});
	for (let i = 0; i < 40; i++) org.addMember({nick: "成员" + i, memberId: "u" + i, deptIdList: [[a, b, a1, b1][i % 4].deptId.value]});
	org.addMember({nick: "两处", memberId: "both", deptIdList: [a1.deptId.value, b1.deptId.value]});
	org.changeMemberStatus(["u7"], 2)`, nil)
	s := &orgtest.Subject{Type: "corps.NormalType", Corp: "corps.L", App: e.app, Secrets: []string{adminPassword},
		Fixture: orgtest.FindFixture(t, e.app, "corps.L"),
		Offline: func(t testing.TB, id string) {
			if _, err := e.app.CallJSON(context.Background(), "corps.L", "changeMemberStatus", map[string]any{"memberIdList": []any{id}, "status": 2.0}); err != nil {
				t.Fatal(err)
			}
		}}
	orgtest.Run(t, s)
}

// A local org killed with kill -9 in the middle of its writes reopens as of the last write
// finished or the one in progress (the suite's Kill).
func TestLocalOrgSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes: make test-slow")
	}
	e := newEnv(t, "")
	e.mustJS(`org.initCorp(); const root = org.getRootDept().deptId.value;
	org.addMember({nick: "写者", memberId: "writer", deptIdList: [root]}); org.addMember({nick: "另一位", memberId: "other", deptIdList: [root]})`, nil)
	e.app.Close()
	orgtest.Kill(t, orgtest.KillSubject{Corp: "corps.L", Member: "writer", Other: "other", DataDir: e.data, Load: e.load})
}
