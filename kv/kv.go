// Package kv is the app's state store, and the only door to it: BuntDB holds the data in
// memory and serves reads and indexes, and kv writes every transaction to the state file
// as one checksummed record, under an OS lock that makes one process the owner.
//
// # Guarantees
//
//   - One owner: Open takes an OS lock (flock) on the data folder; a second process that
//     opens it for writing waits, then gets a *LockedError naming the holder. OpenReadOnly
//     takes no lock and never writes. A PostgreSQL schema opened with Options.Shared is
//     the exception: several processes keep it at once, taking turns to write (see
//     cluster.go for their locks and leads).
//   - Atomic, durable transactions: Update's writes reach the file as one record, fsynced
//     before Update returns; a process killed at any moment, or a write torn at any byte,
//     reopens to the state before the transaction or after it, never a mix.
//   - Damage is refused, not dropped: every record carries a checksum, and a file that
//     does not check out is not opened (ErrCorrupt names the byte) and not touched.
//
// # Key scheme
//
// Keys are colon-separated paths that start with the owner's namespace, so that elements
// never collide and a prefix scan lists one owner's data:
//
//	el:<fullName>:<kind>:<id>      state of one element (e.g. el:corps.DemoCorp:…:member:u1)
//	wecom:token:<corpId>:<hash>    a cached WeCom access token (the secret is never stored)
//	wecom:path:<corpId>            the WeCom fetch path that last worked (detail or id)
//
// Keys starting with "kv:" are kv's own. Values are JSON documents, so that indexes can
// serve lookups by a field (CreateIndex).
package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/buntdb"
	"golang.org/x/sys/unix"

	"github.com/jitrt/jitrt/kv/cluster"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound is returned when a key does not exist.
	ErrNotFound = errors.New("kv: not found")
	// ErrClosed is returned when the store was closed.
	ErrClosed = errors.New("kv: the store is closed")
	// ErrLocked is returned (as a *LockedError) when another process owns the state.
	ErrLocked = errors.New("kv: the state is in use by another process")
	// ErrCorrupt is returned (as a *CorruptError) for a state file that fails its checks.
	ErrCorrupt = errors.New("kv: the state file is damaged")
	// ErrReadOnly is returned by a write to a store opened with OpenReadOnly.
	ErrReadOnly = errors.New("kv: the store was opened read-only")
	// ErrReservedKey is returned for a write of a key in kv's own "kv:" namespace.
	ErrReservedKey = errors.New("kv: keys starting with \"kv:\" are reserved")
	// ErrBroken is returned by writes after a write failed in a way that left the file
	// and the memory out of step (a failed truncate after a failed write).
	ErrBroken = errors.New("kv: an earlier write failed and could not be undone; reopen the store")
)

// FileName is the state file in a data folder.
const FileName = "state.db"

// DefaultLockTimeout is how long Open waits for another owner to let go.
const DefaultLockTimeout = 10 * time.Second

// Options configure Open.
type Options struct {
	// Command describes this process to others that find the state in use
	// ("jitrt run apps/demo").
	Command string
	// LockTimeout is how long to wait for another owner (DefaultLockTimeout when zero;
	// negative: do not wait).
	LockTimeout time.Duration
	// Logger receives what opening found and did (a dropped unfinished write, a conversion).
	Logger *slog.Logger
	// LockDir, for OpenPostgres, is a local data folder it also locks (as Open does): where
	// the owner on this machine says how to reach it (Advertise).
	LockDir string
	// Shared, for OpenPostgres, lets several processes keep the schema at once: each
	// Update takes the schema's writer lock and first reads what the others wrote, and each
	// process's memory catches up as soon as another commits (LISTEN/NOTIFY; from
	// ListenAfter on).
	Shared bool
	// PurgeInterval, for a shared store, is how often the process says in the replicas
	// table how far its memory has caught up, and purges the deletes' tombstones every
	// replica alive has caught up past (DefaultPurgeInterval when zero).
	PurgeInterval time.Duration
	// ListenAfter, for a shared store, is how long after opening the process starts
	// listening to the others' commits (0: at once, with its own connection; OneRun:
	// OneRunListenAfter). Until then its memory is the state as it opened, caught up with
	// the others whenever it writes or takes a lock (they read what the others wrote
	// first) and by CatchUpIfBehind.
	ListenAfter time.Duration
	// OneRun, for a shared store, is a process that runs one script or method and ends
	// (jitrt exec, call), whose every connection is a new server process it pays for in
	// its time: it listens only from OneRunListenAfter on (most end before), and a Lead
	// takes its lock on the writes' connection when no other process holds it
	// (cluster.Options.Own) rather than on one of its own.
	OneRun bool
	// CopyDir, for OpenPostgres, is a data folder where the process keeps a copy of the
	// state, and opens from it while the schema holds the transaction it is of (pgcopy.go).
	CopyDir string
}

// OneRunListenAfter is the ListenAfter of a command that runs one script or method and
// ends: one still running then listens as a replica does.
const OneRunListenAfter = 2 * time.Second

// Store is an app's open state.
type Store struct {
	db       *buntdb.DB
	dir      string // the data folder ("" in memory)
	path     string // the state file ("" in memory)
	readOnly bool
	onDisk   bool // writes go to the state file (not read-only, not in memory)
	log      *slog.Logger

	lock   *dirLock
	pg     *pgStore // writes go to PostgreSQL instead of a file (OpenPostgres)
	f      *os.File // the state file, written at size (nil in memory or read-only)
	size   int64    // guarded by the write transaction (or a compaction's read)
	seq    uint64   // the last transaction's number, guarded like size
	broken error
	mapped *mapping // the mapped state file's transactions checked when first read (lazy.go)

	dropped int64 // bytes of an unfinished write dropped when the file was opened

	live    atomic.Int64  // bytes a compacted file would hold
	commits atomic.Uint64 // transactions committed since the store was opened
	gens    generations   // commits per watched key prefix

	// cluster coordinates the writers of this process and, for a shared store, of the
	// others: Lock, TryLock, Lead (cluster.Local unless shared)
	cluster *cluster.Cluster

	compactMu      sync.Mutex // held by a running compaction
	compactErr     atomic.Value
	compactPending atomic.Bool
	compactMinTest int64 // a test's compactMinSize (0: the constant)

	closeOnce sync.Once

	notesMu  sync.Mutex        // a state file's notes file, or memNotes
	memNotes map[string]string // the notes of a store in memory
}

// OpenMemory opens a store that lives in memory only (jitrt check).
func OpenMemory() *Store {
	db, err := buntdb.Open(":memory:")
	if err != nil {
		panic(err) // an in-memory BuntDB cannot fail to open
	}
	return &Store{db: db, log: slog.New(slog.DiscardHandler), cluster: cluster.Local()}
}

// Open opens the state in the data folder dir for writing: it takes the folder's lock
// (waiting up to LockTimeout), reads and verifies the state file (creating it, mode 0600,
// if needed), and drops an unfinished final write. A damaged file is refused and left as
// it is.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	lock, err := opts.lock(ctx, dir)
	if err != nil {
		return nil, err
	}
	s, err := open(dir, false, opts.Logger)
	if err != nil {
		lock.release()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// OpenReadOnly loads the state in dir into memory without the lock and without writing:
// a view for tools (jitrt ls) while another process may own it. An unfinished final write
// is ignored; a damaged file is refused. A missing file is an empty store.
func OpenReadOnly(dir string) (*Store, error) {
	return open(dir, true, nil)
}

func open(dir string, readOnly bool, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(dir, FileName)
	s := &Store{dir: dir, path: path, readOnly: readOnly, log: log, cluster: cluster.Local()}
	var err error
	if s.db, err = buntdb.Open(":memory:"); err != nil {
		return nil, err
	}
	if err := s.load(); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// load reads the state file into memory (see the file format in file.go).
func (s *Store) load() error {
	var f *os.File
	var err error
	if s.readOnly {
		f, err = os.Open(s.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
	} else {
		f, err = openPrivate(s.path)
	}
	if err != nil {
		return fmt.Errorf("kv: open %s: %w", s.path, err)
	}
	data, mapped, err := readOrMap(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("kv: read %s: %w", s.path, err)
	}
	c, err := verify(s.path, data, mapped)
	if err != nil {
		f.Close()
		return err
	}
	s.mapped = newMapping(s.path, data, c)
	if err := s.loadVerified(data, c); err != nil {
		f.Close()
		return fmt.Errorf("kv: load %s: %w", s.path, err)
	}
	s.seq, s.size, s.dropped = c.seq, c.good, c.torn
	if s.readOnly {
		f.Close()
		if c.legacy && c.journal {
			return s.replayLegacyJournal()
		}
		return nil
	}
	if c.torn > 0 {
		s.log.Warn("the state file ended in an unfinished write, which was dropped (a crash cut it short before it was reported done)",
			"file", s.path, "offset", c.good, "bytes", c.torn)
		if err := f.Truncate(c.good); err != nil {
			f.Close()
			return fmt.Errorf("kv: drop the unfinished write at the end of %s: %w", s.path, err)
		}
	}
	s.f, s.onDisk = f, true
	s.live.Store(s.liveBytes())
	if c.legacy {
		return s.convertLegacy(c.journal)
	}
	return nil
}

// readOrMap maps a file of mapMin bytes or more (see lazy.go) and reads a smaller one.
func readOrMap(f *os.File) (data []byte, mapped bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if fi.Size() >= mapMin {
		data, err = mapFile(f, fi.Size())
		return data, err == nil, err
	}
	data, err = readAll(f, fi.Size())
	return data, false, err
}

// readAll reads a file whole into a buffer of its size (one allocation, no growing).
func readAll(f *os.File, size int64) ([]byte, error) {
	data := make([]byte, size)
	n, err := io.ReadFull(f, data)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil // it shrank meanwhile (a compaction of another process): what was read
	}
	return data[:n], err
}

// loadVerified puts the verified commands of a file into the store (loadCommands).
func (s *Store) loadVerified(data []byte, c *contents) error {
	if c.legacy {
		return s.db.Load(c.reader(data)) // BuntDB's own reading, NULs and all
	}
	return loadCommands(s.db, c.cmds, "") // as verify parsed them (the checksums' not among them)
}

// openPrivate opens (creating) a state file of mode 0600. A file others may read is made
// private; a file its owner may not write is refused rather than changed.
func openPrivate(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", path)
		}
		if fi.Mode().Perm()&0o200 == 0 {
			return nil, fmt.Errorf("the file is read-only (mode %04o): jitrt writes its state there; make it writable (chmod 600) or use another --data folder", fi.Mode().Perm())
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, err
			}
		}
	}
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
}

// liveBytes is what a compacted file would hold: a set command for every key.
func (s *Store) liveBytes() int64 {
	var n int64
	s.db.View(func(tx *buntdb.Tx) error {
		return tx.Ascend("", func(k, v string) bool {
			n += setSize(k, v)
			return true
		})
	})
	return n
}

func setSize(k, v string) int64 { return int64(len(k) + len(v) + 40) }

// Dropped is the size of the unfinished write found at the end of the file when it was
// opened (a crash cut it short; it was never reported done), 0 if there was none. A
// read-only store ignores it; a writable one drops it from the file.
func (s *Store) Dropped() int64 { return s.dropped }

// Dir is the data folder ("" for a store in memory).
func (s *Store) Dir() string { return s.dir }

// Path is the state file ("" for a store in memory).
func (s *Store) Path() string { return s.path }

// Advertise records, for other processes that find the state in use, where this owner
// takes work (see Owner.Endpoint).
func (s *Store) Advertise(endpoint string) error {
	if s.lock == nil {
		return nil
	}
	s.lock.owner.Endpoint = endpoint
	return s.lock.write()
}

// View runs fn in a read-only transaction that sees the last committed state.
func (s *Store) View(fn func(tx *Tx) error) (err error) {
	defer recoverCorrupt(&err)
	return translate(s.db.View(func(btx *buntdb.Tx) error { return fn(&Tx{tx: btx, store: s}) }))
}

// Update runs fn in a read-write transaction: all of its writes commit together, durably,
// or, if fn returns an error (or panics), none do. Transactions run one at a time.
func (s *Store) Update(fn func(tx *Tx) error) (err error) {
	defer recoverCorrupt(&err) // last: after the rollbacks below
	if s.readOnly {
		return ErrReadOnly
	}
	done := false
	var remote news
	if s.pg != nil && s.pg.shared {
		// The schema's writer lock, and what the other processes wrote since, first: the
		// wait for another process's write happens before the memory's write lock, so this
		// process's readers do not wait with it.
		s.pg.writeMu.Lock()
		defer s.pg.writeMu.Unlock()
		if remote, err = s.pg.begin(); err != nil {
			return err
		}
		defer func() {
			if !done { // before writeMu lets the next writer of this process in
				s.pg.abort()
			}
		}()
	}
	btx, err := s.db.Begin(true)
	if err != nil {
		return translate(err)
	}
	defer func() {
		if !done {
			btx.Rollback()
		}
	}()
	tx := &Tx{tx: btx, writable: true, store: s, gens: s.gens.table.Load()}
	if tx.gens != nil {
		tx.touched = make([]bool, len(tx.gens.prefixes))
		tx.logged = make([][]KeyChange, len(tx.gens.prefixes))
		tx.loggedBytes = make([]int, len(tx.gens.prefixes))
		tx.tooMany = make([]bool, len(tx.gens.prefixes))
	}
	if s.pg != nil {
		tx.caughtUp = caughtUp{from: s.pg.lastSeq, got: remote}
	}
	if s.pg != nil && s.pg.shared {
		from, prevToken := s.pg.lastSeq, s.pg.lastToken
		if err := tx.applyNewer(remote); err != nil {
			return err
		}
		defer func() {
			if !done { // the memory rolls back: read them again next time
				s.pg.lastSeq, s.pg.lastToken = from, prevToken
			}
		}()
	}
	if err := fn(tx); err != nil {
		return translate(err)
	}
	if tx.n > 0 {
		if err := s.persist(tx); err != nil {
			return err
		}
		s.live.Add(tx.delta)
	}
	if s.pg != nil {
		s.pg.abort() // a shared store's transaction that wrote nothing ends before others begin
	}
	done = true
	if tx.n > 0 || tx.remote > 0 {
		s.commits.Add(1) // before the commit lets readers in, so they see it with the data
		tx.countGenerations()
	}
	var seen int64
	if s.pg != nil {
		seen = s.pg.lastSeq // read under the write lock, which Commit lets go
		if tx.n > 0 || tx.remote > 0 {
			s.pg.keepCopy(btx, tx.caughtUp, tx.ops)
		}
	}
	if err := btx.Commit(); err != nil {
		return translate(err)
	}
	if s.pg != nil {
		s.pg.seen.Store(seen)
	}
	if tx.n > 0 {
		s.maybeCompact()
	}
	return nil
}

// persist writes a transaction's record and syncs it. On failure the file is cut back to
// where it was, so that the memory (rolled back by the caller) and the file agree.
func (s *Store) persist(tx *Tx) error {
	if s.pg != nil {
		return s.pg.write(tx.ops, tx.caughtUp)
	}
	if s.f == nil {
		return nil // in memory
	}
	if s.broken != nil {
		return s.broken
	}
	head := tx.rec.seal(s.seq + 1)
	body := tx.rec.body()
	err := writeAll(s.f, s.size, append([][]byte{head}, body...)...)
	if err == nil {
		err = unix.Fdatasync(int(s.f.Fd()))
	}
	if err != nil {
		if terr := s.f.Truncate(s.size); terr != nil {
			s.broken = fmt.Errorf("%w: %v", ErrBroken, terr)
		}
		return fmt.Errorf("kv: write %s: %w", s.path, err)
	}
	s.seq++
	s.size += int64(len(head) + tx.rec.bodySize())
	return nil
}

// writeAll writes parts one after another at offset at, a thousand at a time (pwritev),
// going on after a short write.
func writeAll(f *os.File, at int64, parts ...[]byte) error {
	const iovMax = 1024
	for len(parts) > 0 {
		batch := parts[:min(len(parts), iovMax)]
		n, err := unix.Pwritev(int(f.Fd()), batch, at)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		at += int64(n)
		for n > 0 && len(parts) > 0 { // drop what was written
			if n < len(parts[0]) {
				parts = append([][]byte{parts[0][n:]}, parts[1:]...)
				break
			}
			n -= len(parts[0])
			parts = parts[1:]
		}
		for len(parts) > 0 && len(parts[0]) == 0 {
			parts = parts[1:]
		}
	}
	return nil
}

// Commits counts the transactions that wrote something since the store was opened (see
// Tx.Commits); reading it takes no lock.
func (s *Store) Commits() uint64 { return s.commits.Load() }

// Get returns the value of key, or ErrNotFound.
func (s *Store) Get(key string) (string, error) {
	var v string
	err := s.View(func(tx *Tx) error {
		var err error
		v, err = tx.Get(key)
		return err
	})
	return v, err
}

// Set writes one key.
func (s *Store) Set(key, value string) error {
	return s.Update(func(tx *Tx) error { return tx.Set(key, value) })
}

// Change is one key to set (Delete false) or delete.
type Change struct {
	Key    string
	Value  string
	Delete bool
}

// Apply writes a set of changes in one transaction. check, if not nil, runs in that
// transaction before anything is written; an error from it writes nothing (use it to
// verify that what the changes were computed from is still current).
func (s *Store) Apply(changes []Change, check func(tx *Tx) error) error {
	if len(changes) == 0 {
		if check != nil {
			return s.View(check)
		}
		return nil
	}
	return s.Update(func(tx *Tx) error {
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		n := 0
		for _, c := range changes {
			n += len(c.Key) + 48
			if len(c.Value) < refMin {
				n += len(c.Value) // a larger value is written from where it is
			}
		}
		tx.grow(n) // one allocation for the record, not one per doubling
		for _, c := range changes {
			if c.Delete {
				if _, err := tx.Delete(c.Key); err != nil {
					return err
				}
				continue
			}
			if err := tx.Set(c.Key, c.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

// CreateIndex indexes the JSON values of the keys matching pattern (a glob such as
// "el:x:member:*") by the value at a JSON path, for Tx.AscendEqual. Indexes live in memory
// and are built from what the store holds; creating one that exists does nothing.
func (s *Store) CreateIndex(name, pattern, jsonPath string) error {
	if err := s.mapped.checkAll(); err != nil {
		return err // the index would read every value of the pattern
	}
	err := s.db.CreateIndex(name, pattern, buntdb.IndexJSON(jsonPath))
	if errors.Is(err, buntdb.ErrIndexExists) {
		return nil
	}
	return translate(err)
}

// Close closes the store after a compaction in progress, and lets go of the lock.
// Closing twice is not an error.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.compactMu.Lock()
		defer s.compactMu.Unlock()
		s.closeCopy()
		if cerr := s.db.Close(); cerr != nil && !errors.Is(cerr, buntdb.ErrDatabaseClosed) {
			err = fmt.Errorf("kv: close %s: %w", s.path, cerr)
		}
		if s.f != nil {
			if cerr := s.f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("kv: close %s: %w", s.path, cerr)
			}
		}
		if s.lock != nil {
			s.lock.release()
		}
		if s.pg != nil {
			if cerr := s.pg.close(); cerr != nil && err == nil {
				err = fmt.Errorf("kv: close %s: %w", s.path, cerr)
			}
		}
	})
	return err
}

// translate turns BuntDB's errors into kv's.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, buntdb.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, buntdb.ErrDatabaseClosed), errors.Is(err, buntdb.ErrTxClosed):
		return ErrClosed
	}
	return err
}

// Key joins parts into a key of the documented scheme.
func Key(parts ...string) string { return strings.Join(parts, ":") }

// movedKey marks a state file whose state jitrt migrate moved into PostgreSQL ("kv:" keys
// are the store's own: migrate neither copies nor compares them).
const movedKey = "kv:moved"

// Moved says where jitrt migrate moved a state file's state.
type Moved struct {
	URL    string `json:"url"` // the database, its password masked
	Schema string `json:"schema"`
	At     string `json:"at"`
}

// MarkMoved marks the state as moved to the database url (kept with its password masked)
// and schema; ClearMoved takes the mark off (the state came back).
func (s *Store) MarkMoved(url, schema string) error {
	b, _ := json.Marshal(Moved{URL: RedactURL(url), Schema: schema, At: time.Now().UTC().Format(time.RFC3339)})
	return s.Update(func(tx *Tx) error { return tx.set(movedKey, string(b)) })
}

// ClearMoved takes off the mark of MarkMoved.
func (s *Store) ClearMoved() error {
	return s.Update(func(tx *Tx) error {
		_, err := tx.Delete(movedKey)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
}

// MovedTo says where the state was moved, if it was.
func (s *Store) MovedTo() (Moved, bool) {
	var m Moved
	raw, err := s.Get(movedKey)
	if err != nil || json.Unmarshal([]byte(raw), &m) != nil {
		return Moved{}, false
	}
	return m, true
}
