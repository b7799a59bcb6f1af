package dingtalk_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitrt/jitrt/dingtalk"
	"github.com/jitrt/jitrt/dingtalk/dingtalksim"
)

const (
	appKey    = "dingappkey0001"
	appSecret = "dingtalk-app-secret-do-not-leak"
)

func newSim(t *testing.T, members, depts int, perSecond int) *dingtalksim.Server {
	t.Helper()
	s, err := dingtalksim.New(dingtalksim.Options{AppKey: appKey, AppSecret: appSecret, Members: members, Departments: depts, Seed: 7, PerSecond: perSecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newClient(t *testing.T, s *dingtalksim.Server, cfg dingtalk.Config) *dingtalk.Client {
	t.Helper()
	cfg.AppKey, cfg.OAPIBase, cfg.APIBase = appKey, s.URL(), s.URL()
	if cfg.AppSecret == "" {
		cfg.AppSecret = appSecret
	}
	if cfg.Backoff.Base == 0 {
		cfg.Backoff = dingtalk.Backoff{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	if cfg.RateLimitBackoff.Base == 0 {
		cfg.RateLimitBackoff = dingtalk.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	}
	c, err := dingtalk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The whole-org fetch gives every department and every member once, as the emulator has
// them, through pages of 100, retried busy answers and a token that expired mid-fetch.
func TestFetchOrgGivesTheWholeOrg(t *testing.T) {
	s := newSim(t, 450, 30, -1)
	c := newClient(t, s, dingtalk.Config{Limiter: dingtalk.NewRateLimiter(-1)})
	ctx := context.Background()
	s.FailNext("topapi/v2/user/list", 2, "-1")
	s.FailNext("topapi/v2/department/get", 1, "-1")
	var mu sync.Mutex
	got := map[string]dingtalk.User{}
	var depts []dingtalk.DepartmentDetail
	var phases []string
	o, err := c.FetchOrg(ctx, dingtalk.FetchOptions{
		OnDepartments: func(d []dingtalk.DepartmentDetail) error { depts = d; return nil },
		OnUsers: func(page []dingtalk.User) error {
			mu.Lock()
			defer mu.Unlock()
			for _, u := range page {
				if _, dup := got[u.UserID]; dup {
					return fmt.Errorf("member %s came twice", u.UserID)
				}
				got[u.UserID] = u
			}
			if len(got) > 200 && len(got)-len(page) <= 200 {
				s.ExpireTokens() // the token ends while the fetch goes on
			}
			return nil
		},
		Progress: func(phase string, done, total int) {
			mu.Lock()
			defer mu.Unlock()
			if !slices.Contains(phases, phase) {
				phases = append(phases, phase)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := s.Users()
	if o.Members != len(want) || len(got) != len(want) {
		t.Fatalf("fetched %d members (%d counted), the org has %d", len(got), o.Members, len(want))
	}
	for _, w := range want {
		u := got[w.UserID]
		if u.Name != w.Name || !slices.Equal(u.DeptIDList, w.Depts) || u.UnionID != w.UnionID || u.Title != w.Title {
			t.Fatalf("member %s: %+v, the org has %+v", w.UserID, u, w)
		}
	}
	wantDepts := s.Departments()
	if len(depts) != len(wantDepts) {
		t.Fatalf("%d departments, the org has %d", len(depts), len(wantDepts))
	}
	for i, d := range wantDepts {
		if depts[i].DeptID != d.ID || depts[i].Name != d.Name || depts[i].Order != d.Order || !slices.Equal(depts[i].ManagerUserIDs, d.Managers) ||
			(d.ID != 1 && depts[i].ParentID != d.ParentID) {
			t.Fatalf("department %d: %+v, the org has %+v", d.ID, depts[i], d)
		}
	}
	if !slices.Equal(phases, []string{"departments", "members"}) {
		t.Fatalf("progress phases %v", phases)
	}
	if s.TokenFetches() != 2 {
		t.Fatalf("%d token fetches: one, and one after it expired", s.TokenFetches())
	}
}

// Past DingTalk's 20 calls a second per API the emulator answers 88/90018; the client waits
// and tries again, and the fetch still gives the whole org.
func TestRateLimitedCallsAreRetried(t *testing.T) {
	s := newSim(t, 30, 4, 2)
	c := newClient(t, s, dingtalk.Config{Limiter: dingtalk.NewRateLimiter(-1), MaxRetries: 50})
	o, err := c.FetchOrg(context.Background(), dingtalk.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Users) != 30 || len(o.Departments) != 4 {
		t.Fatalf("%d members, %d departments", len(o.Users), len(o.Departments))
	}
	if s.Throttled() == 0 {
		t.Fatal("no call met the limit: the test tests nothing")
	}
}

// The client's own limiter keeps a fetch under the emulator's limit: no call refused.
func TestTheLimiterKeepsUnderDingTalksLimit(t *testing.T) {
	s := newSim(t, 40, 8, 20)
	c := newClient(t, s, dingtalk.Config{MaxRetries: -1}) // a 90018 would fail the fetch
	if _, err := c.FetchOrg(context.Background(), dingtalk.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Errors carry DingTalk's code (the sub_code of an 88), are retried only when that can
// help, and never show the secret.
func TestErrorsCarryTheCodeAndNoSecret(t *testing.T) {
	s := newSim(t, 10, 2, -1)
	c := newClient(t, s, dingtalk.Config{})
	ctx := context.Background()
	_, err := c.GetUser(ctx, "nobody")
	var ae *dingtalk.APIError
	if !errors.As(err, &ae) || ae.Code != dingtalk.CodeUserNotFound || ae.RequestID == "" {
		t.Fatalf("an unknown member: %v", err)
	}
	calls := s.Calls()
	if _, err := c.GetDepartment(ctx, 999); dingtalk.CodeOf(err) != dingtalk.CodeDeptNotFound || s.Calls() != calls+1 {
		t.Fatalf("an unknown department: %v (calls %d)", err, s.Calls()-calls)
	}
	s.FailNext("topapi/v2/department/get", 1, dingtalk.CodeNoPermission)
	if _, err := c.GetDepartment(ctx, 1); dingtalk.CodeOf(err) != dingtalk.CodeNoPermission || !strings.Contains(err.Error(), "权限管理") {
		t.Fatalf("a missing permission (88/60011): %v", err)
	}
	bad := newClient(t, s, dingtalk.Config{AppSecret: "wrong-secret-value"})
	fetches := s.TokenFetches()
	_, err = bad.GetUser(ctx, "x")
	if dingtalk.CodeOf(err) != dingtalk.CodeBadCredentials || s.TokenFetches() != fetches+1 {
		t.Fatalf("wrong credentials: %v, %d fetches (not retried)", err, s.TokenFetches()-fetches)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatalf("the secret in an error: %v", err)
	}
	s.Close()
	c2 := newClient(t, s, dingtalk.Config{MaxRetries: -1})
	if _, err := c2.GetUser(ctx, "x"); !errors.Is(err, dingtalk.ErrTransport) || strings.Contains(err.Error(), appSecret) || strings.Contains(err.Error(), "appsecret") {
		t.Fatalf("a server that is gone: %v", err)
	}
}

// Both login codes: an in-client (免登) code names its member once; a web login code gives
// the member's token, and the token who they are; a code used again is refused, not retried.
func TestLoginCodes(t *testing.T) {
	s := newSim(t, 10, 2, -1)
	c := newClient(t, s, dingtalk.Config{})
	ctx := context.Background()
	u := s.Users()[3]
	code, _ := s.IssueCode(u.UserID)
	info, err := c.UserInfoByCode(ctx, code)
	if err != nil || info.UserID != u.UserID || info.UnionID != u.UnionID {
		t.Fatalf("免登: %+v %v", info, err)
	}
	if _, err := c.UserInfoByCode(ctx, code); dingtalk.CodeOf(err) != dingtalk.CodeAuthCode {
		t.Fatalf("the code again: %v", err)
	}
	web, _ := s.IssueAuthCode(u.UserID)
	if _, err := c.UserInfoByCode(ctx, web); dingtalk.CodeOf(err) != dingtalk.CodeAuthCode {
		t.Fatalf("a web code on getuserinfo: %v", err)
	}
	web, _ = s.IssueAuthCode(u.UserID)
	tok, err := c.UserAccessToken(ctx, web)
	if err != nil || tok.AccessToken == "" || tok.CorpID != s.CorpID() {
		t.Fatalf("userAccessToken: %+v %v", tok, err)
	}
	me, err := c.Me(ctx, tok.AccessToken)
	if err != nil || me.UnionID != u.UnionID || me.Nick != u.Name {
		t.Fatalf("me: %+v %v", me, err)
	}
	who, err := c.GetByUnionID(ctx, me.UnionID)
	if err != nil || who.UserID != u.UserID || who.ContactType != 0 {
		t.Fatalf("getbyunionid: %+v %v", who, err)
	}
	if _, err := c.UserAccessToken(ctx, web); dingtalk.CodeOf(err) != dingtalk.CodeInvalidCode {
		t.Fatalf("the web code again: %v", err)
	}
	if _, err := c.Me(ctx, "not-a-token"); dingtalk.CodeOf(err) != dingtalk.CodeInvalidAuthentication {
		t.Fatalf("me with a bad token: %v", err)
	}
}

// The raw calls reach any endpoint with the app's token; an unknown one is DingTalk's 22.
func TestRawCalls(t *testing.T) {
	s := newSim(t, 10, 2, -1)
	c := newClient(t, s, dingtalk.Config{})
	ctx := context.Background()
	out, err := c.Post(ctx, "topapi/user/count", map[string]any{"only_active": false})
	if err != nil || fmt.Sprint(out["result"].(map[string]any)["count"]) != "10" {
		t.Fatalf("user/count: %v %v", out, err)
	}
	if _, err := c.Post(ctx, "topapi/user/count", nil); dingtalk.CodeOf(err) != dingtalk.CodeMissingParameter {
		t.Fatalf("user/count without only_active: %v", err)
	}
	if _, err := c.Post(ctx, "topapi/v2/user/notexist", nil); dingtalk.CodeOf(err) != dingtalk.CodeUnknownAPI {
		t.Fatalf("an unknown endpoint: %v", err)
	}
	admins, err := c.ListAdmins(ctx)
	if err != nil || len(admins) == 0 || admins[0].SysLevel == 0 {
		t.Fatalf("listadmin: %v %v", admins, err)
	}
	scopes, err := c.AuthScopes(ctx)
	if err != nil || !slices.Equal(scopes.AuthedDept, []int64{1}) {
		t.Fatalf("auth/scopes: %+v %v", scopes, err)
	}
}
