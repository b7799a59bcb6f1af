package auths

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/org"
)

// PasswordTypeID is the registered ID of the password login.
const PasswordTypeID = "auths.loginTypes.PasswordType"

// Lockout defaults: after MaxFailures wrong passwords within LockWindow, an account
// answers "too many attempts" (429, with Retry-After) until the oldest of them is
// LockWindow old, even to the right password.
const (
	DefaultMaxFailures = 5
	DefaultLockWindow  = 15 * time.Minute
)

func init() {
	elements.RegisterType(elements.Type{
		ID:         PasswordTypeID,
		Meta:       MetaID,
		Doc:        "username and password login, for the members of an org kept in the app (账号密码登录)",
		ConfigFile: true,
		Config:     passwordConfigFile{},
		Validate:   func(el *elements.Element, r elements.Reporter) { parsePasswordConfig(el.Config, r.Errorf) },
		New:        newPasswordLogin,
		CheckRefs:  checkPasswordRefs,
	})
}

type passwordConfigFile struct {
	Corp        string `json:"corp" doc:"fullName of the org whose members sign in (default: the app's one org that keeps passwords, such as a corps.NormalType)"`
	SessionTTL  any    `json:"sessionTtl" jitrt:"kinds=string|number" doc:"how long a session lasts: \"8h\" (default), \"30m\", or seconds"`
	Landing     string `json:"landing" doc:"the app path a browser lands on after signing in (default /me)"`
	MaxFailures int    `json:"maxFailures" jitrt:"min=1,max=100" doc:"wrong passwords within lockWindow that lock an account for a while (default 5)"`
	LockWindow  string `json:"lockWindow" doc:"the window of maxFailures, and how long a lock lasts at most (default \"15m\")"`
}

// PasswordConfig is a password login's validated config.
type PasswordConfig struct {
	Corp        string
	SessionTTL  time.Duration
	Landing     string
	MaxFailures int
	LockWindow  time.Duration
}

func parsePasswordConfig(raw map[string]any, report func(key, format string, args ...any)) PasswordConfig {
	if report == nil {
		report = func(string, string, ...any) {}
	}
	var f passwordConfigFile
	elements.Decode(raw, &f, report)
	c := PasswordConfig{Corp: f.Corp, SessionTTL: parseTTL(f.SessionTTL, report), Landing: parseLanding(f.Landing, report),
		MaxFailures: DefaultMaxFailures, LockWindow: DefaultLockWindow}
	if f.MaxFailures > 0 {
		c.MaxFailures = f.MaxFailures
	}
	if f.LockWindow != "" {
		d, err := time.ParseDuration(f.LockWindow)
		if err != nil || d < time.Second || d > 24*time.Hour {
			report("lockWindow", "lockWindow %q must be a duration from 1s to 24h, such as \"15m\"", f.LockWindow)
		} else {
			c.LockWindow = d
		}
	}
	return c
}

// keepsPasswords reports whether an instance is an org that keeps its members' passwords.
func keepsPasswords(inst elements.Instance) bool {
	_, isOrg := inst.(org.Org)
	_, ok := inst.(org.Passwords)
	return isOrg && ok
}

// findPasswordOrg is the org whose members sign in: the one config names, or the app's one
// org that keeps passwords.
func findPasswordOrg(cfg PasswordConfig, orgs []*elements.Element) (string, error) {
	names := make([]string, len(orgs))
	for i, o := range orgs {
		names[i] = o.FullName
	}
	list := strings.Join(names, ", ")
	if list == "" {
		list = "none"
	}
	switch {
	case cfg.Corp != "" && slices.Contains(names, cfg.Corp):
		return cfg.Corp, nil
	case cfg.Corp != "":
		return "", fmt.Errorf("corp %q is not an org of the app that keeps passwords (the app's: %s)", cfg.Corp, list)
	case len(names) == 1:
		return names[0], nil
	case len(names) == 0:
		return "", fmt.Errorf("the app has no org that keeps passwords (a corps.NormalType): add one")
	}
	return "", fmt.Errorf("the app has several orgs that keep passwords (%s): name the one whose members sign in in \"corp\"", list)
}

func checkPasswordRefs(el *elements.Element, app elements.Refs, r elements.Reporter) {
	if _, err := findPasswordOrg(parsePasswordConfig(el.Config, nil), app.ElementsWhere(keepsPasswords)); err != nil {
		r.Errorf("corp", "%v", err)
	}
}

// PasswordLogin is an instance of auths.loginTypes.PasswordType: members of an org kept in
// the app sign in with their username and password on the login's page
// (GET/POST /auth/{fullName}/login), and get the same sessions, cookies and roles as a
// WeCom login's.
type PasswordLogin struct {
	*sessions
	el     *elements.Element
	cfg    PasswordConfig
	states states
}

func newPasswordLogin(el *elements.Element) (elements.Instance, error) {
	l := &PasswordLogin{el: el, cfg: parsePasswordConfig(el.Config, nil)}
	l.sessions = &sessions{el: el, keys: keys{"el:" + el.FullName + ":"}, ttl: l.cfg.SessionTTL, corp: l.corp}
	l.states.init(randomKey())
	return l, nil
}

// randomKey is a key for the login's form states, new with each instance.
func randomKey() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // the system's randomness is gone: nothing is safe to do
	}
	return hex.EncodeToString(b[:])
}

// Start sweeps expired sessions away when the app runs as a service.
func (l *PasswordLogin) Start(context.Context) error {
	if l.el.Service {
		l.startSweeper()
	}
	return nil
}

// Close stops the sweeper.
func (l *PasswordLogin) Close() error {
	l.stopSweeper()
	return nil
}

func (l *PasswordLogin) corp() (string, error) {
	name, err := findPasswordOrg(l.cfg, l.el.App.ElementsWhere(keepsPasswords))
	if err != nil {
		return "", elements.Errorf(elements.CodeFailedPrecondition, "login %s: %v", l.el.FullName, err)
	}
	return name, nil
}

// passwords is the org whose members sign in, held until release.
func (l *PasswordLogin) passwords() (string, org.Passwords, func(), error) {
	corp, err := l.corp()
	if err != nil {
		return "", nil, nil, err
	}
	o, release, err := org.Of(l.el.App, corp)
	if err != nil {
		return "", nil, nil, err
	}
	p, ok := o.(org.Passwords)
	if !ok {
		release()
		return "", nil, nil, elements.Errorf(elements.CodeFailedPrecondition, "login %s: %s keeps no passwords", l.el.FullName, corp)
	}
	return corp, p, release, nil
}

// Landing is the path a browser lands on after signing in.
func (l *PasswordLogin) Landing() string { return l.cfg.Landing }

// FormState is a state for the sign-in form, bound to a browser by a cookie; SignIn
// accepts it once within StateTTL.
func (l *PasswordLogin) FormState() (string, error) { return l.states.issue(time.Now()) }

// ConsumeFormState spends a form's state.
func (l *PasswordLogin) ConsumeFormState(state string) bool {
	return l.states.consume(state, time.Now())
}

// ErrLocked is the error of a sign-in to an account locked by too many wrong passwords.
type ErrLocked struct{ RetryAfter time.Duration }

func (e *ErrLocked) Error() string {
	return fmt.Sprintf("too many wrong passwords for this account: try again in %s", e.RetryAfter.Round(time.Second))
}

// ErrorCode is too_many_attempts (HTTP 429).
func (e *ErrLocked) ErrorCode() string { return elements.CodeTooManyAttempts }

// RetryAfterSeconds is the wait in whole seconds (the Retry-After header).
func (e *ErrLocked) RetryAfterSeconds() int {
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}

// SignIn checks a username and password and makes a session of the member: the same
// answer for an unknown username and a wrong password (unauthenticated), and, after
// MaxFailures wrong ones within LockWindow, ErrLocked for the account whatever is given.
func (l *PasswordLogin) SignIn(ctx context.Context, username, password string) (*Session, error) {
	now := time.Now()
	account := accountKey(username)
	if wait := l.locked(account, now); wait > 0 {
		return nil, &ErrLocked{RetryAfter: wait}
	}
	corp, p, release, err := l.passwords()
	if err != nil {
		return nil, err
	}
	memberID, mark, err := p.SignIn(ctx, username, password)
	release()
	if errors.Is(err, org.ErrWrongPassword) {
		if wait := l.fail(account, now); wait > 0 {
			l.el.Logger.Warn("an account is locked after wrong passwords", "account", account[:12], "for", wait.Round(time.Second))
		}
		return nil, &elements.Error{Code: elements.CodeUnauthenticated, Err: err, Message: "wrong username or password"}
	}
	if err != nil {
		return nil, err
	}
	s, err := l.memberSession(ctx, corp, memberID, mark)
	if err != nil {
		return nil, err
	}
	token, err := l.newSession(s, now)
	if err != nil {
		return nil, err
	}
	s.Token = token
	l.forget(account)
	l.el.Logger.Info("member signed in", "member", s.MemberID, "corp", corp, "expires", s.ExpiresAt.Format(time.RFC3339))
	return s, nil
}

// SignInToken is SignIn for the sign-in page: the session's token and when it expires.
func (l *PasswordLogin) SignInToken(ctx context.Context, username, password string) (string, time.Time, error) {
	s, err := l.SignIn(ctx, username, password)
	if err != nil {
		return "", time.Time{}, err
	}
	return s.Token, s.ExpiresAt, nil
}

// ChangePassword changes the password of the member of a session: the member's other
// sessions end, this one stands. Wrong old passwords count as wrong sign-ins do, by
// member: a session in other hands cannot be used to guess the password either.
func (l *PasswordLogin) ChangePassword(ctx context.Context, token, oldPassword, newPassword string) error {
	s, err := l.Session(ctx, token)
	if err != nil {
		return err
	}
	now := time.Now()
	account := accountKey("member\x00" + s.Corp + "\x00" + s.MemberID)
	if wait := l.locked(account, now); wait > 0 {
		return &ErrLocked{RetryAfter: wait}
	}
	_, p, release, err := l.passwords()
	if err != nil {
		return err
	}
	mark, err := p.ChangePassword(ctx, s.MemberID, oldPassword, newPassword)
	release()
	if errors.Is(err, org.ErrWrongPassword) {
		if wait := l.fail(account, now); wait > 0 {
			l.el.Logger.Warn("a member's password change is locked after wrong old passwords", "member", s.MemberID, "for", wait.Round(time.Second))
		}
	}
	if err != nil {
		return err
	}
	l.forget(account)
	hash := hashToken(token)
	var others []string
	err = l.el.Store.Update(func(tx *kv.Tx) error {
		var rec sessionRec
		if err := tx.GetJSON(l.keys.session(hash), &rec); err != nil {
			return err
		}
		rec.Mark = mark
		if err := tx.SetJSON(l.keys.session(hash), rec); err != nil {
			return err
		}
		return tx.Scan(l.keys.memberSessions(s.MemberID), func(key, _ string) bool {
			if h := strings.TrimPrefix(key, l.keys.memberSessions(s.MemberID)); h != hash {
				others = append(others, h)
			}
			return true
		})
	})
	if err == nil && len(others) > 0 {
		err = l.deleteSessions(s.MemberID, others)
	}
	if err != nil {
		return fmt.Errorf("login %s: keep the session after the password change: %w", l.el.FullName, err)
	}
	l.el.Logger.Info("password changed: the member's other sessions ended", "member", s.MemberID, "sessions", len(others))
	return nil
}

// ---- lockout ----
//
//	fail:<sha256 of the lower-case username>   the times of the recent wrong passwords
//	fail:<sha256 of "member", the corp and the member id>   of the wrong old passwords given
//	                                                          to change a password
//
// Kept in the store, so that replicas count together, and by a hash of the username, so
// that the state holds no username anyone tried.

type failRec struct {
	At []time.Time `json:"at"`
}

func accountKey(username string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(username))))
	return hex.EncodeToString(sum[:])
}

func (l *PasswordLogin) failKey(account string) string { return l.keys.prefix + "fail:" + account }

// recent are the failures within the window at now.
func (l *PasswordLogin) recent(r failRec, now time.Time) []time.Time {
	return slices.DeleteFunc(r.At, func(t time.Time) bool { return !now.Before(t.Add(l.cfg.LockWindow)) })
}

// locked is how long the account stays locked at now (0: not locked).
func (l *PasswordLogin) locked(account string, now time.Time) time.Duration {
	var r failRec
	if l.el.Store.View(func(tx *kv.Tx) error { return tx.GetJSON(l.failKey(account), &r) }) != nil {
		return 0
	}
	at := l.recent(r, now)
	if len(at) < l.cfg.MaxFailures {
		return 0
	}
	return at[len(at)-l.cfg.MaxFailures].Add(l.cfg.LockWindow).Sub(now)
}

// fail counts a wrong password; it returns how long the account is now locked.
func (l *PasswordLogin) fail(account string, now time.Time) time.Duration {
	err := l.el.Store.Update(func(tx *kv.Tx) error {
		var r failRec
		tx.GetJSON(l.failKey(account), &r)
		r.At = append(l.recent(r, now), now.UTC())
		if len(r.At) > l.cfg.MaxFailures {
			r.At = r.At[len(r.At)-l.cfg.MaxFailures:]
		}
		return tx.SetJSON(l.failKey(account), r)
	})
	if err != nil {
		l.el.Logger.Warn("counting a wrong password failed", "err", err)
		return 0
	}
	return l.locked(account, now)
}

// forget clears an account's failures after a sign-in.
func (l *PasswordLogin) forget(account string) {
	l.el.Store.Update(func(tx *kv.Tx) error {
		_, err := tx.Delete(l.failKey(account))
		return err
	})
}

// ---- methods ----

// Methods lists the login's methods: JitAi's getLoginCode, and the sessions every login has.
func (l *PasswordLogin) Methods() []elements.Method {
	return []elements.Method{
		{Name: "getLoginConfig", Callable: true, Doc: "what a front end needs to sign in: {loginUrl, landing, corp}",
			Call: func(context.Context, elements.Args) (any, error) {
				corp, _ := l.corp()
				return map[string]any{"kind": "password", "loginUrl": "/auth/" + l.el.FullName + "/login", "landing": l.cfg.Landing, "corp": corp}, nil
			}},
		{Name: "getLoginCode", Callable: true,
			Doc:    "sign in with a username and password: {member, roles, session: {token, expiresAt}}",
			Params: []elements.Param{{Name: "username", Kind: elements.KindString, Required: true}, {Name: "password", Kind: elements.KindString, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				s, err := l.SignIn(ctx, a.String("username"), a.String("password"))
				if err != nil {
					return nil, err
				}
				return s.value(true), nil
			}},
		{Name: "updatePassword", Callable: true, Doc: "change the password of a session's member (the old one checked): their other sessions end",
			Params: []elements.Param{{Name: "token", Kind: elements.KindString, Required: true},
				{Name: "oldPassword", Kind: elements.KindString, Required: true}, {Name: "newPassword", Kind: elements.KindString, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return map[string]any{}, l.ChangePassword(ctx, a.String("token"), a.String("oldPassword"), a.String("newPassword"))
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
		{Name: "getCorp", Callable: true, Doc: "fullName of the org whose members sign in",
			Call: func(context.Context, elements.Args) (any, error) { return l.corp() }},
	}
}

// Properties lists the login's properties.
func (l *PasswordLogin) Properties() []elements.Property {
	return []elements.Property{
		{Name: "authType", Get: func() any { return "password" }},
		{Name: "authConfig", Doc: "landing, session length and lockout", Get: func() any {
			return map[string]any{"landing": l.cfg.Landing, "sessionTtl": l.cfg.SessionTTL.String(),
				"maxFailures": float64(l.cfg.MaxFailures), "lockWindow": l.cfg.LockWindow.String()}
		}},
	}
}
