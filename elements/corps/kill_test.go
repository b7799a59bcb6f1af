package corps_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

const killMembers, killDepts = 8_000, 200

// writeKillApp writes an app whose corp syncs the built-in emulator's org of that seed.
func writeKillApp(t *testing.T, dir string, seed int) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "corps/K"), 0o755)
	os.WriteFile(filepath.Join(dir, "corps/K/e.json"), []byte(`{"title": "K", "type": "corps.QywxInnerType"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "corps/K/K.json"), []byte(fmt.Sprintf(
		`{"corpId": "wwkill", "agentId": "1", "secret": "kill-secret", "simulator": {"members": %d, "departments": %d, "seed": %d}}`,
		killMembers, killDepts, seed)), 0o644)
}

// killChild is the child process: it syncs and reports when the fetch is done.
func killChild() {
	app, err := runtime.Load(context.Background(), os.Getenv("KILL_APP"), runtime.Options{DataDir: os.Getenv("KILL_DATA"), Services: simwire.Services()})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	ctx := elements.WithProgress(context.Background(), func(phase string, done, total int) {
		if phase == "tags" && done == total {
			fmt.Println("FETCHED")
		}
	})
	if _, err := app.CallJSON(ctx, "corps.K", "initCorp", nil); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	app.Close()
	fmt.Println("DONE")
	os.Exit(0)
}

// activeIDs reads the reopened store's active members.
func activeIDs(t *testing.T, appDir, data string) (active []string, total int, dropped int64) {
	t.Helper()
	app, err := runtime.Load(context.Background(), appDir, runtime.Options{DataDir: data, Services: simwire.Services()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	dropped = app.Store().Dropped()
	var out strings.Builder
	res, err := app.Host().Run(context.Background(), runtime.Script{Code: `const d = app.getElement("corps.K").getLocalCorpData();
		[d.userList.filter(u => u.status === "active").map(u => u.memberId + "=" + u.name), d.userList.length, d.thirdAuthList.length]`, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	var inner []any
	if err := jsonUnmarshal(res.JSON, &inner); err != nil {
		t.Fatal(err)
	}
	for _, x := range inner[0].([]any) {
		active = append(active, x.(string))
	}
	if int(inner[1].(float64)) != int(inner[2].(float64)) {
		t.Fatalf("%v members but %v auth records: a mix", inner[1], inner[2])
	}
	sort.Strings(active)
	return active, int(inner[1].(float64)), dropped
}

func orgIDs(seed int64) []string {
	var ids []string
	for _, u := range wecomsim.Generate(killMembers, killDepts, seed).Users {
		ids = append(ids, u.UserID+"="+u.Name)
	}
	sort.Strings(ids)
	return ids
}

func TestKillDuringApplyReopensToOldOrNew(t *testing.T) {
	if os.Getenv("KILL_CHILD") == "1" {
		killChild()
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	old, fresh := orgIDs(1), orgIDs(2)
	// How long the apply takes: from FETCHED to the end of an unkilled run.
	window := func() time.Duration {
		appDir, data := t.TempDir(), t.TempDir()
		writeKillApp(t, appDir, 1)
		if out, err := spawn(appDir, data).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		writeKillApp(t, appDir, 2)
		cmd := spawn(appDir, data)
		stdout, _ := cmd.StdoutPipe()
		cmd.Start()
		sc := bufio.NewScanner(stdout)
		var fetched time.Time
		for sc.Scan() {
			if sc.Text() == "FETCHED" {
				fetched = time.Now()
			}
		}
		cmd.Wait()
		return time.Since(fetched)
	}()
	t.Logf("apply window after the fetch: %s", window)
	// Kills spread over the apply window, and kills the moment the state file starts to
	// grow (the write of the diff has begun): those land in the middle of the write.
	const spread, onGrowth = 5, 3
	outcomes := map[string]int{}
	dropped := 0
	for i := 0; i < spread+onGrowth; i++ {
		appDir, data := t.TempDir(), t.TempDir()
		writeKillApp(t, appDir, 1)
		// the old state: a finished sync of seed 1
		if out, err := spawn(appDir, data).CombinedOutput(); err != nil || !strings.Contains(string(out), "DONE") {
			t.Fatalf("first sync: %v\n%s", err, out)
		}
		// the new one: seed 2, killed during its apply
		writeKillApp(t, appDir, 2)
		cmd := spawn(appDir, data)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && sc.Text() != "FETCHED" {
			if strings.HasPrefix(sc.Text(), "ERROR") {
				t.Fatal(sc.Text())
			}
		}
		if i < spread {
			// kills spread over the window, with jitter
			time.Sleep(window*time.Duration(i)/spread + time.Duration(rand.Int64N(int64(window/spread)+1)))
		} else {
			path := filepath.Join(data, "state.db")
			fi, _ := os.Stat(path)
			for size := fi.Size(); ; {
				if fi, err := os.Stat(path); err == nil && fi.Size() > size {
					break
				}
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		active, _, drop := activeIDs(t, appDir, data)
		if drop > 0 {
			dropped++
		}
		switch {
		case equalStrings(active, old):
			outcomes["old"]++
		case equalStrings(active, fresh):
			outcomes["new"]++
		default:
			t.Fatalf("reopened to a mix: %d active members, neither the old org (%d) nor the new (%d)", len(active), len(old), len(fresh))
		}
	}
	t.Logf("outcomes after SIGKILL during the apply: %v; %d kills cut the write short, and reopening dropped it", outcomes, dropped)
	if dropped == 0 {
		t.Fatal("no kill landed in the middle of a write: the test did not try what it is for")
	}
}

func spawn(appDir, data string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringApplyReopensToOldOrNew$")
	cmd.Env = append(os.Environ(), "KILL_CHILD=1", "KILL_APP="+appDir, "KILL_DATA="+data)
	return cmd
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Linux amd64 numbers of the system calls a write of the state file is made of.
const sysPwrite64, sysFsync, sysFdatasync = 18, 74, 75

// killInWrite stops the process again and again, at random moments, until one of its
// threads is inside a write or sync of the state file at path, and kills it there: the
// transaction it was writing had begun on disk but was not yet durable. It reports whether
// it caught one in tries stops; either way the process ends killed.
func killInWrite(t *testing.T, p *os.Process, path string, tries int) bool {
	t.Helper()
	defer p.Kill()
	if goruntime.GOOS != "linux" || goruntime.GOARCH != "amd64" {
		return false
	}
	for try := 0; try < tries; try++ {
		if err := p.Signal(syscall.SIGSTOP); err != nil {
			return false
		}
		if waitStopped(p.Pid) && inStateWrite(p.Pid, path) {
			p.Kill()
			return true
		}
		p.Signal(syscall.SIGCONT)
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond) // a random moment of the loop
	}
	return false
}

// waitStopped waits until every thread of pid has stopped (its state is T in its stat).
func waitStopped(pid int) bool {
	for spin := 0; spin < 10_000; spin++ {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return false
		}
		stopped := true
		for _, task := range tasks {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // the thread ended
			}
			// pid (comm) STATE ...: comm may hold spaces, the state follows its last ')'
			if i := strings.LastIndexByte(string(stat), ')'); i < 0 || i+2 >= len(stat) || (stat[i+2] != 'T' && stat[i+2] != 't') {
				stopped = false
				break
			}
		}
		if stopped {
			return true
		}
		goruntime.Gosched()
	}
	return false
}

// inStateWrite says whether a thread of the stopped pid is in pwrite64, fsync or fdatasync
// of the file at path (/proc/PID/task/TID/syscall: the number, then the arguments in hex).
func inStateWrite(pid int, path string) bool {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	fds := map[uint64]bool{}
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range entries {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); err == nil && target == path {
			n, _ := strconv.ParseUint(e.Name(), 10, 64)
			fds[n] = true
		}
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name()))
		f := strings.Fields(string(raw))
		if err != nil || len(f) < 2 {
			continue
		}
		nr, _ := strconv.Atoi(f[0])
		fd, _ := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
		if (nr == sysPwrite64 || nr == sysFsync || nr == sysFdatasync) && fds[fd] {
			return true
		}
	}
	return false
}
