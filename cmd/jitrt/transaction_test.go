package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jitrt/jitrt/internal/pgtest"
)

// rmwApp has a corp Type whose addRole reads a member's direct roles and writes them back
// with one more, inside app.transaction of its corp when inTransaction, and 30 roles.
func rmwApp(inTransaction bool) map[string]string {
	body := `const have = this.getMemberRoles(member).filter(r => r.from.includes("direct")).map(r => r.roleId);
		this.setUserRole(member, [...have, role]); return have.length + 1;`
	if inTransaction {
		body = `return app.transaction(this.fullName, () => { ` + body + ` });`
	}
	var roles []string
	for i := range 30 {
		roles = append(roles, fmt.Sprintf(`{"roleId": "r%02d"}`, i))
	}
	return map[string]string{
		"app.json":           `{"name": "rmw"}`,
		"corps/RMW/e.json":   `{"type": "corps.Meta", "extend": "corps.QywxInnerType", "callable": ["addRole"]}`,
		"corps/RMW/index.js": `exports.addRole = function (member, role) { ` + body + ` };`,
		"corps/C/e.json":     `{"type": "corps.RMW"}`,
		"corps/C/C.json":     `{"corpId": "wwrmw", "agentId": "1", "secret": "rmw-secret-1234", "simulator": {"members": 40, "departments": 3, "seed": 5}, "roles": [` + strings.Join(roles, ",") + `]}`,
	}
}

// Three replicas on one database, 30 callers at once each adding a role to the same member
// through a JS method that reads the roles and writes them back inside app.transaction of
// the corp: all 30 are kept, run after run (a member per run).
func TestThreeReplicasReadModifyWriteInATransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("three servers on PostgreSQL: make test-slow")
	}
	dbURL := pgtest.Database(t)
	bin := buildJitrt(t)
	app := writeTree(t, rmwApp(true))
	var replicas []*server
	for range 3 {
		r := startServerArgs(t, bin, app, t.TempDir(), "--store", dbURL)
		defer r.stop(t)
		replicas = append(replicas, r)
	}
	status, body := replicas[0].call(t, "corps.C", "initCorp", "{}")
	if status != 200 {
		t.Fatalf("initCorp: %d %s", status, body)
	}
	members := replicas[1].memberIDs(t, 20)
	for run := range 20 {
		member := members[run]
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if status, body := replicas[i%3].call(t, "corps.C", "addRole", fmt.Sprintf(`[%q, "r%02d"]`, member, i)); status != 200 {
					t.Errorf("run %d, addRole on replica %d: %d %s", run, i%3, status, body)
				}
			}()
		}
		wg.Wait()
		status, body := replicas[run%3].call(t, "corps.C", "getMemberRoles", fmt.Sprintf(`[%q]`, member))
		var roles []struct {
			RoleID string   `json:"roleId"`
			From   []string `json:"from"`
		}
		data(t, status, body, &roles)
		direct := 0
		for _, r := range roles {
			for _, f := range r.From {
				if f == "direct" {
					direct++
				}
			}
		}
		if direct != 30 {
			b, _ := json.Marshal(roles)
			t.Fatalf("run %d: %d of 30 roles kept over three replicas: %s", run, direct, b)
		}
	}
}

// Replicas on one database whose app folders differ: the one that starts with another
// folder warns and names the replica it differs from; /metrics on both says so; once the
// other replica is gone, it does not.
func TestReplicasWithDifferentFoldersAreTold(t *testing.T) {
	if testing.Short() {
		t.Skip("servers on PostgreSQL: make test-slow")
	}
	dbURL := pgtest.Database(t)
	bin := buildJitrt(t)
	files := rmwApp(true)
	appA := writeTree(t, files)
	files["corps/C/e.json"] = `{"type": "corps.RMW", "title": "另一个标题"}` // a title edited on one machine only
	appB := writeTree(t, files)
	differs := func(s *server) string {
		_, body, _ := s.get(t, "/metrics")
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "jitrt_app_folder_differs ") {
				return strings.TrimPrefix(line, "jitrt_app_folder_differs ")
			}
		}
		return "missing"
	}
	a := startServerArgs(t, bin, appA, t.TempDir(), "--store", dbURL)
	defer a.stop(t)
	if got := differs(a); got != "0" {
		t.Fatalf("one replica alone: jitrt_app_folder_differs %s", got)
	}
	same := startServerArgs(t, bin, writeTree(t, rmwApp(true)), t.TempDir(), "--store", dbURL) // the same folder elsewhere
	if got := differs(same); got != "0" {
		t.Fatalf("a replica with the same folder: jitrt_app_folder_differs %s", got)
	}
	same.stop(t)
	b := startServerArgs(t, bin, appB, t.TempDir(), "--store", dbURL)
	b.mu.Lock()
	logs := b.logs.String()
	b.mu.Unlock()
	if !strings.Contains(logs, "app folder differs") || !strings.Contains(logs, fmt.Sprintf("pid %d", a.cmd.Process.Pid)) {
		t.Fatalf("the replica with another folder did not warn, naming the other:\n%s", logs)
	}
	if got := differs(b); got != "1" {
		t.Fatalf("the replica with another folder: jitrt_app_folder_differs %s", got)
	}
	if got := differs(a); got != "1" {
		t.Fatalf("the replica beside one with another folder: jitrt_app_folder_differs %s", got)
	}
	// the console's home page says so too, naming the other replica (no token: loopback)
	if status, page, _ := a.get(t, "/console/"); status != 200 || !strings.Contains(page, `id="drift"`) || !strings.Contains(page, fmt.Sprintf("pid %d", b.cmd.Process.Pid)) {
		t.Fatalf("the console beside a replica with another folder (%d) does not warn naming it:\n%s", status, page)
	}
	b.stop(t)
	if got := differs(a); got != "0" {
		t.Fatalf("after the other replica stopped: jitrt_app_folder_differs %s", got)
	}
	if _, page, _ := a.get(t, "/console/"); strings.Contains(page, `id="drift"`) {
		t.Fatal("the console still warns after the other replica stopped")
	}
}
