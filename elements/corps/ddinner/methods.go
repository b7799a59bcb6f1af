package ddinner

import (
	"context"

	"github.com/jitrt/jitrt/dingtalk"
	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/corps/corpkit"
	"github.com/jitrt/jitrt/org"
)

// Methods lists the corp's methods, named as in the seed.
func (c *Corp) Methods() []elements.Method {
	own := c.SeedMethods(corpkit.Platform{Name: "DingTalk", ThirdCorpData: c.thirdCorpData, BulkRegister: c.bulkRegister,
		Client: func() (any, error) {
			cl, err := c.dingtalkClient()
			if err != nil {
				return nil, err
			}
			return &clientObject{c: c, cl: cl}, nil
		}})
	return c.Dir.AuditWrites(corpkit.SeedOrder(append(own, c.callbackMethods()...), c.Dir.Methods()))
}

// Properties lists the corp's properties.
func (c *Corp) Properties() []elements.Property {
	return c.Base.Properties(c.authConfig, "corpId, agentId, appKey and the secret masked")
}

// clientObject is what getClient returns to scripts: the corp's DingTalk client, with raw
// get/post for any old-API endpoint and typed calls for the contacts endpoints. Every call
// goes through the client's token, retries and rate limit; the token is never exposed.
type clientObject struct {
	c  *Corp
	cl *dingtalk.Client
}

func (o *clientObject) Properties() []elements.Property {
	return []elements.Property{
		{Name: "corpId", Get: func() any { return o.c.cfg.AuthConfig.CorpID }},
		{Name: "appKey", Get: func() any { return o.c.cfg.AuthConfig.AppKey }},
		{Name: "apiBase", Get: func() any { return o.cl.OAPIBase() }},
	}
}

// wrap turns a client call's result into script values and its error into a coded one.
func (o *clientObject) wrap(name string, v any, err error) (any, error) {
	if err != nil {
		return nil, o.c.platformErr(name, err)
	}
	return org.JSONValue(v)
}

func (o *clientObject) Methods() []elements.Method {
	cl := o.cl
	strParam := func(name string) elements.Param {
		return elements.Param{Name: name, Kind: elements.KindString, Required: true}
	}
	numParam := func(name string, required bool) elements.Param {
		return elements.Param{Name: name, Kind: elements.KindNumber, Required: required}
	}
	return []elements.Method{
		{Name: "get", Doc: "GET any old-API endpoint: get(\"auth/scopes\", {})",
			Params: []elements.Param{strParam("endpoint"), {Name: "query", Kind: elements.KindObject}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				q := map[string]string{}
				if m, ok := a["query"].(map[string]any); ok {
					for k, v := range m {
						q[k], _ = v.(string)
					}
				}
				res, err := cl.Get(ctx, a.String("endpoint"), q)
				return o.wrap(a.String("endpoint"), res, err)
			}},
		{Name: "post", Doc: "POST any old-API endpoint with a JSON body: post(\"topapi/user/count\", {only_active: false})",
			Params: []elements.Param{strParam("endpoint"), {Name: "body", Kind: elements.KindObject}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				res, err := cl.Post(ctx, a.String("endpoint"), a["body"])
				return o.wrap(a.String("endpoint"), res, err)
			}},
		{Name: "getUser", Doc: "a member (topapi/v2/user/get)", Params: []elements.Param{strParam("userid")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				res, err := cl.GetUser(ctx, a.String("userid"))
				return o.wrap("topapi/v2/user/get", res, err)
			}},
		{Name: "getDepartment", Doc: "a department (topapi/v2/department/get)", Params: []elements.Param{numParam("deptId", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				id, _, err := a.Int("deptId")
				if err != nil {
					return nil, err
				}
				res, err := cl.GetDepartment(ctx, id)
				return o.wrap("topapi/v2/department/get", res, err)
			}},
		{Name: "listSubDepartments", Doc: "a department's children (topapi/v2/department/listsub)", Params: []elements.Param{numParam("deptId", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				id, _, err := a.Int("deptId")
				if err != nil {
					return nil, err
				}
				res, err := cl.ListSubDepartments(ctx, id)
				return o.wrap("topapi/v2/department/listsub", res, err)
			}},
		{Name: "listUsers", Doc: "a page of a department's members (topapi/v2/user/list): {has_more, next_cursor, list}",
			Params: []elements.Param{numParam("deptId", true), numParam("cursor", false), numParam("size", false)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				id, _, err := a.Int("deptId")
				if err != nil {
					return nil, err
				}
				cursor, _, err := a.Int("cursor")
				if err != nil {
					return nil, err
				}
				size, given, err := a.Int("size")
				if err != nil {
					return nil, err
				}
				if !given {
					size = dingtalk.MaxPageSize
				}
				res, err := cl.ListUsers(ctx, id, cursor, int(size))
				return o.wrap("topapi/v2/user/list", res, err)
			}},
		{Name: "listAdmins", Doc: "DingTalk's administrators (topapi/user/listadmin): [{userid, sys_level}]",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				res, err := cl.ListAdmins(ctx)
				return o.wrap("topapi/user/listadmin", res, err)
			}},
	}
}
