package org

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
)

// # Writing the org
//
// A provider's events and a local org's own methods change the org record by record:
// Update runs them in one transaction under the org's lock (the cluster's, when several
// processes share the store), so that a reader sees all of a change or none of it, and a
// process killed mid-way wrote nothing.

// Writer changes the org within one transaction (Directory.Update).
type Writer struct {
	o  *Directory
	tx *kv.Tx
	ts string
}

// Update runs fn in one transaction under the org's lock; an error from fn writes nothing.
func (o *Directory) Update(ctx context.Context, fn func(w *Writer) error) error {
	unlock, err := o.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return o.update(ctx, func(tx *kv.Tx) error {
		return fn(&Writer{o: o, tx: tx, ts: Now()})
	})
}

// Dir is the org written.
func (w *Writer) Dir() *Directory { return w.o }

// Tx is the transaction, for what a Type keeps beside the org under its prefix.
func (w *Writer) Tx() *kv.Tx { return w.tx }

// Now is the time of the transaction's writes.
func (w *Writer) Now() string { return w.ts }

// Meta is the org's own record, and whether it has one (initCorp has run).
func (w *Writer) Meta() (Meta, bool, error) {
	var m Meta
	err := w.tx.GetJSON(w.o.keys.Meta(), &m)
	if errors.Is(err, kv.ErrNotFound) {
		return m, false, nil
	}
	return m, err == nil, err
}

// PutMeta writes the org's own record.
func (w *Writer) PutMeta(m Meta) error { return w.tx.SetJSON(w.o.keys.Meta(), m) }

// Member is a member (nil if there is none).
func (w *Writer) Member(id string) (*Member, error) {
	raw, ok, err := GetMember(w.tx, w.o.keys, id)
	if err != nil || !ok {
		return nil, err
	}
	m, err := DecodeMember(raw)
	if err != nil {
		return nil, fmt.Errorf("member %q of %s: %w", id, w.o.Label(), err)
	}
	return m, nil
}

// MustMember is a member, or the not_found error naming it and the org.
func (w *Writer) MustMember(id string) (*Member, error) {
	if err := w.o.CheckMemberID(id); err != nil {
		return nil, err
	}
	m, err := w.Member(id)
	if err == nil && m == nil {
		err = w.o.NotFound("member", id)
	}
	return m, err
}

// PutMember writes a member (its UpdatedAt is the transaction's time).
func (w *Writer) PutMember(m *Member) error {
	if err := w.o.CheckMemberID(m.MemberID); err != nil {
		return err
	}
	m.UpdatedAt = w.ts
	if m.CreatedAt == "" {
		m.CreatedAt = w.ts
	}
	if m.Status == "" {
		m.Status = StatusActive
	}
	return w.tx.Set(w.o.keys.Member(m.MemberID), EncodeMember(m))
}

// RemoveMember deletes a member with what is theirs: role grants, signature, admin place,
// department leads.
func (w *Writer) RemoveMember(id string) error {
	if err := RemoveMember(w.tx, w.o.keys, id); err != nil {
		return err
	}
	var grants []string
	w.tx.Scan(w.o.keys.MemberRoles(id), func(k, _ string) bool { grants = append(grants, k); return true })
	for _, k := range append(grants, w.o.keys.Sig(id)) {
		if _, err := w.tx.Delete(k); err != nil {
			return err
		}
	}
	if err := w.o.dropAdmins(w.tx, []string{id}); err != nil {
		return err
	}
	depts, err := w.Depts()
	if err != nil {
		return err
	}
	for _, d := range depts {
		if slices.Contains(d.Leaders, id) {
			d.Leaders = slices.DeleteFunc(d.Leaders, func(l string) bool { return l == id })
			if err := w.PutDept(&d); err != nil {
				return err
			}
		}
	}
	return nil
}

// Dept is a department (nil if there is none).
func (w *Writer) Dept(id int64) (*Dept, error) {
	var d Dept
	err := w.tx.GetJSON(w.o.keys.Dept(id), &d)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// MustDept is a department, or the not_found error naming it and the org.
func (w *Writer) MustDept(id int64) (*Dept, error) {
	d, err := w.Dept(id)
	if err == nil && d == nil {
		err = w.o.NotFound("department", strconv.FormatInt(id, 10))
	}
	return d, err
}

// PutDept writes a department.
func (w *Writer) PutDept(d *Dept) error {
	if err := w.o.checkDeptID(d.DeptID); err != nil {
		return err
	}
	if d.Leaders == nil {
		d.Leaders = []string{}
	}
	return w.tx.SetJSON(w.o.keys.Dept(d.DeptID), d)
}

// DeleteDept deletes a department and what it was granted.
func (w *Writer) DeleteDept(id int64) error {
	if _, err := w.tx.Delete(w.o.keys.Dept(id)); err != nil {
		return err
	}
	_, err := w.tx.Delete(w.o.keys.DeptRole(id))
	return err
}

// Depts are every department, by id.
func (w *Writer) Depts() ([]Dept, error) {
	var out []Dept
	var bad error
	err := w.tx.Scan(w.o.keys.Depts(), func(_, raw string) bool {
		var d Dept
		if bad = jsonUnmarshal(raw, &d); bad != nil {
			return false
		}
		out = append(out, d)
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

// MembersIn are the ids of the members (active or not) in a department.
func (w *Writer) MembersIn(deptID int64) ([]string, error) {
	var out []string
	err := scanMembers(w.tx, w.o.keys, func(id, raw string) bool {
		if slices.Contains(intsOf(MemberField(raw, fDeptIDs)), deptID) {
			out = append(out, id)
		}
		return true
	})
	return out, err
}

// CountMembers is how many members the org has.
func (w *Writer) CountMembers() (int, error) {
	n := 0
	err := scanMembers(w.tx, w.o.keys, func(string, string) bool { n++; return true })
	return n, err
}

// GrantRoles adds roles to a member's direct grants (declared or created roles only).
func (w *Writer) GrantRoles(memberID string, roleIDs []string) error {
	roles := w.o.rolesRead(w.tx)
	if err := w.o.checkRolesIn(roles, roleIDs); err != nil {
		return err
	}
	for _, id := range roleIDs {
		key := w.o.keys.MemberRole(memberID, id)
		if _, err := w.tx.Get(key); err == nil {
			continue
		}
		name, _ := roleNameIn(roles, id)
		if err := w.tx.SetJSON(key, MemberRoleRec{MemberID: memberID, RoleID: id, RoleName: name, CreatedAt: w.ts}); err != nil {
			return err
		}
	}
	return nil
}

// CreateRole makes a role in the org (beside the config's declared roles).
func (w *Writer) CreateRole(r Role, group string) error {
	if !elements.ValidRoleID(r.RoleID) {
		return w.o.BadArg("roleId %q must be 1 to 64 letters, digits, _ and -", r.RoleID)
	}
	if _, ok := roleNameIn(w.o.rolesRead(w.tx), r.RoleID); ok {
		return w.o.BadArg("role %q exists already", r.RoleID)
	}
	if r.Name == "" {
		r.Name = r.RoleID
	}
	return w.tx.SetJSON(w.o.keys.Role(r.RoleID), roleRec{RoleID: r.RoleID, Name: r.Name, RoleGroupID: group, Created: true})
}

// SetAdmins replaces the admin list.
func (w *Writer) SetAdmins(ids []string) error {
	return w.tx.SetJSON(w.o.keys.Admins(), Admins{MemberIDs: ids, UpdatedAt: w.ts})
}

// TakeOffline takes members offline here (by the org itself), off the admin list.
func (w *Writer) TakeOffline(ids []string) error {
	for _, id := range ids {
		m, err := w.MustMember(id)
		if err != nil {
			return err
		}
		if m.Status == StatusOffline {
			continue
		}
		m.Status, m.OfflineBy, m.OfflineAt = StatusOffline, OfflineByLocal, w.ts
		if err := w.PutMember(m); err != nil {
			return err
		}
	}
	return w.o.dropAdmins(w.tx, ids)
}

// Reactivate makes members taken offline here active again.
func (w *Writer) Reactivate(ids []string) error {
	for _, id := range ids {
		m, err := w.MustMember(id)
		if err != nil {
			return err
		}
		if m.Status == StatusActive {
			continue
		}
		m.Status, m.OfflineBy, m.OfflineAt = StatusActive, "", ""
		if err := w.PutMember(m); err != nil {
			return err
		}
	}
	return nil
}

// ---- roles made in the org ----

// createdRoles is the roles made in the org, as of a generation of its keys.
type createdRoles struct {
	version uint64
	roles   []Role
}

// roleList is the declared roles, then those made in the org (createRole), as of the
// store's last commit; read with tx when the caller is in a read transaction (nil: its
// own), never within a write (see rolesRead).
func (o *Directory) roleList(tx *kv.Tx) []Role {
	v := o.store.Generation(o.keys.prefix)
	cr := o.created.Load()
	if cr == nil || cr.version != v {
		cr = &createdRoles{version: v}
		read := func(tx *kv.Tx) error { cr.roles = o.createdIn(tx); return nil }
		if tx != nil {
			read(tx)
		} else {
			o.store.View(read)
		}
		o.created.Store(cr)
	}
	return o.withCreated(cr.roles)
}

// rolesRead is roleList as a transaction sees it, its own writes included (not cached).
func (o *Directory) rolesRead(tx *kv.Tx) []Role { return o.withCreated(o.createdIn(tx)) }

// createdIn reads the roles made in the org.
func (o *Directory) createdIn(tx *kv.Tx) []Role {
	var out []Role
	tx.Scan(o.keys.Roles(), func(key, raw string) bool {
		var r roleRec
		if jsonUnmarshal(raw, &r) == nil && r.Created {
			out = append(out, Role{RoleID: r.RoleID, Name: r.Name})
		}
		return true
	})
	return out
}

// withCreated is the declared roles, then the created ones not declared.
func (o *Directory) withCreated(created []Role) []Role {
	if len(created) == 0 {
		return o.declared
	}
	out := slices.Clone(o.declared)
	for _, r := range created {
		if !slices.ContainsFunc(out, func(d Role) bool { return d.RoleID == r.RoleID }) {
			out = append(out, r)
		}
	}
	return out
}
