// Package corps provides the corps.Meta family and its corps.QywxInnerType element: an
// organisation kept in step with a WeCom (企业微信) self-built app's contacts directory.
package corps

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/org/inbox"
	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/callback"
)

// MetaID and TypeID are the registered IDs.
const (
	MetaID = org.MetaID
	TypeID = "corps.QywxInnerType"
)

// DefaultAPIBase is WeCom's server API.
const DefaultAPIBase = "https://qyapi.weixin.qq.com"

// masked stands for a secret in everything this package returns.
const masked = "******"

func init() {
	elements.RegisterType(elements.Type{
		ID:         TypeID,
		Meta:       MetaID,
		Doc:        "WeCom self-built app organisation (企业微信自建组织)",
		ConfigFile: true,
		Config:     Config{},
		Validate:   validate,
		New:        newCorp,
		// A corp on its built-in emulator talks to no WeCom: its secret is not a real one.
		LocalOnly: func(el *elements.Element) bool { return el.Config["simulator"] != nil },
	})
}

// SimulatorConfig sizes the built-in emulator's generated org.
type SimulatorConfig struct {
	Members     int   `json:"members" jitrt:"min=0,max=1000000" doc:"how many members (default 200)"`
	Departments int   `json:"departments" jitrt:"min=0,max=1000000" doc:"how many departments (default 20)"`
	Seed        int64 `json:"seed" doc:"the seed of the generated names (default 1)"`
}

// SetDefaults is a simulator config's values before its keys are read.
func (s *SimulatorConfig) SetDefaults() { *s = SimulatorConfig{Members: 200, Departments: 20, Seed: 1} }

// Config is a corp's config (<Name>.json): the one description of its keys, from which the
// loader's checks, the masking of secrets and the JSON Schema are derived.
type Config struct {
	CorpID            string           `json:"corpId" jitrt:"required" example:"ww1234567890abcdef" doc:"WeCom corp ID (企业ID), e.g. ww1234567890abcdef"`
	AgentID           string           `json:"agentId" jitrt:"required" example:"1000002" doc:"the self-built app's AgentId"`
	Secret            string           `json:"secret" jitrt:"required,secret" example:"placeholder-secret" doc:"the app's Secret; put it in the environment: \"${WECOM_SECRET}\""`
	APIBase           string           `json:"apiBase" doc:"WeCom API base URL (default https://qyapi.weixin.qq.com)"`
	ContactSyncSecret string           `json:"contactSyncSecret" jitrt:"secret" doc:"通讯录同步 secret: unlocks user/list_id when detail endpoints are refused"`
	Scope             []int64          `json:"scope" jitrt:"min=1,max=4294967295" doc:"WeCom department ids whose subtrees are synced (default: all)"`
	Roles             []org.Role       `json:"roles" doc:"the org's roles: [{roleId, name}] (default admin/管理员, member/成员)"`
	Simulator         *SimulatorConfig `json:"simulator" doc:"start the built-in WeCom emulator: {members, departments, seed}"`
	CallbackToken     string           `json:"callbackToken" jitrt:"secret" example:"Token1234" doc:"Token of the app's callback config (接收事件服务器): change events are applied as they come"`
	EncodingAESKey    string           `json:"encodingAESKey" jitrt:"secret" example:"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C" doc:"EncodingAESKey of the app's callback config (43 characters)"`
}

// parseConfig reads a config; problems go to report (which may be nil when the config is
// known to be valid). The loader has checked its structure against Config's tags; what is
// left are the checks tags cannot say.
func parseConfig(raw map[string]any, report func(key, format string, args ...any)) Config {
	if report == nil {
		report = func(string, string, ...any) {}
	}
	var c Config
	elements.Decode(raw, &c, report)
	if c.APIBase == "" {
		c.APIBase = DefaultAPIBase
	} else {
		u, err := url.Parse(c.APIBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report("apiBase", "apiBase %q must be an http(s) URL such as %s", c.APIBase, DefaultAPIBase)
		}
		c.APIBase = strings.TrimRight(c.APIBase, "/")
	}
	if strings.ContainsAny(c.CorpID, " \t/?&") {
		report("corpId", "corpId %q has characters a WeCom corp ID never has", c.CorpID)
	}
	c.Roles = org.ParseRoles(c.Roles, report)
	switch {
	case (c.CallbackToken == "") != (c.EncodingAESKey == ""):
		key := "callbackToken"
		if c.EncodingAESKey == "" {
			key = "encodingAESKey"
		}
		report(key, "callbackToken and encodingAESKey go together: set both (the app's callback config) or neither")
	case c.CallbackToken != "":
		if _, err := callback.New(c.CallbackToken, c.EncodingAESKey, c.CorpID); errors.Is(err, callback.ErrBadToken) {
			report("callbackToken", "callbackToken must be 1 to 32 letters and digits, as WeCom makes it")
		} else if err != nil {
			report("encodingAESKey", "encodingAESKey must be the 43 letters and digits WeCom makes")
		}
	}
	if c.Simulator != nil && c.Simulator.Departments < 1 {
		c.Simulator.Departments = 1
	}
	return c
}

func validate(el *elements.Element, r elements.Reporter) {
	parseConfig(el.Config, r.Errorf)
}

// SimulatorService is the name under which the program running an app provides the WeCom
// emulator (elements.AppHandle.Service), as a StartSimulator. cmd/jitrt provides it; a corp
// whose config asks for a simulator cannot start without it. This is the seam that keeps
// the emulator out of the production sync path: the corp only ever sees a base URL.
const SimulatorService = "corps.simulator"

// SimulatorSpec is what a corp's "simulator" config asks the emulator to serve.
type SimulatorSpec struct {
	CorpID, Secret, ContactSyncSecret string
	Members, Departments              int
	Seed                              int64
	// Callback, for a corp that takes change events in jitrt run, is where the emulator
	// pushes every change of its org.
	Callback *SimulatorCallback
}

// SimulatorCallback is a corp's callback, as the emulator pushes events to it.
type SimulatorCallback struct {
	URL                   func() string
	Token, EncodingAESKey string
}

// Simulator is a running emulator.
type Simulator interface {
	// URL is the API base the corp's client calls.
	URL() string
	Close() error
}

// StartSimulator starts an emulator serving the spec's org on a loopback port.
type StartSimulator func(ctx context.Context, spec SimulatorSpec) (Simulator, error)

// Corp is an instance of corps.QywxInnerType.
type Corp struct {
	el  *elements.Element
	cfg Config
	// client and sim are set by Start; nil in an instance that was not started
	// (jitrt check, jitrt ls).
	client     *wecom.Client
	sim        Simulator
	releaseSim func() error

	// life is the instance's lifetime (from Start), cancelled first by Close: every
	// goroutine the corp starts (a sync, the applier) runs under it.
	life      context.Context
	endLife   context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	// dir is the org in the app's store; keys where it keeps its records.
	dir  *org.Directory
	keys org.Keys

	// engine syncs the org from WeCom (its provider: Fetch).
	engine *org.Engine

	// crypto and inbox take WeCom's change events (nil without a callback config);
	// stopEvents stops the engine's applier of them (jitrt run).
	crypto     *callback.Crypto
	inbox      *inbox.Inbox
	stopEvents func()
	// cbToken and cbKey are the callback's token and EncodingAESKey: the config's, or, for
	// a simulated corp without them, made for the emulator (simulatorCallback)
	cbToken, cbKey string
}

// simulatorCallback makes a callback token and EncodingAESKey for a simulated corp from its
// corp id and secret: secret as they are (they never leave the process but to the emulator
// it runs), and the same for every instance of the corp.
func simulatorCallback(corpID, secret string) (token, aesKey string) {
	t := sha256.Sum256([]byte("jitrt simulator callback token\x00" + corpID + "\x00" + secret))
	k := sha256.Sum256([]byte("jitrt simulator callback key\x00" + corpID + "\x00" + secret))
	return hex.EncodeToString(t[:16]), strings.TrimRight(base64.StdEncoding.EncodeToString(k[:]), "=")
}

// newCorp parses the config; it does no I/O (see Start).
func newCorp(el *elements.Element) (elements.Instance, error) {
	c := &Corp{el: el, cfg: parseConfig(el.Config, nil)}
	c.dir = org.New(org.Config{Store: el.Store, Name: el.FullName, CorpID: c.cfg.CorpID, Roles: c.cfg.Roles,
		ConfigPath: el.ConfigPath, Logger: el.Logger, Profile: weComProfile, Recovered: recoveredBy(el), AuditRetention: el.AuditRetention})
	c.keys = c.dir.Keys()
	ec := org.EngineConfig{Provider: c, Observer: el.Observer, Scoped: len(c.cfg.Scope) > 0, BeforeApply: beforeApply}
	c.cbToken, c.cbKey = c.cfg.CallbackToken, c.cfg.EncodingAESKey
	if c.cbToken == "" && c.cfg.Simulator != nil {
		// a simulated corp takes the emulator's events without a callback config: the
		// two values are made for it, from its secret (the same for every instance of the
		// corp, so an emulator kept across a reload goes on signing what it accepts)
		c.cbToken, c.cbKey = simulatorCallback(c.cfg.CorpID, c.cfg.Secret)
	}
	if c.cbToken != "" {
		crypto, err := callback.New(c.cbToken, c.cbKey, c.cfg.CorpID)
		if err != nil {
			return nil, err
		}
		c.crypto = crypto
		c.inbox = inbox.New(inbox.Config{Store: el.Store, Keys: c.keys, Platform: "WeCom", Logger: el.Logger, Recovered: recoveredBy(el),
			BeforeCommit: func() {
				if h := hooks.Load(); h != nil && h.Commit != nil {
					h.Commit()
				}
			}})
		ec.Events = c
	}
	c.engine = c.dir.NewEngine(ec)
	return c, nil
}

// Start creates the member status index, starts the emulator if the config asks for one,
// and makes the WeCom client, which shares the corp's rate limiter with every other client
// of the same corpId in the process, across reloads.
func (c *Corp) Start(ctx context.Context) error {
	c.life, c.endLife = context.WithCancel(context.Background())
	c.engine.Start(c.life)
	c.dir.KeepAuditPruned(c.life, 0)
	if err := c.dir.Upgrade(ctx); err != nil {
		return fmt.Errorf("bring the stored org up to date: %w", err)
	}
	c.dir.WarnUndeclaredGrants()
	base := c.cfg.APIBase
	if sim := c.cfg.Simulator; sim != nil {
		start, _ := c.el.App.Service(SimulatorService).(StartSimulator)
		if start == nil {
			return errors.New("the config asks for the WeCom emulator (\"simulator\"), which this program does not provide")
		}
		spec := SimulatorSpec{CorpID: c.cfg.CorpID, Secret: c.cfg.Secret,
			ContactSyncSecret: c.cfg.ContactSyncSecret, Members: sim.Members, Departments: sim.Departments, Seed: sim.Seed}
		if c.inbox != nil && c.el.Service {
			spec.Callback = &SimulatorCallback{Token: c.cbToken, EncodingAESKey: c.cbKey,
				URL: func() string { return elements.PublicURL(c.el.App) + "/wecom/" + c.el.FullName + "/callback" }}
		}
		var err error
		c.sim, c.releaseSim, err = c.acquireSimulator(ctx, start, spec)
		if err != nil {
			return fmt.Errorf("start the WeCom emulator: %w", err)
		}
		base = c.sim.URL()
		c.el.Logger.Debug("WeCom emulator started", "url", base, "members", sim.Members, "departments", sim.Departments)
	}
	limiter := WeComLimiter(c.el, c.cfg.CorpID)
	client, err := wecom.New(wecom.Config{CorpID: c.cfg.CorpID, Secret: c.cfg.Secret, ContactSyncSecret: c.cfg.ContactSyncSecret,
		BaseURL: base, Store: kv.Values{Store: c.el.Store}, Logger: c.el.Logger, RateLimiter: limiter, OnPanic: recoveredBy(c.el)})
	if err != nil {
		c.Close()
		return err
	}
	c.client = client
	if c.inbox != nil && c.el.Service {
		c.startApplier()
	}
	return nil
}

// Close stops the emulator (freeing its port) and the client's connections.
func (c *Corp) Close() error {
	c.closeOnce.Do(c.close)
	return c.closeErr
}

func (c *Corp) close() {
	if c.endLife != nil {
		c.endLife() // first: whatever the corp's goroutines wait on, they stop waiting
	}
	c.stopApplier()
	var errs []error
	if c.client != nil {
		errs = append(errs, c.client.Close())
	}
	if c.releaseSim != nil {
		errs = append(errs, c.releaseSim()) // closed with the last instance using it
	}
	c.closeErr = errors.Join(errs...)
}

// wecomClient is the client, or an error for an instance that was not started.
func (c *Corp) wecomClient() (*wecom.Client, error) {
	if c.client == nil {
		return nil, elements.Errorf(elements.CodeFailedPrecondition, "corp %s was loaded for inspection only and does not call WeCom", c.el.FullName)
	}
	return c.client, nil
}

// authConfig is the corp's credentials with the secrets masked.
func (c *Corp) authConfig() map[string]any {
	out := map[string]any{"corpId": c.cfg.CorpID, "agentId": c.cfg.AgentID, "secret": masked}
	if c.cfg.ContactSyncSecret != "" {
		out["contactSyncSecret"] = masked
	}
	return out
}

func (c *Corp) corpInfo() map[string]any {
	roles := make([]any, len(c.cfg.Roles))
	for i, r := range c.cfg.Roles {
		roles[i] = map[string]any{"roleId": r.RoleID, "name": r.Name}
	}
	info := map[string]any{
		"title": c.el.Title, "fullName": c.el.FullName, "type": c.el.TypeID,
		"corpId": c.cfg.CorpID, "agentId": c.cfg.AgentID, "apiBase": c.apiBase(),
		"roles": roles, "simulated": c.cfg.Simulator != nil,
	}
	if len(c.cfg.Scope) > 0 {
		scope := make([]any, len(c.cfg.Scope))
		for i, d := range c.cfg.Scope {
			scope[i] = float64(d)
		}
		info["scope"] = scope
	}
	return info
}

func (c *Corp) String() string { return fmt.Sprintf("%s(%s)", TypeID, c.el.FullName) }

// apiBase is the API base the client calls (the emulator's once started).
func (c *Corp) apiBase() string {
	if c.client != nil {
		return c.client.BaseURL()
	}
	return c.cfg.APIBase
}

var _ org.Org = (*Corp)(nil)

// Directory is the corp's org (org.Org).
func (c *Corp) Directory() *org.Directory { return c.dir }

// DeclaredRoles are the roles of the corp's config (elements.RoleDeclarer).
func (c *Corp) DeclaredRoles() ([]string, bool) { return c.dir.DeclaredRoles(), true }

// WeComLimiter is the pacing of a corp's WeCom calls that every client of the corp in the
// program shares (WeCom's limits are per corp and API): the sync's client and the login's.
// With replicas on one database it counts the calls of every replica (kv.Budget), so that
// three replicas do not spend three times the corp's 10,000 calls a minute.
func WeComLimiter(el *elements.Element, corpID string) wecom.Limiter {
	return el.App.Shared(wecom.RateLimiterKey(corpID), func() any {
		if el.Store.Shared() {
			return el.Store.NewBudget("wecom:"+corpID, wecom.DefaultLimits.PerMinute, wecom.DefaultLimits.PerHour)
		}
		return wecom.NewRateLimiter(wecom.DefaultLimits, nil)
	}).(wecom.Limiter)
}

// WriteLock is the lock the org's writers take (elements.WriteLocker):
// app.transaction(fullName, fn) holds it for fn.
func (c *Corp) WriteLock() string { return c.dir.Keys().Lock() }

// Info is the corp's configuration, never the secret (org.Org).
func (c *Corp) Info() map[string]any { return c.corpInfo() }

// recoveredBy is how the org of an element reports a panic it caught: through the app (nil
// for an element built without one, such as by jitrt new's scaffolding).
func recoveredBy(el *elements.Element) func(where string, r any) error {
	if el.App == nil {
		return nil
	}
	return el.App.Recovered
}

// lifetime is the instance's lifetime context (the background for an instance that was not
// started: jitrt check, jitrt ls).
func (c *Corp) lifetime() context.Context {
	if c.life == nil {
		return context.Background()
	}
	return c.life
}

// testHooks let a test inject a failure into a goroutine the corp starts (export_test.go).
type testHooks struct {
	// Sync runs at the start of a sync's goroutine; Commit in the committer, per batch;
	// Apply before each event is applied (an error fails the batch).
	Sync   func()
	Commit func()
	Apply  func(ev *org.Event) error
}

// hooks are the test's hooks (nil outside tests).
var hooks atomic.Pointer[testHooks]

// beforeApply runs the test's Apply hook.
func beforeApply(ev *org.Event) error {
	if h := hooks.Load(); h != nil && h.Apply != nil {
		return h.Apply(ev)
	}
	return nil
}
