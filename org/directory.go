package org

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/tidwall/gjson"
)

func str(name string) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindString, Required: true}
}

func list(name string) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindArray, Required: true}
}

// needsLocalOrg are the methods that read or write the local org: before initCorp, each
// answers the same failed_precondition error.
var needsLocalOrg = map[string]bool{
	"getLocalCorpData": true, "getRootDept": true, "setUserRole": true, "offlineMember": true, "reactivateMember": true,
	"getUserSignature": true, "saveUserSignature": true, "setAdmin": true, "getAdmin": true, "getDeptMembers": true,
	"getMember": true, "getMemberRoles": true, "setDeptRole": true, "getDeptRole": true,
	"getDeptTree": true, "listMembers": true,
}

// requireLocalOrg is the error of a corp that has no local org yet.
func (o *Directory) RequireInit() error {
	// an org seen initialized stays so until the store commits again (a restore, a
	// replica's catch-up): every read method asks, and most reads come between writes
	commits := o.store.Commits()
	if o.initAt.Load() == commits+1 {
		return nil
	}
	if _, err := o.store.Get(o.keys.Meta()); errors.Is(err, kv.ErrNotFound) {
		return o.NotInitialized()
	} else if err != nil {
		return err
	}
	o.initAt.Store(commits + 1)
	return nil
}

// JSONValue turns a Go value into the JSON-shaped value scripts see.
func JSONValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

func (o *Directory) Label() string { return fmt.Sprintf("%s (corpId %s)", o.name, o.corpID) }

func (o *Directory) NotFound(kind, id string) error {
	return &elements.Error{Code: elements.CodeNotFound, Err: elements.ErrNotFound,
		Message: fmt.Sprintf("no %s %q in corp %s", kind, id, o.Label())}
}

func (o *Directory) BadArg(format string, args ...any) error {
	return &elements.Error{Code: elements.CodeInvalidArgument, Err: elements.ErrInvalidArgument,
		Message: fmt.Sprintf(format, args...) + " (corp " + o.Label() + ")"}
}

// CheckMemberID refuses what is not a member id of the provider (which no member has), so
// that no key of the org can be made from it.
func (o *Directory) CheckMemberID(id string) error {
	if !o.profile.ValidMemberID(id) {
		return o.BadArg("member id %q is not a %s (%s)", id, o.profile.MemberIDName, o.profile.MemberIDRule)
	}
	return nil
}

func (o *Directory) NotInitialized() error {
	return &elements.Error{Code: elements.CodeFailedPrecondition,
		Message: fmt.Sprintf("corp %s has no local org yet: call initCorp() first", o.Label())}
}

// syncHistory returns the kept sync reports, newest first: those in the store and those of
// syncs that wrote nothing, kept in memory.
func (o *Directory) SyncHistory(ctx context.Context, limit int, withChanges bool, startedAt string) ([]any, error) {
	raws := o.QuietReports()
	// the last no-change sync of any process, kept as a note (it wrote no state)
	nctx, cancel := context.WithTimeout(ctx, kv.BehindCheckTimeout)
	if raw, err := o.store.Note(nctx, o.keys.QuietSync()); err == nil && !slices.Contains(raws, raw) {
		raws = append(raws, raw)
	}
	cancel()
	err := o.store.View(func(tx *kv.Tx) error {
		return tx.Scan(o.keys.Syncs(), func(_, v string) bool { raws = append(raws, v); return true })
	})
	if err != nil {
		return nil, err
	}
	started := func(raw string) string { return gjson.Get(raw, "startedAt").Str }
	slices.SortStableFunc(raws, func(a, b string) int { return strings.Compare(started(b), started(a)) })
	if startedAt != "" {
		raws = slices.DeleteFunc(raws, func(raw string) bool { return started(raw) != startedAt })
	}
	if limit <= 0 || limit > MaxHistory {
		limit = MaxHistory
	}
	raws = raws[:min(len(raws), limit)]
	out := make([]any, 0, len(raws))
	for _, raw := range raws {
		if !withChanges { // a list of reports need not decode thousands of changes
			ch := gjson.Get(raw, "changes")
			if ch.Exists() && ch.Index > 0 {
				n := ch.Get("#").Int()
				raw = raw[:ch.Index] + "[]" + raw[ch.Index+len(ch.Raw):]
				raw, _ = addNumberField(raw, "changeCount", n)
			}
		}
		var r map[string]any
		if json.Unmarshal([]byte(raw), &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// addNumberField adds a number field at the end of a JSON object.
func addNumberField(raw, key string, n int64) (string, bool) {
	i := strings.LastIndexByte(raw, '}')
	if i < 0 {
		return raw, false
	}
	return raw[:i] + `,"` + key + `":` + strconv.FormatInt(n, 10) + raw[i:], true
}

// localCorpData is the local org. Its member lists are read item by item, so that a
// script that counts 100,000 members, or reads each one's name, does not first build
// 100,000 objects.
func (o *Directory) localCorpData() (any, error) {
	var users []string
	var depts, tags, memberRoles, sigs jsonList
	var admins Admins
	var deptRoles []any
	err := o.store.View(func(tx *kv.Tx) error {
		if err := scanMembers(tx, o.keys, func(_, raw string) bool { users = append(users, raw); return true }); err != nil {
			return err
		}
		collect := func(prefix string, dst *jsonList) error {
			return tx.Scan(prefix, func(_, v string) bool {
				*dst = append(*dst, v)
				return true
			})
		}
		for prefix, dst := range map[string]*jsonList{o.keys.Depts(): &depts, o.keys.Tags(): &tags,
			o.keys.AllMemberRoles(): &memberRoles, o.keys.prefix + "sig:": &sigs} {
			if err := collect(prefix, dst); err != nil {
				return err
			}
		}
		if err := tx.GetJSON(o.keys.Admins(), &admins); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		var err error
		deptRoles, err = o.deptRoleList(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	declaredRoles := o.roleList(nil)
	roles := make([]any, len(declaredRoles))
	for i, r := range declaredRoles {
		roles[i] = map[string]any{"roleId": r.RoleID, "name": r.Name}
	}
	adminIDs := make([]any, len(admins.MemberIDs))
	for i, id := range admins.MemberIDs {
		adminIDs[i] = id
	}
	nonNil := func(l jsonList) jsonList {
		if l == nil {
			return jsonList{}
		}
		return l
	}
	return map[string]any{"userList": memberList{users, &o.profile}, "deptList": nonNil(depts), "deptRoleList": deptRoles, "thirdAuthList": authList{o.corpID, users},
		"tagList": nonNil(tags), "roleMemberList": nonNil(memberRoles), "signatureList": nonNil(sigs), "adminList": adminIDs,
		"roleList": roles}, nil
}

func (o *Directory) rootDept() (any, error) {
	var meta Meta
	var d Dept
	err := o.store.View(func(tx *kv.Tx) error {
		if err := tx.GetJSON(o.keys.Meta(), &meta); err != nil {
			return err
		}
		return tx.GetJSON(o.keys.Dept(meta.RootDeptID), &d)
	})
	if errors.Is(err, kv.ErrNotFound) {
		return nil, o.NotInitialized()
	}
	if err != nil {
		return nil, err
	}
	leaders := make([]any, len(d.Leaders))
	for i, l := range d.Leaders {
		leaders[i] = l
	}
	return elements.NewRowData("deptId", float64(d.DeptID), "name", d.Name, "parentId", float64(d.ParentID),
		"order", float64(d.Order), "leaders", leaders), nil
}

// dedupe returns ids without repeats, in first-seen order, or an error for an empty list.
func (o *Directory) dedupe(name string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, o.BadArg("%s is empty: give at least one id", name)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			return nil, o.BadArg("%s holds an empty id", name)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// dedupeOrNone is dedupe that takes an empty list as none (a list cleared).
func (o *Directory) dedupeOrNone(name string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return []string{}, nil
	}
	return o.dedupe(name, ids)
}

// offlineBy says who took a member offline, for messages.
func offlineBy(m *Member) string {
	if m.OfflineBy == OfflineByLocal {
		return "offlineMember"
	}
	return "a sync (the platform no longer lists them)"
}

// members reads members by id; any unknown id is an error naming it and the corp.
func (o *Directory) membersByID(tx *kv.Tx, ids []string) ([]*Member, error) {
	out := make([]*Member, len(ids))
	for _, id := range ids {
		if err := o.CheckMemberID(id); err != nil {
			return nil, err
		}
	}
	for i, id := range ids {
		raw, ok, err := GetMember(tx, o.keys, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, o.NotFound("member", id)
		}
		if out[i], err = DecodeMember(raw); err != nil {
			return nil, fmt.Errorf("member %q of corp %s: %w", id, o.Label(), err)
		}
	}
	return out, nil
}

func (o *Directory) setUserRole(ctx context.Context, memberID string, roleIDs []string) (any, error) {
	roleIDs, err := o.dedupeOrNone("roleIdList", roleIDs) // [] takes every direct role away
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	all := o.roleList(nil)
	declared := make([]string, len(all))
	for i, r := range all {
		names[r.RoleID] = r.Name
		declared[i] = r.RoleID
	}
	for _, id := range roleIDs {
		if _, ok := names[id]; !ok {
			return nil, o.BadArg("role %q is not declared (declared roles: %s; declare roles in %s)", id, strings.Join(declared, ", "), o.configPath)
		}
	}
	unlock, err := o.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var rows []MemberRoleRec
	err = o.update(ctx, func(tx *kv.Tx) error {
		if _, err := tx.Get(o.keys.Meta()); errors.Is(err, kv.ErrNotFound) {
			return o.NotInitialized()
		}
		members, err := o.membersByID(tx, []string{memberID})
		if err != nil {
			return err
		}
		if m := members[0]; m.Status != StatusActive && len(roleIDs) > 0 {
			return elements.Errorf(elements.CodeFailedPrecondition, "member %q of %s is offline (taken offline by %s at %s) and holds no roles: reactivate them first (reactivateMember)",
				memberID, o.name, offlineBy(m), m.OfflineAt)
		}
		existing := map[string]MemberRoleRec{}
		var stale []string
		tx.Scan(o.keys.MemberRoles(memberID), func(k, v string) bool {
			var r MemberRoleRec
			json.Unmarshal([]byte(v), &r)
			existing[r.RoleID] = r
			if !slices.Contains(roleIDs, r.RoleID) {
				stale = append(stale, k)
			}
			return true
		})
		for _, k := range stale {
			if _, err := tx.Delete(k); err != nil {
				return err
			}
		}
		for _, id := range roleIDs {
			r, ok := existing[id]
			if !ok || r.RoleName != names[id] {
				r = MemberRoleRec{MemberID: memberID, RoleID: id, RoleName: names[id], CreatedAt: Now()}
				if ok {
					r.CreatedAt = existing[id].CreatedAt
				}
				if err := tx.SetJSON(o.keys.MemberRole(memberID, id), r); err != nil {
					return err
				}
			}
			rows = append(rows, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return JSONValue(rows)
}

// writeMembers checks a list of member ids (not empty, every one known) and runs fn on
// the members in one transaction under the corp's write lock; an unknown id, or an error
// from fn, writes nothing.
func (o *Directory) writeMembers(ctx context.Context, listName string, ids []string, fn func(tx *kv.Tx, ids []string, members []*Member) error) error {
	ids, err := o.dedupe(listName, ids)
	if err != nil {
		return err
	}
	unlock, err := o.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return o.update(ctx, func(tx *kv.Tx) error {
		members, err := o.membersByID(tx, ids)
		if err != nil {
			return err
		}
		return fn(tx, ids, members)
	})
}

func (o *Directory) offlineMembers(ctx context.Context, ids []string) error {
	return o.writeMembers(ctx, "memberIdList", ids, func(tx *kv.Tx, _ []string, members []*Member) error {
		ts := Now()
		for _, m := range members {
			if m.Status == StatusOffline {
				continue
			}
			m.Status, m.OfflineBy, m.OfflineAt, m.UpdatedAt = StatusOffline, OfflineByLocal, ts, ts
			if err := tx.Set(o.keys.Member(m.MemberID), EncodeMember(m)); err != nil {
				return err
			}
		}
		return o.dropAdmins(tx, ids)
	})
}

// reactivateMembers undoes offlineMember. A member who went offline because the platform
// no longer lists them is refused: a sync brings them back once it lists them again.
func (o *Directory) reactivateMembers(ctx context.Context, ids []string) error {
	return o.writeMembers(ctx, "memberIdList", ids, func(tx *kv.Tx, _ []string, members []*Member) error {
		ts := Now()
		for _, m := range members {
			switch {
			case m.Status == StatusActive:
				continue
			case m.OfflineBy != OfflineByLocal:
				return o.BadArg("member %q left %s (a sync took them offline): a sync brings them back when %s lists them again", m.MemberID, o.platform(), o.platform())
			}
			m.Status, m.OfflineBy, m.OfflineAt, m.UpdatedAt = StatusActive, "", "", ts
			if err := tx.Set(o.keys.Member(m.MemberID), EncodeMember(m)); err != nil {
				return err
			}
		}
		return nil
	})
}

// dropAdmins takes members who went offline off the admin list (in the same transaction),
// so that the list stays one setAdmin would accept.
func (o *Directory) dropAdmins(tx *kv.Tx, offline []string) error {
	var a Admins
	if err := tx.GetJSON(o.keys.Admins(), &a); errors.Is(err, kv.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	kept := slices.DeleteFunc(slices.Clone(a.MemberIDs), func(id string) bool { return slices.Contains(offline, id) })
	if len(kept) == len(a.MemberIDs) {
		return nil
	}
	return tx.SetJSON(o.keys.Admins(), Admins{MemberIDs: kept, UpdatedAt: Now()})
}

func (o *Directory) signature(memberID string) (any, error) {
	var sig SigRec
	err := o.store.View(func(tx *kv.Tx) error {
		if _, err := o.membersByID(tx, []string{memberID}); err != nil {
			return err
		}
		err := tx.GetJSON(o.keys.Sig(memberID), &sig)
		if errors.Is(err, kv.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var s any
	if sig.Signature != "" {
		s = sig.Signature
	}
	return map[string]any{"memberId": memberID, "signature": s}, nil
}

func (o *Directory) saveSignature(ctx context.Context, memberID, signature string) (any, error) {
	// "" clears the signature
	if u, err := url.Parse(signature); signature != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return nil, o.BadArg("signature %q is not an http(s) URL of the signature image (\"\" clears it)", signature)
	}
	unlock, err := o.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec := SigRec{MemberID: memberID, Signature: signature, UpdatedAt: Now()}
	err = o.update(ctx, func(tx *kv.Tx) error {
		if _, err := o.membersByID(tx, []string{memberID}); err != nil {
			return err
		}
		if signature == "" {
			_, err := tx.Delete(o.keys.Sig(memberID))
			if errors.Is(err, kv.ErrNotFound) {
				err = nil
			}
			return err
		}
		return tx.SetJSON(o.keys.Sig(memberID), rec)
	})
	if err != nil {
		return nil, err
	}
	var saved any = signature
	if signature == "" {
		saved = nil // as getUserSignature says of a member without one
	}
	return map[string]any{"success": true, "memberId": memberID, "signature": saved, "updatedAt": rec.UpdatedAt}, nil
}

func (o *Directory) setAdmins(ctx context.Context, ids []string) error {
	if len(ids) == 0 { // [] clears the admins
		unlock, err := o.Lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		return o.update(ctx, func(tx *kv.Tx) error {
			return tx.SetJSON(o.keys.Admins(), Admins{MemberIDs: []string{}, UpdatedAt: Now()})
		})
	}
	return o.writeMembers(ctx, "memberIdList", ids, func(tx *kv.Tx, ids []string, members []*Member) error {
		for _, m := range members {
			if m.Status != StatusActive {
				return o.BadArg("member %q is offline and cannot be an admin", m.MemberID)
			}
		}
		return tx.SetJSON(o.keys.Admins(), Admins{MemberIDs: ids, UpdatedAt: Now()})
	})
}

// admins returns the admins' ids. It is a hot read (dashboards poll it), so the list is
// kept in memory for as long as nothing has been committed to the store since it was read.
func (o *Directory) admins() (any, error) {
	if cached := o.adminCache.Load(); cached != nil && cached.version == o.store.Generation(o.keys.prefix) {
		return slices.Clone(cached.ids), nil
	}
	var ids []any
	var v uint64
	err := o.store.View(func(tx *kv.Tx) error {
		v = tx.Generation(o.keys.prefix)
		raw, err := tx.Get(o.keys.Admins())
		if err != nil {
			return err
		}
		for _, id := range gjson.Get(raw, "memberIds").Array() {
			// only active members: an admin who went offline is no longer one
			if m, ok, err := GetMember(tx, o.keys, id.String()); err != nil {
				return err
			} else if ok && MemberField(m, fStatus).String() == StatusActive {
				ids = append(ids, id.String())
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		return nil, err
	}
	if ids == nil {
		ids = []any{}
	}
	o.adminCache.Store(&adminCache{version: v, ids: ids})
	return slices.Clone(ids), nil
}

// adminCache is the admin list as of a count of the store's commits.
type adminCache struct {
	version uint64
	ids     []any
}

// Counts are the org's counts and state: members, departments, tags, admins, the last sync.
func (o *Directory) Counts(ctx context.Context) (map[string]any, error) {
	d := map[string]any{}
	var meta Meta
	counts := map[string]int{}
	var last string
	err := o.store.View(func(tx *kv.Tx) error {
		if err := tx.GetJSON(o.keys.Meta(), &meta); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		n, active, err := o.memberCounts(tx)
		if err != nil {
			return err
		}
		counts["members"], counts["activeMembers"] = n, active
		for name, prefix := range map[string]string{"departments": o.keys.Depts(), "tags": o.keys.Tags()} {
			tx.Scan(prefix, func(string, string) bool { counts[name]++; return true })
		}
		var a Admins
		if err := tx.GetJSON(o.keys.Admins(), &a); err == nil {
			counts["admins"] = len(a.MemberIDs)
		}
		return nil
	})
	if hist, herr := o.SyncHistory(ctx, 1, false, ""); herr == nil && len(hist) > 0 {
		last, _ = hist[0].(map[string]any)["finishedAt"].(string)
	}
	if err != nil {
		return nil, err
	}
	d["initialized"] = meta.Initialized
	d["rootDeptId"] = float64(meta.RootDeptID)
	for _, k := range []string{"members", "activeMembers", "departments", "tags", "admins"} {
		d[k] = float64(counts[k])
	}
	d["offlineMembers"] = float64(counts["members"] - counts["activeMembers"])
	if last != "" {
		d["lastSyncAt"] = last
	} else {
		d["lastSyncAt"] = nil
	}
	d["fetchPath"] = meta.Path
	return d, nil
}

// deptMembers lists a department's active members, through an index of the members by
// department kept in memory for as long as nothing has been committed to the store.
func (o *Directory) deptMembers(deptID int64) (any, error) {
	out := []any{}
	err := o.store.View(func(tx *kv.Tx) error {
		if _, err := tx.Get(o.keys.Dept(deptID)); errors.Is(err, kv.ErrNotFound) {
			return o.NotFound("department", strconv.FormatInt(deptID, 10))
		}
		ix, err := o.index(tx)
		if err != nil {
			return err
		}
		for _, raw := range ix.byDept[deptID] {
			f := gjson.GetMany(raw, strconv.Itoa(fMemberID), strconv.Itoa(fName), "8", "10")
			out = append(out, map[string]any{"memberId": f[0].Str, "name": f[1].Str, "mainDeptId": f[2].Num, "position": f[3].Str})
		}
		return nil
	})
	return out, err
}

// memberCounts counts the members and the active ones.
func (o *Directory) memberCounts(tx *kv.Tx) (total, active int, err error) {
	ix, err := o.index(tx)
	if err != nil {
		return 0, 0, err
	}
	return ix.total, ix.active, nil
}

// memberIndex is what the corp knows of its members beyond their records, as of a count of
// the store's commits.
type memberIndex struct {
	version       uint64
	total, active int
	byDept        map[int64][]string // the active members' records by department, in id order
	multi         []multiEntry       // the departments of each active member in more than one, as built
	multiNow      map[string][]int64 // since built, a changed member's (nil: in one department, or not active)
}

// multiEntry is an active member in more than one department.
type multiEntry struct {
	id    string
	depts []int64
}

// eachMulti calls fn with the departments of each active member in more than one.
func (ix *memberIndex) eachMulti(fn func(depts []int64)) {
	for _, e := range ix.multi {
		if _, changed := ix.multiNow[e.id]; !changed {
			fn(e.depts)
		}
	}
	for _, depts := range ix.multiNow {
		if depts != nil {
			fn(depts)
		}
	}
}

// index returns the member index as of the transaction: the one kept, brought up to date
// from the members the commits since wrote (memberDeltas), or built anew.
func (o *Directory) index(tx *kv.Tx) (*memberIndex, error) {
	v := tx.Generation(o.keys.prefix)
	kept := o.memberIx.Load()
	if kept != nil && kept.version == v {
		return kept, nil
	}
	if kept != nil {
		if deltas, ok := o.memberDeltas(tx, kept.version); ok {
			ix := kept.advance(deltas, v)
			o.memberIx.Store(ix)
			return ix, nil
		}
	}
	ix := &memberIndex{version: v, byDept: map[int64][]string{}}
	err := scanMembers(tx, o.keys, func(id, raw string) bool {
		ix.total++
		f := gjson.GetMany(raw, strconv.Itoa(fStatus), strconv.Itoa(fDeptIDs))
		if f[0].Str != StatusActive {
			return true
		}
		ix.active++
		depts := distinct(appendInts(nil, f[1]))
		for _, d := range depts {
			ix.byDept[d] = append(ix.byDept[d], raw)
		}
		if len(depts) > 1 {
			ix.multi = append(ix.multi, multiEntry{id, depts})
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	o.memberIx.Store(ix)
	return ix, nil
}

// memberDelta is a member a commit changed: its record before and after ("" if none).
type memberDelta struct {
	id       string
	old, now string
}

// isActive says whether raw is the record of an active member.
func isActive(raw string) bool {
	return raw != "" && MemberField(raw, fStatus).String() == StatusActive
}

// activeDepts are the departments of a record of an active member, each once (nil for
// another).
func activeDepts(raw string) []int64 {
	if raw == "" {
		return nil
	}
	f := gjson.GetMany(raw, strconv.Itoa(fStatus), strconv.Itoa(fDeptIDs))
	if f[0].Str != StatusActive {
		return nil
	}
	return distinct(appendInts(nil, f[1]))
}

// distinct is ids without repeats, in their first order (a department listed twice in a
// record counts once).
func distinct(ids []int64) []int64 {
	for i := 1; i < len(ids); i++ {
		if slices.Contains(ids[:i], ids[i]) {
			out := slices.Clone(ids[:i])
			for _, id := range ids[i+1:] {
				if !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
			return out
		}
	}
	return ids
}

// maxDeltas is how many members' changes a view is brought up to date with, rather than
// built anew.
const maxDeltas = 1000

// memberDeltas are the members the commits since generation since changed, from the
// store's log of them (kv.Store.Changes), when that is all that changed for the views:
// false if it is not known, if the chunks or the departments changed, or if too many.
func (o *Directory) memberDeltas(tx *kv.Tx, since uint64) ([]memberDelta, bool) {
	changes, ok := o.store.Changes(o.keys.prefix, since)
	if !ok {
		return nil, false
	}
	k := o.keys
	var deltas []memberDelta
	seen := map[string]bool{}
	for _, c := range changes {
		rest, isMember := strings.CutPrefix(c.Key, k.Members())
		switch {
		case strings.HasPrefix(c.Key, k.Chunks()), strings.HasPrefix(c.Key, k.Depts()), c.Key == k.Meta():
			return nil, false // the members folded anew, or the tree changed
		case !isMember:
			continue // a key the views do not read
		}
		id := Unesc(rest)
		if seen[id] {
			continue // the first change says what it was before
		}
		seen[id] = true
		if len(deltas) == maxDeltas {
			return nil, false
		}
		d := memberDelta{id: id}
		if c.HadPrev {
			d.old = c.Prev
		} else if old, found, err := chunkRecord(tx, k, id); err != nil {
			return nil, false
		} else if found {
			d.old = old // its single record was its first: it was in its chunk, unchanged
		}
		now, found, err := GetMember(tx, k, id)
		if err != nil {
			return nil, false
		}
		if found {
			d.now = now
		}
		deltas = append(deltas, d)
	}
	return deltas, true
}

// advance is the index with the deltas applied, as of generation v; the index it was
// is not changed (readers may hold it).
func (ix *memberIndex) advance(deltas []memberDelta, v uint64) *memberIndex {
	next := *ix
	next.version = v
	if len(deltas) == 0 {
		return &next
	}
	next.byDept = maps.Clone(ix.byDept)
	next.multiNow = maps.Clone(ix.multiNow)
	if next.multiNow == nil {
		next.multiNow = map[string][]int64{}
	}
	copied := map[int64]bool{}
	list := func(d int64) []string {
		if !copied[d] {
			copied[d] = true
			next.byDept[d] = slices.Clone(next.byDept[d])
		}
		return next.byDept[d]
	}
	byID := func(raw string, id string) int { return strings.Compare(recordID(raw), id) }
	for _, d := range deltas {
		if d.old != "" {
			next.total--
		}
		if d.now != "" {
			next.total++
		}
		oldDepts, nowDepts := activeDepts(d.old), activeDepts(d.now)
		if isActive(d.old) {
			next.active--
			for _, dept := range oldDepts {
				l := list(dept)
				if i, found := slices.BinarySearchFunc(l, d.id, byID); found {
					next.byDept[dept] = slices.Delete(l, i, i+1)
				}
			}
		}
		if isActive(d.now) {
			next.active++
			for _, dept := range nowDepts {
				l := list(dept)
				i, found := slices.BinarySearchFunc(l, d.id, byID)
				if found {
					l[i] = d.now
				} else {
					next.byDept[dept] = slices.Insert(l, i, d.now)
				}
			}
		}
		if len(oldDepts) > 1 || len(nowDepts) > 1 {
			if len(nowDepts) > 1 {
				next.multiNow[d.id] = nowDepts
			} else {
				next.multiNow[d.id] = nil
			}
		}
	}
	return &next
}

func num(name string, required bool) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindNumber, Required: required}
}
