// Package ddinner provides corps.DDInnerType: an org kept in step with the contacts of a
// DingTalk (钉钉) self-built app (企业内部应用), on the org engine — DingTalk is its provider
// (Fetch) and its event source (the HTTP event push, stored before it is acknowledged) —
// with the seed's methods, roles, admins, signatures and offline members as every corp
// Type has them.
//
// Decisions where DingTalk leaves a choice (the client's and the emulator's are in their
// packages): a member's id is their userid; their main department is the first of
// dept_id_list; a department's leaders are its dept_manager_userid_list; DingTalk's
// administrators (org_admin_add) and roles (label_*) are DingTalk's, not the org's admins
// (setAdmin) or roles: their events are acknowledged and not applied.
package ddinner

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jitrt/jitrt/dingtalk"
	"github.com/jitrt/jitrt/dingtalk/callback"
	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/corps/corpkit"
	"github.com/jitrt/jitrt/org"
)

// TypeID is the registered ID.
const TypeID = "corps.DDInnerType"

// masked stands for a secret in everything this package returns.
const masked = "******"

func init() {
	elements.RegisterType(elements.Type{
		ID:         TypeID,
		Meta:       org.MetaID,
		Doc:        "DingTalk self-built app organisation (钉钉自建组织)",
		ConfigFile: true,
		Config:     Config{},
		Validate:   validate,
		New:        newCorp,
		// A corp on its built-in emulator talks to no DingTalk: its secret is not a real one.
		LocalOnly: func(el *elements.Element) bool { return el.Config["simulator"] != nil },
	})
}

// AuthConfig is the app's credentials, as JitAi's DDInnerType keeps them.
type AuthConfig struct {
	CorpID    string `json:"corpId" jitrt:"required" example:"ding1234567890abcdef" doc:"the org's CorpId (企业 CorpId, ding…)"`
	AgentID   string `json:"agentId" jitrt:"required" example:"1000002" doc:"the app's AgentId"`
	AppKey    string `json:"appKey" jitrt:"required" example:"dingappkey1234" doc:"the app's AppKey (Client ID)"`
	AppSecret string `json:"appSecret" jitrt:"required,secret" example:"placeholder-secret" doc:"the app's AppSecret (Client Secret); put it in the environment: \"${DINGTALK_SECRET}\""`
}

// SimulatorConfig sizes the built-in emulator's generated org.
type SimulatorConfig struct {
	Members     int   `json:"members" jitrt:"min=0,max=1000000" doc:"how many members (default 200)"`
	Departments int   `json:"departments" jitrt:"min=0,max=1000000" doc:"how many departments (default 20)"`
	Seed        int64 `json:"seed" doc:"the seed of the generated names (default 1)"`
}

// SetDefaults is a simulator config's values before its keys are read.
func (s *SimulatorConfig) SetDefaults() { *s = SimulatorConfig{Members: 200, Departments: 20, Seed: 1} }

// Config is a corp's config (<Name>.json).
type Config struct {
	AuthConfig    AuthConfig       `json:"authConfig" jitrt:"required" doc:"the app's credentials: {corpId, agentId, appKey, appSecret}"`
	OAPIBase      string           `json:"oapiBase" doc:"DingTalk's old API host (default https://oapi.dingtalk.com)"`
	APIBase       string           `json:"apiBase" doc:"DingTalk's new API host (default https://api.dingtalk.com)"`
	Scope         []int64          `json:"scope" jitrt:"min=1" doc:"DingTalk department ids whose subtrees are synced (default: the app's contacts scope)"`
	RateLimit     int              `json:"rateLimit" doc:"calls a second per API the corp makes (default 20, a standard edition's; higher editions allow more; -1: no pacing, for an emulator without limits)"`
	Roles         []org.Role       `json:"roles" doc:"the org's roles: [{roleId, name}] (default admin/管理员, member/成员)"`
	Simulator     *SimulatorConfig `json:"simulator" doc:"start the built-in DingTalk emulator: {members, departments, seed}"`
	CallbackToken string           `json:"callbackToken" jitrt:"secret" example:"Token1234" doc:"签名 token of the app's event subscription (事件订阅 · HTTP推送): change events are applied as they come"`
	AESKey        string           `json:"aesKey" jitrt:"secret" example:"4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij" doc:"加密 aes_key of the event subscription (43 characters)"`
}

// parseConfig reads a config; problems go to report (nil when the config is known valid).
func parseConfig(raw map[string]any, report func(key, format string, args ...any)) Config {
	if report == nil {
		report = func(string, string, ...any) {}
	}
	var c Config
	elements.Decode(raw, &c, report)
	for _, b := range []struct {
		key string
		v   *string
		def string
	}{{"oapiBase", &c.OAPIBase, dingtalk.DefaultOAPIBase}, {"apiBase", &c.APIBase, dingtalk.DefaultAPIBase}} {
		if *b.v == "" {
			*b.v = b.def
			continue
		}
		u, err := url.Parse(*b.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report(b.key, "%s %q must be an http(s) URL such as %s", b.key, *b.v, b.def)
		}
		*b.v = strings.TrimRight(*b.v, "/")
	}
	if strings.ContainsAny(c.AuthConfig.CorpID, " \t/?&") {
		report("authConfig", "authConfig.corpId %q has characters a DingTalk CorpId never has", c.AuthConfig.CorpID)
	}
	c.Roles = org.ParseRoles(c.Roles, report)
	switch {
	case (c.CallbackToken == "") != (c.AESKey == ""):
		key := "callbackToken"
		if c.AESKey == "" {
			key = "aesKey"
		}
		report(key, "callbackToken and aesKey go together: set both (the app's event subscription) or neither")
	case c.CallbackToken != "":
		if _, err := callback.New(c.CallbackToken, c.AESKey, c.AuthConfig.AppKey); errors.Is(err, callback.ErrBadToken) {
			report("callbackToken", "callbackToken must be 3 to 64 letters and digits, as DingTalk's console takes it")
		} else if err != nil {
			report("aesKey", "aesKey must be the 43 letters and digits DingTalk makes")
		}
	}
	if c.Simulator != nil && c.Simulator.Departments < 1 {
		c.Simulator.Departments = 1
	}
	return c
}

func validate(el *elements.Element, r elements.Reporter) { parseConfig(el.Config, r.Errorf) }

// SimulatorService is the name under which the program running an app provides the
// DingTalk emulator (elements.AppHandle.Service), as a StartSimulator: the seam that keeps
// the emulator out of the production path (the corp only sees a base URL).
const SimulatorService = "corps.dingtalkSimulator"

// SimulatorSpec is what a corp's "simulator" config asks the emulator to serve.
type SimulatorSpec struct {
	AppKey, AppSecret, CorpID string
	Members, Departments      int
	Seed                      int64
	// Callback, for a corp that takes change events in jitrt run, is where the emulator
	// pushes every change of its org.
	Callback *SimulatorCallback
}

// SimulatorCallback is a corp's event subscription, as the emulator pushes to it.
type SimulatorCallback struct {
	URL           func() string
	Token, AESKey string
}

// Simulator is a running emulator.
type Simulator interface {
	URL() string
	Close() error
}

// StartSimulator starts an emulator serving the spec's org on a loopback port.
type StartSimulator func(ctx context.Context, spec SimulatorSpec) (Simulator, error)

// Corp is an instance of corps.DDInnerType.
type Corp struct {
	*corpkit.Base
	cfg Config
	// client and sim are set by Start (nil in an instance loaded for inspection).
	client *dingtalk.Client
	sim    Simulator
	// crypto checks DingTalk's pushes (nil without a subscription).
	crypto         *callback.Crypto
	cbToken, cbKey string
}

// profile is what the org knows of DingTalk.
var profile = org.Profile{
	Platform:      "DingTalk",
	MemberIDName:  "DingTalk userid",
	ValidMemberID: org.ValidMemberID,
	MemberIDRule:  org.MemberIDRule,
	MaxDeptID:     1<<53 - 1,
	ExtFields:     extFields,
	Aliases:       []org.Alias{{Name: "dingtalkUserId", Of: "memberId"}},
}

// newCorp parses the config; it does no I/O (see Start).
func newCorp(el *elements.Element) (elements.Instance, error) {
	c := &Corp{cfg: parseConfig(el.Config, nil)}
	c.cbToken, c.cbKey = c.cfg.CallbackToken, c.cfg.AESKey
	if c.cbToken == "" && c.cfg.Simulator != nil {
		c.cbToken, c.cbKey = corpkit.SimulatorSecrets("dingtalk", c.cfg.AuthConfig.AppKey, c.cfg.AuthConfig.AppSecret)
	}
	c.Base = corpkit.NewBase(el, "DingTalk", c.cfg.AuthConfig.CorpID, c.cfg.Roles, profile, c.cbToken != "")
	c.InfoFunc = c.corpInfo
	ec := org.EngineConfig{Provider: c, Observer: el.Observer, Scoped: len(c.cfg.Scope) > 0}
	if c.cbToken != "" {
		crypto, err := callback.New(c.cbToken, c.cbKey, c.cfg.AuthConfig.AppKey)
		if err != nil {
			return nil, err
		}
		c.crypto = crypto
		ec.Events = c
	}
	c.Engine = c.Dir.NewEngine(ec)
	return c, nil
}

// Start starts the emulator if the config asks for one, and makes the DingTalk client,
// which shares the app's rate limiter with every other client of the same app in the
// process, across reloads.
func (c *Corp) Start(ctx context.Context) error {
	if err := c.StartOrg(ctx); err != nil {
		return err
	}
	el := c.El
	oapi, api := c.cfg.OAPIBase, c.cfg.APIBase
	if sim := c.cfg.Simulator; sim != nil {
		start, _ := el.App.Service(SimulatorService).(StartSimulator)
		if start == nil {
			return errors.New("the config asks for the DingTalk emulator (\"simulator\"), which this program does not provide")
		}
		a := c.cfg.AuthConfig
		spec := SimulatorSpec{AppKey: a.AppKey, AppSecret: a.AppSecret, CorpID: a.CorpID, Members: sim.Members, Departments: sim.Departments, Seed: sim.Seed}
		if c.Inbox != nil && el.Service {
			spec.Callback = &SimulatorCallback{Token: c.cbToken, AESKey: c.cbKey,
				URL: func() string { return elements.PublicURL(el.App) + "/dingtalk/" + el.FullName + "/callback" }}
		}
		key := fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%d\x00%d\x00%v", a.AppKey, a.AppSecret, a.CorpID, sim.Members, sim.Departments, sim.Seed, spec.Callback != nil)
		s, release, err := elements.AcquireKept(el.App, "dingtalk.simulators", el.FullName, key, func() (Simulator, error) { return start(ctx, spec) })
		if err != nil {
			return fmt.Errorf("start the DingTalk emulator: %w", err)
		}
		c.sim = s
		c.OnClose(release)
		oapi, api = s.URL(), s.URL()
		el.Logger.Debug("DingTalk emulator started", "url", oapi, "members", sim.Members, "departments", sim.Departments)
	}
	perSecond := dingtalk.DefaultPerSecond
	if c.cfg.RateLimit != 0 {
		perSecond = c.cfg.RateLimit
	}
	limiter := el.App.Shared(fmt.Sprintf("dingtalk.limiter:%s:%d", c.cfg.AuthConfig.AppKey, perSecond), func() any { return dingtalk.NewRateLimiter(float64(perSecond)) }).(dingtalk.Limiter)
	client, err := dingtalk.New(dingtalk.Config{AppKey: c.cfg.AuthConfig.AppKey, AppSecret: c.cfg.AuthConfig.AppSecret, CorpID: c.cfg.AuthConfig.CorpID,
		OAPIBase: oapi, APIBase: api, Limiter: limiter, Logger: el.Logger, OnPanic: corpkit.RecoveredBy(el),
		Tokens: el.App.Shared(corpkit.SharedKey("dingtalk.tokens", oapi, c.cfg.AuthConfig.AppKey, c.cfg.AuthConfig.AppSecret), func() any { return &dingtalk.TokenCache{} }).(*dingtalk.TokenCache)})
	if err != nil {
		c.Close()
		return err
	}
	c.client = client
	c.OnClose(client.Close)
	c.StartEvents()
	return nil
}

// dingtalkClient is the client, or an error for an instance that was not started.
func (c *Corp) dingtalkClient() (*dingtalk.Client, error) {
	if c.client == nil {
		return nil, elements.Errorf(elements.CodeFailedPrecondition, "corp %s was loaded for inspection only and does not call DingTalk", c.El.FullName)
	}
	return c.client, nil
}

// platformErr explains a failed DingTalk call, naming the corp; the code is dingtalk_<code>.
func (c *Corp) platformErr(op string, err error) error {
	code := elements.CodeUnavailable
	if n := dingtalk.CodeOf(err); n != "" {
		code = "dingtalk_" + n
	} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		code = elements.CodeTimeout
	}
	return &elements.Error{Code: code, Err: err, Message: fmt.Sprintf("%s of %s: %v", op, c.Dir.Label(), err)}
}

func (c *Corp) String() string { return fmt.Sprintf("%s(%s)", TypeID, c.El.FullName) }

func (c *Corp) corpInfo() map[string]any {
	roles := make([]any, len(c.cfg.Roles))
	for i, r := range c.cfg.Roles {
		roles[i] = map[string]any{"roleId": r.RoleID, "name": r.Name}
	}
	base := c.cfg.OAPIBase
	if c.client != nil {
		base = c.client.OAPIBase()
	}
	a := c.cfg.AuthConfig
	info := map[string]any{"title": c.El.Title, "fullName": c.El.FullName, "type": c.El.TypeID,
		"corpId": a.CorpID, "agentId": a.AgentID, "appKey": a.AppKey, "apiBase": base,
		"roles": roles, "simulated": c.cfg.Simulator != nil}
	if len(c.cfg.Scope) > 0 {
		scope := make([]any, len(c.cfg.Scope))
		for i, d := range c.cfg.Scope {
			scope[i] = float64(d)
		}
		info["scope"] = scope
	}
	return info
}

// authConfig is the credentials with the secret masked.
func (c *Corp) authConfig() map[string]any {
	a := c.cfg.AuthConfig
	return map[string]any{"corpId": a.CorpID, "agentId": a.AgentID, "appKey": a.AppKey, "appSecret": masked}
}
