// Package wecomsim is an emulator of the WeCom contacts API, in the manner of
// net/http/httptest: a real fasthttp server on a loopback port that serves a deterministic
// generated org with WeCom's endpoints, JSON and error codes, and lets tests change the org
// and inject faults between and during calls.
package wecomsim

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/jitrt/jitrt/wecom"
)

// Options configure an emulator.
type Options struct {
	// Addr to listen on; default "127.0.0.1:0" (a random loopback port).
	Addr string
	// CorpID and Secret the emulator accepts (defaults "wwsim0000000001" and "sim-secret").
	CorpID, Secret string
	// ContactSyncSecret, if set, is accepted by gettoken and unlocks user/list_id.
	ContactSyncSecret string
	// The generated org.
	Members, Departments int
	Seed                 int64
	// Org, if set, is served instead of a generated one.
	Org *wecom.Org
	// TokenTTL is the lifetime of issued tokens (default 7200 s, as WeCom).
	TokenTTL time.Duration
	// TrustedDomains are the hosts (host or host:port, matched exactly) a member login may
	// be sent back to; nil trusts loopback hosts on any port (see login.go).
	TrustedDomains []string
	// Callbacks get every change of the org as an event (see push.go).
	Callbacks []Callback
	Logger    *slog.Logger
}

// Server is a running emulator.
type Server struct {
	opts Options
	ln   net.Listener
	srv  *fasthttp.Server
	log  *slog.Logger

	mu       sync.RWMutex
	depts    map[int64]*wecom.Department
	users    map[string]*wecom.User
	tags     map[int64]*wecom.TagDetail
	byDept   map[int64][]string // userids directly in each department, sorted
	children map[int64][]int64  // child departments, sorted
	cache    map[string][]byte  // encoded responses, dropped on any change
	version  uint64             // bumped on any change, so a response built before it is not cached
	tokens   map[string]*token
	current  map[string]string // secret kind -> current token
	faults   map[string][]fault
	latency  time.Duration
	holds    map[string]*hold // endpoint → requests held until released
	refuse   bool             // refuse the detail endpoints with 48009
	withhold bool             // withhold the sensitive fields
	rate     int              // calls a minute per endpoint before 45009; 0 = unlimited
	window   map[string]*minuteCount
	calls    map[string]int64
	trusted  []string // nil: loopback on any port
	codes    map[string]*loginCode
	tickets  map[string]*ticket

	pushers     []*pusher // registered callbacks
	eventFaults atomic.Pointer[EventFaults]
	pushed      pushCounters
	pending     atomic.Int64 // events queued or in delivery
	rngMu       sync.Mutex
	rngs        map[uint64]*mrand.Rand
	churn       *churner
}

type token struct {
	kind    string // "app" or "contact"
	expires time.Time
	revoked int // errcode its next use is answered with (40014 or 42001); 0 = valid
}

type fault struct {
	n      int
	code   int // errcode; 0 with status set means an HTTP failure
	status int
}

type minuteCount struct {
	minute int64
	n      int
}

// Start generates (or takes) the org and starts serving it.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.CorpID == "" {
		opts.CorpID = "wwsim0000000001"
	}
	if opts.Secret == "" {
		opts.Secret = "sim-secret"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 7200 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	org := opts.Org
	if org == nil {
		org = Generate(opts.Members, opts.Departments, opts.Seed)
	}
	s := &Server{opts: opts, log: opts.Logger, tokens: map[string]*token{}, current: map[string]string{},
		faults: map[string][]fault{}, window: map[string]*minuteCount{}, calls: map[string]int64{},
		trusted: slices.Clone(opts.TrustedDomains), codes: map[string]*loginCode{}, tickets: map[string]*ticket{}}
	s.load(org)
	s.eventFaults.Store(&EventFaults{Retries: 3, RetryInterval: time.Second})
	for _, cb := range opts.Callbacks {
		if err := s.AddCallback(cb); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("wecomsim: listen on %s: %w", opts.Addr, err)
	}
	s.ln = ln
	s.srv = &fasthttp.Server{Handler: s.handle, Name: "wecomsim", ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, NoDefaultDate: true,
		// the worker-pool cleaner notices a shutdown only when it wakes: keep that short so a
		// closed emulator leaves no goroutine behind for long
		MaxIdleWorkerDuration: 500 * time.Millisecond}
	go func() {
		if err := s.srv.Serve(ln); err != nil {
			s.log.Error("wecomsim stopped", "err", err)
		}
	}()
	return s, nil
}

// URL is the base URL to give a client (e.g. http://127.0.0.1:41234).
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Addr is the address the emulator listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// CorpID and Secret are the credentials the emulator accepts.
func (s *Server) CorpID() string { return s.opts.CorpID }

// Secret is the app secret the emulator accepts.
func (s *Server) Secret() string { return s.opts.Secret }

// Close stops serving and closes the port, waiting for open connections.
func (s *Server) Close() error {
	s.StopChurn()
	s.closePushers()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.ShutdownWithContext(ctx)
}

func (s *Server) load(org *wecom.Org) {
	s.depts = make(map[int64]*wecom.Department, len(org.Departments))
	s.users = make(map[string]*wecom.User, len(org.Users))
	s.tags = make(map[int64]*wecom.TagDetail, len(org.Tags))
	for i := range org.Departments {
		d := org.Departments[i]
		s.depts[d.ID] = &d
	}
	for i := range org.Users {
		u := cloneUser(org.Users[i])
		s.users[u.UserID] = &u
	}
	for i := range org.Tags {
		t := org.Tags[i]
		s.tags[t.TagID] = &t
	}
	s.reindex()
}

// reindex rebuilds the department indexes and drops cached responses. Called with mu held.
func (s *Server) reindex() {
	s.byDept = map[int64][]string{}
	for _, u := range s.users {
		for _, d := range u.Department {
			s.byDept[d] = append(s.byDept[d], u.UserID)
		}
	}
	for _, ids := range s.byDept {
		slices.Sort(ids)
	}
	s.children = map[int64][]int64{}
	for _, d := range s.depts {
		if d.ParentID != 0 {
			s.children[d.ParentID] = append(s.children[d.ParentID], d.ID)
		}
	}
	for _, ids := range s.children {
		slices.Sort(ids)
	}
	s.cache = map[string][]byte{}
	s.version++
}

// Org returns the org the emulator serves now, in the client's canonical order and with
// the sensitive fields blank if they are withheld: what a correct whole-org fetch returns.
func (s *Server) Org() *wecom.Org {
	s.mu.RLock()
	defer s.mu.RUnlock()
	org := &wecom.Org{}
	for _, d := range s.depts {
		org.Departments = append(org.Departments, *d)
	}
	for _, u := range s.users {
		c := cloneUser(*u)
		if s.withhold {
			stripSensitive(&c)
		}
		org.Users = append(org.Users, c)
	}
	for _, t := range s.tags {
		c := *t
		c.UserList = s.visibleTagUsers(t)
		c.PartyList = slices.Clone(t.PartyList)
		org.Tags = append(org.Tags, c)
	}
	wecom.Canonicalize(org)
	wecom.MarkWithheld(org)
	return org
}

func cloneUser(u wecom.User) wecom.User {
	u.Department = slices.Clone(u.Department)
	u.Order = slices.Clone(u.Order)
	u.IsLeaderInDept = slices.Clone(u.IsLeaderInDept)
	u.DirectLeader = slices.Clone(u.DirectLeader)
	if u.ExtAttr != nil {
		e := *u.ExtAttr
		e.Attrs = slices.Clone(e.Attrs)
		u.ExtAttr = &e
	}
	u.Withheld = nil
	return u
}

func stripSensitive(u *wecom.User) {
	u.Mobile, u.Email, u.BizMail, u.Avatar, u.ThumbAvatar, u.Gender, u.QRCode, u.Address = "", "", "", "", "", "", "", ""
}

// ---- test controls ----

// Errors of the controls.
var (
	ErrExists   = errors.New("wecomsim: already exists")
	ErrNotFound = errors.New("wecomsim: not found")
	ErrNotEmpty = errors.New("wecomsim: department has members or sub-departments")
	ErrInvalid  = errors.New("wecomsim: invalid")
)

func (s *Server) fixUser(u *wecom.User) error {
	if u.UserID == "" || u.Name == "" || len(u.Department) == 0 {
		return fmt.Errorf("%w: a user needs userid, name and a department", ErrInvalid)
	}
	for _, d := range u.Department {
		if s.depts[d] == nil {
			return fmt.Errorf("%w: department %d of user %q", ErrNotFound, d, u.UserID)
		}
	}
	if len(u.Order) != len(u.Department) {
		u.Order = make([]int64, len(u.Department))
	}
	if len(u.IsLeaderInDept) != len(u.Department) {
		u.IsLeaderInDept = make([]int, len(u.Department))
	}
	if !slices.Contains(u.Department, u.MainDepartment) {
		u.MainDepartment = u.Department[0]
	}
	if u.Status == 0 {
		u.Status = 1
	}
	if len(u.DirectLeader) == 0 {
		u.DirectLeader = nil // WeCom omits an empty list
	}
	return nil
}

// User returns a copy of a member.
func (s *Server) User(userID string) (wecom.User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[userID]
	if !ok {
		return wecom.User{}, false
	}
	return cloneUser(*u), true
}

// FailNext makes the next n calls of endpoint ("user/list", "gettoken", …) answer with
// errcode code.
func (s *Server) FailNext(endpoint string, n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = append(s.faults[endpoint], fault{n: n, code: code})
}

// BreakNext makes the next n calls of endpoint fail at the HTTP level: status 502 and a
// body that is not JSON, as a proxy in trouble answers.
func (s *Server) BreakNext(endpoint string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = append(s.faults[endpoint], fault{n: n, status: fasthttp.StatusBadGateway})
}

// ExpireTokens makes every token issued so far answer its next use with code (40014 or
// 42001), as WeCom does when it expires tokens early.
func (s *Server) ExpireTokens(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.revoked = code
	}
	s.current = map[string]string{}
}

// hold keeps the requests to one endpoint waiting until it is released.
type hold struct {
	released chan struct{}
	waiting  atomic.Int64
}

// Hold makes every request to endpoint (e.g. "department/list") wait until release is
// called, so that a test can have callers overlap by construction: hold the work, let
// every caller arrive, release. Held reports how many requests wait now.
func (s *Server) Hold(endpoint string) (release func()) {
	h := &hold{released: make(chan struct{})}
	s.mu.Lock()
	if s.holds == nil {
		s.holds = map[string]*hold{}
	}
	if old := s.holds[endpoint]; old != nil {
		close(old.released) // a new hold replaces it: what the old one held goes on
	}
	s.holds[endpoint] = h
	s.mu.Unlock()
	return func() { s.releaseHold(endpoint, h) }
}

// release lets the requests to endpoint held now go on.
func (s *Server) release(endpoint string) {
	s.mu.Lock()
	h := s.holds[endpoint]
	s.mu.Unlock()
	if h != nil {
		s.releaseHold(endpoint, h)
	}
}

func (s *Server) releaseHold(endpoint string, h *hold) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds[endpoint] == h {
		delete(s.holds, endpoint)
		close(h.released)
	}
}

// heldCounts is, by endpoint, how many requests wait on a Hold now.
func (s *Server) heldCounts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for e, h := range s.holds {
		out[e] = h.waiting.Load()
	}
	return out
}

// Held is how many requests to endpoint wait on a Hold now.
func (s *Server) Held(endpoint string) int64 {
	s.mu.Lock()
	h := s.holds[endpoint]
	s.mu.Unlock()
	if h == nil {
		return 0
	}
	return h.waiting.Load()
}

// SetLatency delays every response by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// RefuseDetail makes department/list and user/list answer 48009, as WeCom does for
// contact-sync secrets on IPs added since 2022-08-15.
func (s *Server) RefuseDetail(on bool) {
	s.mu.Lock()
	s.refuse = on
	s.mu.Unlock()
}

// WithholdSensitive stops sending mobile, email, avatar, gender and the other sensitive
// fields, as WeCom does for apps created since 2022-06-20.
func (s *Server) WithholdSensitive(on bool) {
	s.mu.Lock()
	s.withhold = on
	s.cache = map[string][]byte{}
	s.version++
	s.mu.Unlock()
}

// SetRateLimit answers 45009 once an endpoint is called more than perMinute times in a
// calendar minute (0 turns the limit off).
func (s *Server) SetRateLimit(perMinute int) {
	s.mu.Lock()
	s.rate = perMinute
	s.window = map[string]*minuteCount{}
	s.mu.Unlock()
}

// Calls returns how often endpoint was called (every request, failed ones included).
func (s *Server) Calls(endpoint string) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.calls[endpoint]
}

// CallCounts returns the calls of every endpoint.
func (s *Server) CallCounts() map[string]int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]int64, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// ResetCalls sets every call count to zero.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = map[string]int64{}
	s.mu.Unlock()
}

// ---- serving ----

var errmsgs = map[int]string{
	-1:                          "system busy",
	wecom.CodeInvalidSecret:     "invalid credential",
	wecom.CodeInvalidUserID:     "invalid userid",
	wecom.CodeInvalidCorpID:     "invalid corpid",
	wecom.CodeInvalidToken:      "invalid access_token",
	wecom.CodeInvalidParameter:  "invalid parameter",
	wecom.CodeInvalidTagID:      "invalid tagid",
	wecom.CodeTokenMissing:      "access_token missing",
	wecom.CodeTokenExpired:      "access_token expired",
	wecom.CodeRateLimited:       "api freq out of limit",
	wecom.CodeTooConcurrent:     "api concurrent out of limit",
	wecom.CodeAPIForbidden:      "api forbidden",
	wecom.CodeAPIForbiddenIP:    "api forbidden",
	wecom.CodeDeptNotFound:      "department not found",
	wecom.CodeNoPermission:      "no privilege to access/modify contact/party/agent",
	wecom.CodeIPNotAllowed:      "not allow to access from your ip",
	wecom.CodeUserNotFound:      "userid not found",
	wecom.CodeInvalidDepartment: "invalid department id",
	wecom.CodeInvalidOAuthCode:  "invalid code",
	wecom.CodeUntrustedDomain:   "unauthorized redirect domain",
	wecom.CodeTicketExpired:     "user_ticket expired",
	wecom.CodeTicketInvalid:     "invalid user_ticket",
	84090:                       "user_ticket missing",
}

// errmsg is WeCom's message with its hint tail.
func errmsg(code int) string {
	m := errmsgs[code]
	if m == "" {
		m = "error"
	}
	return fmt.Sprintf("%s, hint: [%d_sim], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=%d", m, time.Now().Unix(), code)
}

func writeErr(ctx *fasthttp.RequestCtx, code int) {
	ctx.SetContentType("application/json; charset=UTF-8")
	b, _ := json.Marshal(map[string]any{"errcode": code, "errmsg": errmsg(code)})
	ctx.SetBody(b)
}

func writeOK(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetContentType("application/json; charset=UTF-8")
	ctx.SetBody(body)
}

// okJSON encodes v (a struct whose first fields are errcode/errmsg) as a success.
func okJSON(fields map[string]any) []byte {
	fields["errcode"] = 0
	fields["errmsg"] = "ok"
	b, _ := json.Marshal(fields)
	return b
}

const prefix = "/cgi-bin/"

// handle serves a request and logs it in one line (never its query: it holds the token).
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	s.serve(ctx)
	s.log.Info("wecomsim", "method", string(ctx.Method()), "path", string(ctx.Path()),
		"status", ctx.Response.StatusCode(), "bytes", len(ctx.Response.Body()), "took", time.Since(start).Round(time.Microsecond))
}

func (s *Server) serve(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	if len(path) > 5 && path[:5] == "/sim/" {
		s.control(ctx, path)
		return
	}
	switch path {
	case "/wwlogin/sso/login", "/wwopen/sso/qrConnect":
		s.loginPage(ctx, false)
		return
	case "/connect/oauth2/authorize":
		s.loginPage(ctx, true)
		return
	case "/wwlogin/sso/scan":
		s.scan(ctx)
		return
	}
	if len(path) <= len(prefix) || path[:len(prefix)] != prefix {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	endpoint := path[len(prefix):]
	s.mu.Lock()
	s.calls[endpoint]++
	latency := s.latency
	held := s.holds[endpoint]
	var f *fault
	if q := s.faults[endpoint]; len(q) > 0 {
		cp := q[0]
		f = &cp
		q[0].n--
		if q[0].n <= 0 {
			s.faults[endpoint] = q[1:]
		}
	}
	limited := false
	if s.rate > 0 {
		minute := time.Now().Unix() / 60
		w := s.window[endpoint]
		if w == nil || w.minute != minute {
			w = &minuteCount{minute: minute}
			s.window[endpoint] = w
		}
		w.n++
		limited = w.n > s.rate
	}
	s.mu.Unlock()
	if held != nil {
		held.waiting.Add(1)
		<-held.released
		held.waiting.Add(-1)
	}
	if latency > 0 {
		time.Sleep(latency)
	}
	if f != nil && f.status != 0 {
		ctx.SetStatusCode(f.status)
		ctx.SetBodyString("<html><body>502 Bad Gateway</body></html>")
		return
	}
	if endpoint == "gettoken" {
		if f != nil {
			writeErr(ctx, f.code)
			return
		}
		s.gettoken(ctx)
		return
	}
	kind, code := s.checkToken(string(ctx.QueryArgs().Peek("access_token")))
	if code != 0 {
		writeErr(ctx, code)
		return
	}
	if f != nil {
		writeErr(ctx, f.code)
		return
	}
	if limited {
		writeErr(ctx, wecom.CodeRateLimited)
		return
	}
	s.mu.RLock()
	refuse := s.refuse
	s.mu.RUnlock()
	switch endpoint {
	case "department/list":
		if refuse {
			writeErr(ctx, wecom.CodeAPIForbiddenIP)
			return
		}
		s.cached(ctx, endpoint, s.departmentList)
	case "department/simplelist":
		s.cached(ctx, endpoint, s.departmentSimpleList)
	case "department/get":
		s.departmentGet(ctx)
	case "user/list":
		if refuse {
			writeErr(ctx, wecom.CodeAPIForbiddenIP)
			return
		}
		s.cached(ctx, endpoint, s.userList)
	case "user/simplelist":
		s.cached(ctx, endpoint, s.userSimpleList)
	case "user/get":
		s.userGet(ctx)
	case "user/list_id":
		if kind != "contact" {
			writeErr(ctx, wecom.CodeAPIForbidden)
			return
		}
		s.userListID(ctx)
	case "tag/list":
		s.cached(ctx, endpoint, s.tagList)
	case "tag/get":
		s.tagGet(ctx)
	case "auth/getuserinfo":
		s.getUserInfo(ctx, kind)
	case "auth/getuserdetail":
		s.getUserDetail(ctx)
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		writeErr(ctx, wecom.CodeAPIForbidden)
	}
}

func (s *Server) gettoken(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	corpID, secret := string(args.Peek("corpid")), string(args.Peek("corpsecret"))
	if corpID != s.opts.CorpID {
		writeErr(ctx, wecom.CodeInvalidCorpID)
		return
	}
	var kind string
	switch {
	case secret == s.opts.Secret:
		kind = "app"
	case s.opts.ContactSyncSecret != "" && secret == s.opts.ContactSyncSecret:
		kind = "contact"
	default:
		writeErr(ctx, wecom.CodeInvalidSecret)
		return
	}
	s.mu.Lock()
	now := time.Now()
	tok := s.current[kind]
	t := s.tokens[tok]
	if t == nil || t.revoked != 0 || !now.Before(t.expires) {
		var b [32]byte
		rand.Read(b[:])
		tok = base64.RawURLEncoding.EncodeToString(b[:]) + hex.EncodeToString(b[:8])
		t = &token{kind: kind, expires: now.Add(s.opts.TokenTTL)}
		s.tokens[tok] = t
		s.current[kind] = tok
	}
	expiresIn := int(time.Until(t.expires).Round(time.Second) / time.Second)
	s.mu.Unlock()
	writeOK(ctx, okJSON(map[string]any{"access_token": tok, "expires_in": expiresIn}))
}

func (s *Server) checkToken(tok string) (kind string, code int) {
	if tok == "" {
		return "", wecom.CodeTokenMissing
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tokens[tok]
	switch {
	case t == nil:
		return "", wecom.CodeInvalidToken
	case t.revoked != 0:
		return "", t.revoked
	case !time.Now().Before(t.expires):
		return "", wecom.CodeTokenExpired
	}
	return t.kind, 0
}

// cached serves a response built by build, keyed by the endpoint and its query.
func (s *Server) cached(ctx *fasthttp.RequestCtx, endpoint string, build func(args *fasthttp.Args) ([]byte, int)) {
	args := ctx.QueryArgs()
	key := endpoint + "?" + string(args.Peek("id")) + "|" + string(args.Peek("department_id"))
	s.mu.RLock()
	body, ok := s.cache[key]
	if !ok {
		var code int
		version := s.version
		body, code = build(args)
		s.mu.RUnlock()
		if code != 0 {
			writeErr(ctx, code)
			return
		}
		s.mu.Lock()
		if s.version == version {
			s.cache[key] = body
		}
		s.mu.Unlock()
	} else {
		s.mu.RUnlock()
	}
	writeOK(ctx, body)
}

func intArg(args *fasthttp.Args, key string) (int64, bool, bool) {
	raw := args.Peek(key)
	if len(raw) == 0 {
		return 0, false, true
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	return v, true, err == nil
}

// subtree returns id and every department below it, in id order. Called with mu held.
func (s *Server) subtree(id int64) []int64 {
	out := []int64{id}
	for i := 0; i < len(out); i++ {
		out = append(out, s.children[out[i]]...)
	}
	slices.Sort(out)
	return out
}

// rootID is the department list endpoints start from. Called with mu held.
func (s *Server) rootID(args *fasthttp.Args) (int64, int) {
	id, given, ok := intArg(args, "id")
	if !ok {
		return 0, wecom.CodeInvalidDepartment
	}
	if !given {
		return 1, 0
	}
	if s.depts[id] == nil {
		return 0, wecom.CodeDeptNotFound
	}
	return id, 0
}

func (s *Server) departmentList(args *fasthttp.Args) ([]byte, int) {
	root, code := s.rootID(args)
	if code != 0 {
		return nil, code
	}
	var list []wecom.Department
	for _, id := range s.subtree(root) {
		list = append(list, *s.depts[id])
	}
	return okJSON(map[string]any{"department": list}), 0
}

func (s *Server) departmentSimpleList(args *fasthttp.Args) ([]byte, int) {
	root, code := s.rootID(args)
	if code != 0 {
		return nil, code
	}
	var list []wecom.DepartmentID
	for _, id := range s.subtree(root) {
		d := s.depts[id]
		list = append(list, wecom.DepartmentID{ID: d.ID, ParentID: d.ParentID, Order: d.Order})
	}
	return okJSON(map[string]any{"department_id": list}), 0
}

func (s *Server) departmentGet(ctx *fasthttp.RequestCtx) {
	id, given, ok := intArg(ctx.QueryArgs(), "id")
	if !given || !ok {
		writeErr(ctx, wecom.CodeInvalidDepartment)
		return
	}
	s.mu.RLock()
	d := s.depts[id]
	var body []byte
	if d != nil {
		body = okJSON(map[string]any{"department": d})
	}
	s.mu.RUnlock()
	if d == nil {
		writeErr(ctx, wecom.CodeDeptNotFound)
		return
	}
	writeOK(ctx, body)
}

// deptArg reads department_id. Called with mu held.
func (s *Server) deptArg(args *fasthttp.Args) (int64, int) {
	id, given, ok := intArg(args, "department_id")
	if !given || !ok {
		return 0, wecom.CodeInvalidDepartment
	}
	if s.depts[id] == nil {
		return 0, wecom.CodeDeptNotFound
	}
	return id, 0
}

// served is a member as the app is allowed to see it. Called with mu held.
func (s *Server) served(u *wecom.User) *wecom.User {
	if !s.withhold {
		return u
	}
	c := *u
	stripSensitive(&c)
	return &c
}

func (s *Server) userList(args *fasthttp.Args) ([]byte, int) {
	id, code := s.deptArg(args)
	if code != 0 {
		return nil, code
	}
	list := make([]*wecom.User, 0, len(s.byDept[id]))
	for _, uid := range s.byDept[id] {
		list = append(list, s.served(s.users[uid]))
	}
	return okJSON(map[string]any{"userlist": list}), 0
}

func (s *Server) userSimpleList(args *fasthttp.Args) ([]byte, int) {
	id, code := s.deptArg(args)
	if code != 0 {
		return nil, code
	}
	list := make([]wecom.SimpleUser, 0, len(s.byDept[id]))
	for _, uid := range s.byDept[id] {
		u := s.users[uid]
		list = append(list, wecom.SimpleUser{UserID: u.UserID, Name: u.Name, Department: u.Department})
	}
	return okJSON(map[string]any{"userlist": list}), 0
}

func (s *Server) userGet(ctx *fasthttp.RequestCtx) {
	uid := string(ctx.QueryArgs().Peek("userid"))
	if uid == "" {
		writeErr(ctx, wecom.CodeInvalidUserID)
		return
	}
	s.mu.RLock()
	u := s.users[uid]
	var body []byte
	if u != nil {
		b, _ := json.Marshal(s.served(u))
		// the user's fields at the top level, after errcode and errmsg
		body = append([]byte(`{"errcode":0,"errmsg":"ok",`), b[1:]...)
	}
	s.mu.RUnlock()
	if u == nil {
		writeErr(ctx, wecom.CodeUserNotFound)
		return
	}
	writeOK(ctx, body)
}

func (s *Server) userListID(ctx *fasthttp.RequestCtx) {
	var req struct {
		Cursor string `json:"cursor"`
		Limit  int    `json:"limit"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil || req.Limit < 1 || req.Limit > wecom.MaxListIDLimit {
		writeErr(ctx, wecom.CodeInvalidParameter)
		return
	}
	offset := 0
	if req.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(req.Cursor)
		n, err2 := strconv.Atoi(string(raw))
		if err != nil || err2 != nil || n < 0 {
			writeErr(ctx, wecom.CodeInvalidParameter)
			return
		}
		offset = n
	}
	s.mu.RLock()
	uids := make([]string, 0, len(s.users))
	for uid := range s.users {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	var rows []wecom.DeptUser
	for _, uid := range uids {
		for _, d := range s.users[uid].Department {
			rows = append(rows, wecom.DeptUser{UserID: uid, Department: d})
		}
	}
	s.mu.RUnlock()
	end := min(offset+req.Limit, len(rows))
	next := ""
	if end < len(rows) {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	page := []wecom.DeptUser{}
	if offset < len(rows) {
		page = rows[offset:end]
	}
	writeOK(ctx, okJSON(map[string]any{"next_cursor": next, "dept_user": page}))
}

func (s *Server) tagList(*fasthttp.Args) ([]byte, int) {
	list := make([]wecom.Tag, 0, len(s.tags))
	for _, t := range s.tags {
		list = append(list, wecom.Tag{TagID: t.TagID, TagName: t.TagName})
	}
	slices.SortFunc(list, func(a, b wecom.Tag) int { return int(a.TagID - b.TagID) })
	return okJSON(map[string]any{"taglist": list}), 0
}

// visibleTagUsers are a tag's members that exist, sorted. Called with mu held.
func (s *Server) visibleTagUsers(t *wecom.TagDetail) []wecom.TagUser {
	out := make([]wecom.TagUser, 0, len(t.UserList))
	for _, tu := range t.UserList {
		if u := s.users[tu.UserID]; u != nil {
			out = append(out, wecom.TagUser{UserID: u.UserID, Name: u.Name})
		}
	}
	slices.SortFunc(out, func(a, b wecom.TagUser) int {
		if a.UserID < b.UserID {
			return -1
		}
		if a.UserID > b.UserID {
			return 1
		}
		return 0
	})
	return out
}

func (s *Server) tagGet(ctx *fasthttp.RequestCtx) {
	id, given, ok := intArg(ctx.QueryArgs(), "tagid")
	if !given || !ok {
		writeErr(ctx, wecom.CodeInvalidTagID)
		return
	}
	s.mu.RLock()
	t := s.tags[id]
	var body []byte
	if t != nil {
		parties := t.PartyList
		if parties == nil {
			parties = []int64{}
		}
		body = okJSON(map[string]any{"tagname": t.TagName, "userlist": s.visibleTagUsers(t), "partylist": parties})
	}
	s.mu.RUnlock()
	if t == nil {
		writeErr(ctx, wecom.CodeInvalidTagID)
		return
	}
	writeOK(ctx, body)
}
