package hugeheap

import (
	"errors"
	"syscall"
	"unsafe"
)

// arenaSize is the Go heap's arena on 64-bit Linux (runtime.heapArenaBytes): the heap
// starts at an arena boundary and grows upward from it, arena after arena.
const arenaSize = 64 << 20

// span is how much address space above the heap's first arena is advised: more than any
// heap of this process will be (advice over addresses nothing maps costs nothing).
const span = 64 << 30

var sink *[64 << 10]byte

// heapRange is the heap's first arena onward: found from the address of an object the
// heap holds.
func heapRange() (base, size uintptr) {
	sink = new([64 << 10]byte) // large enough to be on the heap, not in a tiny block
	base = uintptr(unsafe.Pointer(sink)) &^ (arenaSize - 1)
	sink = nil
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
