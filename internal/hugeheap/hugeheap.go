// Package hugeheap asks Linux to back the Go heap with transparent huge pages while a
// command does heavy work, as the JVM's -XX:+UseTransparentHugePages does for its heap.
//
// Where transparent huge pages are "madvise" (Debian's, Ubuntu's and most distributions'
// default), the kernel maps a process's memory 4 KiB at a time unless the process asks for
// more, and Go no longer asks (since Go 1.21.1). A fresh `jitrt exec` that syncs a
// million members touches a gigabyte: 260,000 page faults, each one a trap, and on a
// virtual machine each costs 5-12 µs (measured on the 2-core machine CI uses: 12 µs a 4
// KiB page, 0.5 µs a 4 KiB page under a 2 MiB one). The runtime maps its heap in chunks
// with mmap(MAP_FIXED), which drops any earlier advice; so once the work has allocated
// heavyWork the heap is reserved ahead (mapped untouched and let go: it then grows into
// memory already advised), and the advice is given again every few milliseconds while the
// work runs, over the address range the heap grows into, for what it maps past that.
package hugeheap

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
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

// heavyWork is how much a command allocates before the heap is reserved ahead for it.
const heavyWork = 32 << 20

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

// Advise advises huge pages for the heap until stop is called (which waits for the
// advising goroutine to end). It does nothing where the kernel cannot (not Linux, no
// transparent huge pages) or when turned off (Env, GODEBUG=disablethp=1).
func Advise() (stop func()) {
	if os.Getenv(Env) == "0" || strings.Contains(os.Getenv("GODEBUG"), "disablethp=1") {
		return func() {}
	}
	base, size := heapRange()
	if size == 0 {
		return func() {}
	}
	if advise(base, size) != nil { // the kernel cannot: no reservation either
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		allocated := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
		for {
			select {
			case <-done:
				return
			case <-t.C:
				// work that has allocated heavyWork reserves the heap ahead (here, not
				// on the command's way: mapping a gigabyte's page tables and spans takes
				// 5-8 ms, which a light command, exec -e 1, is spared)
				if metrics.Read(allocated); allocated[0].Value.Kind() == metrics.KindUint64 && allocated[0].Value.Uint64() > heavyWork {
					reserveOnce.Do(reserveHeap)
				}
				advise(base, size)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
