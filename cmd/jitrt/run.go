package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/runtime"
)

func newRunCmd() *cobra.Command {
	var f appFlags
	var noWatch bool
	c := &cobra.Command{
		Use:   "run APP",
		Short: "Load the app, run its entry script and keep running until Ctrl-C",
		Long: `Run loads the app, reports its problems (the healthy elements load regardless),
runs the entry script named by app.json's "entry", and keeps running until
interrupted (Ctrl-C or SIGTERM), then closes every element and the state file.

While it runs it watches the app folder: an edited element is reloaded live (a broken
edit leaves the last good instance serving and its error in the element's status), a
new element folder is added, a deleted one removed, a changed script is read by the
next run, and a changed app.json reloads the app.`,
		Args: argsExactly(1, "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := f.load(cmd, args[0], "")
			if err != nil {
				return err
			}
			defer app.Close()
			log := app.Logger()
			for _, p := range app.Problems() {
				log.Warn("problem", "at", p.String())
			}
			log.Info("app loaded", "app", app.Name, "elements", len(app.Entries()), "dir", app.Dir)
			if app.Entry != "" {
				start := time.Now()
				ctx := withProgressBar(cmd.Context(), cmd.ErrOrStderr())
				res, err := app.Host().RunFile(ctx, app.Entry, app.Redactor().Writer(cmd.OutOrStdout()))
				if err != nil {
					log.Error("entry script failed", "script", app.Entry, "err", err)
				} else {
					if res.JSON != nil {
						fmt.Fprintln(app.Redactor().Writer(cmd.OutOrStdout()), string(res.JSON))
					}
					log.Info("entry script done", "script", app.Entry, "took", time.Since(start).Round(time.Millisecond))
				}
			}
			watchDone := make(chan error, 1)
			if noWatch {
				watchDone <- nil
			} else {
				go func() { watchDone <- app.Watch(cmd.Context(), runtime.WatchOptions{}) }()
			}
			log.Info("running; press Ctrl-C to stop")
			<-cmd.Context().Done()
			if err := <-watchDone; err != nil {
				log.Error("watching stopped", "err", err)
			}
			log.Info("shutting down")
			return nil
		},
	}
	f.register(c, "info")
	c.Flags().BoolVar(&noWatch, "no-watch", false, "do not reload elements when their files change")
	return c
}

func contextWithTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), d)
}

func absPath(p string) (string, error) { return filepath.Abs(p) }
