package api

import (
	"context"
	"crypto/subtle"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/runtime"
)

// # Members in the browser
//
// A login element (one with the login methods: getLoginConfig, getLoginCode, getSession,
// logout — auths.loginTypes.QywxInnerType, auths.loginTypes.PasswordType) is served at
// /auth/{fullName}/ (a password login's own page: signin.go):
//
//	GET  /auth/{fullName}/login     to WeCom's login (its in-client OAuth in the WeCom client),
//	                                with a state bound to this browser by a cookie
//	GET  /auth/{fullName}/callback  where WeCom sends the browser back: the state is checked,
//	                                the code exchanged once, a session cookie set, and the
//	                                browser sent to the login's landing path
//	POST /auth/logout               ends the browser's session
//	GET  /auth/                     the app's logins (JSON)
//	GET  /api/me                    the member of the session and their roles
//	GET  /me                        a page that shows them
//
// A method call with a session cookie (and no bearer token) is a member's: it is allowed
// only if app.json's "permissions" lists the method with one of the member's roles.

// Cookie names.
const (
	sessionCookie = "jitrt_session" // <login fullName>.<token>
	stateCookie   = "jitrt_state"   // the state of a login in progress, on /auth/{fullName}/
)

const htmlType = "text/html; charset=utf-8"

// loginMethods are what makes an element a login.
var loginMethods = []string{"getLoginConfig", "getLoginCode", "getSession", "logout"}

// routeMember serves the routes of members in the browser; ok is false for any other
// request.
func (s *Server) routeMember(ctx context.Context, r *Request) (route string, resp Response, ok bool) {
	switch {
	case platformCallback(r.Path) == "wecom":
		return "wecom_callback", s.wecomCallback(ctx, r), true
	case platformCallback(r.Path) == "dingtalk":
		return "dingtalk_callback", s.dingtalkCallback(ctx, r), true
	case platformCallback(r.Path) == "feishu":
		return "feishu_callback", s.feishuCallback(ctx, r), true
	case r.Path == "/auth/logout" || (strings.HasPrefix(r.Path, "/auth/") && strings.HasSuffix(r.Path, "/logout")):
		if r.Method != "POST" {
			return "logout", methodNotAllowed("POST"), true
		}
		return "logout", s.logout(ctx, r), true
	case r.Path == "/auth" || r.Path == "/auth/":
		return "logins", s.data(s.logins()), true
	case strings.HasPrefix(r.Path, "/auth/"):
		name, action, _ := strings.Cut(r.Path[len("/auth/"):], "/")
		if action == "login" && r.Method == "POST" {
			return "sign_in", s.signIn(ctx, r, name), true
		}
		if action == "password" {
			if r.Method != "POST" {
				return "password", methodNotAllowed("POST"), true
			}
			return "password", s.changePassword(ctx, r, name), true
		}
		if r.Method != "GET" {
			return "auth", methodNotAllowed("GET"), true
		}
		switch action {
		case "login":
			return "login", s.login(ctx, r, name), true
		case "callback":
			return "callback", s.callback(ctx, r, name), true
		}
		return "auth", page(404, "Not found", "No such login route: "+r.Path, ""), true
	case r.Path == "/api/me":
		if r.Method != "GET" {
			return "me", methodNotAllowed("GET"), true
		}
		_, sess, err := s.session(ctx, r)
		if err != nil {
			return "me", s.fail(err), true
		}
		return "me", s.data(sess), true
	case r.Path == "/me" || r.Path == "/me/":
		return "me_page", Response{Status: 200, ContentType: htmlType, Body: mePage}, true
	case r.Method == "POST" && r.Cookie != "" && strings.HasPrefix(r.Path, "/api/elements/") &&
		(s.opts.Token == "" || !s.authorized(r.Auth)) && strings.Contains(r.Cookie, sessionCookie+"="):
		return "call", s.memberCall(ctx, r), true
	}
	return "", Response{}, false
}

// logins lists the app's login elements.
func (s *Server) logins() []map[string]any {
	out := []map[string]any{}
	for _, e := range s.app.Entries() {
		if isLogin(e) {
			out = append(out, map[string]any{"fullName": e.FullName, "title": e.Status().Title, "loginUrl": "/auth/" + e.FullName + "/login"})
		}
	}
	return out
}

func isLogin(e *runtime.Entry) bool {
	for _, m := range loginMethods {
		if mm := e.Method(m); mm == nil || !mm.Callable {
			return false
		}
	}
	return true
}

// loginEntry is the login element named, or a response saying there is none.
func (s *Server) loginEntry(name string) (*runtime.Entry, *Response) {
	e, err := s.app.Element(name)
	if err == nil && !isLogin(e) {
		err = elements.Errorf(elements.CodeNotFound, "element %s is not a login (an auths.loginTypes element)", name)
	}
	if err != nil {
		code := elements.CodeOf(err)
		r := page(statusOf(code), "No such login", err.Error(), "")
		return nil, &r
	}
	return e, nil
}

func (s *Server) invoke(ctx context.Context, name, method string, args map[string]any) (any, error) {
	ctx, cancel := context.WithTimeout(elements.WithoutQueue(ctx), s.timeout())
	defer cancel()
	return s.app.Invoke(ctx, elements.Call{Element: name, Method: method, Args: []any{args}, Mode: elements.ArgsNamed, Outside: true})
}

// login sends the browser to WeCom's login, with a fresh state in a cookie of its own; a
// password login shows its sign-in page instead.
func (s *Server) login(ctx context.Context, r *Request, name string) Response {
	e, bad := s.loginEntry(name)
	if bad != nil {
		return *bad
	}
	if pl, release, ok := s.passwordLogin(name); ok {
		defer release()
		return s.signInPage(r, name, pl, 200, "", "")
	}
	res, err := s.invoke(ctx, name, "getLoginConfig", nil)
	if err != nil {
		return s.errorPage(err, name)
	}
	cfg, _ := res.(map[string]any)
	state, _ := cfg["state"].(string)
	target, _ := cfg["qrLoginUrl"].(string)
	if inWeComClient(r.UserAgent) {
		target, _ = cfg["oauthUrl"].(string)
	}
	secure := r.TLS || secureLogin(e)
	return Response{Status: 302, ContentType: htmlType, Location: target,
		SetCookies: []string{cookie(stateCookie, state, "/auth/"+name+"/", int(10*time.Minute/time.Second), secure)},
		Body:       []byte(`<a href="` + template.HTMLEscapeString(target) + `">Log in with WeCom</a>`)}
}

// inWeComClient reports a User-Agent of the WeCom client ("wxwork/4.1.0 …").
func inWeComClient(ua string) bool { return strings.Contains(strings.ToLower(ua), "wxwork/") }

// secureLogin reports whether the login is reached over https (its redirect URI is).
func secureLogin(e *runtime.Entry) bool {
	v, ok, _ := e.Property("authConfig")
	m, _ := v.(map[string]any)
	uri, _ := m["redirectUri"].(string)
	return ok && strings.HasPrefix(uri, "https:")
}

// callback takes the browser back from WeCom: the state must be this browser's, the code
// is exchanged once, and a session cookie is set.
func (s *Server) callback(ctx context.Context, r *Request, name string) Response {
	e, bad := s.loginEntry(name)
	if bad != nil {
		return *bad
	}
	secure := r.TLS || secureLogin(e)
	clear := cookie(stateCookie, "", "/auth/"+name+"/", -1, secure)
	q, err := url.ParseQuery(r.Query)
	if err != nil {
		return withCookies(page(400, "Login failed", "The address WeCom sent back cannot be read.", name), clear)
	}
	state, code := q.Get("state"), q.Get("code")
	mine := cookieValue(r.Cookie, stateCookie)
	if state == "" || mine == "" || subtle.ConstantTimeCompare([]byte(state), []byte(mine)) != 1 {
		return withCookies(page(400, "Login failed", "This login was not started in this browser, or it was started again since (its state does not match): start the login again.", name), clear)
	}
	s.freshen(ctx, r) // a member taken offline on another replica
	if code == "" {
		s.invoke(ctx, name, "getLoginCode", map[string]any{"authCode": "", "state": state}) // spends the state
		return withCookies(page(400, "Login declined", "WeCom sent no login code: the login was declined.", name), clear)
	}
	res, err := s.invoke(ctx, name, "getLoginCode", map[string]any{"authCode": code, "state": state})
	if err != nil {
		return withCookies(s.errorPage(err, name), clear)
	}
	out, _ := res.(map[string]any)
	sess, _ := out["session"].(map[string]any)
	token, _ := sess["token"].(string)
	maxAge := 0
	if exp, err := time.Parse(time.RFC3339, fmt.Sprint(sess["expiresAt"])); err == nil {
		maxAge = int(time.Until(exp) / time.Second)
	}
	landing := DefaultLanding
	if v, ok, _ := e.Property("authConfig"); ok {
		if l, _ := v.(map[string]any)["landing"].(string); l != "" {
			landing = l
		}
	}
	return Response{Status: 302, ContentType: htmlType, Location: landing,
		SetCookies: []string{clear, cookie(sessionCookie, name+"."+token, "/", maxAge, secure)},
		Body:       []byte(`<a href="` + template.HTMLEscapeString(landing) + `">Logged in</a>`)}
}

// DefaultLanding is where a login lands whose element says nothing.
const DefaultLanding = "/me"

// session is the live session of the request's cookie: its login and what getSession says.
func (s *Server) session(ctx context.Context, r *Request) (string, map[string]any, error) {
	v := cookieValue(r.Cookie, sessionCookie)
	i := strings.LastIndexByte(v, '.')
	if v == "" || i <= 0 {
		return "", nil, elements.Errorf(elements.CodeUnauthenticated, "not logged in: no session (log in at /auth/{login}/login)")
	}
	name, token := v[:i], v[i+1:]
	if _, bad := s.loginEntry(name); bad != nil {
		return "", nil, elements.Errorf(elements.CodeUnauthenticated, "the session names no login of this app: log in again")
	}
	s.freshen(ctx, r) // a session made, or ended, on another replica
	res, err := s.invoke(ctx, name, "getSession", map[string]any{"token": token})
	if err != nil {
		return "", nil, err
	}
	m, _ := res.(map[string]any)
	m["login"] = name
	return name, m, nil
}

// logout ends the session of the request's cookie and clears it.
func (s *Server) logout(ctx context.Context, r *Request) Response {
	v := cookieValue(r.Cookie, sessionCookie)
	if i := strings.LastIndexByte(v, '.'); i > 0 {
		if _, bad := s.loginEntry(v[:i]); bad == nil {
			if _, err := s.invoke(ctx, v[:i], "logout", map[string]any{"token": v[i+1:]}); err != nil {
				return s.fail(err)
			}
		}
	}
	resp := s.data(map[string]any{})
	resp.SetCookies = []string{cookie(sessionCookie, "", "/", -1, r.TLS)}
	return resp
}

// memberCall is a method call with a member's session: allowed only with a role app.json's
// "permissions" gives the method.
func (s *Server) memberCall(ctx context.Context, r *Request) Response {
	name, method, ok := strings.Cut(r.Path[len("/api/elements/"):], "/")
	if !ok || method == "" {
		return methodNotAllowed("GET")
	}
	_, sess, err := s.session(ctx, r)
	if err != nil {
		return s.fail(err)
	}
	held := roleIDs(sess["roles"])
	allowed, listed := s.app.Permission(name, method)
	switch {
	case !listed:
		return s.fail(elements.Errorf(elements.CodePermissionDenied,
			"%s.%s is not open to members: app.json \"permissions\" lists no role for it", name, method))
	case !slices.ContainsFunc(allowed, func(role string) bool { return slices.Contains(held, role) }):
		return s.fail(elements.Errorf(elements.CodePermissionDenied, "%s.%s needs role %s; member %v holds %s",
			name, method, strings.Join(allowed, " or "), sess["memberId"], orNone(held)))
	}
	login, _ := sess["login"].(string)
	return s.call(elements.WithActor(ctx, elements.Actor{Kind: "member", ID: fmt.Sprint(sess["memberId"]), Via: login}), name, method, r.Body)
}

func orNone(roles []string) string {
	if len(roles) == 0 {
		return "no role"
	}
	return strings.Join(roles, ", ")
}

// roleIDs are the ids of a session's roles.
func roleIDs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, r := range list {
		if m, ok := r.(map[string]any); ok {
			if id, ok := m["roleId"].(string); ok {
				out = append(out, id)
			}
		}
	}
	return out
}

// cookie writes a Set-Cookie header: HttpOnly and SameSite=Lax always, Secure over https;
// maxAge < 0 deletes the cookie.
func cookie(name, value, path string, maxAge int, secure bool) string {
	c := http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure}
	return c.String()
}

// cookieValue is the value of the named cookie in a Cookie header ("" if none).
func cookieValue(header, name string) string {
	if header == "" {
		return ""
	}
	cs, err := http.ParseCookie(header)
	if err != nil {
		// a malformed pair elsewhere in the header: look for ours alone
		for _, part := range strings.Split(header, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == name {
				return v
			}
		}
		return ""
	}
	for _, c := range cs {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func withCookies(r Response, cookies ...string) Response {
	r.SetCookies = append(r.SetCookies, cookies...)
	return r
}

// errorPage is a login's failure as a page, with the status of its code.
func (s *Server) errorPage(err error, login string) Response {
	code := elements.CodeOf(err)
	status := statusOf(code)
	if status == 500 {
		s.log.Error("login failed", "login", login, "err", err)
	}
	return page(status, "Login failed", s.app.Redactor().String(err.Error())+" ("+code+")", login)
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1f2329}
.msg{background:#fde2e2;color:#8c1d18;padding:.75rem 1rem;border-radius:6px}</style></head><body>
<h1>{{.Title}}</h1><p class="msg" id="message">{{.Message}}</p>
{{if .Login}}<p><a href="/auth/{{.Login}}/login" id="again">Log in again</a></p>{{end}}
</body></html>
`))

// page is a small HTML page with a message (and a link to log in again).
func page(status int, title, message, login string) Response {
	var b strings.Builder
	pageTemplate.Execute(&b, map[string]string{"Title": title, "Message": message, "Login": login})
	return Response{Status: status, ContentType: htmlType, Body: []byte(b.String())}
}

// mePage shows the member of the browser's session and their roles, or the logins.
var mePage = []byte(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>jitrt · me</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1f2329}
table{border-collapse:collapse}td,th{text-align:left;padding:.25rem .75rem .25rem 0;border-bottom:1px solid #e5e6eb}
.muted{color:#8f959e}button{font:inherit;padding:.3rem .8rem}
</style></head><body>
<main id="app"><p class="muted">Loading…</p></main>
<script>
const app = document.getElementById("app");
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
async function show() {
  const r = await fetch("/api/me", {credentials: "same-origin"});
  if (r.status === 401 || r.status === 403) {
    const logins = (await (await fetch("/auth/")).json()).data || [];
    app.innerHTML = '<h1>Not logged in</h1>' + (logins.length
      ? '<ul>' + logins.map(l => '<li><a class="login" href="' + esc(l.loginUrl) + '">Log in with ' + esc(l.title || l.fullName) + '</a></li>').join("") + '</ul>'
      : '<p class="muted">This app has no login element.</p>');
    return;
  }
  const body = await r.json();
  if (!r.ok) { app.innerHTML = '<p>' + esc(body.error && body.error.message) + '</p>'; return; }
  const me = body.data, m = me.member || {};
  app.innerHTML = '<h1>你好, <span id="name">' + esc(m.name) + '</span></h1>' +
    '<p class="muted"><span id="memberId">' + esc(me.memberId) + '</span> · ' + esc(me.corp) + ' · session until ' + esc(me.expiresAt) + '</p>' +
    '<h2>Roles</h2>' + (me.roles.length
      ? '<table id="roles"><tr><th>role</th><th>name</th><th>from</th></tr>' + me.roles.map(r =>
          '<tr class="role" data-role="' + esc(r.roleId) + '"><td>' + esc(r.roleId) + '</td><td>' + esc(r.name) + '</td><td>' + esc(r.from.join(", ")) + '</td></tr>').join("") + '</table>'
      : '<p id="roles" class="muted">No role.</p>') +
    '<p><button id="logout">Log out</button></p>';
  document.getElementById("logout").onclick = async () => { await fetch("/auth/logout", {method: "POST", headers: {"X-Jitrt-Request": "1"}}); show(); };
}
show().catch(e => { app.textContent = "Error: " + e; });
</script></body></html>
`)
