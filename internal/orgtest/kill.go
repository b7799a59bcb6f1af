package orgtest

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime"
)

// KillSubject is a corp Type's built org as a process opens it, for Kill.
type KillSubject struct {
	// Corp is the element's fullName; Member and Other two active members of the org the
	// writes are about.
	Corp, Member, Other string
	// DataDir holds the built org's state (no app has it open).
	DataDir string
	// Load opens the subject's app on a data dir: in the test and in the process it kills.
	Load func(dataDir string) (*runtime.App, error)
}

// killEnv names the data dir of the child process Kill starts (the test binary again).
const killEnv = "ORGTEST_KILL_DATA"

// Kill kills a process with kill -9 while it writes the org (a signature and the admins,
// one after the other, again and again), at a different moment each round, and checks that
// the org reopens whole, as of the last write the process finished or the one it was in:
// never a write half done, never one it had finished lost. Call it from a test function of
// its own (the child is that test, run again): the caller builds the org before it, and
// the child, finding killEnv, only writes. Each write and its audit record are one: the
// reopened org's trail holds a record of every write the org holds, the last ones naming
// what the org reads, and none of a write it does not hold.
func Kill(t *testing.T, k KillSubject) {
	if data := os.Getenv(killEnv); data != "" {
		killChild(k, data)
	}
	const rounds = 20
	for round := range rounds {
		last := killRound(t, k, round)
		app, err := k.Load(k.DataDir)
		if err != nil {
			t.Fatalf("round %d: the org does not reopen after kill -9: %v", round, err)
		}
		// (a write the kill cut short is dropped as unfinished, app.Store().Dropped(); damage
		// would have refused the open)
		s := &Subject{Corp: k.Corp, App: app}
		var sig map[string]any
		s.must(t, "getUserSignature", map[string]any{"memberId": k.Member}, &sig)
		var admins []string
		s.must(t, "getAdmin", nil, &admins)
		var trail []struct {
			Method string
			Args   map[string]any
			Stored bool
		}
		s.must(t, "getAuditLog", map[string]any{"limit": 1000}, &trail)
		app.Close()
		n, ok := killWriteNumber(round, fmt.Sprint(sig["signature"]))
		if !ok || (n != last && n != last+1) {
			t.Fatalf("round %d: killed after write %d finished, the signature reads %v: neither that write nor the next", round, last, sig["signature"])
		}
		// write n saved the signature and then the admins: they are write n's, or n-1's
		if !slices.Equal(admins, killAdmins(k, n)) && !slices.Equal(admins, killAdmins(k, n-1)) {
			t.Fatalf("round %d: the signature is write %d's, the admins %v are neither its nor the write's before", round, n, admins)
		}
		// the trail: a record of each of this round's writes the org holds, and no other
		var sigs []string
		lastAdmins := ""
		for i := len(trail) - 1; i >= 0; i-- { // oldest first
			r := trail[i]
			switch {
			case !r.Stored:
			case r.Method == "saveUserSignature":
				if w, ok := killWriteNumber(round, fmt.Sprint(r.Args["signature"])); ok {
					sigs = append(sigs, strconv.Itoa(w))
				}
			case r.Method == "setAdmin":
				lastAdmins = fmt.Sprint(r.Args["memberIdList"])
			}
		}
		want := make([]string, n+1)
		for w := range want {
			want[w] = strconv.Itoa(w)
		}
		if !slices.Equal(sigs, want) {
			t.Fatalf("round %d: the org holds write %d's signature; the trail records the signatures of writes %v", round, n, sigs)
		}
		if lastAdmins != fmt.Sprint(admins) {
			t.Fatalf("round %d: the admins are %v; the trail's last setAdmin set %s", round, admins, lastAdmins)
		}
		t.Logf("round %d: killed after write %d; the org reopened as of write %d, its trail with it", round, last, n)
	}
}

// killRound starts the child, kills it after a random number of finished writes, and
// returns the number of the last write it said it finished.
func killRound(t *testing.T, k KillSubject, round int) int {
	t.Helper()
	top, _, _ := strings.Cut(t.Name(), "/")
	cmd := exec.Command(os.Args[0], "-test.run=^"+top+"$", "-test.count=1")
	// the child runs the test again, whose set-up makes temporary directories it never
	// removes (it is killed): they go under one of this test's, removed with it
	cmd.Env = append(os.Environ(), killEnv+"="+k.DataDir, "ORGTEST_KILL_ROUND="+strconv.Itoa(round), "TMPDIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAt := 3 + rand.IntN(40)
	last, killed := -1, false
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		line, open := testwait.RecvOK(t, "the writing process's next line", lines)
		if !open {
			break
		}
		if msg, ok := strings.CutPrefix(line, "ORGTEST ERROR "); ok {
			cmd.Process.Kill()
			t.Fatalf("round %d: the writing process: %s", round, msg)
		}
		if n, ok := strings.CutPrefix(line, "ORGTEST WROTE "); ok {
			last, _ = strconv.Atoi(n)
			if last >= killAt && !killed {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("round %d: the writing process ended by itself after write %d", round, last)
	}
	return last
}

// killChild is the process Kill kills: it writes until it is killed.
func killChild(k KillSubject, data string) {
	round, _ := strconv.Atoi(os.Getenv("ORGTEST_KILL_ROUND"))
	app, err := k.Load(data)
	if err != nil {
		fmt.Println("ORGTEST ERROR", err)
		os.Exit(2)
	}
	ctx := context.Background()
	for n := 0; ; n++ {
		if _, err := app.CallJSON(ctx, k.Corp, "saveUserSignature", map[string]any{"memberId": k.Member, "signature": killSignature(round, n)}); err != nil {
			fmt.Println("ORGTEST ERROR", err)
			os.Exit(2)
		}
		ids := make([]any, 0, 1)
		for _, id := range killAdmins(k, n) {
			ids = append(ids, id)
		}
		if _, err := app.CallJSON(ctx, k.Corp, "setAdmin", map[string]any{"memberIdList": ids}); err != nil {
			fmt.Println("ORGTEST ERROR", err)
			os.Exit(2)
		}
		fmt.Println("ORGTEST WROTE", n)
	}
}

func killSignature(round, n int) string {
	return fmt.Sprintf("https://sign.example/kill-%d-%d.png", round, n)
}

// killWriteNumber is the number of the write of round that saved signature.
func killWriteNumber(round int, signature string) (int, bool) {
	rest, ok := strings.CutPrefix(signature, fmt.Sprintf("https://sign.example/kill-%d-", round))
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(rest, ".png"))
	return n, err == nil
}

// killAdmins are the admins write n sets: the member on even writes, the other on odd ones.
func killAdmins(k KillSubject, n int) []string {
	if n%2 == 0 {
		return []string{k.Member}
	}
	return []string{k.Other}
}
