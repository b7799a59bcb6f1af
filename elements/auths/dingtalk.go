package auths

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitrt/jitrt/dingtalk"
	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/corps/corpkit"
)

// # auths.loginTypes.DDInnerType: members log in with DingTalk
//
// Two ways, as JitAi's DingTalk login has them: the web (QR) login, whose code the app
// exchanges for the member's token (v1.0/oauth2/userAccessToken), reads who they are
// (contact/users/me) and finds their userid by unionId (getbyunionid, an employee only);
// and the in-client 免登 (H5 micro-app in the DingTalk client, dd.requestAuthCode), whose
// code names the member at once (topapi/v2/user/getuserinfo). Both codes are good once;
// the browser login's state once, within StateTTL. Sessions, cookies, roles, /api/me,
// logout and "offline ends sessions" are the WeCom login's.

// DDTypeID is the registered ID of the DingTalk login.
const DDTypeID = "auths.loginTypes.DDInnerType"

// dingtalkLoginBase is DingTalk's web login host; an emulator serves the page itself.
const dingtalkLoginBase = "https://login.dingtalk.com"

func init() {
	elements.RegisterType(elements.Type{
		ID:         DDTypeID,
		Meta:       MetaID,
		Doc:        "DingTalk self-built app login (钉钉自建扫码登录, and 免登 in the DingTalk client)",
		ConfigFile: true,
		Config:     ddConfigFile{},
		Validate:   func(el *elements.Element, r elements.Reporter) { parseDDConfig(el.Config, r.Errorf) },
		New:        newDDLogin,
		CheckRefs: func(el *elements.Element, app elements.Refs, r elements.Reporter) {
			cfg := parseDDConfig(el.Config, nil)
			if _, err := findDDCorp(cfg, app.ElementsWhere(isOrg)); err != nil {
				key := "corp"
				if cfg.Corp == "" {
					key = "corpId"
				}
				r.Errorf(key, "%v", err)
			}
		},
		LocalOnly: func(el *elements.Element) bool { return parseDDConfig(el.Config, nil).Simulator },
	})
}

// ddConfigFile is the DingTalk login's config file (<Name>.json).
type ddConfigFile struct {
	CorpID      string `json:"corpId" jitrt:"required" example:"ding1234567890abcdef" doc:"the CorpId of the org whose members log in"`
	AgentID     string `json:"agentId" example:"1000002" doc:"the app's AgentId"`
	AppKey      string `json:"appKey" jitrt:"required" example:"dingappkey1234" doc:"the app's AppKey (Client ID)"`
	AppSecret   string `json:"appSecret" jitrt:"required,secret" doc:"the app's AppSecret; put it in the environment: \"${DINGTALK_SECRET}\""`
	RedirectURI string `json:"redirectUri" doc:"where DingTalk sends the login back (重定向URL): this element's /auth/<fullName>/callback as users reach it (default: on the address jitrt run serves)"`
	Corp        string `json:"corp" doc:"fullName of the org whose members log in: any corp Type (default: the app's one org with this corpId)"`
	Simulator   any    `json:"simulator" jitrt:"kinds=boolean|object" doc:"log in on the corp's built-in DingTalk emulator (true)"`
	SessionTTL  any    `json:"sessionTtl" jitrt:"kinds=string|number" doc:"how long a session lasts: \"8h\" (default), \"30m\", or seconds"`
	Landing     string `json:"landing" doc:"the app path a browser lands on after logging in (default /me)"`
}

// ddConfig is the DingTalk login's validated config.
type ddConfig struct {
	CorpID, AgentID, AppKey, AppSecret string
	RedirectURI, Corp                  string
	Simulator                          bool
	SessionTTL                         time.Duration
	Landing                            string
}

func parseDDConfig(raw map[string]any, report func(key, format string, args ...any)) ddConfig {
	if report == nil {
		report = func(string, string, ...any) {}
	}
	var f ddConfigFile
	elements.Decode(raw, &f, report)
	c := ddConfig{CorpID: f.CorpID, AgentID: f.AgentID, AppKey: f.AppKey, AppSecret: f.AppSecret, Corp: f.Corp}
	if strings.ContainsAny(c.CorpID, " \t/?&#") || c.CorpID == "" {
		report("corpId", "corpId %q is not a DingTalk CorpId (such as ding1234567890abcdef)", c.CorpID)
	}
	c.RedirectURI = parseRedirect(f.RedirectURI, report)
	c.Simulator = parseSimulator(f.Simulator, report)
	c.SessionTTL = parseTTL(f.SessionTTL, report)
	c.Landing = parseLanding(f.Landing, report)
	return c
}

// ddCorpID is the CorpId of a corp element's config: authConfig.corpId (DingTalk's), or
// corpId (the others').
func ddCorpID(el *elements.Element) string {
	if a, ok := el.Config["authConfig"].(map[string]any); ok {
		if id, _ := a["corpId"].(string); id != "" {
			return id
		}
	}
	id, _ := el.Config["corpId"].(string)
	return id
}

// findDDCorp is the corp whose members log in: the one config names, or the app's one corp
// with the same CorpId.
func findDDCorp(cfg ddConfig, corps []*elements.Element) (string, error) {
	var names, match []string
	for _, c := range corps {
		names = append(names, c.FullName)
		if cfg.Corp != "" && c.FullName == cfg.Corp {
			if id := ddCorpID(c); id != "" && id != cfg.CorpID {
				return "", fmt.Errorf("corp %s has CorpId %q, not this login's %q", cfg.Corp, id, cfg.CorpID)
			}
			return c.FullName, nil
		}
		if ddCorpID(c) == cfg.CorpID {
			match = append(match, c.FullName)
		}
	}
	list := strings.Join(names, ", ")
	if list == "" {
		list = "none"
	}
	switch {
	case cfg.Corp != "":
		return "", fmt.Errorf("corp %q is not an org of the app (a corps Type element; the app's: %s)", cfg.Corp, list)
	case len(match) == 1:
		return match[0], nil
	case len(match) == 0:
		return "", fmt.Errorf("no org of the app has CorpId %q (the app's orgs: %s): add one, or name it in \"corp\"", cfg.CorpID, list)
	}
	return "", fmt.Errorf("orgs %s all have CorpId %q: name the one whose members log in in \"corp\"", strings.Join(match, ", "), cfg.CorpID)
}

// DDLogin is an instance of auths.loginTypes.DDInnerType.
type DDLogin struct {
	*platformLogin
	cfg     ddConfig
	clients clientCache[*dingtalk.Client]
}

func newDDLogin(el *elements.Element) (elements.Instance, error) {
	l := &DDLogin{cfg: parseDDConfig(el.Config, nil)}
	l.platformLogin = newPlatformLogin(el, "DingTalk", l.cfg.AppSecret, l.cfg.RedirectURI, l.cfg.SessionTTL,
		func(corps []*elements.Element) (string, error) { return findDDCorp(l.cfg, corps) })
	l.closeClient = l.clients.close
	return l, nil
}

// dingtalkClient is the client the login exchanges codes with: DingTalk's, or for a
// simulated corp its emulator's (it follows the corp across its reloads).
func (l *DDLogin) dingtalkClient() (*dingtalk.Client, string, error) {
	oapi, api, login := dingtalk.DefaultOAPIBase, dingtalk.DefaultAPIBase, dingtalkLoginBase
	if l.cfg.Simulator {
		base, err := l.corpAPIBase(true)
		if err != nil {
			return nil, "", err
		}
		oapi, api, login = base, base, base
	}
	c, err := l.clients.get(oapi, func() (*dingtalk.Client, error) {
		limiter := l.el.App.Shared(fmt.Sprintf("dingtalk.limiter:%s:%d", l.cfg.AppKey, dingtalk.DefaultPerSecond), func() any { return dingtalk.NewRateLimiter(dingtalk.DefaultPerSecond) }).(dingtalk.Limiter)
		return dingtalk.New(dingtalk.Config{AppKey: l.cfg.AppKey, AppSecret: l.cfg.AppSecret, CorpID: l.cfg.CorpID, OAPIBase: oapi, APIBase: api,
			Limiter: limiter, Logger: l.el.Logger, Timeout: 5 * time.Second, OnPanic: l.el.App.Recovered,
			Tokens: l.el.App.Shared(corpkit.SharedKey("dingtalk.tokens", oapi, l.cfg.AppKey, l.cfg.AppSecret), func() any { return &dingtalk.TokenCache{} }).(*dingtalk.TokenCache)})
	})
	return c, login, err
}

// Methods lists the login's methods, named as the WeCom login's.
func (l *DDLogin) Methods() []elements.Method {
	return l.methods([]elements.Method{
		{Name: "getLoginConfig", Callable: true,
			Doc:  "what a front end needs to log in: {qrLoginUrl, state, corpId, appKey, agentId, redirectUri, landing}",
			Call: func(context.Context, elements.Args) (any, error) { return l.LoginConfig() }},
		{Name: "getLoginCode", Callable: true,
			Doc: "exchange a DingTalk login code for the member, their roles and a session: {member, roles, session: {token, expiresAt}}; loginType \"qr\" (the web login's code, default) or \"inapp\" (免登's dd.requestAuthCode code)",
			Params: []elements.Param{{Name: "authCode", Kind: elements.KindString, Required: true},
				{Name: "state", Kind: elements.KindString}, {Name: "loginType", Kind: elements.KindString}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				s, err := l.LoginCode(ctx, a.String("authCode"), a.String("state"), a.String("loginType"))
				if err != nil {
					return nil, err
				}
				return s.value(true), nil
			}},
	}...)
}

// Properties lists the login's properties.
func (l *DDLogin) Properties() []elements.Property {
	return []elements.Property{
		{Name: "authConfig", Doc: "corpId, agentId, appKey, redirectUri, landing and the secret masked", Get: func() any {
			return map[string]any{"corpId": l.cfg.CorpID, "agentId": l.cfg.AgentID, "appKey": l.cfg.AppKey, "appSecret": masked,
				"redirectUri": l.redirectURI(), "landing": l.cfg.Landing, "sessionTtl": l.cfg.SessionTTL.String()}
		}},
	}
}

// LoginConfig is what a front end needs to send a browser to DingTalk's web login, with a
// fresh state that LoginCode accepts once within StateTTL.
func (l *DDLogin) LoginConfig() (map[string]any, error) {
	state, err := l.states.issue(time.Now())
	if err != nil {
		return nil, err
	}
	_, login, err := l.dingtalkClient()
	if err != nil {
		return nil, err
	}
	redirect := l.redirectURI()
	qr := login + "/oauth2/auth?" + orderedQuery("redirect_uri", redirect, "response_type", "code", "client_id", l.cfg.AppKey,
		"scope", "openid", "state", state, "prompt", "consent")
	return map[string]any{
		"corpId": l.cfg.CorpID, "agentId": l.cfg.AgentID, "appKey": l.cfg.AppKey, "redirectUri": redirect, "state": state,
		"stateExpiresAt": time.Now().Add(StateTTL).UTC().Format(time.RFC3339),
		"qrLoginUrl":     qr, "landing": l.cfg.Landing, "secureCookies": strings.HasPrefix(redirect, "https:"),
	}, nil
}

// LoginCode exchanges a DingTalk login code for a session of the member it belongs to:
// loginType "qr" (or "") for the web login's code, "inapp" for a 免登 code. The errors are
// the WeCom login's: invalid_argument (state), unauthenticated (a wrong, used or expired
// code), permission_denied (not an employee; offline here), not_found (not in the local
// org), unavailable (DingTalk unreachable).
func (l *DDLogin) LoginCode(ctx context.Context, code, state, loginType string) (*Session, error) {
	if err := l.checkCode(code, state); err != nil {
		return nil, err
	}
	c, _, err := l.dingtalkClient()
	if err != nil {
		return nil, err
	}
	var userID string
	switch loginType {
	case "", "qr", "web":
		tok, err := c.UserAccessToken(ctx, code)
		if err != nil {
			return nil, ddLoginErr(err)
		}
		me, err := c.Me(ctx, tok.AccessToken)
		if err != nil {
			return nil, ddLoginErr(err)
		}
		who, err := c.GetByUnionID(ctx, me.UnionID)
		if dingtalk.CodeOf(err) == dingtalk.CodeUserNotFound || (err == nil && who.ContactType != 0) {
			return nil, elements.Errorf(elements.CodePermissionDenied, "this DingTalk user is not an employee of org %s: only its members log in", l.cfg.CorpID)
		}
		if err != nil {
			return nil, ddLoginErr(err)
		}
		userID = who.UserID
	case "inapp", "workbench", "mobile":
		info, err := c.UserInfoByCode(ctx, code)
		if err != nil {
			return nil, ddLoginErr(err)
		}
		userID = info.UserID
	default:
		return nil, elements.Errorf(elements.CodeInvalidArgument, "loginType %q is not qr or inapp", loginType)
	}
	return l.session(ctx, userID)
}

// ddLoginErr is a failed DingTalk call of a login as the login's error.
func ddLoginErr(err error) error {
	switch code := dingtalk.CodeOf(err); {
	case code == dingtalk.CodeAuthCode || code == dingtalk.CodeInvalidCode:
		return &elements.Error{Code: elements.CodeUnauthenticated, Err: err, Message: "the login code was refused: " + err.Error()}
	case errors.Is(err, dingtalk.ErrTransport):
		return &elements.Error{Code: elements.CodeUnavailable, Err: err, Message: "DingTalk could not be reached to check the login: " + err.Error()}
	case code != "":
		return &elements.Error{Code: "dingtalk_" + code, Err: err, Message: err.Error()}
	}
	return err
}
