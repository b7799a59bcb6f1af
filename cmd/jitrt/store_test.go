package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/internal/pgtest"
	"github.com/jitrt/jitrt/kv"
)

var storeApp = map[string]string{
	"app.json":       `{"name": "Store Test"}`,
	"corps/C/e.json": `{"type": "corps.QywxInnerType"}`,
	"corps/C/C.json": `{"corpId": "wwstore", "agentId": "1", "secret": "store-secret-1234", "simulator": {"members": 20, "departments": 3, "seed": 4}}`,
}

// The state in PostgreSQL: what one jitrt writes, another reads with a data folder of its
// own (another machine); a second owner waits and is told who holds it; the URL's
// password shows nowhere.
func TestStateInPostgres(t *testing.T) {
	base := pgtest.Database(t)
	const pw = "pg-url-password-5678"
	url := strings.Replace(base, "jitrt@", "jitrt:"+pw+"@", 1) // trust auth: any password passes
	app := writeTree(t, storeApp)
	machineA, machineB := t.TempDir(), t.TempDir()
	var outputs []string
	run := func(want int, args ...string) string {
		t.Helper()
		code, out, errs := jitrt(t, args...)
		outputs = append(outputs, out, errs)
		if code != want {
			t.Fatalf("jitrt %v: exit %d, want %d\n%s%s", args, code, want, out, errs)
		}
		return out + errs
	}
	run(0, "call", app, "corps.C", "initCorp", "--store", url, "--data", machineA)
	// (stdout first: the JSON; then stderr, which warns of the password in argv)
	member := strings.Trim(strings.SplitN(strings.TrimSpace(run(0, "exec", app, "-e", `app.getElement("corps.C").listMembers({limit: 1}).members[0].memberId`, "--store", url, "--data", machineA)), "\n", 2)[0], `"`)
	run(0, "call", app, "corps.C", "setAdmin", `[["`+member+`"]]`, "--store", url, "--data", machineA)
	if out := run(0, "call", app, "corps.C", "getAdmin", "--store", url, "--data", machineB); !strings.Contains(out, member) {
		t.Fatalf("machine B reads %s, want admin %s", out, member)
	}
	if out := run(0, "ls", app, "--store", url, "--data", machineB); !strings.Contains(out, "corps.C") {
		t.Fatalf("ls: %s", out)
	}
	if entries, _ := os.ReadDir(machineA); hasFile(entries, "state.db") {
		t.Fatal("a state file was written beside the database")
	}
	// each machine keeps a copy of the state in its data folder and opens from it, then
	// reads what was committed since: machine B's change reaches machine A
	copies, _ := filepath.Glob(filepath.Join(machineA, "pgcopy-*.db"))
	if len(copies) != 1 {
		t.Fatalf("machine A's data folder holds %d copies of the state, want 1", len(copies))
	}
	if held, err := os.ReadFile(copies[0]); err != nil || !strings.Contains(string(held), member) || strings.Contains(string(held), pw) {
		t.Fatalf("machine A's copy of the state (%v): holds the admin %v, the URL's password %v", err, strings.Contains(string(held), member), strings.Contains(string(held), pw))
	}
	other := strings.Trim(strings.SplitN(strings.TrimSpace(run(0, "exec", app, "-e", `app.getElement("corps.C").listMembers({limit: 2}).members[1].memberId`, "--store", url, "--data", machineB)), "\n", 2)[0], `"`)
	run(0, "call", app, "corps.C", "setAdmin", `[["`+other+`"]]`, "--store", url, "--data", machineB)
	if out := run(0, "call", app, "corps.C", "getAdmin", "--store", url, "--data", machineA); !strings.Contains(out, other) || strings.Contains(out, member) {
		t.Fatalf("machine A reads %s after machine B made %s the admin", out, other)
	}
	run(0, "call", app, "corps.C", "setAdmin", `[["`+member+`"]]`, "--store", url, "--data", machineA)
	// app.json names the database through the environment
	app2 := writeTree(t, map[string]string{
		"app.json":       `{"name": "Store Test", "store": "${JITRT_TEST_DATABASE_URL}"}`,
		"corps/C/e.json": storeApp["corps/C/e.json"],
		"corps/C/C.json": storeApp["corps/C/C.json"],
	})
	t.Setenv("JITRT_TEST_DATABASE_URL", url)
	if out := run(0, "call", app2, "corps.C", "getAdmin", "--data", t.TempDir()); !strings.Contains(out, member) {
		t.Fatalf("through app.json: %s", out)
	}
	// a second process, on another machine, shares the database with a jitrt run; a
	// migrate, which needs it alone, is refused and told who shares it
	srv := startServerArgs(t, buildJitrt(t), app, machineA, "--store", url)
	if out := run(0, "call", app, "corps.C", "getAdmin", "--store", url, "--data", t.TempDir(), "--lock-timeout", "200ms"); !strings.Contains(out, member) {
		t.Fatalf("a call beside jitrt run: %s", out)
	}
	out := run(1, "migrate", app, "--to", url, "--force", "--data", t.TempDir(), "--lock-timeout", "200ms")
	if !strings.Contains(out, "in use by pid") || !strings.Contains(out, "jitrt run") {
		t.Fatalf("a migrate beside jitrt run: %s", out)
	}
	srv.stop(t)
	// a database that does not answer: the message names it, without the password
	out = run(1, "ls", app, "--store", strings.Replace(url, "127.0.0.1", "127.0.0.2", 1)+"&connect_timeout=1", "--data", machineB)
	if !strings.Contains(out, "jitrt:xxxxx@127.0.0.2") {
		t.Fatalf("an unreachable database: %s", out)
	}
	srv.mu.Lock()
	outputs = append(outputs, srv.logs.String())
	srv.mu.Unlock()
	for _, o := range outputs {
		if strings.Contains(o, pw) {
			t.Fatalf("the URL's password was shown:\n%s", o)
		}
	}
}

func hasFile(entries []os.DirEntry, name string) bool {
	for _, e := range entries {
		if e.Name() == name {
			return true
		}
	}
	return false
}

// jitrt migrate copies the state file into PostgreSQL and back, checked by count and
// canonical dump; a destination that holds records is refused unless --force.
func TestMigrateToPostgresAndBack(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a second PostgreSQL server and a sync: make test-slow")
	}
	url := pgtest.Start(t)
	app, data := writeTree(t, storeApp), t.TempDir()
	if code, _, errs := jitrt(t, "call", app, "corps.C", "initCorp", "--data", data); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := jitrt(t, "migrate", app, "--to", url, "--data", data)
	if code != 0 || !strings.Contains(out, "#jitrt_store_test; both hold") {
		t.Fatalf("migrate --to: %d %s %s", code, out, errs)
	}
	dump := out[strings.Index(out, "sha256:"):]
	// the state file is marked as moved: opened without --store, it is refused, with the
	// database to use (its password masked)
	code, _, errs = jitrt(t, "exec", app, "--data", data, "-e", "1")
	if code == 0 || !strings.Contains(errs, "moved to PostgreSQL") || !strings.Contains(errs, kv.RedactURL(url)) || !strings.Contains(errs, "jitrt_store_test") {
		t.Fatalf("exec on the state file after migrate --to: %d %s", code, errs)
	}
	if pw, ok := urlPassword(url); ok && strings.Contains(errs, pw) {
		t.Fatalf("the refusal shows the database's password: %s", errs)
	}
	if code, out, errs := jitrt(t, "exec", app, "--store", url, "--data", data, "-e", "1"); code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("exec with --store after migrate --to: %d %s %s", code, out, errs)
	}
	if code, _, errs := jitrt(t, "migrate", app, "--to", url, "--data", data); code != 1 || !strings.Contains(errs, "--force replaces them") {
		t.Fatalf("a second migrate --to: %d %s", code, errs)
	}
	back := t.TempDir()
	code, out, errs = jitrt(t, "migrate", app, "--from", url, "--data", back)
	if code != 0 || !strings.HasSuffix(out, dump) {
		t.Fatalf("migrate --from: %d %s %s (want %s)", code, out, errs, dump)
	}
	// what came back serves: the org is there
	if code, out, errs := jitrt(t, "org", app, "C", "--depth", "0", "--data", back); code != 0 || !strings.Contains(out, "20 members") {
		t.Fatalf("org after the round trip: %d %s %s", code, out, errs)
	}
	if code, out, errs = jitrt(t, "migrate", app, "--from", url, "--data", back, "--force"); code != 0 || !strings.HasSuffix(out, dump) {
		t.Fatalf("migrate --from --force: %d %s %s", code, out, errs)
	}
	// brought back into the first file: the mark is off, the file serves again
	if code, out, errs = jitrt(t, "migrate", app, "--from", url, "--data", data, "--force"); code != 0 || !strings.HasSuffix(out, dump) {
		t.Fatalf("migrate --from --force into the moved file: %d %s %s", code, out, errs)
	}
	if code, out, errs := jitrt(t, "exec", app, "--data", data, "-e", "1"); code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("exec on the state file brought back: %d %s %s", code, out, errs)
	}
	for _, bad := range [][]string{{"migrate", app}, {"migrate", app, "--to", "/tmp/x"}} {
		if code, _, _ := jitrt(t, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

// --store env:NAME reads the URL from a variable, so its password is not in the process
// list; a password given on the command line is warned of (and never printed).
func TestStoreURLFromTheEnvironment(t *testing.T) {
	app := writeTree(t, storeApp)
	code, _, errs := jitrt(t, "ls", app, "--store", "env:JITRT_TEST_NO_SUCH_VARIABLE")
	if code != 2 || !strings.Contains(errs, "the environment variable JITRT_TEST_NO_SUCH_VARIABLE is not set") {
		t.Fatalf("an unset variable: %d %s", code, errs)
	}
	const pw = "argv-password-4321"
	code, out, errs := jitrt(t, "ls", app, "--store", "postgres://jitrt:"+pw+"@127.0.0.1:1/x?connect_timeout=1", "--data", t.TempDir())
	if code == 0 || !strings.Contains(errs, "--store holds a password") || !strings.Contains(errs, "--store env:NAME") || strings.Contains(out+errs, pw) {
		t.Fatalf("a password in argv: %d\n%s%s", code, out, errs)
	}
	t.Setenv("JITRT_TEST_STORE_URL", "postgres://jitrt:"+pw+"@127.0.0.1:1/x?connect_timeout=1")
	code, out, errs = jitrt(t, "ls", app, "--store", "env:JITRT_TEST_STORE_URL", "--data", t.TempDir())
	if code == 0 || strings.Contains(errs, "holds a password") || !strings.Contains(errs, "127.0.0.1:1") || strings.Contains(out+errs, pw) {
		t.Fatalf("the URL from a variable: %d\n%s%s", code, out, errs)
	}
}

// A state written by the release before the org engine (members as WeCom records), moved
// into PostgreSQL as it is, is upgraded in place there when the corp starts, and reads as
// that release answered.
func TestALegacyStateUpgradesInPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	app := writeTree(t, map[string]string{
		"app.json":          `{"name": "legacy"}`,
		"corps/Test/e.json": `{"title": "测试企业", "type": "corps.QywxInnerType"}`,
		"corps/Test/Test.json": `{"corpId": "wwcorptest0001", "agentId": "1000002", "secret": "legacy-secret-1234",
			"apiBase": "http://127.0.0.1:9"}`,
	})
	fixture := "../../elements/corps/testdata/state-df49055"
	data := t.TempDir()
	state, err := os.ReadFile(fixture + "/state.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data+"/state.db", state, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := jitrt(t, "migrate", app, "--to", url, "--data", data); code != 0 {
		t.Fatalf("migrate: %d %s %s", code, out, errs)
	}
	raw, err := os.ReadFile(fixture + "/want.json")
	if err != nil {
		t.Fatal(err)
	}
	var want struct{ Users []map[string]any }
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ { // the first start upgrades; the second finds it done
		code, out, errs := jitrt(t, "exec", app, "--store", url, "--data", t.TempDir(), "--log-level", "info", "-e",
			`JSON.stringify(app.getElement("corps.Test").getLocalCorpData().userList)`)
		if code != 0 {
			t.Fatalf("round %d: %d %s", round, code, errs)
		}
		var s string
		var got []map[string]any
		if err := json.Unmarshal([]byte(out), &s); err != nil || json.Unmarshal([]byte(s), &got) != nil {
			t.Fatalf("round %d: %q", round, out)
		}
		if !reflect.DeepEqual(got, want.Users) {
			t.Fatalf("round %d: the members in PostgreSQL after the upgrade differ from what the release answered", round)
		}
		if round == 0 && !strings.Contains(errs, "brought up to date") {
			t.Fatalf("the first start did not upgrade the org: %s", errs)
		}
		if round == 1 && strings.Contains(errs, "brought up to date") {
			t.Fatal("the second start upgraded the org again")
		}
	}
}

// urlPassword is the password in a database URL.
func urlPassword(raw string) (string, bool) {
	u, err := neturl.Parse(raw)
	if err != nil || u.User == nil {
		return "", false
	}
	return u.User.Password()
}

// A database that stops under jitrt run: a write answers 503 unavailable with Retry-After,
// its body naming neither the database (host, port, user) nor the schema; a read is served
// from memory.
func TestADatabaseThatStopsAnswers503(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a PostgreSQL server of its own, stopped: make test-slow")
	}
	url, stop := pgtest.StartStoppable(t)
	app := writeTree(t, storeApp)
	if code, _, errs := jitrt(t, "call", app, "corps.C", "initCorp", "--store", url, "--data", t.TempDir()); code != 0 {
		t.Fatal(errs)
	}
	srv := startServerArgs(t, buildJitrt(t), app, t.TempDir(), "--store", url)
	defer srv.stop(t)
	members := srv.memberIDs(t, 2)
	setAdmin := func(id string) (*http.Response, string) {
		resp, err := hc.Post(srv.base+"/api/elements/corps.C/setAdmin", "application/json", strings.NewReader(fmt.Sprintf(`[[%q]]`, id)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := setAdmin(members[0]); resp.StatusCode != 200 || resp.Header.Get("X-Jitrt-Stale") != "" {
		t.Fatalf("setAdmin with the database up: %d %s (X-Jitrt-Stale %q)", resp.StatusCode, body, resp.Header.Get("X-Jitrt-Stale"))
	}
	stop()
	resp, body := setAdmin(members[1])
	if s, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 503 || s < 1 || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("setAdmin with the database stopped: %d (Retry-After %q) %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	u, _ := neturl.Parse(url)
	for _, leak := range []string{u.Hostname(), u.Port(), u.User.Username() + "@", "jitrt_store_test"} {
		if strings.Contains(body, leak) {
			t.Fatalf("the answer names %q: %s", leak, body)
		}
	}
	// a read is served from memory, saying it may be behind (since when it was sure)
	read, err := hc.Post(srv.base+"/api/elements/corps.C/getAdmin", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(read.Body)
	read.Body.Close()
	if s, _ := strconv.Atoi(read.Header.Get("X-Jitrt-Stale")); read.StatusCode != 200 || !strings.Contains(string(b), members[0]) || s < 1 {
		t.Fatalf("a read with the database stopped: %d %s (X-Jitrt-Stale %q)", read.StatusCode, b, read.Header.Get("X-Jitrt-Stale"))
	}
}

// With replicas on one database, a request asks the database whether another replica
// committed since (CatchUpIfBehind) only once it is known to read the state: an anonymous request
// the API refuses (no token), the login list and a probe cost the database nothing; an
// authorized call asks once.
func TestAnonymousRequestsAskTheDatabaseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("a replica on PostgreSQL: make test-slow")
	}
	const token = "fresh-after-auth-token"
	t.Setenv("JITRT_API_TOKEN", token)
	url := pgtest.Database(t)
	app := writeTree(t, storeApp)
	srv := startServerArgs(t, buildJitrt(t), app, t.TempDir(), "--store", url)
	defer srv.stop(t)
	asked := func() int {
		t.Helper()
		status, body, _ := srv.get(t, "/metrics", "Authorization", "Bearer "+token)
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, "jitrt_behind_checks_total "); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		t.Fatalf("/metrics (%d) has no jitrt_behind_checks_total:\n%s", status, body)
		return 0
	}
	before := asked()
	for range 20 {
		if status, body := srv.call(t, "corps.C", "getAdmin", "{}"); status != 401 {
			t.Fatalf("a call without the token: %d %s", status, body)
		}
		if status, _, _ := srv.get(t, "/healthz"); status != 401 && status != 200 {
			t.Fatalf("/healthz: %d", status)
		}
		srv.get(t, "/auth")
		srv.get(t, "/console/")
	}
	if n := asked() - before; n != 0 {
		t.Fatalf("60 anonymous requests asked the database %d times", n)
	}
	req, _ := http.NewRequest("POST", srv.base+"/api/elements/corps.C/getAdmin", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 401 { // 409 before initCorp: the call read the state all the same
		t.Fatalf("getAdmin with the token: %d", resp.StatusCode)
	}
	if n := asked() - before; n != 1 {
		t.Fatalf("an authorized call asked the database %d times, want 1", n)
	}
}
