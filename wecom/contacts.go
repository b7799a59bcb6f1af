package wecom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

// Token returns a valid access token for the app secret (fetching one if needed). It is
// for Go callers only; the runtime never hands it to scripts.
func (c *Client) Token(ctx context.Context) (string, error) { return c.app.get(ctx) }

func idQuery(key string, id int64) url.Values {
	return url.Values{key: {strconv.FormatInt(id, 10)}}
}

// ListDepartments is department/list: the department id and its subtree, or the whole
// visible tree when id is 0.
func (c *Client) ListDepartments(ctx context.Context, id int64) ([]Department, error) {
	type resp struct {
		baseResponse
		Department []Department `json:"department"`
	}
	q := url.Values{}
	if id != 0 {
		q = idQuery("id", id)
	}
	r, err := do[resp](ctx, c, call{endpoint: "department/list", query: q})
	if err != nil {
		return nil, err
	}
	return r.Department, nil
}

// SimpleListDepartments is department/simplelist: ids, parents and orders of the subtree
// of id (the whole tree when id is 0).
func (c *Client) SimpleListDepartments(ctx context.Context, id int64) ([]DepartmentID, error) {
	type resp struct {
		baseResponse
		DepartmentID []DepartmentID `json:"department_id"`
	}
	q := url.Values{}
	if id != 0 {
		q = idQuery("id", id)
	}
	r, err := do[resp](ctx, c, call{endpoint: "department/simplelist", query: q})
	if err != nil {
		return nil, err
	}
	return r.DepartmentID, nil
}

// GetDepartment is department/get.
func (c *Client) GetDepartment(ctx context.Context, id int64) (*Department, error) {
	type resp struct {
		baseResponse
		Department Department `json:"department"`
	}
	r, err := do[resp](ctx, c, call{endpoint: "department/get", query: idQuery("id", id)})
	if err != nil {
		return nil, err
	}
	return &r.Department, nil
}

// ListUsers is user/list: the members directly in a department, with details.
func (c *Client) ListUsers(ctx context.Context, departmentID int64) ([]User, error) {
	return c.listUsersInto(ctx, departmentID, nil)
}

// listUsersInto is ListUsers decoding into buf's array, which must be all zero values up
// to its capacity (the decoder keeps the fields a member's JSON leaves out as it finds
// them, so a used buffer would give a member another's values). The list it returns may
// be in buf's array or, when the page outgrew it, a new one.
func (c *Client) listUsersInto(ctx context.Context, departmentID int64, buf []User) ([]User, error) {
	type resp struct {
		baseResponse
		UserList []User `json:"userlist"`
	}
	attempts := 0
	r, err := do[resp](ctx, c, call{endpoint: "user/list", query: idQuery("department_id", departmentID),
		prepare: func(out any) {
			if attempts++; attempts > 1 {
				clear(buf[:cap(buf)]) // a failed attempt may have decoded into it
			}
			out.(*resp).UserList = buf[:0]
		}})
	if err != nil {
		return nil, err
	}
	return r.UserList, nil
}

// SimpleListUsers is user/simplelist: the members directly in a department, ids and names.
func (c *Client) SimpleListUsers(ctx context.Context, departmentID int64) ([]SimpleUser, error) {
	type resp struct {
		baseResponse
		UserList []SimpleUser `json:"userlist"`
	}
	r, err := do[resp](ctx, c, call{endpoint: "user/simplelist", query: idQuery("department_id", departmentID)})
	if err != nil {
		return nil, err
	}
	return r.UserList, nil
}

// GetUser is user/get.
func (c *Client) GetUser(ctx context.Context, userID string) (*User, error) {
	type resp struct {
		baseResponse
		User
	}
	r, err := do[resp](ctx, c, call{endpoint: "user/get", query: url.Values{"userid": {userID}}})
	if err != nil {
		return nil, err
	}
	return &r.User, nil
}

// MaxListIDLimit is the largest page user/list_id serves.
const MaxListIDLimit = 10_000

// ListUserIDs is one page of user/list_id (contact-sync secret only): pass "" as the
// cursor for the first page; an empty next cursor means the last page.
func (c *Client) ListUserIDs(ctx context.Context, cursor string, limit int) (rows []DeptUser, next string, err error) {
	if limit <= 0 || limit > MaxListIDLimit {
		return nil, "", fmt.Errorf("wecom user/list_id: limit must be 1..%d, got %d", MaxListIDLimit, limit)
	}
	type req struct {
		Cursor string `json:"cursor,omitempty"`
		Limit  int    `json:"limit"`
	}
	type resp struct {
		baseResponse
		NextCursor string     `json:"next_cursor"`
		DeptUser   []DeptUser `json:"dept_user"`
	}
	r, err := do[resp](ctx, c, call{endpoint: "user/list_id", post: true, contact: true, body: req{Cursor: cursor, Limit: limit}})
	if err != nil {
		return nil, "", err
	}
	return r.DeptUser, r.NextCursor, nil
}

// ListAllUserIDs walks every page of user/list_id.
func (c *Client) ListAllUserIDs(ctx context.Context) ([]DeptUser, error) {
	var all []DeptUser
	cursor := ""
	for {
		rows, next, err := c.ListUserIDs(ctx, cursor, MaxListIDLimit)
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
		if next == "" {
			return all, nil
		}
		if next == cursor {
			return nil, fmt.Errorf("wecom user/list_id: the cursor did not advance")
		}
		cursor = next
	}
}

// ListTags is tag/list.
func (c *Client) ListTags(ctx context.Context) ([]Tag, error) {
	type resp struct {
		baseResponse
		TagList []Tag `json:"taglist"`
	}
	r, err := do[resp](ctx, c, call{endpoint: "tag/list"})
	if err != nil {
		return nil, err
	}
	return r.TagList, nil
}

// GetTag is tag/get: the tag's members (within the app's visible range) and departments.
func (c *Client) GetTag(ctx context.Context, tagID int64) (*TagDetail, error) {
	type resp struct {
		baseResponse
		TagName   string    `json:"tagname"`
		UserList  []TagUser `json:"userlist"`
		PartyList []int64   `json:"partylist"`
	}
	r, err := do[resp](ctx, c, call{endpoint: "tag/get", query: idQuery("tagid", tagID)})
	if err != nil {
		return nil, err
	}
	return &TagDetail{TagID: tagID, TagName: r.TagName, UserList: r.UserList, PartyList: r.PartyList}, nil
}

// rawResponse decodes any response, keeping every field.
type rawResponse struct {
	baseResponse
	fields map[string]any
}

func (r *rawResponse) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &r.fields); err != nil {
		return err
	}
	if v, ok := r.fields["errcode"].(float64); ok {
		r.ErrCode = int(v)
	}
	r.ErrMsg, _ = r.fields["errmsg"].(string)
	return nil
}

// Get calls any GET endpoint ("user/get") with query parameters, handling the token and
// errcodes like the typed methods, and returns the response's fields.
func (c *Client) Get(ctx context.Context, endpoint string, query map[string]string) (map[string]any, error) {
	q := url.Values{}
	for k, v := range query {
		if k == "access_token" {
			continue
		}
		q.Set(k, v)
	}
	r, err := do[rawResponse](ctx, c, call{endpoint: endpoint, query: q})
	if err != nil {
		return nil, err
	}
	return r.fields, nil
}

// Post calls any POST endpoint with a JSON body.
func (c *Client) Post(ctx context.Context, endpoint string, body any) (map[string]any, error) {
	r, err := do[rawResponse](ctx, c, call{endpoint: endpoint, post: true, body: body})
	if err != nil {
		return nil, err
	}
	return r.fields, nil
}
