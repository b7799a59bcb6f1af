package corps

import (
	"context"
	"fmt"

	"github.com/jitrt/jitrt/elements"
)

// # An emulator kept across reloads
//
// A simulated corp's emulator is the app's, not the instance's: an edit of the corp (its
// title, its roles) builds a new instance, which takes the emulator the one before used, on
// the same port with the same org (what wecom-sim ctl changed in it included), and the
// URL printed at start stays good. Only an edit of what the emulator serves (the simulator
// settings, the corp id, the secrets, the callback) starts a new one; an emulator closes
// when the last instance using it closes (elements.AcquireKept).

// simulatorKey is what an emulator serves (the callback's URL is the element's, the same
// for every instance).
func simulatorKey(spec SimulatorSpec) string {
	cb := ""
	if spec.Callback != nil {
		cb = spec.Callback.Token + "\x00" + spec.Callback.EncodingAESKey
	}
	return fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%d\x00%d\x00%s", spec.CorpID, spec.Secret, spec.ContactSyncSecret,
		spec.Members, spec.Departments, spec.Seed, cb)
}

// acquireSimulator is the emulator serving spec for this corp element: the one an earlier
// instance started, or a new one. release lets go of it (the last one to closes it).
func (c *Corp) acquireSimulator(ctx context.Context, start StartSimulator, spec SimulatorSpec) (sim Simulator, release func() error, err error) {
	return elements.AcquireKept(c.el.App, "wecom.simulators", c.el.FullName, simulatorKey(spec), func() (Simulator, error) { return start(ctx, spec) })
}
