package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitrt/jitrt/console"
	"github.com/jitrt/jitrt/elements"
)

// # The console
//
// /console (package console) is for the app's admins: with the API token (a bearer header,
// or typed once at /console/login, which sets a signed cookie) or a member's session with
// the admin role. Without a token configured (a loopback address) it is open, as the API
// is. Its stylesheet and script need nothing.

// consoleCookie holds "<unix expiry>.<HMAC of it keyed by the token's hash>".
const consoleCookie = "jitrt_console"

// consoleTTL is how long a token typed at /console/login lasts.
const consoleTTL = 12 * time.Hour

// consoleAdminRole is the role that lets a member's session in.
const consoleAdminRole = "admin"

// consoleCSP keeps the console's pages to their own script and style.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func isConsolePath(p string) bool {
	return p == console.Prefix || strings.HasPrefix(p, console.Prefix+"/")
}

func (s *Server) serveConsole(ctx context.Context, r *Request) (string, Response) {
	resp := s.consoleRoute(ctx, r)
	resp.Headers = append(resp.Headers, [2]string{"Content-Security-Policy", consoleCSP}, [2]string{"X-Content-Type-Options", "nosniff"},
		[2]string{"Referrer-Policy", "same-origin"}, [2]string{"Cache-Control", "no-store"})
	return "console", resp
}

func (s *Server) consoleRoute(ctx context.Context, r *Request) Response {
	q, _ := url.ParseQuery(r.Query)
	var form url.Values
	if r.Method == "POST" {
		form, _ = url.ParseQuery(string(r.Body))
	}
	switch r.Path {
	case console.Prefix + "/login":
		return s.consoleLogin(ctx, r, q, form)
	case console.Prefix + "/logout":
		if r.Method != "POST" {
			return methodNotAllowed("POST")
		}
		return Response{Status: 303, ContentType: htmlType, Location: console.Prefix + "/login",
			SetCookies: []string{cookie(consoleCookie, "", console.Prefix, -1, r.TLS)}}
	}
	req := &console.Request{Method: r.Method, Path: r.Path, Query: q, Form: form, Cookie: r.Cookie, TLS: r.TLS}
	if strings.HasPrefix(r.Path, console.Prefix+"/static/") {
		return fromConsole(s.console.Serve(ctx, req))
	}
	viewer, why, sess := s.consoleViewer(ctx, r)
	if viewer == "" {
		if r.Method == "GET" {
			return Response{Status: 303, ContentType: htmlType, Location: console.Prefix + "/login?next=" + url.QueryEscape(r.Path+queryPart(r.Query))}
		}
		return fromConsole(s.console.LoginPage(401, why, s.logins(), ""))
	}
	req.Viewer = viewer
	if sess != nil {
		req.Member, req.Roles = true, roleIDs(sess["roles"])
	}
	s.freshen(ctx, r)
	ctx = elements.WithActor(ctx, elements.Actor{Kind: "console", ID: viewer})
	binding, newBrowser := s.consoleBinding(r)
	req.CSRF = s.csrfToken(binding)
	resp := fromConsole(s.console.Serve(ctx, req))
	if newBrowser != "" {
		resp.SetCookies = append(resp.SetCookies, cookie(browserCookie, newBrowser, console.Prefix, 0, r.TLS))
	}
	return resp
}

// browserCookie names, on an open console (no token), a random value that binds the CSRF
// token to this browser; with a token, the token's cookie or the member's session does.
const browserCookie = "jitrt_browser"

// consoleBinding is what the console's CSRF token is bound to: the credential the request
// came with (the console cookie, the member's session), or on an open console a random
// value of this browser's (newBrowser, when it has none yet, is set as its cookie).
func (s *Server) consoleBinding(r *Request) (binding, newBrowser string) {
	switch {
	case s.opts.Token == "":
		b := cookieValue(r.Cookie, browserCookie)
		if len(b) != 32 {
			b = randomHex(16)
			newBrowser = b
		}
		return "browser:" + b, newBrowser
	case s.authorized(r.Auth):
		return "token", ""
	case s.validConsoleCookie(cookieValue(r.Cookie, consoleCookie), time.Now()):
		return "console:" + cookieValue(r.Cookie, consoleCookie), ""
	}
	return "session:" + cookieValue(r.Cookie, sessionCookie), ""
}

// csrfToken is the HMAC of a binding with the server's key: a form carries it, and a
// page of another site can neither read it nor make it from a cookie it planted.
func (s *Server) csrfToken(binding string) string {
	m := hmac.New(sha256.New, s.csrfKey[:])
	m.Write([]byte("jitrt-console-csrf:" + binding))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func queryPart(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}

// consoleViewer says who the request is from, or ("", why not).
func (s *Server) consoleViewer(ctx context.Context, r *Request) (viewer, why string, sess map[string]any) {
	if s.opts.Token == "" {
		return "open: no API token on a loopback address", "", nil
	}
	if s.authorized(r.Auth) || s.validConsoleCookie(cookieValue(r.Cookie, consoleCookie), time.Now()) {
		return "with the API token", "", nil
	}
	if cookieValue(r.Cookie, sessionCookie) == "" {
		return "", "", nil
	}
	_, sess, err := s.session(ctx, r)
	if err != nil {
		return "", "Your session has ended: log in again.", nil
	}
	if !slices.Contains(roleIDs(sess["roles"]), consoleAdminRole) {
		return "", fmt.Sprintf("Member %v holds %s; the console needs the %s role.", sess["memberId"], orNone(roleIDs(sess["roles"])), consoleAdminRole), nil
	}
	return fmt.Sprintf("member %v (%s)", sess["memberId"], consoleAdminRole), "", sess
}

// consoleLogin shows the login page, or checks a token typed into it.
func (s *Server) consoleLogin(ctx context.Context, r *Request, q, form url.Values) Response {
	next := q.Get("next")
	if r.Method == "POST" {
		next = form.Get("next")
	}
	if !strings.HasPrefix(next, console.Prefix) || strings.HasPrefix(next, console.Prefix+"/login") {
		next = console.Prefix // only ever back into the console
	}
	switch r.Method {
	case "GET":
		viewer, why, _ := s.consoleViewer(ctx, r)
		if viewer != "" {
			return Response{Status: 303, ContentType: htmlType, Location: next}
		}
		return fromConsole(s.console.LoginPage(200, why, s.logins(), next))
	case "POST":
		sum := sha256.Sum256([]byte(form.Get("token")))
		if s.opts.Token == "" || subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
			s.log.Warn("console: a wrong token was typed at /console/login")
			return fromConsole(s.console.LoginPage(401, "That is not the API token.", s.logins(), next))
		}
		exp := time.Now().Add(consoleTTL)
		return Response{Status: 303, ContentType: htmlType, Location: next,
			SetCookies: []string{cookie(consoleCookie, s.signConsole(exp), console.Prefix, int(consoleTTL/time.Second), r.TLS)}}
	}
	return methodNotAllowed("GET, POST")
}

func (s *Server) signConsole(exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, s.token[:])
	m.Write([]byte("jitrt-console:" + e))
	return e + "." + hex.EncodeToString(m.Sum(nil))
}

func (s *Server) validConsoleCookie(v string, now time.Time) bool {
	e, _, ok := strings.Cut(v, ".")
	exp, err := strconv.ParseInt(e, 10, 64)
	if !ok || err != nil || now.Unix() >= exp || s.opts.Token == "" {
		return false
	}
	return hmac.Equal([]byte(v), []byte(s.signConsole(time.Unix(exp, 0))))
}

func fromConsole(c console.Response) Response {
	return Response{Status: c.Status, ContentType: c.ContentType, Body: c.Body, Location: c.Location, SetCookies: c.SetCookies}
}
