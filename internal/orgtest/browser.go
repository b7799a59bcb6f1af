package orgtest

import (
	"io"
	"net/http"
	"net/url"
	"testing"
)

// NoRedirect is an HTTP client that stops at a redirect, as a test of one needs.
var NoRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// BrowserLogin runs a platform's web login as a browser: the login's redirect to the
// platform's page, the member's pick there (the form fields the page asks for, plus what
// it hid), and the callback; it returns the session cookie, the callback's URL and the
// state cookie.
func BrowserLogin(t *testing.T, base, login string, pick url.Values) (session, back, state string) {
	t.Helper()
	resp, err := NoRedirect.Get(base + "/auth/" + login + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/login: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "jitrt_state" {
			state = c.Name + "=" + c.Value
		}
	}
	page, _ := url.Parse(resp.Header.Get("Location"))
	form := url.Values{}
	for k, v := range page.Query() {
		form[k] = v
	}
	for k, v := range pick {
		form[k] = v
	}
	resp, err = NoRedirect.PostForm(page.Scheme+"://"+page.Host+page.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("the pick on the platform's page: %d", resp.StatusCode)
	}
	back = resp.Header.Get("Location")
	req, _ := http.NewRequest("GET", back, nil)
	req.Header.Set("Cookie", state)
	resp, err = NoRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("the callback: %d %s", resp.StatusCode, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "jitrt_session" {
			return c.Name + "=" + c.Value, back, state
		}
	}
	t.Fatal("no session cookie")
	return "", "", ""
}
