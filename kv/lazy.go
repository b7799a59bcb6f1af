package kv

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// # Opening a large state file without reading it
//
// A state file of mapMin bytes or more is mapped (mmap, read-only, shared) rather than
// read: the store's keys and values are strings over the mapping, so opening costs the
// pages of the keys, not the whole file. Its large transactions (kvtx2, lazyMin bytes or
// more: a sync's commit, a compaction's pieces) end with the checksum of each of their
// values (sumsKey), and are checked in two steps:
//
//   - when the file is opened, everything but the values: the header, every command's
//     shape, keys and lengths and the values' checksums, against the header's checksum of
//     the body without its values, so that a damaged key or length is refused then, as in
//     any file;
//   - when a value is first read (Get, a scan, an index, a compaction), that value,
//     against its checksum. A damaged value is never handed out: the View or Update that
//     read it fails whole with a *CorruptError naming the value's byte and key, whatever
//     the code in it did with the read, and every later read of it fails the same.
//
// Small files and small transactions are read and checked whole when opened, as before.
// A compaction, and CreateIndex, first check every value not checked yet.
//
// The mapping is never unmapped, even by Close: values read from the store may be kept
// by its callers after it is closed. A process maps each state file it opens once per
// opening; the pages are the file's, shared with the page cache, and the kernel may drop
// them. kv replaces its files by renames and never cuts one short below a whole
// transaction, so the mapped bytes stay; a state file cut short by hand beneath a running
// jitrt ends it (SIGBUS) when it reads what was cut.

const (
	// lazyMin is the size of a transaction's body from which its header is kvtx2 and a
	// mapped file checks its values when first read.
	lazyMin = 64 << 10
	// mapMin is the size of a state file from which it is mapped rather than read.
	mapMin = 1 << 20
	// populateMax is the size of a state file up to which it is mapped whole at once
	// (MAP_POPULATE), rather than a page at a time as it is first read. Opening reads the
	// keys and lengths of every command, which in a file of a few tens of MiB is most of
	// its pages: a 100,000-member state (40 MiB) took about 1,000 page faults on open, each
	// a trap (5-12 µs on a virtual machine); mapped whole, one call (about 4 ms) and an
	// exec 7-10 ms faster. A larger file (a million members: 400 MiB) is still mapped
	// lazily: its open reads a small part of it.
	populateMax = 64 << 20
)

// lazyValue is a value of a mapped file checked when first read.
type lazyValue struct {
	start, end int // its bytes in the file
	crc        uint32
}

const (
	unchecked int32 = iota
	sound
	damaged
)

// mapping is a mapped state file and its values still to be checked.
type mapping struct {
	path   string
	data   []byte
	base   uintptr
	values []lazyValue // in file order
	state  []atomic.Int32
}

// corruptRead is the panic with which a read of a damaged value leaves the code that made
// it; View and Update recover it and return its error.
type corruptRead struct{ err *CorruptError }

// mapFile maps f whole, read-only; up to populateMax bytes, with its pages mapped at once.
func mapFile(f *os.File, size int64) ([]byte, error) {
	flags := unix.MAP_SHARED
	if size <= populateMax {
		flags |= unix.MAP_POPULATE
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, flags)
	if err != nil {
		return nil, fmt.Errorf("map: %w", err)
	}
	return data, nil
}

// newMapping keeps what verify left to check of a mapped file (nil when nothing was).
func newMapping(path string, data []byte, values []lazyValue) *mapping {
	if len(values) == 0 {
		return nil
	}
	return &mapping{path: path, data: data, base: uintptr(unsafe.Pointer(unsafe.SliceData(data))),
		values: values, state: make([]atomic.Int32, len(values))}
}

// check lets v through if it is not one of the mapping's values to check, or checks out;
// a damaged value panics with corruptRead. A nil mapping checks nothing.
func (m *mapping) check(v string) {
	if m == nil || len(v) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(v)))
	if p < m.base || p >= m.base+uintptr(len(m.data)) {
		return // not from the file: written since it was opened
	}
	off := int(p - m.base)
	i := sort.Search(len(m.values), func(i int) bool { return m.values[i].end > off })
	if i == len(m.values) || off < m.values[i].start {
		return // in a transaction checked whole when the file was opened
	}
	if err := m.checkValue(i); err != nil {
		panic(corruptRead{err})
	}
}

// checkValue checks the i-th value against its checksum, once.
func (m *mapping) checkValue(i int) *CorruptError {
	st := m.state[i].Load()
	if st == unchecked {
		v := m.values[i]
		st = sound
		if crc32.Checksum(m.data[v.start:v.end], castagnoli) != v.crc {
			st = damaged
		}
		m.state[i].Store(st) // two readers at once compute the same
	}
	if st == sound {
		return nil
	}
	v := m.values[i]
	return &CorruptError{Path: m.path, Offset: int64(v.start),
		Reason: fmt.Sprintf("the value of %q fails its checksum (found when first read; it was not served)", m.keyOf(v.start))}
}

// keyOf is the key whose value starts at off: the bulk string before the value's length.
func (m *mapping) keyOf(off int) string {
	// ...$<keylen>\r\n<key>\r\n$<len>\r\n<value>: back over the value's length line
	i := bytes.LastIndex(m.data[max(0, off-96):off-2], []byte("\r\n$"))
	if i < 0 {
		return "?"
	}
	keyEnd := max(0, off-96) + i
	j := bytes.LastIndex(m.data[max(0, keyEnd-4096):keyEnd], []byte("\r\n"))
	if j < 0 {
		return "?"
	}
	return string(m.data[max(0, keyEnd-4096)+j+2 : keyEnd])
}

// checkAll checks every value not checked yet: before the whole store is read (a
// compaction, an index).
func (m *mapping) checkAll() error {
	if m == nil {
		return nil
	}
	for i := range m.values {
		if err := m.checkValue(i); err != nil {
			return err
		}
	}
	return nil
}

// recoverCorrupt turns a corruptRead panic into the error of the View or Update it left.
func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		cr, ok := r.(corruptRead)
		if !ok {
			panic(r)
		}
		*err = cr.err
	}
}

// checked is v, checked (see mapping.check).
func (tx *Tx) checked(v string) string {
	tx.store.mapped.check(v)
	return v
}

// VerifyAll checks every value of the state file that opening left to be checked when
// first read (what a compaction does first).
func (s *Store) VerifyAll() error { return s.mapped.checkAll() }
