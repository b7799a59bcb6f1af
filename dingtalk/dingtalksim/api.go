package dingtalksim

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// routes serves both API generations and the login page on one host.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /gettoken", s.getToken)
	mux.HandleFunc("GET /auth/scopes", s.oapi(s.authScopes))
	mux.HandleFunc("/topapi/", s.topapi)
	mux.HandleFunc("POST /v1.0/oauth2/accessToken", s.newAccessToken)
	mux.HandleFunc("POST /v1.0/oauth2/userAccessToken", s.userAccessToken)
	mux.HandleFunc("GET /v1.0/contact/users/{who}", s.contactUser)
	mux.HandleFunc("GET /oauth2/auth", s.loginPage)
	mux.HandleFunc("POST /oauth2/auth", s.loginPick)
	mux.HandleFunc("/sim/", s.control)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		newAPIError(w, http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	})
	return mux
}

// answer writes an old-API answer: HTTP 200, errcode 0 and the fields given.
func answer(w http.ResponseWriter, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["errcode"], fields["errmsg"] = 0, "ok"
	fields["request_id"] = randomHex(6)
	writeJSON(w, http.StatusOK, fields)
}

// oapiError writes an old-API error: HTTP 200 with the errcode, wrapped in 88 where
// DingTalk's gateway wraps it (on /topapi, for token, permission and rate-limit failures).
func oapiError(w http.ResponseWriter, wrap bool, code, msg string) {
	n, _ := strconv.ParseInt(code, 10, 64)
	body := map[string]any{"errcode": n, "errmsg": msg, "request_id": randomHex(6)}
	if wrap {
		body = map[string]any{"errcode": 88, "sub_code": code, "sub_msg": msg,
			"errmsg": fmt.Sprintf("ding talk error[subcode=%s,submsg=%s]", code, msg), "request_id": randomHex(6)}
	}
	writeJSON(w, http.StatusOK, body)
}

// gateway reports whether an old-API code comes 88-wrapped on /topapi.
func gateway(code string) bool {
	switch code {
	case "40014", "40000", "42001", "60011", "90018", "90002":
		return true
	}
	return false
}

func newAPIError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "requestid": randomHex(6)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// params reads an old-API call's parameters: a JSON body, a form body or the query.
func params(r *http.Request) (map[string]any, string) {
	p := map[string]any{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	ct := r.Header.Get("Content-Type")
	switch {
	case len(body) == 0:
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		form, _ := url.ParseQuery(string(body))
		for k, v := range form {
			p[k] = v[0]
		}
	default:
		var j map[string]any
		d := json.NewDecoder(strings.NewReader(string(body)))
		d.UseNumber()
		if d.Decode(&j) != nil {
			return nil, "400002"
		}
		for k, v := range j {
			p[k] = v
		}
	}
	tok, _ := p["access_token"].(string)
	return p, tok
}

// num reads an integer parameter (a JSON number or a string of digits).
func num(p map[string]any, key string) (int64, bool) {
	switch v := p[key].(type) {
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	case float64:
		return int64(v), true
	}
	return 0, false
}

func str(p map[string]any, key string) string {
	switch v := p[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

func (s *Server) getToken(w http.ResponseWriter, r *http.Request) {
	s.tokens.Add(1)
	q := r.URL.Query()
	if q.Get("appkey") == "" {
		oapiError(w, false, "40035", "缺少参数 corpid or appkey")
		return
	}
	if q.Get("appkey") != s.opts.AppKey || q.Get("appsecret") != s.opts.AppSecret {
		oapiError(w, false, "40096", "不合法的appKey或appSecret")
		return
	}
	answer(w, map[string]any{"access_token": s.issueToken(), "expires_in": int64(s.opts.TokenTTL / time.Second)})
}

func (s *Server) newAccessToken(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		newAPIError(w, 400, "MissingBody", "body is mandatory for this action")
		return
	}
	var req struct{ AppKey, AppSecret string }
	json.NewDecoder(r.Body).Decode(&req)
	if req.AppKey != s.opts.AppKey || req.AppSecret != s.opts.AppSecret {
		newAPIError(w, 400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
		return
	}
	writeJSON(w, 200, map[string]any{"accessToken": s.issueToken(), "expireIn": int64(s.opts.TokenTTL / time.Second)})
}

// oapi wraps a GET handler of the old API outside /topapi: token checked, errors direct.
func (s *Server) oapi(h func(p map[string]any) (map[string]any, string, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, tok := params(r)
		if !s.validToken(tok) {
			oapiError(w, false, "40014", "不合法的access_token")
			return
		}
		s.calls.Add(1)
		out, code, msg := h(p)
		if code != "" {
			oapiError(w, false, code, msg)
			return
		}
		answer(w, out)
	}
}

func (s *Server) authScopes(map[string]any) (map[string]any, string, string) {
	return map[string]any{"condition_field": []any{}, "auth_user_field": []string{"jobnumber", "isLeader", "name", "position", "isAdmin", "avatar", "department", "userid"},
		"auth_org_scopes": map[string]any{"authed_user": []string{}, "authed_dept": []int64{1}}}, "", ""
}

// topapi serves /topapi/…: parameters, the token, the rate limit and the faults, then the
// endpoint.
func (s *Server) topapi(w http.ResponseWriter, r *http.Request) {
	endpoint := strings.TrimPrefix(r.URL.Path, "/")
	h, ok := s.endpoints[endpoint]
	if !ok {
		name := "dingtalk.oapi." + strings.ReplaceAll(strings.TrimPrefix(endpoint, "topapi/"), "/", ".")
		writeJSON(w, 200, map[string]any{"errcode": 22, "sub_msg": "不合法ApiName，ApiName = " + name,
			"errmsg": "Invalid method[submsg=不合法ApiName，ApiName = " + name + "]", "request_id": randomHex(6)})
		return
	}
	p, tok := params(r)
	if p == nil {
		oapiError(w, false, "400002", "无效的参数")
		return
	}
	switch {
	case tok == "":
		oapiError(w, true, "40000", "access_token is blank")
		return
	case !s.validToken(tok):
		oapiError(w, true, "40014", "不合法的access_token")
		return
	case !s.allow(endpoint):
		s.throttled.Add(1)
		oapiError(w, true, "90018", "您的服务器调用钉钉开放平台当前接口的所有请求都被暂时禁用了，原因为：应用["+s.opts.AppKey+"]调用接口["+endpoint+"]触发了qps流控，请求总次数超过 20 次")
		return
	}
	s.calls.Add(1)
	if code := s.nextFailure(endpoint); code != "" {
		oapiError(w, gateway(code), code, "emulated failure")
		return
	}
	out, code, msg := h(p)
	if code != "" {
		oapiError(w, gateway(code), code, msg)
		return
	}
	answer(w, out)
}

type topHandler func(p map[string]any) (out map[string]any, code, msg string)

func (s *Server) topapiHandlers() map[string]topHandler {
	return map[string]topHandler{
		"topapi/v2/department/listsub":   s.listSub,
		"topapi/v2/department/listsubid": s.listSubID,
		"topapi/v2/department/get":       s.getDept,
		"topapi/v2/user/list":            s.listUsers,
		"topapi/user/listsimple":         s.listSimple,
		"topapi/user/listid":             s.listUserIDs,
		"topapi/v2/user/get":             s.getUser,
		"topapi/user/count":              s.countUsers,
		"topapi/user/listadmin":          s.listAdmins,
		"topapi/user/getbyunionid":       s.getByUnionID,
		"topapi/v2/user/getuserinfo":     s.getUserInfo,
	}
}

func (s *Server) deptParam(p map[string]any, required bool) (int64, string, string) {
	if _, given := p["dept_id"]; !given {
		if required {
			return 0, "40035", "缺少参数 dept_id"
		}
		return 1, "", ""
	}
	id, ok := num(p, "dept_id")
	if !ok || id < 1 {
		return 0, "40035", "参数非法 dept_id"
	}
	if _, known := s.depts[id]; !known {
		return 0, "60003", "未找到对应部门"
	}
	return id, "", ""
}

func (s *Server) listSub(p map[string]any) (map[string]any, string, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, code, msg := s.deptParam(p, false)
	if code != "" {
		return nil, code, msg
	}
	list := make([]map[string]any, 0, len(s.children[id]))
	for _, c := range s.children[id] {
		d := s.depts[c]
		list = append(list, map[string]any{"dept_id": d.ID, "name": d.Name, "parent_id": d.ParentID, "create_dept_group": true, "auto_add_user": true})
	}
	return map[string]any{"result": list}, "", ""
}

func (s *Server) listSubID(p map[string]any) (map[string]any, string, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, code, msg := s.deptParam(p, true)
	if code != "" {
		return nil, code, msg
	}
	return map[string]any{"result": map[string]any{"dept_id_list": append([]int64{}, s.children[id]...)}}, "", ""
}

func (s *Server) getDept(p map[string]any) (map[string]any, string, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, code, msg := s.deptParam(p, true)
	if code != "" {
		return nil, code, msg
	}
	d := s.depts[id]
	count := 0
	var walk func(int64)
	walk = func(x int64) {
		count += len(s.members[x])
		for _, c := range s.children[x] {
			walk(c)
		}
	}
	walk(id)
	out := map[string]any{"dept_id": d.ID, "name": d.Name, "order": d.Order, "brief": "", "create_dept_group": true, "auto_add_user": true,
		"group_contain_sub_dept": false, "hide_dept": false, "outer_dept": false, "dept_manager_userid_list": append([]string{}, d.Managers...),
		"dept_permits": []int64{}, "outer_permit_depts": []int64{}, "outer_permit_users": []string{}, "user_permits": []string{},
		"member_count": count, "owning_member_count": len(s.members[id])}
	if id != 1 {
		out["parent_id"] = d.ParentID
	}
	return map[string]any{"result": out}, "", ""
}

// page reads cursor and size: the offset and 1..100 (sizeCode answers a bad size).
func page(p map[string]any, sizeCode string) (int, int, string, string) {
	cursor, ok := num(p, "cursor")
	if _, given := p["cursor"]; !given {
		return 0, 0, "40035", "缺少参数 cursor"
	}
	if !ok || cursor < 0 || cursor > 100000 {
		return 0, 0, "40068", "无效的偏移量"
	}
	size, ok := num(p, "size")
	if !ok || size < 1 || size > 100 {
		return 0, 0, sizeCode, "无效的size"
	}
	return int(cursor), int(size), "", ""
}

func (s *Server) memberPage(p map[string]any, sizeCode string, item func(u *User, dept int64) map[string]any) (map[string]any, string, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, code, msg := s.deptParam(p, true)
	if code != "" {
		return nil, code, msg
	}
	cursor, size, code, msg := page(p, sizeCode)
	if code != "" {
		return nil, code, msg
	}
	all := s.members[id]
	end := min(cursor+size, len(all))
	list := make([]map[string]any, 0, max(0, end-cursor))
	for i := cursor; i < end; i++ {
		list = append(list, item(s.users[all[i]], id))
	}
	res := map[string]any{"has_more": end < len(all), "list": list}
	if end < len(all) {
		res["next_cursor"] = end
	}
	return map[string]any{"result": res}, "", ""
}

func (s *Server) listUsers(p map[string]any) (map[string]any, string, string) {
	return s.memberPage(p, "40035", func(u *User, dept int64) map[string]any {
		m := userFields(u)
		k := slices.Index(u.Depts, dept)
		m["dept_order"], m["leader"] = u.Orders[k], u.Leader[k]
		m["admin"] = s.admins[u.UserID] > 0
		return m
	})
}

func (s *Server) listSimple(p map[string]any) (map[string]any, string, string) {
	return s.memberPage(p, "40069", func(u *User, _ int64) map[string]any {
		return map[string]any{"userid": u.UserID, "name": u.Name}
	})
}

// userFields are a member's fields both user/list and user/get give.
func userFields(u *User) map[string]any {
	m := map[string]any{"userid": u.UserID, "unionid": u.UnionID, "name": u.Name, "avatar": u.Avatar, "state_code": "86",
		"mobile": u.Mobile, "hide_mobile": false, "telephone": u.Telephone, "job_number": u.JobNumber, "title": u.Title,
		"email": u.Email, "org_email": u.OrgEmail, "work_place": u.WorkPlace, "remark": "", "dept_id_list": append([]int64{}, u.Depts...),
		"hired_date": u.HiredDate, "active": u.Active, "boss": false, "exclusive_account": false}
	if u.Manager != "" {
		m["manager_userid"] = u.Manager
	}
	return m
}

func (s *Server) listUserIDs(p map[string]any) (map[string]any, string, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, code, msg := s.deptParam(p, true)
	if code != "" {
		return nil, code, msg
	}
	return map[string]any{"result": map[string]any{"userid_list": append([]string{}, s.members[id]...)}}, "", ""
}

func (s *Server) getUser(p map[string]any) (map[string]any, string, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[str(p, "userid")]
	if !ok {
		return nil, "60121", "找不到该用户"
	}
	m := userFields(u)
	orders := make([]map[string]any, len(u.Depts))
	leaders := make([]map[string]any, len(u.Depts))
	for k, d := range u.Depts {
		orders[k] = map[string]any{"dept_id": d, "order": u.Orders[k]}
		leaders[k] = map[string]any{"dept_id": d, "leader": u.Leader[k]}
	}
	m["dept_order_list"], m["leader_in_dept"] = orders, leaders
	level := s.admins[u.UserID]
	m["admin"], m["real_authed"], m["senior"] = level > 0, true, false
	m["role_list"] = []map[string]any{}
	if level > 0 {
		m["role_list"] = []map[string]any{{"id": 1000 + level, "name": map[int]string{1: "主管理员", 2: "子管理员"}[level], "group_name": "默认"}}
	}
	m["union_emp_ext"] = map[string]any{}
	return map[string]any{"result": m}, "", ""
}

func (s *Server) countUsers(p map[string]any) (map[string]any, string, string) {
	if _, given := p["only_active"]; !given {
		return nil, "40035", "缺少参数 onlyActive"
	}
	only := fmt.Sprint(p["only_active"]) == "true"
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, u := range s.users {
		if !only || u.Active {
			n++
		}
	}
	return map[string]any{"result": map[string]any{"count": n}}, "", ""
}

func (s *Server) listAdmins(map[string]any) (map[string]any, string, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, 0, len(s.admins))
	for id := range s.admins {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	list := make([]map[string]any, len(ids))
	for i, id := range ids {
		list[i] = map[string]any{"userid": id, "sys_level": s.admins[id]}
	}
	return map[string]any{"result": list}, "", ""
}

func (s *Server) getByUnionID(p map[string]any) (map[string]any, string, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	want := str(p, "unionid")
	for _, u := range s.users {
		if u.UnionID == want {
			return map[string]any{"result": map[string]any{"contact_type": 0, "userid": u.UserID}}, "", ""
		}
	}
	return nil, "60121", "找不到该用户"
}

// getUserInfo is the in-client (免登) code's member; a code is good once for 5 minutes,
// and a web login code is not one (40078).
func (s *Server) getUserInfo(p map[string]any) (map[string]any, string, string) {
	id, ok := s.takeCode(s.codes, str(p, "code"))
	if !ok {
		return nil, "40078", "不存在的临时授权码"
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return nil, "60121", "找不到该用户"
	}
	level := s.admins[id]
	return map[string]any{"result": map[string]any{"userid": u.UserID, "unionid": u.UnionID, "associated_unionid": "", "device_id": randomHex(8),
		"name": u.Name, "sys": level > 0, "sys_level": level}}, "", ""
}

// userAccessToken exchanges a web login code for the member's token.
func (s *Server) userAccessToken(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		newAPIError(w, 400, "MissingBody", "body is mandatory for this action")
		return
	}
	var req struct{ ClientID, ClientSecret, Code, GrantType string }
	json.NewDecoder(r.Body).Decode(&req)
	switch {
	case req.ClientID != s.opts.AppKey || req.ClientSecret != s.opts.AppSecret:
		newAPIError(w, 400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
		return
	case req.GrantType != "authorization_code":
		newAPIError(w, 400, "unsupported.grant.type", "不支持的授权类型")
		return
	}
	id, ok := s.takeCode(s.authCodes, req.Code)
	if !ok {
		newAPIError(w, 400, "invalidCode", "无效的授权码")
		return
	}
	tok := randomHex(16)
	s.codeMu.Lock()
	s.userTokens[tok] = id
	s.codeMu.Unlock()
	writeJSON(w, 200, map[string]any{"accessToken": tok, "refreshToken": randomHex(16), "expireIn": 7200, "corpId": s.opts.CorpID})
}

// contactUser is GET v1.0/contact/users/me (or a unionId) with a member's token.
func (s *Server) contactUser(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("x-acs-dingtalk-access-token")
	if tok == "" {
		newAPIError(w, 400, "AuthenticationFailed.MissingParameter", "缺少参数：x-acs-dingtalk-access-token")
		return
	}
	s.codeMu.Lock()
	id, ok := s.userTokens[tok]
	s.codeMu.Unlock()
	if !ok {
		newAPIError(w, 400, "InvalidAuthentication", "不合法的access_token")
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if who := r.PathValue("who"); who != "me" {
		ok = false
		for _, x := range s.users {
			if x.UnionID == who {
				u, ok = x, true
			}
		}
	}
	if !ok {
		newAPIError(w, 404, "invalidParameter.user.notFound", "用户不存在")
		return
	}
	writeJSON(w, 200, map[string]any{"nick": u.Name, "avatarUrl": u.Avatar, "mobile": u.Mobile, "openId": "open" + u.UnionID[:12],
		"unionId": u.UnionID, "email": u.Email, "stateCode": "86"})
}

// loginPage is the web login (login.dingtalk.com/oauth2/auth) as a member list to pick from.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.opts.AppKey || q.Get("response_type") != "code" || q.Get("redirect_uri") == "" {
		http.Error(w, "invalid login request: client_id, response_type=code and redirect_uri are required", http.StatusBadRequest)
		return
	}
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>钉钉登录 (emulator)</title></head><body><h1>钉钉登录</h1><p>Pick a member of ` + html.EscapeString(s.opts.CorpID) + `:</p><form method="post"><ul>`)
	for _, u := range s.Users() {
		fmt.Fprintf(&b, `<li><label><input type="radio" name="userid" value="%s"> %s (%s)</label></li>`, html.EscapeString(u.UserID), html.EscapeString(u.Name), html.EscapeString(u.UserID))
	}
	for _, k := range []string{"client_id", "redirect_uri", "state", "response_type", "scope", "prompt"} {
		fmt.Fprintf(&b, `<input type="hidden" name="%s" value="%s">`, k, html.EscapeString(q.Get(k)))
	}
	b.WriteString(`</ul><button type="submit">登录</button></form></body></html>`)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, b.String())
}

// loginPick is the member's confirmation: back to redirect_uri with code and authCode (the
// same value) and state.
func (s *Server) loginPick(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	if r.PostForm.Get("client_id") != s.opts.AppKey {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	code, err := s.IssueAuthCode(r.PostForm.Get("userid"))
	if err != nil {
		http.Error(w, "pick a member of the org", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(r.PostForm.Get("redirect_uri"))
	if err != nil || (back.Scheme != "http" && back.Scheme != "https") {
		http.Error(w, "redirect_uri is not an http(s) URL", http.StatusBadRequest)
		return
	}
	q := back.Query()
	q.Set("code", code)
	q.Set("authCode", code)
	q.Set("state", r.PostForm.Get("state"))
	back.RawQuery = q.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}
