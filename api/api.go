// Package api serves a running app's elements over HTTP with fasthttp: element status and
// properties, callable methods, health and Prometheus metrics, behind an optional token.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	gojson "github.com/goccy/go-json"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/jitrt/jitrt/console"
	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/deadline"
	"github.com/jitrt/jitrt/runtime"
)

// Defaults.
const (
	DefaultAddr      = "127.0.0.1:8787"
	DefaultBodyLimit = 1 << 20
	// TokenEnv names the environment variable holding the API token.
	TokenEnv = "JITRT_API_TOKEN"
)

// ErrNeedsToken is returned by New for a non-loopback address without a token.
var ErrNeedsToken = errors.New("api: refusing to serve on a non-loopback address without a token")

// Options configure a Server.
type Options struct {
	// Addr to listen on (DefaultAddr when empty).
	Addr string
	// Token, when set, is required as "Authorization: Bearer <token>" on every request.
	Token string
	// BodyLimit is the largest request body (DefaultBodyLimit when zero).
	BodyLimit int
	// Timeout bounds each method call; when zero, the app's script time limit as it is at
	// the call (an edit of app.json's limits.timeout applies to the next request).
	Timeout time.Duration
	// PublicURL is the URL users reach the server at, behind a proxy: its host is answered
	// and its origin is the server's own.
	PublicURL string
	// AllowHosts are more Host values answered ("name" or "name:port"), beside the listen
	// address and the loopback names of a loopback listener.
	AllowHosts []string
	Logger     *slog.Logger
	Metrics    *Metrics
}

// Server is the HTTP API of one app.
type Server struct {
	app     *runtime.App
	opts    Options
	token   [32]byte // SHA-256 of the token, compared in constant time
	metrics *Metrics
	log     *slog.Logger
	srv     *fasthttp.Server
	ln      net.Listener
	console *console.Console
	hosts   hosts // the Host values answered, set when the address is known
	// csrfKey keys the console's CSRF tokens: derived from the token (the same in every
	// replica), or random for an open console.
	csrfKey [32]byte
	// caller is who an API call is made for (the token's holder, or a loopback caller when
	// there is no token); callBase the context of a call made under context.Background, as
	// every request fasthttp serves is: made once, not for every call
	caller   elements.Actor
	callBase context.Context
}

// New checks the options: a non-loopback address needs a token.
func New(app *runtime.App, opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = DefaultBodyLimit
	}
	if opts.Logger == nil {
		opts.Logger = app.Logger()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
		opts.Metrics.AttachApp(app)
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("api: address %q: %w", opts.Addr, err)
	}
	if opts.Token == "" && !isLoopback(host) {
		return nil, fmt.Errorf("%w: %s is reachable from other machines; set %s (every request then needs \"Authorization: Bearer <token>\"), or bind 127.0.0.1", ErrNeedsToken, opts.Addr, TokenEnv)
	}
	s := &Server{app: app, opts: opts, metrics: opts.Metrics, log: opts.Logger}
	s.hosts = newHosts(opts.Addr, opts.PublicURL, opts.AllowHosts)
	s.console = console.New(app, s.timeout, opts.Logger)
	if opts.Token != "" {
		s.token = sha256.Sum256([]byte(opts.Token))
		s.csrfKey = sha256.Sum256([]byte("jitrt-console-csrf-key:" + opts.Token))
		app.Redactor().Add(opts.Token)
	} else {
		rand.Read(s.csrfKey[:])
	}
	s.caller = elements.Actor{Kind: "token"}
	if opts.Token == "" {
		s.caller = elements.Actor{Kind: "loopback"}
	}
	s.callBase = s.callContext(context.Background())
	s.srv = &fasthttp.Server{
		Handler:                       s.serveFast,
		Name:                          "jitrt",
		MaxRequestBodySize:            opts.BodyLimit,
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  max(s.timeout(), 10*time.Minute) + 30*time.Second, // a call's own limit comes first
		IdleTimeout:                   2 * time.Minute,
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 true,
		DisableHeaderNamesNormalizing: true,
		Logger:                        fasthttpLogger{opts.Logger},
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				s.writeFast(ctx, 413, errorBody("body_too_large", fmt.Sprintf("the request body is over the limit of %d bytes", opts.BodyLimit)))
				return
			}
			s.writeFast(ctx, 400, errorBody("bad_request", "the request could not be read"))
		},
	}
	return s, nil
}

// timeout is the limit of a call made now: Options.Timeout, else the app's.
func (s *Server) timeout() time.Duration {
	if s.opts.Timeout > 0 {
		return s.opts.Timeout
	}
	return s.app.Timeout()
}

// fasthttpLogger sends fasthttp's own messages (a client that sent garbage) to debug logs.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug("http: " + fmt.Sprintf(format, args...))
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Listen binds the address; Addr then reports it (with the port chosen for port 0).
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	s.hosts = newHosts(ln.Addr().String(), s.opts.PublicURL, s.opts.AllowHosts)
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.opts.Addr
	}
	return s.ln.Addr().String()
}

// Serve serves until ctx ends, then shuts down gracefully: requests in flight finish.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("HTTP API listening", "addr", "http://"+s.Addr(), "console", "http://"+s.Addr()+console.Prefix, "auth", s.opts.Token != "")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.timeout()+5*time.Second)
	defer cancel()
	if err := s.srv.ShutdownWithContext(sctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// Request is what the handler core reads of an HTTP request; its strings may view the
// server's buffers and are not kept beyond the request.
type Request struct {
	Method, Path string
	Query        string // the raw query string
	Host         string // the Host header
	Auth         string // the Authorization header
	Cookie       string // the Cookie header
	UserAgent    string
	ContentType  string
	Origin       string // the Origin header, "" when none
	FetchSite    string // the Sec-Fetch-Site header, "" when none
	Marked       bool   // the request has the header X-Jitrt-Request
	TLS          bool   // served over https
	Body         []byte
	// Lark are Feishu's X-Lark-Request-Timestamp, X-Lark-Request-Nonce and X-Lark-Signature,
	// read only for a /feishu/ path (a push's signature)
	Lark [3]string

	freshened bool   // freshen ran for this request
	stale     string // X-Jitrt-Stale of the answer, "" when the memory was sure
}

// Response is what the handler core answers.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
	// RetryAfter, when set, is the Retry-After header (seconds) of a 503.
	RetryAfter string
	// Location is the target of a redirect; SetCookies are Set-Cookie headers.
	Location   string
	SetCookies []string
	// Headers are any other headers.
	Headers [][2]string
}

const jsonType = "application/json; charset=utf-8"

// Handle is the API independent of the HTTP server: fasthttp serves it, and a net/http
// adapter serves the very same handler for comparison. A panic while handling a request is
// a 500 with code internal for that request (logged and counted); the server goes on.
func (s *Server) Handle(ctx context.Context, r *Request) (resp Response) {
	start := time.Now()
	route := "panic"
	defer func() {
		if p := recover(); p != nil {
			err := s.app.Recovered("HTTP "+r.Method+" "+r.Path, p)
			resp = Response{Status: 500, ContentType: jsonType, Body: s.mask(errorBody(elements.CodeInternal, err.Error()))}
		}
		s.metrics.request(route, resp.Status, time.Since(start))
	}()
	if why := s.browserCheck(r); why != "" {
		route = "refused"
		s.log.Warn("refused a request a browser may have been made to send", "method", r.Method, "path", r.Path, "host", r.Host, "origin", r.Origin, "why", why)
		return Response{Status: 403, ContentType: jsonType, Body: errorBody("forbidden", why)}
	}
	if isConsolePath(r.Path) {
		route, resp = s.serveConsole(ctx, r)
	} else {
		route, resp = s.route(ctx, r)
	}
	if r.stale != "" {
		resp.Headers = append(resp.Headers, [2]string{"X-Jitrt-Stale", r.stale})
	}
	return resp
}

// freshen, once a request is known to read the state (it is authorized, or it names a
// session or signs in), makes the memory hold what the other replicas on the database
// had committed (kv.Store.CatchUpIfBehind): a read after another replica's write sees it. When the
// database does not answer, the request is served from memory all the same, its answer
// saying since when the memory is sure it is whole (X-Jitrt-Stale, seconds). It asks once
// per request; an anonymous request the API refuses never costs the database a question.
func (s *Server) freshen(ctx context.Context, r *Request) {
	if r.freshened {
		return
	}
	r.freshened = true
	if err := s.app.Store().CatchUpIfBehind(ctx); err != nil {
		s.app.Logger().Debug("the state may be behind the other replicas", "err", err)
		r.stale = strconv.Itoa(max(1, int(s.app.Store().SinceCaughtUp().Round(time.Second)/time.Second)))
	}
}

func (s *Server) route(ctx context.Context, r *Request) (string, Response) {
	method, path := r.Method, r.Path
	// A browser's login and its member's own pages need no token: a member proves who they
	// are with a session, and what a session may call is app.json's "permissions".
	if route, resp, ok := s.routeMember(ctx, r); ok {
		return route, resp
	}
	if !s.authorized(r.Auth) {
		return "unauthorized", Response{Status: 401, ContentType: jsonType, Body: errorBody("unauthorized", "this API needs \"Authorization: Bearer <token>\" with the token in "+TokenEnv)}
	}
	if path != "/healthz" && path != "/metrics" {
		s.freshen(ctx, r)
	}
	switch {
	case path == "/healthz":
		if method != "GET" && method != "HEAD" {
			return "healthz", methodNotAllowed("GET")
		}
		return "healthz", Response{Status: 200, ContentType: jsonType, Body: []byte(`{"status":"ok"}`)}
	case path == "/metrics":
		if method != "GET" {
			return "metrics", methodNotAllowed("GET")
		}
		text, err := s.metrics.text()
		if err != nil {
			return "metrics", Response{Status: 500, ContentType: jsonType, Body: errorBody("internal", err.Error())}
		}
		return "metrics", Response{Status: 200, ContentType: string(expfmtText), Body: text}
	case path == "/api/elements" || path == "/api/elements/":
		if method != "GET" {
			return "elements", methodNotAllowed("GET")
		}
		list := []runtime.Status{}
		for _, e := range s.app.Entries() {
			list = append(list, e.Status())
		}
		return "elements", s.data(list)
	case strings.HasPrefix(path, "/api/elements/"):
		rest := path[len("/api/elements/"):]
		name, methodName, hasMethod := strings.Cut(rest, "/")
		if hasMethod && methodName != "" {
			if method != "POST" {
				return "call", methodNotAllowed("POST")
			}
			// Without a token, a loopback caller is let in as anyone; but a method that
			// app.json's permissions gate needs a member holding the role, here as well:
			// else logging out would open what a session keeps closed.
			if roles, gated := s.app.Permission(name, methodName); gated && s.opts.Token == "" {
				return "call", s.fail(elements.Errorf(elements.CodeUnauthenticated,
					"%s.%s is gated by app.json \"permissions\": log in as a member holding %s (/auth/{login}/login), or set %s and send it as a Bearer token",
					name, methodName, strings.Join(roles, " or "), TokenEnv))
			}
			return "call", s.call(ctx, name, methodName, r.Body)
		}
		if method != "GET" {
			return "element", methodNotAllowed("GET")
		}
		return "element", s.element(name)
	}
	return "not_found", Response{Status: 404, ContentType: jsonType, Body: errorBody("not_found", "no such route: "+path)}
}

// Open says, for a server without a token, which callable methods any process of the
// machine may call (those app.json's permissions do not gate), and how many are gated
// (a member's session holding the role calls them).
func (s *Server) Open() (open []string, gated int) {
	for _, e := range s.app.Entries() {
		for _, m := range e.Methods() {
			if !m.Callable {
				continue
			}
			if _, g := s.app.Permission(e.FullName, m.Name); g {
				gated++
			} else {
				open = append(open, e.FullName+"."+m.Name)
			}
		}
	}
	return open, gated
}

func (s *Server) authorized(auth string) bool {
	if s.opts.Token == "" {
		return true
	}
	// The scheme is case-insensitive (RFC 9110 §11.1).
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	tok = strings.TrimLeft(tok, " ")
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], s.token[:]) == 1
}

// element is an element's status, readable properties and callable methods.
func (s *Server) element(name string) Response {
	e, err := s.app.Element(name)
	if err != nil {
		return s.fail(err)
	}
	out := map[string]any{"status": e.Status()}
	props := map[string]any{}
	var methods []map[string]any
	for _, p := range e.PropertyNames() {
		if v, ok, err := e.Property(p); err == nil && ok {
			props[p] = v
		}
	}
	for _, m := range e.Methods() {
		if !m.Callable {
			continue
		}
		params := []map[string]any{}
		for _, p := range m.Params {
			params = append(params, map[string]any{"name": p.Name, "type": p.Kind.String(), "required": p.Required})
		}
		methods = append(methods, map[string]any{"name": m.Name, "doc": m.Doc, "params": params})
	}
	out["properties"] = props
	out["methods"] = methods
	return s.data(out)
}

// call runs a Callable method with a JSON array (positional) or object (by name) body,
// through the app's one call path.
func (s *Server) call(ctx context.Context, name, method string, body []byte) Response {
	var parsed any
	if len(bytes.TrimSpace(body)) > 0 {
		var v any // here, so that a call without a body does not allocate it
		if err := json.Unmarshal(body, &v); err != nil {
			return Response{Status: 400, ContentType: jsonType, Body: errorBody("bad_json", "the body is not valid JSON: "+err.Error())}
		}
		parsed = v
	}
	args, mode, err := elements.JSONArgs(parsed)
	if err != nil {
		return s.fail(err)
	}
	// The time limit's timer is made only if the method waits on it (deadline.After): a
	// cheap read never does.
	ctx, cancel := deadline.After(s.callContext(ctx), s.timeout())
	defer cancel()
	res, err := s.app.Invoke(ctx, elements.Call{Element: name, Method: method, Args: args, Mode: mode, Outside: true})
	if err != nil {
		return s.fail(err)
	}
	return s.data(res)
}

// callContext is ctx for an API call: the caller's (elements.WithActor), and a call that
// needs a script run and finds every run busy is refused (503), not queued.
func (s *Server) callContext(ctx context.Context) context.Context {
	if ctx == context.Background() && s.callBase != nil {
		return s.callBase
	}
	return elements.WithActor(elements.WithoutQueue(ctx), s.caller)
}

// statusOf is the HTTP status of an error code.
func statusOf(code string) int { return elements.HTTPStatus(code) }

func (s *Server) fail(err error) Response {
	code := elements.CodeOf(err)
	status := statusOf(code)
	if status == 500 {
		s.log.Error("API call failed", "err", err)
	}
	resp := Response{Status: status, ContentType: jsonType, Body: s.mask(errorBody(code, err.Error()))}
	if status == 503 {
		resp.RetryAfter = "1"
	}
	if after := retryAfterOf(err); after != "" {
		resp.RetryAfter = after
	}
	return resp
}

// retryAfterOf is the Retry-After of an error that says when to try again ("" if none):
// a password login's locked account.
func retryAfterOf(err error) string {
	var r interface{ RetryAfterSeconds() int }
	if errors.As(err, &r) {
		return strconv.Itoa(max(r.RetryAfterSeconds(), 1))
	}
	return ""
}

func (s *Server) data(v any) Response {
	// plain values written straight (appendPlainJSON); the rest by goccy/go-json: both
	// encoding/json's output (HTML escaped, map keys sorted)
	if b, ok := appendPlainJSON(append(make([]byte, 0, 128), `{"data":`...), v, 0); ok {
		return Response{Status: 200, ContentType: jsonType, Body: s.mask(append(b, '}'))}
	}
	b, err := gojson.Marshal(struct {
		Data any `json:"data"`
	}{v})
	if err != nil {
		return Response{Status: 500, ContentType: jsonType, Body: errorBody("internal", "the result cannot be encoded as JSON: "+err.Error())}
	}
	return Response{Status: 200, ContentType: jsonType, Body: s.mask(b)}
}

// mask removes the app's secrets from a response body (Types mask them already: this is
// the second line of defence, and costs nothing when no secret is there).
func (s *Server) mask(b []byte) []byte {
	r := s.app.Redactor()
	if !r.Contains(b2s(b)) {
		return b
	}
	return []byte(r.String(string(b)))
}

func errorBody(code, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	return b
}

func methodNotAllowed(allow string) Response {
	return Response{Status: 405, ContentType: jsonType, Body: errorBody("method_not_allowed", "use "+allow)}
}

// serveFast adapts fasthttp to Handle. The call does not run in fasthttp's RequestCtx as a
// context: that one ends when shutdown begins, and a graceful shutdown lets calls finish.
func (s *Server) serveFast(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	r := Request{Method: b2s(ctx.Method()), Path: b2s(ctx.Path()), Query: b2s(ctx.URI().QueryString()),
		Host: b2s(h.Host()), Auth: b2s(h.Peek("Authorization")), Cookie: b2s(h.Peek("Cookie")), UserAgent: b2s(h.UserAgent()),
		ContentType: b2s(h.ContentType()), Origin: b2s(h.Peek("Origin")), FetchSite: b2s(h.Peek("Sec-Fetch-Site")),
		Marked: len(h.Peek(RequestHeader)) > 0, TLS: ctx.IsTLS(), Body: ctx.PostBody()}
	if strings.HasPrefix(r.Path, "/feishu/") {
		r.Lark = [3]string{b2s(h.Peek("X-Lark-Request-Timestamp")), b2s(h.Peek("X-Lark-Request-Nonce")), b2s(h.Peek("X-Lark-Signature"))}
	}
	resp := s.Handle(context.Background(), &r)
	ctx.SetStatusCode(resp.Status)
	ctx.Response.Header.SetContentType(resp.ContentType)
	if resp.RetryAfter != "" {
		ctx.Response.Header.Set("Retry-After", resp.RetryAfter)
	}
	if resp.Location != "" {
		ctx.Response.Header.Set("Location", resp.Location)
	}
	for _, c := range resp.SetCookies {
		ctx.Response.Header.Add("Set-Cookie", c)
	}
	for _, h := range resp.Headers {
		ctx.Response.Header.Set(h[0], h[1])
	}
	if len(resp.SetCookies) > 0 || resp.Location != "" {
		ctx.Response.Header.Set("Cache-Control", "no-store")
	}
	ctx.SetBody(resp.Body)
}

func (s *Server) writeFast(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType(jsonType)
	ctx.SetBody(body)
}
