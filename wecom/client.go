// Package wecom is a client of the WeCom (企业微信) server API for the contacts endpoints a
// self-built app reads: one method per endpoint, with the access token, errcodes, retries and
// rate limits handled in one place, and a whole-org fetch for syncing.
package wecom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
)

// DefaultBaseURL is WeCom's API host.
const DefaultBaseURL = "https://qyapi.weixin.qq.com"

// Store keeps small values across restarts (the access token, the fetch path that worked).
// The runtime backs it with the app's state file; nil keeps them in memory only.
type Store interface {
	Load(ctx context.Context, key string) (value string, ok bool, err error)
	Save(ctx context.Context, key, value string, ttl time.Duration) error
}

// Backoff shapes the waits between retries: full jitter over Base·2ⁿ, at most Max.
type Backoff struct {
	Base, Max time.Duration
}

// Config configures a Client.
type Config struct {
	CorpID string
	Secret string
	// ContactSyncSecret is the 通讯录同步 secret; optional, it unlocks user/list_id.
	ContactSyncSecret string
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string
	// Store keeps the token and the fetch path across restarts; optional.
	Store Store
	// Timeout bounds each HTTP call (default 10 s); the context's deadline bounds the whole call.
	Timeout time.Duration
	// MaxRetries is how often a busy, rate-limited or failed call is repeated (default 4).
	MaxRetries int
	// Backoff between retries (default 200ms…5s; 1s…20s for 45033, too many at once).
	Backoff, RateLimitBackoff Backoff
	// RateLimitBlock is how long WeCom refuses an API once it answered 45009, the call
	// limit passed (default a minute, as WeCom blocks it): every call of the API waits that
	// long, then tries again (as a retry).
	RateLimitBlock time.Duration
	// OnPanic, if set, records a panic the client caught in a goroutine of its own (a
	// token fetch, a fetch worker) and returns the error to report in its place: the
	// program's count of panics. Without it the panic is only that error.
	OnPanic func(where string, r any) error
	// RateLimiter paces the client's calls; share one between the clients of a corp (and,
	// with several processes, one that counts the calls of them all). When nil the client
	// has its own, with Limits (DefaultLimits when zero; negative values turn a limit off).
	RateLimiter Limiter
	Limits      Limits
	// Concurrency of the whole-org fetch (default 8).
	Concurrency int
	Logger      *slog.Logger
	// HTTP is the fasthttp client to use (a private one when nil).
	HTTP *fasthttp.Client
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Client calls the WeCom API for one corp. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    string
	http    *fasthttp.Client
	log     *slog.Logger
	app     *tokenSource
	contact *tokenSource // nil without a contact-sync secret
	limiter Limiter

	pathMu sync.Mutex
	path   string // "", "detail" or "id": the fetch path that last worked

	blockMu sync.Mutex
	blocked map[string]time.Time // the APIs WeCom refused with 45009, until when

	// life is cancelled by Close: the work the client does for all its callers (a token
	// fetch) stops with it.
	life    context.Context
	endLife context.CancelFunc
}

// New builds a client. It does no I/O.
func New(cfg Config) (*Client, error) {
	if cfg.CorpID == "" {
		return nil, errors.New("wecom: corpId is empty")
	}
	if cfg.Secret == "" {
		return nil, errors.New("wecom: secret is empty")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("wecom: base URL %q is not an http(s) URL", cfg.BaseURL)
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
		cfg.RateLimitBackoff = Backoff{Base: time.Second, Max: 20 * time.Second}
	}
	if cfg.RateLimitBlock <= 0 {
		cfg.RateLimitBlock = time.Minute
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/") + "/cgi-bin/", log: cfg.Logger,
		limiter: cfg.RateLimiter}
	c.life, c.endLife = context.WithCancel(context.Background())
	c.blocked = map[string]time.Time{}
	if c.limiter == nil {
		c.limiter = NewRateLimiter(cfg.Limits, cfg.Now)
	}
	c.http = cfg.HTTP
	if c.http == nil {
		c.http = &fasthttp.Client{
			Name:               "jitrt-wecom",
			MaxConnsPerHost:    64,
			MaxConnWaitTimeout: cfg.Timeout, // wait for a free connection rather than fail
			ReadTimeout:        cfg.Timeout,
			WriteTimeout:       cfg.Timeout,
			// Idle connections close after 2 s: during a sync calls are back to back, and
			// fasthttp's cleaner goroutines sleep this long before they notice a closed client.
			MaxIdleConnDuration: 2 * time.Second,
		}
	}
	c.app = &tokenSource{c: c, secret: cfg.Secret, kind: "app"}
	if cfg.ContactSyncSecret != "" {
		c.contact = &tokenSource{c: c, secret: cfg.ContactSyncSecret, kind: "contact"}
	}
	return c, nil
}

// RateLimiter is the limiter pacing the client's calls.
func (c *Client) RateLimiter() Limiter { return c.limiter }

// CorpID is the corp the client calls for.
func (c *Client) CorpID() string { return c.cfg.CorpID }

// HasContactSyncSecret reports whether user/list_id can be called.
func (c *Client) HasContactSyncSecret() bool { return c.contact != nil }

// Close releases idle connections.
func (c *Client) Close() error {
	c.endLife()
	if c.cfg.HTTP == nil {
		c.http.CloseIdleConnections()
	}
	return nil
}

// mask removes the client's secrets from text WeCom sent back.
func (c *Client) mask(s string) string {
	for _, secret := range []string{c.cfg.Secret, c.cfg.ContactSyncSecret} {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "******")
		}
	}
	return s
}

// baseResponse is what every WeCom response carries.
type baseResponse struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (b *baseResponse) base() *baseResponse { return b }

// response is a pointer to a response struct that embeds baseResponse.
type response[T any] interface {
	*T
	base() *baseResponse
}

// call is one API call as the caller sees it: which endpoint, with which credential.
type call struct {
	endpoint string // "user/list"
	post     bool
	query    url.Values
	body     any
	contact  bool // use the contact-sync secret's token
	noToken  bool // gettoken itself
	// once marks a call that must not be repeated (a login code is good for one exchange):
	// only a refused token is fetched again, which WeCom checks before the code.
	once bool
	// prepare, if set, readies each attempt's new response before it is decoded into (a
	// buffer of the caller's to decode a list into).
	prepare func(out any)
}

// do performs a call and decodes the response into a new T. It is the one place that
// handles the rate limit, the access token (fetched, cached, refreshed once on 40014/42001),
// errcodes, and retries with backoff (-1, 45009, 45033, timeouts and connection errors).
func do[T any, PT response[T]](ctx context.Context, c *Client, k call) (*T, error) {
	ts := c.app
	if k.contact {
		if c.contact == nil {
			return nil, ErrNoContactSyncSecret
		}
		ts = c.contact
	}
	var body []byte
	if k.post {
		var err error
		if body, err = json.Marshal(k.body); err != nil {
			return nil, fmt.Errorf("wecom %s: encode request: %w", k.endpoint, err)
		}
	}
	refreshed := false
	for attempt := 0; ; attempt++ {
		if err := c.waitForLimit(ctx, k.endpoint); err != nil {
			return nil, fmt.Errorf("wecom %s: waiting for the rate limit: %w", k.endpoint, err)
		}
		q := url.Values{}
		for key, v := range k.query {
			q[key] = v
		}
		token := ""
		if !k.noToken {
			var err error
			if token, err = ts.get(ctx); err != nil {
				return nil, err
			}
			q.Set("access_token", token)
		}
		out := PT(new(T))
		if k.prepare != nil {
			k.prepare(out)
		}
		err := c.roundTrip(ctx, k.endpoint, q, k.post, body, out)
		if err == nil {
			b := out.base()
			if b.ErrCode == 0 {
				return (*T)(out), nil
			}
			apiErr := &APIError{Endpoint: k.endpoint, Code: b.ErrCode, Msg: c.mask(b.ErrMsg)}
			switch {
			case tokenRefused(b.ErrCode) && !k.noToken && !refreshed:
				refreshed = true
				ts.invalidate(token)
				c.log.Debug("wecom token refused; fetching a new one", "endpoint", k.endpoint, "errcode", b.ErrCode)
				attempt-- // a refresh is not a retry
				continue
			case retryable(b.ErrCode):
				err = apiErr
			default:
				return nil, apiErr
			}
		}
		var final permanent
		if attempt >= c.cfg.MaxRetries || k.once || errors.As(err, &final) {
			return nil, err
		}
		bo := c.cfg.Backoff
		if CodeOf(err) == CodeTooConcurrent {
			bo = c.cfg.RateLimitBackoff
		}
		wait := jitter(bo, attempt)
		blocked := CodeOf(err) == CodeRateLimited
		if blocked {
			// WeCom refuses the API for a minute: no call of it is worth making before;
			// waitForLimit holds them all, this one too (and the fetch's progress says so)
			wait = c.block(k.endpoint)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, fmt.Errorf("%w (no time left to retry before the deadline)", err)
		}
		c.log.Debug("wecom call retried", "endpoint", k.endpoint, "attempt", attempt+1, "wait", wait, "err", err)
		if blocked {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
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

// roundTrip sends one HTTP request and decodes the body. Its errors wrap ErrTransport and
// never carry the URL (which holds the token, or for gettoken the secret).
func (c *Client) roundTrip(ctx context.Context, endpoint string, q url.Values, post bool, body []byte, out any) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	abandoned := false
	defer func() {
		if !abandoned {
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
	}()
	req.SetRequestURI(c.base + endpoint + "?" + q.Encode())
	if post {
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	} else {
		req.Header.SetMethod(fasthttp.MethodGet)
	}
	deadline := time.Now().Add(c.cfg.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wecom %s: %w", endpoint, err)
	}
	var err error
	if done := ctx.Done(); done == nil {
		err = c.http.DoDeadline(req, resp, deadline)
	} else {
		// fasthttp knows deadlines, not contexts: the request runs in a goroutine of its own
		// so that a cancelled caller (a corp closing) stops waiting at once; the abandoned
		// request keeps req and resp until its deadline, and the collector has them then.
		ch := make(chan error, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					ch <- fmt.Errorf("%s: panic in the HTTP client: %v", endpoint, r)
				}
			}()
			ch <- c.http.DoDeadline(req, resp, deadline)
		}()
		select {
		case err = <-ch:
		case <-done:
			abandoned = true
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w: %s: %w", ErrTransport, endpoint, ctx.Err()) // as DoDeadline says it
			}
			return fmt.Errorf("wecom %s: %w", endpoint, ctx.Err())
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrTransport, endpoint, scrubURL(err.Error()))
	}
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		err := fmt.Errorf("%w: %s: HTTP status %d", ErrTransport, endpoint, sc)
		if sc >= 400 && sc < 500 && sc != fasthttp.StatusTooManyRequests && sc != fasthttp.StatusRequestTimeout {
			// the request itself is wrong (an unknown endpoint): asking again cannot help
			return permanent{err}
		}
		return err
	}
	// goccy/go-json: the same decoding as encoding/json, five times faster on WeCom's member
	// pages, which are most of a whole-org fetch's time.
	if err := gojson.Unmarshal(resp.Body(), out); err != nil {
		return fmt.Errorf("%w: %s: response is not the expected JSON: %v", ErrTransport, endpoint, err)
	}
	return nil
}

// permanent is an error that no retry can mend (an HTTP 4xx answer).
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// scrubURL drops any query string from an error text, in case a library put the URL in it.
func scrubURL(s string) string {
	if i := strings.Index(s, "?"); i >= 0 {
		end := strings.IndexAny(s[i:], " \"'")
		if end < 0 {
			return s[:i]
		}
		return s[:i] + s[i+end:]
	}
	return s
}

// tokenSource holds the access token of one secret: fetched once for all concurrent
// callers, cached until shortly before it expires, and kept in the Store if there is one.
type tokenSource struct {
	c      *Client
	secret string
	kind   string

	mu       sync.Mutex
	token    string
	expires  time.Time
	loaded   bool // tried the Store
	inflight *tokenFetch
}

type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

type storedToken struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// storeKey names the token in the Store by corp and a hash of the secret, never the secret.
func (ts *tokenSource) storeKey() string {
	h := sha256.Sum256([]byte(ts.c.cfg.CorpID + "\x00" + ts.secret))
	return "wecom:token:" + ts.c.cfg.CorpID + ":" + hex.EncodeToString(h[:8])
}

func (ts *tokenSource) get(ctx context.Context) (string, error) {
	ts.mu.Lock()
	now := ts.c.cfg.Now()
	if !ts.loaded && ts.c.cfg.Store != nil {
		ts.loaded = true
		if v, ok, err := ts.c.cfg.Store.Load(ctx, ts.storeKey()); err == nil && ok {
			var st storedToken
			if json.Unmarshal([]byte(v), &st) == nil && st.Token != "" {
				ts.token, ts.expires = st.Token, st.Expires
			}
		}
	}
	if ts.token != "" && now.Before(ts.expires) {
		tok := ts.token
		ts.mu.Unlock()
		return tok, nil
	}
	f := ts.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		ts.inflight = f
		go ts.fetch(f)
	}
	ts.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", fmt.Errorf("wecom gettoken: %w", ctx.Err())
	}
}

// fetch runs gettoken for every waiter; it is not tied to one caller's context, so a caller
// that gives up does not fail the others.
func (ts *tokenSource) fetch(f *tokenFetch) {
	ctx, cancel := context.WithTimeout(ts.c.life, ts.c.cfg.Timeout*time.Duration(ts.c.cfg.MaxRetries+1))
	defer cancel()
	defer func() {
		if r := recover(); r != nil { // the waiters get an error, not a process that ended
			err := ts.c.recovered("gettoken", r)
			ts.mu.Lock()
			defer ts.mu.Unlock()
			if ts.inflight == f {
				ts.inflight = nil
				f.err = err
				close(f.done)
			}
		}
	}()
	if h := testHookTokenFetch; h != nil {
		h()
	}
	type tokenResp struct {
		baseResponse
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	resp, err := do[tokenResp](ctx, ts.c, call{endpoint: "gettoken", noToken: true,
		query: url.Values{"corpid": {ts.c.cfg.CorpID}, "corpsecret": {ts.secret}}})
	var expires time.Time
	if err == nil {
		ttl := time.Duration(resp.ExpiresIn) * time.Second
		// Refresh early: 5 minutes before expiry, or at 90% of a short lifetime.
		expires = ts.c.cfg.Now().Add(ttl - min(5*time.Minute, ttl/10))
		ts.c.log.Debug("wecom token fetched", "kind", ts.kind, "expires_in", resp.ExpiresIn)
		// Saved before the waiters go on, so that a client started right after finds it.
		if st := ts.c.cfg.Store; st != nil {
			b, _ := json.Marshal(storedToken{Token: resp.AccessToken, Expires: expires})
			if err := st.Save(ctx, ts.storeKey(), string(b), ttl); err != nil {
				ts.c.log.Warn("wecom token not saved", "err", err)
			}
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.inflight = nil
	if err != nil {
		f.err = err
	} else {
		ts.token, ts.expires = resp.AccessToken, expires
		f.token = ts.token
	}
	close(f.done)
}

// invalidate drops the cached token if it is still the one WeCom refused.
func (ts *tokenSource) invalidate(bad string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == bad {
		ts.token, ts.expires = "", time.Time{}
	}
}

// BaseURL is the API host the client calls.
func (c *Client) BaseURL() string { return c.cfg.BaseURL }

// recovered is the error of a panic caught in a goroutine of the client's.
func (c *Client) recovered(where string, r any) error {
	if c.cfg.OnPanic != nil {
		return c.cfg.OnPanic("wecom "+where, r)
	}
	c.log.Error("panic in the WeCom client", "where", where, "panic", fmt.Sprint(r))
	return fmt.Errorf("wecom %s: internal error (panic: %v)", where, r)
}

// testHookTokenFetch and testHookFetchWorker, when set (by tests), run at the start of a
// token fetch and of each fetch worker.
var (
	testHookTokenFetch  func()
	testHookFetchWorker func()
)
