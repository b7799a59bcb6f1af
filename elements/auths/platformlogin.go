package auths

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
)

// platformLogin is what the logins on a platform (WeCom, DingTalk, Feishu) share: the
// sessions, the states of browser logins, where the platform sends the login back, which
// corp's members log in, and the checks and the session around the platform's own code
// exchange.
type platformLogin struct {
	*sessions
	el          *elements.Element
	states      states
	platform    string // "WeCom", in messages
	redirect    string // the config's redirectUri ("" for the default)
	findCorp    func([]*elements.Element) (string, error)
	closeClient func() error
}

func newPlatformLogin(el *elements.Element, platform, secret, redirect string, ttl time.Duration, findCorp func([]*elements.Element) (string, error)) *platformLogin {
	l := &platformLogin{el: el, platform: platform, redirect: redirect, findCorp: findCorp}
	l.sessions = &sessions{el: el, keys: keys{"el:" + el.FullName + ":"}, ttl: ttl, corp: l.corp}
	l.states.init(secret)
	return l
}

// Start sweeps expired sessions away in the background when the app runs as a service.
func (l *platformLogin) Start(context.Context) error {
	if l.el.Service {
		l.startSweeper()
	}
	return nil
}

// Close stops the sweeper and the client's connections.
func (l *platformLogin) Close() error {
	l.stopSweeper()
	if l.closeClient != nil {
		return l.closeClient()
	}
	return nil
}

// corp is the fullName of the corp whose members log in.
func (l *platformLogin) corp() (string, error) {
	name, err := l.findCorp(l.el.App.ElementsWhere(isOrg))
	if err != nil {
		return "", elements.Errorf(elements.CodeFailedPrecondition, "login %s: %v", l.el.FullName, err)
	}
	return name, nil
}

// corpAPIBase is the API base the login's corp calls (from its org's info; "" for the
// platform's own); with simulated, the corp must run an emulator, whose base it is.
func (l *platformLogin) corpAPIBase(simulated bool) (string, error) {
	corp, err := l.corp()
	if err != nil {
		return "", err
	}
	o, release, err := org.Of(l.el.App, corp)
	if err != nil {
		return "", fmt.Errorf("login %s: read corp %s: %w", l.el.FullName, corp, err)
	}
	m := o.Info()
	release()
	if sim, _ := m["simulated"].(bool); simulated && !sim {
		return "", elements.Errorf(elements.CodeFailedPrecondition, "login %s asks for the emulator (\"simulator\"), but corp %s does not run one: give the corp a \"simulator\", or drop it here", l.el.FullName, corp)
	}
	base, _ := m["apiBase"].(string)
	return base, nil
}

// clientCache keeps a login's platform client, made again when the base it calls changes
// (a simulated corp reloaded on another port).
type clientCache[C interface{ Close() error }] struct {
	mu     sync.Mutex
	client C
	base   string
	made   bool
}

// get is the client for base: the one kept, or one made (the one before closed).
func (c *clientCache[C]) get(base string, build func() (C, error)) (C, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.made && c.base == base {
		return c.client, nil
	}
	client, err := build()
	if err != nil {
		return client, err
	}
	if c.made {
		c.client.Close()
	}
	c.client, c.base, c.made = client, base, true
	return client, nil
}

// close closes the client kept, if any.
func (c *clientCache[C]) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.made {
		return nil
	}
	return c.client.Close()
}

// redirectURI is where the platform sends the login back: from the config, else this
// element's callback on the address the app is served at. Never from a request.
func (l *platformLogin) redirectURI() string {
	if l.redirect != "" {
		return l.redirect
	}
	base := elements.PublicURL(l.el.App)
	if base == "" {
		base = "http://127.0.0.1:8787"
	}
	return strings.TrimRight(base, "/") + "/auth/" + l.el.FullName + "/callback"
}

// checkCode spends a browser login's state (one LoginConfig issued, unused, under
// StateTTL old) and checks the code's form, before the platform is asked.
func (l *platformLogin) checkCode(code, state string) error {
	if state != "" && !l.states.consume(state, time.Now()) {
		return elements.Errorf(elements.CodeInvalidArgument, "the login's state is unknown, used already or older than %s: start the login again", StateTTL)
	}
	if code == "" || len(code) > 512 {
		return elements.Errorf(elements.CodeInvalidArgument, "authCode must be the code %s sent back (1 to 512 bytes)", l.platform)
	}
	return nil
}

// session makes the session of the member the platform named.
func (l *platformLogin) session(ctx context.Context, memberID string) (*Session, error) {
	corp, err := l.corp()
	if err != nil {
		return nil, err
	}
	s, err := l.memberSession(ctx, corp, memberID, "")
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

// methods are the login's methods around its own getLoginConfig and getLoginCode.
func (l *platformLogin) methods(own ...elements.Method) []elements.Method {
	return append(own, sessionMethods(l.sessions, l.corp)...)
}
