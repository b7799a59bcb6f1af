package corps_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitrt/jitrt/elements/corps"
	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

// capturingSim provides the emulator and keeps each one started, by corpId.
type capturingSim struct {
	mu   sync.Mutex
	sims map[string]*wecomsim.Server
}

func (c *capturingSim) services() map[string]any {
	return map[string]any{corps.SimulatorService: corps.StartSimulator(func(_ context.Context, s corps.SimulatorSpec) (corps.Simulator, error) {
		sim, err := wecomsim.Start(wecomsim.Options{CorpID: s.CorpID, Secret: s.Secret, Members: s.Members, Departments: s.Departments, Seed: s.Seed})
		if err == nil {
			c.mu.Lock()
			c.sims[s.CorpID] = sim
			c.mu.Unlock()
		}
		return sim, err
	})}
}

const writesApp = `{"corpId": "ww%s", "agentId": "1", "secret": "writes-secret-1234", "simulator": {"members": %d, "departments": 3, "seed": %d}}`

// dump is every key and value of the state file in dir.
func dump(t *testing.T, dir string) map[string]string {
	t.Helper()
	st, err := kv.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := map[string]string{}
	st.View(func(tx *kv.Tx) error {
		return tx.Scan("", func(k, v string) bool { out[k] = v; return true })
	})
	return out
}

// only is the part of a dump under prefix.
func only(d map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range d {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// The state file cut at every byte of setUserRole, setAdmin and offlineMember writes, and
// of two corps' syncs written at once, reopens with each corp as it was before a write or
// after it, never between.
func TestCutAtEveryByteOfAWriteReopensToBeforeOrAfter(t *testing.T) {
	caps := &capturingSim{sims: map[string]*wecomsim.Server{}}
	dir, data := t.TempDir(), t.TempDir()
	for _, name := range []string{"A", "B"} {
		testapp.Write(t, dir, "corps/"+name+"/e.json", `{"type": "corps.QywxInnerType"}`)
		testapp.Write(t, dir, "corps/"+name+"/"+name+".json", fmt.Sprintf(writesApp, strings.ToLower(name), 6, len(name)))
	}
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: data, Services: caps.services()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	js := func(code string) string {
		t.Helper()
		res, err := app.Host().Run(context.Background(), runtime.Script{Code: `const a = app.getElement("corps.A"), b = app.getElement("corps.B");` + code})
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		return string(res.JSON)
	}
	js(`a.initCorp(); b.initCorp()`)
	var ids []string
	json.Unmarshal([]byte(js(`a.getLocalCorpData().userList.map(u => u.memberId)`)), &ids)
	path := filepath.Join(data, kv.FileName)
	type state struct {
		size int
		dump map[string]string
	}
	var states []state
	snap := func() {
		b, _ := os.ReadFile(path)
		states = append(states, state{len(b), dump(t, data)})
	}
	snap()
	js(fmt.Sprintf(`a.setUserRole(%q, ["admin", "member"])`, ids[0]))
	snap()
	js(fmt.Sprintf(`a.setUserRole(%q, ["member"])`, ids[0]))
	snap()
	js(fmt.Sprintf(`a.setAdmin([%q, %q])`, ids[1], ids[2]))
	snap()
	js(fmt.Sprintf(`a.offlineMember([%q, %q])`, ids[3], ids[4]))
	snap()
	// both orgs change, and both corps sync at once
	for _, id := range []string{"wwa", "wwb"} {
		sim := caps.sims[id]
		u := sim.Org().Users
		sim.RemoveUser(u[0].UserID)
		sim.UpdateUser(u[1].UserID, func(x *wecom.User) { x.Name += "（新）"; x.Position = "组长" })
		sim.AddUser(wecom.User{UserID: "newcomer", Name: "新人", Department: []int64{u[2].Department[0]}})
	}
	js(`a.syncCorp(); b.syncCorp(); 0`) // warm: the token is cached, so the syncs write only their diffs
	for _, id := range []string{"wwa", "wwb"} {
		caps.sims[id].UpdateUser("newcomer", func(x *wecom.User) { x.Name = "新人二" })
	}
	snap()
	var wg sync.WaitGroup
	for _, c := range []string{"corps.A", "corps.B"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := app.CallJSON(context.Background(), c, "syncCorp", nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	snap()
	file, _ := os.ReadFile(path)
	cut := t.TempDir()
	step := func(n int) int {
		if testing.Short() && n > states[4].size {
			return 13 // in the syncs, a sample; make test-slow cuts at every byte
		}
		return 1
	}
	cuts := 0
	for n := states[0].size; n <= len(file); n += step(n) {
		cuts++
		os.WriteFile(filepath.Join(cut, kv.FileName), file[:n], 0o600)
		got := dump(t, cut)
		for _, corp := range []string{"el:corps.A:", "el:corps.B:"} {
			mine := only(got, corp)
			if !slices.ContainsFunc(states, func(s state) bool { return maps.Equal(only(s.dump, corp), mine) }) {
				t.Fatalf("cut at byte %d of %d: %s is between two of its states", n, len(file), corp)
			}
		}
	}
	t.Logf("%d cuts of %d bytes, %d writes", cuts, len(file)-states[0].size, len(states)-1)
}

// writesChild is the child of TestKillDuringWritesReopensToBeforeOrAfter: it writes roles,
// admins and offline members in a loop until it is killed.
func writesChild() {
	caps := &capturingSim{sims: map[string]*wecomsim.Server{}}
	app, err := runtime.Load(context.Background(), os.Getenv("WRITES_APP"), runtime.Options{DataDir: os.Getenv("WRITES_DATA"), Services: caps.services()})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	ids := os.Args[len(os.Args)-1]
	fmt.Println("READY")
	_, err = app.Host().Run(context.Background(), runtime.Script{Timeout: time.Hour, Code: `
		const c = app.getElement("corps.W"), ids = ` + ids + `;
		for (let i = 0; ; i++) {
			c.setUserRole(ids[0], i % 2 ? ["member"] : ["admin"]);
			c.setAdmin(i % 2 ? [ids[3]] : [ids[1], ids[2]]);
			if (4 + 2*i + 1 < ids.length) c.offlineMember([ids[4 + 2*i], ids[5 + 2*i]]);
		}`})
	fmt.Println("ERROR", err)
	os.Exit(2)
}

// SIGKILL at any moment of setUserRole, setAdmin and offlineMember writes (a child process
// writes in a loop) reopens to a state every write left whole.
func TestKillDuringWritesReopensToBeforeOrAfter(t *testing.T) {
	if os.Getenv("WRITES_CHILD") == "1" {
		writesChild()
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	testapp.Write(t, dir, "corps/W/e.json", `{"type": "corps.QywxInnerType"}`)
	testapp.Write(t, dir, "corps/W/W.json", fmt.Sprintf(writesApp, "writes", 200, 1))
	dropped, inWrite := 0, 0
	for run := 0; run < 12; run++ {
		data := t.TempDir()
		caps := &capturingSim{sims: map[string]*wecomsim.Server{}}
		app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: data, Services: caps.services()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.CallJSON(context.Background(), "corps.W", "initCorp", nil); err != nil {
			t.Fatal(err)
		}
		res, _ := app.Host().Run(context.Background(), runtime.Script{Code: `app.getElement("corps.W").getLocalCorpData().userList.map(u => u.memberId)`})
		app.Close()
		var ids []string
		json.Unmarshal(res.JSON, &ids)
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringWritesReopensToBeforeOrAfter$", "--", string(res.JSON))
		cmd.Env = append(os.Environ(), "WRITES_CHILD=1", "WRITES_APP="+dir, "WRITES_DATA="+data)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && sc.Text() != "READY" {
			if strings.HasPrefix(sc.Text(), "ERROR") {
				t.Fatal(sc.Text())
			}
		}
		time.Sleep(time.Duration(5+rand.IntN(100)) * time.Millisecond) // some writes first
		if run%2 == 0 {
			cmd.Process.Kill() // at a random moment of the loop
		} else if killInWrite(t, cmd.Process, filepath.Join(data, kv.FileName), 5000) {
			// inside a write or sync of the state file: begun on disk, not yet durable
			inWrite++
		}
		cmd.Wait()

		app, err = runtime.Load(context.Background(), dir, runtime.Options{DataDir: data, Services: caps.services()})
		if err != nil {
			t.Fatalf("run %d: reopen: %v", run, err)
		}
		if app.Store().Dropped() > 0 {
			dropped++
		}
		res, err = app.Host().Run(context.Background(), runtime.Script{Code: `
			const c = app.getElement("corps.W"), d = c.getLocalCorpData();
			const inDepts = {};
			for (const dept of d.deptList) for (const m of c.getDeptMembers(dept.deptId)) inDepts[m.memberId] = true;
			({roles: d.roleMemberList.filter(r => r.memberId === d.userList.find(u => u.memberId === "` + ids[0] + `").memberId).map(r => r.roleId),
			  admins: c.getAdmin(),
			  status: Object.fromEntries(d.userList.map(u => [u.memberId, u.status])),
			  indexed: inDepts})`})
		app.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Roles, Admins []string
			Status        map[string]string
			Indexed       map[string]bool
		}
		json.Unmarshal(res.JSON, &got)
		// (the loop's first write is the role: none yet is the state before any write,
		// when the kill came before the child's first commit)
		if len(got.Roles) != 1 && !(len(got.Roles) == 0 && len(got.Admins) == 0) {
			t.Fatalf("run %d: %s has roles %v: one of two role changes", run, ids[0], got.Roles)
		}
		if a := strings.Join(got.Admins, ","); a != ids[3] && a != ids[1]+","+ids[2] && a != "" {
			t.Fatalf("run %d: admins %v", run, got.Admins)
		}
		offlinePairs := 0
		for p := 4; p+1 < len(ids); p += 2 {
			a, b := got.Status[ids[p]], got.Status[ids[p+1]]
			if a != b {
				t.Fatalf("run %d: one of a pair taken offline together is offline: %s %s, %s %s", run, ids[p], a, ids[p+1], b)
			}
			if a == "offline" {
				if offlinePairs != (p-4)/2 {
					t.Fatalf("run %d: pair %d is offline but an earlier one is not", run, (p-4)/2)
				}
				offlinePairs++
			}
		}
		for id, st := range got.Status {
			if (st == "active") != got.Indexed[id] {
				t.Fatalf("run %d: %s is %s but the department index says %v", run, id, st, got.Indexed[id])
			}
		}
		t.Logf("run %d: killed after %d offline pairs; roles %v, admins %v", run, offlinePairs, got.Roles, got.Admins)
	}
	t.Logf("%d of 12 kills landed inside a write or sync of the state file; %d cut a write short, which reopening dropped", inWrite, dropped)
	if inWrite == 0 && goruntime.GOOS == "linux" && goruntime.GOARCH == "amd64" {
		t.Fatal("no kill landed inside a write of the state file: the test did not try what it is for")
	}
}
