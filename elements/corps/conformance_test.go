package corps_test

import (
	"context"
	"testing"

	"github.com/jitrt/jitrt/internal/orgtest"
)

// corps.QywxInnerType passes the corp Types' conformance suite, its org built from its
// emulator.
func TestWeComCorpConforms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 120, 12, "")
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
