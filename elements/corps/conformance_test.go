package corps_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jitrt/jitrt/elements/auths"

	"github.com/jitrt/jitrt/internal/orgtest"
)

// corps.QywxInnerType passes the corp Types' conformance suite, its org built from its
// emulator.
func TestWeComCorpConforms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 120, 12, "")
	// a WeCom login on the corp, for its sessions
	e.write("auths/loginTypes/L/e.json", `{"title": "登录", "type": "auths.loginTypes.QywxInnerType"}`)
	e.write("auths/loginTypes/L/L.json", fmt.Sprintf(`{"corpId": %q, "agentId": "1000002", "corpSecret": "${CORP_TEST_SECRET}", "apiBase": %q}`, e.sim.CorpID(), e.sim.URL()))
	e.open()
	e.mustJS(`corp.initCorp()`, nil)
	s := &orgtest.Subject{Type: "corps.QywxInnerType", Corp: "corps.Test", App: e.app, Secrets: []string{secret},
		Fixture: orgtest.FindFixture(t, e.app, "corps.Test"),
		Offline: func(t testing.TB, id string) {
			if err := e.sim.RemoveUser(id); err != nil {
				t.Fatal(err)
			}
			if _, err := e.app.CallJSON(context.Background(), "corps.Test", "syncCorp", nil); err != nil {
				t.Fatal(err)
			}
		},
		SignIn: func(t testing.TB, id string) func() bool {
			ctx := context.Background()
			login := func() (*auths.Login, func()) {
				inst, release, err := e.app.Instance("auths.loginTypes.L")
				if err != nil {
					t.Fatal(err)
				}
				return inst.(*auths.Login), release
			}
			l, release := login()
			defer release()
			cfg, err := l.LoginConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			code, err := e.sim.IssueCode(id, fmt.Sprint(cfg["redirectUri"]))
			if err != nil {
				t.Fatal(err)
			}
			s, err := l.LoginCode(ctx, code, fmt.Sprint(cfg["state"]))
			if err != nil {
				t.Fatal(err)
			}
			return func() bool {
				l, release := login()
				defer release()
				_, err := l.Session(ctx, s.Token)
				return err == nil
			}
		}}
	orgtest.Run(t, s)
}

// A WeCom corp killed with kill -9 in the middle of its writes reopens as of the last
// write finished or the one in progress (the suite's Kill).
func TestWeComCorpSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes: make test-slow")
	}
	e := newEnv(t, 30, 4, "")
	e.mustJS(`corp.initCorp()`, nil)
	users := e.sim.Org().Users
	e.app.Close()
	orgtest.Kill(t, orgtest.KillSubject{Corp: "corps.Test", Member: users[0].UserID, Other: users[1].UserID, DataDir: e.data, Load: e.load})
}
