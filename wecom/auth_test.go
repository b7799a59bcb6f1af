package wecom_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

// noRedirect is an HTTP client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestALoginCodeIsExchangedOnceForItsMember(t *testing.T) {
	sim := startSim(t, 30, 4)
	c := newClient(t, sim)
	ctx := context.Background()
	member := sim.Org().Users[3].UserID
	code, err := sim.IssueCode(member, "http://127.0.0.1:8787/auth/x/callback")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.GetUserInfo(ctx, code)
	if err != nil || id.UserID != member || id.OpenID != "" {
		t.Fatalf("exchange: %+v %v", id, err)
	}
	_, err = c.GetUserInfo(ctx, code)
	if wecom.CodeOf(err) != wecom.CodeInvalidOAuthCode || !strings.Contains(err.Error(), "used already") {
		t.Fatalf("a code used twice: %v", err)
	}
	if _, err := c.GetUserInfo(ctx, "made-up"); wecom.CodeOf(err) != wecom.CodeInvalidOAuthCode {
		t.Fatalf("an unknown code: %v", err)
	}
	if _, err := c.GetUserInfo(ctx, ""); err == nil {
		t.Fatal("an empty code was sent")
	}
	// expired: older than 5 minutes
	old, _ := sim.IssueCode(member, "http://127.0.0.1:8787/cb")
	sim.AgeCodes(wecomsim.CodeTTL + 1)
	if _, err := c.GetUserInfo(ctx, old); wecom.CodeOf(err) != wecom.CodeInvalidOAuthCode {
		t.Fatalf("an expired code: %v", err)
	}
	// a non-member's code: an openid
	outsider, _ := sim.IssueCode("", "http://127.0.0.1:8787/cb")
	id, err = c.GetUserInfo(ctx, outsider)
	if !errors.Is(err, wecom.ErrNotAMember) || id == nil || id.OpenID == "" || id.UserID != "" {
		t.Fatalf("a non-member: %+v %v", id, err)
	}
	// a redirect host that is (no longer) trusted
	code, _ = sim.IssueCode(member, "http://127.0.0.1:8787/cb")
	sim.SetTrustedDomains([]string{"app.example.com"})
	if _, err := c.GetUserInfo(ctx, code); wecom.CodeOf(err) != wecom.CodeUntrustedDomain || !strings.Contains(err.Error(), "可信域名") {
		t.Fatalf("an untrusted redirect host: %v", err)
	}
}

func TestACodeExchangeIsNeverRepeated(t *testing.T) {
	sim := startSim(t, 10, 2)
	c := newClient(t, sim)
	code, _ := sim.IssueCode(sim.Org().Users[0].UserID, "http://localhost:9000/cb")
	sim.FailNext("auth/getuserinfo", 1, -1) // busy: a retry could find the code used
	sim.ResetCalls()
	if _, err := c.GetUserInfo(context.Background(), code); wecom.CodeOf(err) != -1 {
		t.Fatalf("busy: %v", err)
	}
	if n := sim.Calls("auth/getuserinfo"); n != 1 {
		t.Fatalf("the exchange was sent %d times", n)
	}
}

func TestTheContactSyncSecretCannotExchangeCodes(t *testing.T) {
	sim := startSim(t, 10, 2)
	c := newClient(t, sim, func(cfg *wecom.Config) { cfg.Secret = syncSecret })
	code, _ := sim.IssueCode(sim.Org().Users[0].UserID, "http://localhost:9000/cb")
	if _, err := c.GetUserInfo(context.Background(), code); wecom.CodeOf(err) != wecom.CodeUntrustedDomain {
		t.Fatalf("exchange with the contact-sync secret: %v", err)
	}
}

func TestLoginPagesOfTheEmulator(t *testing.T) {
	sim := startSim(t, 80, 6)
	member := sim.Org().Users[5]
	redirect := "http://127.0.0.1:8787/auth/auths.loginTypes.L/callback?keep=1"
	page := func(path string, q url.Values) (int, string) {
		resp, err := http.Get(sim.URL() + path + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	q := url.Values{"login_type": {"CorpApp"}, "appid": {testCorpID}, "agentid": {"1000002"}, "redirect_uri": {redirect}, "state": {"s1"}}
	status, body := page("/wwlogin/sso/login", q)
	if status != 200 || !strings.Contains(body, `data-userid="`+sim.Org().Users[0].UserID+`"`) {
		t.Fatalf("QR login page: %d\n%.400s", status, body)
	}
	q.Set("q", member.UserID)
	if _, body = page("/wwlogin/sso/login", q); !strings.Contains(body, member.Name) || strings.Count(body, "data-userid=") > 5 {
		t.Fatalf("search for %s: %.600s", member.UserID, body)
	}
	in := url.Values{"appid": {testCorpID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"snsapi_base"}, "state": {"s2"}, "agentid": {"1000002"}}
	if status, body = page("/connect/oauth2/authorize", in); status != 200 || !strings.Contains(body, "网页授权") {
		t.Fatalf("in-client page: %d %.300s", status, body)
	}
	// refused: wrong appid, an untrusted redirect host, a bad scope
	bad := url.Values{"appid": {"wwother"}, "redirect_uri": {redirect}}
	if status, body = page("/wwlogin/sso/login", bad); status != 400 || !strings.Contains(body, "40013") {
		t.Fatalf("wrong appid: %d %.300s", status, body)
	}
	bad = url.Values{"appid": {testCorpID}, "redirect_uri": {"https://evil.example:8443/cb"}}
	if status, body = page("/wwlogin/sso/login", bad); status != 400 || !strings.Contains(body, "50001") || strings.Contains(body, "data-userid") {
		t.Fatalf("untrusted redirect: %d %.300s", status, body)
	}
	in.Set("scope", "snsapi_userinfo")
	if status, _ = page("/connect/oauth2/authorize", in); status != 400 {
		t.Fatalf("a scope WeCom does not have: %d", status)
	}

	// a pick: back to the redirect URI, its query kept, with a code and the state
	scan := func(form url.Values) *url.URL {
		resp, err := noRedirect.PostForm(sim.URL()+"/wwlogin/sso/scan", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 302 {
			t.Fatalf("scan: %d", resp.StatusCode)
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return loc
	}
	loc := scan(url.Values{"appid": {testCorpID}, "redirect_uri": {redirect}, "state": {"s1"}, "userid": {member.UserID}})
	if loc.Host != "127.0.0.1:8787" || loc.Query().Get("keep") != "1" || loc.Query().Get("state") != "s1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect after a pick: %s", loc)
	}
	id, err := newClient(t, sim).GetUserInfo(context.Background(), loc.Query().Get("code"))
	if err != nil || id.UserID != member.UserID {
		t.Fatalf("the code of a pick: %+v %v", id, err)
	}
	if loc = scan(url.Values{"appid": {testCorpID}, "redirect_uri": {redirect}, "state": {"s3"}, "as": {"decline"}}); loc.Query().Has("code") || loc.Query().Get("state") != "s3" {
		t.Fatalf("a declined login: %s", loc)
	}
	// in-client with snsapi_privateinfo: a user_ticket for the member's details
	loc = scan(url.Values{"appid": {testCorpID}, "redirect_uri": {redirect}, "state": {"s4"}, "scope": {"snsapi_privateinfo"}, "userid": {member.UserID}})
	c := newClient(t, sim)
	id, err = c.GetUserInfo(context.Background(), loc.Query().Get("code"))
	if err != nil || id.UserTicket == "" {
		t.Fatalf("privateinfo: %+v %v", id, err)
	}
	d, err := c.GetUserDetail(context.Background(), id.UserTicket)
	if err != nil || d.UserID != member.UserID || d.Mobile != member.Mobile {
		t.Fatalf("detail: %+v %v", d, err)
	}
	sim.AgeCodes(wecomsim.TicketTTL + 1)
	if _, err := c.GetUserDetail(context.Background(), id.UserTicket); wecom.CodeOf(err) != wecom.CodeTicketExpired {
		t.Fatalf("an expired ticket: %v", err)
	}
	// trusted domains set exactly: host and port
	sim.SetTrustedDomains([]string{"app.example.com:8443"})
	for host, ok := range map[string]bool{"https://app.example.com:8443/cb": true, "https://app.example.com/cb": false, "http://127.0.0.1:8787/cb": false, "https://x.app.example.com:8443/cb": false} {
		status, _ := page("/wwlogin/sso/login", url.Values{"appid": {testCorpID}, "redirect_uri": {host}})
		if (status == 200) != ok {
			t.Errorf("redirect to %s with trusted app.example.com:8443: %d", host, status)
		}
	}
}
