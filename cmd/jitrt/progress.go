package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/jitrt/jitrt/elements"
)

// minBarTotal is the smallest amount of work worth a progress bar.
const minBarTotal = 200

// Lines of progress where there is no terminal: the first once an operation has run
// progressAfter, then one every progressEvery or when its phase changes.
const (
	progressAfter = 10 * time.Second
	progressEvery = 10 * time.Second
)

// withProgress makes long operations (a sync of a large org) show their progress on w: a
// bar on a terminal; elsewhere (CI logs, pipes, a service's journal) a line now and then
// once the operation has run for a while, so that a sync paced by its platform's call
// limit for minutes is seen to move, and why it waits (the phase says so).
func withProgress(ctx context.Context, w io.Writer) context.Context {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return elements.WithProgress(ctx, barProgress(f))
	}
	l := &lineProgress{w: w, now: time.Now, after: progressAfter, every: progressEvery}
	return elements.WithProgress(ctx, l.report)
}

// barProgress draws a bar on a terminal, one per phase; a note the phase gains or loses
// (", waiting for WeCom's call limit") changes the bar's description, not the bar.
func barProgress(f *os.File) elements.ProgressFunc {
	var mu sync.Mutex
	var bar *progressbar.ProgressBar
	var base, shown string
	return func(p string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if total < minBarTotal {
			return
		}
		if b := phaseBase(p); bar == nil || b != base {
			if bar != nil {
				bar.Finish()
			}
			base, shown = b, p
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("sync: "+p),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(100_000_000), progressbar.OptionSetWidth(30))
		} else if p != shown {
			shown = p
			bar.Describe("sync: " + p)
		}
		bar.Set(done)
		if done >= total {
			bar.Finish()
			bar = nil
		}
	}
}

// phaseBase is a phase without the note a platform client may add after a comma.
func phaseBase(phase string) string {
	b, _, _ := strings.Cut(phase, ", ")
	return b
}

// lineProgress writes progress as lines, for logs: nothing for an operation shorter than
// after; then the phase, items done of known, the pace and the time left at that pace,
// once every every, and the end of a phase it spoke of. A phase with a note (the fetch
// waits for the platform's call limit) is said at once: no item is done while it lasts,
// so no later report would.
type lineProgress struct {
	w            io.Writer
	now          func() time.Time
	after, every time.Duration

	mu        sync.Mutex
	began     time.Time // the first report
	base      string    // the phase reported last, without its note
	baseStart time.Time // when that phase began
	baseDone  int       // items done when it began
	said      string    // the phase of the last line written
	saidAt    time.Time // when it was written
	spoke     bool      // a line was written of this phase
	ended     bool      // its last line was written
}

func (l *lineProgress) report(phase string, done, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.began.IsZero() {
		l.began = now
	}
	if b := phaseBase(phase); b != l.base {
		l.base, l.baseStart, l.baseDone, l.spoke, l.ended = b, now, done, false, false
	}
	noted := phase != l.base // "members, waiting for WeCom's call limit": said at once
	if l.ended || total < minBarTotal || (now.Sub(l.began) < l.after && !(noted && phase != l.said)) {
		return
	}
	finished := done >= total
	switch {
	case finished && !l.spoke:
		return // a phase that ended between two lines needs none
	case !finished && !(noted && phase != l.said) && now.Sub(l.saidAt) < l.every:
		return // one line a period, but a wait for the limit beginning
	}
	line := fmt.Sprintf("jitrt: sync: %s %d/%d (%d%%)%s", l.base, done, total, done*100/total, phase[len(l.base):])
	if finished {
		line += fmt.Sprintf(", done in %s", now.Sub(l.baseStart).Round(time.Second))
		l.ended = true // reports of it that arrive late say nothing
	} else if d, took := done-l.baseDone, now.Sub(l.baseStart); d > 0 && took > 0 {
		rate := float64(d) / took.Seconds()
		left := time.Duration(float64(total-done) / rate * float64(time.Second))
		line += fmt.Sprintf(", %.0f a second", rate)
		if left >= time.Second && !noted { // while the limit holds it back, the pace says little
			line += fmt.Sprintf(", about %s left", left.Round(time.Second))
		}
	}
	fmt.Fprintln(l.w, line)
	l.said, l.saidAt, l.spoke = phase, now, true
}
