package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/pgtest"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/internal/testwait"
)

// jitrt runs the CLI in-process and returns exit code, stdout and stderr.
func jitrt(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeTree(t testing.TB, files map[string]string) string { return testapp.WriteTree(t, files) }

const demo = "../../apps/demo"

func TestCheckReportsEachProblemAndLsStillLoadsTheRest(t *testing.T) {
	os.Unsetenv("JITRT_TEST_NOT_SET")
	app := writeTree(t, map[string]string{
		"corps/Good/e.json":          `{"title": "好的", "type": "corps.QywxInnerType"}`,
		"corps/Good/Good.json":       `{"corpId": "ww1", "agentId": "1000001", "secret": "x"}`,
		"corps/Syntax/e.json":        "{\n  \"title\": \"坏\",\n  \"type\": corps.QywxInnerType\n}",
		"corps/Unknown/e.json":       "{\n  \"type\": \"corps.NoSuchType\"\n}",
		"corps/Missing/e.json":       `{"type": "corps.QywxInnerType"}`,
		"corps/Missing/Missing.json": "{\n  \"corpId\": \"ww1\",\n  \"secret\": \"x\"\n}",
		"corps/Wrong/e.json":         `{"type": "corps.QywxInnerType"}`,
		"corps/Wrong/Wrong.json":     "{\n  \"corpId\": \"ww1\",\n  \"agentId\": 1000001,\n  \"secret\": \"x\"\n}",
		"corps/Unset/e.json":         `{"type": "corps.QywxInnerType"}`,
		"corps/Unset/Unset.json":     "{\"corpId\": \"ww1\", \"agentId\": \"1\",\n  \"secret\": \"${JITRT_TEST_NOT_SET}\"}",
	})
	code, out, _ := jitrt(t, "check", app)
	if code != 1 {
		t.Errorf("exit = %d, want 1", code)
	}
	want := []string{
		`corps/Missing/Missing.json:1:1: missing required key "agentId" (string)`,
		`corps/Syntax/e.json:3:11: invalid JSON: unexpected 'c': expected a value`,
		`corps/Unknown/e.json:2:11: unknown type "corps.NoSuchType"`,
		`corps/Unset/Unset.json:2:13: environment variable JITRT_TEST_NOT_SET is not set`,
		`corps/Wrong/Wrong.json:3:14: key "agentId" must be a string, not a number`,
		`corps/Good/Good.json:1:51: warning: the secret "secret" is written in the file, where anyone who can read the app can read it: put it in the environment and write "${GOOD_SECRET}"`,
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("check printed %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n got  %s\n want %s…", i+1, lines[i], w)
		}
	}
	code, out, _ = jitrt(t, "ls", app, "--json")
	if code != 0 {
		t.Fatalf("ls exit %d", code)
	}
	var list []struct{ FullName, Status, Title, Error string }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err, out)
	}
	status := map[string]string{}
	for _, s := range list {
		status[s.FullName] = s.Status
	}
	if status["corps.Good"] != "ok" || status["corps.Wrong"] != "error" || len(list) != 6 {
		t.Errorf("ls = %s", out)
	}
	if code, out, _ := jitrt(t, "exec", app, "--data", t.TempDir(), "-e", `app.getElement("corps.Good").title`); code != 0 || out != "\"好的\"\n" {
		t.Errorf("healthy element in a broken app: %d %q", code, out)
	}
	if code, out, _ := jitrt(t, "check", demo); code != 0 || out != "" {
		t.Errorf("check of the demo: %d %q", code, out)
	}
}

func TestExecPrintsCompletionValueAsJSON(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	code, out, errs := jitrt(t, "exec", demo, "-e", `app.getElement("corps.DemoCorp").title`, "--data", data)
	if code != 0 || out != "\"演示企业\"\n" {
		t.Fatalf("exit %d out %q err %q", code, out, errs)
	}
	// flags before the positional arguments too, a file, console.log before the value
	script := filepath.Join(t.TempDir(), "s.js")
	os.WriteFile(script, []byte("console.log('first');\n({n: 1})"), 0o644)
	code, out, _ = jitrt(t, "exec", "--data", data, demo, script)
	if code != 0 || out != "first\n{\n  \"n\": 1\n}\n" {
		t.Fatalf("exit %d out %q", code, out)
	}
	code, out, _ = jitrt(t, "exec", demo, "-e", "undefined", "--data", data)
	if code != 0 || out != "" {
		t.Fatalf("undefined printed %q", out)
	}
	code, _, errs = jitrt(t, "exec", demo, "-e", "\n\nnull.x", "--data", data)
	if code != 1 || !strings.Contains(errs, "<eval>:3:") || !strings.Contains(errs, "TypeError") {
		t.Fatalf("exit %d err %q", code, errs)
	}
}

func TestExecTimeout(t *testing.T) {
	t.Parallel()
	start := time.Now()
	code, _, errs := jitrt(t, "exec", demo, "-e", "while(true){}", "--timeout", "1s", "--data", t.TempDir())
	took := time.Since(start)
	if code != 1 || !strings.Contains(errs, "timed out after 1s") {
		t.Fatalf("exit %d err %q", code, errs)
	}
	t.Logf("exec with --timeout 1s returned after %s", took)
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"exec", demo, "--no-such-flag"},
		{"exec"},
		{"exec", demo},                    // neither file nor -e
		{"exec", demo, "x.js", "-e", "1"}, // both
		{"check"},
		{"check", demo, "extra"},
		{"call", demo, "corps.DemoCorp"},
		{"call", demo, "corps.DemoCorp", "getCorpInfo", "{not json"},
		{"exec", demo, "-e", "1", "--timeout", "soon"},
		{"exec", demo, "-e", "1", "--timeout", "-1s"},
		{"exec", demo, "-e", "1", "--log-level", "loud"},
		{"no-such-command"},
	} {
		code, _, errs := jitrt(t, args...)
		if code != 2 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
	for _, cmd := range []string{"check", "exec", "ls", "call", "run", "wecom-sim"} {
		code, out, _ := jitrt(t, cmd, "--help")
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
	}
}

func TestCall(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	code, out, errs := jitrt(t, "call", demo, "corps.DemoCorp", "getCorpInfo", "--data", data)
	var info map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info["title"] != "演示企业" || info["corpId"] != "wwdemo0000000001" {
		t.Fatalf("exit %d out %s err %s", code, out, errs)
	}
	code, _, errs = jitrt(t, "call", demo, "corps.DemoCorp", "noSuchMethod", "--data", data)
	if code != 1 || !strings.Contains(errs, `has no method "noSuchMethod"`) {
		t.Fatalf("exit %d err %s", code, errs)
	}
	code, _, errs = jitrt(t, "call", demo, "corps.Nope", "getCorpInfo", "--data", data)
	if code != 1 || !strings.Contains(errs, `no element "corps.Nope"`) {
		t.Fatalf("exit %d err %s", code, errs)
	}
}

// TestSecretNeverShown tries every way a script, a command or a log line could show the
// secret, and greps all of it.
func TestSecretNeverShown(t *testing.T) {
	t.Parallel()
	const secret = "the-real-secret-7b3f19a2c4"
	bin := buildJitrt(t)
	data := t.TempDir()
	var all strings.Builder
	for _, args := range [][]string{
		{"exec", demo, "--log-level", "debug", "-e", `const c = app.getElement("corps.DemoCorp");
			console.log(c.authConfig, c.getCorpInfo(), app.elements(), String(c), Object.keys(c));
			console.error(JSON.stringify(c.authConfig));
			[c.authConfig, c.getCorpInfo(), c.corpFullName]`},
		{"exec", demo, "-e", `throw new Error(JSON.stringify(app.getElement("corps.DemoCorp").authConfig))`},
		{"call", demo, "corps.DemoCorp", "getCorpInfo", "--log-level", "debug"},
		{"ls", demo, "--json"},
		{"check", demo},
		{"exec", demo, "scripts/main.js", "--log-level", "debug"},
	} {
		// the real binary, as a user runs it
		cmd := exec.Command(bin, append(args, "--data", data)...)
		cmd.Env = append(os.Environ(), "WECOM_SECRET="+secret)
		out, _ := cmd.CombinedOutput()
		all.Write(out)
	}
	if strings.Contains(all.String(), secret) {
		t.Fatalf("the secret was printed:\n%s", all.String())
	}
	if !strings.Contains(all.String(), "******") {
		t.Fatalf("the masked secret never appeared; the test did not look where it should:\n%s", all.String())
	}
}

// TestRunUntilInterrupted runs the real binary and stops it with SIGINT.
func TestRunUntilInterrupted(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	cmd := exec.Command(bin, "run", demo, "--data", t.TempDir(), "--addr", "127.0.0.1:0")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	running := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "running; press Ctrl-C") {
			running = true
			break
		}
	}
	if !running {
		cmd.Process.Kill()
		t.Fatalf("run never said it was running; stdout:\n%s", stdout.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	go func() {
		for sc.Scan() {
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run exited with %v", err)
	}
	if out := stdout.String(); !strings.Contains(out, "根部门: ") || !strings.Contains(out, "管理员: [\"") || !strings.Contains(out, "本地用户数: 2000") {
		t.Errorf("entry script output missing:\n%s", stdout.String())
	}
}

// TestWecomSimServesUntilInterrupted runs the emulator command and calls it over HTTP.
func TestWecomSimServesUntilInterrupted(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	cmd := exec.Command(bin, "wecom-sim", "--corp-id", "wwcli", "--secret", "cli-secret", "--members", "50", "--departments", "5", "--seed", "3")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "wecom-sim listening on http://127.0.0.1:") {
		t.Fatalf("first line %q, %v", line, err)
	}
	url := strings.Fields(line)[3]
	resp, err := hc.Get(url + "/cgi-bin/gettoken?corpid=wwcli&corpsecret=cli-secret")
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		ErrCode     int    `json:"errcode"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.ErrCode != 0 || tok.AccessToken == "" || tok.ExpiresIn != 7200 {
		t.Fatalf("gettoken: %+v", tok)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wecom-sim exited with %v", err)
	}
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

// buildJitrt builds the jitrt binary once for the tests of this process.
func buildJitrt(t testing.TB) string {
	t.Helper()
	build()
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// build builds the binary, once: TestMain starts it at once, beside the tests that need
// no binary.
func build() {
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "jitrt-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "jitrt")
		cmd := exec.Command("go", "build", "-o", built.bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build builds it
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
}

func TestMain(m *testing.M) {
	if os.Getenv("JITRT_BENCH_SIM") == "1" {
		// the bench's emulator process: it is killed when done, so makes nothing to remove
		os.Exit(m.Run())
	}
	go build()
	code := pgtest.Main(m)
	build() // waits for the one started above
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

func TestRunRefusesAnOpenAddressWithoutAToken(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	cmd := exec.Command(bin, "run", demo, "--data", t.TempDir(), "--addr", "0.0.0.0:0")
	cmd.Env = append(os.Environ(), "JITRT_API_TOKEN=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "non-loopback address without a token") || !strings.Contains(string(out), "JITRT_API_TOKEN") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestRunServesTheAPIAndReloadsEdits edits an element while jitrt run serves it.
func TestRunServesTheAPIAndReloadsEdits(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	app := writeTree(t, map[string]string{
		"app.json":       `{"name": "e2e"}`,
		"corps/C/e.json": `{"title": "before", "type": "corps.QywxInnerType"}`,
		"corps/C/C.json": `{"corpId": "wwe2e", "agentId": "1", "secret": "e2e-secret-value", "simulator": {"members": 10, "departments": 2}}`,
		"tasks/T/e.json": `{"type": "tasks.NormalType", "funcType": "Global", "func": "corps.C.getCorpInfo", "timerCfg": {"startTime": "2024-01-01 00:00:00", "cron": "@every 1s"}}`,
	})
	cmd := exec.Command(bin, "run", app, "--data", t.TempDir(), "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "JITRT_API_TOKEN=e2e-token")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var base string
	var logs strings.Builder
	for sc.Scan() {
		logs.WriteString(sc.Text() + "\n")
		if i := strings.Index(sc.Text(), "addr=http://"); i >= 0 {
			base = strings.Fields(sc.Text()[i+5:])[0]
			break
		}
	}
	go func() {
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
		}
	}()
	if base == "" {
		t.Fatalf("no API address in the log:\n%s", logs.String())
	}
	get := func(path string) string {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer e2e-token")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := get("/api/elements/corps.C"); !strings.Contains(body, `"title":"before"`) {
		t.Fatal(body)
	}
	os.WriteFile(filepath.Join(app, "corps/C/e.json"), []byte(`{"title": "after", "type": "corps.QywxInnerType"}`), 0o644)
	deadline := time.Now().Add(testwait.Hang)
	for !strings.Contains(get("/api/elements/corps.C"), `"title":"after","status":"ok","serving":true,"generation":2`) {
		if time.Now().After(deadline) {
			t.Fatalf("the edit never showed: %s", get("/api/elements/corps.C"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if page := get("/console/elements"); !strings.Contains(page, `data-element="corps.C" data-status="ok"`) || !strings.Contains(page, "after") {
		t.Fatalf("the console's element list after the edit:\n%s", page)
	}
	for m := get("/metrics"); !strings.Contains(m, `jitrt_element_operations_total{element="tasks.T",op="task_run",result="ok"}`); m = get("/metrics") {
		if time.Now().After(deadline) {
			t.Fatalf("the task never ran:\n%s", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := get("/metrics"); !strings.Contains(m, `jitrt_reloads_total{kind="reload"} 1`) {
		t.Fatalf("metrics:\n%s", m)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run exited with %v", err)
	}
	if strings.Contains(logs.String(), "e2e-secret-value") || strings.Contains(logs.String(), "e2e-token") {
		t.Fatalf("a secret is in the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `msg="element reload" element=corps.C files=[e.json]`) {
		t.Fatalf("the reload was not logged:\n%s", logs.String())
	}
}

func TestLsShowsTaskRunsWithoutWritingState(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if code, _, errs := jitrt(t, "call", demo, "tasks.Heartbeat", "run", "--data", data); code != 0 {
		t.Fatal(errs)
	}
	before, _ := os.ReadFile(filepath.Join(data, "state.db"))
	code, out, _ := jitrt(t, "ls", demo, "--data", data)
	if code != 0 || !strings.Contains(out, "last run") || !strings.Contains(out, " ok)") {
		t.Fatalf("ls:\n%s", out)
	}
	code, out, _ = jitrt(t, "ls", demo, "--data", data, "--json")
	if code != 0 || !strings.Contains(out, `"lastRuns"`) || !strings.Contains(out, `"trigger": "manual"`) {
		t.Fatalf("ls --json:\n%s", out)
	}
	after, _ := os.ReadFile(filepath.Join(data, "state.db"))
	if string(before) != string(after) {
		t.Fatal("ls wrote to the state file")
	}
}

// TestTheDemoAppliesAChangeMadeInItsEmulator: with jitrt run apps/demo, a change made with
// jitrt wecom-sim ctl reaches the local org as an event, with no sync.
func TestTheDemoAppliesAChangeMadeInItsEmulator(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	data := t.TempDir()
	cmd := exec.Command(bin, "run", demo, "--data", data, "--addr", "127.0.0.1:0", "--no-watch")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGINT); cmd.Wait() }()
	var simURL, member string
	sc := bufio.NewScanner(stdout)
	for (simURL == "" || member == "") && sc.Scan() {
		line := sc.Text()
		if u, ok := strings.CutPrefix(line, "企业微信模拟器: "); ok {
			simURL = u
		}
		if _, rest, ok := strings.Cut(line, "update-user userid="); ok {
			member = strings.Fields(rest)[0]
		}
	}
	go io.Copy(io.Discard, stdout)
	if simURL == "" || member == "" {
		t.Fatalf("the demo did not print its emulator and a member (%q, %q)", simURL, member)
	}
	exec1 := func(code string) string {
		out, err := exec.Command(bin, "exec", demo, "--data", data, "-e", code).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", code, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	syncs := exec1(`app.getElement("corps.DemoCorp").getSyncHistory().filter(r => r.kind === "sync").length`)
	start := time.Now()
	if out, err := exec.Command(bin, "wecom-sim", "ctl", simURL, "update-user", "userid="+member, "position=实时同步").CombinedOutput(); err != nil {
		t.Fatalf("ctl: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(testwait.Hang); ; {
		if exec1(`app.getElement("corps.DemoCorp").getMember("`+member+`").position`) == `"实时同步"` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the change never reached the local org")
		}
	}
	t.Logf("the change was readable %s after ctl (an exec per look)", time.Since(start).Round(time.Millisecond))
	if now := exec1(`app.getElement("corps.DemoCorp").getSyncHistory().filter(r => r.kind === "sync").length`); now != syncs {
		t.Fatalf("a sync ran (%s → %s): the change did not come as an event", syncs, now)
	}
}

// The frictions of the command line (issue 15).
func TestCommandLineFrictions(t *testing.T) {
	t.Parallel()
	bin := buildJitrt(t)
	data := t.TempDir()
	run := func(args ...string) (string, error) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("call", demo, "corps.DemoCorp", "initCorp", "--data", data); err != nil {
		t.Fatalf("initCorp: %v\n%s", err, out)
	}
	id, err := run("exec", demo, "--data", data, "-e", `app.getElement("corps.DemoCorp").getLocalCorpData().userList[0].memberId`)
	if err != nil {
		t.Fatal(err)
	}
	id = strings.Trim(strings.TrimSpace(id), `"`)
	// a single JSON value is the one argument
	if out, err := run("call", demo, "corps.DemoCorp", "getMember", `"`+id+`"`, "--data", data); err != nil || !strings.Contains(out, `"memberId": "`+id+`"`) {
		t.Fatalf("call with one value: %v\n%s", err, out)
	}
	// a list given as the array of arguments: the error says how to pass it
	out, err := run("call", demo, "corps.DemoCorp", "setAdmin", `["`+id+`"]`, "--data", data)
	if err == nil || !strings.Contains(out, "must be an array, not a string") || !strings.Contains(out, "[[…]]") {
		t.Fatalf("setAdmin '[\"id\"]': %v\n%s", err, out)
	}
	if out, err := run("call", demo, "corps.DemoCorp", "setAdmin", `[["`+id+`"]]`, "--data", data); err != nil {
		t.Fatalf("setAdmin '[[\"id\"]]': %v\n%s", err, out)
	}
	// a property is read as a method without arguments is
	if out, err := run("call", demo, "corps.DemoCorp", "title", "--data", data); err != nil || strings.TrimSpace(out) == "" || strings.Contains(out, "no method") {
		t.Fatalf("call of a property: %v\n%s", err, out)
	}
	if out, _ := run("call", "--help"); !strings.Contains(out, "the one argument") {
		t.Fatalf("call --help says nothing of a single value:\n%s", out)
	}
	// ls and check run no script: no --timeout
	for _, c := range []string{"ls", "check"} {
		if out, _ := run(c, "--help"); strings.Contains(out, "--timeout") {
			t.Errorf("%s --help offers --timeout", c)
		}
	}
	// the emulator's summary when it stops is words, not a Go map
	cmd := exec.Command(bin, "wecom-sim", "--members", "5", "--departments", "1")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	url := strings.Fields(line)[3]
	if resp, err := hc.Get(url + "/cgi-bin/gettoken?corpid=wwsim0000000001&corpsecret=sim-secret"); err == nil {
		resp.Body.Close()
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if s := stderr.String(); !strings.Contains(s, "calls served: gettoken 1") || strings.Contains(s, "map[") {
		t.Fatalf("the emulator's summary:\n%s", s)
	}
}
