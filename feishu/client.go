// Package feishu is a client of the Feishu (飞书 / Lark) Open Platform for what a custom app
// (企业自建应用) reads of its tenant's contacts and its members' logins: one method per
// endpoint, with the tenant_access_token (cached 3 minutes short of its life, evicted and
// fetched again once when refused), the body's code whatever the HTTP status, the rate
// limit (1000 calls a minute per API; a 429 waits x-ogw-ratelimit-reset) and retries in one
// place, and a whole-org fetch for syncing. It imports nothing of jitrt.
//
// Decisions where FEISHU-API.md says "unconfirmed": every contacts call names its id types
// (user_id_type=user_id, department_id_type=open_department_id): a member is known by their
// user_id (the app needs contact:user.employee_id:readonly), a department by its
// open_department_id, the root by "0"; departments are walked one level at a time
// (fetch_child=false: 43010 refuses recursion on a big department); a member is in the
// org while find_by_department lists them.
package feishu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"golang.org/x/sync/singleflight"
)

// DefaultBaseURL is Feishu's API host (Lark's is https://open.larksuite.com).
const DefaultBaseURL = "https://open.feishu.cn"

// Backoff shapes the waits between retries: full jitter over Base·2ⁿ, at most Max.
type Backoff struct {
	Base, Max time.Duration
}

// Config configures a Client.
type Config struct {
	AppID, AppSecret string
	// BaseURL defaults to DefaultBaseURL (an emulator serves everything on one host).
	BaseURL string
	// Timeout bounds each HTTP call (default 10 s).
	Timeout time.Duration
	// MaxRetries is how often a busy, rate-limited or failed call is repeated (default 4).
	MaxRetries int
	// Backoff between retries (default 200ms…5s); a 429 waits what Feishu says.
	Backoff Backoff
	// MaxRateLimitWait bounds the wait a 429 asks for (default 60 s).
	MaxRateLimitWait time.Duration
	// Limiter paces the calls (default NewRateLimiter(DefaultPerMinute)).
	Limiter Limiter
	// Concurrency of the whole-org fetch (default 8).
	Concurrency int
	// Tokens holds the tenant token; share one between the clients of an app in a process
	// (a corp and its login), so that they fetch it once and drop it together when refused.
	Tokens  *TokenCache
	OnPanic func(where string, r any) error
	Logger  *slog.Logger
	HTTP    *http.Client
}

// Client calls Feishu for one app. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    string
	http    *http.Client
	log     *slog.Logger
	limiter Limiter

	tokens      *TokenCache
	tokenFlight singleflight.Group

	life    context.Context
	endLife context.CancelFunc
}

// New builds a client. It does no I/O.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" || cfg.AppSecret == "" {
		return nil, errors.New("feishu: appId and appSecret are required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("feishu: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 4
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.Backoff.Base <= 0 {
		cfg.Backoff = Backoff{Base: 200 * time.Millisecond, Max: 5 * time.Second}
	}
	if cfg.MaxRateLimitWait <= 0 {
		cfg.MaxRateLimitWait = time.Minute
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), log: cfg.Logger, limiter: cfg.Limiter, http: cfg.HTTP}
	if c.limiter == nil {
		c.limiter = NewRateLimiter(DefaultPerMinute)
	}
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	c.tokens = cfg.Tokens
	if c.tokens == nil {
		c.tokens = &TokenCache{}
	}
	c.life, c.endLife = context.WithCancel(context.Background())
	return c, nil
}

// AppID is the app the client calls for.
func (c *Client) AppID() string { return c.cfg.AppID }

// BaseURL is the host the client calls.
func (c *Client) BaseURL() string { return c.base }

// Close releases idle connections and stops the client's own work.
func (c *Client) Close() error {
	c.endLife()
	if c.cfg.HTTP == nil {
		c.http.CloseIdleConnections()
	}
	return nil
}

func (c *Client) mask(s string) string {
	if len(c.cfg.AppSecret) >= 4 {
		s = strings.ReplaceAll(s, c.cfg.AppSecret, "******")
	}
	return s
}

// envelope is Feishu's answer: code, msg, data, and on failure error.log_id.
type envelope struct {
	Code int             `json:"code"`
	Msg  string          `json:"msg"`
	Data json.RawMessage `json:"data"`
	// Error is {log_id, …} for the APIs, a string for the OAuth token exchange (RFC 6749,
	// with error_description)
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// call is one API call.
type call struct {
	endpoint string // for the limiter and messages: "contact/v3/users/find_by_department"
	method   string
	path     string // "/open-apis/…"
	query    url.Values
	body     any
	noToken  bool   // the token endpoint, the OAuth token exchange
	bearer   string // a member's token instead of the tenant's
	once     bool   // never repeated (a login code is good once)
	topLevel bool   // the answer's fields are at the top level (token endpoints), not in data
}

// do performs a call and decodes its data (or, for topLevel, the whole answer) into out.
func (c *Client) do(ctx context.Context, k call, out any) error {
	var body []byte
	if k.body != nil {
		var err error
		if body, err = json.Marshal(k.body); err != nil {
			return fmt.Errorf("feishu %s: encode request: %w", k.endpoint, err)
		}
	}
	refreshed := false
	for attempt := 0; ; attempt++ {
		if err := c.limiter.Wait(ctx, k.endpoint); err != nil {
			return fmt.Errorf("feishu %s: waiting for the rate limit: %w", k.endpoint, err)
		}
		token := k.bearer
		if !k.noToken && token == "" {
			var err error
			if token, err = c.tenantToken(ctx); err != nil {
				return err
			}
		}
		wait, err := c.roundTrip(ctx, k, token, body, out)
		var ae *APIError
		if errors.As(err, &ae) {
			switch {
			case tokenRefused(ae.Code) && !k.noToken && k.bearer == "" && !refreshed:
				refreshed = true
				c.invalidate(token)
				attempt--
				continue
			case !retryable(ae.Code):
				return err
			}
		}
		if err == nil {
			return nil
		}
		var final permanent
		if attempt >= c.cfg.MaxRetries || k.once || errors.As(err, &final) {
			return err
		}
		if wait <= 0 {
			wait = jitter(c.cfg.Backoff, attempt)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return fmt.Errorf("%w (no time left to retry before the deadline)", err)
		}
		c.log.Debug("feishu call retried", "endpoint", k.endpoint, "attempt", attempt+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-t.C:
		}
	}
}

func jitter(b Backoff, attempt int) time.Duration {
	d := b.Base << min(attempt, 20)
	if d > b.Max || d <= 0 {
		d = b.Max
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// roundTrip sends one request; wait is how long a 429 asked to wait. Its errors never
// carry the token.
func (c *Client) roundTrip(ctx context.Context, k call, token string, body []byte, out any) (wait time.Duration, err error) {
	u := c.base + k.path
	if len(k.query) > 0 {
		u += "?" + k.query.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u, rd)
	if err != nil {
		return 0, permanent{fmt.Errorf("feishu %s: %w", k.endpoint, err)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrTransport, k.endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrTransport, k.endpoint, err)
	}
	var env envelope
	if gojson.Unmarshal(raw, &env) != nil {
		err := fmt.Errorf("%w: %s: HTTP status %d, not JSON", ErrTransport, k.endpoint, resp.StatusCode)
		if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
			return 0, permanent{err}
		}
		return 0, err
	}
	if env.Code != 0 {
		msg := env.Msg
		if msg == "" {
			msg = env.ErrorDescription
		}
		ae := &APIError{Endpoint: k.endpoint, Code: env.Code, Msg: c.mask(msg), Status: resp.StatusCode, LogID: resp.Header.Get("X-Tt-Logid")}
		var e struct {
			LogID string `json:"log_id"`
		}
		if json.Unmarshal(env.Error, &e) == nil && e.LogID != "" {
			ae.LogID = e.LogID
		}
		if ae.Code == CodeRateLimited || resp.StatusCode == http.StatusTooManyRequests {
			if s, err := strconv.Atoi(resp.Header.Get("x-ogw-ratelimit-reset")); err == nil && s >= 0 {
				wait = min(time.Duration(s)*time.Second+100*time.Millisecond, c.cfg.MaxRateLimitWait)
			}
		}
		return wait, ae
	}
	if out == nil {
		return 0, nil
	}
	data := raw
	if !k.topLevel {
		data = env.Data
	}
	if err := gojson.Unmarshal(data, out); err != nil {
		return 0, fmt.Errorf("%w: %s: the answer is not the expected JSON: %v", ErrTransport, k.endpoint, err)
	}
	return 0, nil
}

// tenantToken is the tenant_access_token: cached until 3 minutes before it ends (as the
// official SDKs), fetched once for all concurrent callers.
func (c *Client) tenantToken(ctx context.Context) (string, error) {
	if t, ok := c.tokens.get(); ok {
		return t, nil
	}
	ch := c.tokenFlight.DoChan("token", func() (v any, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = c.recovered("tenant_access_token", r)
			}
		}()
		return c.fetchToken()
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("feishu tenant_access_token: %w", ctx.Err())
	}
}

func (c *Client) fetchToken() (string, error) {
	ctx, cancel := context.WithTimeout(c.life, c.cfg.Timeout*time.Duration(c.cfg.MaxRetries+1))
	defer cancel()
	var resp struct {
		Token  string `json:"tenant_access_token"`
		Expire int64  `json:"expire"`
	}
	err := c.do(ctx, call{endpoint: "auth/v3/tenant_access_token/internal", method: http.MethodPost, path: "/open-apis/auth/v3/tenant_access_token/internal",
		body: map[string]string{"app_id": c.cfg.AppID, "app_secret": c.cfg.AppSecret}, noToken: true, topLevel: true}, &resp)
	if err != nil {
		return "", err
	}
	if resp.Token == "" {
		return "", fmt.Errorf("%w: tenant_access_token: no token in the answer", ErrTransport)
	}
	life := time.Duration(resp.Expire)*time.Second - 3*time.Minute
	if life <= 0 {
		life = time.Duration(resp.Expire) * time.Second / 2
	}
	c.tokens.set(resp.Token, time.Now().Add(life))
	return resp.Token, nil
}

// invalidate drops the cached token if it is still the one Feishu refused (the SDKs do
// not, and a token rotated elsewhere then fails until it would expire).
func (c *Client) invalidate(bad string) {
	c.tokens.drop(bad)
}

func (c *Client) recovered(where string, r any) error {
	if c.cfg.OnPanic != nil {
		return c.cfg.OnPanic("feishu "+where, r)
	}
	c.log.Error("panic in the Feishu client", "where", where, "panic", fmt.Sprint(r))
	return fmt.Errorf("feishu %s: internal error (panic: %v)", where, r)
}

// TokenCache holds an app's token until shortly before it ends. It is safe for concurrent
// use; the zero value is empty.
type TokenCache struct {
	mu      sync.Mutex
	token   string
	expires time.Time
}

func (tc *TokenCache) get() (string, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.token, tc.token != "" && time.Now().Before(tc.expires)
}

func (tc *TokenCache) set(token string, expires time.Time) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.token, tc.expires = token, expires
}

// drop forgets the token if it is still the one the platform refused.
func (tc *TokenCache) drop(bad string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.token == bad {
		tc.token, tc.expires = "", time.Time{}
	}
}
