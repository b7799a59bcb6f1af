package normal_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jitrt/jitrt/elements/auths"

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
	// a password login on the org, for its sessions
	os.MkdirAll(filepath.Join(e.dir, "auths/loginTypes/P"), 0o755)
	os.WriteFile(filepath.Join(e.dir, "auths/loginTypes/P/e.json"), []byte(`{"title": "密码登录", "type": "auths.loginTypes.PasswordType"}`), 0o644)
	os.WriteFile(filepath.Join(e.dir, "auths/loginTypes/P/P.json"), []byte(`{"corp": "corps.L"}`), 0o644)
	e.open()
	s := &orgtest.Subject{Type: "corps.NormalType", Corp: "corps.L", App: e.app, Secrets: []string{adminPassword},
		Fixture: orgtest.FindFixture(t, e.app, "corps.L"),
		Offline: func(t testing.TB, id string) {
			if _, err := e.app.CallJSON(context.Background(), "corps.L", "changeMemberStatus", map[string]any{"memberIdList": []any{id}, "status": 2.0}); err != nil {
				t.Fatal(err)
			}
		},
		SignIn: func(t testing.TB, id string) func() bool {
			ctx := context.Background()
			if _, err := e.app.CallJSON(ctx, "corps.L", "setMemberPassword", map[string]any{"memberId": id, "username": "suite-" + id, "password": "suite-password-1"}); err != nil {
				t.Fatal(err)
			}
			inst, release, err := e.app.Instance("auths.loginTypes.P")
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			login := inst.(*auths.PasswordLogin)
			s, err := login.SignIn(ctx, "suite-"+id, "suite-password-1")
			if err != nil {
				t.Fatal(err)
			}
			return func() bool {
				inst, release, err := e.app.Instance("auths.loginTypes.P")
				if err != nil {
					t.Fatal(err)
				}
				defer release()
				_, err = inst.(*auths.PasswordLogin).Session(ctx, s.Token)
				return err == nil
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
