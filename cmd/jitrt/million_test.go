package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAMillionMembers (make test-slow) syncs 1,000,000 members in 8,000 departments from
// the WeCom emulator (JITRT_MILLION_MEMBERS to change), as a user runs jitrt, and shows:
//
//   - a jitrt killed (SIGKILL) during its first sync — while it fetches, and while it
//     writes the state file — leaves the state as it was (no member) or as the sync made
//     it (every member), never a part: opened again, the unfinished write is dropped;
//   - a byte damaged inside one chunk of members is found when that chunk is first read,
//     refused with the byte and the key named, and never served: jitrt exec -e 1 and a read
//     of another member still answer, a read of every member fails naming the byte, and
//     the file is left as it was (jitrt repair then finds it).
func TestAMillionMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("a million members: make test-slow")
	}
	members := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("JITRT_MILLION_MEMBERS")); err == nil {
		members = v
	}
	bin := buildJitrt(t)
	sim := exec.Command(bin, "wecom-sim", "--corp-id", "wwmillion", "--secret", "million-secret",
		"--members", strconv.Itoa(members), "--departments", "8000", "--seed", "3")
	out, _ := sim.StdoutPipe()
	sim.Stderr = nil // a line per request
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Process.Kill(); sim.Wait() })
	var url string
	for sc := bufio.NewScanner(out); url == "" && sc.Scan(); {
		if m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatal("the emulator did not start")
	}
	go func() { bufio.NewScanner(out).Scan() }()
	app := writeTree(t, map[string]string{
		"app.json":       `{"name": "million"}`,
		"corps/M/e.json": `{"type": "corps.QywxInnerType"}`,
		"corps/M/M.json": fmt.Sprintf(`{"corpId": "wwmillion", "agentId": "1", "secret": "million-secret", "apiBase": %q}`, url),
	})
	jitrt := func(data string, script string) (string, error) {
		cmd := exec.Command(bin, "exec", app, "--data", data, "--timeout", "20m", "-e", script)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			return stdout.String() + stderr.String(), err
		}
		return strings.TrimSpace(stdout.String()), nil
	}
	// the members stored: 0 before a first sync ("no local org yet")
	const count = `let n; try { n = app.getElement("corps.M").getLocalCorpData().userList.length } catch (e) { if (!/no local org yet/.test(e.message)) throw e; n = 0 }; n`
	const sync = `app.getElement("corps.M").initCorp(); 1`

	// Killed during the first sync: the state before it, or after.
	stateFile := func(data string) string { return filepath.Join(data, "state.db") }
	for _, moment := range []string{"while it fetches", "while it writes"} {
		data := t.TempDir()
		cmd := exec.Command(bin, "exec", app, "--data", data, "--timeout", "20m", "-e", sync)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// the moment is an event: the state file made (opened, so the fetch runs), or
		// grown past a MiB (the sync's transaction, tens of MiB, is being written); polled
		// until it is seen
		for seen := false; !seen; {
			select {
			case err := <-exited:
				t.Fatalf("%s: jitrt ended before it was killed: %v\n%s", moment, err, stderr.String())
			case <-time.After(time.Millisecond):
			}
			fi, err := os.Stat(stateFile(data))
			seen = err == nil && (moment == "while it fetches" || fi.Size() > 1<<20)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		size := int64(0)
		if fi, err := os.Stat(stateFile(data)); err == nil {
			size = fi.Size()
		}
		got, err := jitrt(data, count)
		if err != nil {
			t.Fatalf("killed %s (the file at %d bytes), opened again: %v\n%s", moment, size, err, got)
		}
		if got != "0" && got != strconv.Itoa(members) {
			t.Fatalf("killed %s: %s members, want 0 (before) or %d (after)", moment, got, members)
		}
		t.Logf("killed %s, the file at %d bytes: opened again to %s members", moment, size, got)
	}

	// A whole sync, then a damaged chunk.
	data := t.TempDir()
	if got, err := jitrt(data, sync); err != nil {
		t.Fatalf("first sync: %v\n%s", err, got)
	}
	file, err := os.ReadFile(stateFile(data))
	if err != nil {
		t.Fatal(err)
	}
	// a member record in a chunk near the middle of the file, and the byte inside its value
	mid := len(file) / 2
	line := bytes.Index(file[mid:], []byte("\n[\"")) + mid + 1
	rec := file[line : line+bytes.IndexByte(file[line:], '\n')]
	id := string(rec[2 : 2+bytes.IndexByte(rec[2:], '"')])
	at := line + len(rec)/2
	chunkStart := bytes.LastIndex(file[:at], []byte("\r\n")) + 2 // the chunk's value starts after its length line
	file[at] ^= 0x20
	if err := os.WriteFile(stateFile(data), file, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := jitrt(data, `1`); err != nil || got != "1" {
		t.Fatalf("jitrt exec -e 1 on a file with a damaged chunk (not read): %v\n%s", err, got)
	}
	other := fmt.Sprintf(`app.getElement("corps.M").getMember(%q).memberId`, firstID(file[:chunkStart]))
	if got, err := jitrt(data, other); err != nil {
		t.Fatalf("a member of another chunk: %v\n%s", err, got)
	}
	named := fmt.Sprintf("damaged at byte %d", chunkStart)
	for _, script := range []string{count, fmt.Sprintf(`app.getElement("corps.M").getMember(%q).memberId`, id)} {
		got, err := jitrt(data, script)
		if err == nil || !strings.Contains(got, named) || !strings.Contains(got, "mchunk:") {
			t.Fatalf("%s read a damaged chunk: %v\n%s\n(want %q and the chunk's key)", script, err, got, named)
		}
	}
	if after, _ := os.ReadFile(stateFile(data)); !bytes.Equal(after[:len(file)], file) {
		t.Fatal("the damaged file was changed")
	}
	rep, err := exec.Command(bin, "repair", app, "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(rep), "dropped") {
		t.Fatalf("jitrt repair: %v\n%s", err, rep)
	}
}

// firstID is the id of the first member record in data (a chunk's line).
func firstID(data []byte) string {
	i := bytes.LastIndex(data, []byte("\n[\"")) + 3
	return string(data[i : i+bytes.IndexByte(data[i:], '"')])
}
