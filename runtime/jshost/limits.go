package jshost

import (
	"context"
	"fmt"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jitrt/jitrt/elements"
)

// Limits bound what one run, and all runs together, may take. Zero fields take the
// defaults of DefaultLimits.
type Limits struct {
	// CallStack is the deepest chain of calls a script may make; past it the run ends with
	// "RangeError: Maximum call stack size exceeded".
	CallStack int
	// RunMemory is how far the heap may grow while one run's JavaScript executes (what the
	// Go methods it calls allocate is not its own); past it the run is stopped with code
	// resource_exhausted.
	RunMemory int64
	// Memory is the heap the process may reach with scripts running: past it, the runs that
	// grew it are stopped with code resource_exhausted.
	Memory int64
	// Runs is how many runs may execute at once. Past it a caller that cannot wait (the HTTP
	// API, see elements.WithoutQueue) gets code busy; others wait for a turn. Runs started by
	// a run (an app Type element's method) do not count.
	Runs int
	// StringLength is the longest string a built-in may make in one step (repeat, padStart,
	// padEnd): a script asking for more gets a RangeError.
	StringLength int
}

// DefaultLimits are the limits when none are set; the process's Memory is DefaultMemory().
var DefaultLimits = Limits{CallStack: 10_000, RunMemory: 256 << 20, Runs: 16, StringLength: 1 << 27}

// DefaultMemory is the process's heap budget when none is set: half the machine's memory,
// at most 4 GiB.
func DefaultMemory() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return 4 << 30
	}
	return min(int64(si.Totalram)*int64(si.Unit)/2, 4<<30)
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	d.Memory = DefaultMemory()
	if l.CallStack > 0 {
		d.CallStack = l.CallStack
	}
	if l.RunMemory > 0 {
		d.RunMemory = l.RunMemory
	}
	if l.Memory > 0 {
		d.Memory = l.Memory
	}
	if l.Runs > 0 {
		d.Runs = l.Runs
	}
	if l.StringLength > 0 {
		d.StringLength = l.StringLength
	}
	return d
}

// memoryMarker is what Interrupt is given when a run is stopped for memory.
type memoryMarker struct {
	limit   int64
	process bool
}

// stackMarker stands for a stack overflow in errors.
type stackMarker struct{ limit int }

// run is one run in progress, as the memory watchdog sees it.
type run struct {
	v *vm

	mu      sync.Mutex
	done    bool // set (under mu) before the runtime is cleared for reuse
	charged int64

	inGo    atomic.Int32 // Go methods in progress
	wasInGo atomic.Bool  // a Go method ran since the watchdog's last look
}

// interrupt stops the run's script, unless the run is over.
func (r *run) interrupt(reason any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done {
		r.v.rt.Interrupt(reason)
	}
}

// finish marks the run over: no interrupt reaches its runtime after this.
func (r *run) finish() {
	r.mu.Lock()
	r.done = true
	r.mu.Unlock()
}

// inGoMethod runs fn (a call into Go) so that the heap it grows is not charged to the run.
func (v *vm) inGoMethod(fn func()) {
	r := v.run
	if r == nil {
		fn()
		return
	}
	r.inGo.Add(1)
	defer func() {
		r.wasInGo.Store(true)
		r.inGo.Add(-1)
	}()
	fn()
}

// watchdog samples the heap while runs are in progress and stops the runs that grow it
// past their budget, or the process's.
type watchdog struct {
	h        *Host
	mu       sync.Mutex
	runs     map[*run]struct{}
	running  bool
	lastHeap int64
	interval time.Duration
}

// heapBytes is the heap's size: live objects and garbage not yet swept. Reading it stops
// nothing.
func heapBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

func (w *watchdog) add(r *run) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.runs[r] = struct{}{}
	if !w.running {
		w.running = true
		w.lastHeap = heapBytes()
		go w.loop()
	}
}

func (w *watchdog) remove(r *run) {
	w.mu.Lock()
	delete(w.runs, r)
	w.mu.Unlock()
}

// loop looks every interval until no run is left.
func (w *watchdog) loop() {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for range t.C {
		if !w.look() {
			return
		}
	}
}

// look charges the heap's growth since the last look to the runs whose scripts were
// executing, and stops those past their budget. It returns false when no run is left.
func (w *watchdog) look() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.runs) == 0 {
		w.running = false
		return false
	}
	lim := w.h.limits()
	heap := heapBytes()
	delta := heap - w.lastHeap
	w.lastHeap = heap
	for r := range w.runs {
		if r.inGo.Load() > 0 || r.wasInGo.Swap(false) {
			continue // a Go method's growth is not the script's
		}
		r.charged = max(0, r.charged+delta)
		if r.charged > lim.RunMemory {
			r.interrupt(memoryMarker{limit: lim.RunMemory})
		}
	}
	if lim.Memory > 0 && heap > lim.Memory {
		// Over the process's budget: stop every run that grew the heap noticeably.
		for r := range w.runs {
			if r.charged > 16<<20 {
				r.interrupt(memoryMarker{limit: lim.Memory, process: true})
			}
		}
	}
	return true
}

// turn waits for a place among the runs that may execute at once, unless ctx is already
// inside a run (a nested run takes no place) or its caller cannot wait. It returns the
// release of the place.
func (h *Host) turn(ctx context.Context) (func(), error) {
	if ctx.Value(inRunKey{}) != nil {
		return func() {}, nil
	}
	slots := h.slots.Load()
	select {
	case *slots <- struct{}{}:
		return func() { <-*slots }, nil
	default:
	}
	if elements.IsWithoutQueue(ctx) {
		return nil, &elements.Error{Code: elements.CodeBusy, Err: elements.ErrBusy,
			Message: fmt.Sprintf("all %d script runs are busy; try again shortly", cap(*slots))}
	}
	select {
	case *slots <- struct{}{}:
		return func() { <-*slots }, nil
	case <-ctx.Done():
		return nil, &elements.Error{Code: elements.CodeTimeout, Err: elements.ErrTimeout,
			Message: fmt.Sprintf("waited for a turn among %d busy script runs: %v", cap(*slots), ctx.Err())}
	}
}

// inRunKey marks a context as that of a run in progress.
type inRunKey struct{}

// SetLimits changes the limits of the runs that start from now on.
func (h *Host) SetLimits(l Limits) {
	l = l.withDefaults()
	h.lim.Store(&l)
	if old := h.slots.Load(); old == nil || cap(*old) != l.Runs {
		ch := make(chan struct{}, l.Runs)
		h.slots.Store(&ch)
	}
}

func (h *Host) limits() Limits { return *h.lim.Load() }

// Limits are the host's limits.
func (h *Host) Limits() Limits { return h.limits() }
