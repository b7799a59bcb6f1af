package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/api"
	"github.com/jitrt/jitrt/control"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/runtime/watch"
)

func newRunCmd() *cobra.Command {
	var f appFlags
	var noWatch, noAPI bool
	var addr string
	var bodyLimit int
	var allowHosts []string
	c := &cobra.Command{
		Use:   "run APP",
		Short: "Load the app, serve its HTTP API, run its entry script and tasks, reload edits",
		Long: `Run loads the app, reports its problems (the healthy elements load regardless),
serves the HTTP API, runs the entry script named by app.json's "entry", schedules
every enabled task, and keeps running until interrupted (Ctrl-C or SIGTERM); then
requests in flight finish and every element and the state file are closed.

While it runs it watches the app folder: an edited element is reloaded live (a broken
edit leaves the last good instance serving and its error in the element's status), a
new element folder is added, a deleted one removed, a changed script is read by the
next run, and a changed app.json reloads the app.

The API binds 127.0.0.1:8787 by default. With JITRT_API_TOKEN set, every request needs
"Authorization: Bearer <token>"; an address other machines can reach needs it.

With the state in PostgreSQL (--store postgres://…, or app.json "store"), several jitrt
run share it, on one machine or many, as replicas behind one address (--public-url): a
corp's sync runs on one of them at a time and the others share its report, a task runs
once per due time, and what one writes the others read from the next request on.`,
		Args: argsExactly(1, "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			metrics := api.NewMetrics()
			opts, err := f.options(cmd, runtime.StateOwn)
			if err != nil {
				return err
			}
			opts.Service, opts.Observer, opts.LockTimeout = true, syncFailureLog{metrics, opts.Logger}, f.lockTimeout
			opts.Command = "jitrt run " + args[0]
			app, err := runtime.Load(cmd.Context(), args[0], opts)
			var locked *kv.LockedError
			if errors.As(err, &locked) {
				return inUse(args[0], locked)
			}
			if err != nil {
				return damaged(args[0], err)
			}
			defer app.Close()
			softMemoryLimit(app)
			metrics.AttachApp(app)
			log := app.Logger()
			for _, p := range app.Problems() {
				log.Warn("problem", "at", p.String())
			}
			// warnings are logged at start, and those a reload brings (a role taken out of a
			// corp's roles that app.json's permissions name) when it brings them
			var warnedMu sync.Mutex
			warned := map[string]bool{}
			logWarnings := func() {
				warnedMu.Lock()
				defer warnedMu.Unlock()
				now := map[string]bool{}
				for _, w := range app.Warnings() {
					now[w.String()] = true
					if !warned[w.String()] {
						log.Warn("warning", "at", w.String())
					}
				}
				warned = now
			}
			logWarnings()
			log.Info("app loaded", "app", app.Info().Name, "elements", len(app.Entries()), "dir", app.Dir)

			// On the way out: stop everything, wait for it, then close the app (deferred above).
			var wg sync.WaitGroup
			defer wg.Wait()
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			errs := make(chan error, 3)
			// The control socket: jitrt exec and jitrt call from other terminals run here
			// (with a shared store, in PostgreSQL, they share it themselves).
			if !app.Store().Shared() {
				ctl, err := control.Listen(app, control.SocketPath(app.DataDir()))
				if err != nil {
					return err
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := ctl.Serve(ctx); err != nil {
						errs <- err
					}
				}()
				if err := app.Store().Advertise(ctl.Path()); err != nil {
					return err
				}
			}
			// Replicas on one database say what app folder they run: one whose folder
			// differs from the others' warns, now and after each reload, and /metrics says so.
			checkFolder := func(when string) {}
			if app.Store().Shared() {
				checkFolder = func(when string) { checkAppFolder(ctx, app, when) }
				checkFolder("start")
				metrics.AttachFolderCheck(func() bool {
					qctx, cancel := context.WithTimeout(ctx, kv.BehindCheckTimeout) // a scrape does not wait on a database away
					defer cancel()
					peers, err := app.Store().AppPeers(qctx)
					return err == nil && len(peers) > 0
				})
			}
			// The watches are in place before the API answers: an edit made as soon as the
			// app is up is seen.
			if !noWatch {
				onReload := func(ev runtime.ReloadEvent) {
					metrics.Reload(ev)
					checkFolder("reload")
					logWarnings()
				}
				watcher, err := watch.New(app, watch.Options{OnReload: onReload})
				if err != nil {
					return err
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := watcher.Run(ctx); err != nil {
						errs <- fmt.Errorf("watching: %w", err)
					}
				}()
			}
			if !noAPI {
				srv, err := api.New(app, api.Options{Addr: addr, Token: os.Getenv(api.TokenEnv), BodyLimit: bodyLimit,
					PublicURL: f.publicURL, AllowHosts: allowHosts, Metrics: metrics})
				if err != nil {
					return err
				}
				if err := srv.Listen(); err != nil {
					return err
				}
				served := "http://" + srv.Addr()
				f.served.Store(&served)
				if os.Getenv(api.TokenEnv) == "" {
					// what any process of this machine may do, said once, so that no one
					// learns it from an incident
					open, gated := srv.Open()
					shown := open
					if len(shown) > 8 {
						shown = append(shown[:8:8], fmt.Sprintf("… %d more", len(open)-8))
					}
					log.Warn("no API token ("+api.TokenEnv+"): any process on this machine may call the methods app.json's permissions do not gate, and the console is open; gated methods need a member's session",
						"open", len(open), "gated", gated, "methods", strings.Join(shown, ", "))
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := srv.Serve(ctx); err != nil {
						errs <- err
					}
				}()
			}

			if entry := app.Info().Entry; entry != "" {
				start := time.Now()
				res, err := app.Host().RunFile(withProgress(ctx, cmd.ErrOrStderr()), entry, app.Redactor().Writer(cmd.OutOrStdout()))
				if err != nil {
					log.Error("entry script failed", "script", entry, "err", err)
				} else {
					if res.JSON != nil {
						fmt.Fprintln(app.Redactor().Writer(cmd.OutOrStdout()), string(res.JSON))
					}
					log.Info("entry script done", "script", entry, "took", time.Since(start).Round(time.Millisecond))
				}
			}
			log.Info("running; press Ctrl-C to stop")
			var runErr error
			select {
			case <-ctx.Done():
			case runErr = <-errs:
			}
			log.Info("shutting down")
			cancel()
			return runErr
		},
	}
	f.register(c, "info", true)
	c.Flags().StringVar(&addr, "addr", api.DefaultAddr, "address of the HTTP API")
	c.Flags().StringVar(&f.publicURL, "public-url", "", "the URL users reach the HTTP API at, behind a proxy (a login's default redirect goes there; default http://ADDR)")
	c.Flags().StringSliceVar(&allowHosts, "allow-host", nil, "another Host the HTTP API answers (name or name:port; repeatable), beside the listen address, loopback names and --public-url's host")
	c.Flags().IntVar(&bodyLimit, "body-limit", api.DefaultBodyLimit, "largest request body of the HTTP API, in bytes")
	c.Flags().BoolVar(&noAPI, "no-api", false, "do not serve the HTTP API")
	c.Flags().BoolVar(&noWatch, "no-watch", false, "do not reload elements when their files change")
	return c
}

// checkAppFolder advertises the hash of this replica's app folder and warns when other
// replicas sharing the database run a folder that differs: they may run other elements,
// tasks or configs than this one.
func checkAppFolder(ctx context.Context, app *runtime.App, when string) {
	log := app.Logger()
	hash, err := app.FolderHash()
	if err != nil {
		log.Warn("the app folder could not be compared with the other replicas'", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, kv.BehindCheckTimeout) // a reload does not wait on a database away
	defer cancel()
	peers, err := app.Store().AdvertiseApp(ctx, hash)
	if err != nil {
		log.Warn("the app folder could not be compared with the other replicas'", "err", err)
		return
	}
	if len(peers) == 0 {
		return
	}
	var who []string
	for _, p := range peers {
		who = append(who, fmt.Sprintf("pid %d on %s (%s)", p.PID, p.Host, p.Command))
	}
	log.Warn("this replica's app folder differs from other replicas' on the same database: they may run other elements, tasks or configs; deploy one folder to all",
		"when", when, "folder", hash[:12], "differs_from", strings.Join(who, ", "))
}

// syncFailureLog is the server's Observer: the metrics, and a failed sync in the log. The
// sync's error goes to its caller (an HTTP client, a task, a script), which is where it is
// reported; a server's log has it besides. (jitrt exec and call print it once: theirs.)
type syncFailureLog struct {
	*api.Metrics
	log *slog.Logger
}

func (o syncFailureLog) Observe(op, element string, took time.Duration, err error) {
	o.Metrics.Observe(op, element, took, err)
	if op == "sync" && err != nil && o.log != nil {
		o.log.Error("sync failed: nothing was written", "element", element, "err", err)
	}
}
