// Package runtime turns a loaded app folder into running element instances: it owns the
// app's state, builds and starts each instance, swaps one in when its files change, and
// runs every call of an element method through one path (App.Invoke).
package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/jsonpos"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/runtime/jsdoc"
	"github.com/jitrt/jitrt/runtime/jshost"
	"github.com/jitrt/jitrt/runtime/loader"
	"github.com/jitrt/jitrt/runtime/redact"
	"github.com/jitrt/jitrt/runtime/wasmhost"
)

// DefaultTimeout is the time limit of a script run when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Problem and Problems are the loader's: a thing wrong in an app, at path:line:col.
type (
	Problem  = loader.Problem
	Problems = loader.Problems
)

// Script and RunResult are the JS host's.
type (
	Script    = jshost.Script
	RunResult = jshost.RunResult
)

// StateMode says how an app uses its state.
type StateMode int

const (
	// StateOwn owns the state (the data folder's lock) and starts every instance: the
	// commands that run the app (run, exec, call).
	StateOwn StateMode = iota
	// StateReadOnly reads the state file without the lock or any write, and starts nothing
	// (jitrt ls, beside a jitrt run that owns the state).
	StateReadOnly
	// StateNone keeps state in memory only and starts nothing (jitrt check).
	StateNone
)

// Options configure Load.
type Options struct {
	// DataDir holds the state file (state.db). Empty means APP/.jitrt.
	DataDir string
	// Store, when set, keeps the state in PostgreSQL instead of the state file: a
	// postgres:// URL (default: app.json's "store"). StoreSchema is its schema (default:
	// app.json's "storeSchema", else jitrt_<app name>).
	Store, StoreSchema string
	// WasmCacheDir keeps Type elements' compiled WebAssembly modules across runs (default
	// DataDir/wasm-cache when the app owns its state; in memory otherwise).
	WasmCacheDir string
	// State says how the state is used (StateOwn when zero).
	State StateMode
	// Command describes this process to others that find the state in use.
	Command string
	// LockTimeout is how long to wait for another owner of the state (kv.DefaultLockTimeout
	// when zero; negative: do not wait).
	LockTimeout time.Duration
	// Timeout limits every script run; zero: app.json's limits.timeout, else DefaultTimeout.
	Timeout time.Duration
	// Limits bound script runs; zero fields: app.json's limits, else jshost.DefaultLimits.
	Limits jshost.Limits
	// Logger receives the app's logs; secrets are masked before it sees them. Default: discard.
	Logger *slog.Logger
	// Getenv looks up ${VAR} (os.LookupEnv when nil).
	Getenv func(string) (string, bool)
	// Stdout receives console.log of scripts (os.Stdout when nil); Stderr console.error.
	Stdout, Stderr io.Writer
	// PoolSize is the number of pre-warmed JS runtimes (GOMAXPROCS when zero).
	PoolSize int
	// OneRun: each JS runtime serves one run and is dropped, its built-ins not frozen
	// (jshost.Options.OneRun): for a command that runs one script or method and ends.
	OneRun bool
	// Service marks an app run as a service (jitrt run): elements may start timers.
	Service bool
	// Observer receives elements' measurements (syncs, task runs); optional.
	Observer elements.Observer
	// Services are what the program running the app provides to elements by name
	// (elements.AppHandle.Service).
	Services map[string]any
}

// App is a loaded app folder.
type App struct {
	Dir      string // absolute
	Name     string
	Title    string
	Entry    string // entry script, app-relative ("" for none)
	Timezone string

	permissions map[string][]string // app.json's "permissions", guarded by mu
	// auditRetention is app.json's "auditRetentionDays" (0: the orgs' default), guarded by mu
	auditRetention time.Duration
	permPos        map[string]jsonpos.Pos
	permProblems   Problems // permissions naming no callable method, found by checkRefs
	permWarnings   Problems // permissions opening a script method (what it calls is not checked)

	opts     Options
	redactor *redact.Redactor
	log      *slog.Logger
	store    *kv.Store
	host     *jshost.Host
	wasm     *wasmhost.Host

	mu          sync.RWMutex
	entries     map[string]*Entry
	types       map[string]*loader.TypeElement // the app's Type elements by fullName
	appProblems Problems
	closed      bool

	sharedMu sync.Mutex
	shared   map[string]any

	panics  atomic.Int64
	nextKey atomic.Uint64 // numbers instances, for the JS host's cache
}

// Load scans dir, validates every element, builds the instances of the good ones and (in
// StateOwn) starts them. It fails only when the app cannot be read at all or its state
// cannot be opened; every problem of an element is kept with the element (see Problems)
// while the others load.
func Load(ctx context.Context, dir string, opts Options) (*App, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("app folder %s: %w", dir, err)
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("app folder: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("app folder %s is not a folder", dir)
	}
	if opts.Getenv == nil {
		opts.Getenv = os.LookupEnv
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Observer == nil {
		opts.Observer = elements.NopObserver{}
	}
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(abs, ".jitrt")
	}
	a := &App{Dir: abs, opts: opts, redactor: redact.New(), entries: map[string]*Entry{},
		types: map[string]*loader.TypeElement{}, shared: map[string]any{}}
	base := opts.Logger
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	a.log = slog.New(a.redactor.Handler(base.Handler()))

	cfg, ps := loader.ReadAppConfig(abs)
	a.Name, a.Title, a.Entry, a.Timezone, a.appProblems = cfg.Name, cfg.Title, cfg.Entry, cfg.Timezone, ps
	a.permissions, a.permPos = cfg.Permissions, cfg.PermissionPos
	a.auditRetention = time.Duration(cfg.AuditRetentionDays) * 24 * time.Hour
	limits, timeout := a.limitsOf(cfg.Limits)

	store, schema, err := a.storeOf(cfg)
	if err != nil {
		return nil, err
	}
	// The host exists before any instance: an instance may run scripts (a task's inner.js)
	// as soon as it is started. Its runtimes are made while the state is opened.
	a.host = jshost.New(jshost.Options{Dir: abs, Elements: scripts{a}, Redactor: a.redactor,
		Stdout: opts.Stdout, Stderr: opts.Stderr, Timeout: timeout, Limits: limits, PoolSize: opts.PoolSize,
		OneRun: opts.OneRun, Logger: a.log, Recovered: a.Recovered})
	switch {
	case opts.State == StateOwn && store != "":
		// every process of the app that uses the database shares it: replicas of jitrt run,
		// an exec or a call beside them, on one machine or many (a command of one run
		// makes fewer connections: kv.Options.OneRun)
		a.store, err = kv.OpenPostgres(ctx, store, schema, kv.Options{Command: opts.Command, LockTimeout: opts.LockTimeout,
			Logger: a.log, Shared: true, OneRun: opts.OneRun, CopyDir: opts.DataDir})
	case opts.State == StateOwn:
		a.store, err = kv.Open(ctx, opts.DataDir, kv.Options{Command: opts.Command, LockTimeout: opts.LockTimeout, Logger: a.log})
	case opts.State == StateReadOnly && store != "":
		a.store, err = kv.OpenPostgresReadOnly(ctx, store, schema)
	case opts.State == StateReadOnly:
		a.store, err = kv.OpenReadOnly(opts.DataDir)
	default:
		a.store = kv.OpenMemory()
	}
	if err != nil {
		a.host.Close() // its runtimes stop being made (a command retrying a locked state retries this)
		return nil, err
	}
	if m, moved := a.store.MovedTo(); moved && store == "" {
		a.host.Close()
		a.store.Close()
		return nil, fmt.Errorf("the state in %s was moved to PostgreSQL by jitrt migrate on %s (%s, schema %s): give --store with that database (or \"store\" in app.json); jitrt migrate --from brings it back to the file",
			opts.DataDir, m.At, m.URL, m.Schema)
	}

	wasmCache := opts.WasmCacheDir
	if wasmCache == "" && opts.State == StateOwn {
		wasmCache = filepath.Join(opts.DataDir, "wasm-cache")
	}
	a.wasm = wasmhost.New(wasmCache, a.log)
	rels, err := loader.Scan(abs)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("scan %s: %w", dir, err)
	}
	// Type elements first: instances are built through them.
	for _, rel := range loader.TypesFirst(abs, rels) {
		if err := ctx.Err(); err != nil {
			a.Close()
			return nil, err
		}
		def := loader.Load(abs, rel, opts.Getenv, a.appType)
		e := &Entry{app: a, FullName: def.FullName}
		// Instances built before this one may already be running (a task), so the map is
		// written under the lock.
		a.mu.Lock()
		prev, dup := a.entries[def.FullName]
		if !dup {
			a.entries[def.FullName] = e
		}
		a.mu.Unlock()
		if dup {
			// Two folders cannot map to one name ("a/b" and "a.b" cannot both exist), but
			// keep the first and report the second rather than trust that.
			prev.fail(Problems{{Path: rel + "/e.json", Msg: "another folder has the same fullName " + def.FullName}})
			continue
		}
		e.install(ctx, def)
	}
	a.checkRefs()
	return a, nil
}

// AppInfo is what app.json says, as of the last good read.
type AppInfo struct {
	Name, Title, Entry, Timezone string
}

// Info returns the app's current app.json values (safe while the app reloads).
func (a *App) Info() AppInfo {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return AppInfo{Name: a.Name, Title: a.Title, Entry: a.Entry, Timezone: a.Timezone}
}

// Permission returns the roles app.json's "permissions" lets call a method with a member's
// session, and whether it lists the method at all.
func (a *App) Permission(fullName, method string) ([]string, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	roles, ok := a.permissions[fullName+"."+method]
	return roles, ok
}

// Location is the app's time zone: app.json "timezone", else the machine's.
func (a *App) Location() *time.Location {
	tz := a.Info().Timezone
	if tz == "" {
		return time.Local
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.Local // reported as a problem of app.json
	}
	return loc
}

// Logger is the app's logger (secrets masked).
func (a *App) Logger() *slog.Logger { return a.log }

// Redactor masks the app's secrets; wrap any output that could carry one.
func (a *App) Redactor() *redact.Redactor { return a.redactor }

// Store is the app's state store.
func (a *App) Store() *kv.Store { return a.store }

// storeOf is where the state is kept: Options.Store, else app.json's "store" (with its
// ${VAR}s), "" for the state file; and the schema of a database. A URL's password goes to
// the redactor.
func (a *App) storeOf(cfg loader.AppConfig) (store, schema string, err error) {
	store = a.opts.Store
	if store == "" && cfg.Store != "" {
		getenv := a.opts.Getenv
		if getenv == nil {
			getenv = os.LookupEnv
		}
		if store, err = loader.Expand(cfg.Store, getenv); err != nil {
			return "", "", fmt.Errorf("app.json \"store\": %w", err)
		}
	}
	if store == "" {
		return "", "", nil
	}
	if !kv.IsDatabaseURL(store) {
		return "", "", fmt.Errorf("the store %q is not a PostgreSQL URL (postgres://user:password@host/db)", kv.RedactURL(store))
	}
	a.redactor.Add(kv.URLSecrets(store)...)
	schema = cmp.Or(a.opts.StoreSchema, cfg.StoreSchema, SchemaOf(cfg.Name))
	return store, schema, nil
}

// SchemaOf is the default PostgreSQL schema of an app: jitrt_ and its name in lowercase
// letters, digits and _.
func SchemaOf(name string) string { return "jitrt_" + schemaName(name) }

func schemaName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()[:min(b.Len(), 50)]
}

// DataDir is the folder of the app's state.
func (a *App) DataDir() string { return a.opts.DataDir }

// Host is the app's JavaScript host.
func (a *App) Host() *jshost.Host { return a.host }

// Timeout is the default time limit of a run.
func (a *App) Timeout() time.Duration { return a.host.Timeout() }

// limitsOf are the limits of runs: the Options' where set, else app.json's, else the
// defaults.
func (a *App) limitsOf(app loader.Limits) (jshost.Limits, time.Duration) {
	l := a.opts.Limits
	if l.CallStack == 0 {
		l.CallStack = app.CallStack
	}
	if l.RunMemory == 0 {
		l.RunMemory = app.RunMemory
	}
	if l.Memory == 0 {
		l.Memory = app.Memory
	}
	if l.Runs == 0 {
		l.Runs = app.Runs
	}
	timeout := a.opts.Timeout
	if timeout <= 0 {
		timeout = app.Timeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return l, timeout
}

// Warnings returns everything the app's latest load found that stops nothing but should
// be fixed, sorted by file and position.
func (a *App) Warnings() Problems {
	var ws Problems
	for _, e := range a.Entries() {
		ws = append(ws, e.Warnings()...)
	}
	a.mu.RLock()
	ws = append(ws, a.permWarnings...)
	a.mu.RUnlock()
	ws.Sort()
	return ws
}

// checkRefs checks, for every serving element whose Type has CheckRefs, what it names of
// other elements (a task's func); a reference that does not hold is a problem of the
// element, until a check finds it holds.
func (a *App) checkRefs() {
	for _, e := range a.Entries() {
		e.mu.Lock()
		def := e.def
		e.mu.Unlock()
		if def == nil || def.Type == nil || def.Type.CheckRefs == nil || e.cur.Load() == nil {
			continue
		}
		var ps Problems
		protect(a, e.FullName+" CheckRefs", func() (any, error) {
			def.Type.CheckRefs(def.Element, refs{a}, def.Reporter(func(p Problem) { ps = append(ps, p) }))
			return nil, nil
		})
		e.mu.Lock()
		e.refProblems = ps
		e.mu.Unlock()
	}
	a.checkPermissions()
}

// checkPermissions reports each app.json permission that names no Callable method of a
// serving element: a misspelt one would otherwise close the method to members silently.
func (a *App) checkPermissions() {
	a.mu.RLock()
	perms, pos := a.permissions, a.permPos
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	a.mu.RUnlock()
	var ps, ws Problems
	for key := range perms {
		name, method, _ := loader.SplitMethod(key)
		msg := ""
		if e, err := a.Element(name); err != nil {
			msg = fmt.Sprintf("permissions: no element %q%s", name, nearestName(name, names))
		} else if ref, err := e.acquire(); err == nil {
			if m := ref.methods[method]; m == nil {
				msg = fmt.Sprintf("permissions: element %s has no method %q%s", name, method, nearestName(method, ref.names))
			} else if !m.Callable {
				msg = fmt.Sprintf("permissions: %s.%s can only be called from the app's scripts, never over HTTP", name, method)
			} else if len(ref.levels) > 1 && ref.levels[0][method] != m {
				ws = append(ws, Problem{Path: "app.json", Pos: pos[key], Warning: true, Msg: fmt.Sprintf(
					"permissions: %s.%s is a script method: the roles are checked when a member calls it, not for the methods it calls (it may call any method of the app on the member's behalf)", name, method)})
			}
			ref.release()
		}
		if msg != "" {
			ps = append(ps, Problem{Path: "app.json", Pos: pos[key], Msg: msg})
		}
	}
	// a role no org declares opens the method to no one (a role taken out of a corp's
	// roles grants nothing): said, when every org can say all it declares
	declared, complete, orgs := map[string]bool{}, true, 0
	for _, e := range a.Entries() {
		if ref := e.cur.Load(); ref != nil {
			if rd, ok := ref.inst.(elements.RoleDeclarer); ok {
				ids, all := rd.DeclaredRoles()
				for _, id := range ids {
					declared[id] = true
				}
				complete, orgs = complete && all, orgs+1
			}
		}
	}
	if orgs > 0 && complete {
		for _, key := range slices.Sorted(maps.Keys(perms)) {
			for _, role := range perms[key] {
				if !declared[role] {
					ws = append(ws, Problem{Path: "app.json", Pos: pos[key], Warning: true, Msg: fmt.Sprintf(
						"permissions: %s names role %q, which no corp declares: it opens the method to no one (declare it in a corp's roles)", key, role)})
				}
			}
		}
	}
	a.mu.Lock()
	a.permProblems, a.permWarnings = ps, ws
	a.mu.Unlock()
}

// refs is the app as CheckRefs sees it.
type refs struct{ a *App }

func (r refs) ElementsWhere(is func(elements.Instance) bool) []*elements.Element {
	return r.a.ElementsWhere(is)
}

func (r refs) Method(fullName, method string) (*elements.Method, error) {
	e, err := r.a.Element(fullName)
	if err != nil {
		return nil, err
	}
	ref, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer ref.release()
	m := ref.methods[method]
	if m == nil {
		return nil, &elements.Error{Code: elements.CodeUnknownMethod, Err: elements.ErrUnknownMethod,
			Message: fmt.Sprintf("element %s (%s) has no method %q%s", fullName, ref.el.TypeID, method, nearestName(method, ref.names))}
	}
	c := *m
	return &c, nil
}

// Problems returns every problem in the app, sorted by file and position.
func (a *App) Problems() Problems {
	a.mu.RLock()
	defer a.mu.RUnlock()
	ps := append(Problems(nil), a.appProblems...)
	ps = append(ps, a.permProblems...)
	for _, e := range a.entries {
		ps = append(ps, e.Problems()...)
	}
	ps.Sort()
	return ps
}

// Entries lists the app's elements by fullName.
func (a *App) Entries() []*Entry {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]*Entry, 0, len(a.entries))
	for _, e := range a.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FullName < out[j].FullName })
	return out
}

// ElementsWhere lists the serving elements (not app Type elements) whose instance — the
// registered Type's, beneath the JS of its Type chain — satisfies is, sorted by fullName
// (elements.AppHandle): a login finds the orgs of the app by what they are.
func (a *App) ElementsWhere(is func(elements.Instance) bool) []*elements.Element {
	var out []*elements.Element
	for _, e := range a.Entries() {
		e.mu.Lock()
		def := e.def
		e.mu.Unlock()
		if def == nil || def.IsType {
			continue
		}
		if ref := e.cur.Load(); ref != nil && is(ref.inst) {
			out = append(out, def.Element)
		}
	}
	return out
}

// Instance returns an element's serving instance: the registered Type's, beneath the JS
// of its Type chain (what a Go interface such as org.Org is asserted on). It is held as a
// call holds it, so a reload closes it only after release is called.
func (a *App) Instance(fullName string) (elements.Instance, func(), error) {
	e, err := a.Element(fullName)
	if err != nil {
		return nil, nil, err
	}
	ref, err := e.acquire()
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return ref.inst, func() { once.Do(ref.release) }, nil
}

// Element returns the element named fullName, whether or not it loaded.
func (a *App) Element(fullName string) (*Entry, error) {
	a.mu.RLock()
	e, ok := a.entries[fullName]
	a.mu.RUnlock()
	if !ok {
		return nil, &elements.Error{Code: elements.CodeUnknownElement,
			Message: fmt.Sprintf("no element %q in app %s", fullName, a.Info().Name), Err: elements.ErrUnknownElement}
	}
	return e, nil
}

// Call runs a method of an element with arguments by name, as a caller from outside the
// app (elements.AppHandle: a task's func).
func (a *App) Call(ctx context.Context, fullName, method string, args elements.Args) (any, error) {
	return a.Invoke(ctx, elements.Call{Element: fullName, Method: method, Args: []any{map[string]any(args)},
		Mode: elements.ArgsNamed, Outside: true})
}

// CallJSON runs a method with arguments as a JSON body gives them (see elements.JSONArgs),
// as a caller from outside the app (jitrt call, tests).
// A name that is no method but a property of the element, called without arguments, reads
// the property (jitrt call apps/demo corps.DemoCorp title).
func (a *App) CallJSON(ctx context.Context, fullName, method string, body any) (any, error) {
	args, mode, err := elements.JSONArgs(body)
	if err != nil {
		return nil, err
	}
	res, err := a.Invoke(ctx, elements.Call{Element: fullName, Method: method, Args: args, Mode: mode, Outside: true})
	if errors.Is(err, elements.ErrUnknownMethod) && len(args) == 0 {
		if e, eerr := a.Element(fullName); eerr == nil {
			if v, ok, perr := e.Property(method); perr == nil && ok {
				return v, nil
			}
		}
	}
	return res, err
}

// CallScript requires an app-relative module and calls one of its exports
// (elements.AppHandle: a task's inner.js).
func (a *App) CallScript(ctx context.Context, module, export string, args ...any) (any, error) {
	return a.host.CallExport(ctx, module, export, args...)
}

// Shared returns the app-wide value under key, made by create the first time
// (elements.AppHandle).
func (a *App) Shared(key string, create func() any) any {
	a.sharedMu.Lock()
	defer a.sharedMu.Unlock()
	v, ok := a.shared[key]
	if !ok {
		v = create()
		a.shared[key] = v
	}
	return v
}

// Service returns what the program provided under name (elements.AppHandle).
func (a *App) Service(name string) any { return a.opts.Services[name] }

// Close closes every instance (after its running calls finish) and then the store, which
// lets go of the state's lock.
func (a *App) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	entries := make([]*Entry, 0, len(a.entries))
	for _, e := range a.entries {
		entries = append(entries, e)
	}
	a.mu.Unlock()
	var errs []error
	for _, e := range entries {
		if ref := e.cur.Swap(nil); ref != nil {
			if err := ref.retireAndWait(); err != nil {
				errs = append(errs, fmt.Errorf("close %s: %w", e.FullName, err))
			}
		}
	}
	if a.host != nil {
		a.host.Close()
	}
	if a.wasm != nil {
		a.wasm.Close()
	}
	if err := a.store.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Entry is one element of the app: its last good instance, if any, and its last problems.
type Entry struct {
	app      *App
	FullName string

	cur atomic.Pointer[instanceRef]

	mu          sync.Mutex
	removed     bool
	typeID      string
	title       string
	dir         string
	isType      bool
	problems    Problems
	refProblems Problems // what CheckRefs found of the serving instance's references
	warnings    Problems
	def         *loader.Definition // of the serving instance
	generation  int
	loadedAt    time.Time
}

// Status is what tools show about an element.
type Status struct {
	FullName   string `json:"fullName"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Status     string `json:"status"` // ok, error, or type (an app Type element)
	Serving    bool   `json:"serving"`
	Generation int    `json:"generation"`
	Error      string `json:"error,omitempty"`
	// Detail is what the instance adds (elements.Describer), e.g. a task's next and last runs.
	Detail map[string]any `json:"detail,omitempty"`
}

// Status reports the element's state. An element whose latest edit failed but whose last
// good instance still serves has status "error" and Serving true.
func (e *Entry) Status() Status {
	e.mu.Lock()
	s := Status{FullName: e.FullName, Type: e.typeID, Title: e.title, Generation: e.generation,
		Serving: e.cur.Load() != nil, Status: "ok"}
	switch ps := append(append(Problems(nil), e.problems...), e.refProblems...); {
	case len(ps) > 0:
		s.Status = "error"
		s.Error = e.app.redactor.String(ps.Error())
	case e.isType:
		s.Status = "type"
	}
	e.mu.Unlock()
	if ref, err := e.acquire(); err == nil {
		if d, ok := ref.inst.(elements.Describer); ok {
			s.Detail, _ = protect(e.app, e.FullName+" Describe", func() (map[string]any, error) { return d.Describe(), nil })
		}
		ref.release()
	}
	return s
}

// Problems returns the element's problems from its latest load.
func (e *Entry) Problems() Problems {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append(append(Problems(nil), e.problems...), e.refProblems...)
}

// Warnings returns what the element's latest load found that should be fixed but stops
// nothing (a secret written in its config).
func (e *Entry) Warnings() Problems {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append(Problems(nil), e.warnings...)
}

func (e *Entry) fail(ps Problems) {
	e.mu.Lock()
	e.problems = ps
	e.mu.Unlock()
}

// install builds (and, when the app owns its state, starts) an instance from a loaded
// definition and makes it current, or records the problems and leaves the current instance
// serving.
func (e *Entry) install(ctx context.Context, def *loader.Definition) Problems {
	a := e.app
	a.redactor.Add(def.Secrets...)
	e.mu.Lock()
	e.warnings = def.Warnings
	e.mu.Unlock()
	if len(def.Problems) > 0 {
		// The last good instance, if any, keeps serving; its description stays with it.
		e.mu.Lock()
		if e.cur.Load() == nil {
			e.typeID, e.title, e.dir, e.isType = def.TypeID, def.Title, def.Rel, def.IsType
		}
		e.problems = def.Problems
		e.mu.Unlock()
		if def.IsType {
			// instances of a broken Type element report it (they keep serving, if they do)
			a.mu.Lock()
			a.types[def.FullName] = def.TypeElem
			a.mu.Unlock()
		}
		return def.Problems
	}
	e.mu.Lock()
	e.typeID, e.title, e.dir, e.isType = def.TypeID, def.Title, def.Rel, def.IsType
	e.mu.Unlock()
	if def.IsType {
		a.mu.Lock()
		a.types[def.FullName] = def.TypeElem
		a.mu.Unlock()
		e.fail(nil)
		if old := e.cur.Swap(nil); old != nil {
			old.retire()
		}
		return nil
	}
	el := def.Element
	el.Store = a.store
	el.Logger = a.log.With("element", def.FullName)
	el.App = a
	el.Location = a.Location()
	el.Service = a.opts.Service
	el.Observer = a.opts.Observer
	a.mu.RLock()
	el.AuditRetention = a.auditRetention
	a.mu.RUnlock()
	var ovs []*overrides // one per link of the Type chain that has Wasm or JS, from the top down
	var wasmMods []*wasmhost.Module
	releaseWasm := func() {
		for _, m := range wasmMods {
			m.Release()
		}
	}
	if def.Override != nil {
		for _, te := range def.Override.Chain() {
			if te.Wasm != "" {
				ov, p := a.wasmOverrides(ctx, te)
				if p != nil {
					releaseWasm()
					ps := Problems{*p}
					e.fail(ps)
					return ps
				}
				ovs = append(ovs, ov)
				wasmMods = append(wasmMods, ov.wasm)
			}
			if te.Module == "" {
				continue
			}
			ctx, cancel := context.WithTimeout(ctx, a.Timeout())
			names, err := a.host.ModuleFunctions(ctx, te.Module)
			cancel()
			if err != nil {
				releaseWasm()
				ps := Problems{loader.ProblemOf(err, te.Module)}
				e.fail(ps)
				return ps
			}
			var docs map[string]*jsdoc.Func
			if src, err := os.ReadFile(filepath.Join(a.Dir, filepath.FromSlash(te.Module))); err == nil {
				docs = jsdoc.Parse(string(src)) // for editors' types: what the author wrote
			}
			ovs = append(ovs, &overrides{module: te.Module, names: names, docs: docs, callable: te.Callable})
		}
	}
	inst, err := a.build(ctx, def)
	if err != nil {
		releaseWasm()
		ps := Problems{{Path: def.Rel + "/e.json", Msg: a.redactor.String(err.Error())}}
		e.fail(ps)
		return ps
	}
	e.mu.Lock()
	e.generation++
	gen := e.generation
	e.problems, e.refProblems, e.def = nil, nil, def
	e.loadedAt = time.Now()
	e.mu.Unlock()
	ref := newInstanceRef(inst, el, gen, a.nextKey.Add(1))
	ref.wasm = wasmMods
	for i, ov := range ovs {
		ref.addLevel(a.overrideMethods(def.FullName, ref.levels[i], ov, i))
	}
	if old := e.cur.Swap(ref); old != nil {
		old.retire()
	}
	return nil
}

// build makes an instance with the Type's New and, when the app owns its state, starts it
// (elements.Starter). A panic in either is an error; a failed start closes the instance.
func (a *App) build(ctx context.Context, def *loader.Definition) (elements.Instance, error) {
	inst, err := protect(a, def.FullName+" New", func() (elements.Instance, error) { return def.Type.New(def.Element) })
	if err != nil {
		return nil, fmt.Errorf("cannot build %s: %w", def.TypeID, err)
	}
	if a.opts.State != StateOwn {
		return inst, nil
	}
	if s, ok := inst.(elements.Starter); ok {
		if _, err := protect(a, def.FullName+" Start", func() (any, error) { return nil, s.Start(ctx) }); err != nil {
			if c, ok := inst.(io.Closer); ok {
				protect(a, def.FullName+" Close", func() (any, error) { return nil, c.Close() })
			}
			return nil, fmt.Errorf("cannot start %s: %w", def.TypeID, err)
		}
	}
	return inst, nil
}

// acquire returns the element's current instance for a call; release it when done.
func (e *Entry) acquire() (*instanceRef, error) {
	for {
		ref := e.cur.Load()
		if ref == nil {
			return nil, e.notServing()
		}
		if ref.acquire() {
			return ref, nil
		}
		// retired and closed between Load and acquire: a newer one is current (or none).
		if e.cur.Load() == ref {
			return nil, e.notServing()
		}
	}
}

func (e *Entry) notServing() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.isType {
		return &elements.Error{Code: elements.CodeElementFailed, Err: elements.ErrElementFailed,
			Message: fmt.Sprintf("element %s is a Type element (its type %s is a Meta) and has no instance", e.FullName, e.typeID)}
	}
	if len(e.problems) > 0 {
		return &elements.Error{Code: elements.CodeElementFailed, Err: elements.ErrElementFailed,
			Message: e.app.redactor.String(fmt.Sprintf("element %s failed to load: %s", e.FullName, e.problems.Error()))}
	}
	if e.removed {
		return &elements.Error{Code: elements.CodeUnknownElement, Err: elements.ErrUnknownElement,
			Message: fmt.Sprintf("element %s was removed (its folder %s is gone)", e.FullName, e.dir)}
	}
	return &elements.Error{Code: elements.CodeUnknownElement, Err: elements.ErrUnknownElement,
		Message: fmt.Sprintf("element %s is not loaded", e.FullName)}
}

// Method returns the description of a method of the current instance, or nil.
func (e *Entry) Method(name string) *elements.Method {
	ref, err := e.acquire()
	if err != nil {
		return nil
	}
	defer ref.release()
	return ref.methods[name]
}

// Methods describes the methods of the current instance (none when it has none).
func (e *Entry) Methods() []elements.Method {
	ref, err := e.acquire()
	if err != nil {
		return nil
	}
	defer ref.release()
	out := make([]elements.Method, 0, len(ref.names))
	for _, n := range ref.names {
		out = append(out, *ref.methods[n])
	}
	return out
}

// Properties describes the properties of the current instance, in order.
func (e *Entry) Properties() []elements.Property {
	ref, err := e.acquire()
	if err != nil {
		return nil
	}
	defer ref.release()
	out := make([]elements.Property, 0, len(ref.propNames))
	for _, n := range ref.propNames {
		out = append(out, ref.props[n])
	}
	return out
}

// PropertyNames lists the properties of the current instance.
func (e *Entry) PropertyNames() []string {
	ref, err := e.acquire()
	if err != nil {
		return nil
	}
	defer ref.release()
	return append([]string(nil), ref.propNames...)
}

// Property reads a property of the current instance.
func (e *Entry) Property(name string) (any, bool, error) {
	ref, err := e.acquire()
	if err != nil {
		return nil, false, err
	}
	defer ref.release()
	p, ok := ref.props[name]
	if !ok {
		return nil, false, nil
	}
	v, err := protect(e.app, e.FullName+"."+name, func() (any, error) { return p.Get(), nil })
	return v, err == nil, err
}

// instanceRef is one built instance with the count of calls running on it, so that a
// replaced instance is closed only after its last call.
type instanceRef struct {
	inst    elements.Instance
	el      *elements.Element
	gen     int
	key     uint64                      // unique in the app: the JS host's cache key
	methods map[string]*elements.Method // what calls find (overridden by JS, if so)
	names   []string                    // method names, sorted
	// levels are the methods at each link of the Type chain: [0] the registered Type's
	// own, [i] with the JS of the i-th link that has some; the last is methods. The JS of
	// link i sees levels[i-1] as this.$super.
	levels     []map[string]*elements.Method
	levelNames [][]string
	wasm       []*wasmhost.Module // the modules its methods run in, released when it closes
	props      map[string]elements.Property
	propNames  []string

	mu       sync.Mutex
	active   int
	retired  bool
	closed   bool
	done     chan struct{}
	closeErr error
}

// addLevel puts the methods of one more link of the Type chain on top.
func (r *instanceRef) addLevel(methods map[string]*elements.Method) {
	r.methods, r.names = methods, slices.Sorted(maps.Keys(methods))
	r.levels, r.levelNames = append(r.levels, r.methods), append(r.levelNames, r.names)
}

func newInstanceRef(inst elements.Instance, el *elements.Element, gen int, key uint64) *instanceRef {
	r := &instanceRef{inst: inst, el: el, gen: gen, key: key, methods: map[string]*elements.Method{},
		props: map[string]elements.Property{}, done: make(chan struct{})}
	for _, m := range inst.Methods() {
		r.methods[m.Name] = &m
		r.names = append(r.names, m.Name)
	}
	sort.Strings(r.names)
	r.levels, r.levelNames = []map[string]*elements.Method{r.methods}, [][]string{r.names}
	common := []elements.Property{
		{Name: "title", Get: func() any { return el.Title }},
		{Name: "fullName", Get: func() any { return el.FullName }},
		{Name: "type", Get: func() any { return el.TypeID }},
	}
	for _, p := range append(common, inst.Properties()...) {
		if _, seen := r.props[p.Name]; !seen {
			r.propNames = append(r.propNames, p.Name)
		}
		r.props[p.Name] = p
	}
	return r
}

func (r *instanceRef) acquire() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.active++
	return true
}

// acquireLive is acquire for an instance not yet replaced.
func (r *instanceRef) acquireLive() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.retired {
		return false
	}
	r.active++
	return true
}

func (r *instanceRef) release() {
	r.mu.Lock()
	r.active--
	closeNow := r.retired && r.active == 0 && !r.closed
	if closeNow {
		r.closed = true
	}
	r.mu.Unlock()
	if closeNow {
		r.close()
	}
}

// retire marks the instance replaced; it closes now if idle, else after its last call.
func (r *instanceRef) retire() {
	r.mu.Lock()
	r.retired = true
	closeNow := r.active == 0 && !r.closed
	if closeNow {
		r.closed = true
	}
	r.mu.Unlock()
	if closeNow {
		r.close()
	}
}

func (r *instanceRef) retireAndWait() error {
	r.retire()
	<-r.done
	return r.closeErr
}

func (r *instanceRef) close() {
	if c, ok := r.inst.(io.Closer); ok {
		r.closeErr = c.Close()
	}
	for _, m := range r.wasm {
		m.Release()
	}
	close(r.done)
}
