package corps

import (
	"context"
	"fmt"
	"sync"
)

// # An emulator kept across reloads
//
// A simulated corp's emulator is the app's, not the instance's: an edit of the corp (its
// title, its roles) builds a new instance, which takes the emulator the one before used, on
// the same port with the same org (what wecom-sim ctl changed in it included), and the
// URL printed at start stays good. Only an edit of what the emulator serves (the simulator
// settings, the corp id, the secrets, the callback) starts a new one; an emulator closes
// when the last instance using it closes.

// simulators are the emulators of one corp element, by what they serve.
type simulators struct {
	mu   sync.Mutex
	byID map[string]*sharedSim
}

type sharedSim struct {
	sim  Simulator
	refs int
}

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
	all := c.el.App.Shared("wecom.simulators:"+c.el.FullName, func() any { return &simulators{byID: map[string]*sharedSim{}} }).(*simulators)
	key := simulatorKey(spec)
	all.mu.Lock()
	defer all.mu.Unlock()
	s := all.byID[key]
	if s == nil {
		started, err := start(ctx, spec)
		if err != nil {
			return nil, nil, err
		}
		s = &sharedSim{sim: started}
		all.byID[key] = s
	}
	s.refs++
	var once sync.Once
	return s.sim, func() (err error) {
		once.Do(func() {
			all.mu.Lock()
			defer all.mu.Unlock()
			if s.refs--; s.refs == 0 {
				delete(all.byID, key)
				err = s.sim.Close()
			}
		})
		return err
	}, nil
}
