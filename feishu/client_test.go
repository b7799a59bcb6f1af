package feishu_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitrt/jitrt/feishu"
	"github.com/jitrt/jitrt/feishu/feishusim"
)

const (
	appID     = "cli_test0000000001"
	appSecret = "feishu-app-secret-do-not-leak"
)

func newSim(t *testing.T, members, depts int) *feishusim.Server {
	t.Helper()
	s, err := feishusim.New(feishusim.Options{AppID: appID, AppSecret: appSecret, Members: members, Departments: depts, Seed: 4, PerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newClient(t *testing.T, s *feishusim.Server, cfg feishu.Config) *feishu.Client {
	t.Helper()
	cfg.AppID, cfg.BaseURL = appID, s.URL()
	if cfg.AppSecret == "" {
		cfg.AppSecret = appSecret
	}
	if cfg.Backoff.Base == 0 {
		cfg.Backoff = feishu.Backoff{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	if cfg.Limiter == nil {
		cfg.Limiter = feishu.NewRateLimiter(-1)
	}
	c, err := feishu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The whole-org fetch gives every department and every member once, through pages of 50,
// retried internal errors and rate limits (429 with x-ogw-ratelimit-reset), and a tenant
// token revoked mid-fetch (evicted and fetched again).
func TestFetchOrgGivesTheWholeOrg(t *testing.T) {
	s := newSim(t, 320, 25)
	c := newClient(t, s, feishu.Config{})
	s.FailNext("contact/v3/users/find_by_department", 2, feishu.CodeInternal)
	s.FailNext("contact/v3/departments/children", 1, feishu.CodeRateLimited)
	var mu sync.Mutex
	got := map[string]feishu.User{}
	var depts []feishu.Department
	o, err := c.FetchOrg(context.Background(), feishu.FetchOptions{
		OnDepartments: func(d []feishu.Department) error { depts = d; return nil },
		OnUsers: func(page []feishu.User) error {
			mu.Lock()
			defer mu.Unlock()
			for _, u := range page {
				if _, dup := got[u.UserID]; dup {
					return fmt.Errorf("member %s came twice", u.UserID)
				}
				got[u.UserID] = u
			}
			if len(got) > 150 && len(got)-len(page) <= 150 {
				s.RevokeTokens()
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := s.Users()
	if o.Members != len(want) || len(got) != len(want) {
		t.Fatalf("fetched %d members, the tenant has %d", len(got), len(want))
	}
	for _, w := range want {
		u := got[w.UserID]
		if u.Name != w.Name || !slices.Equal(u.DepartmentIDs, w.Depts) || u.OpenID == "" || u.JobTitle != w.JobTitle {
			t.Fatalf("member %s: %+v, the tenant has %+v", w.UserID, u, w)
		}
	}
	wantDepts := s.Departments()
	if len(depts) != len(wantDepts) || depts[0].OpenDepartmentID != "0" {
		t.Fatalf("%d departments (first %+v), the tenant has %d", len(depts), depts[0], len(wantDepts))
	}
	byID := map[string]feishu.Department{}
	for _, d := range depts {
		byID[d.OpenDepartmentID] = d
	}
	for _, d := range wantDepts {
		g := byID[d.OpenID]
		if g.Name != d.Name || (d.OpenID != "0" && g.ParentDepartmentID != d.ParentID) || g.OrderNumber() != d.Order || g.LeaderUserID != d.Leader {
			t.Fatalf("department %s: %+v, the tenant has %+v", d.OpenID, g, d)
		}
	}
	if s.TokenCalls() != 2 {
		t.Fatalf("%d token calls: one, and one after the revocation", s.TokenCalls())
	}
}

// The tenant's own limits are kept by the client's limiter: at 50 a second past its burst
// the emulator would refuse, and a fetch paced by the limiter is refused nothing.
func TestTheLimiterKeepsUnderFeishusLimit(t *testing.T) {
	s, err := feishusim.New(feishusim.Options{AppID: appID, AppSecret: appSecret, Members: 40, Departments: 6, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newClient(t, s, feishu.Config{Limiter: feishu.NewRateLimiter(feishu.DefaultPerMinute * 3), MaxRetries: -1})
	if _, err := c.FetchOrg(context.Background(), feishu.FetchOptions{}); err != nil || s.Throttled() != 0 {
		t.Fatalf("%v (throttled %d)", err, s.Throttled())
	}
}

// Errors carry Feishu's code with its HTTP status, are not retried when that cannot help,
// and never show the secret.
func TestErrorsCarryTheCodeAndNoSecret(t *testing.T) {
	s := newSim(t, 10, 2)
	c := newClient(t, s, feishu.Config{})
	ctx := context.Background()
	_, err := c.GetUser(ctx, "nobody")
	var ae *feishu.APIError
	if !errors.As(err, &ae) || ae.Code != feishu.CodeUserNotExist || ae.LogID == "" {
		t.Fatalf("an unknown member: %v", err)
	}
	calls := s.Calls()
	if _, err := c.GetDepartment(ctx, "od-nope"); feishu.CodeOf(err) != feishu.CodeDeptNotExist || s.Calls() != calls+1 {
		t.Fatalf("an unknown department: %v", err)
	}
	s.FailNext("contact/v3/departments/get", 1, feishu.CodeNoDeptAuthority)
	if _, err := c.GetDepartment(ctx, "0"); feishu.CodeOf(err) != feishu.CodeNoDeptAuthority || !strings.Contains(err.Error(), "通讯录权限范围") {
		t.Fatalf("out of scope (40004, HTTP 403): %v", err)
	}
	bad := newClient(t, s, feishu.Config{AppSecret: "wrong-secret-value"})
	before := s.TokenCalls()
	if _, err := bad.GetUser(ctx, "x"); feishu.CodeOf(err) != feishu.CodeAppSecretInvalid || s.TokenCalls() != before+1 || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatalf("a wrong secret: %v (%d token calls)", err, s.TokenCalls()-before)
	}
}

// A web login's code gives the member's token, and the token who they are; a code used
// again, or exchanged for another redirect URI, is refused and not retried.
func TestLoginCodes(t *testing.T) {
	s := newSim(t, 10, 2)
	c := newClient(t, s, feishu.Config{})
	ctx := context.Background()
	u := s.Users()[2]
	const back = "http://127.0.0.1:9/auth/L/callback"
	code, _ := s.IssueAuthCode(u.UserID, back)
	tok, err := c.UserAccessToken(ctx, code, back)
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("oauth token: %+v %v", tok, err)
	}
	info, err := c.UserInfo(ctx, tok.AccessToken)
	if err != nil || info.UserID != u.UserID || info.TenantKey != s.TenantKey() {
		t.Fatalf("user_info: %+v %v", info, err)
	}
	if _, err := c.UserAccessToken(ctx, code, back); feishu.CodeOf(err) != feishu.CodeCodeNotFound {
		t.Fatalf("the code again: %v", err)
	}
	code, _ = s.IssueAuthCode(u.UserID, back)
	if _, err := c.UserAccessToken(ctx, code, back+"x"); feishu.CodeOf(err) != feishu.CodeRedirectMismatch {
		t.Fatalf("another redirect_uri: %v", err)
	}
	if _, err := c.UserInfo(ctx, "eyJbad"); feishu.CodeOf(err) != feishu.CodeUserTokenInvalid {
		t.Fatalf("a bad user token: %v", err)
	}
	out, err := c.Get(ctx, "contact/v3/scopes", nil)
	if err != nil || out["department_ids"] == nil {
		t.Fatalf("raw get: %v %v", out, err)
	}
}
