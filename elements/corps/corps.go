// Package corps provides the corps.Meta family and its corps.QywxInnerType element: an
// organisation kept in step with a WeCom (企业微信) self-built app's contacts directory.
package corps

import (
	"errors"
	"sync"
	"sync/atomic"

	"fmt"
	"github.com/tidwall/buntdb"

	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/wecomsim"
	"math"
	"net/url"
	"strings"

	"github.com/jitrt/jitrt/elements"
)

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
			if !isNum || f != math.Trunc(f) || f < 1 {
				report("scope", "scope[%d] must be a WeCom department id (a whole number ≥ 1), not %v", i, it)
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
	if obj, ok := raw["simulator"].(map[string]any); ok {
		sim := &SimulatorConfig{Members: 200, Departments: 20, Seed: 1}
		for key, dst := range map[string]*int64{"seed": &sim.Seed} {
			if v, ok := obj[key]; ok {
				f, isNum := v.(float64)
				if !isNum || f != math.Trunc(f) {
					report("simulator", "simulator.%s must be a whole number, not %v", key, v)
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

// Corp is an instance of corps.QywxInnerType.
type Corp struct {
	el     *elements.Element
	cfg    Config
	keys   keys
	client *wecom.Client
	sim    *wecomsim.Server // the built-in emulator, when the config asks for one

	flightMu   sync.Mutex
	flight     *syncFlight
	quietSyncs []string // reports of syncs that wrote nothing (JSON), oldest first

	adminCache atomic.Pointer[adminCache]
}

func newCorp(el *elements.Element) (elements.Instance, error) {
	c := &Corp{el: el, cfg: parseConfig(el.Config, nil)}
	c.keys = newKeys(el.FullName, c.cfg.CorpID)
	// Members by status, for counts and listings; the deptmember keys index members by
	// department. Creating an index that exists is a no-op.
	if err := el.Store.DB().CreateIndex(c.keys.statusIndex(), c.keys.members()+"*", buntdb.IndexJSON("status")); err != nil && !errors.Is(err, buntdb.ErrIndexExists) {
		return nil, fmt.Errorf("create the member status index: %w", err)
	}
	base := c.cfg.APIBase
	if sim := c.cfg.Simulator; sim != nil {
		var err error
		c.sim, err = wecomsim.Start(wecomsim.Options{CorpID: c.cfg.CorpID, Secret: c.cfg.Secret,
			ContactSyncSecret: c.cfg.ContactSyncSecret, Members: sim.Members, Departments: sim.Departments, Seed: sim.Seed})
		if err != nil {
			return nil, fmt.Errorf("start the WeCom emulator: %w", err)
		}
		base = c.sim.URL()
		el.Logger.Debug("WeCom emulator started", "url", base, "members", sim.Members, "departments", sim.Departments)
	}
	client, err := wecom.New(wecom.Config{CorpID: c.cfg.CorpID, Secret: c.cfg.Secret, ContactSyncSecret: c.cfg.ContactSyncSecret,
		BaseURL: base, Store: kvStore{el.Store}, Logger: el.Logger})
	if err != nil {
		c.Close()
		return nil, err
	}
	c.client = client
	return c, nil
}

// Close stops the emulator (freeing its port) and the client's connections.
func (c *Corp) Close() error {
	var errs []error
	if c.client != nil {
		errs = append(errs, c.client.Close())
	}
	if c.sim != nil {
		errs = append(errs, c.sim.Close())
	}
	return errors.Join(errs...)
}

// Simulator returns the built-in emulator, or nil (for tests and tools).
func (c *Corp) Simulator() *wecomsim.Server { return c.sim }

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
		"corpId": c.cfg.CorpID, "agentId": c.cfg.AgentID, "apiBase": c.client.BaseURL(),
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
