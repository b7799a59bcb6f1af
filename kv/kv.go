// Package kv is the app's embedded state store: one BuntDB file per app, opened private to
// its owner, with durable writes and transactions as closures that roll back on error.
//
// # Key scheme
//
// Keys are colon-separated paths that start with the owner's namespace, so that elements
// never collide and a prefix scan lists one owner's data:
//
//	el:<fullName>:<kind>:<id>      state of one element (e.g. el:corps.DemoCorp:member:u1)
//	wecom:token:<corpId>:<hash>    a cached WeCom access token (the secret is never stored)
//	wecom:path:<corpId>            the WeCom fetch path that last worked (detail or id)
//	kv:journal                     a diff being applied (see Store.Apply)
//
// Values are JSON documents, so that BuntDB's JSON indexes can serve lookups by field.
package kv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tidwall/buntdb"
)

// Sentinel errors.
var (
	// ErrNotFound is returned when a key does not exist.
	ErrNotFound = buntdb.ErrNotFound
	// ErrClosed is returned when the store was closed.
	ErrClosed = buntdb.ErrDatabaseClosed
)

// Memory is the path that opens a store that lives only in memory (for `jitrt check`).
const Memory = ":memory:"

// Store is an open BuntDB file.
type Store struct {
	db   *buntdb.DB
	path string

	locks sync.Map // name → *namedLock; read on hot paths (Version), so lock-free

	shrinkMu  sync.Mutex   // held by a running compaction
	shrinkErr atomic.Value // errBox of the last background compaction
	// shrinkPending asks the compactor to check again
	shrinkPending atomic.Bool
}

// Compaction: BuntDB's file only grows (every write is appended). Its own automatic
// shrink rewrites the file through a temporary one created world-readable, so it is off,
// and Store compacts instead (keeping 0600) when the file is past both of these.
const (
	shrinkMinSize = 32 << 20 // never for a file under 32 MiB
	shrinkFactor  = 2        // and only once it holds twice the live data
)

// maybeShrink starts a compaction in the background if the file has grown enough since
// the last one and none is running: the writer that grew it does not wait for it.
func (s *Store) maybeShrink() {
	if s.path == Memory {
		return
	}
	s.shrinkPending.Store(true)
	if s.shrinkMu.TryLock() {
		go s.shrinkLoop()
	}
}

// shrinkLoop compacts while writes keep asking for it; a write that came while it ran
// (and found the lock held) is seen before it stops.
func (s *Store) shrinkLoop() {
	for {
		for s.shrinkPending.Swap(false) {
			s.shrinkErr.Store(errBox{s.shrinkIfDue()})
		}
		s.shrinkMu.Unlock()
		if !s.shrinkPending.Load() || !s.shrinkMu.TryLock() {
			return
		}
	}
}

// errBox holds an error in an atomic.Value (which cannot hold nil).
type errBox struct{ err error }

// ShrinkErr is the error of the last background compaction, if it failed.
func (s *Store) ShrinkErr() error {
	if b, ok := s.shrinkErr.Load().(errBox); ok {
		return b.err
	}
	return nil
}

func (s *Store) shrinkIfDue() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	if fi.Size() < shrinkMinSize || fi.Size() < shrinkFactor*s.liveBytes() {
		return nil
	}
	return s.Shrink()
}

// liveBytes estimates what a compacted file holds: every key and value, with the framing
// of a set command.
func (s *Store) liveBytes() int64 {
	var n int64
	s.db.View(func(tx *Tx) error {
		return tx.AscendKeys("*", func(k, v string) bool {
			n += int64(len(k) + len(v) + 32)
			return true
		})
	})
	return n
}

type namedLock struct {
	mu      sync.Mutex
	version atomic.Uint64
}

func (s *Store) named(name string) *namedLock {
	if l, ok := s.locks.Load(name); ok {
		return l.(*namedLock)
	}
	l, _ := s.locks.LoadOrStore(name, &namedLock{})
	return l.(*namedLock)
}

// Lock takes the store's mutex of that name and returns its unlock. Writers that compute a
// diff from a snapshot hold it from the read to the write, so that no other writer of the
// same data slips in between, whichever instance of an element they run in. Each unlock
// bumps the lock's Version.
func (s *Store) Lock(name string) (unlock func()) {
	l := s.named(name)
	l.mu.Lock()
	return func() {
		l.version.Add(1)
		l.mu.Unlock()
	}
}

// Version counts the unlocks of the named lock. A reader that takes a snapshot without the
// lock notes the Version first; if it is unchanged once the lock is held, no writer has
// committed since, and the snapshot is still current.
func (s *Store) Version(name string) uint64 { return s.named(name).version.Load() }

// Tx is a transaction; see buntdb.Tx.
type Tx = buntdb.Tx

// Open opens (creating if needed) the store at path with file mode 0600 and fsync on every
// commit, so that a process killed at any moment reopens to a committed state.
func Open(path string) (*Store, error) {
	if path != Memory {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("kv: create folder for %s: %w", path, err)
		}
		// BuntDB creates its file 0666 minus umask; create it first so that it is private.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("kv: open %s: %w", path, err)
		}
		f.Close()
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("kv: chmod %s: %w", path, err)
		}
	}
	db, err := buntdb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kv: open %s: %w", path, err)
	}
	var cfg buntdb.Config
	if err := db.ReadConfig(&cfg); err != nil {
		db.Close()
		return nil, fmt.Errorf("kv: read config of %s: %w", path, err)
	}
	cfg.SyncPolicy = buntdb.Always
	// BuntDB's automatic shrink rewrites the file through a temporary one created with the
	// default mode; Shrink below restores 0600, so the automatic one is off.
	cfg.AutoShrinkDisabled = true
	if err := db.SetConfig(cfg); err != nil {
		db.Close()
		return nil, fmt.Errorf("kv: configure %s: %w", path, err)
	}
	st := &Store{db: db, path: path}
	if _, err := st.replayJournal(); err != nil {
		db.Close()
		return nil, fmt.Errorf("kv: recover %s: %w", path, err)
	}
	return st, nil
}

// OpenSnapshot loads the state file at path into a store that lives in memory: a
// read-only view for tools (jitrt ls) that must not write to a file a running app owns.
// A missing file is an empty store; a journal left by a killed writer is applied in memory.
func OpenSnapshot(path string) (*Store, error) {
	db, err := buntdb.Open(Memory)
	if err != nil {
		return nil, err
	}
	st := &Store{db: db, path: Memory}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return st, nil
	case err != nil:
		db.Close()
		return nil, fmt.Errorf("kv: open %s: %w", path, err)
	}
	defer f.Close()
	if err := db.Load(f); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		db.Close()
		return nil, fmt.Errorf("kv: read %s: %w", path, err)
	}
	if _, err := st.replayJournal(); err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

// Path is the file the store was opened from (or Memory).
func (s *Store) Path() string { return s.path }

// DB exposes the BuntDB handle for index creation and advanced use.
func (s *Store) DB() *buntdb.DB { return s.db }

// View runs fn in a read-only transaction that sees the last committed state.
func (s *Store) View(fn func(tx *Tx) error) error { return s.db.View(fn) }

// Update runs fn in a read-write transaction: all of its writes commit together, or, if fn
// returns an error, none do.
func (s *Store) Update(fn func(tx *Tx) error) error { return s.db.Update(fn) }

// Get returns the value of key, or ErrNotFound.
func (s *Store) Get(key string) (string, error) {
	var v string
	err := s.db.View(func(tx *Tx) error {
		var err error
		v, err = tx.Get(key)
		return err
	})
	return v, err
}

// Set writes one key.
func (s *Store) Set(key, value string) error {
	return s.db.Update(func(tx *Tx) error {
		_, _, err := tx.Set(key, value, nil)
		return err
	})
}

// Shrink compacts the file and keeps it private.
func (s *Store) Shrink() error {
	if err := s.db.Shrink(); err != nil {
		return fmt.Errorf("kv: shrink %s: %w", s.path, err)
	}
	if s.path != Memory {
		return os.Chmod(s.path, 0o600)
	}
	return nil
}

// Close flushes and closes the file, after a compaction in progress. Closing twice is not
// an error.
func (s *Store) Close() error {
	s.shrinkMu.Lock()
	defer s.shrinkMu.Unlock()
	if err := s.db.Close(); err != nil && !errors.Is(err, buntdb.ErrDatabaseClosed) {
		return fmt.Errorf("kv: close %s: %w", s.path, err)
	}
	return nil
}

// Key joins parts into a key of the documented scheme.
func Key(parts ...string) string { return strings.Join(parts, ":") }
