// Package fsinner provides corps.FSInnerType: an org kept in step with the contacts of a
// Feishu (飞书) custom app (企业自建应用), on the org engine — Feishu is its provider and its
// event source (v2.0 events over HTTP, stored before they are acknowledged) — with the
// seed's methods, roles, admins, signatures and offline members as every corp Type has
// them.
//
// Decisions: a member's id is their Feishu user_id (the app needs the scope
// contact:user.employee_id:readonly; a member without one is left out, with a warning);
// a department's id in the org is a number made from its open_department_id (FNV-1a, 53
// bits, never 0 or 1; the root "0" is 1), as the org numbers departments, and the Feishu
// id is known again from every fetch and event; a member's main department is the one
// Feishu marks is_primary_dept; a department's leaders are its leaders (main first), else
// its leader_user_id; contact.scope.updated_v3 is acknowledged and asks for a sync (a scope
// change moves whole subtrees).
package fsinner

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
	"sync"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/corps/corpkit"
	"github.com/jitrt/jitrt/feishu"
	"github.com/jitrt/jitrt/feishu/callback"
	"github.com/jitrt/jitrt/org"
)

// TypeID is the registered ID.
const TypeID = "corps.FSInnerType"

const masked = "******"

func init() {
	elements.RegisterType(elements.Type{
		ID:         TypeID,
		Meta:       org.MetaID,
		Doc:        "Feishu custom app organisation (飞书自建组织)",
		ConfigFile: true,
		Config:     Config{},
		Validate:   func(el *elements.Element, r elements.Reporter) { parseConfig(el.Config, r.Errorf) },
		New:        newCorp,
		LocalOnly:  func(el *elements.Element) bool { return el.Config["simulator"] != nil },
	})
}

// SimulatorConfig sizes the built-in emulator's generated tenant.
type SimulatorConfig struct {
	Members     int   `json:"members" jitrt:"min=0,max=1000000" doc:"how many members (default 200)"`
	Departments int   `json:"departments" jitrt:"min=0,max=1000000" doc:"how many departments (default 20)"`
	Seed        int64 `json:"seed" doc:"the seed of the generated names (default 1)"`
}

// SetDefaults is a simulator config's values before its keys are read.
func (s *SimulatorConfig) SetDefaults() { *s = SimulatorConfig{Members: 200, Departments: 20, Seed: 1} }

// Config is a corp's config (<Name>.json), JitAi's appId and appSecret and jitrt's own keys.
type Config struct {
	AppID             string           `json:"appId" jitrt:"required" example:"cli_a1b2c3d4e5f6a7b8" doc:"the app's App ID (cli_…)"`
	AppSecret         string           `json:"appSecret" jitrt:"required,secret" example:"placeholder-secret" doc:"the app's App Secret; put it in the environment: \"${FEISHU_SECRET}\""`
	BaseURL           string           `json:"baseUrl" doc:"Feishu's API host (default https://open.feishu.cn; Lark: https://open.larksuite.com)"`
	Scope             []string         `json:"scope" doc:"open_department_ids whose subtrees are synced (default: the whole tenant)"`
	RateLimit         int              `json:"rateLimit" doc:"calls a minute per API the corp makes (default 1000, Feishu's for the contacts APIs; -1: no pacing, for an emulator without limits)"`
	Roles             []org.Role       `json:"roles" doc:"the org's roles: [{roleId, name}] (default admin/管理员, member/成员)"`
	Simulator         *SimulatorConfig `json:"simulator" doc:"start the built-in Feishu emulator: {members, departments, seed}"`
	VerificationToken string           `json:"verificationToken" jitrt:"secret" example:"placeholderVerificationToken" doc:"Verification Token of the app's event subscription: change events are applied as they come"`
	EncryptKey        string           `json:"encryptKey" jitrt:"secret" doc:"Encrypt Key of the event subscription (pushes encrypted and signed)"`
}

func parseConfig(raw map[string]any, report func(key, format string, args ...any)) Config {
	if report == nil {
		report = func(string, string, ...any) {}
	}
	var c Config
	elements.Decode(raw, &c, report)
	if c.BaseURL == "" {
		c.BaseURL = feishu.DefaultBaseURL
	} else {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report("baseUrl", "baseUrl %q must be an http(s) URL such as %s", c.BaseURL, feishu.DefaultBaseURL)
		}
		c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	}
	if strings.ContainsAny(c.AppID, " \t/?&#") {
		report("appId", "appId %q has characters a Feishu App ID never has", c.AppID)
	}
	if c.EncryptKey != "" && c.VerificationToken == "" {
		report("verificationToken", "an encryptKey needs the subscription's verificationToken too")
	}
	c.Roles = org.ParseRoles(c.Roles, report)
	if c.Simulator != nil && c.Simulator.Departments < 1 {
		c.Simulator.Departments = 1
	}
	return c
}

// SimulatorService is the name under which the program provides the Feishu emulator.
const SimulatorService = "corps.feishuSimulator"

// SimulatorSpec is what a corp's "simulator" config asks the emulator to serve.
type SimulatorSpec struct {
	AppID, AppSecret     string
	Members, Departments int
	Seed                 int64
	Callback             *SimulatorCallback
}

// SimulatorCallback is a corp's event subscription, as the emulator pushes to it.
type SimulatorCallback struct {
	URL                           func() string
	VerificationToken, EncryptKey string
}

// Simulator is a running emulator.
type Simulator interface {
	URL() string
	Close() error
}

// StartSimulator starts an emulator serving the spec's tenant on a loopback port.
type StartSimulator func(ctx context.Context, spec SimulatorSpec) (Simulator, error)

// Corp is an instance of corps.FSInnerType.
type Corp struct {
	*corpkit.Base
	cfg    Config
	client *feishu.Client
	crypto *callback.Crypto
	vtok   string // the subscription's Verification Token (the config's, or made for a simulated corp)
	ekey   string

	// depts knows the Feishu id of each department id the org has met (fetches, events).
	depts sync.Map // int64 → string
}

// deptID is the org's number of a Feishu department.
func deptID(open string) int64 {
	if open == feishu.RootDepartmentID {
		return 1
	}
	h := fnv.New64a()
	h.Write([]byte(open))
	return int64(h.Sum64()%(1<<53-2)) + 2
}

// remember is deptID, kept for the way back (FetchDept).
func (c *Corp) remember(open string) int64 {
	id := deptID(open)
	c.depts.Store(id, open)
	return id
}

var profile = org.Profile{
	Platform:      "Feishu",
	MemberIDName:  "Feishu user_id",
	ValidMemberID: org.ValidMemberID,
	MemberIDRule:  org.MemberIDRule,
	MaxDeptID:     1<<53 - 1,
	ExtFields:     extFields,
	Aliases:       []org.Alias{{Name: "feishuUserId", Of: "memberId"}},
}

func newCorp(el *elements.Element) (elements.Instance, error) {
	c := &Corp{cfg: parseConfig(el.Config, nil)}
	c.vtok, c.ekey = c.cfg.VerificationToken, c.cfg.EncryptKey
	if c.vtok == "" && c.cfg.Simulator != nil {
		c.vtok, c.ekey = corpkit.SimulatorSecrets("feishu", c.cfg.AppID, c.cfg.AppSecret)
	}
	c.Base = corpkit.NewBase(el, "Feishu", c.cfg.AppID, c.cfg.Roles, profile, c.vtok != "")
	c.InfoFunc = c.corpInfo
	ec := org.EngineConfig{Provider: c, Observer: el.Observer, Scoped: len(c.cfg.Scope) > 0}
	if c.vtok != "" {
		c.crypto = callback.New(c.vtok, c.ekey)
		ec.Events = c
	}
	c.Engine = c.Dir.NewEngine(ec)
	return c, nil
}

// Start starts the emulator if the config asks for one, and makes the Feishu client.
func (c *Corp) Start(ctx context.Context) error {
	if err := c.StartOrg(ctx); err != nil {
		return err
	}
	el := c.El
	base := c.cfg.BaseURL
	if sim := c.cfg.Simulator; sim != nil {
		start, _ := el.App.Service(SimulatorService).(StartSimulator)
		if start == nil {
			return errors.New("the config asks for the Feishu emulator (\"simulator\"), which this program does not provide")
		}
		spec := SimulatorSpec{AppID: c.cfg.AppID, AppSecret: c.cfg.AppSecret, Members: sim.Members, Departments: sim.Departments, Seed: sim.Seed}
		if c.Inbox != nil && el.Service {
			spec.Callback = &SimulatorCallback{VerificationToken: c.vtok, EncryptKey: c.ekey,
				URL: func() string { return elements.PublicURL(el.App) + "/feishu/" + el.FullName + "/callback" }}
		}
		key := fmt.Sprintf("%s\x00%s\x00%d\x00%d\x00%d\x00%v", c.cfg.AppID, c.cfg.AppSecret, sim.Members, sim.Departments, sim.Seed, spec.Callback != nil)
		s, release, err := elements.AcquireKept(el.App, "feishu.simulators", el.FullName, key, func() (Simulator, error) { return start(ctx, spec) })
		if err != nil {
			return fmt.Errorf("start the Feishu emulator: %w", err)
		}
		c.OnClose(release)
		base = s.URL()
	}
	perMinute := feishu.DefaultPerMinute
	if c.cfg.RateLimit != 0 {
		perMinute = c.cfg.RateLimit
	}
	limiter := el.App.Shared(fmt.Sprintf("feishu.limiter:%s:%d", c.cfg.AppID, perMinute), func() any { return feishu.NewRateLimiter(float64(perMinute)) }).(feishu.Limiter)
	client, err := feishu.New(feishu.Config{AppID: c.cfg.AppID, AppSecret: c.cfg.AppSecret, BaseURL: base, Limiter: limiter,
		Logger: el.Logger, OnPanic: corpkit.RecoveredBy(el),
		Tokens: el.App.Shared(corpkit.SharedKey("feishu.tokens", base, c.cfg.AppID, c.cfg.AppSecret), func() any { return &feishu.TokenCache{} }).(*feishu.TokenCache)})
	if err != nil {
		c.Close()
		return err
	}
	c.client = client
	c.OnClose(client.Close)
	c.StartEvents()
	return nil
}

func (c *Corp) feishuClient() (*feishu.Client, error) {
	if c.client == nil {
		return nil, elements.Errorf(elements.CodeFailedPrecondition, "corp %s was loaded for inspection only and does not call Feishu", c.El.FullName)
	}
	return c.client, nil
}

// platformErr explains a failed Feishu call, naming the corp; the code is feishu_<code>.
func (c *Corp) platformErr(op string, err error) error {
	code := elements.CodeUnavailable
	if n := feishu.CodeOf(err); n != 0 {
		code = fmt.Sprintf("feishu_%d", n)
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
	base := c.cfg.BaseURL
	if c.client != nil {
		base = c.client.BaseURL()
	}
	info := map[string]any{"title": c.El.Title, "fullName": c.El.FullName, "type": c.El.TypeID, "corpId": c.cfg.AppID,
		"appId": c.cfg.AppID, "apiBase": base, "roles": roles, "simulated": c.cfg.Simulator != nil}
	if len(c.cfg.Scope) > 0 {
		info["scope"] = c.cfg.Scope
	}
	return info
}

func (c *Corp) authConfig() map[string]any {
	return map[string]any{"appId": c.cfg.AppID, "appSecret": masked}
}
