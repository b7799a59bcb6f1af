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
