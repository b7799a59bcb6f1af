// Command jitrt runs JitAi-style application folders: it wires the runtime, the element
// Types, the control socket and the WeCom emulator into the check, exec, ls, call, run and
// wecom-sim commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/api"
	"github.com/jitrt/jitrt/internal/bytesize"
	"github.com/jitrt/jitrt/internal/hugeheap"
	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/runtime/jshost"

	// Element Types register themselves (auths also names the public-URL service).
	"github.com/jitrt/jitrt/elements/auths"
	_ "github.com/jitrt/jitrt/elements/corps"
	_ "github.com/jitrt/jitrt/elements/corps/ddinner"
	_ "github.com/jitrt/jitrt/elements/corps/fsinner"
	_ "github.com/jitrt/jitrt/elements/corps/normal"
	_ "github.com/jitrt/jitrt/elements/tasks"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a mistake in how the command was called.
type usageError struct{ error }

// exitError carries an exit code with nothing more to print (the command printed it).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	os.Exit(profiled(func() int { return run(os.Args[1:], os.Stdout, os.Stderr) }))
}

// profiled runs fn, writing a CPU profile of it to the file JITRT_CPUPROFILE names, if
// any, and to the file JITRT_PEAKRSS names the process's peak memory (VmHWM) and, as it
// ends, the pages of files it maps (RssFile: its state file's, shared with the page
// cache), in KiB: how an operator (or make bench-sync) sees where a slow command spends
// its time and memory, measured from within, so that no watcher slows it.
func profiled(fn func() int) int {
	if path := os.Getenv("JITRT_PEAKRSS"); path != "" {
		defer func() {
			peak, file := "0", "0"
			for _, l := range strings.Split(readStatus(), "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
					peak = f[1]
				} else if len(f) >= 2 && f[0] == "RssFile:" {
					file = f[1]
				}
			}
			os.WriteFile(path, []byte(peak+" "+file+"\n"), 0o600)
		}()
	}
	path := os.Getenv("JITRT_CPUPROFILE")
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "jitrt: JITRT_CPUPROFILE: %v\n", err)
		return fn()
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "jitrt: JITRT_CPUPROFILE: %v\n", err)
		return fn()
	}
	defer pprof.StopCPUProfile()
	return fn()
}

func readStatus() string {
	b, _ := os.ReadFile("/proc/self/status")
	return string(b)
}

// run executes the CLI and returns the exit code; tests call it directly.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintf(stderr, "jitrt: %v\nRun 'jitrt --help' for usage.\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "jitrt: %v\n", err)
	return exitFailure
}

// isCobraUsage recognises the errors cobra itself returns for an unknown command.
func isCobraUsage(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown shorthand") ||
		strings.HasPrefix(err.Error(), "unknown flag")
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "jitrt",
		Short: "jitrt runs JitAi-style application folders",
		Long: `jitrt runs JitAi-style application folders: a tree of elements, each a folder
with an e.json, built from registered Types, reachable from JavaScript through
app.getElement("corps.X"), with state in an embedded BuntDB file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newCheckCmd(),
		newExecCmd(),
		newLsCmd(),
		newCallCmd(),
		newOrgCmd(),
		newMembersCmd(),
		newAuditCmd(),
		newSchemaCmd(),
		newNewCmd(),
		newTypesCmd(),
		newMigrateCmd(),
		newRunCmd(),
		newRepairCmd(),
		newRestoreCmd(),
		newWecomSimCmd(),
		newSimCmd(),
	)
	for _, c := range root.Commands() {
		c.SilenceUsage, c.SilenceErrors = true, true
	}
	return root
}

// argsExactly is cobra.ExactArgs as a usage error.
func argsExactly(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("expected %s, got %d argument(s)", names, len(args))}
		}
		return nil
	}
}

func argsRange(lo, hi int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usageError{fmt.Errorf("expected %s, got %d argument(s)", names, len(args))}
		}
		return nil
	}
}

// appFlags are the flags every command that loads an app shares.
type appFlags struct {
	data        string
	store       string
	timeout     time.Duration
	logLevel    string
	lockTimeout time.Duration
	callStack   int
	runs        int
	runMemory   bytesize.Flag
	memory      bytesize.Flag
	// publicURL is the URL users reach the app's HTTP API at (a login's default redirect
	// goes there): --public-url, else the address jitrt run listens on once it does.
	publicURL string
	served    atomic.Pointer[string]
}

// baseURL is the URL users reach the HTTP API at.
func (f *appFlags) baseURL() string {
	if f.publicURL != "" {
		return f.publicURL
	}
	if p := f.served.Load(); p != nil {
		return *p
	}
	return "http://" + api.DefaultAddr
}

// register adds the flags; the time limit and the lock wait only where scripts run and the
// state is owned (run, exec, call).
func (f *appFlags) register(c *cobra.Command, defaultLevel string, runs bool) {
	c.Flags().StringVar(&f.data, "data", "", "folder of the state file (default APP/.jitrt)")
	c.Flags().StringVar(&f.store, "store", "", "keep the state in PostgreSQL: env:NAME (the URL in the variable NAME, kept out of the process list) or postgres://user:password@host/db (default: app.json \"store\", else the state file)")
	c.Flags().StringVar(&f.logLevel, "log-level", defaultLevel, "log level: debug, info, warn, error")
	f.timeout = runtime.DefaultTimeout
	f.lockTimeout = kv.DefaultLockTimeout
	if runs {
		c.Flags().DurationVar(&f.timeout, "timeout", runtime.DefaultTimeout, "time limit of each script run (app.json limits.timeout)")
		c.Flags().DurationVar(&f.lockTimeout, "lock-timeout", kv.DefaultLockTimeout, "how long to wait for another process that owns the app's state")
		c.Flags().IntVar(&f.callStack, "max-call-stack", 0, fmt.Sprintf("deepest call chain of a script (limits.callStack; default %d)", jshost.DefaultLimits.CallStack))
		c.Flags().IntVar(&f.runs, "max-runs", 0, fmt.Sprintf("script runs at once (limits.runs; default %d)", jshost.DefaultLimits.Runs))
		c.Flags().Var(&f.runMemory, "max-run-memory", fmt.Sprintf("heap one script run may grow, e.g. 256MiB (limits.runMemory; default %s)", bytesize.Format(jshost.DefaultLimits.RunMemory)))
		c.Flags().Var(&f.memory, "max-memory", "heap the process may reach with scripts running, e.g. 2GiB (limits.memory; default half the machine's memory, at most 4GiB)")
	}
}

func (f *appFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", f.logLevel)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

// dataDir is the app's data folder.
func (f *appFlags) dataDir(appDir string) string {
	if f.data != "" {
		return f.data
	}
	return filepath.Join(appDir, ".jitrt")
}

// options are the runtime options of the flags, logging to stderr.
func (f *appFlags) options(cmd *cobra.Command, state runtime.StateMode) (runtime.Options, error) {
	if f.timeout <= 0 {
		return runtime.Options{}, usageError{fmt.Errorf("--timeout must be positive, got %s", f.timeout)}
	}
	log, err := f.logger(cmd.ErrOrStderr())
	if err != nil {
		return runtime.Options{}, err
	}
	if f.callStack < 0 || f.runs < 0 {
		return runtime.Options{}, usageError{fmt.Errorf("--max-call-stack and --max-runs must be positive")}
	}
	store := f.store
	if store != "" {
		if store, err = databaseURL("store", store, cmd.ErrOrStderr()); err != nil {
			return runtime.Options{}, err
		}
	}
	opts := runtime.Options{
		DataDir:  f.data,
		Store:    store,
		State:    state,
		Command:  "jitrt " + cmd.Name(),
		Logger:   log,
		Stdout:   cmd.OutOrStdout(),
		Stderr:   cmd.ErrOrStderr(),
		Services: f.services(),
		Limits:   jshost.Limits{CallStack: f.callStack, Runs: f.runs, RunMemory: f.runMemory.N, Memory: f.memory.N},
	}
	if cmd.Flags().Changed("timeout") {
		opts.Timeout = f.timeout // else app.json's, or the default
	}
	return opts, nil
}

// services are what the program provides the app's elements: the WeCom emulator, and the
// URL the app is served at.
func (f *appFlags) services() map[string]any {
	s := simwire.Services()
	s[auths.PublicURLService] = f.baseURL
	return s
}

// loadingGC has the collector wait for the heap to grow fivefold rather than double while
// an app loads (unless GOGC says otherwise), and returns what puts it back: what a fresh
// process allocates then (its runtimes, the state's keys) is mostly what it keeps, and
// collecting it as it comes cost a 100,000-member exec 4-5 ms of its 55 on 2 cores.
func loadingGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	prev := hugeheap.SetGCPercent(400) // ordered with hugeheap's own switching
	return func() { hugeheap.SetGCPercent(prev) }
}

// softMemoryLimit makes the Go garbage collector work hard before the process passes the
// app's memory budget (unless GOMEMLIMIT says otherwise).
func softMemoryLimit(app *runtime.App) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(app.Host().Limits().Memory)
	}
}

// load loads the app with the flags.
func (f *appFlags) load(cmd *cobra.Command, dir string, state runtime.StateMode) (*runtime.App, error) {
	opts, err := f.options(cmd, state)
	if err != nil {
		return nil, err
	}
	// a command that loads the app runs one script or method: one runtime waits ready (a
	// call that finds it busy makes another), not one per core
	opts.PoolSize = 1
	app, err := runtime.Load(cmd.Context(), dir, opts)
	return app, damaged(dir, err)
}

// inUse is the error of a command that found the app's state owned by another process.
func inUse(dir string, err *kv.LockedError) error {
	return fmt.Errorf("state of %s is in use by %s", dir, err.Holders())
}
