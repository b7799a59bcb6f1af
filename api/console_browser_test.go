package api_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/jitrt/jitrt/wecom"
)

// An admin uses the console in a real browser: logs in with the token, opens the tree
// down to a member of a third-level department, finds another member by a search, opens
// their page, starts a sync and sees its report appear; a screenshot of the tree is kept.
func TestConsoleInARealBrowser(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	e := startLogin(t, loginOpts{token: consoleToken, members: 500, depts: 40})
	org := e.sim.Org()
	parent := map[int64]int64{}
	for _, d := range org.Departments {
		parent[d.ID] = d.ParentID
	}
	level := func(id int64) int {
		n := 0
		for ; parent[id] != 0; id = parent[id] {
			n++
		}
		return n
	}
	// a member directly in a department three levels below the root
	var target wecom.User
	var path []int64
	for _, u := range org.Users {
		if d := u.Department[0]; level(d) == 3 && len(u.Department) == 1 {
			target = u
			for id := d; parent[id] != 0; id = parent[id] {
				path = append([]int64{id}, path...)
			}
			break
		}
	}
	if target.UserID == "" {
		t.Fatal("the emulator's org has no member three levels down")
	}
	fail := stepFailer(t, e)

	// the login page, then the console's home with its elements and corps
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/console/corps/corps.C"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), consoleToken),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("tree")),
	)
	fail("log in with the token", err)

	// the home page follows a broken edit of the corp without a reload of the page
	fail("open the home page", chromedp.Do(ctx, chromedp.Navigate(e.url+"/console"), chromedp.WaitVisible(chromedp.CSS(`tr.element[data-element="corps.C"][data-status="ok"]`))))
	cfg := filepath.Join(e.dir, "corps", "C", "e.json")
	good, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(`{"title": "x", "type": }`), 0o644)
	e.app.ReloadElement("corps/C")
	fail("see the broken edit", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`tr.element[data-element="corps.C"][data-status="error"] pre.problem`))))
	problem, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr.element[data-element="corps.C"] pre.problem`)))
	fail("read the problem", err)
	if !strings.Contains(problem, "corps/C/e.json:1:") {
		t.Fatalf("the problem shown: %q", problem)
	}
	os.WriteFile(cfg, good, 0o644)
	e.app.ReloadElement("corps/C")
	fail("see the fix", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`tr.element[data-element="corps.C"][data-status="ok"]`)),
		chromedp.Navigate(e.url+"/console/corps/corps.C"), chromedp.WaitVisible(chromedp.ID("tree"))))

	// expand the tree level by level down to the member
	for _, id := range path {
		err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`li.dept[data-dept="%d"] > details > summary > .dname`, id))),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`li.dept[data-dept="%d"] > details > .kids.loaded`, id))),
		)
		fail(fmt.Sprintf("expand department %d", id), err)
	}
	shot := filepath.Join(t.TempDir(), "console-tree.png")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	fail("screenshot", err)
	fail("write the screenshot", os.WriteFile(shot, png, 0o644))
	if dir := os.Getenv("JITRT_SCREENSHOTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, "console-tree.png"), png, 0o644)
	}
	t.Logf("the tree page: %s (%d bytes)", shot, len(png))
	memberLink := chromedp.CSS(fmt.Sprintf(`li.dept[data-dept="%d"] tr[data-member=%q] a.member`, path[len(path)-1], target.UserID))
	fail("open the member", chromedp.Do(ctx, chromedp.Click(memberLink), chromedp.WaitVisible(chromedp.ID("memberId"))))
	name, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("name")))
	fail("read the name", err)
	depts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("tr.member-dept")].map(r => r.dataset.dept)`))
	fail("read the departments", err)
	if name != target.Name || !slices.Equal(depts, []string{fmt.Sprint(path[len(path)-1])}) {
		t.Fatalf("the member page shows %q in %v, want %q in %d", name, depts, target.Name, path[len(path)-1])
	}

	// a search by name finds another member; their page shows their roles and where they come from
	other := org.Users[7]
	e.js(fmt.Sprintf(`app.getElement("corps.C").setUserRole(%q, ["admin"])`, other.UserID))
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/console/corps/corps.C"),
		chromedp.WaitVisible(chromedp.ID("q")),
		chromedp.SendKeys(chromedp.ID("q"), other.Name),
		chromedp.Click(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-member=%q] a.member`, other.UserID))),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-member=%q] a.member`, other.UserID))),
		chromedp.WaitVisible(chromedp.ID("roles")),
	)
	fail("search", err)
	roles, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("tr.role")].map(r => r.dataset.role + ":" + r.cells[2].textContent)`))
	fail("read the roles", err)
	if !slices.Contains(roles, "admin:direct") {
		t.Fatalf("the member page shows roles %v, want admin from direct", roles)
	}

	// someone joins in WeCom; Sync now shows the new report, which names them
	fail("add a member", e.sim.AddUser(wecom.User{UserID: "BrowserNewHire", Name: "浏览器新人", Department: []int64{path[0]}}))
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/console/corps/corps.C/syncs"),
		chromedp.WaitVisible(chromedp.ID("sync-now")),
		chromedp.Click(chromedp.ID("sync-now")),
		chromedp.WaitVisible(chromedp.CSS("tr.report.new")),
	)
	fail("sync now", err)
	added, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("tr.report.new td:nth-child(4)")))
	fail("read the report", err)
	if strings.TrimSpace(added) != "1" {
		t.Fatalf("the new report says %q added, want 1", added)
	}
	fail("open the report", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("tr.report.new a")), chromedp.WaitVisible(chromedp.CSS("table.changes"))))
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("td.cname")].map(c => c.textContent)`))
	fail("read the changes", err)
	if !slices.Contains(names, "浏览器新人") {
		t.Fatalf("the report's changes %v do not name the new member", names)
	}
}

// From the console in Chromium: a role granted to a department is held by a member of a
// department below it; the grant is in the audit page with the console's viewer; taking the
// member offline from their page ends the session they had; times are in the browser's zone.
func TestConsoleAdminActionsInARealBrowser(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	e := startLogin(t, loginOpts{token: consoleToken, members: 200, depts: 20})
	org := e.sim.Org()
	parent := map[int64]int64{}
	for _, d := range org.Departments {
		parent[d.ID] = d.ParentID
	}
	// a member directly in a department whose parent is not the root
	var target wecom.User
	var top int64
	for _, u := range org.Users {
		if d := u.Department[0]; len(u.Department) == 1 && parent[d] > 1 {
			target, top = u, parent[d]
			break
		}
	}
	if target.UserID == "" {
		t.Fatal("the emulator's org has no member below a sub-department")
	}
	fail := stepFailer(t, e)
	// the member has a session of their own (another browser)
	member := newBrowser(t)
	member.loginAs(e, target.UserID)
	if status, _ := member.me(e); status != 200 {
		t.Fatalf("the member's session: %d", status)
	}

	fail("log in with the token", chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/console"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), consoleToken),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("elements")),
	))
	fail("grant admin to the department above the member's", chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/console/corps/corps.C/dept/%d", e.url, top)),
		chromedp.WaitVisible(chromedp.ID("dept-roles-form")),
		chromedp.Click(chromedp.CSS(`#dept-roles-form input[value="admin"]`)),
		chromedp.Click(chromedp.ID("set-dept-roles")),
		chromedp.WaitVisible(chromedp.ID("done")),
	))
	fail("open the member", chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/console/corps/corps.C/members/"+target.UserID),
		chromedp.WaitVisible(chromedp.ID("roles")),
	))
	roles, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("tr.role")].map(r => r.dataset.role + ":" + r.cells[2].textContent)`))
	fail("read the roles", err)
	if !slices.Contains(roles, fmt.Sprintf("admin:dept:%d", top)) {
		t.Fatalf("the member below department %d holds %v, want admin from it", top, roles)
	}
	fail("find the grant in the audit page", chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/console/corps/corps.C/audit"),
		chromedp.WaitVisible(chromedp.CSS(`tr.audit-row[data-method="setDeptRole"]`)),
	))
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr.audit-row[data-method="setDeptRole"] td.who`)))
	fail("read who granted it", err)
	if !strings.Contains(who, "console") || !strings.Contains(who, "with the API token") {
		t.Fatalf("the audit page says the grant was made by %q", who)
	}
	when, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr.audit-row[data-method="setDeptRole"] time`)))
	fail("read when", err)
	if strings.Contains(when, "UTC") || strings.Contains(when, "T") || len(when) != len("2006-01-02 15:04:05") {
		t.Fatalf("the time is not in the browser's zone, to the second: %q", when)
	}
	fail("take the member offline", chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/console/corps/corps.C/members/"+target.UserID),
		chromedp.WaitVisible(chromedp.ID("take-offline")),
		chromedp.Click(chromedp.ID("take-offline")),
		chromedp.WaitVisible(chromedp.ID("reactivate")),
	))
	if status, _ := member.me(e); status == 200 {
		t.Fatal("the member's session outlived their going offline")
	}
}

// stepFailer ends the test at a step that failed, with the server's log.
func stepFailer(t *testing.T, e *loginEnv) func(step string, err error) {
	return func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\nlog:\n%s", step, err, e.logs.String())
		}
	}
}
