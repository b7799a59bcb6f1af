package api_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/wecom"
)

const consoleToken = "console-token-7f3a9c2e1b"

// csrfOf is the CSRF token a console page's form carries.
func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

// The console lets in the API token (a header, or typed once into its login page) and a
// member's session with the admin role; anyone else is sent to its login page.
func TestConsoleLetsInTheTokenAndAdminsOnly(t *testing.T) {
	e := startLogin(t, loginOpts{token: consoleToken})
	b := newBrowser(t)
	p := b.get(e.url + "/console/corps/corps.C/syncs?x=1")
	if p.status != 303 || p.loc != "/console/login?next="+url.QueryEscape("/console/corps/corps.C/syncs?x=1") {
		t.Fatalf("a stranger: %d %q", p.status, p.loc)
	}
	if p := b.get(e.url + "/console/static/console.css"); p.status != 200 {
		t.Fatalf("the stylesheet is for everyone: %d", p.status)
	}
	if p := b.do("POST", e.url+"/console/corps/corps.C/sync", url.Values{"dryRun": {"0"}}); p.status != 401 || strings.Contains(p.body, "Syncs") {
		t.Fatalf("a stranger's post: %d", p.status)
	}
	login := b.get(e.url + "/console/login?next=/console/corps/corps.C")
	if login.status != 200 || !strings.Contains(login.body, `name="token"`) || !strings.Contains(login.body, "/auth/"+loginName+"/login") {
		t.Fatalf("the login page: %d\n%s", login.status, login.body)
	}
	p = b.do("POST", e.url+"/console/login", url.Values{"token": {"wrong"}, "next": {"/console/corps/corps.C"}})
	if p.status != 401 || !strings.Contains(p.body, "not the API token") || len(p.cookies) != 0 {
		t.Fatalf("a wrong token: %d %v", p.status, p.cookies)
	}
	for _, next := range []string{"https://evil.example/", "//evil.example", "/api/elements"} {
		p = newBrowser(t).do("POST", e.url+"/console/login", url.Values{"token": {consoleToken}, "next": {next}})
		if p.status != 303 || p.loc != "/console" {
			t.Fatalf("next=%s goes to %q", next, p.loc)
		}
	}
	p = b.do("POST", e.url+"/console/login", url.Values{"token": {consoleToken}, "next": {"/console/corps/corps.C"}})
	if p.status != 303 || p.loc != "/console/corps/corps.C" || len(p.cookies) != 1 || !strings.Contains(p.cookies[0], "HttpOnly") {
		t.Fatalf("the token: %d %q %v", p.status, p.loc, p.cookies)
	}
	if strings.Contains(p.cookies[0], consoleToken) {
		t.Fatal("the cookie holds the token itself")
	}
	if p := b.get(e.url + "/console/corps/corps.C"); p.status != 200 || !strings.Contains(p.body, `id="tree"`) {
		t.Fatalf("with the cookie: %d", p.status)
	}
	// a cookie changed by hand is nobody's
	forged := newBrowser(t)
	u, _ := url.Parse(e.url + "/console")
	forged.jar.SetCookies(u, parseSetCookie(t, strings.Replace(p.cookies[0], "jitrt_console=", "jitrt_console=9", 1)))
	if p := forged.get(e.url + "/console"); p.status != 303 {
		t.Fatalf("a forged cookie: %d", p.status)
	}
	// the bearer header, as scripts send it
	if p := newBrowser(t).do("GET", e.url+"/console", nil, "Authorization", "Bearer "+consoleToken); p.status != 200 {
		t.Fatalf("the bearer token: %d", p.status)
	}
	// members: a session without the admin role is told why; with it, let in
	users := e.sim.Org().Users
	m := newBrowser(t)
	m.loginAs(e, users[3].UserID)
	p = m.get(e.url + "/console")
	if p.status != 303 {
		t.Fatalf("a member without admin: %d", p.status)
	}
	if p := m.get(e.url + p.loc); !strings.Contains(p.body, "Member "+users[3].UserID+" holds no role; the console needs the admin role") {
		t.Fatalf("the login page does not say why:\n%s", p.body)
	}
	e.js(fmt.Sprintf(`app.getElement("corps.C").setUserRole(%q, ["admin"])`, users[3].UserID))
	if p := m.get(e.url + "/console"); p.status != 200 || !strings.Contains(p.body, "member "+users[3].UserID+" (admin)") {
		t.Fatalf("an admin member: %d", p.status)
	}
	// the member's page lists their live session (and never its token)
	mp := b.get(e.url + "/console/corps/corps.C/members/" + users[3].UserID)
	if strings.Count(mp.body, `class="session"`) != 1 || strings.Contains(mp.body, m.sessionToken(e)) {
		t.Fatalf("the member's sessions:\n%s", mp.body)
	}
	if p := b.get(e.url + "/console/corps/corps.C/members/" + users[4].UserID); strings.Contains(p.body, `class="session"`) {
		t.Fatalf("a member who never logged in has a session:\n%s", p.body)
	}
	// logging out of the console drops its cookie
	b.do("POST", e.url+"/console/logout", url.Values{})
	if p := b.get(e.url + "/console"); p.status != 303 {
		t.Fatalf("after logging out: %d", p.status)
	}
}

func parseSetCookie(t testing.TB, line string) []*http.Cookie {
	c, err := http.ParseSetCookie(line)
	if err != nil {
		t.Fatal(err)
	}
	return []*http.Cookie{c}
}

func htmlUnescape(s string) string { return html.UnescapeString(s) }

func (e *loginEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// The buttons need the page's CSRF token: a form from elsewhere cannot start a sync.
func TestConsoleButtonsNeedTheirCSRFToken(t *testing.T) {
	e := startLogin(t, loginOpts{})
	b := newBrowser(t)
	syncs := b.get(e.url + "/console/corps/corps.C/syncs")
	token := csrfOf(t, syncs.body)
	before := strings.Count(syncs.body, `class="report`)
	for name, form := range map[string]url.Values{
		"none":  {"dryRun": {"0"}},
		"wrong": {"dryRun": {"0"}, "csrf": {strings.Repeat("0", 32)}},
	} {
		if p := b.do("POST", e.url+"/console/corps/corps.C/sync", form); p.status != 403 || !strings.Contains(p.body, "CSRF") {
			t.Fatalf("%s: %d", name, p.status)
		}
	}
	// another browser (no cookie) with a token it read somewhere
	if p := newBrowser(t).do("POST", e.url+"/console/corps/corps.C/sync", url.Values{"dryRun": {"0"}, "csrf": {token}}); p.status != 403 {
		t.Fatalf("a token without its cookie: %d", p.status)
	}
	if n := strings.Count(b.get(e.url+"/console/corps/corps.C/syncs").body, `class="report`); n != before {
		t.Fatalf("a refused post synced: %d reports, were %d", n, before)
	}
	e.must(e.sim.AddUser(wecom.User{UserID: "NewHire", Name: "新同事", Department: []int64{1}}))
	dry := b.do("POST", e.url+"/console/corps/corps.C/sync", url.Values{"dryRun": {"1"}, "csrf": {token}})
	if dry.status != 200 || !strings.Contains(dry.body, `id="dry-report"`) || !strings.Contains(dry.body, "新同事") {
		t.Fatalf("a dry run: %d\n%s", dry.status, dry.body)
	}
	p := b.do("POST", e.url+"/console/corps/corps.C/sync", url.Values{"dryRun": {"0"}, "csrf": {token}})
	if p.status != 303 || !strings.HasPrefix(p.loc, "/console/corps/corps.C/syncs?new=") {
		t.Fatalf("sync now: %d %q", p.status, p.loc)
	}
	after := b.get(e.url + p.loc)
	if strings.Count(after.body, `class="report`) != before+1 || !strings.Contains(after.body, `class="report new"`) {
		t.Fatalf("the new report is not listed first and marked:\n%s", after.body)
	}
	// Sync now says what it changed, as a dry run does; times to the second, the full one
	// in a tooltip
	if !strings.Contains(after.body, `id="sync-report"`) || !strings.Contains(after.body, "Synced: what changed") || !strings.Contains(after.body, "新同事") {
		t.Fatalf("Sync now does not say what changed:\n%s", after.body)
	}
	if !regexp.MustCompile(`<time datetime="[^"]+" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>`).MatchString(after.body) {
		t.Fatalf("the reports' times are not to the second with the full time in a tooltip:\n%s", after.body)
	}
	rep := regexp.MustCompile(`<tr class="report new"[^>]*><td><a href="([^"]+)"`).FindStringSubmatch(after.body)
	if rep == nil {
		t.Fatal("no link to the new report")
	}
	if p := b.get(e.url + htmlUnescape(rep[1])); p.status != 200 || !strings.Contains(p.body, "新同事") || !strings.Contains(p.body, "NewHire") {
		t.Fatalf("the report does not name the new member: %d\n%s", p.status, p.body)
	}
}

// The home page counts the org's departments (all of them); a member list names each
// member's main department; a member's page lists the sessions one per line.
func TestConsoleSaysWhatANewUserLooksFor(t *testing.T) {
	e := startLogin(t, loginOpts{})
	b := newBrowser(t)
	home := b.get(e.url + "/console/")
	depts := len(e.sim.Org().Departments)
	if !regexp.MustCompile(fmt.Sprintf(`<td>%d <span class="muted">\(\d+ under `, depts)).MatchString(home.body) {
		t.Fatalf("the home page does not count the org's %d departments:\n%s", depts, home.body)
	}
	names := map[int64]string{}
	for _, d := range e.sim.Org().Departments {
		names[d.ID] = d.Name
	}
	u := e.sim.Org().Users[0]
	members := b.get(e.url + "/console/corps/corps.C/members?q=" + url.QueryEscape(u.UserID))
	if !strings.Contains(members.body, ">"+html.EscapeString(names[u.MainDepartment])+"</a>") {
		t.Fatalf("the member list does not name %s's main department %q:\n%s", u.UserID, names[u.MainDepartment], members.body)
	}
}

// Names from WeCom are text on every page: never markup, never a broken attribute.
func TestConsoleRendersHostileNamesAsText(t *testing.T) {
	e := startLogin(t, loginOpts{})
	const deptName = `<script>alert("d")</script> R&D "quoted" 'single'`
	const userName = `<img src=x onerror=alert(1)> Tom & "Jerry"`
	const position = `</td><script>alert('p')</script>`
	e.must(e.sim.AddDepartment(wecom.Department{ID: 900, Name: deptName, ParentID: 1, Order: 1 << 40}))
	e.must(e.sim.AddUser(wecom.User{UserID: "Evil.User", Name: userName, Position: position, Department: []int64{900}, IsLeaderInDept: []int{1}}))
	e.js(`app.getElement("corps.C").syncCorp()`)
	e.js(`app.getElement("corps.C").saveUserSignature("Evil.User", "https://x.example/a?b=1&c=\"><script>alert(2)</script>")`)
	b := newBrowser(t)
	b.get(e.url + "/console/corps/corps.C/syncs")
	hist := b.get(e.url + "/console/corps/corps.C/syncs").body
	rep := regexp.MustCompile(`<td><a href="(/console/corps/corps.C/syncs/[^"]+)"`).FindStringSubmatch(hist)
	if rep == nil {
		t.Fatal("no report link")
	}
	for _, path := range []string{"/console", "/console/corps/corps.C", "/console/corps/corps.C/dept/900", "/console/corps/corps.C/dept/1?fragment=1",
		"/console/corps/corps.C/dept/900?fragment=1", "/console/corps/corps.C/members?q=" + url.QueryEscape(`"Jerry"`),
		"/console/corps/corps.C/members/Evil.User", "/console/corps/corps.C/syncs", htmlUnescape(rep[1]),
		"/console/corps/corps.C/members?q=" + url.QueryEscape(`"><script>alert(3)</script>`)} {
		p := b.get(e.url + path)
		if p.status != 200 {
			t.Fatalf("%s: %d\n%s", path, p.status, p.body)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", `"quoted"`, `"Jerry"`, "</td><script>", `"><script>`} {
			if strings.Contains(p.body, raw) {
				t.Errorf("%s holds %q unescaped", path, raw)
			}
		}
		want := 1 // the console's own
		if strings.Contains(path, "fragment=1") {
			want = 0
		}
		if got := regexp.MustCompile(`<script\b`).FindAllString(p.body, -1); len(got) != want {
			t.Errorf("%s has %d script tags, want %d", path, len(got), want)
		}
	}
	if p := b.get(e.url + "/console/corps/corps.C/members/Evil.User"); !strings.Contains(p.body, "&lt;img src=x onerror=alert(1)&gt; Tom &amp; &#34;Jerry&#34;") ||
		!strings.Contains(p.body, "&lt;/td&gt;&lt;script&gt;") || !strings.Contains(p.body, "R&amp;D") {
		t.Fatalf("the member page does not show the names as text:\n%s", p.body)
	}
}

// The pages never hold the corp's secret or the API token.
func TestConsoleShowsNoSecret(t *testing.T) {
	e := startLogin(t, loginOpts{token: consoleToken})
	b := newBrowser(t)
	b.do("POST", e.url+"/console/login", url.Values{"token": {consoleToken}})
	m := e.sim.Org().Users[0].UserID
	for _, path := range []string{"/console", "/console/corps/corps.C", "/console/corps/corps.C/members/" + m, "/console/corps/corps.C/syncs",
		"/console/corps/corps.C/members", "/console/elements", "/console/login"} {
		p := b.get(e.url + path)
		if strings.Contains(p.body, loginSecret) || strings.Contains(p.body, consoleToken) {
			t.Fatalf("%s shows a secret", path)
		}
		if path != "/console/login" && p.status != 200 {
			t.Fatalf("%s: %d", path, p.status)
		}
	}
}

// Opening a department fetches that department alone: its sub-departments and members.
func TestConsoleDepartmentFragmentIsThatDepartmentAlone(t *testing.T) {
	e := startLogin(t, loginOpts{members: 300, depts: 30})
	org := e.sim.Org()
	var dept wecom.Department
	kids := map[int64][]int64{}
	for _, d := range org.Departments {
		kids[d.ParentID] = append(kids[d.ParentID], d.ID)
	}
	for _, d := range org.Departments {
		if d.ParentID != 0 && len(kids[d.ID]) > 0 {
			dept = d
			break
		}
	}
	var members []string
	leaders := 0
	for _, u := range org.Users {
		for i, d := range u.Department {
			if d == dept.ID {
				members = append(members, u.UserID)
				if i < len(u.IsLeaderInDept) && u.IsLeaderInDept[i] == 1 {
					leaders++
				}
			}
		}
	}
	p := newBrowser(t).get(fmt.Sprintf("%s/console/corps/corps.C/dept/%d?fragment=1", e.url, dept.ID))
	if p.status != 200 || strings.Contains(p.body, "<html") {
		t.Fatalf("the fragment: %d", p.status)
	}
	got := regexp.MustCompile(`<li class="dept" data-dept="(\d+)"`).FindAllStringSubmatch(p.body, -1)
	if len(got) != len(kids[dept.ID]) {
		t.Fatalf("department %d has %d sub-departments, the fragment %d", dept.ID, len(kids[dept.ID]), len(got))
	}
	rows := regexp.MustCompile(`data-member="([^"]+)"`).FindAllStringSubmatch(p.body, -1)
	if len(rows) != min(len(members), 50) {
		t.Fatalf("department %d has %d members, the fragment lists %d", dept.ID, len(members), len(rows))
	}
	if n := strings.Count(p.body, `<span class="tag">leader</span>`); len(members) <= 50 && n != leaders {
		t.Fatalf("department %d has %d leaders, the fragment marks %d", dept.ID, leaders, n)
	}
	for _, r := range rows {
		found := false
		for _, m := range members {
			found = found || m == r[1]
		}
		if !found {
			t.Fatalf("%s is not a member of %d", r[1], dept.ID)
		}
	}
	if p := newBrowser(t).get(e.url + "/console/corps/corps.C/dept/99999?fragment=1"); p.status != 404 || !strings.Contains(p.body, "99999") {
		t.Fatalf("an unknown department: %d %s", p.status, p.body)
	}
}

// The elements' list shows a broken edit with its path:line:col while the last good
// instance serves, and the fixed one again.
func TestConsoleElementsFollowEdits(t *testing.T) {
	e := startLogin(t, loginOpts{})
	b := newBrowser(t)
	cfg := filepath.Join(e.dir, "corps", "C", "e.json")
	good, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte("{\n  \"title\": \"x\",\n  \"type\": \n}"), 0o644)
	e.app.ReloadElement("corps/C")
	rows := b.get(e.url + "/console/elements").body
	if !strings.Contains(rows, `data-element="corps.C" data-status="error"`) || !strings.Contains(rows, "corps/C/e.json:4:1") || !strings.Contains(rows, "last good one serving") {
		t.Fatalf("a broken edit:\n%s", rows)
	}
	os.WriteFile(cfg, good, 0o644)
	e.app.ReloadElement("corps/C")
	if rows := b.get(e.url + "/console/elements").body; !strings.Contains(rows, `data-element="corps.C" data-status="ok"`) {
		t.Fatalf("the fixed edit:\n%s", rows)
	}
}

// The console's admin actions change the org through the one call path, each in the audit
// trail with the console's viewer: a member's direct roles, their signature (set and
// cleared), the roles a department passes down (held by a member of a department below),
// the admins, taking a member offline (their session ends) and back. A forged CSRF token
// changes nothing; a member viewer without a role app.json's permissions give the method
// is told why, and changes nothing.
func TestConsoleAdminActions(t *testing.T) {
	e := startLogin(t, loginOpts{token: "console-actions-token",
		appJSON: `{"name": "actions", "permissions": {"corps.C.setAdmin": ["admin"], "corps.C.setDeptRole": ["owner"]}}`})
	users := e.sim.Org().Users
	parent := map[int64]int64{}
	for _, d := range e.sim.Org().Departments {
		parent[d.ID] = d.ParentID
	}
	// a member two levels below a department, and another member
	var dept int64
	var below, other string
	for _, u := range users {
		if p := parent[u.MainDepartment]; p > 1 && below == "" {
			dept, below = p, u.UserID
		}
	}
	for _, u := range users {
		if u.UserID != below {
			other = u.UserID
			break
		}
	}
	if below == "" {
		t.Fatal("no member below a sub-department")
	}
	// a browser that typed the token, and a member with a session of their own
	b := newBrowser(t)
	login := b.do("POST", e.url+"/console/login", url.Values{"token": {"console-actions-token"}, "next": {"/console"}})
	if login.status != 303 {
		t.Fatalf("console login: %d %s", login.status, login.body)
	}
	base := e.url + "/console/corps/corps.C"
	memberPage := b.get(base + "/members/" + below)
	token := csrfOf(t, memberPage.body)
	act := func(b *browser, method string, form url.Values) page {
		form.Set("csrf", token)
		return b.do("POST", base+"/act/"+method, form)
	}
	roles := func(id string) string {
		return fmt.Sprint(e.js(fmt.Sprintf(`app.getElement("corps.C").getMemberRoles(%q).map(r => r.roleId + "<" + r.from.join("+")).join(" ")`, id)))
	}

	// a forged token changes nothing
	if p := b.do("POST", base+"/act/setUserRole", url.Values{"csrf": {strings.Repeat("0", 32)}, "memberId": {below}, "roleIdList": {"admin"}}); p.status != 403 {
		t.Fatalf("a forged CSRF token: %d", p.status)
	}
	if got := roles(below); got != "" {
		t.Fatalf("a forged post gave roles: %s", got)
	}
	p := act(b, "setUserRole", url.Values{"memberId": {below}, "roleIdList": {"member", "admin"}, "back": {"/console/corps/corps.C/members/" + below}})
	if p.status != 303 || !strings.Contains(p.loc, "done=setUserRole") {
		t.Fatalf("grant roles: %d %s %s", p.status, p.loc, p.body)
	}
	if got := roles(below); !strings.Contains(got, "member<direct") || !strings.Contains(got, "admin<direct") {
		t.Fatalf("after the grant: %s", got)
	}
	act(b, "setUserRole", url.Values{"memberId": {below}, "roleIdList": {"member"}})
	if got := roles(below); strings.Contains(got, "admin") {
		t.Fatalf("after taking admin away: %s", got)
	}
	act(b, "saveUserSignature", url.Values{"memberId": {below}, "signature": {"https://sig.example/c.png"}})
	act(b, "saveUserSignature", url.Values{"memberId": {below}, "signature": {""}})
	if sig := e.js(fmt.Sprintf(`app.getElement("corps.C").getUserSignature(%q).signature`, below)); sig != nil {
		t.Fatalf("the signature after clearing: %v", sig)
	}
	if p := act(b, "setDeptRole", url.Values{"deptId": {fmt.Sprint(dept)}, "roleIdList": {"admin"}}); p.status != 303 {
		t.Fatalf("a department's roles: %d %s", p.status, p.body)
	}
	if got := roles(below); !strings.Contains(got, fmt.Sprintf("admin<dept:%d", dept)) {
		t.Fatalf("a member below department %d after its grant: %s", dept, got)
	}
	deptPage := b.get(fmt.Sprintf("%s/dept/%d", base, dept))
	if !strings.Contains(deptPage.body, `value="admin" checked`) {
		t.Fatalf("the department's page does not say what it passes down:\n%s", deptPage.body)
	}
	act(b, "setAdmin", url.Values{"memberIdList": {other + ", " + below}})
	if got := e.admins(); !strings.Contains(got, other) || !strings.Contains(got, below) {
		t.Fatalf("the admins: %s", got)
	}

	// a member viewer: holds admin, not owner, which setDeptRole needs
	mb := newBrowser(t)
	mb.loginAs(e, below)
	mToken := csrfOf(t, mb.get(base+"/members/"+other).body)
	denied := mb.do("POST", base+"/act/setDeptRole", url.Values{"csrf": {mToken}, "deptId": {fmt.Sprint(dept)}, "roleIdList": {}})
	if denied.status != 403 || !strings.Contains(denied.body, "owner") {
		t.Fatalf("a member without the role: %d\n%s", denied.status, denied.body)
	}
	if got := roles(below); !strings.Contains(got, fmt.Sprintf("admin<dept:%d", dept)) {
		t.Fatalf("a refused action changed the grants: %s", got)
	}
	// taken offline from the console, the member's own session ends
	if p := act(b, "offlineMember", url.Values{"memberIdList": {below}}); p.status != 303 {
		t.Fatalf("take offline: %d %s", p.status, p.body)
	}
	if status, _ := mb.me(e); status != 401 && status != 403 {
		t.Fatalf("the offline member's session: %d", status)
	}
	act(b, "reactivateMember", url.Values{"memberIdList": {below}})

	audit := b.get(base + "/audit?member=" + url.QueryEscape(below))
	for _, method := range []string{"setUserRole", "saveUserSignature", "setAdmin", "offlineMember", "reactivateMember"} {
		if !strings.Contains(audit.body, `data-method="`+method+`"`) {
			t.Errorf("the audit page has no %s of %s", method, below)
		}
	}
	if !strings.Contains(audit.body, "console with the API token") {
		t.Fatalf("the audit page does not name the console's viewer:\n%s", audit.body)
	}
}
