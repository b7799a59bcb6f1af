package kv

import (
	"fmt"
	"unsafe"

	"github.com/klauspost/compress/s2"
	"golang.org/x/sys/unix"
)

// # Values packed by the writer
//
// A large write to PostgreSQL (a sync's member chunks: 44 MB at 100,000 members) spent
// most of its time in the server compressing the values (lz4) and writing them to TOAST:
// one server process on one core while the client waited. The writer now compresses the
// values it sends by COPY itself, as S2 blocks (klauspost/compress: the fastest of the
// well-kept Go codecs at a ratio near lz4's, ~3.5× on a member chunk), into the kv table's
// packed column, stored as it comes (STORAGE EXTERNAL); value is NULL in such a row, so
// that a jitrt that does not know packed values fails to read it rather than reading ''.
// Measured on PostgreSQL 15, 2 cores, the chunks of a 100,000-member sync: COPY and commit
// 0.12–0.15 s packed against 0.25–0.36 s compressed by the server (zstd's fastest level:
// 0.18–0.21 s). The values of the other writes (arrays) stay text, compressed by the
// server as before.

// packMin is the size from which a value sent by COPY is packed: below it the block's
// header and the row's second column cost more than they save.
const packMin = 512

// pack is value as an S2 block, in dst if it is large enough.
func pack(dst []byte, value string) []byte {
	return s2.Encode(dst, unsafe.Slice(unsafe.StringData(value), len(value)))
}

// packedRows are the rows of a large write for COPY (pgx.CopyFromSource), each value of
// packMin bytes or more packed (when every replica reads packed values). Each is packed
// into the same buffer: pgx encodes a row's values into its own buffer before it asks for
// the next row, and a buffer per value was the whole write's packed bytes in fresh memory
// (11 MB at 100,000 members), which a small virtual machine pays for page by page. (Were
// pgx to keep a row's values past the next, the values read back would be the wrong
// ones: TestTheStateLoadsFromTheDriversBuffer writes several and reads each.)
type packedRows struct {
	keys, values []string
	seq          int64
	packs        bool
	i            int
	buf          []byte
}

func (r *packedRows) Next() bool { r.i++; return r.i < len(r.keys) }
func (r *packedRows) Err() error { return nil }

func (r *packedRows) Values() ([]any, error) {
	k, v := r.keys[r.i], r.values[r.i]
	if !r.packs || len(v) < packMin {
		return []any{k, v, nil, r.seq}, nil
	}
	if n := s2.MaxEncodedLen(len(v)); cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	return []any{k, nil, pack(r.buf[:cap(r.buf)], v), r.seq}, nil
}

// unpack is the value of a row: packed, unpacked, when the row holds it so, else value.
// A block that does not decode is refused, the key named. An unpacked value goes in the
// arena when one is given (a whole load), else on the heap.
func unpack(key, value string, packed []byte, into *arena) (string, error) {
	if packed == nil {
		return value, nil
	}
	n, err := s2.DecodedLen(packed)
	if err == nil {
		buf := into.alloc(n)
		var out []byte
		if out, err = s2.Decode(buf, packed); err == nil {
			if len(out) == 0 {
				return "", nil
			}
			return unsafe.String(&out[0], len(out)), nil
		}
	}
	return "", fmt.Errorf("the packed value of %q is damaged: %w", key, err)
}

// # The values a whole load unpacks, outside the Go heap
//
// A shared store loads the whole state into memory when it opens: 41 MB of member chunks
// at 100,000 members. On the Go heap they count in the collector's goal, which lets the
// heap grow by as much again before it collects: a re-sync's garbage (the fetch's
// pages) then went to fresh memory rather than memory collected and used again, and fresh
// memory is what a small virtual machine pays most for (clear_page was a third of a fresh
// exec's CPU on PostgreSQL, against a tenth on the state file, whose values are its
// mapping). The load's unpacked values go in an arena instead: anonymous mappings of
// arenaChunk bytes, filled in turn, never unmapped, as the state file's mapping is not
// (values read from the store may be kept by their readers). What a store later writes
// or catches up goes on the heap as before; the keys a whole load replaces leave their
// old values' bytes behind, as long as the process lives (a load is made when the store
// opens, and again only when this replica was cut off from the others past their purge).

// arenaChunk is the size of an arena's mappings (reserved; a page is memory once written).
const arenaChunk = 64 << 20

// arena hands out bytes of anonymous mappings; a nil arena, of the heap.
type arena struct {
	free []byte // the rest of the current mapping
	used int    // bytes handed out of mappings
}

// alloc is n bytes of the arena (of the heap if the arena is nil or the kernel refuses a
// mapping).
func (a *arena) alloc(n int) []byte {
	if a == nil {
		return make([]byte, n)
	}
	if n > len(a.free) {
		page := unix.Getpagesize()
		size := max(arenaChunk, (n+page-1)/page*page)
		b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return make([]byte, n)
		}
		unix.Madvise(b, unix.MADV_HUGEPAGE) // fewer faults where the kernel can; advice only
		a.free = b
	}
	b := a.free[:n:n]
	a.free = a.free[n:]
	a.used += n
	return b
}
