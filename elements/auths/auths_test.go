package auths_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	_ "github.com/jitrt/jitrt/elements/auths"
	_ "github.com/jitrt/jitrt/elements/corps"
	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/runtime"
)

const corp = `{"corpId": "wwauth0000000001", "agentId": "1", "secret": "s", "simulator": {"members": 20, "departments": 3}}`

// check loads an app as jitrt check does and returns its problems as one text.
func check(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := testapp.WriteTree(t, files)
	app, err := runtime.Load(context.Background(), dir, runtime.Options{State: runtime.StateNone, Services: simwire.Services()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	return app.Problems().Error()
}

func loginApp(login string, extra map[string]string) map[string]string {
	files := map[string]string{
		"corps/A/e.json":            `{"type": "corps.QywxInnerType"}`,
		"corps/A/A.json":            corp,
		"auths/loginTypes/L/e.json": `{"type": "auths.loginTypes.QywxInnerType"}`,
		"auths/loginTypes/L/L.json": login,
	}
	for k, v := range extra {
		files[k] = v
	}
	return files
}

func TestLoginConfigProblemsNameTheKey(t *testing.T) {
	for _, c := range []struct{ login, want string }{
		{`{"corpId": "wwauth0000000001", "agentId": "1"}`, `missing required key "corpSecret"`},
		{`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "x", "landing": "//evil.example/"}`, `landing "//evil.example/" must be a path of this app`},
		{`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "x", "landing": "https://evil.example/"}`, `must be a path of this app`},
		{`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "x", "sessionTtl": "5s"}`, `sessionTtl 5s must be from 1m0s to 720h0m0s`},
		{`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "x", "sessionTtl": "soon"}`, `sessionTtl "soon" is not a duration`},
		{`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "x", "redirectUri": "/auth/x/callback"}`, `redirectUri "/auth/x/callback" must be an absolute http(s) URL`},
		{`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "x", "oauthScope": "snsapi_userinfo"}`, `oauthScope must be one of "snsapi_base", "snsapi_privateinfo", not "snsapi_userinfo"`},
		{`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "x", "corpSecrt": "y"}`, `corpSecrt`},
		{`{"corpId": "wwother", "agentId": "1", "corpSecret": "x"}`, `no org of the app has corpId "wwother" (the app's orgs: corps.A)`},
		{`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "x", "corp": "corps.B"}`, `corp "corps.B" is not an org of the app (a corps Type element; the app's: corps.A)`},
		{`{"corpId": "wwother", "agentId": "1", "corpSecret": "x", "corp": "corps.A"}`, `corp corps.A has corpId "wwauth0000000001", not this login's "wwother"`},
	} {
		got := check(t, loginApp(c.login, nil))
		if !strings.Contains(got, c.want) || !strings.Contains(got, "auths/loginTypes/L/L.json:") {
			t.Errorf("%s:\n got  %s\n want …%s…", c.login, got, c.want)
		}
	}
	// two corps with the login's corpId: it must say which
	got := check(t, loginApp(`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "x"}`,
		map[string]string{"corps/B/e.json": `{"type": "corps.QywxInnerType"}`, "corps/B/B.json": corp}))
	if !strings.Contains(got, `corps.A, corps.B all have corpId "wwauth0000000001": name the one whose members log in in "corp"`) {
		t.Errorf("two corps: %s", got)
	}
	if got := check(t, loginApp(`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "x", "simulator": true}`, nil)); got != "" {
		t.Errorf("a good login: %s", got)
	}
}

func TestTheSecretNeverReachesScripts(t *testing.T) {
	dir := testapp.WriteTree(t, loginApp(`{"corpId": "wwauth0000000001", "agentId": "1", "corpSecret": "s", "simulator": true}`, nil))
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(), Services: simwire.Services()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	res, err := app.Host().Run(context.Background(), runtime.Script{Code: `const l = app.getElement("auths.loginTypes.L"); [l.authConfig, l.getLoginConfig(), l.getCorp()]`})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.JSON)
	if !strings.Contains(out, `"corpSecret": "******"`) || !strings.Contains(out, `"qrLoginUrl"`) || !strings.Contains(out, `"corps.A"`) {
		t.Fatalf("login from JS: %s", out)
	}
	// a state is single use
	st, err := app.CallJSON(context.Background(), "auths.loginTypes.L", "getLoginConfig", nil)
	if err != nil {
		t.Fatal(err)
	}
	state := st.(map[string]any)["state"].(string)
	for i, want := range []string{elements.CodeUnauthenticated, elements.CodeInvalidArgument} {
		_, err := app.CallJSON(context.Background(), "auths.loginTypes.L", "getLoginCode", map[string]any{"authCode": "nope", "state": state})
		if elements.CodeOf(err) != want {
			t.Fatalf("use %d of a state: %v (%s), want %s", i+1, err, elements.CodeOf(err), want)
		}
	}
}
