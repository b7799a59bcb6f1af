// Package dingtalksim is an emulator of the DingTalk (钉钉) server API for tests and local
// runs: a real HTTP server on a loopback port serving a deterministic org through the
// endpoints a self-built app uses (both API generations on one host), with DingTalk's JSON,
// cursors, error codes (88-wrapped on /topapi), token lifetime, per-API rate limit, login
// pages and codes, and signed, encrypted event pushes with retries (DINGTALK-API.md §12).
// Its generated org is the WeCom emulator's (wecomsim.Generate) with the same seed, as
// DingTalk has it: 9-digit department ids under the root 1, unionids, admins.
//
// Decisions where the reference says "unconfirmed" (the client does not rely on them):
// listsub without dept_id lists the root's children; a leaf lists []; an empty department's
// page is {"has_more": false, "list": []}; next_cursor is the offset of the next page and is
// left out of the last page; an unknown userid on v2/user/get is 60121; a reused or
// expired web login code is 400 invalidCode; the contacts scope is the whole org.
package dingtalksim

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/jitrt/jitrt/internal/simkit"
	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

// Options configure a Server.
type Options struct {
	// AppKey and AppSecret are the app's credentials (Client ID and Client Secret).
	AppKey, AppSecret string
	// CorpID is the org's id ("ding…"; made from the AppKey when empty).
	CorpID string
	// Members, Departments and Seed size the generated org (wecomsim.Generate).
	Members, Departments int
	Seed                 int64
	// PerSecond is the limit per API (default 20, DingTalk's; negative: none). Past it a
	// call gets 88/90018 (the new API: 403 QpsLimitForAppkeyAndApi).
	PerSecond int
	// TokenTTL is an app token's life (default 7200 s).
	TokenTTL time.Duration
	// Addr is where to listen (default 127.0.0.1:0).
	Addr string
}

// Department is a department of the emulated org.
type Department struct {
	ID       int64
	Name     string
	ParentID int64
	Order    int64
	Managers []string
}

// User is a member of the emulated org.
type User struct {
	UserID, UnionID, Name, Title, Mobile, Email, OrgEmail, Avatar, Telephone, JobNumber, WorkPlace string
	// Depts are the member's departments, the first the main one; Orders and Leader go with them.
	Depts     []int64
	Orders    []int64
	Leader    []bool
	Manager   string // manager_userid
	HiredDate int64
	Active    bool
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	ln   net.Listener
	srv  *http.Server

	mu       sync.RWMutex
	depts    map[int64]*Department
	children map[int64][]int64 // sorted by order, then id
	users    map[string]*User
	members  map[int64][]string // a department's direct members, in order
	admins   map[string]int     // userid → sys_level (1 main, 2 sub)

	tokenMu  sync.Mutex
	token    string
	tokenExp time.Time

	codeMu     sync.Mutex
	codes      map[string]issued // in-client (免登) codes
	authCodes  map[string]issued // web login codes
	userTokens map[string]string // a member's token → userid

	limitMu sync.Mutex
	limits  map[string]*rate.Limiter

	faultMu sync.Mutex
	fails   map[string][]string // endpoint → codes the next calls answer

	calls, tokens, throttled atomic.Int64

	endpoints map[string]topHandler // the /topapi endpoints (made once, by New)

	push  *subscription // the event subscription (nil until Subscribe)
	churn simkit.Churn
}

type issued struct {
	userID  string
	expires time.Time
}

// New generates the org and starts serving it.
func New(opts Options) (*Server, error) {
	if opts.AppKey == "" || opts.AppSecret == "" {
		return nil, errors.New("dingtalksim: AppKey and AppSecret are required")
	}
	if opts.CorpID == "" {
		h := sha256.Sum256([]byte("corp\x00" + opts.AppKey))
		opts.CorpID = "ding" + hex.EncodeToString(h[:8])
	}
	if opts.PerSecond == 0 {
		opts.PerSecond = 20
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 7200 * time.Second
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s := &Server{opts: opts, codes: map[string]issued{}, authCodes: map[string]issued{}, userTokens: map[string]string{},
		limits: map[string]*rate.Limiter{}, fails: map[string][]string{}}
	s.load(wecomsim.Generate(opts.Members, opts.Departments, opts.Seed))
	s.endpoints = s.topapiHandlers()
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// DeptID is the DingTalk id of the generated org's department n (1 is the root): 9 digits,
// as DingTalk's are, so that no one mistakes them for small numbers.
func DeptID(n int64) int64 {
	if n == 1 {
		return 1
	}
	return 400000000 + n*37
}

// load makes the WeCom emulator's org DingTalk's.
func (s *Server) load(o *wecom.Org) {
	s.depts, s.children, s.users, s.members, s.admins = map[int64]*Department{}, map[int64][]int64{}, map[string]*User{}, map[int64][]string{}, map[string]int{}
	for _, d := range o.Departments {
		nd := &Department{ID: DeptID(d.ID), Name: d.Name, Order: d.Order, Managers: slices.Clone(d.Leaders)}
		if d.ParentID != 0 {
			nd.ParentID = DeptID(d.ParentID)
		}
		s.depts[nd.ID] = nd
	}
	for i, u := range o.Users {
		nu := &User{UserID: u.UserID, UnionID: unionID(s.opts.AppKey, u.UserID), Name: u.Name, Title: u.Position, Mobile: u.Mobile,
			Email: u.Email, OrgEmail: u.BizMail, Avatar: u.Avatar, Telephone: u.Telephone, JobNumber: fmt.Sprintf("%06d", i+1),
			WorkPlace: u.Address, HiredDate: time.Date(2015+i%10, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC).UnixMilli(),
			Active: u.Status == 1}
		if len(u.DirectLeader) > 0 {
			nu.Manager = u.DirectLeader[0]
		}
		// the main department first
		depts := slices.Clone(u.Department)
		if k := slices.Index(depts, u.MainDepartment); k > 0 {
			depts[0], depts[k] = depts[k], depts[0]
		}
		for _, d := range depts {
			k := slices.Index(u.Department, d)
			nu.Depts = append(nu.Depts, DeptID(d))
			nu.Orders = append(nu.Orders, u.Order[k])
			nu.Leader = append(nu.Leader, u.IsLeaderInDept[k] == 1)
		}
		s.users[nu.UserID] = nu
	}
	for id, u := range o.Users {
		switch {
		case id == 0:
			s.admins[u.UserID] = 1
		case id%97 == 1:
			s.admins[u.UserID] = 2
		}
	}
	s.reindex()
}

// reindex rebuilds the children and members lists (under s.mu, or before serving).
func (s *Server) reindex() {
	s.children, s.members = map[int64][]int64{}, map[int64][]string{}
	for id, d := range s.depts {
		if id != 1 {
			s.children[d.ParentID] = append(s.children[d.ParentID], id)
		}
	}
	for p, ch := range s.children {
		slices.SortFunc(ch, func(a, b int64) int {
			if da, db := s.depts[a], s.depts[b]; da.Order != db.Order {
				return cmp.Compare(db.Order, da.Order) // the larger order first, as DingTalk's custom order
			}
			return cmp.Compare(a, b)
		})
		s.children[p] = ch
	}
	ids := make([]string, 0, len(s.users))
	for id := range s.users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, d := range s.users[id].Depts {
			s.members[d] = append(s.members[d], id)
		}
	}
}

func unionID(appKey, userID string) string {
	h := sha256.Sum256([]byte("union\x00" + appKey + "\x00" + userID))
	return hex.EncodeToString(h[:12])
}

// URL is the emulator's base: the client's OAPIBase and APIBase both.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// CorpID is the org's id.
func (s *Server) CorpID() string { return s.opts.CorpID }

// AppKey is the app's key.
func (s *Server) AppKey() string { return s.opts.AppKey }

// Calls counts the API calls served (the token's not included).
func (s *Server) Calls() int64 { return s.calls.Load() }

// Throttled counts the calls refused by the rate limit (88/90018).
func (s *Server) Throttled() int64 { return s.throttled.Load() }

// TokenFetches counts the calls of gettoken (refused ones too).
func (s *Server) TokenFetches() int64 { return s.tokens.Load() }

// Close stops serving and the event pushes.
func (s *Server) Close() error {
	s.churn.Stop()
	s.mu.Lock()
	p := s.push
	s.push = nil
	s.mu.Unlock()
	if p != nil {
		p.pusher.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// Users lists the org's members, sorted by userid (copies).
func (s *Server) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, cloneUser(u))
	}
	slices.SortFunc(out, func(a, b User) int { return cmp.Compare(a.UserID, b.UserID) })
	return out
}

// User is one member (a copy).
func (s *Server) User(id string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	return cloneUser(u), true
}

// Departments lists the org's departments, sorted by id (copies).
func (s *Server) Departments() []Department {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Department, 0, len(s.depts))
	for _, d := range s.depts {
		c := *d
		c.Managers = slices.Clone(d.Managers)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Department) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Admins are the org's administrators: userid → sys_level.
func (s *Server) Admins() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]int, len(s.admins))
	for k, v := range s.admins {
		out[k] = v
	}
	return out
}

func cloneUser(u *User) User {
	c := *u
	c.Depts, c.Orders, c.Leader = slices.Clone(u.Depts), slices.Clone(u.Orders), slices.Clone(u.Leader)
	return c
}

// ExpireTokens ends the app token's life now: the next call with it is refused (88/40014)
// and the client must fetch a new one.
func (s *Server) ExpireTokens() {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	s.token, s.tokenExp = "", time.Time{}
}

// FailNext makes the next n calls of endpoint ("topapi/v2/user/list") answer code (an
// old-API code such as "-1" or "90018", 88-wrapped where DingTalk wraps it).
func (s *Server) FailNext(endpoint string, n int, code string) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for range n {
		s.fails[endpoint] = append(s.fails[endpoint], code)
	}
}

func (s *Server) nextFailure(endpoint string) string {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	q := s.fails[endpoint]
	if len(q) == 0 {
		return ""
	}
	s.fails[endpoint] = q[1:]
	return q[0]
}

// allow takes a call of endpoint from its bucket.
func (s *Server) allow(endpoint string) bool {
	if s.opts.PerSecond < 0 {
		return true
	}
	s.limitMu.Lock()
	l := s.limits[endpoint]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(s.opts.PerSecond), s.opts.PerSecond)
		s.limits[endpoint] = l
	}
	s.limitMu.Unlock()
	return l.Allow()
}

// issueToken returns the app's live token, renewing its life (DingTalk gives the same
// token while it lives).
func (s *Server) issueToken() string {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	if s.token == "" || time.Now().After(s.tokenExp) {
		s.token = randomHex(16)
	}
	s.tokenExp = time.Now().Add(s.opts.TokenTTL)
	return s.token
}

func (s *Server) validToken(t string) bool {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	return t != "" && t == s.token && time.Now().Before(s.tokenExp)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// IssueCode issues an in-client (免登) code of a member, good once for 5 minutes
// (topapi/v2/user/getuserinfo), as the DingTalk client's dd.requestAuthCode gives one.
func (s *Server) IssueCode(userID string) (string, error) {
	if _, ok := s.User(userID); !ok {
		return "", fmt.Errorf("dingtalksim: no member %q", userID)
	}
	code := randomHex(16)
	s.codeMu.Lock()
	s.codes[code] = issued{userID: userID, expires: time.Now().Add(5 * time.Minute)}
	s.codeMu.Unlock()
	return code, nil
}

// IssueAuthCode issues a web login code of a member (as the login page does when the
// member confirms), good once for 5 minutes (v1.0/oauth2/userAccessToken).
func (s *Server) IssueAuthCode(userID string) (string, error) {
	if _, ok := s.User(userID); !ok {
		return "", fmt.Errorf("dingtalksim: no member %q", userID)
	}
	code := randomHex(16)
	s.codeMu.Lock()
	s.authCodes[code] = issued{userID: userID, expires: time.Now().Add(5 * time.Minute)}
	s.codeMu.Unlock()
	return code, nil
}

// takeCode uses up a code of a kind: its member, or false.
func (s *Server) takeCode(codes map[string]issued, code string) (string, bool) {
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	is, ok := codes[code]
	delete(codes, code)
	if !ok || time.Now().After(is.expires) {
		return "", false
	}
	return is.userID, true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
