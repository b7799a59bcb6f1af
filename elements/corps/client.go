package corps

import (
	"context"
	"fmt"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom"
)

// clientObject is what getClient returns to scripts: the corp's WeCom client, with raw
// get/post for any endpoint and typed calls for the contacts endpoints. Every call goes
// through the client's token cache, retries and rate limit; the token is never exposed.
type clientObject struct {
	c  *Corp
	cl *wecom.Client
}

func (o *clientObject) Properties() []elements.Property {
	return []elements.Property{
		{Name: "corpId", Get: func() any { return o.c.cfg.CorpID }},
		{Name: "apiBase", Get: func() any { return o.cl.BaseURL() }},
		{Name: "fetchPath", Doc: "detail or id: how the org was last fetched", Get: func() any { return o.cl.Path() }},
		{Name: "calls", Doc: "calls of this corp's WeCom APIs made by this process in the last minute and hour (every element of the corp shares the budget)",
			Get: func() any {
				m, h := o.cl.RateLimiter().Used()
				return map[string]any{"lastMinute": float64(m), "lastHour": float64(h)}
			}},
	}
}

// wrap turns a client call's result into script values and its error into a coded one.
func (o *clientObject) wrap(name string, v any, err error) (any, error) {
	if err != nil {
		return nil, o.c.wecomErr(name, err)
	}
	return org.JSONValue(v)
}

// byID is a method of one numeric-id endpoint: it reads the id param and calls call.
func byID[R any](o *clientObject, name, doc, endpoint string, param elements.Param, call func(context.Context, int64) (R, error)) elements.Method {
	return elements.Method{Name: name, Doc: doc, Params: []elements.Param{param},
		Call: func(ctx context.Context, a elements.Args) (any, error) {
			id, _, err := a.Int(param.Name)
			if err != nil {
				return nil, err
			}
			res, err := call(ctx, id)
			return o.wrap(endpoint, res, err)
		}}
}

func (o *clientObject) Methods() []elements.Method {
	cl := o.cl
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
		byID(o, "getDepartmentList", "department/list (id: a subtree; none: the whole tree)", "department/list", num("id", false), cl.ListDepartments),
		byID(o, "getDepartment", "department/get", "department/get", num("id", true), cl.GetDepartment),
		byID(o, "getUserList", "user/list: the members directly in a department", "user/list", num("departmentId", true), cl.ListUsers),
		byID(o, "getUserSimpleList", "user/simplelist", "user/simplelist", num("departmentId", true), cl.SimpleListUsers),
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
		byID(o, "getTag", "tag/get", "tag/get", num("tagid", true), cl.GetTag),
		{Name: "fetchOrg", Doc: "the whole org as the sync fetches it",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				res, err := cl.FetchOrg(ctx, wecom.FetchOptions{Scope: o.c.cfg.Scope, Progress: elements.ProgressFrom(ctx)})
				return o.wrap("fetchOrg", res, err)
			}},
	}
}
