package main

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/internal/testwait"
)

// A DingTalk org on its emulator under jitrt run: jitrt sim dingtalk ctl changes the org,
// the emulator pushes DingTalk's event to jitrt run's /dingtalk/{fullName}/callback, and the
// member is there; jitrt org and jitrt members read it beside the running server; a
// standalone jitrt sim dingtalk serves and answers ctl.
func TestADingTalkOrgFollowsItsEmulator(t *testing.T) {
	app := writeTree(t, map[string]string{
		"app.json":       `{"name": "ddrun"}`,
		"corps/D/e.json": `{"type": "corps.DDInnerType"}`,
		"corps/D/D.json": `{"authConfig": {"corpId": "dingrun0001", "agentId": "1", "appKey": "dingrunkey01", "appSecret": "dd-run-secret-1234"},
			"simulator": {"members": 30, "departments": 4, "seed": 9}}`,
	})
	bin := buildJitrt(t)
	dataDir := t.TempDir()
	srv := startServerArgs(t, bin, app, dataDir)
	defer srv.stop(t)
	if status, body := srv.call(t, "corps.D", "initCorp", "{}"); status != 200 {
		t.Fatalf("initCorp: %d %s", status, body)
	}
	var info struct {
		APIBase string `json:"apiBase"`
	}
	status, body := srv.call(t, "corps.D", "getCorpInfo", "{}")
	data(t, status, body, &info)
	out, err := exec.Command(bin, "sim", "dingtalk", "ctl", info.APIBase, "add-user", "userid=ddnewbie", "name=钉钉新人", "department=1", "title=实习").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"ok":true`) || strings.Contains(string(out), "warning") {
		t.Fatalf("ctl add-user: %v\n%s", err, out)
	}
	testwait.For(t, "the pushed hire to be applied", func() bool {
		_, body := srv.call(t, "corps.D", "getMember", `"ddnewbie"`)
		return strings.Contains(body, "钉钉新人") && strings.Contains(body, "实习")
	})
	if code, out, errs := jitrt(t, "members", app, "D", "--data", dataDir); code != 0 || !strings.Contains(out, "ddnewbie") {
		t.Fatalf("jitrt members beside the server: %d\n%s%s", code, out, errs)
	}
	if code, out, errs := jitrt(t, "org", app, "D", "--data", dataDir); code != 0 || !strings.Contains(out, "31 members") {
		t.Fatalf("jitrt org beside the server: %d\n%s%s", code, out, errs)
	}
	if out, err := exec.Command(bin, "sim", "dingtalk", "ctl", info.APIBase, "fly").CombinedOutput(); err == nil || !strings.Contains(string(out), "unknown op") {
		t.Fatalf("an unknown op: %v\n%s", err, out)
	}

	// a standalone emulator
	cmd := exec.Command(bin, "sim", "dingtalk", "--members", "12", "--departments", "3")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	simURL := ""
	for simURL == "" && sc.Scan() {
		if i := strings.Index(sc.Text(), "http://127.0.0.1:"); i >= 0 {
			simURL = strings.Fields(sc.Text()[i:])[0]
		}
	}
	go io.Copy(io.Discard, stdout)
	out, err = exec.Command(bin, "sim", "dingtalk", "ctl", simURL, "stats").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"members":12`) {
		t.Fatalf("ctl stats: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "sim", "dingtalk", "ctl", simURL, "add-department", "id=900", "name=新部门", "parentid=1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no event subscription") {
		t.Fatalf("ctl of an emulator with no subscription: %v\n%s", err, out)
	}
}

// The same for Feishu: a change made with jitrt sim feishu ctl reaches jitrt run's
// /feishu/{fullName}/callback as Feishu's encrypted, signed v2.0 event.
func TestAFeishuOrgFollowsItsEmulator(t *testing.T) {
	app := writeTree(t, map[string]string{
		"app.json":       `{"name": "fsrun"}`,
		"corps/F/e.json": `{"type": "corps.FSInnerType"}`,
		"corps/F/F.json": `{"appId": "cli_fsrun000000001", "appSecret": "fs-run-secret-1234", "simulator": {"members": 30, "departments": 4, "seed": 9}}`,
	})
	bin := buildJitrt(t)
	dataDir := t.TempDir()
	srv := startServerArgs(t, bin, app, dataDir)
	defer srv.stop(t)
	if status, body := srv.call(t, "corps.F", "initCorp", "{}"); status != 200 {
		t.Fatalf("initCorp: %d %s", status, body)
	}
	var info struct {
		APIBase string `json:"apiBase"`
	}
	status, body := srv.call(t, "corps.F", "getCorpInfo", "{}")
	data(t, status, body, &info)
	out, err := exec.Command(bin, "sim", "feishu", "ctl", info.APIBase, "add-user", "user_id=fsnewbie", "name=飞书新人", "department=0", "job_title=实习").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"ok":true`) || strings.Contains(string(out), "warning") {
		t.Fatalf("ctl add-user: %v\n%s", err, out)
	}
	testwait.For(t, "the pushed hire to be applied", func() bool {
		_, body := srv.call(t, "corps.F", "getMember", `"fsnewbie"`)
		return strings.Contains(body, "飞书新人") && strings.Contains(body, "实习")
	})
	if code, out, errs := jitrt(t, "org", app, "F", "--data", dataDir); code != 0 || !strings.Contains(out, "31 members") {
		t.Fatalf("jitrt org beside the server: %d\n%s%s", code, out, errs)
	}
}
