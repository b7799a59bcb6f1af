package kv

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/tidwall/buntdb"
	"golang.org/x/sys/unix"
)

// Compaction: the state file only grows (every transaction is appended), so when it is
// past both of these, a compaction rewrites it with one set per live key.
const (
	compactMinSize = 32 << 20 // never for a file under 32 MiB
	compactFactor  = 2        // and only once it holds twice the live data
	// compactChunk bounds a transaction of the compacted file, so that damage to it
	// loses (to jitrt repair) no more than this.
	compactChunk = 4 << 20
)

// compactMin is the size under which the file is never compacted: compactMinSize, or a
// test's smaller one.
func (s *Store) compactMin() int64 {
	if s.compactMinTest > 0 {
		return s.compactMinTest
	}
	return compactMinSize
}

// maybeCompact starts a compaction in the background if the file is due one and none is
// running: the writer that grew it does not wait for it.
func (s *Store) maybeCompact() {
	if !s.onDisk {
		return
	}
	s.compactPending.Store(true)
	if s.compactMu.TryLock() {
		go s.compactLoop()
	}
}

// compactLoop compacts while writes keep asking for it; a write that came while it ran
// (and found the lock held) is seen before it stops.
func (s *Store) compactLoop() {
	for {
		for s.compactPending.Swap(false) {
			s.compactErr.Store(errBox{s.compactIfDue()})
		}
		s.compactMu.Unlock()
		if !s.compactPending.Load() || !s.compactMu.TryLock() {
			return
		}
	}
}

// errBox holds an error in an atomic.Value (which cannot hold nil).
type errBox struct{ err error }

// CompactErr is the error of the last background compaction, if it failed.
func (s *Store) CompactErr() error {
	if b, ok := s.compactErr.Load().(errBox); ok {
		return b.err
	}
	return nil
}

func (s *Store) compactIfDue() error {
	var due bool
	s.db.View(func(*buntdb.Tx) error {
		due = s.size >= s.compactMin() && s.size >= compactFactor*s.live.Load()
		return nil
	})
	if !due {
		return nil
	}
	return s.compact()
}

// Compact rewrites the state file with one set per live key, now.
func (s *Store) Compact() error {
	if !s.onDisk {
		return nil
	}
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	return s.compact()
}

// compact writes the store to a new file beside the state file and renames it over the
// state file. It holds a read transaction throughout, so writers wait and the new file is
// exactly the store's contents. The caller holds compactMu.
func (s *Store) compact() error {
	if err := s.mapped.checkAll(); err != nil {
		return fmt.Errorf("kv: compact %s: %w", s.path, err) // a damaged value is not copied on
	}
	return translate(s.db.View(func(btx *buntdb.Tx) error {
		if s.f == nil {
			return ErrClosed
		}
		tmp := s.path + ".compact"
		os.Remove(tmp)
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("kv: compact %s: %w", s.path, err)
		}
		seq, size, err := writeCompacted(f, btx)
		if err == nil {
			err = unix.Fdatasync(int(f.Fd()))
		}
		if err == nil {
			// The file as it was before: kept (the last few) for jitrt restore.
			if backup, berr := keepAside(s.dir, s.path, "compaction"); berr != nil {
				s.log.Warn("the state file before compaction could not be kept as a backup", "err", berr)
			} else {
				s.log.Debug("state file compacted; the one before is kept", "backup", backup)
				rotateBackups(s.dir)
			}
			err = os.Rename(tmp, s.path)
		}
		if err == nil {
			err = syncDir(filepath.Dir(s.path))
		}
		if err != nil {
			f.Close()
			os.Remove(tmp)
			return fmt.Errorf("kv: compact %s: %w", s.path, err)
		}
		old := s.f
		s.f, s.seq, s.size = f, seq, size
		s.live.Store(size)
		old.Close()
		return nil
	}))
}

// writeCompacted writes every key of btx as set commands, in transactions of about
// compactChunk bytes, and returns the last transaction's number and the file's size.
func writeCompacted(f *os.File, btx *buntdb.Tx) (seq uint64, size int64, err error) {
	var body, sums, heads []byte
	n := 0
	flush := func() {
		if n == 0 || err != nil {
			return
		}
		var skel uint32
		if len(body) >= lazyMin { // kvtx3: its values' checksums, then its index, go last
			from := len(body)
			body = appendSums(body, sums)
			skel = skelOf(heads, body[from:])
			body = appendHeads(body, heads)
			n += 2
		}
		seq++
		head := encodeHeader(seq, n, int64(len(body)), crc32.Checksum(body, castagnoli), skel)
		if err = writeAll(f, size, head, body); err == nil {
			size += int64(len(head) + len(body))
		}
		body, sums, heads, n = body[:0], sums[:0], heads[:0], 0
	}
	ierr := btx.Ascend("", func(k, v string) bool {
		from := len(body)
		body = appendSetHead(body, k, len(v))
		heads = append(heads, body[from:]...)
		body = append(append(body, v...), '\r', '\n')
		sums = sumOf(sums, unsafe.Slice(unsafe.StringData(v), len(v)))
		n++
		if len(body) >= compactChunk {
			flush()
		}
		return err == nil
	})
	flush()
	if err == nil {
		err = ierr
	}
	return seq, size, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
