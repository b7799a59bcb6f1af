// Package wasmhost runs the WebAssembly methods of an app's Type elements with wazero:
// each module compiled once per file version, instances pooled, every call under the run's
// time limit and a memory ceiling, and WASI only in the pieces the element grants.
//
// # The ABI
//
// A guest module exports, besides its methods:
//
//	jitrt_alloc(size u32) u32     a buffer of at least size bytes for the host to write a
//	                              method's arguments into; the guest owns it and may reuse
//	                              it (the host asks again only for a larger one)
//
// and each method as
//
//	name(argsPtr u32, argsLen u32) u64
//
// The arguments are the JSON array of the call's arguments in order; the result is
// (ptr<<32 | len) of a JSON envelope in the guest's memory, {"result": …} or
// {"error": {"code": "…", "message": "…"}}, valid until the guest's next call. A call is
// one entry into the guest (two when the arguments outgrow the buffer). A guest may
// import from module "jitrt":
//
//	call(reqPtr u32, reqLen u32) u32   a method of the app, through its one call path:
//	                                   {"element": "" (this one) or "corps.X", "method", "args": […],
//	                                   "super": true for the link above}; returns the length
//	                                   of the answer's envelope, which result copies out
//	config() u32                       the element's config without its secrets (JSON), via result
//	result(ptr u32)                    copies the last answer into memory the guest allocated
//	log(level i32, ptr u32, len u32)   a line in the app's log (level: -4 debug … 8 error)
//
// Package wasm/guest hides all of this for a Go guest.
package wasmhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/jitrt/jitrt/elements"
)

// Grants are the WASI pieces an element's e.json gives its module; without them the guest
// sees a fake clock, deterministic randomness, no files and no network.
type Grants struct {
	Clock  bool // the real time, and sleeping
	Random bool // the system's randomness
	FS     bool // the functions that open files by name; a copy of Dir is then "/", read-only
	Dir    string
	// MemoryPages is the most linear memory an instance may grow to, in 64 KiB pages.
	MemoryPages uint32
}

// DefaultMemory is a module's memory ceiling when its e.json names none.
const DefaultMemory = 128 << 20

// baseWASI is what every guest may import: what a Go or Rust runtime needs to start, all of
// it sandboxed (no arguments, no environment, stdout and stderr to the app's log, no
// folder opened, fake time and randomness unless granted).
var baseWASI = []string{"args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "proc_exit",
	"sched_yield", "clock_time_get", "clock_res_get", "random_get", "poll_oneoff",
	"fd_write", "fd_read", "fd_close", "fd_seek", "fd_tell", "fd_sync", "fd_datasync", "fd_fdstat_get",
	"fd_fdstat_set_flags", "fd_filestat_get", "fd_pread", "fd_pwrite", "fd_readdir", "fd_prestat_get",
	"fd_prestat_dir_name", "fd_advise", "fd_allocate", "fd_renumber", "fd_filestat_set_size", "fd_filestat_set_times"}

// fsWASI are the functions that open files by name: only the "fs" grant lets a guest
// import them, and then it sees its Type element's folder, read-only, as "/".
var fsWASI = []string{"path_create_directory", "path_filestat_get", "path_filestat_set_times", "path_link",
	"path_open", "path_readlink", "path_remove_directory", "path_rename", "path_symlink", "path_unlink_file"}

// Sentinel errors.
var (
	// ErrImport is a module that imports what it is not granted (or what no host has).
	ErrImport = errors.New("wasm: import not granted")
	// ErrABI is a module without jitrt_alloc and jitrt_free, or a result outside its memory.
	ErrABI = errors.New("wasm: the module does not follow the jitrt ABI")
)

// Host compiles and runs modules. Close it when the app closes.
type Host struct {
	cache wazero.CompilationCache
	log   *slog.Logger
	mu    sync.Mutex
	mods  map[string]*Module // by content hash and grants
}

// New makes a Host; cacheDir, when set, keeps compiled modules across runs.
func New(cacheDir string, log *slog.Logger) *Host {
	cache := wazero.NewCompilationCache()
	if cacheDir != "" {
		if c, err := wazero.NewCompilationCacheWithDir(cacheDir); err == nil {
			cache = c
		}
	}
	return &Host{cache: cache, log: log, mods: map[string]*Module{}}
}

// Close closes every module and the cache.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, m := range h.mods {
		m.close()
		delete(h.mods, k)
	}
	return h.cache.Close(context.Background())
}

// Module is one module, compiled at its first call, with its pool of instances.
type Module struct {
	Name    string   // the file, for messages
	Exports []string // the methods it exports, sorted
	grants  Grants
	files   fs.FS // what the fs grant shows, copied at load
	log     *slog.Logger
	cache   wazero.CompilationCache
	pool    chan *instance
	host    *Host
	refs    atomic.Int64 // Loads not yet Released

	once     sync.Once
	compiled atomic.Bool // once has run
	data     []byte      // until compiled
	err      error
	rt       wazero.Runtime
	cm       wazero.CompiledModule
}

// Load reads the module in data (named name, for messages) with the grants, or returns the
// one already loaded from the same bytes and grants. It checks what the module imports and
// exports without compiling it (the first call compiles it, or finds it in the cache): an
// import the grants do not allow is an ErrImport naming it and the grant it needs.
func (h *Host) Load(ctx context.Context, name string, data []byte, g Grants) (*Module, error) {
	if g.MemoryPages == 0 {
		g.MemoryPages = DefaultMemory >> 16
	}
	sum := sha256.Sum256(data)
	key := fmt.Sprintf("%s/%v", hex.EncodeToString(sum[:]), g)
	var files fs.FS
	if g.FS && g.Dir != "" {
		var digest string
		var err error
		if files, digest, err = snapshot(g.Dir); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		key += "/" + digest
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.mods[key]; m != nil {
		m.refs.Add(1)
		return m, nil
	}
	inf, err := inspect(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, imp := range inf.imports {
		switch mod, fn := imp.module, imp.name; {
		case mod == "jitrt" && slices.Contains([]string{"call", "config", "result", "log"}, fn):
		case mod == wasi_snapshot_preview1.ModuleName && slices.Contains(baseWASI, fn):
		case mod == wasi_snapshot_preview1.ModuleName && slices.Contains(fsWASI, fn):
			if !g.FS {
				return nil, fmt.Errorf("%w: %s imports %s.%s, which needs the grant \"fs\" (e.json \"wasm\": {\"wasi\": [\"fs\"]})", ErrImport, name, mod, fn)
			}
		default:
			return nil, fmt.Errorf("%w: %s imports %s.%s, which jitrt does not offer a guest (WASI: clocks, randomness, standard output, poll; with \"fs\": opening files; jitrt: call, config, result, log)",
				ErrImport, name, mod, fn)
		}
	}
	if _, ok := inf.exports["jitrt_alloc"]; !ok {
		return nil, fmt.Errorf("%w: %s does not export jitrt_alloc (a Go guest imports github.com/jitrt/jitrt/wasm/guest)", ErrABI, name)
	}
	m := &Module{Name: name, data: data, grants: g, files: files, log: h.log, cache: h.cache, host: h, pool: make(chan *instance, runtime.GOMAXPROCS(0))}
	for n, sig := range inf.exports {
		if strings.HasPrefix(n, "jitrt_") || strings.HasPrefix(n, "_") {
			continue
		}
		if string(sig.params) == string([]byte{api.ValueTypeI32, api.ValueTypeI32}) && string(sig.results) == string([]byte{api.ValueTypeI64}) {
			m.Exports = append(m.Exports, n)
		}
	}
	slices.Sort(m.Exports)
	h.mods[key] = m
	m.refs.Add(1)
	return m, nil
}

// Release gives back what Load handed out: when nothing holds the module any more (its
// instances were replaced and their last calls have ended), it is closed.
func (m *Module) Release() {
	if m.refs.Add(-1) != 0 {
		return
	}
	h := m.host
	h.mu.Lock()
	for k, v := range h.mods {
		if v == m && m.refs.Load() == 0 {
			delete(h.mods, k)
			h.mu.Unlock()
			m.close()
			return
		}
	}
	h.mu.Unlock()
}

// laterDeadline is ctx with its deadline, if any, moved by d; cancelling ctx (not its
// deadline passing) still cancels it.
func laterDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	later, cancel := context.WithDeadline(context.WithoutCancel(ctx), dl.Add(d))
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return later, func() { stop(); cancel() }
}

// compile compiles the module and instantiates what it imports, once.
func (m *Module) compile(ctx context.Context) error {
	defer m.compiled.Store(true)
	m.once.Do(func() {
		cfg := wazero.NewRuntimeConfig().WithCompilationCache(m.cache).WithCloseOnContextDone(true).WithMemoryLimitPages(m.grants.MemoryPages)
		ctx := context.WithoutCancel(ctx)
		rt := wazero.NewRuntimeWithConfig(ctx, cfg)
		cm, err := rt.CompileModule(ctx, m.data)
		if err == nil {
			_, err = wasi_snapshot_preview1.Instantiate(ctx, rt)
		}
		if err == nil {
			err = m.hostModule(ctx, rt)
		}
		if err != nil {
			rt.Close(ctx)
			m.err = elements.Errorf(elements.CodeScript, "%s cannot be compiled: %v", m.Name, err)
			return
		}
		m.rt, m.cm, m.data = rt, cm, nil
	})
	if m.err == nil && m.rt == nil {
		return elements.Errorf(elements.CodeUnavailable, "%s was unloaded (its Type element was reloaded): call again", m.Name)
	}
	return m.err
}

func (m *Module) close() {
	m.once.Do(func() {}) // a module never called is not compiled now
	for {
		select {
		case inst := <-m.pool:
			inst.mod.Close(context.Background())
			continue
		default:
		}
		break
	}
	if m.rt != nil {
		m.rt.Close(context.Background())
	}
}

// instance is one instantiation of a module.
type instance struct {
	mod        api.Module
	out        *lineLog // its stdout and stderr
	alloc      api.Function
	buf, bufSz uint32 // the guest's argument buffer
}

// Request is a call a guest makes back into the app (jitrt.call).
type Request struct {
	Element string `json:"element"`
	Method  string `json:"method"`
	Args    []any  `json:"args"`
	Super   bool   `json:"super"`
}

// Call is one method call into a guest.
type Call struct {
	Export string
	Args   []any
	// Invoke runs a guest's jitrt.call; Config answers jitrt.config.
	Invoke func(ctx context.Context, r Request) (any, error)
	Config func() map[string]any
	// Log and Element: the guest's lines go to Log with the element's name.
	Log     *slog.Logger
	Element string
}

type callKey struct{}

// callState is what the host functions of one call share.
type callState struct {
	call    *Call
	pending []byte // the answer result copies out
}

// Call runs an export with the call's arguments and returns its result. A guest error is
// an elements.Error with the guest's code; a trap, a run past ctx's deadline or a memory
// ceiling reached is an error for the caller, and the instance is dropped.
//
// The time a call waits for the module to compile (the first call, or a cold cache) is not
// the guest's: the call's deadline moves later by as much.
func (m *Module) Call(ctx context.Context, c Call) (any, error) {
	if !m.compiled.Load() {
		start := time.Now()
		err := m.compile(ctx)
		if err != nil {
			return nil, err
		}
		var cancel context.CancelFunc
		ctx, cancel = laterDeadline(ctx, time.Since(start))
		defer cancel()
	} else if err := m.compile(ctx); err != nil {
		return nil, err
	}
	inst, err := m.get(ctx)
	if err != nil {
		return nil, err
	}
	st := &callState{call: &c}
	ctx = context.WithValue(ctx, callKey{}, st)
	res, err := m.run(ctx, inst, c)
	if err != nil {
		inst.mod.Close(context.Background())
		return nil, m.callError(ctx, inst, c.Export, err)
	}
	select {
	case m.pool <- inst:
	default:
		inst.mod.Close(context.Background())
	}
	return res, nil
}

func (m *Module) get(ctx context.Context) (*instance, error) {
	select {
	case inst := <-m.pool:
		if !inst.closed() {
			return inst, nil
		}
	default:
	}
	out := &lineLog{log: m.log, name: m.Name}
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize").WithStdout(out).WithStderr(out)
	if m.grants.Clock {
		cfg = cfg.WithSysWalltime().WithSysNanotime().WithSysNanosleep()
	}
	if m.grants.Random {
		cfg = cfg.WithRandSource(rand.Reader)
	}
	if m.files != nil {
		cfg = cfg.WithFSConfig(wazero.NewFSConfig().WithFSMount(m.files, "/"))
	}
	mod, err := m.rt.InstantiateModule(context.WithoutCancel(ctx), m.cm, cfg)
	if err != nil {
		return nil, elements.Errorf(elements.CodeScript, "%s: cannot start the module: %v", m.Name, err)
	}
	return &instance{mod: mod, out: out, alloc: mod.ExportedFunction("jitrt_alloc")}, nil
}

func (i *instance) closed() bool { return i.mod.IsClosed() }

func (m *Module) run(ctx context.Context, inst *instance, c Call) (any, error) {
	fn := inst.mod.ExportedFunction(c.Export)
	if fn == nil {
		return nil, elements.Errorf(elements.CodeUnknownMethod, "%s exports no method %q", m.Name, c.Export)
	}
	args := c.Args
	if args == nil {
		args = []any{}
	}
	in, err := json.Marshal(args)
	if err != nil {
		return nil, elements.Errorf(elements.CodeInvalidArgument, "the arguments of %s cannot be JSON: %v", c.Export, err)
	}
	if uint32(len(in)) > inst.bufSz || inst.bufSz == 0 {
		res, err := inst.alloc.Call(ctx, uint64(max(len(in), 256)))
		if err != nil {
			return nil, err
		}
		inst.buf, inst.bufSz = uint32(res[0]), uint32(max(len(in), 256))
	}
	if !inst.mod.Memory().Write(inst.buf, in) {
		return nil, fmt.Errorf("%w: jitrt_alloc gave %d, outside its memory", ErrABI, inst.buf)
	}
	inst.out.reset()
	ret, err := fn.Call(ctx, uint64(inst.buf), uint64(len(in)))
	if err != nil {
		return nil, err
	}
	rp, rn := uint32(ret[0]>>32), uint32(ret[0])
	out, ok := inst.mod.Memory().Read(rp, rn)
	if !ok {
		return nil, fmt.Errorf("%w: %s.%s returned %d bytes at %d, outside its memory", ErrABI, m.Name, c.Export, rn, rp)
	}
	return decodeEnvelope(m.Name+"."+c.Export, out)
}

// envelope is a guest's answer (and the host's, to jitrt.call).
type envelope struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func decodeEnvelope(where string, raw []byte) (any, error) {
	if r, ok := bytes.CutPrefix(raw, []byte(`{"result":`)); ok && len(r) > 0 && r[len(r)-1] == '}' {
		var v any // the usual answer, read in one pass
		if err := json.Unmarshal(r[:len(r)-1], &v); err == nil {
			return v, nil
		}
	}
	var e envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, elements.Errorf(elements.CodeScript, "%s answered what is not a jitrt envelope ({\"result\": …} or {\"error\": …}): %v", where, err)
	}
	if e.Error != nil {
		code := e.Error.Code
		if code == "" {
			code = elements.CodeScript
		}
		return nil, elements.Errorf(code, "%s", e.Error.Message)
	}
	if len(e.Result) == 0 || string(e.Result) == "null" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(e.Result, &v); err != nil {
		return nil, elements.Errorf(elements.CodeScript, "%s: result: %v", where, err)
	}
	return v, nil
}

// callError says what ended a call: its time limit, the memory ceiling, a guest that
// exited or trapped.
func (m *Module) callError(ctx context.Context, inst *instance, export string, err error) error {
	var ee *elements.Error
	if errors.As(err, &ee) {
		return err
	}
	out := inst.out.String()
	var exit *sys.ExitError
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &elements.Error{Code: elements.CodeTimeout, Message: fmt.Sprintf("%s.%s ran past its time limit", m.Name, export), Err: ctx.Err()}
	case ctx.Err() != nil:
		return &elements.Error{Code: elements.CodeTimeout, Message: fmt.Sprintf("%s.%s was cancelled", m.Name, export), Err: ctx.Err()}
	case strings.Contains(out, "out of memory") || strings.Contains(err.Error(), "out of memory"):
		return &elements.Error{Code: elements.CodeResourceExhausted,
			Message: fmt.Sprintf("%s.%s needed more than its %s of memory (e.json \"wasm\": {\"memory\": …})", m.Name, export, human(int64(m.grants.MemoryPages)<<16))}
	case errors.As(err, &exit):
		return elements.Errorf(elements.CodeScript, "%s.%s exited with code %d%s", m.Name, export, exit.ExitCode(), lastLine(out))
	}
	return elements.Errorf(elements.CodeScript, "%s.%s trapped: %v%s", m.Name, export, err, lastLine(out))
}

func lastLine(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return ""
	}
	lines := strings.Split(out, "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
			return ": " + l
		}
	}
	return ": " + lines[len(lines)-1]
}

func human(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// hostModule instantiates the "jitrt" functions a guest may import.
func (m *Module) hostModule(ctx context.Context, rt wazero.Runtime) error {
	state := func(ctx context.Context) *callState {
		st, _ := ctx.Value(callKey{}).(*callState)
		return st
	}
	answer := func(st *callState, v any, err error) uint32 {
		var e envelope
		if err != nil {
			code := elements.CodeOf(err)
			e.Error = &struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}{code, err.Error()}
		} else {
			e.Result, err = json.Marshal(v)
			if err != nil {
				e.Result = nil
			}
		}
		st.pending, _ = json.Marshal(e)
		return uint32(len(st.pending))
	}
	_, err := rt.NewHostModuleBuilder("jitrt").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, mod api.Module, ptr, n uint32) uint32 {
		st := state(ctx)
		if st == nil {
			return 0
		}
		raw, ok := mod.Memory().Read(ptr, n)
		var req Request
		if !ok || json.Unmarshal(raw, &req) != nil || req.Method == "" {
			return answer(st, nil, elements.Errorf(elements.CodeInvalidArgument, "jitrt.call: the request is not {\"method\", \"args\", …} JSON in the guest's memory"))
		}
		v, err := st.call.Invoke(ctx, req)
		return answer(st, v, err)
	}).Export("call").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, mod api.Module) uint32 {
		st := state(ctx)
		if st == nil {
			return 0
		}
		var cfg map[string]any
		if st.call.Config != nil {
			cfg = st.call.Config()
		}
		return answer(st, cfg, nil)
	}).Export("config").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, mod api.Module, ptr uint32) {
		if st := state(ctx); st != nil {
			mod.Memory().Write(ptr, st.pending)
			st.pending = nil
		}
	}).Export("result").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, mod api.Module, level int32, ptr, n uint32) {
		raw, _ := mod.Memory().Read(ptr, n)
		log, el := m.log, ""
		if st := state(ctx); st != nil && st.call.Log != nil {
			log, el = st.call.Log, st.call.Element
		}
		log.Log(ctx, slog.Level(level), string(raw), "element", el, "wasm", m.Name)
	}).Export("log").
		Instantiate(ctx)
	return err
}

// lineLog is a guest's stdout and stderr: each line to the app's log at info, the last
// call's output kept to explain a failure.
type lineLog struct {
	log  *slog.Logger
	name string
	mu   sync.Mutex
	buf  bytes.Buffer
	line []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() < 64<<10 {
		l.buf.Write(p)
	}
	l.line = append(l.line, p...)
	for {
		i := bytes.IndexByte(l.line, '\n')
		if i < 0 {
			break
		}
		l.log.Info(string(l.line[:i]), "wasm", l.name)
		l.line = l.line[i+1:]
	}
	return len(p), nil
}

func (l *lineLog) reset() {
	l.mu.Lock()
	l.buf.Reset()
	l.mu.Unlock()
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// ReadModule reads a module file (at most limit bytes).
func ReadModule(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes; the most jitrt loads is %d", path, st.Size(), limit)
	}
	return os.ReadFile(path)
}
