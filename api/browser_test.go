package api_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/jitrt/jitrt/internal/testwait"
)

// chromium finds Debian's Chromium. With CI=true a missing browser fails the test: CI
// installs it (.ci/run), so its absence is a broken setup, not a reason to skip.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed (apt-get install chromium); .ci/run installs it")
	}
	t.Skip("Chromium is not installed (apt-get install chromium)")
	return ""
}

// browserContext starts a headless Chromium for the test.
func browserContext(t *testing.T, more ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium leaves its singleton socket's folder in TMPDIR when it is killed, as the
		// allocator ends it: one more folder in /tmp per test run without this.
		chromedp.Env("TMPDIR="+t.TempDir()),
	)
	opts = append(opts, more...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, testwait.Hang)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// A member logs in in a real browser: the app's login sends Chromium to the emulator's
// login page, a click on the member comes back through the callback to /me, which shows
// the member's name and roles; logging out shows the logins again.
func TestLoginInARealBrowser(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	e := startLogin(t, loginOpts{})
	m := e.sim.Org().Users[12]
	e.js(fmt.Sprintf(`const c = app.getElement("corps.C"); c.setUserRole(%q, ["member"]); c.setDeptRole(%d, ["admin"])`, m.UserID, m.MainDepartment))

	member := chromedp.CSS(fmt.Sprintf(`button[data-userid=%q]`, m.UserID))
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/auth/"+loginName+"/login"),
		chromedp.WaitVisible(member),
	)
	if err != nil {
		t.Fatalf("browser: %v\nlog:\n%s", err, e.logs.String())
	}
	emulatorURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(member), chromedp.WaitVisible(chromedp.ID("name"))); err != nil {
		t.Fatalf("after the click: %v\nlog:\n%s", err, e.logs.String())
	}
	name, err1 := chromedp.Run(ctx, chromedp.Text(chromedp.ID("name")))
	memberID, err2 := chromedp.Run(ctx, chromedp.Text(chromedp.ID("memberId")))
	roles, err3 := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("tr.role")].map(r => r.dataset.role)`))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(emulatorURL, e.sim.URL()+"/wwlogin/sso/login?") {
		t.Fatalf("the login did not go to the emulator's QR login: %s", emulatorURL)
	}
	if name != m.Name || memberID != m.UserID {
		t.Fatalf("/me shows %q (%q), want %q (%q)", name, memberID, m.Name, m.UserID)
	}
	slices.Sort(roles)
	if !slices.Equal(roles, []string{"admin", "member"}) {
		t.Fatalf("/me shows roles %v, want admin (from the department) and member", roles)
	}
	err = chromedp.Do(ctx, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.CSS("a.login")))
	loggedOut, err2 := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	err = errors.Join(err, err2)
	if err != nil || loggedOut != "Not logged in" {
		t.Fatalf("after logout: %q %v", loggedOut, err)
	}
}
