// Package hugeheap asks Linux to back the Go heap with transparent huge pages while a
// command does heavy work, as the JVM's -XX:+UseTransparentHugePages does for its heap.
//
// Where transparent huge pages are "madvise" (Debian's, Ubuntu's and most distributions'
// default), the kernel maps a process's memory 4 KiB at a time unless the process asks for
// more, and Go no longer asks (since Go 1.21.1). A fresh `jitrt exec` that syncs a
// million members touches a gigabyte: 260,000 page faults, each one a trap, and on a
// virtual machine each costs 5-12 µs (measured on the 2-core machine CI uses: 12 µs a 4
// KiB page, 0.5 µs a 4 KiB page under a 2 MiB one). The runtime maps its heap in chunks
// with mmap(MAP_FIXED), which drops any earlier advice; so the heap is reserved ahead
// (mapped untouched and let go: it then grows into memory already advised), and the advice
// is given again every few milliseconds while the work runs, over the address range the
// heap grows into, for what it maps past that.
package hugeheap

import (
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Env turns the advice off when set to 0 (JITRT_HUGEPAGES=0); GODEBUG=disablethp=1, Go's
// own switch for the heap's huge pages, does too.
const Env = "JITRT_HUGEPAGES"

// interval is how often the advice is given again, for what the heap maps past the
// reservation: each call walks the process's mappings (17 µs on the 2-core machine;
// every millisecond, 1.6% of a million-member sync's CPU).
const interval = 5 * time.Millisecond

// gcPercentMu orders SetGCPercent's changes with the reservation's: a command's own change
// of the collector's percent made while the reservation has it off would be undone by it.
var gcPercentMu sync.Mutex

// SetGCPercent is debug.SetGCPercent, ordered with the reservation's switching the
// collector off and back (a command that changes the percent while Advise runs calls this).
func SetGCPercent(percent int) int {
	gcPercentMu.Lock()
	defer gcPercentMu.Unlock()
	return debug.SetGCPercent(percent)
}

// reserveOnce: the heap is reserved once in a process. Made again, the reservation would
// reuse the first, freed, which the runtime zeroes: a gigabyte written.
var reserveOnce sync.Once

// Advice is the advice a command's heap is given while it works.
type Advice struct {
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// Advise advises huge pages for the heap until Stop: it reserves the heap ahead
// (reserveHeap, once a process) and returns, then advises every few milliseconds what the
// heap maps past the reservation. It does nothing where the kernel cannot (not Linux, no
// transparent huge pages) or when turned off (Env, GODEBUG=disablethp=1).
//
// The reservation is made before Advise returns, not beside the command's work, which
// would save a bare exec a few milliseconds: until the collector sweeps it, it counts
// among the heap's objects, and made while a script runs (one a task starts as the app
// loads, say), its gigabyte would be charged to the script's memory budget and stop it.
func Advise() *Advice {
	a := &Advice{done: make(chan struct{})}
	if os.Getenv(Env) == "0" || strings.Contains(os.Getenv("GODEBUG"), "disablethp=1") {
		return a
	}
	base, size := heapRange()
	if size == 0 || advise(base, size) != nil { // the kernel cannot: no reservation either
		return a
	}
	reserveOnce.Do(reserveHeap)
	advise(base, size)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-a.done:
				return
			case <-t.C:
				advise(base, size)
			}
		}
	}()
	return a
}

// Stop ends the advice, waiting for its goroutine to end. Twice is harmless.
func (a *Advice) Stop() {
	a.once.Do(func() {
		close(a.done)
		a.wg.Wait()
	})
}
