package hugeheap

import (
	"errors"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// arenaSize is the Go heap's arena on 64-bit Linux (runtime.heapArenaBytes): the heap
// starts at an arena boundary and grows upward from it, arena after arena.
const arenaSize = 64 << 20

// span is how much address space above the heap's first arena is advised: more than any
// heap of this process will be (advice over addresses nothing maps costs nothing).
const span = 64 << 30

// probe is where heapRange's object escapes to, so that it is on the heap, not on the
// stack: atomic, as two commands may start at once in one process (the tests run
// jitrt's commands in theirs, in parallel).
var probe atomic.Pointer[[64 << 10]byte]

// heapRange is the heap's first arena onward: found from the address of an object the
// heap holds.
func heapRange() (base, size uintptr) {
	p := new([64 << 10]byte) // large enough to be on the heap, not in a tiny block
	probe.Store(p)
	base = uintptr(unsafe.Pointer(p)) &^ (arenaSize - 1)
	probe.CompareAndSwap(p, nil)
	return base, span
}

// advise gives MADV_HUGEPAGE over the range. Holes in it (addresses nothing maps yet) make
// the call answer ENOMEM after advising every mapping in it: that is not a failure.
func advise(base, size uintptr) error {
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, base, size, syscall.MADV_HUGEPAGE)
	if errno != 0 && !errors.Is(errno, syscall.ENOMEM) {
		return errno
	}
	return nil
}

// reserveSize is how much heap reserveHeap maps ahead: 1 GiB (what a million-member
// sync grows to; beyond it the polling advises what the heap maps), an eighth of the
// machine's memory on a smaller one.
func reserveSize() int {
	size := 1 << 30
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.Atoi(f[1]); err == nil {
					size = min(size, kb<<10/8)
				}
			}
		}
	}
	return size
}

// reserveHeap has the runtime map reserveSize of heap now, untouched, and lets it go: the
// heap grows into it afterwards without mapping anew, so the advice given once holds for
// all of it. (Mapping anew drops the advice, and a chunk the allocator maps is touched
// before the next advice comes: 2 MiB of every 4 MiB stayed in small pages. Measured, a
// million-member first sync: 150,000 page faults with the polling alone, 24,000 with the
// reservation.)
//
// The collector is off while the reservation is made (SetGCPercent(-1) first waits for a
// collection in progress to end): made during a collection's marking, it would count as
// live in it, and the next collection's goal would be set past it. Not where the kernel
// counts mapped memory strictly (vm.overcommit_memory 2): there untouched memory is
// charged all the same.
func reserveHeap() {
	if raceEnabled {
		return
	}
	if b, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err != nil || strings.TrimSpace(string(b)) == "2" {
		return
	}
	gcPercentMu.Lock()
	defer gcPercentMu.Unlock()
	prev := debug.SetGCPercent(-1)
	reserve(reserveSize())
	debug.SetGCPercent(prev)
}

// reserve allocates n bytes and drops them: fresh memory, which the runtime knows to be
// zero, so none of it is written.
//
//go:noinline
func reserve(n int) {
	sink = make([]byte, n)
	sink = nil
}

var sink []byte
