package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jitrt/jitrt/wecom"
)

// Where there is no terminal, a long sync writes a line now and then: none for a short
// one, then the phase, done of known, its pace and time left, at most one a period but
// at once when WeCom's call limit starts holding it back, and the end of a phase it spoke
// of.
func TestProgressWithoutATerminalIsALineNowAndThen(t *testing.T) {
	var out strings.Builder
	clock := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	l := &lineProgress{w: &out, now: func() time.Time { return clock }, after: 10 * time.Second, every: 10 * time.Second}
	at := func(d time.Duration, phase string, done, total int) {
		clock = clock.Add(d)
		l.report(phase, done, total)
	}
	// a short sync of a small org: nothing
	at(0, "departments", 0, 1)
	at(time.Second, "members", 0, 50)
	at(time.Second, "members", 50, 50)
	if out.Len() != 0 {
		t.Fatalf("a sync shorter than the first line's wait wrote:\n%s", out.String())
	}
	// one the call limit holds back early: said at once, and not again until it changes
	l = &lineProgress{w: &out, now: func() time.Time { return clock }, after: 10 * time.Second, every: 10 * time.Second}
	at(0, "members", 0, 15_000)
	at(6*time.Second, "members", 9_500, 15_000)
	at(time.Second, "members"+wecom.PacedNote, 9_500, 15_000)
	at(0, "members"+wecom.PacedNote, 9_500, 15_000)
	if want := "jitrt: sync: members 9500/15000 (63%), waiting for WeCom's call limit, 1357 a second\n"; out.String() != want {
		t.Fatalf("a fetch the limit holds back 7 s in wrote:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	l = &lineProgress{w: &out, now: func() time.Time { return clock }, after: 10 * time.Second, every: 10 * time.Second}
	at(0, "members", 0, 50_000)
	at(5*time.Second, "members", 9_500, 50_000) // not yet 10 s
	at(5*time.Second, "members", 10_000, 50_000)
	at(time.Second, "members", 10_100, 50_000) // a second after a line
	at(time.Second, "members"+wecom.PacedNote, 10_100, 50_000)
	at(49*time.Second, "members", 10_200, 50_000)
	at(50*time.Second, "members", 49_999, 50_000)
	at(0, "members", 50_000, 50_000)
	at(0, "members", 49_998, 50_000) // a late report of the phase ended
	at(time.Second, "tags", 0, 200)  // a phase over in a moment: no line
	at(0, "tags", 200, 200)
	want := []string{
		"jitrt: sync: members 10000/50000 (20%), 1000 a second, about 40s left",
		"jitrt: sync: members 10100/50000 (20%), waiting for WeCom's call limit, 842 a second",
		"jitrt: sync: members 10200/50000 (20%), 167 a second, about 3m58s left",
		"jitrt: sync: members 49999/50000 (99%), 450 a second",
		"jitrt: sync: members 50000/50000 (100%), done in 1m51s",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
