package kv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/tidwall/buntdb"
	"golang.org/x/sys/unix"
)

// # A local copy of a PostgreSQL schema's state
//
// A process that opens a PostgreSQL store with a data folder (Options.CopyDir) keeps a
// copy of the state there, in the state file's format (file.go), and opens from it rather
// than reading every row from the database: the rows' load is most of the time of a
// short command (jitrt exec) on a large state, where the file store maps its file.
//
// The copy holds the state as of one of the schema's transactions, named in its last
// command (copyMetaKey) by the transaction's number and its token: a random number each
// commit also writes into the schema (its commits table). A process uses the copy only if
// the schema still holds that number with that token, and then reads from the schema what
// was committed after it, as a replica catches up. A database restored to an earlier point
// and written again gives the number another token, and another database or schema none:
// the copy is not used there, and the state is read whole, as without a copy.
//
// The copy is a cache: nothing is lost with it. It is written without waiting for the
// disk, and checked whole when it is used (every checksum): one cut short, or whose end
// was never written, is used up to its last whole transaction; a damaged one is not used
// (the state is read from the database). It is never cut short in place (another process may have it
// mapped, and would end reading past its end). One process at a time writes it (it holds
// its lock, a flock beside it); the others read it. The writer appends each transaction
// the memory commits (its own writes and what it caught up with), a large write's beside
// its COPY; when the copy is not where the memory was (a catch-up that read the whole
// state, a torn end, an append that failed or a write that did), it writes it whole,
// beside it and then renamed over it, at the next commit or at close, and at close too
// when appends grew it past twice what the state holds.

// copyMetaKey is the last command of each transaction of a copy: "<number> <token>" of the
// schema's transaction whose state the copy holds up to there.
const copyMetaKey = "kv:pgcopy"

// tokensPruneEvery and tokensKept: every tokensPruneEvery-th transaction deletes the tokens
// of the transactions more than tokensKept before it (a copy that old is not used).
const (
	tokensPruneEvery = 1024
	tokensKept       = 100_000
)

// copySlack is how much a copy may grow by appends beyond twice the bytes of the state it
// holds before its writer writes it whole again.
const copySlack = 1 << 20

// newToken is a transaction's token: random, never 0 (which says "not known").
func newToken() int64 {
	for {
		if t := rand.Int64(); t != 0 {
			return t
		}
	}
}

// copyName is the file of the copy of schema at the database where (its URL without the
// password) in a data folder.
func copyName(where, schema string) string {
	sum := sha256.Sum256([]byte(where + "#" + schema))
	return "pgcopy-" + hex.EncodeToString(sum[:8]) + ".db"
}

// localCopy is a process's side of the copy in a data folder.
type localCopy struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex // the fields below; taken under the memory's write lock or a View
	lock *os.File   // held: this process writes the copy (nil: it reads it only)
	f    *os.File   // the copy, open to append (the writer's, once read)
	size int64      // the copy's size as written
	txs  uint64     // its transactions
	// seq is the schema's transaction whose state the copy holds, as the memory does
	// up to it (-1: the memory is not what the copy holds, which is written whole at the
	// next commit or at close)
	seq    int64
	failed bool // a whole write failed: not tried again
}

// openCopy takes the lock of the copy of schema in dir if no other process holds it.
func openCopy(dir, where, schema string, log *slog.Logger) *localCopy {
	c := &localCopy{path: filepath.Join(dir, copyName(where, schema)), log: log, seq: -1}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c
	}
	lock, err := os.OpenFile(c.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return c
	}
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		lock.Close()
		return c
	}
	c.lock = lock
	return c
}

// copyState is what a copy holds: its bytes, its commands over them, and the number and
// token of the transaction whose state they are.
type copyState struct {
	data       []byte
	mapped     bool // its values not checked yet (whole)
	torn       bool // it ends in a write cut short, after its last whole transaction
	cmds       []parsed
	seq, token int64
}

// read maps the copy and reads what transaction it holds, checking its structure but not
// yet its values (whole): ok is false when there is none to use (no file, damage, no
// transaction named). The writer keeps it open to append, past the last whole transaction.
func (c *localCopy) read() (st copyState, ok bool) {
	f, err := os.Open(c.path)
	if err != nil {
		return st, false
	}
	defer f.Close()
	if st.data, st.mapped, err = readOrMap(f); err != nil {
		return st, false
	}
	contents, err := verify(c.path, st.data, st.mapped)
	if err != nil || contents.legacy || len(contents.cmds) == 0 {
		if err != nil {
			c.log.Info("kv: the local copy of the state is damaged; the state is read from the database (the copy is written again)", "file", c.path, "err", err)
		}
		return st, false
	}
	last := contents.cmds[len(contents.cmds)-1]
	if string(last.key) != copyMetaKey || last.del {
		return st, false
	}
	seqText, tokenText, _ := strings.Cut(string(last.value), " ")
	st.seq, err = strconv.ParseInt(seqText, 10, 64)
	if err != nil {
		return st, false
	}
	if st.token, err = strconv.ParseInt(tokenText, 10, 64); err != nil || st.token == 0 || st.seq <= 0 {
		return st, false
	}
	st.cmds, st.torn = contents.cmds, contents.torn > 0
	if c.lock != nil && !st.torn {
		// appended to where its last transaction ends (a torn one is written whole
		// rather than cut short: another process may have it mapped)
		if w, err := os.OpenFile(c.path, os.O_RDWR, 0o600); err == nil {
			c.f, c.size, c.txs = w, contents.good, contents.seq
		}
	}
	return st, true
}

// checkWhole checks every byte of a copy read mapped (its values' checksums too), before
// it is used: a copy is never found damaged later, as a state file may be.
func (c *localCopy) checkWhole(st *copyState) bool {
	if !st.mapped {
		return true // read and checked whole
	}
	populate(st.data, 0, len(st.data)) // every byte is read: at once, not page by page
	contents, err := verify(c.path, st.data, false)
	if err != nil || len(contents.cmds) != len(st.cmds) {
		c.damaged(err)
		return false
	}
	st.cmds = contents.cmds
	return true
}

// damaged says that the copy could not be used as it is.
func (c *localCopy) damaged(err error) {
	c.log.Info("kv: the local copy of the state is damaged; the state is read from the database (a writer of it writes it again)", "file", c.path, "err", err)
}

// preparedCopy is a copy read and checked whole, not yet known to be of the schema's
// history.
type preparedCopy struct {
	c  *localCopy
	st copyState
	ok bool // there is one to use
}

// copyOpening is a copy being read beside an open (prepareCopy); nil when the open has
// no data folder.
type copyOpening struct {
	ready  <-chan preparedCopy
	got    *preparedCopy
	handed bool // given to the store: it lets go of it from then on
}

// prepareCopy takes the lock of the copy of schema in dir, if no other process holds it,
// and reads the copy and checks it whole, on a goroutine: while the database is reached
// (a connection, the schema's version, the cluster), which is most of the open's time on
// the server's side, not jitrt's. Only then is the schema asked whether the copy is of its
// history; a copy that is not (rare: a database restored, a schema made again) was read
// for nothing, and is unmapped.
func prepareCopy(dir, where, schema string, log *slog.Logger) *copyOpening {
	ready := make(chan preparedCopy, 1)
	go func() {
		p := preparedCopy{c: openCopy(dir, where, schema, log)}
		p.st, p.ok = p.c.read()
		if p.ok = p.ok && p.c.checkWhole(&p.st); !p.ok {
			p.st.drop()
		}
		ready <- p
	}()
	return &copyOpening{ready: ready}
}

// hand waits for the copy and gives it to the store that opens (nil: none).
func (o *copyOpening) hand() *preparedCopy {
	if o == nil {
		return nil
	}
	o.wait()
	o.handed = true
	return o.got
}

// abandon lets go of the copy of an open that failed before it was handed.
func (o *copyOpening) abandon() {
	if o == nil || o.handed {
		return
	}
	o.wait()
	o.got.st.drop()
	o.got.c.release()
	o.handed = true
}

func (o *copyOpening) wait() {
	if o.got == nil {
		p := <-o.ready
		o.got = &p
	}
}

// drop lets go of what a copy not used maps.
func (st *copyState) drop() {
	if st.mapped && st.data != nil {
		unix.Munmap(st.data)
	}
	st.data, st.cmds = nil, nil
}

// loadCopy puts a prepared copy into db if the schema still holds its transaction (its
// number, with its token), and reports whether it did.
func (pg *pgStore) loadCopy(ctx context.Context, db *buntdb.DB, st *copyState) (bool, error) {
	var token int64
	if err := pg.conn.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce((SELECT token FROM %s.commits WHERE seq = $1), 0)`, pg.schema), st.seq).Scan(&token); err != nil {
		st.drop()
		return false, fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
	}
	if token != st.token {
		pg.log.Debug("kv: the local copy of the state is not of this schema's history (another database, or one restored); the state is read from the database",
			"file", pg.copy.path, "transaction", st.seq)
		st.drop()
		return false, nil
	}
	if err := loadCommands(db, st.cmds, copyMetaKey); err != nil {
		return false, fmt.Errorf("kv: load %s: %w", pg.copy.path, err)
	}
	pg.lastSeq, pg.lastToken = st.seq, st.token
	pg.seen.Store(st.seq)
	pg.copy.seq = st.seq
	if st.torn {
		pg.copy.seq = -1 // written whole at the next commit or at close
	}
	pg.fromCopy = true
	return true, nil
}

// startEmpty, for a memory that holds nothing (a new schema), writes the copy of it now,
// so that what the process writes next is appended (the first sync's chunks, beside their
// COPY) rather than written whole.
func (c *localCopy) startEmpty(db *buntdb.DB, seq, token int64) {
	db.View(func(btx *buntdb.Tx) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.lock != nil && c.seq < 0 {
			c.writeWhole(btx, seq, token)
		}
		return nil
	})
}

// loadCommands puts verified commands into an empty store, but for the key skip. Keys and
// values are not copied: they are strings over the file's bytes, which are never written
// again, so the store holds them once.
func loadCommands(db *buntdb.DB, cmds []parsed, skip string) error {
	return db.Update(func(tx *buntdb.Tx) error {
		// The store is empty: emptied first, the transaction keeps the empty trees to go
		// back to instead of a rollback entry per key (two map operations a key, half the
		// time of opening a file of a few thousand keys).
		if err := tx.DeleteAll(); err != nil {
			return err
		}
		for _, cmd := range cmds {
			key := unsafe.String(unsafe.SliceData(cmd.key), len(cmd.key))
			switch {
			case skip != "" && key == skip:
			case cmd.del:
				tx.Delete(key)
			default:
				if _, _, err := tx.Set(key, unsafe.String(unsafe.SliceData(cmd.value), len(cmd.value)), nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// caughtUp is what the memory of an Update holds beyond what it held before it (the
// transaction from) besides the Update's own writes: the transactions it caught up with
// first. A write appends both to the local copy.
type caughtUp struct {
	from int64
	got  news
}

// keepCopy takes the copy to what the memory commits now (btx, at pg.lastSeq): by an
// append of what it caught up with (base) and of own, its own writes, or whole when the
// copy is not where the memory was. Under the memory's write lock.
func (pg *pgStore) keepCopy(btx *buntdb.Tx, base caughtUp, own []op) {
	if pg.copy != nil {
		pg.copy.keep(btx, base, pg.lastSeq, pg.lastToken, own)
	}
}

func (c *localCopy) keep(btx *buntdb.Tx, base caughtUp, seq, token int64, own []op) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.lock == nil || token == 0: // (a state it cannot name: written once it can)
	case c.seq == seq && !base.got.whole: // appended beside the write (appendBeside)
	case c.appendable(base):
		head, body, size := c.encode(base, seq, token, own)
		c.wrote(seq, size, writeAll(c.f, c.size, append([][]byte{head}, body...)...))
	default:
		c.writeWhole(btx, seq, token)
	}
}

// appendable reports whether the copy may go from base.from by an append. Under c.mu.
func (c *localCopy) appendable(base caughtUp) bool {
	return c.f != nil && c.seq >= 0 && c.seq == base.from && !base.got.whole
}

// encode is the transaction that takes the copy from base.from to seq.
func (c *localCopy) encode(base caughtUp, seq, token int64, own []op) (head []byte, body [][]byte, size int) {
	var r record
	for _, o := range base.got.ops {
		if o.seq > base.from {
			r.add(o)
		}
	}
	for _, o := range own {
		r.add(o)
	}
	r.appendMeta(seq, token)
	head = r.seal(c.txs + 1)
	return head, r.body(), len(head) + r.bodySize()
}

// wrote ends an append of size bytes that took the copy to seq. One that failed is left
// where it is (another process may have the file mapped: it is never cut short) and the
// copy is written whole at the next commit or at close.
func (c *localCopy) wrote(seq int64, size int, err error) {
	if err != nil {
		c.seq = -1
		c.log.Debug("kv: appending to the local copy of the state failed; it is written whole next", "file", c.path, "err", err)
		return
	}
	c.txs++
	c.size += int64(size)
	c.seq = seq
}

// pendingAppend is an append written beside a large write's COPY (the database's part of
// which is most of its time, on the server's process), kept once the write commits.
type pendingAppend struct {
	c    *localCopy
	seq  int64
	size int
	done chan error
}

// appendBeside starts appending what a large write takes the memory to (seq, token) on
// another goroutine; end keeps or drops it (nil: none was started; keepCopy does what is
// due after the commit). c.mu is held until end.
func (c *localCopy) appendBeside(base caughtUp, seq, token int64, own []op) *pendingAppend {
	if c == nil || token == 0 {
		return nil
	}
	c.mu.Lock()
	if c.lock == nil || !c.appendable(base) {
		c.mu.Unlock()
		return nil
	}
	p := &pendingAppend{c: c, seq: seq, done: make(chan error, 1)}
	go func() {
		head, body, size := c.encode(base, seq, token, own)
		p.size = size
		p.done <- writeAll(c.f, c.size, append([][]byte{head}, body...)...)
	}()
	return p
}

// end waits for the append and keeps it if the write committed. One whose write failed
// names a transaction that was never committed, whose number no commit will have again:
// a process that reads it does not use it; the copy is written whole next.
func (p *pendingAppend) end(committed bool) {
	if p == nil {
		return
	}
	c := p.c
	defer c.mu.Unlock()
	err := <-p.done
	if !committed {
		c.seq = -1
		return
	}
	c.wrote(p.seq, p.size, err)
}

// appendMeta adds a copy's last command: the number and token of the transaction whose
// state it holds.
func (r *record) appendMeta(seq, token int64) {
	r.appendSet(copyMetaKey, strconv.FormatInt(seq, 10)+" "+strconv.FormatInt(token, 10))
}

// add adds a write of the schema's.
func (r *record) add(o op) {
	if o.del {
		r.appendDel(o.key)
	} else {
		r.appendSet(o.key, o.value)
	}
}

// finish writes the copy whole if the memory (btx, at the transaction seq with token) is
// not what it holds, or appends grew it past twice what the memory holds; then it lets go
// of the copy.
func (c *localCopy) finish(btx *buntdb.Tx, seq, token int64) {
	defer c.release()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil || token == 0 || (c.seq == seq && c.size <= 2*liveSize(btx)+copySlack) {
		return
	}
	c.writeWhole(btx, seq, token)
}

// writeWhole writes every key of btx as one transaction beside the copy and renames it
// over the copy (a process that opened the old one reads it whole still), which is then
// appended to. One that fails is not tried again by this process. Under c.mu.
func (c *localCopy) writeWhole(btx *buntdb.Tx, seq, token int64) {
	if c.failed {
		return
	}
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
	c.seq = -1
	tmp := c.path + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err == nil {
		var r record
		btx.Ascend("", func(k, v string) bool {
			r.appendSet(k, v)
			return true
		})
		r.appendMeta(seq, token)
		head := r.seal(1)
		if err = writeAll(f, 0, append([][]byte{head}, r.body()...)...); err == nil {
			err = os.Rename(tmp, c.path)
		}
		if err == nil {
			c.f, c.size, c.txs, c.seq = f, int64(len(head)+r.bodySize()), 1, seq
			return
		}
		f.Close()
		os.Remove(tmp)
	}
	c.failed = true
	c.log.Debug("kv: writing the local copy of the state failed; this process writes it no more", "file", c.path, "err", err)
}

// closeCopy writes the copy whole if it is due (finish) and lets go of it.
func (s *Store) closeCopy() {
	pg := s.pg
	if pg == nil || pg.copy == nil {
		return
	}
	err := s.db.View(func(btx *buntdb.Tx) error {
		pg.copy.finish(btx, pg.lastSeq, pg.lastToken) // (read under the View: no write meanwhile)
		return nil
	})
	if err != nil && !errors.Is(err, buntdb.ErrDatabaseClosed) {
		s.log.Debug("kv: the local copy of the state was not written", "err", err)
	}
}

// release lets go of the copy without writing it (an open that failed).
func (c *localCopy) release() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// liveSize is the bytes of btx's keys and values.
func liveSize(btx *buntdb.Tx) int64 {
	var n int64
	btx.Ascend("", func(k, v string) bool {
		n += int64(len(k) + len(v))
		return true
	})
	return n
}

// isEmpty reports whether db holds no key.
func isEmpty(db *buntdb.DB) bool {
	n := -1
	db.View(func(tx *buntdb.Tx) error {
		var err error
		n, err = tx.Len()
		return err
	})
	return n == 0
}
