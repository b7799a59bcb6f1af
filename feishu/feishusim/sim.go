// Package feishusim is an emulator of the Feishu (飞书) Open Platform for tests and local
// runs: a real HTTP server on a loopback port serving a deterministic tenant through the
// endpoints a custom app uses, with Feishu's envelopes and HTTP statuses, opaque page
// tokens, page sizes up to 50, codes, the tenant token's life (the same token while 30
// minutes are left), the per-API limit (429 with x-ogw-ratelimit-reset), the web login
// page and its codes, and v2.0 event pushes (url_verification first, encrypted and signed
// with an Encrypt Key, retried). Its generated tenant is the WeCom emulator's
// (wecomsim.Generate) with the same seed, as Feishu has it: open_department_ids, the root
// "0", per-app open_ids.
//
// Decisions where the reference says "unconfirmed" (the client relies on none): an unknown
// user_id is 41012 (HTTP 400); an unknown department 40015 (HTTP 400); a revoked tenant
// token 99991663 with HTTP 400; the scope is the whole tenant; find_by_department lists
// no resigned member.
package feishusim

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
	AppID, AppSecret string
	// TenantKey names the tenant (made from the AppID when empty).
	TenantKey string
	// Members, Departments and Seed size the generated tenant (wecomsim.Generate).
	Members, Departments int
	Seed                 int64
	// PerMinute is the limit per API (default 1000, Feishu's; negative: none); 50 a second
	// holds beside it.
	PerMinute int
	// TokenTTL is a tenant token's life (default 7200 s).
	TokenTTL time.Duration
	Addr     string
}

// Department is a department of the emulated tenant.
type Department struct {
	OpenID   string // od-…, "0" for the root
	CustomID string // department_id
	Name     string
	ParentID string // the parent's OpenID ("0" under the root; "" for the root)
	Order    int64
	Leader   string // user_id
}

// User is a member of the emulated tenant.
type User struct {
	UserID, OpenID, UnionID, Name, EnName, Email, Mobile, JobTitle, EmployeeNo, City string
	Gender                                                                           int
	// Depts are the member's departments (OpenIDs), the first the primary one.
	Depts    []string
	Leader   string // leader_user_id (user_id)
	JoinTime int64
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	ln   net.Listener
	srv  *http.Server

	mu       sync.RWMutex
	depts    map[string]*Department
	children map[string][]string
	users    map[string]*User
	members  map[string][]string

	tokenMu sync.Mutex
	tokens  map[string]time.Time // valid tenant tokens → their end

	codeMu     sync.Mutex
	codes      map[string]issued // web login codes
	userTokens map[string]string // a member's token → user_id

	limitMu sync.Mutex
	limits  map[string][2]*rate.Limiter

	faultMu sync.Mutex
	fails   map[string][]int

	calls, tokenCalls, throttled atomic.Int64

	push  *pusher
	churn simkit.Churn
}

type issued struct {
	userID, redirect string
	expires          time.Time
}

// New generates the tenant and starts serving it.
func New(opts Options) (*Server, error) {
	if opts.AppID == "" || opts.AppSecret == "" {
		return nil, errors.New("feishusim: AppID and AppSecret are required")
	}
	if opts.TenantKey == "" {
		opts.TenantKey = hash("tenant", opts.AppID)[:16]
	}
	if opts.PerMinute == 0 {
		opts.PerMinute = 1000
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 7200 * time.Second
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s := &Server{opts: opts, tokens: map[string]time.Time{}, codes: map[string]issued{}, userTokens: map[string]string{},
		limits: map[string][2]*rate.Limiter{}, fails: map[string][]int{}}
	s.load(wecomsim.Generate(opts.Members, opts.Departments, opts.Seed))
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DeptOpenID is the open_department_id of the generated tenant's department n (1 is the
// root, "0").
func (s *Server) DeptOpenID(n int64) string {
	if n == 1 {
		return "0"
	}
	return "od-" + hash("dept", s.opts.TenantKey, strconv.FormatInt(n, 10))[:32]
}

func (s *Server) load(o *wecom.Org) {
	s.depts, s.users = map[string]*Department{}, map[string]*User{}
	for _, d := range o.Departments {
		nd := &Department{OpenID: s.DeptOpenID(d.ID), CustomID: "D" + strconv.FormatInt(d.ID, 10), Name: d.Name, Order: d.Order}
		if d.ID != 1 {
			nd.ParentID = s.DeptOpenID(d.ParentID)
		}
		if len(d.Leaders) > 0 {
			nd.Leader = d.Leaders[0]
		}
		s.depts[nd.OpenID] = nd
	}
	for i, u := range o.Users {
		g := 0
		switch u.Gender {
		case "1":
			g = 1
		case "2":
			g = 2
		}
		nu := &User{UserID: u.UserID, OpenID: s.openID(u.UserID), UnionID: "on_" + hash("union", s.opts.TenantKey, u.UserID)[:32],
			Name: u.Name, EnName: u.EnglishName, Email: u.Email, Mobile: "+86" + u.Mobile, JobTitle: u.Position,
			EmployeeNo: fmt.Sprintf("E%06d", i+1), City: "上海", Gender: g, JoinTime: time.Date(2016+i%9, time.Month(1+i%12), 1, 0, 0, 0, 0, time.UTC).Unix()}
		if len(u.DirectLeader) > 0 {
			nu.Leader = u.DirectLeader[0]
		}
		depts := slices.Clone(u.Department)
		if k := slices.Index(depts, u.MainDepartment); k > 0 {
			depts[0], depts[k] = depts[k], depts[0]
		}
		for _, d := range depts {
			nu.Depts = append(nu.Depts, s.DeptOpenID(d))
		}
		s.users[nu.UserID] = nu
	}
	s.reindex()
}

func (s *Server) openID(userID string) string {
	return "ou_" + hash("open", s.opts.AppID, userID)[:32]
}

func (s *Server) reindex() {
	s.children, s.members = map[string][]string{}, map[string][]string{}
	for id, d := range s.depts {
		if id != "0" {
			s.children[d.ParentID] = append(s.children[d.ParentID], id)
		}
	}
	for p, ch := range s.children {
		slices.SortFunc(ch, func(a, b string) int {
			if c := cmp.Compare(s.depts[b].Order, s.depts[a].Order); c != 0 {
				return c
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

// URL is the emulator's base: the client's BaseURL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// AppID is the app's id.
func (s *Server) AppID() string { return s.opts.AppID }

// TenantKey is the tenant's key.
func (s *Server) TenantKey() string { return s.opts.TenantKey }

// Calls counts the API calls served (the token's not included); Throttled the calls
// refused by the rate limit; TokenCalls the token endpoint's calls.
func (s *Server) Calls() int64      { return s.calls.Load() }
func (s *Server) Throttled() int64  { return s.throttled.Load() }
func (s *Server) TokenCalls() int64 { return s.tokenCalls.Load() }

// Close stops serving, the churn and the pushes.
func (s *Server) Close() error {
	s.churn.Stop()
	s.mu.Lock()
	p := s.push
	s.push = nil
	s.mu.Unlock()
	if p != nil {
		p.queue.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// Users lists the members, sorted by user_id (copies).
func (s *Server) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		c := *u
		c.Depts = slices.Clone(u.Depts)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b User) int { return cmp.Compare(a.UserID, b.UserID) })
	return out
}

// Departments lists the departments, the root first, then by OpenID (copies).
func (s *Server) Departments() []Department {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Department, 0, len(s.depts))
	for _, d := range s.depts {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b Department) int { return cmp.Compare(a.OpenID, b.OpenID) })
	return out
}

// RevokeTokens ends every tenant token now (99991663 until a new one is fetched).
func (s *Server) RevokeTokens() {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	s.tokens = map[string]time.Time{}
}

// FailNext makes the next n calls of endpoint (its path without /open-apis/, the id as
// {id}: "contact/v3/users/find_by_department") answer code with HTTP status.
func (s *Server) FailNext(endpoint string, n, code int) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for range n {
		s.fails[endpoint] = append(s.fails[endpoint], code)
	}
}

func (s *Server) nextFailure(endpoint string) int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	q := s.fails[endpoint]
	if len(q) == 0 {
		return 0
	}
	s.fails[endpoint] = q[1:]
	return q[0]
}

// allow takes a call of endpoint from its minute and second buckets (0: allowed, else the
// seconds until the next call may go).
func (s *Server) allow(endpoint string) int {
	if s.opts.PerMinute < 0 {
		return 0
	}
	s.limitMu.Lock()
	l, ok := s.limits[endpoint]
	if !ok {
		l = [2]*rate.Limiter{rate.NewLimiter(rate.Limit(float64(s.opts.PerMinute)/60), s.opts.PerMinute), rate.NewLimiter(50, 50)}
		s.limits[endpoint] = l
	}
	s.limitMu.Unlock()
	now := time.Now()
	if !l[1].AllowN(now, 1) {
		return 1
	}
	if !l[0].AllowN(now, 1) {
		return max(1, int(time.Second*60/time.Duration(s.opts.PerMinute)/time.Second))
	}
	return 0
}

// SetPerMinute sets the limit per API from now on (negative: none).
func (s *Server) SetPerMinute(n int) {
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	s.opts.PerMinute = n
	s.limits = map[string][2]*rate.Limiter{}
}

// issueToken returns a tenant token: the one with 30 minutes or more left, else a new one
// (the old one stays valid until it ends); and its remaining life in seconds.
func (s *Server) issueToken() (string, int64) {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	now := time.Now()
	for t, end := range s.tokens {
		if end.Sub(now) >= 30*time.Minute {
			return t, int64(end.Sub(now) / time.Second)
		}
		if !now.Before(end) {
			delete(s.tokens, t)
		}
	}
	t := "t-" + randomHex(20)
	s.tokens[t] = now.Add(s.opts.TokenTTL)
	return t, int64(s.opts.TokenTTL / time.Second)
}

func (s *Server) validToken(t string) bool {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	end, ok := s.tokens[t]
	return ok && time.Now().Before(end)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// IssueAuthCode issues a web login code of a member for redirectURI (as the login page
// does when the member confirms), good once for 5 minutes.
func (s *Server) IssueAuthCode(userID, redirectURI string) (string, error) {
	s.mu.RLock()
	_, ok := s.users[userID]
	s.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("feishusim: no member %q", userID)
	}
	code := randomHex(24)
	s.codeMu.Lock()
	s.codes[code] = issued{userID: userID, redirect: redirectURI, expires: time.Now().Add(5 * time.Minute)}
	s.codeMu.Unlock()
	return code, nil
}
