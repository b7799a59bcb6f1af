package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
)

func newRunCmd() *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "run APP",
		Short: "Load the app, run its entry script and keep running until Ctrl-C",
		Long: `Run loads the app, reports its problems (the healthy elements load regardless),
runs the entry script named by app.json's "entry", and keeps running until
interrupted (Ctrl-C or SIGTERM), then closes every element and the state file.`,
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
			log.Info("running; press Ctrl-C to stop")
			<-cmd.Context().Done()
			log.Info("shutting down")
			return nil
		},
	}
	f.register(c, "info")
	return c
}

func contextWithTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), d)
}

func absPath(p string) (string, error) { return filepath.Abs(p) }
