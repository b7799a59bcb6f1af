package dingtalk

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Department is a department as listsub gives it (one level, basic fields).
type Department struct {
	DeptID          int64  `json:"dept_id"`
	Name            string `json:"name"`
	ParentID        int64  `json:"parent_id"`
	CreateDeptGroup bool   `json:"create_dept_group,omitempty"`
	AutoAddUser     bool   `json:"auto_add_user,omitempty"`
}

// DepartmentDetail is a department as department/get gives it.
type DepartmentDetail struct {
	DeptID            int64    `json:"dept_id"`
	Name              string   `json:"name"`
	ParentID          int64    `json:"parent_id,omitempty"`
	Order             int64    `json:"order"`
	ManagerUserIDs    []string `json:"dept_manager_userid_list"`
	OrgDeptOwner      string   `json:"org_dept_owner,omitempty"`
	SourceIdentifier  string   `json:"source_identifier,omitempty"`
	CreateDeptGroup   bool     `json:"create_dept_group"`
	AutoAddUser       bool     `json:"auto_add_user"`
	GroupContainSub   bool     `json:"group_contain_sub_dept"`
	DeptGroupChatID   string   `json:"dept_group_chat_id,omitempty"`
	OuterDept         bool     `json:"outer_dept"`
	HideDept          bool     `json:"hide_dept"`
	MemberCount       int      `json:"member_count,omitempty"`
	OwningMemberCount int      `json:"owning_member_count,omitempty"`
}

// User is a member as v2/user/list and v2/user/get give it (list items carry dept_order and
// leader for the department listed; user/get carries the per-department lists).
type User struct {
	UserID        string       `json:"userid"`
	UnionID       string       `json:"unionid"`
	Name          string       `json:"name"`
	Avatar        string       `json:"avatar,omitempty"`
	StateCode     string       `json:"state_code,omitempty"`
	Mobile        string       `json:"mobile,omitempty"`
	HideMobile    bool         `json:"hide_mobile,omitempty"`
	Telephone     string       `json:"telephone,omitempty"`
	JobNumber     string       `json:"job_number,omitempty"`
	Title         string       `json:"title,omitempty"`
	Email         string       `json:"email,omitempty"`
	OrgEmail      string       `json:"org_email,omitempty"`
	WorkPlace     string       `json:"work_place,omitempty"`
	Remark        string       `json:"remark,omitempty"`
	Extension     string       `json:"extension,omitempty"`
	DeptIDList    []int64      `json:"dept_id_list"`
	DeptOrder     int64        `json:"dept_order,omitempty"`
	Leader        bool         `json:"leader,omitempty"`
	ManagerUserID string       `json:"manager_userid,omitempty"`
	HiredDate     int64        `json:"hired_date,omitempty"`
	Active        bool         `json:"active"`
	Admin         bool         `json:"admin"`
	Boss          bool         `json:"boss"`
	Senior        bool         `json:"senior,omitempty"`
	RealAuthed    bool         `json:"real_authed,omitempty"`
	Exclusive     bool         `json:"exclusive_account,omitempty"`
	DeptOrderList []DeptOrder  `json:"dept_order_list,omitempty"`
	LeaderInDept  []DeptLeader `json:"leader_in_dept,omitempty"`
	RoleList      []Role       `json:"role_list,omitempty"`
}

// DeptOrder is a member's order in a department.
type DeptOrder struct {
	DeptID int64 `json:"dept_id"`
	Order  int64 `json:"order"`
}

// DeptLeader says whether a member leads a department.
type DeptLeader struct {
	DeptID int64 `json:"dept_id"`
	Leader bool  `json:"leader"`
}

// Role is a role of a member (role_list).
type Role struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	GroupName string `json:"group_name"`
}

// UserPage is a page of v2/user/list.
type UserPage struct {
	HasMore    bool   `json:"has_more"`
	NextCursor int64  `json:"next_cursor,omitempty"`
	List       []User `json:"list"`
}

// Admin is an administrator (listadmin): SysLevel 1 the main one, 2 a sub-admin.
type Admin struct {
	UserID   string `json:"userid"`
	SysLevel int    `json:"sys_level"`
}

// Scopes is the app's contacts scope (auth/scopes).
type Scopes struct {
	AuthedDept []int64  `json:"authed_dept"`
	AuthedUser []string `json:"authed_user"`
}

// UserInfo is who an in-client (免登) code belongs to.
type UserInfo struct {
	UserID   string `json:"userid"`
	UnionID  string `json:"unionid"`
	Name     string `json:"name"`
	DeviceID string `json:"device_id,omitempty"`
	Sys      bool   `json:"sys"`
	SysLevel int    `json:"sys_level"`
}

// UserToken is a member's token from a web (OAuth) login code.
type UserToken struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	ExpireIn     int64  `json:"expireIn"`
	CorpID       string `json:"corpId"`
}

// Me is a member as their own token shows them (contact/users/me).
type Me struct {
	Nick      string `json:"nick"`
	AvatarURL string `json:"avatarUrl,omitempty"`
	Mobile    string `json:"mobile,omitempty"`
	OpenID    string `json:"openId"`
	UnionID   string `json:"unionId"`
	Email     string `json:"email,omitempty"`
	StateCode string `json:"stateCode,omitempty"`
}

// UnionIDUser is whom a unionid names in the org: ContactType 0 a member, 1 an external
// contact.
type UnionIDUser struct {
	ContactType int    `json:"contact_type"`
	UserID      string `json:"userid"`
}

// MaxPageSize is the largest page v2/user/list gives.
const MaxPageSize = 100

// ListSubDepartments lists a department's direct children (topapi/v2/department/listsub).
func (c *Client) ListSubDepartments(ctx context.Context, deptID int64) ([]Department, error) {
	var r oapiResult[[]Department]
	err := c.do(ctx, c.topapi("topapi/v2/department/listsub", map[string]any{"dept_id": deptID}), &r)
	return r.Result, err
}

// ListSubDepartmentIDs lists the ids of a department's direct children, whatever the scope
// (topapi/v2/department/listsubid).
func (c *Client) ListSubDepartmentIDs(ctx context.Context, deptID int64) ([]int64, error) {
	var r oapiResult[struct {
		IDs []int64 `json:"dept_id_list"`
	}]
	err := c.do(ctx, c.topapi("topapi/v2/department/listsubid", map[string]any{"dept_id": deptID}), &r)
	return r.Result.IDs, err
}

// GetDepartment reads a department (topapi/v2/department/get).
func (c *Client) GetDepartment(ctx context.Context, deptID int64) (*DepartmentDetail, error) {
	var r oapiResult[DepartmentDetail]
	if err := c.do(ctx, c.topapi("topapi/v2/department/get", map[string]any{"dept_id": deptID}), &r); err != nil {
		return nil, err
	}
	return &r.Result, nil
}

// ListUsers reads a page of a department's direct members (topapi/v2/user/list): cursor 0
// first, then the page's NextCursor while HasMore; size 1 to MaxPageSize.
func (c *Client) ListUsers(ctx context.Context, deptID, cursor int64, size int) (*UserPage, error) {
	var r oapiResult[UserPage]
	if err := c.do(ctx, c.topapi("topapi/v2/user/list", map[string]any{"dept_id": deptID, "cursor": cursor, "size": size}), &r); err != nil {
		return nil, err
	}
	return &r.Result, nil
}

// GetUser reads a member (topapi/v2/user/get).
func (c *Client) GetUser(ctx context.Context, userID string) (*User, error) {
	var r oapiResult[User]
	if err := c.do(ctx, c.topapi("topapi/v2/user/get", map[string]any{"userid": userID}), &r); err != nil {
		return nil, err
	}
	return &r.Result, nil
}

// ListUserIDs lists the userids of a department's direct members, whatever the scope
// (topapi/user/listid).
func (c *Client) ListUserIDs(ctx context.Context, deptID int64) ([]string, error) {
	var r oapiResult[struct {
		IDs []string `json:"userid_list"`
	}]
	err := c.do(ctx, c.topapi("topapi/user/listid", map[string]any{"dept_id": deptID}), &r)
	return r.Result.IDs, err
}

// CountUsers counts the org's members, or only those who activated DingTalk
// (topapi/user/count).
func (c *Client) CountUsers(ctx context.Context, onlyActive bool) (int, error) {
	var r oapiResult[struct {
		Count int `json:"count"`
	}]
	err := c.do(ctx, c.topapi("topapi/user/count", map[string]any{"only_active": onlyActive}), &r)
	return r.Result.Count, err
}

// ListAdmins lists the org's administrators (topapi/user/listadmin).
func (c *Client) ListAdmins(ctx context.Context) ([]Admin, error) {
	var r oapiResult[[]Admin]
	err := c.do(ctx, c.topapi("topapi/user/listadmin", map[string]any{}), &r)
	return r.Result, err
}

// GetByUnionID finds whom a unionid names (topapi/user/getbyunionid).
func (c *Client) GetByUnionID(ctx context.Context, unionID string) (*UnionIDUser, error) {
	var r oapiResult[UnionIDUser]
	if err := c.do(ctx, c.topapi("topapi/user/getbyunionid", map[string]any{"unionid": unionID}), &r); err != nil {
		return nil, err
	}
	return &r.Result, nil
}

// AuthScopes reads the app's contacts scope (GET auth/scopes).
func (c *Client) AuthScopes(ctx context.Context) (*Scopes, error) {
	var r struct {
		oapiResponse
		Scopes Scopes `json:"auth_org_scopes"`
	}
	if err := c.do(ctx, call{endpoint: "auth/scopes", method: http.MethodGet}, &r); err != nil {
		return nil, err
	}
	return &r.Scopes, nil
}

// UserInfoByCode is whom an in-client (免登) code names (topapi/v2/user/getuserinfo); a
// code is good once, for 5 minutes (40078).
func (c *Client) UserInfoByCode(ctx context.Context, code string) (*UserInfo, error) {
	var r oapiResult[UserInfo]
	k := c.topapi("topapi/v2/user/getuserinfo", map[string]any{"code": code})
	k.once = true
	if err := c.do(ctx, k, &r); err != nil {
		return nil, err
	}
	return &r.Result, nil
}

// UserAccessToken exchanges a web login's code for the member's token
// (POST v1.0/oauth2/userAccessToken); a code is good once.
func (c *Client) UserAccessToken(ctx context.Context, code string) (*UserToken, error) {
	var r UserToken
	err := c.do(ctx, call{endpoint: "v1.0/oauth2/userAccessToken", method: http.MethodPost, newAPI: true, noToken: true, once: true,
		body: map[string]any{"clientId": c.cfg.AppKey, "clientSecret": c.cfg.AppSecret, "code": code, "grantType": "authorization_code"}}, &r)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Me reads the member a member's token belongs to (GET v1.0/contact/users/me).
func (c *Client) Me(ctx context.Context, userToken string) (*Me, error) {
	var r Me
	err := c.do(ctx, call{endpoint: "v1.0/contact/users/me", method: http.MethodGet, newAPI: true, noToken: true, header: userToken}, &r)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Post calls any old-API endpoint ("topapi/…") with a JSON body and returns the answer
// whole (the app token, the rate limit, the errors and retries as for every call).
func (c *Client) Post(ctx context.Context, endpoint string, body any) (map[string]any, error) {
	if body == nil {
		body = map[string]any{}
	}
	var out map[string]any
	err := c.do(ctx, call{endpoint: strings.TrimLeft(endpoint, "/"), method: http.MethodPost, body: body}, &out)
	return out, err
}

// Get calls any old-API endpoint with a GET and the query given.
func (c *Client) Get(ctx context.Context, endpoint string, query map[string]string) (map[string]any, error) {
	q := url.Values{}
	for k, v := range query {
		q.Set(k, v)
	}
	var out map[string]any
	err := c.do(ctx, call{endpoint: strings.TrimLeft(endpoint, "/"), method: http.MethodGet, query: q}, &out)
	return out, err
}

// topapi is a POST of the old API with a JSON body.
func (c *Client) topapi(endpoint string, body map[string]any) call {
	return call{endpoint: endpoint, method: http.MethodPost, body: body}
}

// String is the client as messages name it, never its secret.
func (c *Client) String() string {
	return fmt.Sprintf("dingtalk(%s)", c.cfg.AppKey)
}
