package auths

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/corps/corpkit"
	"github.com/jitrt/jitrt/feishu"
)

// # auths.loginTypes.FSInnerType: members log in with Feishu
//
// Feishu's web login (网页应用登录, OAuth 2.0): the browser goes to the authorize page, comes
// back with a code good once for 5 minutes, which the app exchanges for the member's token
// (authen/v2/oauth/token, with the same redirect URI) and reads who they are
// (authen/v1/user_info: their user_id, the org's member id). Inside the Feishu client the
// same page logs in without a click (免登). Sessions, cookies, roles, /api/me, logout and
// "offline ends sessions" are the WeCom login's.

// FSTypeID is the registered ID of the Feishu login.
const FSTypeID = "auths.loginTypes.FSInnerType"

// feishuAccountsBase is Feishu's authorize host; an emulator serves the page itself.
const feishuAccountsBase = "https://accounts.feishu.cn"

func init() {
	elements.RegisterType(elements.Type{
		ID:         FSTypeID,
		Meta:       MetaID,
		Doc:        "Feishu custom app login (飞书自建应用登录, and 免登 in the Feishu client)",
		ConfigFile: true,
		Config:     fsConfigFile{},
		Validate:   func(el *elements.Element, r elements.Reporter) { parseFSConfig(el.Config, r.Errorf) },
		New:        newFSLogin,
		CheckRefs: func(el *elements.Element, app elements.Refs, r elements.Reporter) {
			cfg := parseFSConfig(el.Config, nil)
			if _, err := findFSCorp(cfg, app.ElementsWhere(isOrg)); err != nil {
				key := "corp"
				if cfg.Corp == "" {
					key = "appId"
				}
				r.Errorf(key, "%v", err)
			}
		},
		LocalOnly: func(el *elements.Element) bool { return parseFSConfig(el.Config, nil).Simulator },
	})
}

type fsConfigFile struct {
	AppID       string `json:"appId" jitrt:"required" example:"cli_a1b2c3d4e5f6a7b8" doc:"the app's App ID (cli_…)"`
	AppSecret   string `json:"appSecret" jitrt:"required,secret" doc:"the app's App Secret; put it in the environment: \"${FEISHU_SECRET}\""`
	RedirectURI string `json:"redirectUri" doc:"where Feishu sends the login back (重定向 URL): this element's /auth/<fullName>/callback as users reach it (default: on the address jitrt run serves)"`
	Corp        string `json:"corp" doc:"fullName of the org whose members log in (default: the app's one org with this appId)"`
	BaseURL     string `json:"baseUrl" doc:"Feishu's API host (default https://open.feishu.cn)"`
	Simulator   any    `json:"simulator" jitrt:"kinds=boolean|object" doc:"log in on the corp's built-in Feishu emulator (true)"`
	SessionTTL  any    `json:"sessionTtl" jitrt:"kinds=string|number" doc:"how long a session lasts: \"8h\" (default), \"30m\", or seconds"`
	Landing     string `json:"landing" doc:"the app path a browser lands on after logging in (default /me)"`
}

type fsConfig struct {
	AppID, AppSecret, RedirectURI, Corp, BaseURL string
	Simulator                                    bool
	SessionTTL                                   time.Duration
	Landing                                      string
}

func parseFSConfig(raw map[string]any, report func(key, format string, args ...any)) fsConfig {
	if report == nil {
		report = func(string, string, ...any) {}
	}
	var f fsConfigFile
	elements.Decode(raw, &f, report)
	c := fsConfig{AppID: f.AppID, AppSecret: f.AppSecret, Corp: f.Corp, BaseURL: strings.TrimRight(f.BaseURL, "/")}
	if strings.ContainsAny(c.AppID, " \t/?&#") || c.AppID == "" {
		report("appId", "appId %q is not a Feishu App ID (such as cli_a1b2c3d4e5f6a7b8)", c.AppID)
	}
	c.RedirectURI = parseRedirect(f.RedirectURI, report)
	c.Simulator = parseSimulator(f.Simulator, report)
	c.SessionTTL = parseTTL(f.SessionTTL, report)
	c.Landing = parseLanding(f.Landing, report)
	return c
}

// findFSCorp is the corp whose members log in: the one config names, or the app's one corp
// with the same appId.
func findFSCorp(cfg fsConfig, corps []*elements.Element) (string, error) {
	var names, match []string
	for _, c := range corps {
		names = append(names, c.FullName)
		id, _ := c.Config["appId"].(string)
		if cfg.Corp != "" && c.FullName == cfg.Corp {
			if id != "" && id != cfg.AppID {
				return "", fmt.Errorf("corp %s has appId %q, not this login's %q", cfg.Corp, id, cfg.AppID)
			}
			return c.FullName, nil
		}
		if id == cfg.AppID {
			match = append(match, c.FullName)
		}
	}
	list := strings.Join(names, ", ")
	if list == "" {
		list = "none"
	}
	switch {
	case cfg.Corp != "":
		return "", fmt.Errorf("corp %q is not an org of the app (the app's: %s)", cfg.Corp, list)
	case len(match) == 1:
		return match[0], nil
	case len(match) == 0:
		return "", fmt.Errorf("no org of the app has appId %q (the app's orgs: %s): add one, or name it in \"corp\"", cfg.AppID, list)
	}
	return "", fmt.Errorf("orgs %s all have appId %q: name the one whose members log in in \"corp\"", strings.Join(match, ", "), cfg.AppID)
}

// FSLogin is an instance of auths.loginTypes.FSInnerType.
type FSLogin struct {
	*platformLogin
	cfg     fsConfig
	clients clientCache[*feishu.Client]
}

func newFSLogin(el *elements.Element) (elements.Instance, error) {
	l := &FSLogin{cfg: parseFSConfig(el.Config, nil)}
	l.platformLogin = newPlatformLogin(el, "Feishu", l.cfg.AppSecret, l.cfg.RedirectURI, l.cfg.SessionTTL,
		func(corps []*elements.Element) (string, error) { return findFSCorp(l.cfg, corps) })
	l.closeClient = l.clients.close
	return l, nil
}

// feishuClient is the client the login exchanges codes with, and the authorize page's host.
func (l *FSLogin) feishuClient() (*feishu.Client, string, error) {
	base, accounts := l.cfg.BaseURL, feishuAccountsBase
	if l.cfg.Simulator {
		var err error
		if base, err = l.corpAPIBase(true); err != nil {
			return nil, "", err
		}
		accounts = base
	}
	if base == "" {
		base = feishu.DefaultBaseURL
	}
	c, err := l.clients.get(base, func() (*feishu.Client, error) {
		limiter := l.el.App.Shared(fmt.Sprintf("feishu.limiter:%s:%d", l.cfg.AppID, feishu.DefaultPerMinute), func() any { return feishu.NewRateLimiter(feishu.DefaultPerMinute) }).(feishu.Limiter)
		return feishu.New(feishu.Config{AppID: l.cfg.AppID, AppSecret: l.cfg.AppSecret, BaseURL: base, Limiter: limiter,
			Logger: l.el.Logger, Timeout: 5 * time.Second, OnPanic: l.el.App.Recovered,
			Tokens: l.el.App.Shared(corpkit.SharedKey("feishu.tokens", base, l.cfg.AppID, l.cfg.AppSecret), func() any { return &feishu.TokenCache{} }).(*feishu.TokenCache)})
	})
	return c, accounts, err
}

// Methods lists the login's methods, named as the WeCom login's.
func (l *FSLogin) Methods() []elements.Method {
	return l.methods([]elements.Method{
		{Name: "getLoginConfig", Callable: true, Doc: "what a front end needs to log in: {qrLoginUrl, state, appId, redirectUri, landing}",
			Call: func(context.Context, elements.Args) (any, error) { return l.LoginConfig() }},
		{Name: "getLoginCode", Callable: true, Doc: "exchange a Feishu login code for the member, their roles and a session: {member, roles, session: {token, expiresAt}}; loginType \"qr\" (the web login's code, default) or \"inapp\" (tt.requestAuthCode's in the Feishu client)",
			Params: []elements.Param{{Name: "authCode", Kind: elements.KindString, Required: true}, {Name: "state", Kind: elements.KindString},
				{Name: "loginType", Kind: elements.KindString}},
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
func (l *FSLogin) Properties() []elements.Property {
	return []elements.Property{
		{Name: "authConfig", Doc: "appId, redirectUri, landing and the secret masked", Get: func() any {
			return map[string]any{"appId": l.cfg.AppID, "appSecret": masked, "redirectUri": l.redirectURI(),
				"landing": l.cfg.Landing, "sessionTtl": l.cfg.SessionTTL.String()}
		}},
	}
}

// LoginConfig is what a front end needs to send a browser to Feishu's authorize page, with
// a fresh state that LoginCode accepts once within StateTTL.
func (l *FSLogin) LoginConfig() (map[string]any, error) {
	state, err := l.states.issue(time.Now())
	if err != nil {
		return nil, err
	}
	_, accounts, err := l.feishuClient()
	if err != nil {
		return nil, err
	}
	redirect := l.redirectURI()
	return map[string]any{"appId": l.cfg.AppID, "redirectUri": redirect, "state": state,
		"stateExpiresAt": time.Now().Add(StateTTL).UTC().Format(time.RFC3339),
		"qrLoginUrl":     accounts + "/open-apis/authen/v1/authorize?" + orderedQuery("client_id", l.cfg.AppID, "redirect_uri", redirect, "state", state),
		"landing":        l.cfg.Landing, "secureCookies": strings.HasPrefix(redirect, "https:")}, nil
}

// LoginCode exchanges a Feishu login code for a session of the member it belongs to:
// loginType "qr" (or "") for the web login's code, "inapp" for tt.requestAuthCode's in the
// Feishu client (issued for no redirect URI); the errors are the WeCom login's.
func (l *FSLogin) LoginCode(ctx context.Context, code, state, loginType string) (*Session, error) {
	if err := l.checkCode(code, state); err != nil {
		return nil, err
	}
	redirect := l.redirectURI()
	switch loginType {
	case "", "qr", "web":
	case "inapp", "mobile":
		redirect = ""
	default:
		return nil, elements.Errorf(elements.CodeInvalidArgument, "loginType %q is not qr or inapp", loginType)
	}
	c, _, err := l.feishuClient()
	if err != nil {
		return nil, err
	}
	tok, err := c.UserAccessToken(ctx, code, redirect)
	if err != nil {
		return nil, fsLoginErr(err)
	}
	info, err := c.UserInfo(ctx, tok.AccessToken)
	if err != nil {
		return nil, fsLoginErr(err)
	}
	if info.UserID == "" {
		return nil, elements.Errorf(elements.CodeFailedPrecondition, "Feishu did not say the member's user_id: grant the app contact:user.employee_id:readonly")
	}
	return l.session(ctx, info.UserID)
}

func fsLoginErr(err error) error {
	switch code := feishu.CodeOf(err); {
	case code == feishu.CodeCodeNotFound || code == feishu.CodeCodeExpired || code == feishu.CodeCodeUsed || code == feishu.CodeUserTokenInvalid || code == feishu.CodeRedirectMismatch:
		return &elements.Error{Code: elements.CodeUnauthenticated, Err: err, Message: "the login code was refused: " + err.Error()}
	case errors.Is(err, feishu.ErrTransport):
		return &elements.Error{Code: elements.CodeUnavailable, Err: err, Message: "Feishu could not be reached to check the login: " + err.Error()}
	case code != 0:
		return &elements.Error{Code: fmt.Sprintf("feishu_%d", code), Err: err, Message: err.Error()}
	}
	return err
}
