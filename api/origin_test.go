package api_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// admins is the corp's admins, as a JSON string, read in the app (not over HTTP).
func (e *loginEnv) admins() string {
	e.t.Helper()
	return fmt.Sprint(e.js(`JSON.stringify(app.getElement("corps.C").getAdmin())`))
}

// raw sends one request with exactly these headers ("Host" sets the Host).
func raw(t *testing.T, method, u, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// A token-less server on loopback (make demo's) answers only for its own Host, and takes a
// write only with a signal a page of another site cannot send: the writes a browser can be
// made to send from elsewhere change nothing.
func TestRequestsOtherSitesCanMakeChangeNothing(t *testing.T) {
	t.Parallel()
	e := startLogin(t, loginOpts{})
	admin := e.sim.Org().Users[3].UserID
	setAdmin := e.url + "/api/elements/corps.C/setAdmin"
	body := fmt.Sprintf(`[[%q]]`, admin)
	before := e.admins()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.url, "http://"))
	own := "http://127.0.0.1:" + port

	refused := []struct {
		name   string
		method string
		u      string
		body   string
		header []string
	}{
		{"a write with no Content-Type (fetch no-cors)", "POST", setAdmin, body, nil},
		{"a write as text/plain", "POST", setAdmin, body, []string{"Content-Type", "text/plain;charset=UTF-8"}},
		{"a write as a form", "POST", setAdmin, body, []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"JSON from another origin", "POST", setAdmin, body, []string{"Content-Type", "application/json", "Origin", "http://evil.example"}},
		{"JSON from another port of the host", "POST", setAdmin, body, []string{"Content-Type", "application/json", "Origin", "http://127.0.0.1:1"}},
		{"JSON from an opaque origin", "POST", setAdmin, body, []string{"Content-Type", "application/json", "Origin", "null"}},
		{"JSON a browser says is cross-site", "POST", setAdmin, body, []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}},
		{"JSON for a rebound name", "POST", setAdmin, body, []string{"Content-Type", "application/json", "Host", "evil.example:" + port}},
		{"the console for a rebound name", "GET", e.url + "/console", "", []string{"Host", "evil.example:" + port}},
		{"the elements for a rebound name", "GET", e.url + "/api/elements", "", []string{"Host", "evil.example"}},
		{"the member page for a rebound name", "GET", e.url + "/api/me", "", []string{"Host", "rebind.127.0.0.1.nip.io:" + port}},
		{"a logout without a header", "POST", e.url + "/auth/logout", "", nil},
	}
	for _, c := range refused {
		status, got, h := raw(t, c.method, c.u, c.body, c.header...)
		if status != 403 || !strings.Contains(got, `"code":"forbidden"`) {
			t.Errorf("%s: %d %s", c.name, status, got)
		}
		if h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS is open: %v", c.name, h)
		}
	}
	if got := e.admins(); got != before {
		t.Fatalf("a refused write changed the admins: %s, were %s", got, before)
	}
	// a preflight gets no CORS grant
	if _, _, h := raw(t, "OPTIONS", setAdmin, "", "Origin", "http://evil.example", "Access-Control-Request-Method", "POST"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a preflight was granted: %v", h)
	}

	// what the server's own pages, curl and scripts send is taken
	allowed := []struct {
		name   string
		header []string
	}{
		{"JSON", []string{"Content-Type", "application/json"}},
		{"JSON with a charset, from its own origin", []string{"Content-Type", "application/json; charset=utf-8", "Origin", own, "Sec-Fetch-Site", "same-origin"}},
		{"the request header", []string{"X-Jitrt-Request", "1"}},
		{"JSON at localhost", []string{"Content-Type", "application/json", "Host", "localhost:" + port, "Origin", "http://localhost:" + port}},
	}
	saveSig := e.url + "/api/elements/corps.C/saveUserSignature"
	for i, c := range allowed {
		sig := fmt.Sprintf("https://sig.example/%d.png", i)
		if status, got, _ := raw(t, "POST", saveSig, fmt.Sprintf(`[%q, %q]`, admin, sig), c.header...); status != 200 {
			t.Errorf("%s: %d %s", c.name, status, got)
		}
		if _, got, _ := raw(t, "POST", e.url+"/api/elements/corps.C/getUserSignature", fmt.Sprintf(`[%q]`, admin), "Content-Type", "application/json"); !strings.Contains(got, sig) {
			t.Errorf("%s: the allowed write did not save the signature: %s", c.name, got)
		}
	}
	// a method app.json's permissions gate needs a member holding the role, even from
	// loopback without a token: logging out does not open it
	if status, got, _ := raw(t, "POST", setAdmin, body, "Content-Type", "application/json"); status != 401 || !strings.Contains(got, "permissions") || !strings.Contains(got, "admin") {
		t.Fatalf("an anonymous call of a gated method: %d %s", status, got)
	}
	if got := e.admins(); got != before {
		t.Fatalf("an anonymous call of a gated method changed the admins: %s, were %s", got, before)
	}
}

// The console's CSRF token is an HMAC of the viewer's session: a cookie planted from another
// port of the host, with the same value in the form (a double submit), runs nothing.
func TestConsoleCSRFIsBoundToTheSession(t *testing.T) {
	t.Parallel()
	for _, token := range []string{"", consoleToken} {
		e := startLogin(t, loginOpts{token: token})
		b := newBrowser(t)
		if token != "" {
			if p := b.do("POST", e.url+"/console/login", url.Values{"token": {token}, "next": {"/console"}}); p.status != 303 {
				t.Fatalf("console login: %d", p.status)
			}
		}
		syncs := b.get(e.url + "/console/corps/corps.C/syncs")
		real := csrfOf(t, syncs.body)
		before := strings.Count(syncs.body, `class="report`)
		planted := strings.Repeat("ab", 16)
		for _, cookie := range []string{"jitrt_csrf=" + planted, "jitrt_browser=" + planted, "jitrt_csrf=" + planted + "; jitrt_browser=" + planted} {
			p := b.do("POST", e.url+"/console/corps/corps.C/sync", url.Values{"dryRun": {"0"}, "csrf": {planted}}, "Cookie", cookie) // the jar adds the browser's own
			if p.status != 403 {
				t.Fatalf("token %q: a planted %s with the same value in the form: %d", token, cookie, p.status)
			}
		}
		// the right token from a page of another site: refused for its Origin
		if p := b.do("POST", e.url+"/console/corps/corps.C/sync", url.Values{"dryRun": {"0"}, "csrf": {real}}, "Origin", "http://127.0.0.1:1"); p.status != 403 {
			t.Fatalf("token %q: the console's form from another origin: %d", token, p.status)
		}
		if n := strings.Count(b.get(e.url+"/console/corps/corps.C/syncs").body, `class="report`); n != before {
			t.Fatalf("token %q: a refused post synced", token)
		}
		// the page's own form works
		if p := b.do("POST", e.url+"/console/corps/corps.C/sync", url.Values{"dryRun": {"0"}, "csrf": {real}}); p.status != 303 {
			t.Fatalf("token %q: the console's own form: %d %s", token, p.status, p.body)
		}
	}
}

// In a real Chromium: a page of another origin tries the no-cors write, a form and a
// text/plain fetch; a name rebound to 127.0.0.1 loads the console and posts JSON to the
// API as its own origin. The org is unchanged.
func TestOtherSitesInARealBrowserChangeNothing(t *testing.T) {
	t.Parallel()
	e := startLogin(t, loginOpts{})
	ctx := browserContext(t, chromedp.Flag("host-resolver-rules", "MAP evil.example 127.0.0.1"))
	admin := e.sim.Org().Users[3].UserID
	before := e.admins()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.url, "http://"))
	api := e.url + "/api/elements/corps.C/setAdmin"
	body := fmt.Sprintf(`[[%q]]`, admin)
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>attacker</title>
<form id="f" method="post" action=%q enctype="text/plain" target="sink"><input name='[["%s"]]' value=""></form>
<iframe name="sink"></iframe>
<script>
(async () => {
  const tries = [
    fetch(%q, {method: "POST", mode: "no-cors", body: %q}),
    fetch(%q, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: %q}),
    fetch(%q, {method: "POST", mode: "cors", headers: {"Content-Type": "application/json"}, body: %q}),
  ];
  for (const p of tries) { try { await p } catch (e) {} }
  document.getElementById("f").submit();
  setTimeout(() => { document.title = "done" }, 500);
})();
</script>`, api, admin, api, body, api, body, api, body)
	}))
	defer attacker.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(attacker.URL)); err != nil {
		t.Fatalf("the attacker's page: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.title === "done"`)); err != nil {
		t.Fatalf("the attacker's page did not finish: %v", err)
	}
	if got := e.admins(); got != before {
		t.Fatalf("a page of another origin changed the admins: %s, were %s", got, before)
	}

	// DNS rebinding: evil.example resolves to 127.0.0.1, so its page is "same origin" with
	// the server; the server does not answer for that name
	rebound := "http://evil.example:" + port
	if err := chromedp.Do(ctx, chromedp.Navigate(rebound+"/console")); err != nil {
		t.Fatalf("the rebound console: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("body"))
	if err != nil {
		t.Fatalf("the rebound console: %v", err)
	}
	if !strings.Contains(text, "forbidden") || strings.Contains(text, "corps.C") {
		t.Fatalf("the console answered a rebound name: %s", text)
	}
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"Content-Type": "application/json"}, body: %q}).then(r => r.status)`,
		rebound+"/api/elements/corps.C/setAdmin", body), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("the rebound write: %v", err)
	}
	if status != 403 {
		t.Fatalf("the write from the rebound name: %d", status)
	}
	if got := e.admins(); got != before {
		t.Fatalf("a rebound name changed the admins: %s, were %s", got, before)
	}
}
