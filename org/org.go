// Package org keeps an organisation — departments, members, tags, roles (direct and inherited
// through departments), admins and signatures — in the app's store, whatever platform it is kept
// in step with: the records, their keys and compact storage, the views, and the whole-org
// diff. It knows no platform: a provider describes its ids and the member fields only it
// knows (Profile), and gives the org in neutral records.
package org

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
)

// MetaID is the Meta of every corp Type (JitAi's corps.Meta): each is an org.
const MetaID = "corps.Meta"

func init() { elements.RegisterMeta(MetaID, "organisations (组织架构)") }

// Role is one declared role of the org.
type Role struct {
	RoleID string `json:"roleId" jitrt:"required" doc:"the role's id: 1 to 64 letters, digits, _ and -"`
	Name   string `json:"name" doc:"the role's name (default: its id)"`
}

// DefaultRoles are the roles of a config that declares none.
var DefaultRoles = []Role{{RoleID: "admin", Name: "管理员"}, {RoleID: "member", Name: "成员"}}

// Profile is what a provider (the platform an org is kept in step with, or none) tells the
// org about its ids and the member fields only it knows.
type Profile struct {
	// Platform names the provider in messages ("WeCom"); "" for an org kept in the app.
	Platform string
	// MemberIDName is what a member id is called in messages ("WeCom userid").
	MemberIDName string
	// ValidMemberID says whether an id may be a member's; MemberIDRule says what one is.
	ValidMemberID func(id string) bool
	MemberIDRule  string
	// MaxDeptID is the largest department id.
	MaxDeptID int64
	// ExtFields name the fields of the provider's part of a member record (Member.Ext), in
	// order: a member object shows them after the neutral ones (an empty one left out).
	ExtFields []string
	// Aliases are member fields that read another one, as the provider's users expect
	// them ("wecomUserId" reads "memberId"), shown after the others.
	Aliases []Alias
	// KeepWithheld, if set, gives a fetched member's record tail the stored values of
	// the fields the platform withheld (see Fetched.Withheld).
	KeepWithheld func(tail, oldRaw string, withheld map[string]bool) string
}

// Config is what a Directory is made from.
type Config struct {
	Store *kv.Store
	// Name is the corp element's fullName; CorpID the org's id on its platform (or the
	// element's own). Together they are the org's place in the store: a changed CorpID is
	// another org.
	Name, CorpID string
	// Roles are the declared roles; ConfigPath the config that declares them (messages).
	Roles      []Role
	ConfigPath string
	Logger     *slog.Logger
	Profile    Profile
	// Recovered records a panic caught in a goroutine the org started (logged with its
	// stack and counted by the runtime) and returns the error to report in its place.
	Recovered func(where string, r any) error
	// AuditRetention is how long the audit records are kept (DefaultAuditRetention when 0).
	AuditRetention time.Duration
}

// Directory is one org kept in the app's store: its records, views, roles, admins and
// signatures. It is safe for use by many goroutines and processes (writers take the org's
// lock in the store).
type Directory struct {
	store      *kv.Store
	keys       Keys
	name       string
	corpID     string
	declared   []Role
	configPath string
	log        *slog.Logger
	profile    Profile
	recoverFn  func(where string, r any) error

	quietMu    sync.Mutex
	quietSyncs []string // reports of syncs that wrote nothing (JSON), oldest first

	auditRetention time.Duration
	failMu         sync.Mutex
	failures       []AuditRecord // failed write calls this process took, oldest first

	adminCache atomic.Pointer[adminCache]
	initAt     atomic.Uint64 // the store's commits (+1) when the org was last seen initialized
	memberIx   atomic.Pointer[memberIndex]
	roleIx     atomic.Pointer[roleView]
	orgIx      atomic.Pointer[orgView]
	searchIx   atomic.Pointer[searchIndex]
	created    atomic.Pointer[createdRoles]
}

// New makes the Directory of an org; it does no I/O.
func New(cfg Config) *Directory {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Profile.ValidMemberID == nil {
		cfg.Profile.ValidMemberID = ValidMemberID
		cfg.Profile.MemberIDRule = MemberIDRule
	}
	if cfg.Profile.MemberIDName == "" {
		cfg.Profile.MemberIDName = "member id"
	}
	if cfg.Profile.MaxDeptID == 0 {
		cfg.Profile.MaxDeptID = MaxDeptID
	}
	return &Directory{store: cfg.Store, keys: NewKeys(cfg.Name, cfg.CorpID), name: cfg.Name, corpID: cfg.CorpID,
		declared: cfg.Roles, configPath: cfg.ConfigPath, log: cfg.Logger, profile: cfg.Profile, recoverFn: cfg.Recovered,
		auditRetention: cfg.AuditRetention}
}

// MaxDeptID is the largest department id of an org whose provider says none (2^32-1).
const MaxDeptID = 1<<32 - 1

// MemberIDRule is what a member id of an org whose provider says none is.
const MemberIDRule = "1 to 64 letters, digits and _-@."

// ValidMemberID is the member id rule of an org whose provider says none.
func ValidMemberID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '@' || c == '.') {
			return false
		}
	}
	return true
}

// Name is the corp element's fullName.
func (o *Directory) Name() string { return o.name }

// Keys is where the org lives in the store.
func (o *Directory) Keys() Keys { return o.keys }

// Store is the store the org lives in.
func (o *Directory) Store() *kv.Store { return o.store }

// Roles are the declared roles.
func (o *Directory) Roles() []Role { return o.roleList(nil) }

// Alias is a member field that reads another: Name reads Of.
type Alias struct{ Name, Of string }

// platform names the provider in messages.
func (o *Directory) platform() string {
	if o.profile.Platform == "" {
		return "the platform"
	}
	return o.profile.Platform
}

// recovered is the error of a panic caught in a goroutine of the org's.
func recovered(o *Directory, where string, r any) error {
	if o.recoverFn != nil {
		return o.recoverFn(o.name+" "+where, r)
	}
	o.log.Error("panic", "where", where, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return fmt.Errorf("%s of %s: internal error (panic: %v)", where, o.name, r)
}

// ParseRoles checks a config's declared roles (nil: DefaultRoles) and returns the ones that
// hold, names filled in; problems go to report, each naming its key.
func ParseRoles(roles []Role, report func(key, format string, args ...any)) []Role {
	switch {
	case roles == nil:
		roles = DefaultRoles
	case len(roles) == 0:
		report("roles", "roles is empty: declare at least one role, or leave the key out for the defaults")
	}
	seen := map[string]bool{}
	out := make([]Role, 0, len(roles)) // the declared ones that hold, names filled in
	for i, r := range roles {
		key := fmt.Sprintf("roles.%d.roleId", i)
		switch {
		case r.RoleID == "":
			continue // reported by Decode
		case !elements.ValidRoleID(r.RoleID):
			report(key, "%s %q must be 1 to 64 letters, digits, _ and -", key, r.RoleID)
			continue
		case seen[r.RoleID]:
			report(key, "%s: roleId %q is declared twice", key, r.RoleID)
			continue
		}
		seen[r.RoleID] = true
		if r.Name == "" {
			r.Name = r.RoleID
		}
		out = append(out, r)
	}
	return out
}

// platformWord is the provider's name as a word before a noun (" WeCom"), or "".
func (o *Directory) platformWord() string {
	if o.profile.Platform == "" {
		return ""
	}
	return " " + o.profile.Platform
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
