// Package simwire provides the WeCom emulator to apps as corps.SimulatorService: the one
// place that puts the emulator behind the corp's simulator seam (cmd/jitrt and tests use it).
package simwire

import (
	"context"

	"github.com/jitrt/jitrt/elements/corps"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

// Services are the services an app needs for corps whose config asks for a simulator.
func Services() map[string]any {
	return map[string]any{corps.SimulatorService: corps.StartSimulator(Start)}
}

// Start starts the emulator a corp's simulator config describes.
func Start(_ context.Context, s corps.SimulatorSpec) (corps.Simulator, error) {
	opts := wecomsim.Options{CorpID: s.CorpID, Secret: s.Secret, ContactSyncSecret: s.ContactSyncSecret,
		Members: s.Members, Departments: s.Departments, Seed: s.Seed}
	if cb := s.Callback; cb != nil {
		opts.Callbacks = []wecomsim.Callback{{URLFunc: cb.URL, Token: cb.Token, EncodingAESKey: cb.EncodingAESKey}}
	}
	return wecomsim.Start(opts)
}
