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
// pages of the keys, not the whole file. Its large transactions (kvtx3, lazyMin bytes or
// more: a sync's commit, a compaction's pieces) end with the checksum of each of their
// values (sumsKey), then their index (headsKey: every command without its value, in
// order), and are checked in three steps:
//
//   - when the file is opened, everything but the commands' own bytes: the header, the
//     index (every key and length) and the values' checksums, against the header's
//     checksum of the body without its values, so that a damaged key or length in the
//     index is refused then, as in any file. The commands' places follow from the index;
//     the index is contiguous, where the commands' heads lie one after each value;
//   - when a value is first read (Get, a scan, an index, a compaction), that value against
//     its checksum, and its command's bytes against its entry in the index. Damage is
//     never handed out: the View or Update that read it fails whole with a *CorruptError
//     naming the damaged byte and the key, whatever the code in it did with the read, and
//     every later read of it fails the same;
//   - before the whole store is read (a compaction, CreateIndex), every value not checked
//     yet, and each transaction whose commands were not read, whole (a delete has no value
//     whose first read would check it).
//
// A kvtx2 transaction (jitrt before the index) is opened as it was: its commands walked,
// every key and length checked against the header then, the values when first read.
// Small files and small transactions are read and checked whole when opened.
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

// lazyValue is a value of a mapped file checked when first read.
type lazyValue struct {
	start, end int // its bytes in the file
	crc        uint32
	// head is where its command starts in the file and index where the command's entry
	// in its transaction's index does (-1: none, a kvtx2 transaction, whose commands were
	// read when the file was opened): the two are compared when the value is first read.
	head, index int
	state       int32 // unchecked, sound or damaged (atomic)
}

// lazyBody is a transaction whose commands were not read when the file was opened, only
// its index: its whole checksum is checked before the whole store is read.
type lazyBody struct {
	start, end int
	crc        uint32
	seq        uint64
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
	bodies []lazyBody  // in file order
}

// corruptRead is the panic with which a read of a damaged value leaves the code that made
// it; View and Update recover it and return its error.
type corruptRead struct{ err *CorruptError }

// mapFile maps f whole, read-only, its pages mapped as they are first read: opening reads
// the transactions' indexes, a small part of the file (a 100,000-member state: 90 of its
// 10,000 pages). Mapped whole at once (MAP_POPULATE), as when opening read every
// command, each page not in memory would be read from the disk first: on the 2-core
// virtual machine CI uses, which pages out the file's pages unread for a few seconds,
// a bare exec read the whole file (14 ms at 100,000 members).
func mapFile(f *os.File, size int64) ([]byte, error) {
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map: %w", err)
	}
	return data, nil
}

// populate maps data[from:to] of a mapped file at once (MADV_POPULATE_READ), before a walk
// that reads a byte of most of its pages (a kvtx2 body, which has no index): one call, not
// a page fault a page (5-12 µs each on a virtual machine). A kernel without it (before
// Linux 5.14) maps the pages as they are read.
func populate(data []byte, from, to int) {
	from &^= os.Getpagesize() - 1 // the mapping starts on a page
	unix.Madvise(data[from:to], unix.MADV_POPULATE_READ)
}

// newMapping keeps what verify left to check of a mapped file (nil when nothing was).
func newMapping(path string, data []byte, c *contents) *mapping {
	if len(c.lazy) == 0 && len(c.unread) == 0 {
		return nil
	}
	return &mapping{path: path, data: data, base: uintptr(unsafe.Pointer(unsafe.SliceData(data))),
		values: c.lazy, bodies: c.unread}
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

// checkValue checks the i-th value against its checksum, and its command against its
// transaction's index, once.
func (m *mapping) checkValue(i int) *CorruptError {
	v := &m.values[i]
	st := atomic.LoadInt32(&v.state)
	if st == unchecked {
		st = sound
		if m.damageAt(v) >= 0 {
			st = damaged
		}
		atomic.StoreInt32(&v.state, st) // two readers at once compute the same
	}
	if st == sound {
		return nil
	}
	if at := m.damageAt(v); at != v.start {
		return &CorruptError{Path: m.path, Offset: int64(at),
			Reason: fmt.Sprintf("the command of %q differs from its transaction's index (found when its value was first read; it was not served)", m.indexKey(v))}
	}
	return &CorruptError{Path: m.path, Offset: int64(v.start),
		Reason: fmt.Sprintf("the value of %q fails its checksum (found when first read; it was not served)", m.keyOf(v.start))}
}

// damageAt is the first damaged byte of v's command (the command differs from its
// index), else v.start if the value fails its checksum, else -1.
func (m *mapping) damageAt(v *lazyValue) int {
	if v.head >= 0 {
		command, entry := m.data[v.head:v.start], m.data[v.index:v.index+v.start-v.head]
		for j := range command {
			if command[j] != entry[j] {
				return v.head + j
			}
		}
		if m.data[v.end] != '\r' {
			return v.end
		}
		if m.data[v.end+1] != '\n' {
			return v.end + 1
		}
	}
	if crc32.Checksum(m.data[v.start:v.end], castagnoli) != v.crc {
		return v.start
	}
	return -1
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

// indexKey is the key of v's entry in its transaction's index.
func (m *mapping) indexKey(v *lazyValue) string {
	e, err := parseHead(m.data[:v.index+v.start-v.head], v.index)
	if err != nil {
		return "?"
	}
	return string(e.key)
}

// checkAll checks every value not checked yet, and every transaction whose commands were
// not read, whole: before the whole store is read (a compaction, an index).
func (m *mapping) checkAll() error {
	if m == nil {
		return nil
	}
	for i := range m.values {
		if err := m.checkValue(i); err != nil {
			return err
		}
	}
	for _, b := range m.bodies {
		if crc32.Checksum(m.data[b.start:b.end], castagnoli) != b.crc {
			// every value and every set's command checked out: a delete's bytes differ
			return &CorruptError{Path: m.path, Offset: int64(b.start),
				Reason: fmt.Sprintf("transaction %d fails its checksum (a command not read when the file was opened; nothing of it was served wrong)", b.seq)}
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
