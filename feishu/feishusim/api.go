package feishusim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /open-apis/auth/v3/tenant_access_token/internal", s.tenantToken)
	mux.HandleFunc("GET /open-apis/contact/v3/departments/{id}/children", s.api("contact/v3/departments/children", s.children_))
	mux.HandleFunc("GET /open-apis/contact/v3/departments/{id}", s.api("contact/v3/departments/get", s.getDept))
	mux.HandleFunc("GET /open-apis/contact/v3/users/find_by_department", s.api("contact/v3/users/find_by_department", s.findByDept))
	mux.HandleFunc("GET /open-apis/contact/v3/users/{id}", s.api("contact/v3/users/get", s.getUser))
	mux.HandleFunc("GET /open-apis/contact/v3/scopes", s.api("contact/v3/scopes", s.scopes))
	mux.HandleFunc("GET /open-apis/authen/v1/authorize", s.loginPage)
	mux.HandleFunc("POST /open-apis/authen/v1/authorize", s.loginPick)
	mux.HandleFunc("POST /open-apis/authen/v2/oauth/token", s.oauthToken)
	mux.HandleFunc("GET /open-apis/authen/v1/user_info", s.userInfo)
	mux.HandleFunc("/sim/", s.control)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "404 page not found", http.StatusNotFound) })
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Tt-Logid", randomHex(10))
	w.WriteHeader(status)
	w.Write(b)
}

func ok(w http.ResponseWriter, data any) {
	writeJSON(w, 200, map[string]any{"code": 0, "msg": "success", "data": data})
}

// fail writes Feishu's error: the code in the body, with the HTTP status Feishu gives it.
func fail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, statusOf(code), map[string]any{"code": code, "msg": msg, "error": map[string]any{"log_id": randomHex(10)}})
}

func statusOf(code int) int {
	switch code {
	case 40004, 40014:
		return http.StatusForbidden
	case 42008:
		return http.StatusUnauthorized
	case 99991400:
		return http.StatusTooManyRequests
	case 40003:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

type handler func(r *http.Request) (data any, code int, msg string)

// api wraps a contacts handler: the tenant token, the rate limit and the faults first.
func (s *Server) api(endpoint string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		tok, bearer := strings.CutPrefix(auth, "Bearer ")
		switch {
		case auth == "" || !bearer:
			fail(w, 99991661, "Missing access token for authorization. Please make a request with token attached.")
			return
		case !s.validToken(tok):
			fail(w, 99991663, "Invalid access token for authorization. Please make a request with token attached.")
			return
		}
		if wait := s.allow(endpoint); wait > 0 {
			s.throttled.Add(1)
			w.Header().Set("x-ogw-ratelimit-limit", strconv.Itoa(s.opts.PerMinute))
			w.Header().Set("x-ogw-ratelimit-reset", strconv.Itoa(wait))
			fail(w, 99991400, "request trigger frequency limit")
			return
		}
		s.calls.Add(1)
		if code := s.nextFailure(endpoint); code != 0 {
			if code == 99991400 {
				w.Header().Set("x-ogw-ratelimit-reset", "1")
			}
			fail(w, code, "emulated failure")
			return
		}
		q := r.URL.Query()
		if t := q.Get("user_id_type"); t != "" && t != "user_id" && t != "open_id" && t != "union_id" {
			fail(w, 99992402, "field validation failed")
			return
		}
		data, code, msg := h(r)
		if code != 0 {
			fail(w, code, msg)
			return
		}
		ok(w, data)
	}
}

func (s *Server) tenantToken(w http.ResponseWriter, r *http.Request) {
	s.tokenCalls.Add(1)
	var req struct {
		AppID     string `json:"app_id"`
		AppSecret string `json:"app_secret"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	switch {
	case req.AppID != s.opts.AppID:
		writeJSON(w, 200, map[string]any{"code": 10003, "msg": "invalid param"})
	case req.AppSecret != s.opts.AppSecret:
		writeJSON(w, 200, map[string]any{"code": 10014, "msg": "app secret invalid"})
	default:
		t, left := s.issueToken()
		writeJSON(w, 200, map[string]any{"code": 0, "msg": "ok", "tenant_access_token": t, "expire": left})
	}
}

// page reads page_size (default 10, at most 50) and page_token (an opaque offset).
func page(q url.Values) (offset, size, code int, msg string) {
	size = 10
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			return 0, 0, 99992402, "field validation failed: page_size: the max value is 50"
		}
		size = n
	}
	if t := q.Get("page_token"); t != "" {
		raw, err := base64.StdEncoding.DecodeString(t)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "offset="))
		if err != nil || err2 != nil || !strings.HasPrefix(string(raw), "offset=") || n < 0 {
			return 0, 0, 40012, "page token is invalid error"
		}
		offset = n
	}
	return offset, size, 0, ""
}

func pageToken(offset int) string {
	return base64.StdEncoding.EncodeToString([]byte("offset=" + strconv.Itoa(offset)))
}

// deptJSON is a department in REST's shape (order a string), its ids as open ids.
func (s *Server) deptJSON(d *Department) map[string]any {
	m := map[string]any{"name": d.Name, "i18n_name": map[string]any{"zh_cn": d.Name}, "department_id": d.CustomID,
		"open_department_id": d.OpenID, "parent_department_id": d.ParentID, "order": strconv.FormatInt(d.Order, 10),
		"status": map[string]any{"is_deleted": false}, "member_count": s.subtreeCount(d.OpenID)}
	if d.Leader != "" {
		m["leader_user_id"] = d.Leader
		m["leaders"] = []map[string]any{{"leaderType": 1, "leaderID": d.Leader}}
	}
	if d.OpenID == "0" {
		delete(m, "parent_department_id")
	}
	return m
}

func (s *Server) subtreeCount(id string) int {
	n := len(s.members[id])
	for _, c := range s.children[id] {
		n += s.subtreeCount(c)
	}
	return n
}

func (s *Server) children_(r *http.Request) (any, int, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id := r.PathValue("id")
	if s.depts[id] == nil {
		return nil, 40015, "department not exist"
	}
	q := r.URL.Query()
	offset, size, code, msg := page(q)
	if code != 0 {
		return nil, code, msg
	}
	all := s.children[id]
	if q.Get("fetch_child") == "true" {
		all = s.descendants(id)
	}
	end := min(offset+size, len(all))
	items := []map[string]any{}
	for i := offset; i < end; i++ {
		items = append(items, s.deptJSON(s.depts[all[i]]))
	}
	data := map[string]any{"has_more": end < len(all), "items": items}
	if end < len(all) {
		data["page_token"] = pageToken(end)
	}
	return data, 0, ""
}

func (s *Server) descendants(id string) []string {
	var out []string
	for _, c := range s.children[id] {
		out = append(out, c)
		out = append(out, s.descendants(c)...)
	}
	return out
}

func (s *Server) getDept(r *http.Request) (any, int, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.depts[r.PathValue("id")]
	if d == nil {
		return nil, 40015, "department not exist"
	}
	return map[string]any{"department": s.deptJSON(d)}, 0, ""
}

// userJSON is a member in REST's shape (user_id_type=user_id: leader as user_id).
func (s *Server) userJSON(u *User) map[string]any {
	orders := make([]map[string]any, len(u.Depts))
	for i, d := range u.Depts {
		orders[i] = map[string]any{"department_id": d, "user_order": 0, "department_order": i, "is_primary_dept": i == 0}
	}
	m := map[string]any{"union_id": u.UnionID, "user_id": u.UserID, "open_id": u.OpenID, "name": u.Name, "en_name": u.EnName,
		"email": u.Email, "mobile": u.Mobile, "mobile_visible": true, "gender": u.Gender, "job_title": u.JobTitle,
		"avatar":         map[string]any{"avatar_72": "https://s1-imfile.feishucdn.com/static-resource/v1/" + u.OpenID + "~?image_size=72x72"},
		"status":         map[string]any{"is_frozen": false, "is_resigned": false, "is_activated": true, "is_exited": false, "is_unjoin": false},
		"department_ids": append([]string{}, u.Depts...), "city": u.City, "country": "中国", "join_time": u.JoinTime,
		"employee_no": u.EmployeeNo, "employee_type": 1, "orders": orders, "enterprise_email": strings.ToLower(u.UserID) + "@example.feishu.cn"}
	if u.Leader != "" {
		m["leader_user_id"] = u.Leader
	}
	return m
}

func (s *Server) findByDept(r *http.Request) (any, int, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	q := r.URL.Query()
	id := q.Get("department_id")
	if id == "" {
		return nil, 99992402, "field validation failed: department_id is required"
	}
	if s.depts[id] == nil {
		return nil, 40015, "department not exist"
	}
	offset, size, code, msg := page(q)
	if code != 0 {
		return nil, code, msg
	}
	all := s.members[id]
	end := min(offset+size, len(all))
	items := []map[string]any{}
	for i := offset; i < end; i++ {
		items = append(items, s.userJSON(s.users[all[i]]))
	}
	data := map[string]any{"has_more": end < len(all), "items": items}
	if end < len(all) {
		data["page_token"] = pageToken(end)
	}
	return data, 0, ""
}

func (s *Server) getUser(r *http.Request) (any, int, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id := r.PathValue("id")
	u := s.users[id]
	if r.URL.Query().Get("user_id_type") != "user_id" {
		u = nil
		for _, x := range s.users {
			if x.OpenID == id {
				u = x
			}
		}
	}
	if u == nil {
		return nil, 41012, "user id invalid"
	}
	return map[string]any{"user": s.userJSON(u)}, 0, ""
}

func (s *Server) scopes(*http.Request) (any, int, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return map[string]any{"department_ids": append([]string{}, s.children["0"]...), "user_ids": append([]string{}, s.members["0"]...),
		"group_ids": []string{}, "has_more": false}, 0, ""
}

// loginPage is the authorize page (accounts.feishu.cn/open-apis/authen/v1/authorize): a
// member list to pick from.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	client := q.Get("client_id")
	if client == "" {
		client = q.Get("app_id")
	}
	if client != s.opts.AppID || q.Get("redirect_uri") == "" {
		http.Error(w, "invalid login request: client_id and redirect_uri are required (20029)", http.StatusBadRequest)
		return
	}
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>飞书登录 (emulator)</title></head><body><h1>飞书登录</h1><form method="post"><ul>`)
	for _, u := range s.Users() {
		fmt.Fprintf(&b, `<li><label><input type="radio" name="user_id" value="%s"> %s (%s)</label></li>`, html.EscapeString(u.UserID), html.EscapeString(u.Name), html.EscapeString(u.UserID))
	}
	for _, k := range []string{"redirect_uri", "state"} {
		fmt.Fprintf(&b, `<input type="hidden" name="%s" value="%s">`, k, html.EscapeString(q.Get(k)))
	}
	fmt.Fprintf(&b, `<input type="hidden" name="client_id" value="%s">`, html.EscapeString(client))
	b.WriteString(`</ul><button type="submit">授权</button> <button type="submit" name="deny" value="1">拒绝</button></form></body></html>`)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, b.String())
}

// loginPick sends the browser back with a code and the state, or error=access_denied.
func (s *Server) loginPick(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	back, err := url.Parse(r.PostForm.Get("redirect_uri"))
	if err != nil || (back.Scheme != "http" && back.Scheme != "https") || r.PostForm.Get("client_id") != s.opts.AppID {
		http.Error(w, "invalid redirect_uri (20029)", http.StatusBadRequest)
		return
	}
	q := back.Query()
	if r.PostForm.Get("deny") != "" {
		q.Set("error", "access_denied")
	} else {
		code, err := s.IssueAuthCode(r.PostForm.Get("user_id"), r.PostForm.Get("redirect_uri"))
		if err != nil {
			http.Error(w, "pick a member", http.StatusBadRequest)
			return
		}
		q.Set("code", code)
	}
	q.Set("state", r.PostForm.Get("state"))
	back.RawQuery = q.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// oauthToken exchanges a code (authen/v2/oauth/token): RFC 6749's top-level answer.
func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		Code         string `json:"code"`
		RedirectURI  string `json:"redirect_uri"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	bad := func(code int, e, desc string) {
		writeJSON(w, 400, map[string]any{"code": code, "error": e, "error_description": desc})
	}
	switch {
	case req.GrantType != "authorization_code":
		bad(20036, "unsupported_grant_type", "The grant_type is not supported.")
		return
	case req.ClientID != s.opts.AppID:
		bad(20024, "invalid_client", "The code does not belong to this app.")
		return
	case req.ClientSecret != s.opts.AppSecret:
		bad(20002, "invalid_client", "The client secret is invalid.")
		return
	}
	s.codeMu.Lock()
	is, found := s.codes[req.Code]
	delete(s.codes, req.Code)
	s.codeMu.Unlock()
	switch {
	case !found:
		bad(20003, "invalid_grant", "The authorization code is not found or was used.")
		return
	case time.Now().After(is.expires):
		bad(20004, "invalid_grant", "The authorization code has expired.")
		return
	case req.RedirectURI != is.redirect:
		bad(20071, "invalid_grant", "The redirect_uri is not the one the code was issued for.")
		return
	}
	tok := "eyJ" + randomHex(32)
	s.codeMu.Lock()
	s.userTokens[tok] = is.userID
	s.codeMu.Unlock()
	writeJSON(w, 200, map[string]any{"code": 0, "access_token": tok, "expires_in": 7200, "token_type": "Bearer", "scope": "contact:user.employee_id:readonly"})
}

func (s *Server) userInfo(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.codeMu.Lock()
	id, found := s.userTokens[tok]
	s.codeMu.Unlock()
	s.mu.RLock()
	u := s.users[id]
	s.mu.RUnlock()
	if !found || u == nil {
		fail(w, 20005, "the user access token is invalid")
		return
	}
	ok(w, map[string]any{"name": u.Name, "en_name": u.EnName, "open_id": u.OpenID, "union_id": u.UnionID, "user_id": u.UserID,
		"tenant_key": s.opts.TenantKey, "email": u.Email, "mobile": u.Mobile, "employee_no": u.EmployeeNo})
}
