package corps

import (
	"context"
	"fmt"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/wecom"
)

// clientObject is what getClient returns to scripts: the corp's WeCom client, with raw
// get/post for any endpoint and typed calls for the contacts endpoints. Every call goes
// through the client's token cache, retries and rate limit; the token is never exposed.
type clientObject struct{ c *Corp }

func (o *clientObject) Properties() []elements.Property {
	return []elements.Property{
		{Name: "corpId", Get: func() any { return o.c.cfg.CorpID }},
		{Name: "apiBase", Get: func() any { return o.c.client.BaseURL() }},
		{Name: "fetchPath", Doc: "detail or id: how the org was last fetched", Get: func() any { return o.c.client.Path() }},
	}
}

// wrap turns a client call's result into script values and its error into a coded one.
func (o *clientObject) wrap(name string, v any, err error) (any, error) {
	if err != nil {
		return nil, o.c.wecomErr(name, err)
	}
	return jsonValue(v)
}

func num(name string, required bool) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindNumber, Required: required}
}

func (o *clientObject) Methods() []elements.Method {
	cl := o.c.client
	id := func(a elements.Args, name string) (int64, error) {
		v, _, err := a.Int(name)
		return v, err
	}
	return []elements.Method{
		{Name: "get", Doc: "GET any endpoint: get(\"user/get\", {userid: \"zhangsan\"})",
			Params: []elements.Param{str("endpoint"), {Name: "query", Kind: elements.KindObject}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				q := map[string]string{}
				if m, ok := a["query"].(map[string]any); ok {
					for k, v := range m {
						q[k] = fmt.Sprint(v)
					}
				}
				res, err := cl.Get(ctx, a.String("endpoint"), q)
				return o.wrap(a.String("endpoint"), res, err)
			}},
		{Name: "post", Doc: "POST any endpoint with a JSON body",
			Params: []elements.Param{str("endpoint"), {Name: "body", Kind: elements.KindObject, Any: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				res, err := cl.Post(ctx, a.String("endpoint"), a["body"])
				return o.wrap(a.String("endpoint"), res, err)
			}},
		{Name: "getDepartmentList", Doc: "department/list (id: a subtree; none: the whole tree)", Params: []elements.Param{num("id", false)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				d, err := id(a, "id")
				if err != nil {
					return nil, err
				}
				res, err := cl.ListDepartments(ctx, d)
				return o.wrap("department/list", res, err)
			}},
		{Name: "getDepartment", Doc: "department/get", Params: []elements.Param{num("id", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				d, err := id(a, "id")
				if err != nil {
					return nil, err
				}
				res, err := cl.GetDepartment(ctx, d)
				return o.wrap("department/get", res, err)
			}},
		{Name: "getUserList", Doc: "user/list: the members directly in a department", Params: []elements.Param{num("departmentId", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				d, err := id(a, "departmentId")
				if err != nil {
					return nil, err
				}
				res, err := cl.ListUsers(ctx, d)
				return o.wrap("user/list", res, err)
			}},
		{Name: "getUserSimpleList", Doc: "user/simplelist", Params: []elements.Param{num("departmentId", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				d, err := id(a, "departmentId")
				if err != nil {
					return nil, err
				}
				res, err := cl.SimpleListUsers(ctx, d)
				return o.wrap("user/simplelist", res, err)
			}},
		{Name: "getUser", Doc: "user/get", Params: []elements.Param{str("userid")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				res, err := cl.GetUser(ctx, a.String("userid"))
				return o.wrap("user/get", res, err)
			}},
		{Name: "listUserIds", Doc: "user/list_id, every page (needs contactSyncSecret)",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				res, err := cl.ListAllUserIDs(ctx)
				return o.wrap("user/list_id", res, err)
			}},
		{Name: "getTagList", Doc: "tag/list",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				res, err := cl.ListTags(ctx)
				return o.wrap("tag/list", res, err)
			}},
		{Name: "getTag", Doc: "tag/get", Params: []elements.Param{num("tagid", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				t, err := id(a, "tagid")
				if err != nil {
					return nil, err
				}
				res, err := cl.GetTag(ctx, t)
				return o.wrap("tag/get", res, err)
			}},
		{Name: "fetchOrg", Doc: "the whole org as the sync fetches it",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				res, err := cl.FetchOrg(ctx, wecom.FetchOptions{Scope: o.c.cfg.Scope, Progress: elements.ProgressFrom(ctx)})
				return o.wrap("fetchOrg", res, err)
			}},
	}
}
