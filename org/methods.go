package org

import (
	"context"
	"slices"
	"time"

	"github.com/jitrt/jitrt/elements"
)

// Methods are the org's own methods, as every corp Type offers them under the seed's names
// (the ones named, in that order; all of them without names). A method that reads or
// writes the org answers failed_precondition before the org is initialised.
func (o *Directory) Methods(names ...string) []elements.Method {
	all := slices.Concat([]elements.Method{
		{Name: "getAuditLog", Callable: true, Doc: "who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit}",
			Params: []elements.Param{{Name: "member", Kind: elements.KindString}, {Name: "element", Kind: elements.KindString},
				{Name: "since", Kind: elements.KindString}, num("limit", false)},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				limit, _, err := a.Int("limit")
				if err != nil {
					return nil, err
				}
				since, err := ParseSince(a.String("since"), time.Now())
				if err != nil {
					return nil, o.BadArg("%v", err)
				}
				recs, err := o.AuditLog(AuditQuery{Member: a.String("member"), Element: a.String("element"), Since: since, Limit: int(limit)})
				if err != nil {
					return nil, err
				}
				return JSONValue(recs)
			}},
		{Name: "getSyncHistory", Callable: true, Doc: "the kept sync reports, newest first: {limit} of them, {changes: false} with changeCount for the list of changes, {startedAt} the one report",
			Params: []elements.Param{num("limit", false), {Name: "changes", Kind: elements.KindBool}, {Name: "startedAt", Kind: elements.KindString}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				limit, _, err := a.Int("limit")
				if err != nil {
					return nil, err
				}
				withChanges := true
				if v, ok := a["changes"].(bool); ok {
					withChanges = v
				}
				return o.SyncHistory(ctx, int(limit), withChanges, a.String("startedAt"))
			}},
		{Name: "getLocalCorpData", Callable: true, Doc: "the local org: {userList, deptList, roleList, thirdAuthList, …}",
			Call: func(context.Context, elements.Args) (any, error) { return o.localCorpData() }},
		{Name: "getRootDept", Callable: true, Doc: "the root department as RowData (root.name.value)",
			Call: func(context.Context, elements.Args) (any, error) { return o.rootDept() }},
		{Name: "setUserRole", Callable: true, Doc: "set a member's roles to exactly roleIdList (declared role ids)",
			Params: []elements.Param{str("memberId"), list("roleIdList")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				ids, err := a.Strings("roleIdList")
				if err != nil {
					return nil, err
				}
				return o.setUserRole(ctx, a.String("memberId"), ids)
			}},
		{Name: "offlineMember", Callable: true, Doc: "take members offline (离职) in this corp only",
			Params: []elements.Param{list("memberIdList")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				ids, err := a.Strings("memberIdList")
				if err != nil {
					return nil, err
				}
				return nil, o.offlineMembers(ctx, ids)
			}},
		{Name: "reactivateMember", Callable: true, Doc: "undo offlineMember: members taken offline here are active again (a sync keeps them so while the platform lists them)",
			Params: []elements.Param{list("memberIdList")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				ids, err := a.Strings("memberIdList")
				if err != nil {
					return nil, err
				}
				return nil, o.reactivateMembers(ctx, ids)
			}},
		{Name: "getUserSignature", Callable: true, Doc: "a member's signature: {memberId, signature}",
			Params: []elements.Param{str("memberId")},
			Call:   func(_ context.Context, a elements.Args) (any, error) { return o.signature(a.String("memberId")) }},
		{Name: "saveUserSignature", Callable: true, Doc: "save a member's signature image URL (http or https)",
			Params: []elements.Param{str("memberId"), str("signature")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return o.saveSignature(ctx, a.String("memberId"), a.String("signature"))
			}},
		{Name: "setAdmin", Callable: true, Doc: "set the org's admins (组织负责人, 管理员)",
			Params: []elements.Param{list("memberIdList")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				ids, err := a.Strings("memberIdList")
				if err != nil {
					return nil, err
				}
				return map[string]any{}, o.setAdmins(ctx, ids)
			}},
		{Name: "getAdmin", Callable: true, Doc: "the admins' member ids",
			Call: func(context.Context, elements.Args) (any, error) { return o.admins() }},
		{Name: "getDeptMembers", Callable: true, Doc: "the active members of a department: [{memberId, name, mainDeptId}]",
			Params: []elements.Param{num("deptId", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				id, _, err := a.Int("deptId")
				if err != nil {
					return nil, err
				}
				if err := o.checkDeptID(id); err != nil {
					return nil, err
				}
				return o.deptMembers(id)
			}},
	}, o.roleMethods(), o.viewMethods())
	if len(names) > 0 {
		picked := make([]elements.Method, 0, len(names))
		for _, n := range names {
			if i := slices.IndexFunc(all, func(m elements.Method) bool { return m.Name == n }); i >= 0 {
				picked = append(picked, all[i])
			}
		}
		all = picked
	}
	for i := range all {
		all[i].Result = methodResults[all[i].Name]
		if needsLocalOrg[all[i].Name] {
			call := all[i].Call
			all[i].Call = func(ctx context.Context, a elements.Args) (any, error) {
				if err := o.RequireInit(); err != nil {
					return nil, err
				}
				return call(ctx, a)
			}
		}
	}
	return all
}
