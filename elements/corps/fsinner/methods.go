package fsinner

import (
	"context"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/corps/corpkit"
	"github.com/jitrt/jitrt/feishu"
	"github.com/jitrt/jitrt/org"
)

// Methods lists the corp's methods, named as in the seed.
func (c *Corp) Methods() []elements.Method {
	own := c.SeedMethods(corpkit.Platform{Name: "Feishu", ThirdCorpData: c.thirdCorpData, BulkRegister: c.bulkRegister,
		Client: func() (any, error) {
			cl, err := c.feishuClient()
			if err != nil {
				return nil, err
			}
			return &clientObject{c: c, cl: cl}, nil
		}})
	return c.Dir.AuditWrites(corpkit.SeedOrder(append(own, c.callbackMethods()...), c.Dir.Methods()))
}

// Properties lists the corp's properties.
func (c *Corp) Properties() []elements.Property {
	return c.Base.Properties(c.authConfig, "appId and the secret masked")
}

// clientObject is what getClient returns to scripts: raw get/post of any endpoint and the
// typed contacts calls, through the client's token, retries and rate limit.
type clientObject struct {
	c  *Corp
	cl *feishu.Client
}

func (o *clientObject) Properties() []elements.Property {
	return []elements.Property{
		{Name: "appId", Get: func() any { return o.c.cfg.AppID }},
		{Name: "apiBase", Get: func() any { return o.cl.BaseURL() }},
	}
}

func (o *clientObject) wrap(name string, v any, err error) (any, error) {
	if err != nil {
		return nil, o.c.platformErr(name, err)
	}
	return org.JSONValue(v)
}

func (o *clientObject) Methods() []elements.Method {
	cl := o.cl
	str := func(name string) elements.Param {
		return elements.Param{Name: name, Kind: elements.KindString, Required: true}
	}
	return []elements.Method{
		{Name: "get", Doc: "GET any endpoint: get(\"contact/v3/scopes\", {page_size: \"50\"})",
			Params: []elements.Param{str("path"), {Name: "query", Kind: elements.KindObject}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				q := map[string]string{}
				if m, ok := a["query"].(map[string]any); ok {
					for k, v := range m {
						q[k], _ = v.(string)
					}
				}
				res, err := cl.Get(ctx, a.String("path"), q)
				return o.wrap(a.String("path"), res, err)
			}},
		{Name: "post", Doc: "POST any endpoint with a JSON body",
			Params: []elements.Param{str("path"), {Name: "body", Kind: elements.KindObject}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				res, err := cl.Post(ctx, a.String("path"), a["body"])
				return o.wrap(a.String("path"), res, err)
			}},
		{Name: "getUser", Doc: "a member by user_id (contact/v3/users/:user_id)", Params: []elements.Param{str("userId")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				res, err := cl.GetUser(ctx, a.String("userId"))
				return o.wrap("contact/v3/users", res, err)
			}},
		{Name: "getDepartment", Doc: "a department by open_department_id (contact/v3/departments/:id)", Params: []elements.Param{str("departmentId")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				res, err := cl.GetDepartment(ctx, a.String("departmentId"))
				return o.wrap("contact/v3/departments", res, err)
			}},
		{Name: "findByDepartment", Doc: "a page of a department's direct members: {has_more, page_token, items}",
			Params: []elements.Param{str("departmentId"), {Name: "pageToken", Kind: elements.KindString}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				res, err := cl.FindByDepartment(ctx, a.String("departmentId"), a.String("pageToken"))
				return o.wrap("contact/v3/users/find_by_department", res, err)
			}},
	}
}
