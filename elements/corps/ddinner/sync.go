package ddinner

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitrt/jitrt/dingtalk"
	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
)

// # DingTalk's member in the org
//
// This file is the one place where a DingTalk member becomes an org member. The org keeps
// the neutral fields; what only DingTalk knows goes into the record's provider part
// (org.Member.Ext), in the order of extFields.

// extFields name DingTalk's part of a member record, in order.
var extFields = []string{"unionId", "jobNumber", "orgEmail", "workPlace", "hiredDate", "active", "stateCode", "extension"}

// memberOf is DingTalk's member as an org member, keeping the departments in known (all
// when known is nil) and leading those whose managers (leads) name them.
func memberOf(u *dingtalk.User, known map[int64]bool, root int64, leads map[int64][]string) (*org.Member, bool) {
	rec := &org.Member{MemberID: u.UserID, Name: u.Name, Position: u.Title, Mobile: u.Mobile, Email: u.Email, Avatar: u.Avatar,
		Telephone: u.Telephone, DeptIDs: make([]int64, 0, len(u.DeptIDList))}
	if u.ManagerUserID != "" {
		rec.DirectLeader = []string{u.ManagerUserID}
	}
	var b org.ExtBuilder
	b.String(u.UnionID)
	b.String(u.JobNumber)
	b.String(u.OrgEmail)
	b.String(u.WorkPlace)
	b.Int(u.HiredDate)
	b.Raw(strconv.FormatBool(u.Active))
	b.String(u.StateCode)
	b.String(u.Extension)
	rec.Ext = b.JSON()
	dropped := false
	leader := map[int64]bool{}
	for _, l := range u.LeaderInDept {
		leader[l.DeptID] = l.Leader
	}
	for _, d := range u.DeptIDList {
		if known != nil && !known[d] {
			dropped = true
			continue
		}
		rec.DeptIDs = append(rec.DeptIDs, d)
		if leader[d] || slices.Contains(leads[d], u.UserID) {
			rec.LeaderDeptIDs = append(rec.LeaderDeptIDs, d)
		}
	}
	if len(rec.DeptIDs) > 0 {
		rec.MainDeptID = rec.DeptIDs[0] // DingTalk lists the main department first
	} else {
		rec.DeptIDs, rec.MainDeptID = []int64{root}, root
	}
	return rec, dropped
}

// orgDept is DingTalk's department as the org's.
func orgDept(d *dingtalk.DepartmentDetail) org.Dept {
	leaders := d.ManagerUserIDs
	if leaders == nil {
		leaders = []string{}
	}
	return org.Dept{DeptID: d.DeptID, Name: d.Name, ParentID: d.ParentID, Order: d.Order, Leaders: slices.Clone(leaders)}
}

// Fetch fetches the whole DingTalk org as the org's neutral records (org.Provider): the
// members are made into record tails as their pages arrive.
func (c *Corp) Fetch(ctx context.Context) (*org.Fetched, []string, error) {
	client, err := c.dingtalkClient()
	if err != nil {
		return nil, nil, err
	}
	var (
		mu      sync.Mutex
		members []org.FetchedMember
		known   map[int64]bool
		root    int64
		leads   = map[int64][]string{}
		depts   []org.Dept
	)
	_, err = client.FetchOrg(ctx, dingtalk.FetchOptions{Roots: c.cfg.Scope, Progress: elements.ProgressFrom(ctx),
		OnDepartments: func(ds []dingtalk.DepartmentDetail) error {
			depts = make([]org.Dept, len(ds))
			for i := range ds {
				depts[i] = orgDept(&ds[i])
				leads[ds[i].DeptID] = ds[i].ManagerUserIDs
			}
			known, root = org.DeptContext(depts)
			return nil
		},
		OnUsers: func(users []dingtalk.User) error { // on the fetch's goroutines, at once
			page := make([]org.FetchedMember, 0, len(users))
			for i := range users {
				if !org.ValidMemberID(users[i].UserID) {
					continue
				}
				rec, dropped := memberOf(&users[i], known, root, leads)
				page = append(page, org.MakeFetched(rec, dropped))
			}
			mu.Lock()
			members = append(members, page...)
			mu.Unlock()
			return nil
		}})
	if err != nil {
		return nil, nil, c.platformErr("sync", err)
	}
	return &org.Fetched{Depts: depts, Members: members}, nil, nil
}

// thirdCorpData is the live DingTalk org: {corpId, deptDict, userDict} keyed by id.
func (c *Corp) thirdCorpData(ctx context.Context) (any, error) {
	client, err := c.dingtalkClient()
	if err != nil {
		return nil, err
	}
	o, err := client.FetchOrg(ctx, dingtalk.FetchOptions{Roots: c.cfg.Scope, Progress: elements.ProgressFrom(ctx)})
	if err != nil {
		return nil, c.platformErr("getThirdCorpData", err)
	}
	depts := make(map[string]any, len(o.Departments))
	for _, d := range o.Departments {
		depts[strconv.FormatInt(d.DeptID, 10)] = d
	}
	users := make(map[string]any, len(o.Users))
	for _, u := range o.Users {
		users[u.UserID] = u
	}
	b, err := json.Marshal(map[string]any{"corpId": c.cfg.AuthConfig.CorpID, "deptDict": depts, "userDict": users})
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// bulkRegister adds or updates every member (and department) of corpData — the shape
// getThirdCorpData returns — without taking anyone offline.
func (c *Corp) bulkRegister(ctx context.Context, data any) error {
	var cd struct {
		DeptDict map[string]dingtalk.DepartmentDetail `json:"deptDict"`
		UserDict map[string]dingtalk.User             `json:"userDict"`
	}
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, &cd)
	}
	if err != nil {
		return c.Dir.BadArg("corpData is not the shape getThirdCorpData returns ({deptDict, userDict}): %v", err)
	}
	if cd.UserDict == nil {
		return c.Dir.BadArg("corpData has no userDict: pass what getThirdCorpData returns")
	}
	var depts []org.Dept
	leads := map[int64][]string{}
	for key, d := range cd.DeptDict {
		if d.DeptID < 1 {
			return c.Dir.BadArg("corpData.deptDict[%q] has id %d: DingTalk department ids are 1 and up", key, d.DeptID)
		}
		depts = append(depts, orgDept(&d))
		leads[d.DeptID] = d.ManagerUserIDs
	}
	var users []dingtalk.User
	for key, u := range cd.UserDict {
		if u.UserID == "" {
			u.UserID = key
		}
		if u.UserID != key || u.Name == "" {
			return c.Dir.BadArg("corpData.userDict[%q] must have userid %q and a name", key, key)
		}
		if err := c.Dir.CheckMemberID(key); err != nil {
			return err
		}
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b dingtalk.User) int { return strings.Compare(a.UserID, b.UserID) })
	start := time.Now()
	rep, err := c.Dir.Register(ctx, depts, &org.Fetched{Depts: depts}, func(known map[int64]bool, root int64) []org.FetchedMember {
		members := make([]org.FetchedMember, len(users))
		for i := range users {
			rec, dropped := memberOf(&users[i], known, root, leads)
			members[i] = org.MakeFetched(rec, dropped)
		}
		return members
	})
	if err != nil {
		return err
	}
	c.El.Logger.Info("bulkRegister done", "added", rep.Added, "updated", rep.Updated, "reactivated", rep.Reactivated, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
