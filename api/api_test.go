package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitrt/jitrt/api"
	"github.com/jitrt/jitrt/elements"
	_ "github.com/jitrt/jitrt/elements/corps"
	_ "github.com/jitrt/jitrt/elements/tasks"
	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/internal/testapp"
	_ "github.com/jitrt/jitrt/internal/testtypes"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime"
)

const secret = "api-test-secret-0a1b2c3d4e"

func init() {
	elements.RegisterMeta("apitest.Meta", "")
	elements.RegisterType(elements.Type{ID: "apitest.Tool", Meta: "apitest.Meta",
		New: func(el *elements.Element) (elements.Instance, error) { return tool{}, nil }})
}

type tool struct{}

// sleeping counts the calls of tool.sleep in progress.
var sleeping atomic.Int64

func (tool) Methods() []elements.Method {
	return []elements.Method{
		{Name: "sleep", Callable: true, Params: []elements.Param{{Name: "ms", Kind: elements.KindNumber, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				ms, _, _ := a.Int("ms")
				sleeping.Add(1)
				defer sleeping.Add(-1)
				select {
				case <-time.After(time.Duration(ms) * time.Millisecond):
					return "slept", nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}},
		{Name: "boom", Callable: true, Call: func(context.Context, elements.Args) (any, error) {
			return nil, errors.New("the disk is on fire")
		}},
		{Name: "echo", Callable: true, Params: []elements.Param{{Name: "a", Kind: elements.KindString, Required: true}, {Name: "b", Kind: elements.KindNumber}},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				return map[string]any{"a": a["a"], "b": a["b"]}, nil
			}},
		{Name: "hidden", Call: func(context.Context, elements.Args) (any, error) { return "scripts only", nil }},
	}
}
func (tool) Properties() []elements.Property { return nil }

type testServer struct {
	url    string
	srv    *api.Server
	app    *runtime.App
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	bodies []string // every response body, to look for the secret
}

func start(t *testing.T, token string, bodyLimit int) *testServer {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"corps/Demo/e.json":        `{"title": "演示", "type": "corps.QywxInnerType"}`,
		"corps/Demo/Demo.json":     `{"corpId": "wwapi", "agentId": "1", "secret": "${SECRET}", "simulator": {"members": 30, "departments": 3, "seed": 1}}`,
		"corps/Broken/e.json":      `{"type": "corps.QywxInnerType"}`,
		"corps/Broken/Broken.json": `{"corpId": "wwapi"}`,
		"tools/T/e.json":           `{"type": "apitest.Tool", "title": "工具"}`,
	}
	for rel, content := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755)
		os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644)
	}
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(), Services: simwire.Services(),
		Getenv: func(k string) (string, bool) { return secret, k == "SECRET" }})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(app, api.Options{Addr: "127.0.0.1:0", Token: token, BodyLimit: bodyLimit, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{url: "http://" + srv.Addr(), srv: srv, app: app, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		ts.stop(t)
		app.Close()
		ts.mu.Lock()
		defer ts.mu.Unlock()
		for _, b := range ts.bodies {
			if strings.Contains(b, secret) {
				t.Errorf("the secret is in a response body: %s", b)
			}
		}
	})
	return ts
}

// serve serves app on a loopback port until the test ends.
func serve(t testing.TB, app *runtime.App, opts api.Options) *testServer {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	srv, err := api.New(app, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &testServer{url: "http://" + srv.Addr(), srv: srv, app: app}
}

func (ts *testServer) stop(t *testing.T) {
	if ts.cancel != nil {
		ts.cancel()
		ts.cancel = nil
		if err := <-ts.done; err != nil {
			t.Error(err)
		}
	}
}

func (ts *testServer) do(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.url+path, strings.NewReader(body))
	if method != "GET" && method != "HEAD" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	ts.mu.Lock()
	ts.bodies = append(ts.bodies, string(b))
	ts.mu.Unlock()
	return resp.StatusCode, string(b)
}

func TestMethodCallsByArrayAndByObject(t *testing.T) {
	ts := start(t, "", 0)
	for _, body := range []string{`["x", 2]`, `{"a": "x", "b": 2}`} {
		code, got := ts.do(t, "POST", "/api/elements/tools.T/echo", "", body)
		if code != 200 || got != `{"data":{"a":"x","b":2}}` {
			t.Errorf("%s → %d %s", body, code, got)
		}
	}
	if code, got := ts.do(t, "POST", "/api/elements/corps.Demo/initCorp", "", ""); code != 200 || got != `{"data":null}` {
		t.Fatalf("initCorp %d %s", code, got)
	}
	_, users := ts.do(t, "POST", "/api/elements/corps.Demo/getLocalCorpData", "", "[]")
	id := users[strings.Index(users, `"memberId":"`)+12:]
	id = id[:strings.Index(id, `"`)]
	if code, got := ts.do(t, "POST", "/api/elements/corps.Demo/setAdmin", "", `[["`+id+`"]]`); code != 200 || got != `{"data":{}}` {
		t.Fatalf("setAdmin %d %s", code, got)
	}
	if code, got := ts.do(t, "POST", "/api/elements/corps.Demo/getAdmin", "", ""); code != 200 || got != `{"data":["`+id+`"]}` {
		t.Fatalf("getAdmin %d %s", code, got)
	}
	if code, got := ts.do(t, "POST", "/api/elements/corps.Demo/setUserRole", "", `{"memberId": "`+id+`", "roleIdList": ["admin"]}`); code != 200 || !strings.Contains(got, `"roleId":"admin"`) {
		t.Fatalf("setUserRole %d %s", code, got)
	}
	// a bare JSON value is the one argument, as jitrt call takes it
	if code, got := ts.do(t, "POST", "/api/elements/corps.Demo/getUserSignature", "", `"`+id+`"`); code != 200 || !strings.Contains(got, `"memberId":"`+id+`"`) {
		t.Fatalf("getUserSignature with a bare string: %d %s", code, got)
	}
}

func TestErrorStatusesAndBodies(t *testing.T) {
	ts := start(t, "", 64)
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/api/elements/tools.T/echo", `{"a": `, 400, "bad_json"},
		{"POST", "/api/elements/corps.Demo/setAdmin", `"one id, not a list"`, 400, "invalid_argument"},
		{"POST", "/api/elements/tools.T/echo", `[1]`, 400, "invalid_argument"},
		{"POST", "/api/elements/tools.T/echo", `{"c": 1}`, 400, "invalid_argument"},
		{"POST", "/api/elements/tools.Nope/echo", ``, 404, "unknown_element"},
		{"GET", "/api/elements/tools.Nope", ``, 404, "unknown_element"},
		{"POST", "/api/elements/tools.T/nope", ``, 404, "unknown_method"},
		{"POST", "/api/elements/tools.T/hidden", ``, 404, "unknown_method"},
		{"POST", "/api/elements/corps.Demo/getClient", ``, 404, "unknown_method"},
		{"POST", "/api/elements/corps.Broken/getCorpInfo", ``, 409, "element_failed"},
		{"POST", "/api/elements/corps.Demo/getRootDept", ``, 409, "failed_precondition"},
		{"POST", "/api/elements/tools.T/echo", `["` + strings.Repeat("x", 100) + `"]`, 413, "body_too_large"},
		{"POST", "/api/elements/tools.T/boom", ``, 500, "internal"},
		{"GET", "/api/elements/tools.T/echo", ``, 405, "method_not_allowed"},
		{"GET", "/nowhere", ``, 404, "not_found"},
	} {
		status, body := ts.do(t, c.method, c.path, "", c.body)
		if status != c.status || !strings.HasPrefix(body, `{"error":{"code":"`+c.code+`","message":"`) {
			t.Errorf("%s %s %q → %d %s; want %d %s", c.method, c.path, c.body, status, body, c.status, c.code)
		}
	}
	_, body := ts.do(t, "POST", "/api/elements/corps.Broken/getCorpInfo", "", "")
	if !strings.Contains(body, `corps/Broken/Broken.json:1:1: missing required key \"agentId\"`) {
		t.Errorf("409 body does not carry the element's error: %s", body)
	}
}

func TestReadingElementsAndHealth(t *testing.T) {
	ts := start(t, "", 0)
	if code, body := ts.do(t, "GET", "/healthz", "", ""); code != 200 || body != `{"status":"ok"}` {
		t.Fatal(code, body)
	}
	code, body := ts.do(t, "GET", "/api/elements", "", "")
	if code != 200 || !strings.Contains(body, `"fullName":"corps.Broken","type":"corps.QywxInnerType","title":"corps.Broken","status":"error","serving":false,"generation":0,"error":"corps/Broken/Broken.json:1:1`) ||
		!strings.Contains(body, `"fullName":"tools.T","type":"apitest.Tool","title":"工具","status":"ok","serving":true,"generation":1`) {
		t.Fatal(code, body)
	}
	code, body = ts.do(t, "GET", "/api/elements/corps.Demo", "", "")
	if code != 200 || !strings.Contains(body, `"authConfig":{"agentId":"1","corpId":"wwapi","secret":"******"}`) ||
		!strings.Contains(body, `"name":"setUserRole"`) || strings.Contains(body, `"name":"getClient"`) {
		t.Fatal(code, body)
	}
	ts.do(t, "POST", "/api/elements/tools.T/echo", "", `["x"]`)
	code, body = ts.do(t, "GET", "/metrics", "", "")
	if code != 200 || !strings.Contains(body, `jitrt_http_requests_total{code="200",route="call"} 1`) || !strings.Contains(body, "jitrt_js_runs_total") ||
		!strings.Contains(body, "go_goroutines") {
		t.Fatal(code, body[:min(len(body), 500)])
	}
}

func TestTokenIsRequiredAndCheckedWhenSet(t *testing.T) {
	ts := start(t, "s3cret-token-xyz", 0)
	for _, tok := range []string{"", "wrong-token", "s3cret-token-xy", "s3cret-token-xyzz"} {
		for _, path := range []string{"/healthz", "/api/elements", "/metrics"} {
			code, body := ts.do(t, "GET", path, tok, "")
			if code != 401 || !strings.Contains(body, `"code":"unauthorized"`) {
				t.Errorf("token %q %s → %d %s", tok, path, code, body)
			}
		}
	}
	if code, _ := ts.do(t, "POST", "/api/elements/tools.T/echo", "s3cret-token-xyz", `["x"]`); code != 200 {
		t.Fatal(code)
	}
	// the scheme is case-insensitive (RFC 9110); the token is not
	for _, auth := range []string{"bearer s3cret-token-xyz", "BEARER s3cret-token-xyz", "Bearer  s3cret-token-xyz"} {
		req, _ := http.NewRequest("GET", ts.url+"/healthz", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%q: %v %v", auth, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	for _, b := range ts.bodies {
		if strings.Contains(b, "s3cret-token-xyz") {
			t.Fatalf("the token is in a response: %s", b)
		}
	}
}

func TestNonLoopbackNeedsAToken(t *testing.T) {
	app, err := runtime.Load(context.Background(), t.TempDir(), runtime.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8787"} {
		_, err := api.New(app, api.Options{Addr: addr})
		if !errors.Is(err, api.ErrNeedsToken) || !strings.Contains(err.Error(), api.TokenEnv) {
			t.Errorf("%s without a token: %v", addr, err)
		}
		if _, err := api.New(app, api.Options{Addr: addr, Token: "t"}); err != nil {
			t.Errorf("%s with a token: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		if _, err := api.New(app, api.Options{Addr: addr}); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

func TestGracefulShutdownFinishesRequestsInFlight(t *testing.T) {
	ts := start(t, "", 0)
	result := make(chan string)
	go func() {
		code, body := ts.do(t, "POST", "/api/elements/tools.T/sleep", "", `[600]`)
		result <- fmt.Sprint(code, " ", body)
	}()
	testwait.For(t, "the request to be in the method", func() bool { return sleeping.Load() > 0 })
	ts.stop(t)
	if got := <-result; got != `200 {"data":"slept"}` {
		t.Fatalf("the request in flight got %s", got)
	}
	if _, err := http.Get(ts.url + "/healthz"); err == nil {
		t.Fatal("the server still answers after shutdown")
	}
}

// A method that panics, called from a script, over HTTP and by a task's timer, is an error
// with code internal for each of them; the server goes on answering and counts three.
func TestPanicsAreErrorsForTheirCallers(t *testing.T) {
	dir := t.TempDir()
	// whole seconds: 2 s ahead is 1 to 2 s ahead, time for a slow (-race, busy CI) load
	// before the one run falls due
	at := time.Now().Add(2 * time.Second).Format("2006-01-02 15:04:05")
	for rel, content := range map[string]string{
		"e/Boom/e.json":    `{"type": "testing.Echo"}`,
		"e/Boom/Boom.json": `{"greeting": "hi"}`,
		"tasks/T/e.json": `{"type": "tasks.NormalType", "funcType": "Global", "func": "e.Boom.boom",
			"timerCfg": {"startTime": "` + at + `", "repeat": {"repeatType": "once"}}}`,
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755)
		os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644)
	}
	metrics := api.NewMetrics()
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(), Service: true, Observer: metrics})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	metrics.AttachApp(app)
	ts := serve(t, app, api.Options{Metrics: metrics})

	// from a script
	res, err := app.Host().Run(context.Background(), runtime.Script{Code: `try { app.getElement("e.Boom").boom() } catch (e) { e.code }`})
	if err != nil || string(res.JSON) != `"internal"` {
		t.Fatalf("from a script: %s %v", res.JSON, err)
	}
	// over HTTP
	if code, body := ts.do(t, "POST", "/api/elements/e.Boom/boom", "", ""); code != 500 || !strings.Contains(body, `"code":"internal"`) || !strings.Contains(body, "internal error in e.Boom.boom") {
		t.Fatalf("over HTTP: %d %s", code, body)
	}
	// from the task's timer: its run is recorded as failed
	deadline := time.Now().Add(testwait.Hang)
	for {
		_, body := ts.do(t, "POST", "/api/elements/tasks.T/getRunHistory", "", "")
		if strings.Contains(body, "internal error in e.Boom.boom") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task's run is not recorded: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := ts.do(t, "GET", "/healthz", "", ""); code != 200 {
		t.Fatalf("healthz: %d %s", code, body)
	}
	_, body := ts.do(t, "GET", "/metrics", "", "")
	if !strings.Contains(body, "\njitrt_panics_total 3\n") {
		t.Fatalf("metrics:\n%s", grepLines(body, "panics"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// An edit of app.json's limits.timeout applies to the next request: the API reads the
// app's limit at each call.
func TestAnEditedTimeoutAppliesToTheNextRequest(t *testing.T) {
	dir := testapp.WriteTree(t, map[string]string{
		"app.json":     `{"name": "timeouts", "limits": {"timeout": "200ms"}}`,
		"t/N/e.json":   `{"type": "testing.Meta", "extend": "testing.Echo", "callable": ["nap"]}`,
		"t/N/index.js": `exports.nap = function (ms) { return this.sleep(ms) }`,
		"e/I/e.json":   `{"type": "t.N"}`,
		"e/I/I.json":   `{"greeting": "rested"}`,
	})
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ts := serve(t, app, api.Options{})
	if code, body := ts.do(t, "POST", "/api/elements/e.I/nap", "", "[400]"); code != 504 {
		t.Fatalf("with a 200 ms limit: %d %s", code, body)
	}
	os.WriteFile(filepath.Join(dir, "app.json"), []byte(`{"name": "timeouts", "limits": {"timeout": "10s"}}`), 0o644)
	app.ReloadApp()
	if code, body := ts.do(t, "POST", "/api/elements/e.I/nap", "", "[400]"); code != 200 || body != `{"data":"rested"}` {
		t.Fatalf("with a 10 s limit: %d %s", code, body)
	}
}
