package org

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
)

// Org is what the instance of every corp Type is, whichever platform it is kept in step
// with (or none): how the console, logins and the CLI find an org and read it, by what it
// is rather than by method names.
type Org interface {
	// Directory is the org's records.
	Directory() *Directory
	// Info is the corp's configuration as getCorpInfo answers it (never a secret).
	Info() map[string]any
	// Sync brings the org in step with its platform ({dryRun} lists the changes and writes
	// nothing); an org kept in the app answers that it has nothing to sync.
	Sync(ctx context.Context, dryRun bool) (*SyncReport, error)
}

// Instances is the part of the running app that hands out element instances: the
// runtime's entry (elements.AppHandle and runtime.App have it).
type Instances interface {
	// Instance is an element's instance (the registered Type's, beneath the JS of its Type
	// chain), held as a call holds it until release is called.
	Instance(fullName string) (inst elements.Instance, release func(), err error)
}

// Of is the org a corp element is, held until release is called; an element that is not
// an org is an invalid_argument error naming it.
func Of(app Instances, fullName string) (Org, func(), error) {
	inst, release, err := app.Instance(fullName)
	if err != nil {
		return nil, nil, err
	}
	o, ok := inst.(Org)
	if !ok {
		release()
		return nil, nil, elements.Errorf(elements.CodeInvalidArgument, "element %s is not an org (a corps Type element)", fullName)
	}
	return o, release, nil
}

// Is reports whether an element is an org.
func Is(app Instances, fullName string) bool {
	inst, release, err := app.Instance(fullName)
	if err != nil {
		return false
	}
	defer release()
	_, ok := inst.(Org)
	return ok
}

// CorpID is the org's id on its platform (the key of its place in the store).
func (o *Directory) CorpID() string { return o.corpID }

// reshape decodes a JSON-shaped answer into a typed one.
func reshape[T any](v any, err error) (T, error) {
	var out T
	if err != nil {
		return out, err
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	return out, err
}

// Tree is a department (0: the root) with its counts and depth levels of sub-departments,
// as getDeptTree answers it.
func (o *Directory) Tree(deptID int64, depth int) (TreeDept, error) {
	if err := o.RequireInit(); err != nil {
		return TreeDept{}, err
	}
	return reshape[TreeDept](o.deptTree(deptID, min(max(depth, 0), 64)))
}

// MemberQuery is what List selects: members of a department (0: any), of a status
// (active, offline, "": any), matching a search of name and id, a page of them.
type MemberQuery struct {
	DeptID int64  `json:"deptId,omitempty"`
	Status string `json:"status,omitempty"`
	Query  string `json:"query,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Offset int    `json:"offset,omitempty"`
}

// TreeQuery is what Tree shows: a department (0: the root) and how many levels below it.
type TreeQuery struct {
	DeptID int64 `json:"deptId,omitempty"`
	Depth  int   `json:"depth"`
}

// The views Query answers.
const (
	ViewTree    = "tree"    // TreeQuery → TreeDept
	ViewMembers = "members" // MemberQuery → MemberPage
)

// Query answers one of an org's views with its arguments as JSON: what jitrt org and jitrt
// members ask, of the app in hand or of a running one through its control socket.
func Query(app Instances, element, view string, args json.RawMessage) (any, error) {
	if view == ViewAudit {
		return queryAudit(app, element, args)
	}
	o, release, err := Of(app, element)
	if err != nil {
		return nil, err
	}
	defer release()
	decode := func(dst any) error {
		if len(args) == 0 {
			return nil
		}
		if err := json.Unmarshal(args, dst); err != nil {
			return elements.Errorf(elements.CodeInvalidArgument, "the %s view's arguments: %v", view, err)
		}
		return nil
	}
	switch view {
	case ViewTree:
		q := TreeQuery{Depth: 1}
		if err := decode(&q); err != nil {
			return nil, err
		}
		return o.Directory().Tree(q.DeptID, q.Depth)
	case ViewMembers:
		var q MemberQuery
		if err := decode(&q); err != nil {
			return nil, err
		}
		return o.Directory().List(q)
	}
	return nil, elements.Errorf(elements.CodeInvalidArgument, "no org view %q (tree, members, audit)", view)
}

// List is a page of the members a query selects, as listMembers answers it.
func (o *Directory) List(q MemberQuery) (MemberPage, error) {
	if err := o.RequireInit(); err != nil {
		return MemberPage{}, err
	}
	return reshape[MemberPage](o.listMembers(memberQuery{deptID: q.DeptID, status: q.Status, query: q.Query, limit: q.Limit, offset: max(q.Offset, 0)}))
}

// Member is one member as getMember answers it (JSON-shaped); a member id the platform
// renamed finds the member under the new one.
func (o *Directory) Member(memberID string) (map[string]any, error) {
	if err := o.RequireInit(); err != nil {
		return nil, err
	}
	return reshape[map[string]any](o.member(memberID))
}

// Signature is a member's saved signature image URL ("" when none).
func (o *Directory) Signature(memberID string) (string, error) {
	if err := o.RequireInit(); err != nil {
		return "", err
	}
	s, err := reshape[Signature](o.signature(memberID))
	return s.Signature, err
}

// Passwords is an org that keeps its members' passwords (an org kept in the app, such as
// corps.NormalType): what a password login checks. A password is kept only as a hash.
type Passwords interface {
	// SignIn is the member a username and password belong to, and the mark of that
	// password: a session made under an older mark has ended (the password changed since).
	// A wrong username and a wrong password are the same ErrWrongPassword, in the same time.
	SignIn(ctx context.Context, username, password string) (memberID, mark string, err error)
	// PasswordMark is a member's current password mark ("" if they have no password).
	PasswordMark(memberID string) (string, error)
	// ChangePassword sets a member's password after checking their old one; it returns the
	// new mark.
	ChangePassword(ctx context.Context, memberID, oldPassword, newPassword string) (string, error)
}

// ErrWrongPassword is the error of a sign-in whose username or password is wrong (which of
// the two is not said).
var ErrWrongPassword = errors.New("wrong username or password")

// ViewAudit is the audit log of one org, or of every org of the app (element ""):
// AuditArgs select it.
const ViewAudit = "audit"

// AuditArgs are the audit view's arguments.
type AuditArgs struct {
	Member string `json:"member"`
	Since  string `json:"since"` // an RFC 3339 time or a duration back
	Limit  int    `json:"limit"`
}

// orgLister is an app that lists its elements (the runtime's App).
type orgLister interface {
	ElementsWhere(is func(elements.Instance) bool) []*elements.Element
}

// queryAudit is the audit view: the records of the org named, or of every org, newest
// first.
func queryAudit(app Instances, element string, args json.RawMessage) ([]AuditRecord, error) {
	var a AuditArgs
	if len(args) > 0 {
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, elements.Errorf(elements.CodeInvalidArgument, "the audit view's arguments: %v", err)
		}
	}
	since, err := ParseSince(a.Since, time.Now())
	if err != nil {
		return nil, elements.Errorf(elements.CodeInvalidArgument, "%v", err)
	}
	names := []string{element}
	if element == "" {
		names = nil
		if l, ok := app.(orgLister); ok {
			for _, el := range l.ElementsWhere(func(i elements.Instance) bool { _, ok := i.(Org); return ok }) {
				names = append(names, el.FullName)
			}
		}
	}
	out := []AuditRecord{}
	for _, name := range names {
		o, release, err := Of(app, name)
		if err != nil {
			return nil, err
		}
		recs, err := o.Directory().AuditLog(AuditQuery{Member: a.Member, Since: since, Limit: a.Limit})
		release()
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	slices.SortStableFunc(out, func(x, y AuditRecord) int { return strings.Compare(y.At, x.At) })
	limit := a.Limit
	if limit <= 0 {
		limit = 100
	}
	return out[:min(len(out), limit)], nil
}
