//go:build !linux

package hugeheap

import "errors"

func heapRange() (base, size uintptr) { return 0, 0 }

func advise(base, size uintptr) error { return errors.ErrUnsupported }

func reserveHeap() {}
