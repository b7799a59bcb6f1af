package corps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/wecom"
)

func str(name string) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindString, Required: true}
}

func list(name string) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindArray, Required: true}
}

// Methods lists the corp's methods, named as in the seed.
func (c *Corp) Methods() []elements.Method {
	ms := append([]elements.Method{
		{Name: "initCorp", Callable: true, Doc: "create the local org (roles, root department) and run a first sync",
			Call: func(ctx context.Context, _ elements.Args) (any, error) { return nil, c.InitCorp(ctx) }},
		{Name: "syncCorp", Callable: true, Doc: "sync the org from WeCom; {dryRun: true} lists the changes and writes nothing",
			Params: []elements.Param{{Name: "dryRun", Kind: elements.KindBool}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				rep, err := c.Sync(ctx, a.Bool("dryRun"))
				if err != nil {
					return nil, err
				}
				return jsonValue(rep)
			}},
		{Name: "getSyncHistory", Callable: true, Doc: "the kept sync reports, newest first: {limit} of them, {changes: false} with changeCount for the list of changes, {startedAt} the one report",
			Params: []elements.Param{num("limit", false), {Name: "changes", Kind: elements.KindBool}, {Name: "startedAt", Kind: elements.KindString}},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				limit, _, err := a.Int("limit")
				if err != nil {
					return nil, err
				}
				withChanges := true
				if v, ok := a["changes"].(bool); ok {
					withChanges = v
				}
				return c.syncHistory(int(limit), withChanges, a.String("startedAt"))
			}},
		{Name: "getThirdCorpData", Callable: true, Doc: "the live WeCom org: {deptDict, userDict, tagDict} keyed by id",
			Call: func(ctx context.Context, _ elements.Args) (any, error) { return c.thirdCorpData(ctx) }},
		{Name: "bulkRegister", Callable: true, Doc: "register every user of corpData into the local user pool (idempotent)",
			Params: []elements.Param{{Name: "corpData", Kind: elements.KindObject, Required: true}},
			Call:   func(ctx context.Context, a elements.Args) (any, error) { return nil, c.bulkRegister(a["corpData"]) }},
		{Name: "getLocalCorpData", Callable: true, Doc: "the local org: {userList, deptList, roleList, thirdAuthList, …}",
			Call: func(context.Context, elements.Args) (any, error) { return c.localCorpData() }},
		{Name: "getRootDept", Callable: true, Doc: "the root department as RowData (root.name.value)",
			Call: func(context.Context, elements.Args) (any, error) { return c.rootDept() }},
		{Name: "setUserRole", Callable: true, Doc: "set a member's roles to exactly roleIdList (declared role ids)",
			Params: []elements.Param{str("memberId"), list("roleIdList")},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				ids, err := a.Strings("roleIdList")
				if err != nil {
					return nil, err
				}
				return c.setUserRole(a.String("memberId"), ids)
			}},
		{Name: "offlineMember", Callable: true, Doc: "take members offline (离职) in this corp only",
			Params: []elements.Param{list("memberIdList")},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				ids, err := a.Strings("memberIdList")
				if err != nil {
					return nil, err
				}
				return nil, c.offlineMembers(ids)
			}},
		{Name: "reactivateMember", Callable: true, Doc: "undo offlineMember: members taken offline here are active again (a sync keeps them so while WeCom lists them)",
			Params: []elements.Param{list("memberIdList")},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				ids, err := a.Strings("memberIdList")
				if err != nil {
					return nil, err
				}
				return nil, c.reactivateMembers(ids)
			}},
		{Name: "getUserSignature", Callable: true, Doc: "a member's signature: {memberId, signature}",
			Params: []elements.Param{str("memberId")},
			Call:   func(_ context.Context, a elements.Args) (any, error) { return c.signature(a.String("memberId")) }},
		{Name: "saveUserSignature", Callable: true, Doc: "save a member's signature image URL (http or https)",
			Params: []elements.Param{str("memberId"), str("signature")},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				return c.saveSignature(a.String("memberId"), a.String("signature"))
			}},
		{Name: "setAdmin", Callable: true, Doc: "set the org's admins (组织负责人, 管理员)",
			Params: []elements.Param{list("memberIdList")},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				ids, err := a.Strings("memberIdList")
				if err != nil {
					return nil, err
				}
				return map[string]any{}, c.setAdmins(ids)
			}},
		{Name: "getAdmin", Callable: true, Doc: "the admins' member ids",
			Call: func(context.Context, elements.Args) (any, error) { return c.admins() }},
		{Name: "getDeptMembers", Callable: true, Doc: "the active members of a department: [{memberId, name, mainDeptId}]",
			Params: []elements.Param{num("deptId", true)},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				id, _, err := a.Int("deptId")
				if err != nil {
					return nil, err
				}
				if id < 1 || id > wecom.MaxDeptID {
					return nil, c.badArg("deptId %d is not a WeCom department id (1 to %d)", id, int64(wecom.MaxDeptID))
				}
				return c.deptMembers(id)
			}},
		{Name: "getCorpInfo", Callable: true, Doc: "the corp's configuration, never the secret",
			Call: func(context.Context, elements.Args) (any, error) { return c.corpInfo(), nil }},
		{Name: "getClient", Doc: "the WeCom API client of the corp",
			Call: func(context.Context, elements.Args) (any, error) {
				cl, err := c.wecomClient()
				if err != nil {
					return nil, err
				}
				return &clientObject{c: c, cl: cl}, nil
			}},
	}, slices.Concat(c.roleMethods(), c.viewMethods(), c.callbackMethods())...)
	for i := range ms {
		ms[i].Result = methodResults[ms[i].Name]
		if needsLocalOrg[ms[i].Name] {
			call := ms[i].Call
			ms[i].Call = func(ctx context.Context, a elements.Args) (any, error) {
				if err := c.requireLocalOrg(); err != nil {
					return nil, err
				}
				return call(ctx, a)
			}
		}
	}
	return ms
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
func (c *Corp) requireLocalOrg() error {
	if _, err := c.el.Store.Get(c.keys.meta()); errors.Is(err, kv.ErrNotFound) {
		return c.notInitialized()
	} else if err != nil {
		return err
	}
	return nil
}

// Properties lists the corp's properties.
func (c *Corp) Properties() []elements.Property {
	return []elements.Property{
		{Name: "title", Get: func() any { return c.el.Title }},
		{Name: "fullName", Get: func() any { return c.el.FullName }},
		{Name: "corpFullName", Doc: "alias of fullName", Get: func() any { return c.el.FullName }},
		{Name: "authConfig", Doc: "corpId, agentId and the secret masked", Get: func() any { return c.authConfig() }},
		{Name: "corpData", Doc: "the org's configuration and counts", Get: func() any {
			d, err := c.corpData()
			if err != nil {
				return map[string]any{"error": err.Error()}
			}
			return d
		}},
	}
}

// jsonValue turns a Go value into the JSON-shaped value scripts see.
func jsonValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// ---- errors ----

func (c *Corp) corpName() string { return fmt.Sprintf("%s (corpId %s)", c.el.FullName, c.cfg.CorpID) }

func (c *Corp) notFound(kind, id string) error {
	return &elements.Error{Code: elements.CodeNotFound, Err: elements.ErrNotFound,
		Message: fmt.Sprintf("no %s %q in corp %s", kind, id, c.corpName())}
}

func (c *Corp) badArg(format string, args ...any) error {
	return &elements.Error{Code: elements.CodeInvalidArgument, Err: elements.ErrInvalidArgument,
		Message: fmt.Sprintf(format, args...) + " (corp " + c.corpName() + ")"}
}

// checkUserID refuses a member id that is not a WeCom userid (which no member has), so
// that no key of the org can be made from it.
func (c *Corp) checkUserID(id string) error {
	if !wecom.ValidUserID(id) {
		return c.badArg("member id %q is not a WeCom userid (%s)", id, wecom.UserIDRule)
	}
	return nil
}

func (c *Corp) notInitialized() error {
	return &elements.Error{Code: elements.CodeFailedPrecondition,
		Message: fmt.Sprintf("corp %s has no local org yet: call initCorp() first", c.corpName())}
}

// wecomErr explains a failed WeCom call, naming the corp; the code is wecom_<errcode>.
func (c *Corp) wecomErr(op string, err error) error {
	code := elements.CodeUnavailable
	if n := wecom.CodeOf(err); n != 0 {
		code = "wecom_" + strconv.Itoa(n)
	} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		code = elements.CodeTimeout
	}
	return &elements.Error{Code: code, Err: err, Message: fmt.Sprintf("%s of %s: %v", op, c.corpName(), err)}
}

// ---- methods ----

// InitCorp creates the local org (declared roles, departments with the root) with a first
// sync; calling it again re-syncs.
func (c *Corp) InitCorp(ctx context.Context) error {
	_, err := c.runSync(ctx, false, true)
	return err
}

// syncHistory returns the kept sync reports, newest first: those in the store and those of
// syncs that wrote nothing, kept in memory.
func (c *Corp) syncHistory(limit int, withChanges bool, startedAt string) ([]any, error) {
	raws := c.quietReports()
	err := c.el.Store.View(func(tx *kv.Tx) error {
		return tx.Scan(c.keys.syncs(), func(_, v string) bool { raws = append(raws, v); return true })
	})
	if err != nil {
		return nil, err
	}
	started := func(raw string) string { return gjson.Get(raw, "startedAt").Str }
	slices.SortStableFunc(raws, func(a, b string) int { return strings.Compare(started(b), started(a)) })
	if startedAt != "" {
		raws = slices.DeleteFunc(raws, func(raw string) bool { return started(raw) != startedAt })
	}
	if limit <= 0 || limit > maxHistory {
		limit = maxHistory
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

func (c *Corp) thirdCorpData(ctx context.Context) (any, error) {
	client, err := c.wecomClient()
	if err != nil {
		return nil, err
	}
	org, err := client.FetchOrg(ctx, wecom.FetchOptions{Scope: c.cfg.Scope, Progress: elements.ProgressFrom(ctx)})
	if err != nil {
		return nil, c.wecomErr("getThirdCorpData", err)
	}
	depts := make(map[string]any, len(org.Departments))
	for _, d := range org.Departments {
		depts[strconv.FormatInt(d.ID, 10)] = d
	}
	users := make(map[string]any, len(org.Users))
	for _, u := range org.Users {
		users[u.UserID] = u
	}
	tags := make(map[string]any, len(org.Tags))
	for _, t := range org.Tags {
		tags[strconv.FormatInt(t.TagID, 10)] = t
	}
	out, err := jsonValue(map[string]any{"deptDict": depts, "userDict": users, "tagDict": tags})
	if err != nil {
		return nil, err
	}
	m := out.(map[string]any)
	m["withheld"] = org.Withheld
	return m, nil
}

// bulkRegister adds or updates every member (and department, tag) of corpData — the shape
// getThirdCorpData returns — without taking anyone offline.
func (c *Corp) bulkRegister(data any) error {
	var cd struct {
		DeptDict map[string]wecom.Department `json:"deptDict"`
		UserDict map[string]wecom.User       `json:"userDict"`
		TagDict  map[string]wecom.TagDetail  `json:"tagDict"`
		Withheld []string                    `json:"withheld"`
	}
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, &cd)
	}
	if err != nil {
		return c.badArg("corpData is not the shape getThirdCorpData returns ({deptDict, userDict, tagDict}): %s", jsonShape("corpData", err))
	}
	if cd.UserDict == nil {
		return c.badArg("corpData has no userDict: pass what getThirdCorpData returns")
	}
	org := &wecom.Org{Withheld: cd.Withheld}
	for key, u := range cd.UserDict {
		if u.UserID == "" {
			u.UserID = key
		}
		if u.UserID != key || u.Name == "" {
			return c.badArg("corpData.userDict[%q] must have userid %q and a name", key, key)
		}
		if err := c.checkUserID(key); err != nil {
			return err
		}
		for _, d := range u.Department {
			if d < 1 || d > wecom.MaxDeptID {
				return c.badArg("corpData.userDict[%q] is in department %d, which is not a WeCom department id (1 to %d)", key, d, int64(wecom.MaxDeptID))
			}
		}
		org.Users = append(org.Users, u)
	}
	for key, d := range cd.DeptDict {
		if d.ID < 1 || d.ID > wecom.MaxDeptID || (d.ParentID < 0 || d.ParentID > wecom.MaxDeptID) {
			return c.badArg("corpData.deptDict[%q] has id %d (parent %d): WeCom department ids are 1 to %d", key, d.ID, d.ParentID, int64(wecom.MaxDeptID))
		}
		org.Departments = append(org.Departments, d)
	}
	for key, t := range cd.TagDict {
		if t.TagID < 1 || t.TagID > wecom.MaxDeptID {
			return c.badArg("corpData.tagDict[%q] has id %d: WeCom tag ids are 1 to %d", key, t.TagID, int64(wecom.MaxDeptID))
		}
		org.Tags = append(org.Tags, t)
	}
	wecom.Canonicalize(org)
	unlock, err := c.lockOrg(context.Background())
	if err != nil {
		return err
	}
	defer unlock()
	snap, err := readSnapshot(c.el.Store, c.keys)
	if err != nil {
		return err
	}
	rep := &SyncReport{}
	changes := c.diffPartial(snap, org, rep)
	if err := c.el.Store.Apply(changes, nil); err != nil {
		return fmt.Errorf("bulkRegister of %s: %w", c.el.FullName, err)
	}
	c.el.Logger.Info("bulkRegister done", "added", rep.Added, "updated", rep.Updated, "reactivated", rep.Reactivated, "unchanged", rep.Unchanged)
	return nil
}

// diffPartial is diff for an org that is only part of the whole: departments known locally
// count as known, and nothing missing from it is removed or taken offline.
func (c *Corp) diffPartial(snap *snapshot, part *wecom.Org, rep *SyncReport) []kv.Change {
	merged := &wecom.Org{Users: part.Users, Tags: part.Tags, Withheld: part.Withheld}
	seen := map[int64]bool{}
	for _, d := range part.Departments {
		merged.Departments = append(merged.Departments, d)
		seen[d.ID] = true
	}
	for _, id := range slices.Sorted(maps.Keys(snap.depts)) {
		if !seen[id] {
			d := snap.depts[id]
			merged.Departments = append(merged.Departments, wecom.Department{ID: d.DeptID, Name: d.Name, NameEn: d.NameEn, ParentID: d.ParentID, Order: d.Order, Leaders: d.Leaders})
		}
	}
	wecom.Canonicalize(merged)
	fetched := map[string]bool{}
	for _, u := range part.Users {
		fetched[u.UserID] = true
	}
	// Members and tags outside the part are kept as they are.
	keep := &snapshot{depts: snap.depts, deptRaw: snap.deptRaw, decoded: snap.decoded, members: snap.members, partial: true,
		tags: map[int64]tagRec{}, tagRaw: snap.tagRaw, roles: snap.roles, meta: snap.meta, hasMeta: snap.hasMeta}
	for _, t := range part.Tags {
		if old, ok := snap.tags[t.TagID]; ok {
			keep.tags[t.TagID] = old
		}
	}
	known, root := deptContext(merged.Departments)
	members := make([]fetchedMember, len(part.Users))
	for i := range part.Users {
		members[i] = c.fetchedMember(&part.Users[i], known, root)
	}
	changes := c.diff(keep, merged, members, rep, false)
	return changes
}

// localCorpData is the local org. Its member lists are read item by item, so that a
// script that counts 100,000 members, or reads each one's name, does not first build
// 100,000 objects.
func (c *Corp) localCorpData() (any, error) {
	var users []string
	var depts, tags, memberRoles, sigs jsonList
	var admins adminsRec
	var deptRoles []any
	err := c.el.Store.View(func(tx *kv.Tx) error {
		if err := scanMembers(tx, c.keys, func(_, raw string) bool { users = append(users, raw); return true }); err != nil {
			return err
		}
		collect := func(prefix string, dst *jsonList) error {
			return tx.Scan(prefix, func(_, v string) bool {
				*dst = append(*dst, v)
				return true
			})
		}
		for prefix, dst := range map[string]*jsonList{c.keys.depts(): &depts, c.keys.tags(): &tags,
			c.keys.allMemberRoles(): &memberRoles, c.keys.prefix + "sig:": &sigs} {
			if err := collect(prefix, dst); err != nil {
				return err
			}
		}
		if err := tx.GetJSON(c.keys.admins(), &admins); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		var err error
		deptRoles, err = c.deptRoleList(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	roles := make([]any, len(c.cfg.Roles))
	for i, r := range c.cfg.Roles {
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
	return map[string]any{"userList": memberList(users), "deptList": nonNil(depts), "deptRoleList": deptRoles, "thirdAuthList": authList{c.cfg.CorpID, users},
		"tagList": nonNil(tags), "roleMemberList": nonNil(memberRoles), "signatureList": nonNil(sigs), "adminList": adminIDs,
		"roleList": roles}, nil
}

func (c *Corp) rootDept() (any, error) {
	var meta metaRec
	var d deptRec
	err := c.el.Store.View(func(tx *kv.Tx) error {
		if err := tx.GetJSON(c.keys.meta(), &meta); err != nil {
			return err
		}
		return tx.GetJSON(c.keys.dept(meta.RootDeptID), &d)
	})
	if errors.Is(err, kv.ErrNotFound) {
		return nil, c.notInitialized()
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
func (c *Corp) dedupe(name string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, c.badArg("%s is empty: give at least one id", name)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			return nil, c.badArg("%s holds an empty id", name)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// members reads members by id; any unknown id is an error naming it and the corp.
func (c *Corp) membersByID(tx *kv.Tx, ids []string) ([]*memberRec, error) {
	out := make([]*memberRec, len(ids))
	for _, id := range ids {
		if err := c.checkUserID(id); err != nil {
			return nil, err
		}
	}
	for i, id := range ids {
		raw, ok, err := getMember(tx, c.keys, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, c.notFound("member", id)
		}
		if out[i], err = decodeMember(raw); err != nil {
			return nil, fmt.Errorf("member %q of corp %s: %w", id, c.corpName(), err)
		}
	}
	return out, nil
}

func (c *Corp) setUserRole(memberID string, roleIDs []string) (any, error) {
	roleIDs, err := c.dedupe("roleIdList", roleIDs)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	declared := make([]string, len(c.cfg.Roles))
	for i, r := range c.cfg.Roles {
		names[r.RoleID] = r.Name
		declared[i] = r.RoleID
	}
	for _, id := range roleIDs {
		if _, ok := names[id]; !ok {
			return nil, c.badArg("role %q is not declared (declared roles: %s; declare roles in %s)", id, strings.Join(declared, ", "), c.el.ConfigPath)
		}
	}
	unlock, err := c.lockOrg(context.Background())
	if err != nil {
		return nil, err
	}
	defer unlock()
	var rows []memberRoleRec
	err = c.el.Store.Update(func(tx *kv.Tx) error {
		if _, err := tx.Get(c.keys.meta()); errors.Is(err, kv.ErrNotFound) {
			return c.notInitialized()
		}
		if _, err := c.membersByID(tx, []string{memberID}); err != nil {
			return err
		}
		existing := map[string]memberRoleRec{}
		var stale []string
		tx.Scan(c.keys.memberRoles(memberID), func(k, v string) bool {
			var r memberRoleRec
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
				r = memberRoleRec{MemberID: memberID, RoleID: id, RoleName: names[id], CreatedAt: now()}
				if ok {
					r.CreatedAt = existing[id].CreatedAt
				}
				if err := tx.SetJSON(c.keys.memberRole(memberID, id), r); err != nil {
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
	return jsonValue(rows)
}

// writeMembers checks a list of member ids (not empty, every one known) and runs fn on
// the members in one transaction under the corp's write lock; an unknown id, or an error
// from fn, writes nothing.
func (c *Corp) writeMembers(listName string, ids []string, fn func(tx *kv.Tx, ids []string, members []*memberRec) error) error {
	ids, err := c.dedupe(listName, ids)
	if err != nil {
		return err
	}
	unlock, err := c.lockOrg(context.Background())
	if err != nil {
		return err
	}
	defer unlock()
	return c.el.Store.Update(func(tx *kv.Tx) error {
		members, err := c.membersByID(tx, ids)
		if err != nil {
			return err
		}
		return fn(tx, ids, members)
	})
}

func (c *Corp) offlineMembers(ids []string) error {
	return c.writeMembers("memberIdList", ids, func(tx *kv.Tx, _ []string, members []*memberRec) error {
		ts := now()
		for _, m := range members {
			if m.Status == StatusOffline {
				continue
			}
			m.Status, m.OfflineBy, m.OfflineAt, m.UpdatedAt = StatusOffline, OfflineByLocal, ts, ts
			if err := tx.Set(c.keys.member(m.MemberID), encodeMember(m)); err != nil {
				return err
			}
		}
		return c.dropAdmins(tx, ids)
	})
}

// jsonShape says, in JSON's words, what part of a value does not have the shape it must:
// "corpData.userDict must be an object, not an array" (never a Go type's name).
func jsonShape(name string, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		at := name
		if te.Field != "" {
			at += "." + te.Field
		}
		return fmt.Sprintf("%s must be %s, not %s", at, jsonKindOf(te.Type), articled(te.Value))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s is not JSON at byte %d", name, se.Offset)
	}
	return name + " cannot be read"
}

// jsonKindOf names the JSON kind a Go type is read from.
func jsonKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Pointer:
		return jsonKindOf(t.Elem())
	}
	return "a number"
}

// articled is a JSON kind as encoding/json names it ("array", "number 1.5"), with its article.
func articled(v string) string {
	switch {
	case strings.HasPrefix(v, "array"), strings.HasPrefix(v, "object"):
		return "an " + v
	case v == "bool":
		return "true or false"
	}
	return "a " + v
}

// reactivateMembers undoes offlineMember. A member who went offline because WeCom no
// longer lists them is refused: a sync brings them back once WeCom lists them again.
func (c *Corp) reactivateMembers(ids []string) error {
	return c.writeMembers("memberIdList", ids, func(tx *kv.Tx, _ []string, members []*memberRec) error {
		ts := now()
		for _, m := range members {
			switch {
			case m.Status == StatusActive:
				continue
			case m.OfflineBy != OfflineByLocal:
				return c.badArg("member %q left WeCom (a sync took them offline): a sync brings them back when WeCom lists them again", m.MemberID)
			}
			m.Status, m.OfflineBy, m.OfflineAt, m.UpdatedAt = StatusActive, "", "", ts
			if err := tx.Set(c.keys.member(m.MemberID), encodeMember(m)); err != nil {
				return err
			}
		}
		return nil
	})
}

// dropAdmins takes members who went offline off the admin list (in the same transaction),
// so that the list stays one setAdmin would accept.
func (c *Corp) dropAdmins(tx *kv.Tx, offline []string) error {
	var a adminsRec
	if err := tx.GetJSON(c.keys.admins(), &a); errors.Is(err, kv.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	kept := slices.DeleteFunc(slices.Clone(a.MemberIDs), func(id string) bool { return slices.Contains(offline, id) })
	if len(kept) == len(a.MemberIDs) {
		return nil
	}
	return tx.SetJSON(c.keys.admins(), adminsRec{MemberIDs: kept, UpdatedAt: now()})
}

func (c *Corp) signature(memberID string) (any, error) {
	var sig sigRec
	err := c.el.Store.View(func(tx *kv.Tx) error {
		if _, err := c.membersByID(tx, []string{memberID}); err != nil {
			return err
		}
		err := tx.GetJSON(c.keys.sig(memberID), &sig)
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

func (c *Corp) saveSignature(memberID, signature string) (any, error) {
	u, err := url.Parse(signature)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, c.badArg("signature %q is not an http(s) URL of the signature image", signature)
	}
	unlock, err := c.lockOrg(context.Background())
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec := sigRec{MemberID: memberID, Signature: signature, UpdatedAt: now()}
	err = c.el.Store.Update(func(tx *kv.Tx) error {
		if _, err := c.membersByID(tx, []string{memberID}); err != nil {
			return err
		}
		return tx.SetJSON(c.keys.sig(memberID), rec)
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"success": true, "memberId": memberID, "signature": signature, "updatedAt": rec.UpdatedAt}, nil
}

func (c *Corp) setAdmins(ids []string) error {
	return c.writeMembers("memberIdList", ids, func(tx *kv.Tx, ids []string, members []*memberRec) error {
		for _, m := range members {
			if m.Status != StatusActive {
				return c.badArg("member %q is offline and cannot be an admin", m.MemberID)
			}
		}
		return tx.SetJSON(c.keys.admins(), adminsRec{MemberIDs: ids, UpdatedAt: now()})
	})
}

// admins returns the admins' ids. It is a hot read (dashboards poll it), so the list is
// kept in memory for as long as nothing has been committed to the store since it was read.
func (c *Corp) admins() (any, error) {
	if cached := c.adminCache.Load(); cached != nil && cached.version == c.el.Store.Generation(c.keys.prefix) {
		return slices.Clone(cached.ids), nil
	}
	var ids []any
	var v uint64
	err := c.el.Store.View(func(tx *kv.Tx) error {
		v = tx.Generation(c.keys.prefix)
		raw, err := tx.Get(c.keys.admins())
		if err != nil {
			return err
		}
		for _, id := range gjson.Get(raw, "memberIds").Array() {
			// only active members: an admin who went offline is no longer one
			if m, ok, err := getMember(tx, c.keys, id.String()); err != nil {
				return err
			} else if ok && memberField(m, fStatus).String() == StatusActive {
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
	c.adminCache.Store(&adminCache{version: v, ids: ids})
	return slices.Clone(ids), nil
}

// adminCache is the admin list as of a count of the store's commits.
type adminCache struct {
	version uint64
	ids     []any
}

// corpData is the org's configuration with its counts.
func (c *Corp) corpData() (map[string]any, error) {
	d := c.corpInfo()
	var meta metaRec
	counts := map[string]int{}
	var last string
	err := c.el.Store.View(func(tx *kv.Tx) error {
		if err := tx.GetJSON(c.keys.meta(), &meta); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		n, active, err := c.memberCounts(tx)
		if err != nil {
			return err
		}
		counts["members"], counts["activeMembers"] = n, active
		for name, prefix := range map[string]string{"departments": c.keys.depts(), "tags": c.keys.tags()} {
			tx.Scan(prefix, func(string, string) bool { counts[name]++; return true })
		}
		var a adminsRec
		if err := tx.GetJSON(c.keys.admins(), &a); err == nil {
			counts["admins"] = len(a.MemberIDs)
		}
		return nil
	})
	if hist, herr := c.syncHistory(1, false, ""); herr == nil && len(hist) > 0 {
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
func (c *Corp) deptMembers(deptID int64) (any, error) {
	out := []any{}
	err := c.el.Store.View(func(tx *kv.Tx) error {
		if _, err := tx.Get(c.keys.dept(deptID)); errors.Is(err, kv.ErrNotFound) {
			return c.notFound("department", strconv.FormatInt(deptID, 10))
		}
		ix, err := c.index(tx)
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
func (c *Corp) memberCounts(tx *kv.Tx) (total, active int, err error) {
	ix, err := c.index(tx)
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
	byDept        map[int64][]string // the active members' records by department
	multi         [][]int64          // the departments of each active member in more than one
}

// index returns the member index, built anew if a transaction has committed since.
func (c *Corp) index(tx *kv.Tx) (*memberIndex, error) {
	v := tx.Generation(c.keys.prefix)
	if ix := c.memberIx.Load(); ix != nil && ix.version == v {
		return ix, nil
	}
	ix := &memberIndex{version: v, byDept: map[int64][]string{}}
	err := scanMembers(tx, c.keys, func(_, raw string) bool {
		ix.total++
		f := gjson.GetMany(raw, strconv.Itoa(fStatus), strconv.Itoa(fDeptIDs))
		if f[0].Str != StatusActive {
			return true
		}
		ix.active++
		depts := f[1].Array()
		for _, d := range depts {
			ix.byDept[d.Int()] = append(ix.byDept[d.Int()], raw)
		}
		if len(depts) > 1 {
			ix.multi = append(ix.multi, appendInts(nil, f[1]))
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	c.memberIx.Store(ix)
	return ix, nil
}
