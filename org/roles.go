package org

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
)

// # Roles that follow the org
//
// A member holds the roles granted to them directly (setUserRole), the roles granted to
// each department they belong to and to every ancestor of those departments
// (setDeptRole), and, if they are one of the corp's admins (setAdmin), the role "admin".
// Nothing of that is copied into the member's record: a sync that moves a member to
// another department changes what they inherit, and a member who goes offline holds no
// role at all, with no other step.

// AdminRole is the role the corp's admins hold.
const AdminRole = "admin"

// DeptRoleRec is the roles granted to a department (key deptrole:<id>).
type DeptRoleRec struct {
	DeptID    int64    `json:"deptId"`
	RoleIDs   []string `json:"roleIds"`
	UpdatedAt string   `json:"updatedAt"`
}

// EffectiveRole is a role a member holds, with where it comes from: "direct", "admin", or
// "dept:<id>" for each department (the member's own or an ancestor) it was granted to.
type EffectiveRole struct {
	RoleID string   `json:"roleId"`
	Name   string   `json:"name"`
	From   []string `json:"from"`
}

// roleView is what effective roles are computed from besides the member's own record and
// direct grants: the department tree, the departments' grants and the admins, as of a
// generation of the corp's keys.
type roleView struct {
	version   uint64
	parent    map[int64]int64
	deptRoles map[int64][]string
	admins    map[string]bool
}

// roles returns the role view, read anew if the corp's keys changed since.
func (o *Directory) roleView(tx *kv.Tx) (*roleView, error) {
	v := tx.Generation(o.keys.prefix)
	if rv := o.roleIx.Load(); rv != nil && rv.version == v {
		return rv, nil
	}
	rv := &roleView{version: v, parent: map[int64]int64{}, deptRoles: map[int64][]string{}, admins: map[string]bool{}}
	var bad error
	err := tx.Scan(o.keys.Depts(), func(key, raw string) bool {
		f := gjson.GetMany(raw, "deptId", "parentId")
		rv.parent[f[0].Int()] = f[1].Int()
		return true
	})
	if err == nil {
		err = tx.Scan(o.keys.DeptRoles(), func(key, raw string) bool {
			var r DeptRoleRec
			if bad = json.Unmarshal([]byte(raw), &r); bad != nil {
				return false
			}
			rv.deptRoles[r.DeptID] = r.RoleIDs
			return true
		})
	}
	if err == nil {
		err = bad
	}
	if err == nil {
		var a Admins
		if err = tx.GetJSON(o.keys.Admins(), &a); errors.Is(err, kv.ErrNotFound) {
			err = nil
		}
		for _, id := range a.MemberIDs {
			rv.admins[id] = true
		}
	}
	if err != nil {
		return nil, err
	}
	o.roleIx.Store(rv)
	return rv, nil
}

// roleName is a role's declared name (the admin role's default name if undeclared).
func (o *Directory) roleName(id string) (string, bool) { return roleNameIn(o.roleList(nil), id) }

// roleNameIn is a role's name among roles.
func roleNameIn(roles []Role, id string) (string, bool) {
	for _, r := range roles {
		if r.RoleID == id {
			return r.Name, true
		}
	}
	if id == AdminRole {
		return "管理员", false
	}
	return id, false
}

// checkRoles refuses a role that is not declared.
func (o *Directory) checkRoles(roleIDs []string) error {
	return o.checkRolesIn(o.roleList(nil), roleIDs)
}

// checkRolesIn refuses a role that is not among roles.
func (o *Directory) checkRolesIn(roles []Role, roleIDs []string) error {
	for _, id := range roleIDs {
		if _, ok := roleNameIn(roles, id); !ok {
			declared := make([]string, len(roles))
			for i, r := range roles {
				declared[i] = r.RoleID
			}
			return o.BadArg("role %q is not declared (declared roles: %s; declare roles in %s)", id, strings.Join(declared, ", "), o.configPath)
		}
	}
	return nil
}

// checkDeptID refuses what is not a department id of the provider.
func (o *Directory) checkDeptID(id int64) error {
	if id < 1 || id > o.profile.MaxDeptID {
		return o.BadArg("deptId %d is not a%s department id (1 to %d)", id, o.platformWord(), o.profile.MaxDeptID)
	}
	return nil
}

// setDeptRoles grants roleIDs to a department (and so to its members and every
// sub-department's), replacing what it was granted; an empty list takes its grants away.
func (o *Directory) setDeptRoles(ctx context.Context, deptID int64, roleIDs []string) (any, error) {
	if err := o.checkDeptID(deptID); err != nil {
		return nil, err
	}
	if roleIDs == nil {
		roleIDs = []string{}
	}
	seen := map[string]bool{}
	for _, id := range roleIDs {
		if seen[id] {
			return nil, o.BadArg("roleIdList holds %q twice", id)
		}
		seen[id] = true
	}
	if err := o.checkRoles(roleIDs); err != nil {
		return nil, err
	}
	unlock, err := o.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	err = o.update(ctx, func(tx *kv.Tx) error {
		if _, err := tx.Get(o.keys.Meta()); errors.Is(err, kv.ErrNotFound) {
			return o.NotInitialized()
		}
		if _, err := tx.Get(o.keys.Dept(deptID)); errors.Is(err, kv.ErrNotFound) {
			return o.NotFound("department", strconv.FormatInt(deptID, 10))
		}
		if len(roleIDs) == 0 {
			_, err := tx.Delete(o.keys.DeptRole(deptID))
			return err
		}
		var old DeptRoleRec
		if err := tx.GetJSON(o.keys.DeptRole(deptID), &old); err == nil && slices.Equal(old.RoleIDs, roleIDs) {
			return nil // the same grants: nothing to write
		}
		return tx.SetJSON(o.keys.DeptRole(deptID), DeptRoleRec{DeptID: deptID, RoleIDs: roleIDs, UpdatedAt: Now()})
	})
	if err != nil {
		return nil, err
	}
	return o.deptRolesOf(deptID)
}

// deptRolesOf is what a department was granted: {deptId, roleIdList}.
func (o *Directory) deptRolesOf(deptID int64) (any, error) {
	if err := o.checkDeptID(deptID); err != nil {
		return nil, err
	}
	var rec DeptRoleRec
	err := o.store.View(func(tx *kv.Tx) error {
		if _, err := tx.Get(o.keys.Dept(deptID)); errors.Is(err, kv.ErrNotFound) {
			return o.NotFound("department", strconv.FormatInt(deptID, 10))
		}
		if err := tx.GetJSON(o.keys.DeptRole(deptID), &rec); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids := make([]any, len(rec.RoleIDs))
	for i, id := range rec.RoleIDs {
		ids[i] = id
	}
	return map[string]any{"deptId": float64(deptID), "roleIdList": ids}, nil
}

// deptRoleList is every department's grants, one row per department and role.
func (o *Directory) deptRoleList(tx *kv.Tx) ([]any, error) {
	roles := o.roleList(tx)
	out := []any{}
	var bad error
	err := tx.Scan(o.keys.DeptRoles(), func(_, raw string) bool {
		var r DeptRoleRec
		if bad = json.Unmarshal([]byte(raw), &r); bad != nil {
			return false
		}
		for _, id := range r.RoleIDs {
			name, _ := roleNameIn(roles, id)
			out = append(out, map[string]any{"deptId": float64(r.DeptID), "roleId": id, "roleName": name})
		}
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

// MemberRoles is a member's effective roles, in the order the corp declares its roles. An
// offline member holds none; an unknown id is a not_found error naming it and the corp.
func (o *Directory) MemberRoles(memberID string) ([]EffectiveRole, error) {
	if err := o.CheckMemberID(memberID); err != nil {
		return nil, err
	}
	var out []EffectiveRole
	err := o.store.View(func(tx *kv.Tx) error {
		raw, ok, err := GetMember(tx, o.keys, memberID)
		if err == nil && !ok {
			if moved, renamed := ResolveRenamed(tx, o.keys, memberID); renamed {
				memberID = moved // the platform gave the member a new id
				raw, ok, err = GetMember(tx, o.keys, memberID)
			}
		}
		if err != nil {
			return err
		}
		if !ok {
			return o.NotFound("member", memberID)
		}
		if MemberField(raw, fStatus).String() != StatusActive {
			return nil
		}
		rv, err := o.roleView(tx)
		if err != nil {
			return err
		}
		from := map[string][]string{}
		add := func(role, source string) {
			if !slices.Contains(from[role], source) {
				from[role] = append(from[role], source)
			}
		}
		tx.Scan(o.keys.MemberRoles(memberID), func(key, _ string) bool {
			add(Unesc(strings.TrimPrefix(key, o.keys.MemberRoles(memberID))), "direct")
			return true
		})
		if len(rv.deptRoles) > 0 {
			var depts [8]int64
			for _, d := range appendInts(depts[:0], MemberField(raw, fDeptIDs)) {
				// the department and its ancestors, nearest first; a cycle ends the walk
				for hops := 0; d != 0 && hops < len(rv.parent)+1; hops++ {
					for _, role := range rv.deptRoles[d] {
						add(role, "dept:"+strconv.FormatInt(d, 10))
					}
					p, ok := rv.parent[d]
					if !ok || p == d {
						break
					}
					d = p
				}
			}
		}
		if rv.admins[memberID] {
			add(AdminRole, "admin")
		}
		out = make([]EffectiveRole, 0, len(from))
		roles := o.roleList(tx)
		for _, r := range roles {
			if src, ok := from[r.RoleID]; ok {
				out = append(out, EffectiveRole{RoleID: r.RoleID, Name: r.Name, From: src})
				delete(from, r.RoleID)
			}
		}
		// A role granted once and no longer declared grants nothing (the grant is kept: it
		// grants again if the role is declared again); the admins' role is the org's own,
		// declared or not.
		if src, ok := from[AdminRole]; ok && slices.Contains(src, "admin") {
			name, _ := roleNameIn(roles, AdminRole)
			out = append(out, EffectiveRole{RoleID: AdminRole, Name: name, From: []string{"admin"}})
		}
		return nil
	})
	return out, err
}

// UndeclaredGrants says, one line each, which grants the org keeps of roles it does not
// declare (a role taken out of the corp's roles): each grants nothing until the role is
// declared again or the grant is taken away.
func (o *Directory) UndeclaredGrants() []string {
	var out []string
	o.store.View(func(tx *kv.Tx) error {
		declared := map[string]bool{AdminRole: true}
		for _, r := range o.roleList(tx) {
			declared[r.RoleID] = true
		}
		tx.Scan(o.keys.DeptRoles(), func(_, raw string) bool {
			var rec DeptRoleRec
			if jsonUnmarshal(raw, &rec) == nil {
				for _, id := range rec.RoleIDs {
					if !declared[id] {
						out = append(out, fmt.Sprintf("department %d is granted role %q, which %s does not declare: the grant gives nothing (declare the role in %s, or take the grant away with setDeptRole)", rec.DeptID, id, o.name, o.configPath))
					}
				}
			}
			return true
		})
		byRole := map[string]int{}
		tx.Scan(o.keys.prefix+"memberrole:", func(_, raw string) bool {
			var rec MemberRoleRec
			if jsonUnmarshal(raw, &rec) == nil && !declared[rec.RoleID] {
				byRole[rec.RoleID]++
			}
			return true
		})
		for _, id := range slices.Sorted(mapKeys(byRole)) {
			out = append(out, fmt.Sprintf("%d member(s) are granted role %q, which %s does not declare: the grants give nothing (declare the role in %s, or set the members' roles with setUserRole)", byRole[id], id, o.name, o.configPath))
		}
		return nil
	})
	return out
}

// WarnUndeclaredGrants logs each of UndeclaredGrants (a corp that starts, after an edit of
// its roles, says which grants no longer give anything).
func (o *Directory) WarnUndeclaredGrants() {
	for _, msg := range o.UndeclaredGrants() {
		o.log.Warn("a grant of an undeclared role gives nothing", "corp", o.name, "grant", msg)
	}
}

// DeclaredRoles are the ids of the roles the org declares (its config's, and those made
// in it), and the admins' role.
func (o *Directory) DeclaredRoles() []string {
	ids := []string{AdminRole}
	for _, r := range o.roleList(nil) {
		if !slices.Contains(ids, r.RoleID) {
			ids = append(ids, r.RoleID)
		}
	}
	return ids
}

// appendInts appends the numbers of a JSON array.
func appendInts(dst []int64, arr gjson.Result) []int64 {
	arr.ForEach(func(_, v gjson.Result) bool {
		dst = append(dst, v.Int())
		return true
	})
	return dst
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// memberRolesValue is MemberRoles as scripts and the API see it.
func (o *Directory) memberRolesValue(memberID string) (any, error) {
	roles, err := o.MemberRoles(memberID)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(roles))
	for i, r := range roles {
		from := make([]any, len(r.From))
		for j, f := range r.From {
			from[j] = f
		}
		out[i] = map[string]any{"roleId": r.RoleID, "name": r.Name, "from": from}
	}
	return out, nil
}

// member is one member as getLocalCorpData lists it.
func (o *Directory) member(memberID string) (any, error) {
	if err := o.CheckMemberID(memberID); err != nil {
		return nil, err
	}
	var raw string
	err := o.store.View(func(tx *kv.Tx) error {
		r, ok, err := GetMember(tx, o.keys, memberID)
		if err == nil && !ok {
			if moved, renamed := ResolveRenamed(tx, o.keys, memberID); renamed {
				r, ok, err = GetMember(tx, o.keys, moved) // the platform gave the member a new id
			}
		}
		if err != nil {
			return err
		}
		if !ok {
			return o.NotFound("member", memberID)
		}
		raw = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return memberView{raw, &o.profile}, nil
}

// roleMethods are the methods of roles that follow the org.
func (o *Directory) roleMethods() []elements.Method {
	deptID := func(a elements.Args) (int64, error) {
		id, _, err := a.Int("deptId")
		if err != nil {
			return 0, err
		}
		return id, o.checkDeptID(id)
	}
	return []elements.Method{
		{Name: "setDeptRole", Callable: true, Doc: "grant roles to a department, its members and every sub-department's (an empty list takes them away)",
			Params: []elements.Param{num("deptId", true), {Name: "roleIdList", Kind: elements.KindArray, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				id, err := deptID(a)
				if err != nil {
					return nil, err
				}
				roles, err := a.Strings("roleIdList")
				if err != nil {
					return nil, err
				}
				return o.setDeptRoles(ctx, id, roles)
			}},
		{Name: "getDeptRole", Callable: true, Doc: "the roles granted to a department: {deptId, roleIdList}",
			Params: []elements.Param{num("deptId", true)},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				id, err := deptID(a)
				if err != nil {
					return nil, err
				}
				return o.deptRolesOf(id)
			}},
		{Name: "getMemberRoles", Callable: true, Doc: "a member's effective roles: [{roleId, name, from: [direct | dept:<id> | admin]}]",
			Params: []elements.Param{str("memberId")},
			Call:   func(_ context.Context, a elements.Args) (any, error) { return o.memberRolesValue(a.String("memberId")) }},
		{Name: "getMember", Callable: true, Doc: "one member, as getLocalCorpData lists them (an id the platform changed finds the member under the new one)",
			Params: []elements.Param{str("memberId")},
			Call:   func(_ context.Context, a elements.Args) (any, error) { return o.member(a.String("memberId")) }},
	}
}
