// Package runtime loads an app folder into running element instances, hosts the JavaScript
// that reaches them, and swaps an element's instance when its files change.
package runtime

import (
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
)

// DefaultTimeout is the time limit of a script run when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options configure Load.
type Options struct {
	// DataDir holds the state file (state.db). Empty means APP/.jitrt; kv.Memory keeps state
	// in memory only (jitrt check).
	DataDir string
	// ReadOnly reads the state file into memory and never writes it (jitrt ls, while a
	// jitrt run may own the file).
	ReadOnly bool
	// Timeout limits every script run (DefaultTimeout when zero).
	Timeout time.Duration
	// Logger receives the app's logs; secrets are masked before it sees them. Default: discard.
	Logger *slog.Logger
	// Getenv looks up ${VAR} (os.LookupEnv when nil).
	Getenv func(string) (string, bool)
	// Stdout receives console.log of scripts (os.Stdout when nil); Stderr console.error.
	Stdout, Stderr io.Writer
	// PoolSize is the number of pre-warmed JS runtimes (GOMAXPROCS when zero).
	PoolSize int
	// Service marks an app run as a service (jitrt run): elements may start timers.
	Service bool
	// Observer receives elements' measurements (syncs, task runs); optional.
	Observer elements.Observer
}

// App is a loaded app folder.
type App struct {
	Dir      string // absolute
	Name     string
	Title    string
	Entry    string // entry script, app-relative ("" for none)
	Timezone string

	opts     Options
	redactor *Redactor
	log      *slog.Logger
	store    *kv.Store
	host     *Host

	mu          sync.RWMutex
	entries     map[string]*Entry
	types       map[string]*typeElem // the app's Type elements by fullName
	appProblems Problems
	closed      bool
}

// Load scans dir, validates every element and builds the instances of the good ones. It
// fails only when the app cannot be read at all or its state store cannot be opened; every
// problem of an element is kept with the element (see Problems) while the others load.
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
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
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
	a := &App{Dir: abs, opts: opts, redactor: NewRedactor(), entries: map[string]*Entry{}, types: map[string]*typeElem{}}
	base := opts.Logger
	if base == nil {
		base = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a.log = slog.New(a.redactor.Handler(base.Handler()))

	cfg, ps := loadAppConfig(abs)
	a.Name, a.Title, a.Entry, a.Timezone, a.appProblems = cfg.Name, cfg.Title, cfg.Entry, cfg.Timezone, ps

	storePath := opts.DataDir
	switch storePath {
	case "":
		storePath = filepath.Join(abs, ".jitrt", "state.db")
	case kv.Memory:
	default:
		storePath = filepath.Join(storePath, "state.db")
	}
	if opts.ReadOnly && storePath != kv.Memory {
		a.store, err = kv.OpenSnapshot(storePath)
	} else {
		a.store, err = kv.Open(storePath)
	}
	if err != nil {
		return nil, err
	}

	// The host exists before any instance: an instance may run scripts (a task's inner.js)
	// as soon as it is built.
	a.host = newHost(a)
	rels, err := scanElements(abs)
	if err != nil {
		a.store.Close()
		return nil, fmt.Errorf("scan %s: %w", dir, err)
	}
	// Type elements first: instances are built through them.
	rels = typesFirst(abs, rels)
	for _, rel := range rels {
		if err := ctx.Err(); err != nil {
			a.store.Close()
			return nil, err
		}
		def := loadDefinition(abs, rel, opts.Getenv, a.appType)
		e := &Entry{app: a, FullName: def.fullName}
		// Instances built before this one may already be running (a task), so the map is
		// written under the lock.
		a.mu.Lock()
		prev, dup := a.entries[def.fullName]
		if !dup {
			a.entries[def.fullName] = e
		}
		a.mu.Unlock()
		if dup {
			// Two folders cannot map to one name ("a/b" and "a.b" cannot both exist), but
			// keep the first and report the second rather than trust that.
			prev.fail(Problems{{Path: rel + "/e.json", Msg: "another folder has the same fullName " + def.fullName}})
			continue
		}
		e.install(def)
	}
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
func (a *App) Redactor() *Redactor { return a.redactor }

// Store is the app's state store.
func (a *App) Store() *kv.Store { return a.store }

// Host is the app's JavaScript host.
func (a *App) Host() *Host { return a.host }

// Timeout is the default time limit of a run.
func (a *App) Timeout() time.Duration { return a.opts.Timeout }

// Problems returns every problem in the app, sorted by file and position.
func (a *App) Problems() Problems {
	a.mu.RLock()
	defer a.mu.RUnlock()
	ps := append(Problems(nil), a.appProblems...)
	for _, e := range a.entries {
		ps = append(ps, e.Problems()...)
	}
	ps.sort()
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

// Call runs a method of an element with already-bound arguments (elements.AppHandle): one
// element calling another from outside a script, so only Callable methods answer.
func (a *App) Call(ctx context.Context, fullName, method string, args elements.Args) (any, error) {
	e, err := a.Element(fullName)
	if err != nil {
		return nil, err
	}
	return e.Call(ctx, method, func(m *elements.Method) (elements.Args, error) {
		if !m.Callable {
			return nil, &elements.Error{Code: elements.CodeUnknownMethod, Err: elements.ErrUnknownMethod,
				Message: fmt.Sprintf("method %s of %s can only be called from the app's scripts", method, fullName)}
		}
		return m.BindNamed(args)
	})
}

// CallJSON runs a method with arguments as a JSON body gives them: an array is positional,
// an object is by name (or, for a method taking one object, that object), anything else is
// the single positional argument.
func (a *App) CallJSON(ctx context.Context, fullName, method string, args any) (any, error) {
	e, err := a.Element(fullName)
	if err != nil {
		return nil, err
	}
	return e.Call(ctx, method, func(m *elements.Method) (elements.Args, error) { return m.BindJSON(args, false) })
}

// Close closes every instance (after its running calls finish) and then the store.
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
		a.host.close()
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

	mu         sync.Mutex
	removed    bool
	typeID     string
	title      string
	dir        string
	isType     bool
	problems   Problems
	generation int
	loadedAt   time.Time
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
	defer e.mu.Unlock()
	s := Status{FullName: e.FullName, Type: e.typeID, Title: e.title, Generation: e.generation,
		Serving: e.cur.Load() != nil, Status: "ok"}
	switch {
	case len(e.problems) > 0:
		s.Status = "error"
		s.Error = e.app.redactor.String(e.problems.Error())
	case e.isType:
		s.Status = "type"
	}
	if ref := e.cur.Load(); ref != nil {
		if d, ok := ref.inst.(elements.Describer); ok {
			s.Detail = d.Describe()
		}
	}
	return s
}

// Problems returns the element's problems from its latest load.
func (e *Entry) Problems() Problems {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append(Problems(nil), e.problems...)
}

func (e *Entry) fail(ps Problems) {
	e.mu.Lock()
	e.problems = ps
	e.mu.Unlock()
}

// install builds an instance from a loaded definition and makes it current, or records the
// definition's problems and leaves the current instance serving.
func (e *Entry) install(def *definition) Problems {
	a := e.app
	a.redactor.Add(def.secrets...)
	if len(def.problems) > 0 {
		// The last good instance, if any, keeps serving; its description stays with it.
		e.mu.Lock()
		if e.cur.Load() == nil {
			e.typeID, e.title, e.dir, e.isType = def.typeID, def.title, def.rel, def.isType
		}
		e.problems = def.problems
		e.mu.Unlock()
		if def.isType {
			// instances of a broken Type element report it (they keep serving, if they do)
			a.mu.Lock()
			a.types[def.fullName] = def.te
			a.mu.Unlock()
		}
		return def.problems
	}
	e.mu.Lock()
	e.typeID, e.title, e.dir, e.isType = def.typeID, def.title, def.rel, def.isType
	e.mu.Unlock()
	if def.isType {
		a.mu.Lock()
		a.types[def.fullName] = def.te
		a.mu.Unlock()
		e.fail(nil)
		if old := e.cur.Swap(nil); old != nil {
			old.retire()
		}
		return nil
	}
	def.el.Store = a.store
	def.el.Logger = a.log.With("element", def.fullName)
	def.el.App = a
	def.el.Location = a.Location()
	def.el.Service = a.opts.Service
	def.el.Observer = a.opts.Observer
	var ov *overrides
	if te := def.override; te != nil && te.module != "" {
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.Timeout)
		names, err := a.host.moduleFunctions(ctx, te.module)
		cancel()
		if err != nil {
			ps := Problems{problemOf(err, te.module)}
			e.fail(ps)
			return ps
		}
		ov = &overrides{module: te.module, names: names, callable: te.callable}
	}
	inst, err := def.typ.New(def.el)
	if err != nil {
		ps := Problems{{Path: def.rel + "/e.json", Msg: fmt.Sprintf("cannot build %s: %v", def.typeID, err)}}
		e.fail(ps)
		return ps
	}
	e.mu.Lock()
	e.generation++
	gen := e.generation
	e.problems = nil
	e.loadedAt = time.Now()
	e.mu.Unlock()
	ref := newInstanceRef(inst, def.el, gen)
	if ov != nil {
		ref.methods = a.overrideMethods(def.fullName, ref.base, ov)
		ref.names = slices.Sorted(maps.Keys(ref.methods))
	}
	if old := e.cur.Swap(ref); old != nil {
		old.retire()
	}
	return nil
}

// Instance returns the element's current instance for a call; release it when done.
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

// Call runs a method on the current instance; bind turns the caller's arguments into Args
// for the method found.
func (e *Entry) Call(ctx context.Context, method string, bind func(*elements.Method) (elements.Args, error)) (any, error) {
	ref, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer ref.release()
	m := ref.methods[method]
	if m == nil {
		return nil, &elements.Error{Code: elements.CodeUnknownMethod, Err: elements.ErrUnknownMethod,
			Message: fmt.Sprintf("element %s (%s) has no method %q", e.FullName, ref.el.TypeID, method)}
	}
	args, err := bind(m)
	if err != nil {
		return nil, err
	}
	return m.Call(ctx, args)
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
	return p.Get(), true, nil
}

// instanceRef is one built instance with the count of calls running on it, so that a
// replaced instance is closed only after its last call.
type instanceRef struct {
	inst      elements.Instance
	el        *elements.Element
	gen       int
	methods   map[string]*elements.Method
	base      map[string]*elements.Method // the Type's own methods ($super of JS overrides)
	names     []string                    // method names, sorted
	props     map[string]elements.Property
	propNames []string

	mu       sync.Mutex
	active   int
	retired  bool
	closed   bool
	done     chan struct{}
	closeErr error
}

func newInstanceRef(inst elements.Instance, el *elements.Element, gen int) *instanceRef {
	r := &instanceRef{inst: inst, el: el, gen: gen, methods: map[string]*elements.Method{},
		props: map[string]elements.Property{}, done: make(chan struct{})}
	for _, m := range inst.Methods() {
		m := m
		r.methods[m.Name] = &m
		r.names = append(r.names, m.Name)
	}
	sort.Strings(r.names)
	r.base = r.methods
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
	close(r.done)
}
