package main

import (
	"context"
	"io"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/jitrt/jitrt/elements"
)

// minBarTotal is the smallest amount of work worth a progress bar.
const minBarTotal = 200

// withProgressBar makes long operations (a sync of a large org) draw a progress bar on w
// when w is a terminal; elsewhere (CI logs, pipes) it changes nothing.
func withProgressBar(ctx context.Context, w io.Writer) context.Context {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return ctx
	}
	var mu sync.Mutex
	var bar *progressbar.ProgressBar
	var phase string
	return elements.WithProgress(ctx, func(p string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if total < minBarTotal {
			return
		}
		if bar == nil || p != phase {
			if bar != nil {
				bar.Finish()
			}
			phase = p
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("sync: "+p),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(100_000_000), progressbar.OptionSetWidth(30))
		}
		bar.Set(done)
		if done >= total {
			bar.Finish()
			bar = nil
		}
	})
}
