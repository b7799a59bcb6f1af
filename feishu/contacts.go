package feishu

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// RootDepartmentID is the tenant's root department under every id type.
const RootDepartmentID = "0"

// MaxPageSize is the largest page of children and find_by_department.
const MaxPageSize = 50

// Department is a department (REST shape: order is a string).
type Department struct {
	Name               string   `json:"name"`
	ParentDepartmentID string   `json:"parent_department_id"`
	DepartmentID       string   `json:"department_id,omitempty"`
	OpenDepartmentID   string   `json:"open_department_id"`
	LeaderUserID       string   `json:"leader_user_id,omitempty"`
	Order              string   `json:"order,omitempty"`
	MemberCount        int      `json:"member_count,omitempty"`
	Leaders            []Leader `json:"leaders,omitempty"`
	Status             *struct {
		IsDeleted bool `json:"is_deleted"`
	} `json:"status,omitempty"`
}

// Leader is a department's leader (camelCase keys, as Feishu has them): 1 main, 2 deputy.
type Leader struct {
	LeaderType int    `json:"leaderType"`
	LeaderID   string `json:"leaderID"`
}

// OrderNumber is the department's order as a number (0 when absent or not a number).
func (d *Department) OrderNumber() int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(d.Order), 10, 64)
	return n
}

// User is a member (REST shape).
type User struct {
	UnionID         string      `json:"union_id,omitempty"`
	UserID          string      `json:"user_id,omitempty"`
	OpenID          string      `json:"open_id,omitempty"`
	Name            string      `json:"name"`
	EnName          string      `json:"en_name,omitempty"`
	Nickname        string      `json:"nickname,omitempty"`
	Email           string      `json:"email,omitempty"`
	Mobile          string      `json:"mobile,omitempty"`
	Gender          int         `json:"gender,omitempty"`
	Avatar          *Avatar     `json:"avatar,omitempty"`
	Status          *UserStatus `json:"status,omitempty"`
	DepartmentIDs   []string    `json:"department_ids,omitempty"`
	LeaderUserID    string      `json:"leader_user_id,omitempty"`
	City            string      `json:"city,omitempty"`
	Country         string      `json:"country,omitempty"`
	WorkStation     string      `json:"work_station,omitempty"`
	JoinTime        int64       `json:"join_time,omitempty"`
	IsTenantManager bool        `json:"is_tenant_manager,omitempty"`
	EmployeeNo      string      `json:"employee_no,omitempty"`
	EmployeeType    int         `json:"employee_type,omitempty"`
	Orders          []UserOrder `json:"orders,omitempty"`
	EnterpriseEmail string      `json:"enterprise_email,omitempty"`
	JobTitle        string      `json:"job_title,omitempty"`
}

// Avatar is a member's avatar URLs.
type Avatar struct {
	Avatar72     string `json:"avatar_72,omitempty"`
	Avatar240    string `json:"avatar_240,omitempty"`
	Avatar640    string `json:"avatar_640,omitempty"`
	AvatarOrigin string `json:"avatar_origin,omitempty"`
}

// UserStatus is a member's state.
type UserStatus struct {
	IsFrozen    bool `json:"is_frozen"`
	IsResigned  bool `json:"is_resigned"`
	IsActivated bool `json:"is_activated"`
	IsExited    bool `json:"is_exited"`
	IsUnjoin    bool `json:"is_unjoin"`
}

// UserOrder is a member's order in a department; IsPrimaryDept marks the main one.
type UserOrder struct {
	DepartmentID    string `json:"department_id"`
	UserOrder       int64  `json:"user_order"`
	DepartmentOrder int64  `json:"department_order"`
	IsPrimaryDept   bool   `json:"is_primary_dept"`
}

// DepartmentPage is a page of departments.
type DepartmentPage struct {
	HasMore   bool         `json:"has_more"`
	PageToken string       `json:"page_token,omitempty"`
	Items     []Department `json:"items"`
}

// UserPage is a page of members.
type UserPage struct {
	HasMore   bool   `json:"has_more"`
	PageToken string `json:"page_token,omitempty"`
	Items     []User `json:"items"`
}

// Scopes is the app's contacts scope (contact/v3/scopes).
type Scopes struct {
	DepartmentIDs []string `json:"department_ids"`
	UserIDs       []string `json:"user_ids"`
	GroupIDs      []string `json:"group_ids"`
	HasMore       bool     `json:"has_more"`
	PageToken     string   `json:"page_token,omitempty"`
}

// UserToken is a member's token from a web login's code (authen/v2/oauth/token).
type UserToken struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
}

// UserInfo is the member a member's token belongs to (authen/v1/user_info).
type UserInfo struct {
	Name      string `json:"name"`
	OpenID    string `json:"open_id"`
	UnionID   string `json:"union_id"`
	UserID    string `json:"user_id,omitempty"`
	TenantKey string `json:"tenant_key"`
	Email     string `json:"email,omitempty"`
	Mobile    string `json:"mobile,omitempty"`
}

// idTypes are the id types every contacts call names.
func idTypes() url.Values {
	return url.Values{"user_id_type": {"user_id"}, "department_id_type": {"open_department_id"}}
}

// ListChildren reads a page of a department's children (one level):
// GET contact/v3/departments/:id/children.
func (c *Client) ListChildren(ctx context.Context, departmentID, pageToken string) (*DepartmentPage, error) {
	q := idTypes()
	q.Set("fetch_child", "false")
	q.Set("page_size", strconv.Itoa(MaxPageSize))
	if pageToken != "" {
		q.Set("page_token", pageToken)
	}
	var p DepartmentPage
	err := c.do(ctx, call{endpoint: "contact/v3/departments/children", method: http.MethodGet,
		path: "/open-apis/contact/v3/departments/" + url.PathEscape(departmentID) + "/children", query: q}, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// GetDepartment reads a department: GET contact/v3/departments/:id.
func (c *Client) GetDepartment(ctx context.Context, departmentID string) (*Department, error) {
	var d struct {
		Department Department `json:"department"`
	}
	err := c.do(ctx, call{endpoint: "contact/v3/departments/get", method: http.MethodGet,
		path: "/open-apis/contact/v3/departments/" + url.PathEscape(departmentID), query: idTypes()}, &d)
	if err != nil {
		return nil, err
	}
	return &d.Department, nil
}

// FindByDepartment reads a page of a department's direct members:
// GET contact/v3/users/find_by_department.
func (c *Client) FindByDepartment(ctx context.Context, departmentID, pageToken string) (*UserPage, error) {
	q := idTypes()
	q.Set("department_id", departmentID)
	q.Set("page_size", strconv.Itoa(MaxPageSize))
	if pageToken != "" {
		q.Set("page_token", pageToken)
	}
	var p UserPage
	err := c.do(ctx, call{endpoint: "contact/v3/users/find_by_department", method: http.MethodGet,
		path: "/open-apis/contact/v3/users/find_by_department", query: q}, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// GetUser reads a member by user_id: GET contact/v3/users/:user_id.
func (c *Client) GetUser(ctx context.Context, userID string) (*User, error) {
	var u struct {
		User User `json:"user"`
	}
	err := c.do(ctx, call{endpoint: "contact/v3/users/get", method: http.MethodGet,
		path: "/open-apis/contact/v3/users/" + url.PathEscape(userID), query: idTypes()}, &u)
	if err != nil {
		return nil, err
	}
	return &u.User, nil
}

// ListScopes reads the app's contacts scope, every page: GET contact/v3/scopes.
func (c *Client) ListScopes(ctx context.Context) (*Scopes, error) {
	all := &Scopes{}
	token := ""
	for {
		q := idTypes()
		q.Set("page_size", "100")
		if token != "" {
			q.Set("page_token", token)
		}
		var p Scopes
		if err := c.do(ctx, call{endpoint: "contact/v3/scopes", method: http.MethodGet, path: "/open-apis/contact/v3/scopes", query: q}, &p); err != nil {
			return nil, err
		}
		all.DepartmentIDs = append(all.DepartmentIDs, p.DepartmentIDs...)
		all.UserIDs = append(all.UserIDs, p.UserIDs...)
		all.GroupIDs = append(all.GroupIDs, p.GroupIDs...)
		if !p.HasMore || p.PageToken == "" || p.PageToken == token {
			return all, nil
		}
		token = p.PageToken
	}
}

// UserAccessToken exchanges a login's code for the member's token
// (POST authen/v2/oauth/token): a web login's with the redirect URI it was issued for, an
// in-client one (tt.requestAuthCode) with none. A code is good once, for 5 minutes.
func (c *Client) UserAccessToken(ctx context.Context, code, redirectURI string) (*UserToken, error) {
	var t UserToken
	body := map[string]string{"grant_type": "authorization_code", "client_id": c.cfg.AppID, "client_secret": c.cfg.AppSecret, "code": code}
	if redirectURI != "" {
		body["redirect_uri"] = redirectURI
	}
	err := c.do(ctx, call{endpoint: "authen/v2/oauth/token", method: http.MethodPost, path: "/open-apis/authen/v2/oauth/token",
		body: body, noToken: true, once: true, topLevel: true}, &t)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// UserInfo reads the member a member's token belongs to (GET authen/v1/user_info).
func (c *Client) UserInfo(ctx context.Context, userToken string) (*UserInfo, error) {
	var u UserInfo
	err := c.do(ctx, call{endpoint: "authen/v1/user_info", method: http.MethodGet, path: "/open-apis/authen/v1/user_info", bearer: userToken}, &u)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// Get calls any endpoint ("/open-apis/…" or "contact/v3/…") with the tenant's token and
// returns its data.
func (c *Client) Get(ctx context.Context, path string, query map[string]string) (map[string]any, error) {
	q := url.Values{}
	for k, v := range query {
		q.Set(k, v)
	}
	var out map[string]any
	err := c.do(ctx, call{endpoint: rawEndpoint(path), method: http.MethodGet, path: rawPath(path), query: q}, &out)
	return out, err
}

// Post calls any endpoint with a JSON body and returns its data.
func (c *Client) Post(ctx context.Context, path string, body any) (map[string]any, error) {
	if body == nil {
		body = map[string]any{}
	}
	var out map[string]any
	err := c.do(ctx, call{endpoint: rawEndpoint(path), method: http.MethodPost, path: rawPath(path), body: body}, &out)
	return out, err
}

func rawPath(p string) string {
	p = "/" + strings.TrimLeft(p, "/")
	if !strings.HasPrefix(p, "/open-apis/") {
		p = "/open-apis" + p
	}
	return p
}

func rawEndpoint(p string) string { return strings.TrimPrefix(rawPath(p), "/open-apis/") }
