package corps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/corps/corpkit"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom"
)

// Methods lists the corp's methods, named as in the seed.
func (c *Corp) Methods() []elements.Method {
	own := []elements.Method{
		{Name: "initCorp", Callable: true, Doc: "create the local org (roles, root department) and run a first sync",
			Call: func(ctx context.Context, _ elements.Args) (any, error) { return nil, c.InitCorp(ctx) }},
		{Name: "syncCorp", Callable: true, Doc: "sync the org from WeCom; {dryRun: true} lists the changes and writes nothing",
			Params: []elements.Param{{Name: "dryRun", Kind: elements.KindBool}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				rep, err := c.Sync(ctx, a.Bool("dryRun"))
				if err != nil {
					return nil, err
				}
				return org.JSONValue(rep)
			}},
		{Name: "getThirdCorpData", Callable: true, Doc: "the live WeCom org: {deptDict, userDict, tagDict} keyed by id",
			Call: func(ctx context.Context, _ elements.Args) (any, error) { return c.thirdCorpData(ctx) }},
		{Name: "bulkRegister", Callable: true, Doc: "register every user of corpData into the local user pool (idempotent)",
			Params: []elements.Param{{Name: "corpData", Kind: elements.KindObject, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return nil, c.bulkRegister(ctx, a["corpData"])
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
	}
	own = append(own, c.callbackMethods()...)
	for i := range own {
		own[i].Result = corpResults[own[i].Name]
	}
	return c.dir.AuditWrites(corpkit.SeedOrder(own, c.dir.Methods()))
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

// ---- errors ----

// wecomErr explains a failed WeCom call, naming the corp; the code is wecom_<errcode>.
func (c *Corp) wecomErr(op string, err error) error {
	code := elements.CodeUnavailable
	if n := wecom.CodeOf(err); n != 0 {
		code = "wecom_" + strconv.Itoa(n)
	} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		code = elements.CodeTimeout
	}
	return &elements.Error{Code: code, Err: err, Message: fmt.Sprintf("%s of %s: %v", op, c.dir.Label(), err)}
}

// ---- methods ----

// InitCorp creates the local org (declared roles, departments with the root) with a first
// sync; calling it again re-syncs.
func (c *Corp) InitCorp(ctx context.Context) error {
	_, err := c.engine.Init(ctx)
	return err
}

func (c *Corp) thirdCorpData(ctx context.Context) (any, error) {
	client, err := c.wecomClient()
	if err != nil {
		return nil, err
	}
	wo, err := client.FetchOrg(ctx, wecom.FetchOptions{Scope: c.cfg.Scope, Progress: elements.ProgressFrom(ctx)})
	if err != nil {
		return nil, c.wecomErr("getThirdCorpData", err)
	}
	depts := make(map[string]any, len(wo.Departments))
	for _, d := range wo.Departments {
		depts[strconv.FormatInt(d.ID, 10)] = d
	}
	users := make(map[string]any, len(wo.Users))
	for _, u := range wo.Users {
		users[u.UserID] = u
	}
	tags := make(map[string]any, len(wo.Tags))
	for _, t := range wo.Tags {
		tags[strconv.FormatInt(t.TagID, 10)] = t
	}
	out, err := org.JSONValue(map[string]any{"deptDict": depts, "userDict": users, "tagDict": tags})
	if err != nil {
		return nil, err
	}
	m := out.(map[string]any)
	m["withheld"] = wo.Withheld
	return m, nil
}

// bulkRegister adds or updates every member (and department, tag) of corpData — the shape
// getThirdCorpData returns — without taking anyone offline.
func (c *Corp) bulkRegister(ctx context.Context, data any) error {
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
		return c.dir.BadArg("corpData is not the shape getThirdCorpData returns ({deptDict, userDict, tagDict}): %s", corpkit.JSONShape("corpData", err))
	}
	if cd.UserDict == nil {
		return c.dir.BadArg("corpData has no userDict: pass what getThirdCorpData returns")
	}
	wo := &wecom.Org{Withheld: cd.Withheld}
	for key, u := range cd.UserDict {
		if u.UserID == "" {
			u.UserID = key
		}
		if u.UserID != key || u.Name == "" {
			return c.dir.BadArg("corpData.userDict[%q] must have userid %q and a name", key, key)
		}
		if err := c.dir.CheckMemberID(key); err != nil {
			return err
		}
		for _, d := range u.Department {
			if d < 1 || d > wecom.MaxDeptID {
				return c.dir.BadArg("corpData.userDict[%q] is in department %d, which is not a WeCom department id (1 to %d)", key, d, int64(wecom.MaxDeptID))
			}
		}
		wo.Users = append(wo.Users, u)
	}
	for key, d := range cd.DeptDict {
		if d.ID < 1 || d.ID > wecom.MaxDeptID || (d.ParentID < 0 || d.ParentID > wecom.MaxDeptID) {
			return c.dir.BadArg("corpData.deptDict[%q] has id %d (parent %d): WeCom department ids are 1 to %d", key, d.ID, d.ParentID, int64(wecom.MaxDeptID))
		}
		wo.Departments = append(wo.Departments, d)
	}
	for key, t := range cd.TagDict {
		if t.TagID < 1 || t.TagID > wecom.MaxDeptID {
			return c.dir.BadArg("corpData.tagDict[%q] has id %d: WeCom tag ids are 1 to %d", key, t.TagID, int64(wecom.MaxDeptID))
		}
		wo.Tags = append(wo.Tags, t)
	}
	wecom.Canonicalize(wo)
	rep, err := c.dir.Register(ctx, orgDepts(wo.Departments), fetched(wo, nil), func(known map[int64]bool, root int64) []org.FetchedMember {
		members := make([]org.FetchedMember, len(wo.Users))
		for i := range wo.Users {
			members[i] = fetchedMember(&wo.Users[i], known, root)
		}
		return members
	})
	if err != nil {
		return fmt.Errorf("bulkRegister of %s: %w", c.el.FullName, err)
	}
	c.el.Logger.Info("bulkRegister done", "added", rep.Added, "updated", rep.Updated, "reactivated", rep.Reactivated, "unchanged", rep.Unchanged)
	return nil
}

// corpResults are the results of the corp's own methods that declare one.
var corpResults = map[string]any{"syncCorp": org.SyncReport{}}

// corpData is the corp's configuration with the org's counts.
func (c *Corp) corpData() (map[string]any, error) {
	counts, err := c.dir.Counts(context.Background()) // a property: no caller's context
	if err != nil {
		return nil, err
	}
	d := c.corpInfo()
	maps.Copy(d, counts)
	return d, nil
}
