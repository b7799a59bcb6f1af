package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/internal/testwait"
)

var orgApp = map[string]string{
	"app.json":       `{"name": "orgs"}`,
	"corps/C/e.json": `{"title": "C", "type": "corps.QywxInnerType"}`,
	"corps/C/C.json": `{"corpId": "wworgcmd", "agentId": "1", "secret": "org-secret-1234", "simulator": {"members": 120, "departments": 9, "seed": 3}}`,
}

// TestOrgAndMembersPrintTheLocalOrg runs jitrt org and jitrt members on their own and
// beside a running jitrt run, which answers them.
func TestOrgAndMembersPrintTheLocalOrg(t *testing.T) {
	t.Parallel()
	app, data := writeTree(t, orgApp), t.TempDir()
	if code, _, errs := jitrt(t, "org", app, "C", "--data", data); code != 1 || !strings.Contains(errs, "call initCorp() first") {
		t.Fatalf("org before initCorp: %d %s", code, errs)
	}
	if code, _, errs := jitrt(t, "call", app, "corps.C", "initCorp", "--data", data); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := jitrt(t, "call", app, "corps.C", "getThirdCorpData", "--data", data)
	if code != 0 {
		t.Fatal(errs)
	}
	var wecomOrg struct {
		DeptDict map[string]struct {
			Name     string `json:"name"`
			ParentID int64  `json:"parentid"`
		} `json:"deptDict"`
		UserDict map[string]struct {
			Name       string  `json:"name"`
			Department []int64 `json:"department"`
		} `json:"userDict"`
	}
	if err := json.Unmarshal([]byte(out), &wecomOrg); err != nil {
		t.Fatal(err)
	}

	// every department once, each under its parent, the root counting every member
	code, tree, errs := jitrt(t, "org", app, "corps.C", "--depth", "64", "--data", data)
	if code != 0 {
		t.Fatal(errs)
	}
	lines := strings.Split(strings.TrimSpace(tree), "\n")
	if len(lines) != len(wecomOrg.DeptDict) {
		t.Fatalf("%d lines for %d departments:\n%s", len(lines), len(wecomOrg.DeptDict), tree)
	}
	row := regexp.MustCompile(`^((?:[│ ]   )*)(?:[├└]── )?(.+) \[(\d+)\]  (\d+) members?`)
	var stack []string // the department ids of the lines above, by level
	for i, l := range lines {
		m := row.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d is not a department: %q", i, l)
		}
		level := len([]rune(m[1]))/4 + 1
		if i == 0 {
			level = 0
		}
		d, ok := wecomOrg.DeptDict[m[3]]
		if !ok || d.Name != m[2] {
			t.Fatalf("line %d: %q is not a department of WeCom's (%+v)", i, l, d)
		}
		if level > len(stack) || (level > 0 && stack[level-1] != strconv.FormatInt(d.ParentID, 10)) {
			t.Fatalf("line %d: %q is not drawn under its parent %d:\n%s", i, l, d.ParentID, tree)
		}
		stack = append(stack[:level], m[3])
		if i == 0 && m[4] != strconv.Itoa(len(wecomOrg.UserDict)) {
			t.Fatalf("the root counts %s members, WeCom has %d", m[4], len(wecomOrg.UserDict))
		}
	}
	if code, one, _ := jitrt(t, "org", app, "C", "--depth", "0", "--data", data); code != 0 || strings.Count(one, "\n") != 1 || !strings.Contains(one, "sub-department") {
		t.Fatalf("depth 0: %q", one)
	}

	// members: pages, a department, the offline ones
	var all []string
	for off := 0; ; off += 50 {
		code, page, errs := jitrt(t, "members", app, "C", "--offset", strconv.Itoa(off), "--data", data)
		if code != 0 {
			t.Fatal(errs)
		}
		ls := strings.Split(strings.TrimSpace(page), "\n")
		if !strings.HasPrefix(ls[0], "MEMBER ID") {
			t.Fatalf("no header: %q", page)
		}
		foot := ls[len(ls)-1]
		if strings.Contains(foot, "none from") {
			break
		}
		wantFoot := strconv.Itoa(off+1) + "–" + strconv.Itoa(min(off+50, len(wecomOrg.UserDict))) + " of " + strconv.Itoa(len(wecomOrg.UserDict))
		if !strings.HasPrefix(foot, wantFoot) || strings.Contains(foot, "--offset") != (off+50 < len(wecomOrg.UserDict)) {
			t.Fatalf("the footer %q, want %q", foot, wantFoot)
		}
		for _, l := range ls[1 : len(ls)-1] {
			f := strings.Fields(l)
			u, ok := wecomOrg.UserDict[f[0]]
			if !ok || f[1] != "active" || !strings.Contains(l, u.Name) || strconv.FormatInt(u.Department[0], 10) != f[2] {
				t.Fatalf("%q is not a WeCom member as it is: %+v", l, u)
			}
			all = append(all, f[0])
		}
		if off > 1000 {
			t.Fatal("the pages never end")
		}
	}
	if len(all) != len(wecomOrg.UserDict) {
		t.Fatalf("the pages list %d members of %d", len(all), len(wecomOrg.UserDict))
	}
	gone := all[7]
	if code, _, errs := jitrt(t, "call", app, "corps.C", "offlineMember", `[["`+gone+`"]]`, "--data", data); code != 0 {
		t.Fatal(errs)
	}
	local := map[string]string{}
	for name, args := range map[string][]string{
		"offline": {"members", app, "C", "--status", "offline"},
		"query":   {"members", app, "C", "-q", strings.ToLower(gone[:3])},
		"dept":    {"members", app, "C", "--dept", strconv.FormatInt(wecomOrg.UserDict[all[3]].Department[0], 10), "--json"},
		"tree":    {"org", app, "C"},
	} {
		code, out, errs := jitrt(t, append(args, "--data", data)...)
		if code != 0 {
			t.Fatalf("%s: %s", name, errs)
		}
		local[name] = out
	}
	if ls := strings.Split(strings.TrimSpace(local["offline"]), "\n"); len(ls) != 3 || !strings.HasPrefix(ls[1], gone+" ") || !strings.Contains(ls[1], "offline") {
		t.Fatalf("--status offline:\n%s", local["offline"])
	}
	if !strings.Contains(local["query"], gone) {
		t.Fatalf("-q %s does not find %s:\n%s", gone[:3], gone, local["query"])
	}
	if !strings.Contains(local["dept"], `"memberId": "`+all[3]+`"`) || !strings.Contains(local["dept"], `"leader"`) {
		t.Fatalf("--dept --json:\n%s", local["dept"])
	}

	// beside a running jitrt run, which holds the state, the same answers come from it
	srv := startServer(t, buildJitrt(t), app, data)
	for name, args := range map[string][]string{
		"offline": {"members", app, "C", "--status", "offline"},
		"tree":    {"org", app, "C"},
	} {
		code, out, errs := jitrt(t, append(args, "--data", data)...)
		if code != 0 || out != local[name] {
			t.Fatalf("%s beside jitrt run: %d %s\n%s\nwant\n%s", name, code, errs, out, local[name])
		}
	}
	srv.stop(t)
	if code, _, errs := jitrt(t, "members", app, "C", "--status", "asleep", "--data", data); code != 1 || !strings.Contains(errs, `status "asleep" must be active or offline`) {
		t.Fatalf("a wrong status: %d %s", code, errs)
	}
}

// A sync that fails in jitrt exec says why once: the script's error, not a log line too.
func TestAFailedSyncInExecIsPrintedOnce(t *testing.T) {
	app := writeTree(t, map[string]string{
		"app.json":       `{"name": "once"}`,
		"corps/C/e.json": `{"type": "corps.QywxInnerType"}`,
		"corps/C/C.json": `{"corpId": "wwonce", "agentId": "1", "secret": "once-secret-1234", "apiBase": "http://127.0.0.1:1"}`,
	})
	code, out, errs := jitrt(t, "exec", app, "--data", t.TempDir(), "-e", `app.getElement("corps.C").initCorp()`)
	if code == 0 || strings.Count(out+errs, "connection refused") != 1 {
		t.Fatalf("exit %d; the error should be printed once:\n%s%s", code, out, errs)
	}
}

// jitrt run without a token says at start what any process of the machine may call (the
// methods app.json's permissions do not gate) and how many are gated.
func TestRunWithoutATokenSaysWhatIsOpen(t *testing.T) {
	t.Setenv("JITRT_API_TOKEN", "")
	app := writeTree(t, map[string]string{
		"app.json":       `{"name": "open", "permissions": {"corps.C.setAdmin": ["admin"], "corps.C.getAdmin": ["admin"]}}`,
		"corps/C/e.json": `{"type": "corps.QywxInnerType"}`,
		"corps/C/C.json": `{"corpId": "wwopen", "agentId": "1", "secret": "open-secret-1234", "simulator": {"members": 5, "departments": 2, "seed": 1}}`,
	})
	srv := startServerArgs(t, buildJitrt(t), app, t.TempDir())
	defer srv.stop(t)
	open, _ := strconv.Atoi(srv.logged(t, "no API token", "open"))
	gated := srv.logged(t, "no API token", "gated")
	if open < 10 || gated != "2" {
		t.Fatalf("open %d, gated %s", open, gated)
	}
	if status, body := srv.call(t, "corps.C", "getAdmin", "{}"); status != 401 {
		t.Fatalf("a gated method called without a session: %d %s", status, body)
	}
}

// A simulated corp without callbackToken and encodingAESKey gets the emulator's events all
// the same (the two values are made for it): a change made with wecom-sim ctl reaches the
// local org with no sync. An emulator no one registered with says so when changed.
func TestASimulatedCorpWithoutACallbackConfigGetsEvents(t *testing.T) {
	app := writeTree(t, map[string]string{
		"app.json":       `{"name": "events"}`,
		"corps/C/e.json": `{"type": "corps.QywxInnerType"}`,
		"corps/C/C.json": `{"corpId": "wwevents", "agentId": "1", "secret": "events-secret-1234", "simulator": {"members": 8, "departments": 2, "seed": 3}}`,
	})
	bin := buildJitrt(t)
	srv := startServerArgs(t, bin, app, t.TempDir())
	defer srv.stop(t)
	if status, body := srv.call(t, "corps.C", "initCorp", "{}"); status != 200 {
		t.Fatalf("initCorp: %d %s", status, body)
	}
	var info struct {
		APIBase string `json:"apiBase"`
	}
	status, body := srv.call(t, "corps.C", "getCorpInfo", "{}")
	data(t, status, body, &info)
	member := srv.memberIDs(t, 1)[0]
	out, err := exec.Command(bin, "wecom-sim", "ctl", info.APIBase, "update-user", "userid="+member, "position=无需配置").CombinedOutput()
	if err != nil || strings.Contains(string(out), "no callback registered") {
		t.Fatalf("ctl: %v\n%s", err, out)
	}
	testwait.For(t, "the change to arrive as an event", func() bool {
		_, body := srv.call(t, "corps.C", "getMember", fmt.Sprintf("%q", member))
		return strings.Contains(body, "无需配置")
	})

	// an emulator of its own, with no callback: ctl says nothing is sent
	sim := exec.Command(bin, "wecom-sim", "--addr", "127.0.0.1:0", "--members", "3", "--departments", "2")
	stdout, _ := sim.StdoutPipe()
	sim.Stderr = sim.Stdout
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sim.Process.Kill(); sim.Wait() }()
	sc := bufio.NewScanner(stdout)
	simURL := ""
	for simURL == "" && sc.Scan() {
		if i := strings.Index(sc.Text(), "http://127.0.0.1:"); i >= 0 {
			simURL = strings.Fields(sc.Text()[i:])[0]
		}
	}
	go io.Copy(io.Discard, stdout)
	out, err = exec.Command(bin, "wecom-sim", "ctl", simURL, "add-department", "id=900", "name=新部门", "parentid=1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no callback registered") {
		t.Fatalf("ctl of an emulator with no callback: %v\n%s", err, out)
	}
}

// jitrt audit, beside a running jitrt run, lists the writes of every kind of caller, each
// with who made it: an HTTP call on the open loopback, a script sent by jitrt exec, jitrt
// call, a console form, a member's session, the emulator's change events, and a task whose
// sync brought what a dropped event had not.
func TestAuditListsWhoWroteTheOrg(t *testing.T) {
	app := writeTree(t, map[string]string{
		"app.json":                  `{"name": "audit", "permissions": {"corps.C.setUserRole": ["admin"]}}`,
		"corps/C/e.json":            `{"type": "corps.QywxInnerType"}`,
		"corps/C/C.json":            `{"corpId": "wwaudit", "agentId": "1", "secret": "audit-secret-1234", "simulator": {"members": 8, "departments": 2, "seed": 3}}`,
		"auths/loginTypes/L/e.json": `{"type": "auths.loginTypes.QywxInnerType"}`,
		"auths/loginTypes/L/L.json": `{"corpId": "wwaudit", "agentId": "1", "corpSecret": "audit-secret-1234", "corp": "corps.C", "simulator": true}`,
		"tasks/Sync/e.json": `{"type": "tasks.NormalType", "title": "sync", "enable": 0, "funcType": "Global", "func": "corps.C.syncCorp",
			"timerCfg": {"startTime": "2024-01-01 00:00:00", "repeat": {"repeatType": "day"}}}`,
	})
	bin := buildJitrt(t)
	dataDir := t.TempDir()
	srv := startServerArgs(t, bin, app, dataDir)
	defer srv.stop(t)
	if status, body := srv.call(t, "corps.C", "initCorp", "{}"); status != 200 {
		t.Fatalf("initCorp: %d %s", status, body)
	}
	ids := srv.memberIDs(t, 3)
	a, b, c := ids[0], ids[1], ids[2]
	if code, _, errs := jitrt(t, "exec", app, "--data", dataDir, "-e", fmt.Sprintf(`app.getElement("corps.C").setAdmin([%q])`, a)); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := jitrt(t, "call", app, "corps.C", "saveUserSignature", fmt.Sprintf(`[%q, "https://sig.example/b.png"]`, b), "--data", dataDir); code != 0 {
		t.Fatal(errs)
	}

	// a console form (the open console of a server without a token): the root passes admin down
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	page, err := browser.Get(srv.base + "/console/corps/corps.C")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindSubmatch(html)
	if m == nil {
		t.Fatalf("no CSRF token on the corp page:\n%s", html)
	}
	resp, err := browser.PostForm(srv.base+"/console/corps/corps.C/act/setDeptRole", url.Values{"csrf": {string(m[1])}, "deptId": {"1"}, "roleIdList": {"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the console's setDeptRole: %d", resp.StatusCode)
	}

	// a member's session, holding admin through the root, calls the method permissions gate
	session := srv.loginMember(t, "auths.loginTypes.L", c, srv)
	req, _ := http.NewRequest("POST", srv.base+"/api/elements/corps.C/setUserRole", strings.NewReader(fmt.Sprintf(`[%q, ["member"]]`, b)))
	req.Header.Set("Cookie", session)
	req.Header.Set("Content-Type", "application/json")
	if resp, err = hc.Do(req); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("setUserRole with %s's session: %d %s", c, resp.StatusCode, body)
	}

	var info struct {
		APIBase string `json:"apiBase"`
	}
	status, raw := srv.call(t, "corps.C", "getCorpInfo", "{}")
	data(t, status, raw, &info)
	ctl := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, append([]string{"wecom-sim", "ctl", info.APIBase}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ctl %v: %v\n%s", args, err, out)
		}
	}
	member := func(id string) string {
		_, body := srv.call(t, "corps.C", "getMember", fmt.Sprintf("%q", id))
		return body
	}
	ctl("update-user", "userid="+b, "position=审计")
	testwait.For(t, "the event to be applied", func() bool { return strings.Contains(member(b), "审计") })

	// an event WeCom drops, and a task whose sync brings the change (run at once: its actor
	// is the task, started by the HTTP caller)
	ctl("faults", "drop=1")
	ctl("add-user", "userid=newcomer", "name=新人", "department=1")
	if status, body := srv.call(t, "tasks.Sync", "run", "{}"); status != 200 {
		t.Fatalf("the task's run: %d %s", status, body)
	}
	if !strings.Contains(member("newcomer"), "新人") {
		t.Fatal("the task's sync did not bring the member the dropped event named")
	}

	code, out, errs := jitrt(t, "audit", app, "--data", dataDir, "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	var recs []struct {
		Method string
		Actor  struct{ Kind, ID, Via string }
		Result string
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var who []string
	for _, r := range recs {
		if r.Result == "ok" {
			who = append(who, fmt.Sprintf("%s by %s %s (%s)", r.Method, r.Actor.Kind, r.Actor.ID, r.Actor.Via))
		}
	}
	for _, want := range []string{
		"initCorp by loopback  ()",
		"setAdmin by script <eval> (jitrt exec)",
		"saveUserSignature by call  (jitrt call)",
		"setDeptRole by console open: no API token on a loopback address ()",
		"setUserRole by member " + c + " (auths.loginTypes.L)",
		"applyEvents by event  (wwaudit)",
		"syncCorp by task tasks.Sync (manual by loopback)",
	} {
		if !slices.Contains(who, want) {
			t.Errorf("no record %q in:\n%s", want, strings.Join(who, "\n"))
		}
	}
	code, out, _ = jitrt(t, "audit", app, "C", "--data", dataDir, "--member", b)
	if code != 0 || !strings.Contains(out, "saveUserSignature") || !strings.Contains(out, "setUserRole") || strings.Contains(out, "setAdmin") {
		t.Fatalf("audit --member %s:\n%s", b, out)
	}
}
