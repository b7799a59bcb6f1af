package wecomsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/jitrt/jitrt/wecom"
)

// # Member login
//
// The emulator serves WeCom's two login pages: the QR login (/wwlogin/sso/login, and the
// legacy /wwopen/sso/qrConnect) and the in-client OAuth authorize URL
// (/connect/oauth2/authorize). Both show the members to log in as, one button each, as a
// phone scan (or the WeCom client) would pick one; a button issues a login code and sends
// the browser to the redirect URI with it, as WeCom does. Codes are single use, expire
// after 5 minutes and are bound to the redirect host; auth/getuserinfo and
// auth/getuserdetail exchange them with WeCom's JSON and errcodes (40029, 50001, 84014/5).
//
// WeCom only sends a login back to a trusted domain of the app, matched exactly on host and
// port. By default the emulator trusts loopback hosts (127.0.0.1, localhost, ::1) on any
// port, so that a local app logs in with no setup; Options.TrustedDomains (jitrt wecom-sim
// --trusted-domain) and SetTrustedDomains set them exactly.

// CodeTTL is how long a login code may wait for its exchange, as in WeCom.
const CodeTTL = 5 * time.Minute

// TicketTTL is how long a user_ticket reads a member's details.
const TicketTTL = 30 * time.Minute

// loginCode is an issued login code.
type loginCode struct {
	userID, openID string
	host           string // the redirect host:port it was issued for
	scope          string
	issued         time.Time
	used           bool
}

type ticket struct {
	userID  string
	expires time.Time
}

// SetTrustedDomains sets the hosts (host or host:port, matched exactly as WeCom does) a
// login may be sent back to; nil trusts loopback hosts on any port again.
func (s *Server) SetTrustedDomains(domains []string) {
	s.mu.Lock()
	s.trusted = slices.Clone(domains)
	s.mu.Unlock()
}

// AgeCodes makes every login code and user_ticket issued so far older by d, as if that much
// time had passed.
func (s *Server) AgeCodes(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.codes {
		c.issued = c.issued.Add(-d)
	}
	for _, t := range s.tickets {
		t.expires = t.expires.Add(-d)
	}
}

// IssueCode issues a login code for a member (or, with userID empty, for someone who is not a
// member) as a scan on the login page would, for redirectURI's host. It is for tests that
// log in without a browser.
func (s *Server) IssueCode(userID, redirectURI string) (string, error) {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Host == "" {
		return "", ErrInvalid
	}
	return s.issue(userID, u.Host, "snsapi_base")
}

func (s *Server) issue(userID, host, scope string) (string, error) {
	var b [24]byte
	rand.Read(b[:])
	code := base64.RawURLEncoding.EncodeToString(b[:])
	c := &loginCode{host: host, scope: scope, issued: time.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if userID == "" {
		rand.Read(b[:12])
		c.openID = "o" + base64.RawURLEncoding.EncodeToString(b[:12])
	} else if _, ok := s.users[userID]; !ok {
		return "", ErrNotFound
	} else {
		c.userID = userID
	}
	if s.codes == nil {
		s.codes, s.tickets = map[string]*loginCode{}, map[string]*ticket{}
	}
	// codes past their life are forgotten as new ones are issued
	if len(s.codes) > 1024 {
		for k, old := range s.codes {
			if time.Since(old.issued) > CodeTTL {
				delete(s.codes, k)
			}
		}
	}
	s.codes[code] = c
	return code, nil
}

// trustedHost reports whether a login may be sent back to host (host:port). Called with
// s.mu held.
func (s *Server) trustedHost(host string) bool {
	if s.trusted == nil {
		name := host
		if h, _, err := net.SplitHostPort(host); err == nil {
			name = h
		}
		name = strings.Trim(name, "[]")
		if name == "localhost" {
			return true
		}
		ip := net.ParseIP(name)
		return ip != nil && ip.IsLoopback()
	}
	return slices.Contains(s.trusted, host)
}

// loginPage is a login page: the QR login or the in-client OAuth authorize URL.
func (s *Server) loginPage(ctx *fasthttp.RequestCtx, inClient bool) {
	args := ctx.QueryArgs()
	p := pageData{
		CorpID: s.opts.CorpID, AppID: string(args.Peek("appid")), AgentID: string(args.Peek("agentid")),
		RedirectURI: string(args.Peek("redirect_uri")), State: string(args.Peek("state")),
		Scope: string(args.Peek("scope")), Query: strings.TrimSpace(string(args.Peek("q"))), InClient: inClient,
		Action: string(ctx.Path()),
	}
	if inClient && p.Scope == "" {
		p.Scope = "snsapi_base"
	}
	if p.Problem = s.checkLogin(p.AppID, p.RedirectURI, inClient, p.Scope); p.Problem == "" {
		p.Members, p.More = s.pick(p.Query, 50)
	}
	ctx.SetContentType("text/html; charset=utf-8")
	if p.Problem != "" {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
	}
	if err := loginTemplate.Execute(ctx, p); err != nil {
		s.log.Error("wecomsim: login page", "err", err)
	}
}

// checkLogin says what is wrong with a login request, as WeCom's page would ("" if nothing).
func (s *Server) checkLogin(appID, redirectURI string, inClient bool, scope string) string {
	if appID != s.opts.CorpID {
		return "appid 错误: " + appID + " is not the corp's id (errcode 40013)"
	}
	u, err := url.Parse(redirectURI)
	if redirectURI == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "redirect_uri 参数错误: " + redirectURI + " is not an http(s) URL"
	}
	s.mu.RLock()
	trusted := s.trustedHost(u.Host)
	s.mu.RUnlock()
	if !trusted {
		return "redirect_uri 需使用应用可信域名: " + u.Host + " is not a trusted domain of the app (errcode 50001)"
	}
	if inClient && scope != "snsapi_base" && scope != "snsapi_privateinfo" {
		return "scope 参数错误: " + scope + " (snsapi_base or snsapi_privateinfo)"
	}
	return ""
}

// pick is up to n active members whose id or name holds q, by id.
func (s *Server) pick(q string, n int) ([]pickedMember, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, 0, len(s.users))
	for id, u := range s.users {
		if u.Status == 1 && (q == "" || strings.Contains(strings.ToLower(id), strings.ToLower(q)) || strings.Contains(u.Name, q)) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	more := len(ids) > n
	if more {
		ids = ids[:n]
	}
	out := make([]pickedMember, len(ids))
	for i, id := range ids {
		out[i] = pickedMember{UserID: id, Name: s.users[id].Name, Position: s.users[id].Position}
	}
	return out, more
}

// scan is a pick on a login page: a code for the member (or the non-member, or none if
// declined) and a redirect to the app.
func (s *Server) scan(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		ctx.Error("a scan is a POST from the login page", fasthttp.StatusMethodNotAllowed)
		return
	}
	form := ctx.PostArgs()
	redirectURI, state, scope := string(form.Peek("redirect_uri")), string(form.Peek("state")), string(form.Peek("scope"))
	if problem := s.checkLogin(string(form.Peek("appid")), redirectURI, scope != "", orBase(scope)); problem != "" {
		ctx.Error(problem, fasthttp.StatusBadRequest)
		return
	}
	u, _ := url.Parse(redirectURI)
	q := u.Query()
	switch string(form.Peek("as")) {
	case "decline":
		// no code: the browser comes back with the state only
	case "outsider":
		code, _ := s.issue("", u.Host, orBase(scope))
		q.Set("code", code)
	default:
		code, err := s.issue(string(form.Peek("userid")), u.Host, orBase(scope))
		if err != nil {
			ctx.Error("no such member", fasthttp.StatusBadRequest)
			return
		}
		q.Set("code", code)
	}
	q.Set("state", state)
	u.RawQuery = q.Encode()
	ctx.Redirect(u.String(), fasthttp.StatusFound)
}

func orBase(scope string) string {
	if scope == "" {
		return "snsapi_base"
	}
	return scope
}

// getUserInfo is auth/getuserinfo.
func (s *Server) getUserInfo(ctx *fasthttp.RequestCtx, kind string) {
	code := string(ctx.QueryArgs().Peek("code"))
	s.mu.Lock()
	c := s.codes[code]
	var out map[string]any
	errCode := 0
	switch {
	case kind != "app":
		errCode = wecom.CodeUntrustedDomain // a contact-sync secret cannot consume codes
	case c == nil || c.used || time.Since(c.issued) > CodeTTL:
		errCode = wecom.CodeInvalidOAuthCode
	case !s.trustedHost(c.host):
		c.used = true
		errCode = wecom.CodeUntrustedDomain
	default:
		c.used = true
		if c.openID != "" {
			out = map[string]any{"openid": c.openID}
			break
		}
		out = map[string]any{"userid": c.userID}
		if c.scope == "snsapi_privateinfo" {
			var b [32]byte
			rand.Read(b[:])
			t := base64.RawURLEncoding.EncodeToString(b[:])
			s.tickets[t] = &ticket{userID: c.userID, expires: time.Now().Add(TicketTTL)}
			out["user_ticket"], out["expires_in"] = t, int(TicketTTL/time.Second)
		}
	}
	s.mu.Unlock()
	if errCode != 0 {
		writeErr(ctx, errCode)
		return
	}
	writeOK(ctx, okJSON(out))
}

// getUserDetail is auth/getuserdetail.
func (s *Server) getUserDetail(ctx *fasthttp.RequestCtx) {
	var req struct {
		UserTicket string `json:"user_ticket"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil || req.UserTicket == "" {
		writeErr(ctx, 84090)
		return
	}
	s.mu.RLock()
	t := s.tickets[req.UserTicket]
	var u *wecom.User
	if t != nil {
		u = s.users[t.userID]
	}
	s.mu.RUnlock()
	switch {
	case t == nil || u == nil:
		writeErr(ctx, wecom.CodeTicketInvalid)
		return
	case time.Now().After(t.expires):
		writeErr(ctx, wecom.CodeTicketExpired)
		return
	}
	served := s.served(u)
	writeOK(ctx, okJSON(map[string]any{"userid": u.UserID, "gender": served.Gender, "avatar": served.Avatar,
		"qr_code": served.QRCode, "mobile": served.Mobile, "email": served.Email, "biz_mail": served.BizMail, "address": served.Address}))
}

type pickedMember struct{ UserID, Name, Position string }

type pageData struct {
	CorpID, AppID, AgentID, RedirectURI, State, Scope, Query, Action string
	InClient                                                         bool
	Problem                                                          string
	Members                                                          []pickedMember
	More                                                             bool
}

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>企业微信登录 · WeCom emulator</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f3f5f7;color:#1f2329}
main{max-width:34rem;margin:3rem auto;background:#fff;border-radius:8px;padding:1.5rem 2rem;box-shadow:0 1px 3px #0002}
h1{font-size:1.2rem;margin:0 0 .25rem}.sub{color:#646a73;margin:0 0 1rem}
.problem{background:#fde2e2;color:#8c1d18;padding:.75rem 1rem;border-radius:6px}
ul{list-style:none;padding:0;margin:1rem 0}li{margin:.25rem 0}
button{font:inherit;width:100%;text-align:left;padding:.5rem .75rem;border:1px solid #d0d3d6;border-radius:6px;background:#fff;cursor:pointer}
button:hover{border-color:#0082ef;background:#f0f7ff}.pos{color:#8f959e;margin-left:.5rem}
form.search{display:flex;gap:.5rem}form.search input[type=search]{flex:1;font:inherit;padding:.4rem .6rem}
.other button{width:auto;margin-right:.5rem}
</style></head><body><main>
<h1>{{if .InClient}}企业微信 · 网页授权{{else}}企业微信扫码登录{{end}}</h1>
<p class="sub">WeCom emulator of corp {{.CorpID}}{{if .AgentID}}, app {{.AgentID}}{{end}}: pick the member who {{if .InClient}}opens the page in the WeCom client{{else}}scans the QR code{{end}}.</p>
{{if .Problem}}<p class="problem" id="problem">{{.Problem}}</p>{{else}}
<form class="search" method="get" action="{{.Action}}">
<input type="hidden" name="appid" value="{{.AppID}}"><input type="hidden" name="agentid" value="{{.AgentID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}"><input type="hidden" name="state" value="{{.State}}">
{{if .InClient}}<input type="hidden" name="scope" value="{{.Scope}}"><input type="hidden" name="response_type" value="code">{{else}}<input type="hidden" name="login_type" value="CorpApp">{{end}}
<input type="search" name="q" value="{{.Query}}" placeholder="userid or name"><button type="submit" style="width:auto">Search</button>
</form>
<form method="post" action="/wwlogin/sso/scan">
<input type="hidden" name="appid" value="{{.AppID}}"><input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="state" value="{{.State}}">{{if .InClient}}<input type="hidden" name="scope" value="{{.Scope}}">{{end}}
<ul>{{range .Members}}<li><button type="submit" name="userid" value="{{.UserID}}" data-userid="{{.UserID}}">{{.Name}} <span class="pos">{{.UserID}}{{if .Position}} · {{.Position}}{{end}}</span></button></li>
{{else}}<li>No active member matches.</li>{{end}}</ul>
{{if .More}}<p class="sub">More members match: search to narrow the list.</p>{{end}}
<p class="other"><button type="submit" name="as" value="outsider" id="outsider">微信用户 (not a member)</button><button type="submit" name="as" value="decline" id="decline">拒绝 (decline)</button></p>
</form>{{end}}
</main></body></html>
`))
