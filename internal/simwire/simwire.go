// Package simwire provides the platforms' emulators to apps behind their corp Types'
// simulator seams (corps, ddinner and fsinner's SimulatorService): the one place that
// puts an emulator where a corp would call its platform (cmd/jitrt and tests use it).
package simwire

import (
	"context"

	"github.com/jitrt/jitrt/dingtalk/dingtalksim"
	"github.com/jitrt/jitrt/elements/corps"
	"github.com/jitrt/jitrt/elements/corps/ddinner"
	"github.com/jitrt/jitrt/elements/corps/fsinner"
	"github.com/jitrt/jitrt/feishu/feishusim"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

// Services are the services an app needs for corps whose config asks for a simulator.
func Services() map[string]any {
	return map[string]any{
		corps.SimulatorService:   corps.StartSimulator(Start),
		ddinner.SimulatorService: ddinner.StartSimulator(StartDingTalk),
		fsinner.SimulatorService: fsinner.StartSimulator(StartFeishu),
	}
}

// Start starts the WeCom emulator a corp's simulator config describes.
func Start(_ context.Context, s corps.SimulatorSpec) (corps.Simulator, error) {
	opts := wecomsim.Options{CorpID: s.CorpID, Secret: s.Secret, ContactSyncSecret: s.ContactSyncSecret,
		Members: s.Members, Departments: s.Departments, Seed: s.Seed}
	if cb := s.Callback; cb != nil {
		opts.Callbacks = []wecomsim.Callback{{URLFunc: cb.URL, Token: cb.Token, EncodingAESKey: cb.EncodingAESKey}}
	}
	return wecomsim.Start(opts)
}

// StartDingTalk starts the DingTalk emulator a corp's simulator config describes; with a
// callback, every change of its org is pushed there (check_url before the first).
func StartDingTalk(_ context.Context, s ddinner.SimulatorSpec) (ddinner.Simulator, error) {
	sim, err := dingtalksim.New(dingtalksim.Options{AppKey: s.AppKey, AppSecret: s.AppSecret, CorpID: s.CorpID,
		Members: s.Members, Departments: s.Departments, Seed: s.Seed})
	if err != nil {
		return nil, err
	}
	if cb := s.Callback; cb != nil {
		if err := sim.Subscribe(dingtalksim.Subscription{URLFunc: cb.URL, Token: cb.Token, AESKey: cb.AESKey}); err != nil {
			sim.Close()
			return nil, err
		}
	}
	return sim, nil
}

// StartFeishu starts the Feishu emulator a corp's simulator config describes; with a
// callback, every change of its tenant is pushed there (url_verification before the first).
func StartFeishu(_ context.Context, s fsinner.SimulatorSpec) (fsinner.Simulator, error) {
	sim, err := feishusim.New(feishusim.Options{AppID: s.AppID, AppSecret: s.AppSecret, Members: s.Members, Departments: s.Departments, Seed: s.Seed})
	if err != nil {
		return nil, err
	}
	if cb := s.Callback; cb != nil {
		if err := sim.Subscribe(feishusim.Subscription{URLFunc: cb.URL, VerificationToken: cb.VerificationToken, EncryptKey: cb.EncryptKey}); err != nil {
			sim.Close()
			return nil, err
		}
	}
	return sim, nil
}
