// Package corps provides the corps.Meta family and its corps.QywxInnerType element: an
// organisation kept in step with a WeCom (企业微信) self-built app's contacts directory.
package corps

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/callback"
)

// rolePattern is what a role id may be.
var rolePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// MetaID and TypeID are the registered IDs.
const (
	MetaID = "corps.Meta"
	TypeID = "corps.QywxInnerType"
)

// DefaultAPIBase is WeCom's server API.
const DefaultAPIBase = "https://qyapi.weixin.qq.com"

// masked stands for a secret in everything this package returns.
const masked = "******"

func init() {
	elements.RegisterMeta(MetaID, "organisations (组织架构)")
	elements.RegisterType(elements.Type{
		ID:         TypeID,
		Meta:       MetaID,
		Doc:        "WeCom self-built app organisation (企业微信自建组织)",
		ConfigFile: true,
		Schema:     schema,
		Validate:   validate,
		New:        newCorp,
		// A corp on its built-in emulator talks to no WeCom: its secret is not a real one.
		LocalOnly: func(el *elements.Element) bool { return el.Config["simulator"] != nil },
	})
}

var schema = elements.Schema{Fields: []elements.Field{
	{Name: "corpId", Kind: elements.KindString, Required: true, Doc: "WeCom corp ID (企业ID), e.g. ww1234567890abcdef"},
	{Name: "agentId", Kind: elements.KindString, Required: true, Doc: "the self-built app's AgentId"},
	{Name: "secret", Kind: elements.KindString, Required: true, Secret: true, Doc: "the app's Secret; put it in the environment: \"${WECOM_SECRET}\""},
	{Name: "apiBase", Kind: elements.KindString, Doc: "WeCom API base URL (default " + DefaultAPIBase + ")"},
	{Name: "contactSyncSecret", Kind: elements.KindString, Secret: true, Doc: "通讯录同步 secret: unlocks user/list_id when detail endpoints are refused"},
	{Name: "scope", Kind: elements.KindArray, Doc: "WeCom department ids whose subtrees are synced (default: all)"},
	{Name: "roles", Kind: elements.KindArray, Doc: "the org's roles: [{roleId, name}] (default admin/管理员, member/成员)"},
	{Name: "simulator", Kind: elements.KindObject, Doc: "start the built-in WeCom emulator: {members, departments, seed}"},
	{Name: "callbackToken", Kind: elements.KindString, Secret: true, Doc: "Token of the app's callback config (接收事件服务器): change events are applied as they come"},
	{Name: "encodingAESKey", Kind: elements.KindString, Secret: true, Doc: "EncodingAESKey of the app's callback config (43 characters)"},
}}

// Role is one declared role of the org.
type Role struct {
	RoleID string `json:"roleId"`
	Name   string `json:"name"`
}

// DefaultRoles are the roles of a config that declares none.
var DefaultRoles = []Role{{RoleID: "admin", Name: "管理员"}, {RoleID: "member", Name: "成员"}}

// SimulatorConfig sizes the built-in emulator's generated org.
type SimulatorConfig struct {
	Members     int   `json:"members"`
	Departments int   `json:"departments"`
	Seed        int64 `json:"seed"`
}

// Config is a corp's validated config.
type Config struct {
	CorpID            string
	AgentID           string
	Secret            string
	APIBase           string
	ContactSyncSecret string
	Scope             []int64
	Roles             []Role
	Simulator         *SimulatorConfig
	CallbackToken     string
	EncodingAESKey    string
}

// parseConfig reads a config that passed the schema; problems go to report (which may be
// nil when the config is known to be valid).
func parseConfig(raw map[string]any, report func(key, format string, args ...any)) Config {
	if report == nil {
		report = func(string, string, ...any) {}
	}
	c := Config{APIBase: DefaultAPIBase, Roles: DefaultRoles}
	c.CorpID, _ = raw["corpId"].(string)
	c.AgentID, _ = raw["agentId"].(string)
	c.Secret, _ = raw["secret"].(string)
	c.ContactSyncSecret, _ = raw["contactSyncSecret"].(string)
	if s, ok := raw["apiBase"].(string); ok && s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report("apiBase", "apiBase %q must be an http(s) URL such as %s", s, DefaultAPIBase)
		}
		c.APIBase = strings.TrimRight(s, "/")
	}
	if strings.ContainsAny(c.CorpID, " \t/?&") {
		report("corpId", "corpId %q has characters a WeCom corp ID never has", c.CorpID)
	}
	if list, ok := raw["scope"].([]any); ok {
		for i, it := range list {
			f, isNum := it.(float64)
			if !isNum || f != math.Trunc(f) || f < 1 || f > wecom.MaxDeptID {
				report("scope", "scope[%d] must be a WeCom department id (a whole number from 1 to %d), not %v", i, int64(wecom.MaxDeptID), it)
				continue
			}
			c.Scope = append(c.Scope, int64(f))
		}
	}
	if list, ok := raw["roles"].([]any); ok {
		c.Roles = nil
		seen := map[string]bool{}
		for i, it := range list {
			obj, isObj := it.(map[string]any)
			id, _ := obj["roleId"].(string)
			name, _ := obj["name"].(string)
			if !isObj || id == "" {
				report("roles", "roles[%d] must be an object with a non-empty string \"roleId\" and a \"name\"", i)
				continue
			}
			if !rolePattern.MatchString(id) {
				report("roles", "roles[%d]: roleId %q must be 1 to 64 letters, digits, _ and -", i, id)
				continue
			}
			if seen[id] {
				report("roles", "roles[%d]: roleId %q is declared twice", i, id)
				continue
			}
			seen[id] = true
			if name == "" {
				name = id
			}
			c.Roles = append(c.Roles, Role{RoleID: id, Name: name})
		}
		if len(list) == 0 {
			report("roles", "roles is empty: declare at least one role, or leave the key out for the defaults")
		}
	}
	c.CallbackToken, _ = raw["callbackToken"].(string)
	c.EncodingAESKey, _ = raw["encodingAESKey"].(string)
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
	if obj, ok := raw["simulator"].(map[string]any); ok {
		sim := &SimulatorConfig{Members: 200, Departments: 20, Seed: 1}
		for key, dst := range map[string]*int64{"seed": &sim.Seed} {
			if v, ok := obj[key]; ok {
				f, isNum := v.(float64)
				if !isNum || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
					report("simulator", "simulator.%s must be a whole number from -2^53 to 2^53, not %v", key, v)
					continue
				}
				*dst = int64(f)
			}
		}
		for key, dst := range map[string]*int{"members": &sim.Members, "departments": &sim.Departments} {
			if v, ok := obj[key]; ok {
				f, isNum := v.(float64)
				if !isNum || f != math.Trunc(f) || f < 0 || f > 1_000_000 {
					report("simulator", "simulator.%s must be a whole number from 0 to 1000000, not %v", key, v)
					continue
				}
				*dst = int(f)
			}
		}
		if sim.Departments < 1 {
			sim.Departments = 1
		}
		for k := range obj {
			if k != "members" && k != "departments" && k != "seed" {
				report("simulator", "simulator has no key %q (keys: members, departments, seed)", k)
			}
		}
		c.Simulator = sim
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
	el   *elements.Element
	cfg  Config
	keys keys
	// client and sim are set by Start; nil in an instance that was not started
	// (jitrt check, jitrt ls).
	client *wecom.Client
	sim    Simulator

	flightMu   sync.Mutex
	flight     *syncFlight
	quietSyncs []string // reports of syncs that wrote nothing (JSON), oldest first

	// recv takes WeCom's change events (nil without a callback config); applyMu is held
	// by the applier for each batch and by a sync for all of it.
	recv        *receiver
	applyMu     sync.Mutex
	applierDone chan struct{}

	adminCache atomic.Pointer[adminCache]
	memberIx   atomic.Pointer[memberIndex]
	roleIx     atomic.Pointer[roleView]
	orgIx      atomic.Pointer[orgView]
}

// newCorp parses the config; it does no I/O (see Start).
func newCorp(el *elements.Element) (elements.Instance, error) {
	c := &Corp{el: el, cfg: parseConfig(el.Config, nil)}
	c.keys = newKeys(el.FullName, c.cfg.CorpID)
	if c.cfg.CallbackToken != "" {
		crypto, err := callback.New(c.cfg.CallbackToken, c.cfg.EncodingAESKey, c.cfg.CorpID)
		if err != nil {
			return nil, err
		}
		c.recv = newReceiver(crypto)
	}
	return c, nil
}

// Start creates the member status index, starts the emulator if the config asks for one,
// and makes the WeCom client, which shares the corp's rate limiter with every other client
// of the same corpId in the process, across reloads.
func (c *Corp) Start(ctx context.Context) error {
	if err := c.migrate(); err != nil {
		return fmt.Errorf("bring the stored org up to date: %w", err)
	}
	base := c.cfg.APIBase
	if sim := c.cfg.Simulator; sim != nil {
		start, _ := c.el.App.Service(SimulatorService).(StartSimulator)
		if start == nil {
			return errors.New("the config asks for the WeCom emulator (\"simulator\"), which this program does not provide")
		}
		spec := SimulatorSpec{CorpID: c.cfg.CorpID, Secret: c.cfg.Secret,
			ContactSyncSecret: c.cfg.ContactSyncSecret, Members: sim.Members, Departments: sim.Departments, Seed: sim.Seed}
		if c.recv != nil && c.el.Service {
			spec.Callback = &SimulatorCallback{Token: c.cfg.CallbackToken, EncodingAESKey: c.cfg.EncodingAESKey,
				URL: func() string { return elements.PublicURL(c.el.App) + "/wecom/" + c.el.FullName + "/callback" }}
		}
		var err error
		c.sim, err = start(ctx, spec)
		if err != nil {
			return fmt.Errorf("start the WeCom emulator: %w", err)
		}
		base = c.sim.URL()
		c.el.Logger.Debug("WeCom emulator started", "url", base, "members", sim.Members, "departments", sim.Departments)
	}
	limiter := c.el.App.Shared("wecom.ratelimit:"+c.cfg.CorpID, func() any {
		return wecom.NewRateLimiter(wecom.DefaultLimits, nil)
	}).(*wecom.RateLimiter)
	client, err := wecom.New(wecom.Config{CorpID: c.cfg.CorpID, Secret: c.cfg.Secret, ContactSyncSecret: c.cfg.ContactSyncSecret,
		BaseURL: base, Store: kv.Values{Store: c.el.Store}, Logger: c.el.Logger, RateLimiter: limiter})
	if err != nil {
		c.Close()
		return err
	}
	c.client = client
	if c.recv != nil && c.el.Service {
		c.startApplier()
	}
	return nil
}

// Close stops the emulator (freeing its port) and the client's connections.
func (c *Corp) Close() error {
	c.stopApplier()
	var errs []error
	if c.client != nil {
		errs = append(errs, c.client.Close())
	}
	if c.sim != nil {
		errs = append(errs, c.sim.Close())
	}
	return errors.Join(errs...)
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
