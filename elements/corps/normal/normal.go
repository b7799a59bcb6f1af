// Package normal provides corps.NormalType: JitAi's standard org, kept in the app itself
// with no platform behind it. Its departments, members, roles and passwords are made by its
// own methods (JitAi's names and parameters); it reads, grants roles and serves logins on
// the same org engine (package org) as the corps that follow WeCom.
package normal

import (
	"context"
	"encoding/json"
	"fmt"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
)

// TypeID is the registered ID; the Meta is corps.Meta.
const TypeID = "corps.NormalType"

// corpID is where a local org lives in the store (el:<fullName>:local:): it has no
// platform id, and nothing but its element's name makes it another org.
const corpID = "local"

// rootDeptID is the id of the root department initCorp makes.
const rootDeptID = 1

func init() {
	elements.RegisterType(elements.Type{
		ID:         TypeID,
		Meta:       org.MetaID,
		Doc:        "an org kept in the app itself: departments, members, roles and passwords (标准组织)",
		ConfigFile: true,
		Config:     Config{},
		Validate:   validate,
		New:        newCorp,
	})
}

// FirstMember is the org's first admin, made by initCorp.
type FirstMember struct {
	MemberID string `json:"memberId" jitrt:"required" doc:"the member's id (1 to 64 letters, digits and _-@.)"`
	UserID   string `json:"userId" doc:"the user's id (JitAi's account id; default the memberId)"`
	Nick     string `json:"nick" jitrt:"required" doc:"the name shown"`
	Username string `json:"username" doc:"the username to sign in with (default the memberId)"`
	Password string `json:"password" jitrt:"secret" doc:"the password to sign in with; put it in the environment: \"${ADMIN_PASSWORD}\""`
}

// Config is a local org's config (<Name>.json).
type Config struct {
	FirstMember *FirstMember `json:"firstMember" doc:"the first admin, made by initCorp: {memberId, userId, nick, username, password}"`
	AllowJoin   int          `json:"allowJoin" jitrt:"min=0,max=1" doc:"1: people may join by themselves (JitAi's allowJoin; jitrt has no self-registration page yet, so it is only kept)"`
	Roles       []org.Role   `json:"roles" doc:"the org's roles: [{roleId, name}] (default admin/管理员, member/成员); createRole adds more"`
}

func parseConfig(raw map[string]any, report func(key, format string, args ...any)) Config {
	if report == nil {
		report = func(string, string, ...any) {}
	}
	var c Config
	elements.Decode(raw, &c, report)
	c.Roles = org.ParseRoles(c.Roles, report)
	if f := c.FirstMember; f != nil {
		if f.MemberID != "" && !org.ValidMemberID(f.MemberID) {
			report("firstMember.memberId", "firstMember.memberId %q must be %s", f.MemberID, org.MemberIDRule)
		}
		if f.Username != "" && !validUsername(f.Username) {
			report("firstMember.username", "firstMember.username %q must be %s", f.Username, usernameRule())
		}
		if f.Password != "" && !validPasswordLength(f.Password) {
			report("firstMember.password", "firstMember.password must be %s", passwordRule())
		}
	}
	return c
}

func validate(el *elements.Element, r elements.Reporter) { parseConfig(el.Config, r.Errorf) }

// Corp is an instance of corps.NormalType.
type Corp struct {
	el  *elements.Element
	cfg Config
	dir *org.Directory
	// slots and waiters bound the password checks under way (verify).
	slots   chan struct{}
	waiters atomic.Int32
	// endLife ends what the instance started (the audit pruning): Close.
	endLife context.CancelFunc
}

// Start says which grants name roles the org no longer declares (elements.Starter), and
// keeps the audit records past their retention pruned until Close.
func (c *Corp) Start(context.Context) error {
	c.dir.WarnUndeclaredGrants()
	var life context.Context
	life, c.endLife = context.WithCancel(context.Background())
	c.dir.KeepAuditPruned(life, 0)
	return nil
}

// Close stops the audit pruning (io.Closer).
func (c *Corp) Close() error {
	if c.endLife != nil {
		c.endLife()
	}
	return nil
}

// DeclaredRoles are the roles of the config and those made in the org (elements.RoleDeclarer);
// complete only with the app's state at hand (jitrt check reads none).
func (c *Corp) DeclaredRoles() ([]string, bool) {
	return c.dir.DeclaredRoles(), c.el.Store.Path() != ""
}

var (
	_ org.Org       = (*Corp)(nil)
	_ org.Passwords = (*Corp)(nil)
)

func newCorp(el *elements.Element) (elements.Instance, error) {
	c := &Corp{el: el, cfg: parseConfig(el.Config, nil), slots: make(chan struct{}, max(2, goruntime.GOMAXPROCS(0)))}
	var recovered func(string, any) error
	if el.App != nil {
		recovered = el.App.Recovered
	}
	c.dir = org.New(org.Config{Store: el.Store, Name: el.FullName, CorpID: corpID, Roles: c.cfg.Roles,
		ConfigPath: el.ConfigPath, Logger: el.Logger, Recovered: recovered, Profile: org.Profile{ExtFields: extFields}, AuditRetention: el.AuditRetention})
	return c, nil
}

// Directory is the org (org.Org).
func (c *Corp) Directory() *org.Directory { return c.dir }

// WriteLock is the lock the org's writers take (elements.WriteLocker):
// app.transaction(fullName, fn) holds it for fn.
func (c *Corp) WriteLock() string { return c.dir.Keys().Lock() }

// Info is the org's configuration (org.Org): never a password.
func (c *Corp) Info() map[string]any {
	roles := make([]any, 0, len(c.cfg.Roles))
	for _, r := range c.dir.Roles() {
		roles = append(roles, map[string]any{"roleId": r.RoleID, "name": r.Name})
	}
	info := map[string]any{"title": c.el.Title, "fullName": c.el.FullName, "type": c.el.TypeID, "corpId": corpID,
		"roles": roles, "allowJoin": float64(c.cfg.AllowJoin), "local": true}
	if f := c.cfg.FirstMember; f != nil {
		info["firstMember"] = f.MemberID
	}
	return info
}

// Sync answers that a local org has nothing to sync (org.Org).
func (c *Corp) Sync(context.Context, bool) (*org.SyncReport, error) {
	return nil, c.noPlatform("syncCorp")
}

func (c *Corp) noPlatform(method string) error {
	return elements.Errorf(elements.CodeFailedPrecondition,
		"%s is a local org (%s): it is kept in the app itself and has no platform, so %s has nothing to do; add departments and members with createDept and addMember",
		c.el.FullName, TypeID, method)
}

func (c *Corp) String() string { return fmt.Sprintf("%s(%s)", TypeID, c.el.FullName) }

// Properties are the corp properties every corp Type has.
func (c *Corp) Properties() []elements.Property {
	return []elements.Property{
		{Name: "title", Get: func() any { return c.el.Title }},
		{Name: "fullName", Get: func() any { return c.el.FullName }},
		{Name: "corpFullName", Doc: "alias of fullName", Get: func() any { return c.el.FullName }},
		{Name: "authConfig", Doc: "a local org has no platform credentials: {}", Get: func() any { return map[string]any{} }},
		{Name: "corpData", Doc: "the org's configuration and counts", Get: func() any {
			d, err := c.dir.Counts(context.Background()) // a property: no caller's context
			if err != nil {
				return map[string]any{"error": err.Error()}
			}
			for k, v := range c.Info() {
				d[k] = v
			}
			return d
		}},
	}
}

// ---- arguments ----

func str(name string, required bool) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindString, Required: required}
}

func list(name string, required bool) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindArray, Required: required}
}

// anyID is a department id given as a number or as a string of one (JitAi passes ids as
// text).
func anyID(name string, required bool) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindNumber, Required: required, Any: true}
}

// deptID reads a department id given as a number or a string of digits.
func (c *Corp) deptID(a elements.Args, name string) (int64, bool, error) {
	v, ok := a[name]
	if !ok || v == nil {
		return 0, false, nil
	}
	var id int64
	switch x := v.(type) {
	case float64:
		id = int64(x)
		if float64(id) != x {
			return 0, true, c.dir.BadArg("%s %v is not a department id", name, x)
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, true, c.dir.BadArg("%s %q is not a department id", name, x)
		}
		id = n
	default:
		return 0, true, c.dir.BadArg("%s must be a department id (a number)", name)
	}
	if id < 1 || id > org.MaxDeptID {
		return 0, true, c.dir.BadArg("%s %d is not a department id (1 to %d)", name, id, int64(org.MaxDeptID))
	}
	return id, true, nil
}

// deptIDs reads a list of department ids.
func (c *Corp) deptIDs(a elements.Args, name string) ([]int64, error) {
	raw, _ := a[name].([]any)
	out := make([]int64, 0, len(raw))
	for i, v := range raw {
		id, _, err := c.deptID(elements.Args{fmt.Sprintf("%s[%d]", name, i): v}, fmt.Sprintf("%s[%d]", name, i))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// ids reads a list of string ids (not empty, no empty id, no repeat kept).
func (c *Corp) ids(a elements.Args, name string) ([]string, error) {
	l, err := a.Strings(name)
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, c.dir.BadArg("%s is empty: give at least one id", name)
	}
	out := make([]string, 0, len(l))
	for _, id := range l {
		if strings.TrimSpace(id) == "" {
			return nil, c.dir.BadArg("%s holds an empty id", name)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// jsonValue is a Go value as scripts see it.
func jsonValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func deptRow(d *org.Dept) *elements.RowData {
	leaders := make([]any, len(d.Leaders))
	for i, l := range d.Leaders {
		leaders[i] = l
	}
	return elements.NewRowData("deptId", float64(d.DeptID), "name", d.Name, "parentId", float64(d.ParentID),
		"order", float64(d.Order), "leaders", leaders)
}
