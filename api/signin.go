package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
)

// # Signing in with a password
//
// A password login (auths.loginTypes.PasswordType) serves its own page:
//
//	GET  /auth/{fullName}/login   the sign-in form, with a state bound to this browser by a
//	                              cookie (a page of another site cannot read it, so cannot
//	                              sign a browser into an account of its choosing)
//	POST /auth/{fullName}/login   the form (username, password, state): 303 to the landing
//	                              path with the session cookie; 401 with the form again
//	                              when the username or password is wrong (the same answer
//	                              for either); 429 with Retry-After while the account is
//	                              locked after too many wrong passwords
//	POST /auth/{fullName}/password  {oldPassword, newPassword} (JSON): the member of the
//	                              browser's session changes their password; their other
//	                              sessions end, this one stands
//
// The password is never written back into a page, a log line or an error.

// passwordLogin is a login that checks a username and password on its own page.
type passwordLogin interface {
	FormState() (string, error)
	ConsumeFormState(state string) bool
	SignInToken(ctx context.Context, username, password string) (token string, expiresAt time.Time, err error)
	ChangePassword(ctx context.Context, token, oldPassword, newPassword string) error
	Landing() string
}

// passwordLogin is the password login named, held until release (ok false if it is none).
func (s *Server) passwordLogin(name string) (passwordLogin, func(), bool) {
	inst, release, err := s.app.Instance(name)
	if err != nil {
		return nil, nil, false
	}
	pl, ok := inst.(passwordLogin)
	if !ok {
		release()
		return nil, nil, false
	}
	return pl, release, true
}

// isSignIn reports a POST of a sign-in form (which carries its own state, not a header).
func isSignIn(r *Request) bool {
	return r.Method == "POST" && strings.HasPrefix(r.Path, "/auth/") && strings.HasSuffix(r.Path, "/login") &&
		strings.Count(r.Path, "/") == 3
}

var signInTemplate = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · {{.Login}}</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem;color:#1f2329}
label{display:block;margin:.75rem 0}input{display:block;width:100%;box-sizing:border-box;font:inherit;padding:.4rem}
button{font:inherit;padding:.4rem 1.2rem;margin-top:.5rem}.msg{background:#fde2e2;color:#8c1d18;padding:.75rem 1rem;border-radius:6px}</style></head><body>
<h1>Sign in</h1>
{{if .Message}}<p class="msg" id="message">{{.Message}}</p>{{end}}
<form method="post" action="/auth/{{.Login}}/login" id="signin">
<input type="hidden" name="state" value="{{.State}}">
<label>Username <input name="username" id="username" autocomplete="username" required value="{{.Username}}"></label>
<label>Password <input type="password" name="password" id="password" autocomplete="current-password" required></label>
<button type="submit" id="submit">Sign in</button>
</form></body></html>
`))

// signInPage is the sign-in form with a fresh state (and a message, after a failed try).
func (s *Server) signInPage(r *Request, name string, pl passwordLogin, status int, message, username string) Response {
	state, err := pl.FormState()
	if err != nil {
		return s.errorPage(err, "")
	}
	var b strings.Builder
	signInTemplate.Execute(&b, map[string]string{"Login": name, "State": state, "Message": message, "Username": username})
	return Response{Status: status, ContentType: htmlType, Body: []byte(b.String()),
		SetCookies: []string{cookie(stateCookie, state, "/auth/"+name+"/", int(10*time.Minute/time.Second), r.TLS)}}
}

// signIn takes the sign-in form.
func (s *Server) signIn(ctx context.Context, r *Request, name string) Response {
	if _, bad := s.loginEntry(name); bad != nil {
		return *bad
	}
	pl, release, ok := s.passwordLogin(name)
	if !ok {
		return methodNotAllowed("GET")
	}
	defer release()
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return s.signInPage(r, name, pl, 400, "The form cannot be read: sign in again.", "")
	}
	username, password, state := strings.TrimSpace(form.Get("username")), form.Get("password"), form.Get("state")
	mine := cookieValue(r.Cookie, stateCookie)
	if state == "" || mine == "" || subtle.ConstantTimeCompare([]byte(state), []byte(mine)) != 1 || !pl.ConsumeFormState(state) {
		return s.signInPage(r, name, pl, 400, "This form was not opened in this browser, or it is too old: sign in again.", username)
	}
	s.freshen(ctx, r) // a password changed, or a member taken offline, on another replica
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	token, expires, err := pl.SignInToken(ctx, username, password)
	if err != nil {
		code := elements.CodeOf(err)
		status := statusOf(code)
		msg := s.app.Redactor().String(err.Error())
		if code == elements.CodeUnauthenticated {
			msg = "Wrong username or password."
		}
		resp := s.signInPage(r, name, pl, status, msg, username)
		if after := retryAfterOf(err); after != "" {
			resp.RetryAfter = after
		}
		if status == 500 || errors.Is(err, context.DeadlineExceeded) {
			s.log.Error("sign-in failed", "login", name, "err", err)
		}
		return resp
	}
	landing := pl.Landing()
	return Response{Status: 303, ContentType: htmlType, Location: landing,
		SetCookies: []string{cookie(stateCookie, "", "/auth/"+name+"/", -1, r.TLS),
			cookie(sessionCookie, name+"."+token, "/", int(time.Until(expires)/time.Second), r.TLS)},
		Body: []byte(`<a href="` + template.HTMLEscapeString(landing) + `">Signed in</a>`)}
}

// changePassword changes the password of the member of the browser's session.
func (s *Server) changePassword(ctx context.Context, r *Request, name string) Response {
	pl, release, ok := s.passwordLogin(name)
	if !ok {
		return s.fail(elements.Errorf(elements.CodeNotFound, "element %s is not a password login", name))
	}
	defer release()
	v := cookieValue(r.Cookie, sessionCookie)
	i := strings.LastIndexByte(v, '.')
	if i <= 0 || v[:i] != name {
		return s.fail(elements.Errorf(elements.CodeUnauthenticated, "not signed in with %s: sign in first", name))
	}
	var body struct {
		OldPassword string `json:"oldPassword"`
		NewPassword string `json:"newPassword"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.NewPassword == "" {
		return s.fail(elements.Errorf(elements.CodeInvalidArgument, "the body must be JSON: {oldPassword, newPassword}"))
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	if err := pl.ChangePassword(ctx, v[i+1:], body.OldPassword, body.NewPassword); err != nil {
		return s.fail(err)
	}
	return s.data(map[string]any{})
}
