package fsinner

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/feishu"
	"github.com/jitrt/jitrt/org"
)

// # Feishu's member in the org (the one place where one becomes the other)

// extFields name Feishu's part of a member record, in order.
var extFields = []string{"openId", "unionId", "employeeNo", "enterpriseEmail", "city", "joinTime", "employeeType"}

// memberOf is Feishu's member as an org member, keeping the departments in known (all when
// known is nil), leading those whose leaders (leads) name them.
func (c *Corp) memberOf(u *feishu.User, known map[int64]bool, root int64, leads map[int64][]string) (*org.Member, bool) {
	rec := &org.Member{MemberID: u.UserID, Name: u.Name, Position: u.JobTitle, Mobile: u.Mobile, Email: u.Email,
		EnglishName: u.EnName, DeptIDs: make([]int64, 0, len(u.DepartmentIDs))}
	if u.Avatar != nil {
		rec.Avatar = u.Avatar.Avatar240
		if rec.Avatar == "" {
			rec.Avatar = u.Avatar.Avatar72
		}
	}
	if u.Gender == 1 || u.Gender == 2 {
		rec.Gender = strconv.Itoa(u.Gender)
	}
	if u.LeaderUserID != "" {
		rec.DirectLeader = []string{u.LeaderUserID}
	}
	var b org.ExtBuilder
	b.String(u.OpenID)
	b.String(u.UnionID)
	b.String(u.EmployeeNo)
	b.String(u.EnterpriseEmail)
	b.String(u.City)
	b.Int(u.JoinTime)
	b.Int(int64(u.EmployeeType))
	rec.Ext = b.JSON()
	// the primary department first
	depts := slices.Clone(u.DepartmentIDs)
	for _, o := range u.Orders {
		if k := slices.Index(depts, o.DepartmentID); o.IsPrimaryDept && k > 0 {
			depts[0], depts[k] = depts[k], depts[0]
		}
	}
	dropped := false
	for _, open := range depts {
		d := c.remember(open)
		if known != nil && !known[d] {
			dropped = true
			continue
		}
		rec.DeptIDs = append(rec.DeptIDs, d)
		if slices.Contains(leads[d], u.UserID) {
			rec.LeaderDeptIDs = append(rec.LeaderDeptIDs, d)
		}
	}
	if len(rec.DeptIDs) > 0 {
		rec.MainDeptID = rec.DeptIDs[0]
	} else {
		rec.DeptIDs, rec.MainDeptID = []int64{root}, root
	}
	return rec, dropped
}

// orgDept is Feishu's department as the org's (its leaders, main first).
func (c *Corp) orgDept(d *feishu.Department) org.Dept {
	od := org.Dept{DeptID: c.remember(d.OpenDepartmentID), Name: d.Name, Order: d.OrderNumber(), Leaders: []string{}}
	if d.OpenDepartmentID != feishu.RootDepartmentID && d.ParentDepartmentID != "" {
		od.ParentID = c.remember(d.ParentDepartmentID)
	}
	leaders := slices.Clone(d.Leaders)
	slices.SortStableFunc(leaders, func(a, b feishu.Leader) int { return a.LeaderType - b.LeaderType })
	for _, l := range leaders {
		if l.LeaderID != "" && !slices.Contains(od.Leaders, l.LeaderID) {
			od.Leaders = append(od.Leaders, l.LeaderID)
		}
	}
	if len(od.Leaders) == 0 && d.LeaderUserID != "" {
		od.Leaders = []string{d.LeaderUserID}
	}
	return od
}

// Fetch fetches the whole Feishu tenant (or the scope) as the org's records (org.Provider).
func (c *Corp) Fetch(ctx context.Context) (*org.Fetched, []string, error) {
	client, err := c.feishuClient()
	if err != nil {
		return nil, nil, err
	}
	var (
		mu       sync.Mutex
		members  []org.FetchedMember
		known    map[int64]bool
		root     int64
		leads    = map[int64][]string{}
		depts    []org.Dept
		noUserID int
		clash    error
	)
	_, err = client.FetchOrg(ctx, feishu.FetchOptions{Roots: c.cfg.Scope, Progress: elements.ProgressFrom(ctx),
		OnDepartments: func(ds []feishu.Department) error {
			seen := map[int64]string{}
			depts = make([]org.Dept, len(ds))
			for i := range ds {
				depts[i] = c.orgDept(&ds[i])
				if other, dup := seen[depts[i].DeptID]; dup && other != ds[i].OpenDepartmentID {
					clash = fmt.Errorf("Feishu departments %s and %s have the same number in the org (%d)", other, ds[i].OpenDepartmentID, depts[i].DeptID)
				}
				seen[depts[i].DeptID] = ds[i].OpenDepartmentID
				leads[depts[i].DeptID] = depts[i].Leaders
			}
			known, root = org.DeptContext(depts)
			return clash
		},
		OnUsers: func(users []feishu.User) error {
			page := make([]org.FetchedMember, 0, len(users))
			missing := 0
			for i := range users {
				if users[i].UserID == "" || !org.ValidMemberID(users[i].UserID) {
					missing++
					continue
				}
				rec, dropped := c.memberOf(&users[i], known, root, leads)
				page = append(page, org.MakeFetched(rec, dropped))
			}
			mu.Lock()
			members, noUserID = append(members, page...), noUserID+missing
			mu.Unlock()
			return nil
		}})
	if err != nil {
		return nil, nil, c.platformErr("sync", err)
	}
	var warnings []string
	if noUserID > 0 {
		warnings = append(warnings, fmt.Sprintf("Feishu sent %d member(s) without a user_id (grant the app contact:user.employee_id:readonly); they were left out", noUserID))
	}
	return &org.Fetched{Depts: depts, Members: members}, warnings, nil
}

// thirdCorpData is the live Feishu tenant: {appId, deptDict, userDict} keyed by Feishu id.
func (c *Corp) thirdCorpData(ctx context.Context) (any, error) {
	client, err := c.feishuClient()
	if err != nil {
		return nil, err
	}
	o, err := client.FetchOrg(ctx, feishu.FetchOptions{Roots: c.cfg.Scope, Progress: elements.ProgressFrom(ctx)})
	if err != nil {
		return nil, c.platformErr("getThirdCorpData", err)
	}
	depts := make(map[string]any, len(o.Departments))
	for _, d := range o.Departments {
		depts[d.OpenDepartmentID] = d
	}
	users := make(map[string]any, len(o.Users))
	for _, u := range o.Users {
		users[u.UserID] = u
	}
	b, err := json.Marshal(map[string]any{"appId": c.cfg.AppID, "deptDict": depts, "userDict": users})
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
		DeptDict map[string]feishu.Department `json:"deptDict"`
		UserDict map[string]feishu.User       `json:"userDict"`
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
		if d.OpenDepartmentID == "" {
			d.OpenDepartmentID = key
		}
		od := c.orgDept(&d)
		depts = append(depts, od)
		leads[od.DeptID] = od.Leaders
	}
	var users []feishu.User
	for key, u := range cd.UserDict {
		if u.UserID == "" {
			u.UserID = key
		}
		if u.UserID != key || u.Name == "" {
			return c.Dir.BadArg("corpData.userDict[%q] must have user_id %q and a name", key, key)
		}
		if err := c.Dir.CheckMemberID(key); err != nil {
			return err
		}
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b feishu.User) int { return strings.Compare(a.UserID, b.UserID) })
	_, err = c.Dir.Register(ctx, depts, &org.Fetched{Depts: depts}, func(known map[int64]bool, root int64) []org.FetchedMember {
		members := make([]org.FetchedMember, len(users))
		for i := range users {
			rec, dropped := c.memberOf(&users[i], known, root, leads)
			members[i] = org.MakeFetched(rec, dropped)
		}
		return members
	})
	return err
}
