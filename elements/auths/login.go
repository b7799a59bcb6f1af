package auths

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/org"
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
	el   *elements.Element
	cfg  Config
	keys keys

	states states

	clientMu sync.Mutex
	client   *wecom.Client
	base     string // the API base client calls

	stop chan struct{} // closes the session sweeper (jitrt run)
	done chan struct{}
}

func newLogin(el *elements.Element) (elements.Instance, error) {
	l := &Login{el: el, cfg: parseConfig(el.Config, nil), keys: keys{"el:" + el.FullName + ":"}}
	l.states.init(l.cfg.CorpSecret)
	return l, nil
}

// Start sweeps expired sessions away in the background when the app runs as a service.
func (l *Login) Start(context.Context) error {
	if !l.el.Service {
		return nil
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.sweep()
	return nil
}

// Close stops the sweeper and the client's connections.
func (l *Login) Close() error {
	if l.stop != nil {
		close(l.stop)
		<-l.done
	}
	l.clientMu.Lock()
	defer l.clientMu.Unlock()
	if l.client != nil {
		return l.client.Close()
	}
	return nil
}

func (l *Login) sweep() {
	defer close(l.done)
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			func() {
				defer func() {
					if r := recover(); r != nil {
						l.el.App.Recovered(l.el.FullName+" session sweep", r)
					}
				}()
				if n, err := l.dropExpired(time.Now()); err != nil {
					l.el.Logger.Warn("sweeping expired sessions failed", "err", err)
				} else if n > 0 {
					l.el.Logger.Debug("expired sessions swept", "sessions", n)
				}
			}()
		}
	}
}

// Methods lists the login's methods, named as in JitAi.
func (l *Login) Methods() []elements.Method {
	return []elements.Method{
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
		{Name: "getSession", Callable: true, Doc: "the live session of a token: {member, roles, expiresAt}",
			Params: []elements.Param{{Name: "token", Kind: elements.KindString, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				s, err := l.Session(ctx, a.String("token"))
				if err != nil {
					return nil, err
				}
				return s.value(false), nil
			}},
		{Name: "logout", Callable: true, Doc: "end the session of a token",
			Params: []elements.Param{{Name: "token", Kind: elements.KindString, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return map[string]any{}, l.Logout(a.String("token"))
			}},
		{Name: "getMemberSessions", Callable: true, Doc: "a member's live sessions, newest first: [{createdAt, expiresAt}] (never a token)",
			Params: []elements.Param{{Name: "memberId", Kind: elements.KindString, Required: true}},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				return l.MemberSessions(a.String("memberId"), time.Now())
			}},
		{Name: "getCorp", Callable: true, Doc: "fullName of the corp whose members log in",
			Call: func(context.Context, elements.Args) (any, error) { return l.corp() }},
	}
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

// corp is the fullName of the corp whose members log in.
func (l *Login) corp() (string, error) {
	name, err := findCorp(l.cfg, l.el.App.ElementsWhere(isOrg))
	if err != nil {
		return "", elements.Errorf(elements.CodeFailedPrecondition, "login %s: %v", l.el.FullName, err)
	}
	return name, nil
}

// redirectURI is where WeCom sends the login back: from the config, else this element's
// callback on the address the app is served at. Never from a request.
func (l *Login) redirectURI() string {
	if l.cfg.RedirectURI != "" {
		return l.cfg.RedirectURI
	}
	base := elements.PublicURL(l.el.App)
	if base == "" {
		base = "http://127.0.0.1:8787"
	}
	return strings.TrimRight(base, "/") + "/auth/" + l.el.FullName + "/callback"
}

// wecomClient is the client of the WeCom server the login exchanges codes with: apiBase,
// else the corp's (its emulator's, for a simulated corp). It follows the corp across its
// reloads (a new emulator has a new address).
func (l *Login) wecomClient(ctx context.Context) (*wecom.Client, error) {
	base := l.cfg.APIBase
	if base == "" {
		corp, err := l.corp()
		if err != nil {
			return nil, err
		}
		o, release, err := org.Of(l.el.App, corp)
		if err != nil {
			return nil, fmt.Errorf("login %s: read corp %s: %w", l.el.FullName, corp, err)
		}
		m := o.Info()
		release()
		base, _ = m["apiBase"].(string)
		if l.cfg.Simulator {
			if sim, _ := m["simulated"].(bool); !sim {
				return nil, elements.Errorf(elements.CodeFailedPrecondition, "login %s asks for the emulator (\"simulator\"), but corp %s does not run one: give the corp a \"simulator\", or drop it here", l.el.FullName, corp)
			}
		}
	}
	if base == "" {
		base = wecom.DefaultBaseURL
	}
	l.clientMu.Lock()
	defer l.clientMu.Unlock()
	if l.client != nil && l.base == base {
		return l.client, nil
	}
	limiter := l.el.App.Shared(wecom.RateLimiterKey(l.cfg.CorpID), func() any {
		return wecom.NewRateLimiter(wecom.DefaultLimits, nil)
	}).(*wecom.RateLimiter)
	c, err := wecom.New(wecom.Config{CorpID: l.cfg.CorpID, Secret: l.cfg.CorpSecret, BaseURL: base,
		Store: kv.Values{Store: l.el.Store}, Logger: l.el.Logger, RateLimiter: limiter, Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	if l.client != nil {
		l.client.Close()
	}
	l.client, l.base = c, base
	return c, nil
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
	if state != "" && !l.states.consume(state, time.Now()) {
		return nil, elements.Errorf(elements.CodeInvalidArgument, "the login's state is unknown, used already or older than %s: start the login again", StateTTL)
	}
	if code == "" || len(code) > 512 {
		return nil, elements.Errorf(elements.CodeInvalidArgument, "authCode must be the code WeCom sent back (1 to 512 bytes)")
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
	corp, err := l.corp()
	if err != nil {
		return nil, err
	}
	s, err := l.memberSession(ctx, corp, id.UserID)
	if err != nil {
		return nil, err
	}
	token, err := l.newSession(s, time.Now())
	if err != nil {
		return nil, err
	}
	s.Token = token
	l.el.Logger.Info("member logged in", "member", s.MemberID, "corp", corp, "expires", s.ExpiresAt.Format(time.RFC3339))
	return s, nil
}

func redirectHost(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Host
	}
	return s
}

// memberSession is the member and roles of memberID, if the member may hold a session:
// in the corp's local org and active there.
func (l *Login) memberSession(ctx context.Context, corp, memberID string) (*Session, error) {
	o, release, err := org.Of(l.el.App, corp)
	if err != nil {
		return nil, err
	}
	defer release()
	dir := o.Directory()
	m, err := dir.Member(memberID)
	if elements.CodeOf(err) == elements.CodeNotFound {
		return nil, &elements.Error{Code: elements.CodeNotFound, Err: err,
			Message: fmt.Sprintf("member %q is not in the local org of %s: sync it first (syncCorp)", memberID, corp)}
	}
	if err != nil {
		return nil, err
	}
	if status := fieldOf(m, "status"); status != "active" {
		return nil, elements.Errorf(elements.CodePermissionDenied, "member %q is %s in %s and may not log in", memberID, status, corp)
	}
	if id := fieldOf(m, "memberId"); id != "" {
		memberID = id // WeCom may have given the member a new userid since
	}
	roles, err := dir.MemberRoles(memberID)
	if err != nil {
		return nil, err
	}
	rs := make([]any, len(roles))
	for i, r := range roles {
		from := make([]any, len(r.From))
		for j, f := range r.From {
			from[j] = f
		}
		rs[i] = map[string]any{"roleId": r.RoleID, "name": r.Name, "from": from}
	}
	return &Session{MemberID: memberID, Member: m, Roles: rs, Corp: corp}, nil
}

// fieldOf reads a string field of a member as the corp returns it.
func fieldOf(m any, key string) string {
	switch v := m.(type) {
	case elements.Record:
		f, _ := v.Field(key)
		s, _ := f.(string)
		return s
	case map[string]any:
		s, _ := v[key].(string)
		return s
	}
	return ""
}

// Session returns the live session of token: not expired, and its member still active in
// the corp (a member taken offline loses their sessions at once), with their roles as of now.
func (l *Login) Session(ctx context.Context, token string) (*Session, error) {
	rec, ok, err := l.readSession(token)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if !ok || !now.Before(rec.ExpiresAt) {
		if ok {
			l.deleteSessions(rec.MemberID, []string{hashToken(token)})
		}
		return nil, elements.Errorf(elements.CodeUnauthenticated, "no live session: log in again")
	}
	s, err := l.memberSession(ctx, rec.Corp, rec.MemberID)
	if code := elements.CodeOf(err); code == elements.CodePermissionDenied || code == elements.CodeNotFound {
		// the member went offline or left: every session of theirs ends now
		l.endMemberSessions(rec.MemberID)
		return nil, &elements.Error{Code: elements.CodeUnauthenticated, Err: err, Message: "the session ended: " + err.Error()}
	}
	if err != nil {
		return nil, err
	}
	s.ExpiresAt = rec.ExpiresAt
	if s.MemberID != rec.MemberID {
		l.moveSession(token, rec, s.MemberID) // the member's userid changed: the session follows
	}
	return s, nil
}

// moveSession keeps a session under its member's new userid.
func (l *Login) moveSession(token string, rec sessionRec, newID string) {
	hash := hashToken(token)
	oldID := rec.MemberID
	rec.MemberID = newID
	err := l.el.Store.Update(func(tx *kv.Tx) error {
		if _, err := tx.Delete(l.keys.memberSession(oldID, hash)); err != nil {
			return err
		}
		if err := tx.SetJSON(l.keys.session(hash), rec); err != nil {
			return err
		}
		return tx.Set(l.keys.memberSession(newID, hash), "")
	})
	if err != nil {
		l.el.Logger.Warn("moving a session to the member's new userid failed", "err", err)
	}
}

// MemberSessions lists a member's sessions live at now, newest first.
func (l *Login) MemberSessions(memberID string, now time.Time) ([]any, error) {
	var recs []sessionRec
	err := l.el.Store.View(func(tx *kv.Tx) error {
		return tx.Scan(l.keys.memberSessions(memberID), func(key, _ string) bool {
			var rec sessionRec
			if tx.GetJSON(l.keys.session(strings.TrimPrefix(key, l.keys.memberSessions(memberID))), &rec) == nil && now.Before(rec.ExpiresAt) {
				recs = append(recs, rec)
			}
			return true
		})
	})
	if err != nil {
		return nil, fmt.Errorf("login %s: read the sessions of %q: %w", l.el.FullName, memberID, err)
	}
	slices.SortFunc(recs, func(a, b sessionRec) int { return b.CreatedAt.Compare(a.CreatedAt) })
	out := make([]any, 0, len(recs))
	for _, r := range recs {
		out = append(out, map[string]any{"createdAt": r.CreatedAt.Format(time.RFC3339), "expiresAt": r.ExpiresAt.Format(time.RFC3339)})
	}
	return out, nil
}

// Logout ends the session of token (nothing happens for a token with none).
func (l *Login) Logout(token string) error {
	rec, ok, err := l.readSession(token)
	if err != nil || !ok {
		return err
	}
	return l.deleteSessions(rec.MemberID, []string{hashToken(token)})
}

// ---- sessions in the store ----

// keys of a login's state, under el:<fullName>:
//
//	session:<sha256 of token>        a session: {memberId, corp, createdAt, expiresAt}
//	msession:<memberId>:<sha256>     the sessions of a member (to end them together)
type keys struct{ prefix string }

func (k keys) session(hash string) string          { return k.prefix + "session:" + hash }
func (k keys) sessions() string                    { return k.prefix + "session:" }
func (k keys) memberSession(m, hash string) string { return k.prefix + "msession:" + m + ":" + hash }
func (k keys) memberSessions(m string) string      { return k.prefix + "msession:" + m + ":" }

type sessionRec struct {
	MemberID  string    `json:"memberId"`
	Corp      string    `json:"corp"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// hashToken is what the store keeps of a token: its SHA-256, so that the state file holds
// nothing a browser could present.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (l *Login) readSession(token string) (sessionRec, bool, error) {
	var rec sessionRec
	if len(token) < 16 || len(token) > 256 {
		return rec, false, nil
	}
	err := l.el.Store.View(func(tx *kv.Tx) error { return tx.GetJSON(l.keys.session(hashToken(token)), &rec) })
	if errors.Is(err, kv.ErrNotFound) {
		return rec, false, nil
	}
	return rec, err == nil, err
}

// newSession stores a session for s (256 random bits) and returns its token; the member's
// expired sessions go in the same write.
func (l *Login) newSession(s *Session, now time.Time) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	hash := hashToken(token)
	s.ExpiresAt = now.Add(l.cfg.SessionTTL)
	rec := sessionRec{MemberID: s.MemberID, Corp: s.Corp, CreatedAt: now.UTC(), ExpiresAt: s.ExpiresAt.UTC()}
	err := l.el.Store.Update(func(tx *kv.Tx) error {
		var expired []string
		tx.Scan(l.keys.memberSessions(s.MemberID), func(key, _ string) bool {
			h := strings.TrimPrefix(key, l.keys.memberSessions(s.MemberID))
			var old sessionRec
			if tx.GetJSON(l.keys.session(h), &old) != nil || !now.Before(old.ExpiresAt) {
				expired = append(expired, h)
			}
			return true
		})
		for _, h := range expired {
			tx.Delete(l.keys.session(h))
			tx.Delete(l.keys.memberSession(s.MemberID, h))
		}
		if err := tx.SetJSON(l.keys.session(hash), rec); err != nil {
			return err
		}
		return tx.Set(l.keys.memberSession(s.MemberID, hash), "")
	})
	if err != nil {
		return "", fmt.Errorf("login %s: keep the session: %w", l.el.FullName, err)
	}
	return token, nil
}

func (l *Login) deleteSessions(memberID string, hashes []string) error {
	return l.el.Store.Update(func(tx *kv.Tx) error {
		for _, h := range hashes {
			if _, err := tx.Delete(l.keys.session(h)); err != nil {
				return err
			}
			if _, err := tx.Delete(l.keys.memberSession(memberID, h)); err != nil {
				return err
			}
		}
		return nil
	})
}

// endMemberSessions ends every session of a member.
func (l *Login) endMemberSessions(memberID string) {
	var hashes []string
	l.el.Store.View(func(tx *kv.Tx) error {
		return tx.Scan(l.keys.memberSessions(memberID), func(key, _ string) bool {
			hashes = append(hashes, strings.TrimPrefix(key, l.keys.memberSessions(memberID)))
			return true
		})
	})
	if len(hashes) > 0 {
		if err := l.deleteSessions(memberID, hashes); err != nil {
			l.el.Logger.Warn("ending the sessions of a member failed", "member", memberID, "err", err)
			return
		}
		l.el.Logger.Info("sessions ended: the member may no longer log in", "member", memberID, "sessions", len(hashes))
	}
}

// dropExpired deletes the sessions past their expiry; it returns how many.
func (l *Login) dropExpired(now time.Time) (int, error) {
	type gone struct{ member, hash string }
	var expired []gone
	l.el.Store.View(func(tx *kv.Tx) error {
		return tx.Scan(l.keys.sessions(), func(key, v string) bool {
			var rec sessionRec
			if err := jsonUnmarshal(v, &rec); err != nil || !now.Before(rec.ExpiresAt) {
				expired = append(expired, gone{rec.MemberID, strings.TrimPrefix(key, l.keys.sessions())})
			}
			return true
		})
	})
	if len(expired) == 0 {
		return 0, nil
	}
	err := l.el.Store.Update(func(tx *kv.Tx) error {
		for _, g := range expired {
			tx.Delete(l.keys.session(g.hash))
			tx.Delete(l.keys.memberSession(g.member, g.hash))
		}
		return nil
	})
	return len(expired), err
}
