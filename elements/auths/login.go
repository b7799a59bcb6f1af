package auths

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/corps"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/wecom"
)

// PublicURLService is elements.PublicURLService: a login whose config has no redirectUri
// is sent back to its callback at the URL it gives.
const PublicURLService = elements.PublicURLService

// WeCom's login hosts; an apiBase other than WeCom's (its emulator) serves them itself.
const (
	qrLoginBase = "https://login.work.weixin.qq.com"
	oauthBase   = "https://open.weixin.qq.com"
)

// StateTTL is how long a login's state waits for the browser to come back.
const StateTTL = 10 * time.Minute

// maxStates bounds the states a process remembers as accepted.
const maxStates = 100_000

// masked stands for a secret in everything this package returns.
const masked = "******"

func init() {
	elements.RegisterMeta(MetaID, "login types (登录方式)")
	elements.RegisterType(elements.Type{
		ID:         TypeID,
		Meta:       MetaID,
		Doc:        "WeCom self-built app login (企业微信自建扫码登录)",
		ConfigFile: true,
		Config:     configFile{},
		Validate:   validate,
		New:        newLogin,
		CheckRefs:  checkRefs,
		// A login on the corp's emulator talks to no WeCom: its secret is not a real one.
		LocalOnly: func(el *elements.Element) bool { return parseConfig(el.Config, nil).Simulator },
	})
}

// Login is an instance of auths.loginTypes.QywxInnerType.
type Login struct {
	*platformLogin
	cfg     Config
	clients clientCache[*wecom.Client]
}

func newLogin(el *elements.Element) (elements.Instance, error) {
	l := &Login{cfg: parseConfig(el.Config, nil)}
	l.platformLogin = newPlatformLogin(el, "WeCom", l.cfg.CorpSecret, l.cfg.RedirectURI, l.cfg.SessionTTL,
		func(corps []*elements.Element) (string, error) { return findCorp(l.cfg, corps) })
	l.closeClient = l.clients.close
	return l, nil
}

// Methods lists the login's methods, named as in JitAi.
func (l *Login) Methods() []elements.Method {
	return l.methods([]elements.Method{
		{Name: "getLoginConfig", Callable: true,
			Doc: "what a front end needs to log in: {qrLoginUrl, oauthUrl, state, corpId, agentId, redirectUri, landing}",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				return l.LoginConfig(ctx)
			}},
		{Name: "getLoginCode", Callable: true,
			Doc: "exchange a WeCom login code for the member, their roles and a session: {member, roles, session: {token, expiresAt}}",
			Params: []elements.Param{{Name: "authCode", Kind: elements.KindString, Required: true},
				{Name: "state", Kind: elements.KindString}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				s, err := l.LoginCode(ctx, a.String("authCode"), a.String("state"))
				if err != nil {
					return nil, err
				}
				return s.value(true), nil
			}},
	}...)
}

// Properties lists the login's properties.
func (l *Login) Properties() []elements.Property {
	return []elements.Property{
		{Name: "authConfig", Doc: "corpId, agentId, redirectUri, landing and the secret masked", Get: func() any {
			return map[string]any{"corpId": l.cfg.CorpID, "agentId": l.cfg.AgentID, "corpSecret": masked,
				"redirectUri": l.redirectURI(), "landing": l.cfg.Landing, "sessionTtl": l.cfg.SessionTTL.String()}
		}},
	}
}

// wecomClient is the client of the WeCom server the login exchanges codes with: apiBase,
// else the corp's (its emulator's, for a simulated corp). It follows the corp across its
// reloads (a new emulator has a new address).
func (l *Login) wecomClient(ctx context.Context) (*wecom.Client, error) {
	base := l.cfg.APIBase
	if base == "" {
		var err error
		if base, err = l.corpAPIBase(l.cfg.Simulator); err != nil {
			return nil, err
		}
	}
	if base == "" {
		base = wecom.DefaultBaseURL
	}
	return l.clients.get(base, func() (*wecom.Client, error) {
		return wecom.New(wecom.Config{CorpID: l.cfg.CorpID, Secret: l.cfg.CorpSecret, BaseURL: base,
			Store: kv.Values{Store: l.el.Store}, Logger: l.el.Logger, RateLimiter: corps.WeComLimiter(l.el, l.cfg.CorpID), Timeout: 5 * time.Second,
			OnPanic: l.el.App.Recovered})
	})
}

// LoginConfig is what a front end needs to send a browser to WeCom's login, with a fresh
// state that LoginCode accepts once within StateTTL.
func (l *Login) LoginConfig(ctx context.Context) (map[string]any, error) {
	state, err := l.states.issue(time.Now())
	if err != nil {
		return nil, err
	}
	qr, oauth := qrLoginBase, oauthBase
	base := l.cfg.APIBase
	if base == "" {
		c, err := l.wecomClient(ctx)
		if err != nil {
			return nil, err
		}
		base = c.BaseURL()
	}
	if base != wecom.DefaultBaseURL {
		qr, oauth = base, base // WeCom's emulator (or a proxy of WeCom) serves the pages itself
	}
	redirect := l.redirectURI()
	qrURL := qr + "/wwlogin/sso/login?" + orderedQuery(
		"login_type", "CorpApp", "appid", l.cfg.CorpID, "agentid", l.cfg.AgentID, "redirect_uri", redirect, "state", state)
	// the documented parameter order, and the fragment the WeCom client looks for
	oauthURL := oauth + "/connect/oauth2/authorize?" + orderedQuery(
		"appid", l.cfg.CorpID, "redirect_uri", redirect, "response_type", "code", "scope", l.cfg.OAuthScope,
		"state", state, "agentid", l.cfg.AgentID) + "#wechat_redirect"
	return map[string]any{
		"corpId": l.cfg.CorpID, "agentId": l.cfg.AgentID, "redirectUri": redirect, "state": state,
		"stateExpiresAt": time.Now().Add(StateTTL).UTC().Format(time.RFC3339),
		"qrLoginUrl":     qrURL, "oauthUrl": oauthURL, "landing": l.cfg.Landing,
		"secureCookies": strings.HasPrefix(redirect, "https:"),
	}, nil
}

// orderedQuery encodes key/value pairs in the order given.
func orderedQuery(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

// Session is a member's live session.
type Session struct {
	Token     string // only when it was just made
	MemberID  string
	Member    any // the member as the corp lists them
	Roles     any // the member's effective roles
	Corp      string
	ExpiresAt time.Time
	// Mark is the password mark of a session made by password (never shown).
	Mark string
}

func (s *Session) value(withToken bool) map[string]any {
	out := map[string]any{"memberId": s.MemberID, "member": s.Member, "roles": s.Roles, "corp": s.Corp,
		"expiresAt": s.ExpiresAt.UTC().Format(time.RFC3339)}
	if withToken {
		out["session"] = map[string]any{"token": s.Token, "expiresAt": out["expiresAt"]}
	}
	return out
}

// RoleIDs are the ids of the session's roles.
func (s *Session) RoleIDs() []string {
	var out []string
	list, _ := s.Roles.([]any)
	for _, r := range list {
		if m, ok := r.(map[string]any); ok {
			if id, ok := m["roleId"].(string); ok {
				out = append(out, id)
			}
		}
	}
	return out
}

// LoginCode exchanges a WeCom login code for a session of the member it belongs to. With a
// state (the browser login's), the state must be one LoginConfig issued, unused and under
// StateTTL old. Each way a login is refused is an error with its own code:
// invalid_argument (state), unauthenticated (a wrong, used or expired code),
// permission_denied (not a member; offline here), not_found (not in the local org).
func (l *Login) LoginCode(ctx context.Context, code, state string) (*Session, error) {
	if err := l.checkCode(code, state); err != nil {
		return nil, err
	}
	c, err := l.wecomClient(ctx)
	if err != nil {
		return nil, err
	}
	id, err := c.GetUserInfo(ctx, code)
	switch {
	case errors.Is(err, wecom.ErrNotAMember):
		return nil, &elements.Error{Code: elements.CodePermissionDenied, Err: err,
			Message: fmt.Sprintf("this WeCom user is not a member of corp %s: only its members log in", l.cfg.CorpID)}
	case wecom.CodeOf(err) == wecom.CodeInvalidOAuthCode:
		return nil, &elements.Error{Code: elements.CodeUnauthenticated, Err: err, Message: "the login code was refused: " + err.Error()}
	case wecom.CodeOf(err) == wecom.CodeUntrustedDomain:
		return nil, &elements.Error{Code: elements.CodeFailedPrecondition, Err: err,
			Message: fmt.Sprintf("the login was refused because %s is not a trusted domain of the app: %v", redirectHost(l.redirectURI()), err)}
	case errors.Is(err, wecom.ErrTransport):
		return nil, &elements.Error{Code: elements.CodeUnavailable, Err: err, Message: "WeCom could not be reached to check the login: " + err.Error()}
	case err != nil:
		return nil, err
	}
	return l.session(ctx, id.UserID)
}

func redirectHost(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Host
	}
	return s
}

// ---- sessions in the store ----
