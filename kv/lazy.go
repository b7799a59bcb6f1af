package kv

import (
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// # Opening a large state file without reading it
//
// A state file of mapMin bytes or more is mapped (mmap, read-only, shared) rather than
// read: the store's keys and values are strings over the mapping, so opening costs the
// pages of the keys, not the whole file. Its large transactions (kvtx2, lazyMin bytes or
// more: a sync's commit, a compaction's chunks) are checked in two steps:
//
//   - when the file is opened, everything but the values: the header, every command's
//     shape, keys and lengths, against the header's checksum of the body without its
//     values, so that a damaged key or length is refused then, as in any file;
//   - when a value of the transaction is first read (Get, a scan, an index, a
//     compaction), the whole body, against the header's checksum of it. A value of a
//     body that does not check out is never handed out: the View or Update that read it
//     fails whole with a *CorruptError naming the transaction's byte, whatever the code
//     in it did with the read, and every later read of that transaction fails the same.
//
// Small files and small transactions are read and checked whole when opened, as before.
// A compaction, and CreateIndex, first check every transaction not checked yet.
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
)

// lazyTx is a transaction of a mapped file whose body is checked when first read.
type lazyTx struct {
	start, body, end int // offsets of its header, its body and the byte after it
	seq              uint64
	crc              uint32
	state            atomic.Int32 // unchecked, sound or damaged
}

const (
	unchecked int32 = iota
	sound
	damaged
)

// mapping is a mapped state file and its transactions still to be checked.
type mapping struct {
	path string
	data []byte
	base uintptr
	txs  []*lazyTx // in file order
	mu   sync.Mutex
}

// corruptRead is the panic with which a read of a damaged value leaves the code that made
// it; View and Update recover it and return its error.
type corruptRead struct{ err *CorruptError }

// mapFile maps f whole, read-only.
func mapFile(f *os.File, size int64) ([]byte, error) {
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map: %w", err)
	}
	return data, nil
}

// newMapping keeps what verify left to check of a mapped file (nil when nothing was).
func newMapping(path string, data []byte, txs []*lazyTx) *mapping {
	if len(txs) == 0 {
		return nil
	}
	return &mapping{path: path, data: data, base: uintptr(unsafe.Pointer(unsafe.SliceData(data))), txs: txs}
}

// check lets v through if it is not in the mapping or its transaction checks out; a
// value of a damaged transaction panics with corruptRead. A nil mapping checks nothing.
func (m *mapping) check(v string) {
	if m == nil || len(v) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(v)))
	if p < m.base || p >= m.base+uintptr(len(m.data)) {
		return // not from the file: written since it was opened
	}
	off := int(p - m.base)
	i := sort.Search(len(m.txs), func(i int) bool { return m.txs[i].end > off })
	if i == len(m.txs) || off < m.txs[i].body {
		return // in a transaction checked whole when the file was opened
	}
	if err := m.checkTx(m.txs[i]); err != nil {
		panic(corruptRead{err})
	}
}

// checkTx checks the body of t against its checksum, once.
func (m *mapping) checkTx(t *lazyTx) *CorruptError {
	switch t.state.Load() {
	case sound:
		return nil
	case unchecked:
		m.mu.Lock()
		if t.state.Load() == unchecked {
			st := sound
			if crc32.Checksum(m.data[t.body:t.end], castagnoli) != t.crc {
				st = damaged
			}
			t.state.Store(st)
		}
		m.mu.Unlock()
		if t.state.Load() == sound {
			return nil
		}
	}
	return &CorruptError{Path: m.path, Offset: int64(t.start),
		Reason: fmt.Sprintf("transaction %d fails its checksum (found when its values were first read; nothing of it was served)", t.seq)}
}

// checkAll checks every transaction not checked yet: before the whole store is read (a
// compaction, an index).
func (m *mapping) checkAll() error {
	if m == nil {
		return nil
	}
	for _, t := range m.txs {
		if err := m.checkTx(t); err != nil {
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

// VerifyAll checks every byte of the state file that opening left to be checked when
// first read: what jitrt state verify and a compaction do.
func (s *Store) VerifyAll() error { return s.mapped.checkAll() }
