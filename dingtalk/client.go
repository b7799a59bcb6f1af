// Package dingtalk is a client of the DingTalk (钉钉) server API for what a self-built
// (企业内部) app reads of its org and its members' logins: one method per endpoint, with the
// app token, both API generations' envelopes (the old oapi's errcode, 88-wrapped on /topapi,
// and the new api.dingtalk.com's HTTP errors), retries and the per-API rate limit handled in
// one place, and a whole-org fetch for syncing. It imports nothing of jitrt.
//
// Decisions where DINGTALK-API.md says "unconfirmed":
//   - The app token comes from the old GET /gettoken (appkey, appsecret): it is documented
//     to work on every topapi endpoint, and the new /v1.0 endpoints used here (a member's
//     login) take a member's token, not the app's.
//   - A request to /topapi is POST ?access_token= with a JSON body; any answer is read as
//     both envelopes could have it (an 88 with a string sub_code, or the code itself).
//   - next_cursor is opaque: passed back as it came, the paging stopping on has_more false.
//   - An unknown userid on v2/user/get is 60121 (observed) or 33012 (documented): both mean
//     "not in the org".
//   - Department leaders are department/get's dept_manager_userid_list (org_dept_owner is the
//     group chat's owner); a member's main department is the first of dept_id_list.
package dingtalk

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
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"golang.org/x/sync/singleflight"
)

// The API hosts.
const (
	DefaultOAPIBase = "https://oapi.dingtalk.com" // the old generation: /gettoken, /topapi/…
	DefaultAPIBase  = "https://api.dingtalk.com"  // the new one: /v1.0/…
)

// Backoff shapes the waits between retries: full jitter over Base·2ⁿ, at most Max.
type Backoff struct {
	Base, Max time.Duration
}

// Config configures a Client.
type Config struct {
	AppKey, AppSecret string
	// CorpID names the org in messages (optional).
	CorpID string
	// OAPIBase and APIBase default to DingTalk's hosts (an emulator serves both).
	OAPIBase, APIBase string
	// Timeout bounds each HTTP call (default 10 s); the context's deadline bounds the whole call.
	Timeout time.Duration
	// MaxRetries is how often a busy, rate-limited or failed call is repeated (default 4).
	MaxRetries int
	// Backoff between retries (default 200ms…5s; 1s…10s for rate limits).
	Backoff, RateLimitBackoff Backoff
	// Limiter paces the calls (default: NewRateLimiter(DefaultPerSecond), DingTalk's 20
	// calls a second per app and API); share one between the clients of an app.
	Limiter Limiter
	// Concurrency of the whole-org fetch (default 8).
	Concurrency int
	// OnPanic, if set, records a panic the client caught in a goroutine of its own and
	// returns the error to report in its place.
	// Tokens holds the app's token; share one between the clients of an app in a process
	// (a corp and its login), so that they fetch it once and drop it together when refused.
	Tokens  *TokenCache
	OnPanic func(where string, r any) error
	Logger  *slog.Logger
	// HTTP is the client to use (a private one when nil).
	HTTP *http.Client
}

// Client calls the DingTalk API for one app. It is safe for concurrent use.
type Client struct {
	cfg     Config
	oapi    string
	api     string
	http    *http.Client
	log     *slog.Logger
	limiter Limiter

	tokens      *TokenCache
	tokenFlight singleflight.Group

	// life is cancelled by Close: the work done for every caller (a token fetch) stops.
	life    context.Context
	endLife context.CancelFunc
}

// New builds a client. It does no I/O.
func New(cfg Config) (*Client, error) {
	if cfg.AppKey == "" {
		return nil, errors.New("dingtalk: appKey is empty")
	}
	if cfg.AppSecret == "" {
		return nil, errors.New("dingtalk: appSecret is empty")
	}
	if cfg.OAPIBase == "" {
		cfg.OAPIBase = DefaultOAPIBase
	}
	if cfg.APIBase == "" {
		cfg.APIBase = DefaultAPIBase
	}
	for _, b := range []string{cfg.OAPIBase, cfg.APIBase} {
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("dingtalk: base URL %q is not an http(s) URL", b)
		}
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
	if cfg.RateLimitBackoff.Base <= 0 {
		cfg.RateLimitBackoff = Backoff{Base: time.Second, Max: 10 * time.Second}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, oapi: strings.TrimRight(cfg.OAPIBase, "/"), api: strings.TrimRight(cfg.APIBase, "/"),
		log: cfg.Logger, limiter: cfg.Limiter, http: cfg.HTTP}
	if c.limiter == nil {
		c.limiter = NewRateLimiter(DefaultPerSecond)
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

// AppKey is the app the client calls for.
func (c *Client) AppKey() string { return c.cfg.AppKey }

// OAPIBase is the old API's host the client calls (an emulator's URL for a simulated org).
func (c *Client) OAPIBase() string { return c.oapi }

// Close releases idle connections and stops the client's own work.
func (c *Client) Close() error {
	c.endLife()
	if c.cfg.HTTP == nil {
		c.http.CloseIdleConnections()
	}
	return nil
}

// mask removes the app secret from text DingTalk sent back.
func (c *Client) mask(s string) string {
	if len(c.cfg.AppSecret) >= 4 {
		s = strings.ReplaceAll(s, c.cfg.AppSecret, "******")
	}
	return s
}

// oapiResponse is what every old-API answer carries.
type oapiResponse struct {
	ErrCode   int64  `json:"errcode"`
	ErrMsg    string `json:"errmsg"`
	SubCode   string `json:"sub_code"`
	SubMsg    string `json:"sub_msg"`
	RequestID string `json:"request_id"`
}

func (b *oapiResponse) base() *oapiResponse { return b }

type oapiResult[T any] struct {
	oapiResponse
	Result T `json:"result"`
}

// call is one API call as the caller sees it.
type call struct {
	endpoint string // "topapi/v2/user/get" (old) or "v1.0/oauth2/userAccessToken" (new)
	method   string // GET or POST
	query    url.Values
	body     any
	newAPI   bool   // api.dingtalk.com: errors are HTTP statuses with {code, message}
	noToken  bool   // the token endpoint itself, or a new-API call with its own token
	header   string // the new API's x-acs-dingtalk-access-token, when set by the caller
	once     bool   // a call never repeated (a login code is good for one exchange)
}

// do performs a call and decodes its answer into out. It is the one place that handles
// the rate limit, the app token (fetched once for all callers, refreshed once when
// DingTalk refuses it), both envelopes, and retries with backoff.
func (c *Client) do(ctx context.Context, k call, out any) error {
	var body []byte
	if k.body != nil {
		var err error
		if body, err = json.Marshal(k.body); err != nil {
			return fmt.Errorf("dingtalk %s: encode request: %w", k.endpoint, err)
		}
	}
	refreshed := false
	for attempt := 0; ; attempt++ {
		if err := c.limiter.Wait(ctx, k.endpoint); err != nil {
			return fmt.Errorf("dingtalk %s: waiting for the rate limit: %w", k.endpoint, err)
		}
		token := ""
		if !k.noToken {
			var err error
			if token, err = c.appToken(ctx); err != nil {
				return err
			}
		}
		err := c.roundTrip(ctx, k, token, body, out)
		var ae *APIError
		if errors.As(err, &ae) {
			switch {
			case tokenRefused(ae.Code) && !k.noToken && !refreshed:
				refreshed = true
				c.invalidate(token)
				c.log.Debug("dingtalk token refused; fetching a new one", "endpoint", k.endpoint, "code", ae.Code)
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
		bo := c.cfg.Backoff
		if ae != nil && rateLimited(ae.Code) {
			bo = c.cfg.RateLimitBackoff
		}
		wait := jitter(bo, attempt)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return fmt.Errorf("%w (no time left to retry before the deadline)", err)
		}
		c.log.Debug("dingtalk call retried", "endpoint", k.endpoint, "attempt", attempt+1, "wait", wait, "err", err)
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

// permanent is an error no retry can mend.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// roundTrip sends one request and decodes the answer. Its errors never carry the URL
// (which holds the token, or for gettoken the secret).
func (c *Client) roundTrip(ctx context.Context, k call, token string, body []byte, out any) error {
	base := c.oapi
	if k.newAPI {
		base = c.api
	}
	q := url.Values{}
	for key, v := range k.query {
		q[key] = v
	}
	if token != "" && !k.newAPI {
		q.Set("access_token", token)
	}
	u := base + "/" + k.endpoint
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u, rd)
	if err != nil {
		return permanent{fmt.Errorf("dingtalk %s: %w", k.endpoint, err)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case k.header != "":
		req.Header.Set("x-acs-dingtalk-access-token", k.header)
	case k.newAPI && token != "":
		req.Header.Set("x-acs-dingtalk-access-token", token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrTransport, k.endpoint, scrubURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrTransport, k.endpoint, scrubURL(err))
	}
	if k.newAPI {
		if resp.StatusCode/100 != 2 {
			var e struct {
				Code      string `json:"code"`
				Message   string `json:"message"`
				RequestID string `json:"requestid"`
			}
			if gojson.Unmarshal(raw, &e) != nil || e.Code == "" {
				err := fmt.Errorf("%w: %s: HTTP status %d", ErrTransport, k.endpoint, resp.StatusCode)
				if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
					return permanent{err}
				}
				return err
			}
			return &APIError{Endpoint: k.endpoint, Code: e.Code, Msg: c.mask(e.Message), RequestID: e.RequestID, Status: resp.StatusCode}
		}
		if err := gojson.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%w: %s: the answer is not the expected JSON: %v", ErrTransport, k.endpoint, err)
		}
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("%w: %s: HTTP status %d", ErrTransport, k.endpoint, resp.StatusCode)
		if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
			return permanent{err}
		}
		return err
	}
	var env oapiResponse
	if err := gojson.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%w: %s: the answer is not JSON: %v", ErrTransport, k.endpoint, err)
	}
	if env.ErrCode != 0 {
		msg := env.ErrMsg
		if env.ErrCode == 88 && env.SubMsg != "" {
			msg = env.SubMsg
		}
		return &APIError{Endpoint: k.endpoint, Code: effectiveCode(env.ErrCode, env.SubCode), Msg: c.mask(msg), RequestID: env.RequestID}
	}
	if out != nil {
		if err := gojson.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%w: %s: the answer is not the expected JSON: %v", ErrTransport, k.endpoint, err)
		}
	}
	return nil
}

// scrubURL is an error's text without the URL's query (which holds the token or secret).
func scrubURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		u := ue.URL
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return fmt.Sprintf("%s %s: %v", ue.Op, u, ue.Err)
	}
	s := err.Error()
	if i := strings.IndexByte(s, '?'); i >= 0 {
		if end := strings.IndexAny(s[i:], " \"'"); end >= 0 {
			return s[:i] + s[i+end:]
		}
		return s[:i]
	}
	return s
}

// appToken is the app's access token: cached until shortly before it expires, fetched once
// for all concurrent callers (a caller that gives up does not fail the others).
func (c *Client) appToken(ctx context.Context) (string, error) {
	if t, ok := c.tokens.get(); ok {
		return t, nil
	}
	ch := c.tokenFlight.DoChan("token", func() (v any, err error) {
		defer func() {
			if r := recover(); r != nil { // the waiters get an error, not a process that ended
				err = c.recovered("gettoken", r)
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
		return "", fmt.Errorf("dingtalk gettoken: %w", ctx.Err())
	}
}

func (c *Client) fetchToken() (string, error) {
	ctx, cancel := context.WithTimeout(c.life, c.cfg.Timeout*time.Duration(c.cfg.MaxRetries+1))
	defer cancel()
	var resp struct {
		oapiResponse
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	err := c.do(ctx, call{endpoint: "gettoken", method: http.MethodGet, noToken: true,
		query: url.Values{"appkey": {c.cfg.AppKey}, "appsecret": {c.cfg.AppSecret}}}, &resp)
	if err != nil {
		return "", err
	}
	if resp.AccessToken == "" {
		return "", fmt.Errorf("%w: gettoken: no access_token in the answer", ErrTransport)
	}
	ttl := time.Duration(resp.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 2 * time.Hour
	}
	// refreshed early: 10 minutes before expiry (DingTalk's advice), or at 90% of a short life
	c.tokens.set(resp.AccessToken, time.Now().Add(ttl-min(10*time.Minute, ttl/10)))
	c.log.Debug("dingtalk token fetched", "expires_in", resp.ExpiresIn)
	return resp.AccessToken, nil
}

// invalidate drops the cached token if it is still the one DingTalk refused.
func (c *Client) invalidate(bad string) {
	c.tokens.drop(bad)
}

// recovered is the error of a panic caught in a goroutine of the client's.
func (c *Client) recovered(where string, r any) error {
	if c.cfg.OnPanic != nil {
		return c.cfg.OnPanic("dingtalk "+where, r)
	}
	c.log.Error("panic in the DingTalk client", "where", where, "panic", fmt.Sprint(r))
	return fmt.Errorf("dingtalk %s: internal error (panic: %v)", where, r)
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
