package kv

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"unsafe"

	"github.com/tidwall/buntdb"
)

// Tx is a transaction: read-only in View, read-write in Update. A write transaction
// records each write, in order, for the state file.
type Tx struct {
	tx          *buntdb.Tx
	store       *Store
	writable    bool
	rec         record        // the transaction's commands, as they go to the file
	ops         []op          // or its writes, as they go to PostgreSQL
	caughtUp    caughtUp      // and what the memory caught up with before them (a shared schema's)
	remote      int           // writes of other processes it applied (a shared schema)
	n           int           // commands in buf (or ops)
	delta       int64         // change of the live size
	gens        *genTable     // the watched prefixes when the transaction began
	touched     []bool        // which of them it wrote under
	logged      [][]KeyChange // and what it wrote under each (see Changes)
	loggedBytes []int         // the old values' bytes in logged
	tooMany     []bool        // more than the log keeps
}

// DeleteBefore deletes the keys of prefix that sort before cutoff, first first, at most
// limit of them (no limit when limit ≤ 0): the old end of a prefix kept in time order (a
// trail, a window of dedupe keys). It returns how many it deleted.
func (tx *Tx) DeleteBefore(prefix, cutoff string, limit int) (int, error) {
	var old []string
	tx.Scan(prefix, func(k, _ string) bool {
		if k >= cutoff || (limit > 0 && len(old) == limit) {
			return false
		}
		old = append(old, k)
		return true
	})
	for _, k := range old {
		if _, err := tx.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

// Writes is how many writes (sets and deletes) the transaction made so far.
func (tx *Tx) Writes() int { return tx.n }

// Commits counts the transactions that wrote something since the store was opened, as this
// transaction sees the store: a reader may keep what it derived from the data (an index)
// for as long as this count is the same.
func (tx *Tx) Commits() uint64 { return tx.store.commits.Load() }

// refMin is the size from which a value is written to the file from where it is, not
// copied into the transaction's buffer: a sync's chunks reach the file with no copy.
const refMin = 4 << 10

// record is a transaction's commands as they go to a state file (or a local copy of a
// PostgreSQL schema's state, pgcopy.go).
type record struct {
	buf     []byte   // the last commands
	segs    [][]byte // the commands before buf: earlier stretches of buf, and large values as they are (refMin)
	segSize int      // bytes in segs
	sums    []byte   // the checksum of each set's value, for a kvtx3 body (see sumsKey)
	heads   []byte   // the commands without their values, for a kvtx3 body's index (see headsKey)
	n       int      // commands
}

// body is the record's commands, in order, as pieces to write one after another.
func (r *record) body() [][]byte { return append(r.segs, r.buf) }

// bodySize is the size of the record's commands.
func (r *record) bodySize() int { return r.segSize + len(r.buf) }

// appendSet adds a set command.
func (r *record) appendSet(key, value string) {
	from := len(r.buf)
	r.buf = appendSetHead(r.buf, key, len(value))
	r.heads = append(r.heads, r.buf[from:]...)
	r.sums = sumOf(r.sums, unsafe.Slice(unsafe.StringData(value), len(value)))
	r.n++
	if len(value) < refMin {
		r.buf = append(append(r.buf, value...), '\r', '\n')
		return
	}
	// buf so far, then the value itself; buf goes on after them in the same array, whose
	// bytes already handed over are never written again
	r.segs = append(r.segs, r.buf, unsafe.Slice(unsafe.StringData(value), len(value)))
	r.segSize += len(r.buf) + len(value)
	r.buf = append(r.buf[len(r.buf):], '\r', '\n')
}

// appendDel adds a delete command.
func (r *record) appendDel(key string) {
	from := len(r.buf)
	r.buf = appendDel(r.buf, key)
	r.heads = append(r.heads, r.buf[from:]...)
	r.n++
}

// seal ends the commands (a kvtx3 body: with its values' checksums, then its index) and
// returns the header of the transaction numbered seq, to go before body().
func (r *record) seal(seq uint64) []byte {
	n := r.n
	var skel uint32
	if r.bodySize() >= lazyMin {
		from := len(r.buf)
		r.buf = appendSums(r.buf, r.sums)
		skel = skelOf(r.heads, r.buf[from:])
		r.buf = appendHeads(r.buf, r.heads)
		n += 2
	}
	var crc uint32
	for _, b := range r.body() {
		crc = crc32.Update(crc, castagnoli, b)
	}
	return encodeHeader(seq, n, int64(r.bodySize()), crc, skel)
}

// grow makes room for n more bytes of commands (for the file; PostgreSQL takes ops).
func (tx *Tx) grow(n int) {
	if tx.store.pg == nil && cap(tx.rec.buf)-len(tx.rec.buf) < n {
		b := make([]byte, len(tx.rec.buf), len(tx.rec.buf)+n)
		copy(b, tx.rec.buf)
		tx.rec.buf = b
	}
}

// Get returns the value of key, or ErrNotFound.
func (tx *Tx) Get(key string) (string, error) {
	v, err := tx.tx.Get(key)
	return tx.checked(v), translate(err)
}

// Set writes key. It may not be called while the transaction is scanning.
func (tx *Tx) Set(key, value string) error {
	if !tx.writable {
		return ErrReadOnly
	}
	if strings.HasPrefix(key, "kv:") {
		return fmt.Errorf("%w: %q", ErrReservedKey, key)
	}
	return tx.set(key, value)
}

// set is Set of any key, kv's own too.
func (tx *Tx) set(key, value string) error {
	prev, replaced, err := tx.tx.Set(key, value, nil)
	if err != nil {
		return translate(err)
	}
	if tx.store.pg != nil {
		tx.ops = append(tx.ops, op{key: key, value: value})
	} else {
		tx.rec.appendSet(key, value)
	}
	tx.noteWrite(key, prev, replaced)
	tx.n++
	tx.delta += setSize(key, value)
	if replaced {
		tx.delta -= setSize(key, prev)
	}
	return nil
}

// Delete removes key; it reports whether the key existed (a missing key is not an error).
func (tx *Tx) Delete(key string) (bool, error) {
	if !tx.writable {
		return false, ErrReadOnly
	}
	prev, err := tx.tx.Delete(key)
	if errors.Is(err, buntdb.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, translate(err)
	}
	if tx.store.pg != nil {
		tx.ops = append(tx.ops, op{key: key, del: true})
	} else {
		tx.rec.appendDel(key)
	}
	tx.noteWrite(key, prev, true)
	tx.n++
	tx.delta -= setSize(key, prev)
	return true, nil
}

// Scan calls fn for every key with the prefix, in key order, until fn returns false.
func (tx *Tx) Scan(prefix string, fn func(key, value string) bool) error {
	return translate(tx.tx.AscendGreaterOrEqual("", prefix, func(k, v string) bool {
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		return fn(k, tx.checked(v))
	}))
}

// ScanKeys calls fn for every key with the prefix, in key order, until fn returns false:
// the keys alone, no value read (a mapped file's values are not touched, nor checked).
func (tx *Tx) ScanKeys(prefix string, fn func(key string) bool) error {
	return translate(tx.tx.AscendGreaterOrEqual("", prefix, func(k, _ string) bool {
		return strings.HasPrefix(k, prefix) && fn(k)
	}))
}

// ScanReverse is Scan from the last key with the prefix to the first.
func (tx *Tx) ScanReverse(prefix string, fn func(key, value string) bool) error {
	return translate(tx.tx.DescendLessOrEqual("", prefix+"\xff", func(k, v string) bool {
		if !strings.HasPrefix(k, prefix) {
			return !(k < prefix)
		}
		return fn(k, tx.checked(v))
	}))
}

// ScanReverseFrom calls fn for the keys under prefix that are at most prefix+from, in
// descending order, until fn returns false: the first is the floor of prefix+from.
func (tx *Tx) ScanReverseFrom(prefix, from string, fn func(key, value string) bool) error {
	return translate(tx.tx.DescendLessOrEqual("", prefix+from, func(k, v string) bool {
		if !strings.HasPrefix(k, prefix) {
			return false // below the prefix: nothing under it remains
		}
		return fn(k, tx.checked(v))
	}))
}

// AscendEqual calls fn for every key of the index (CreateIndex) whose indexed field equals
// the one in pivot (a JSON document such as {"status":"active"}). A missing index is
// ErrNotFound.
func (tx *Tx) AscendEqual(index, pivot string, fn func(key, value string) bool) error {
	return translate(tx.tx.AscendEqual(index, pivot, func(k, v string) bool { return fn(k, tx.checked(v)) }))
}

// GetJSON decodes the JSON value of key into v; it returns ErrNotFound if there is none.
func (tx *Tx) GetJSON(key string, v any) error {
	raw, err := tx.Get(key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("kv: %s holds bad JSON: %w", key, err)
	}
	return nil
}

// SetJSON stores v as JSON under key.
func (tx *Tx) SetJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("kv: encode %s: %w", key, err)
	}
	return tx.Set(key, string(b))
}

// remoteTx is a write transaction for applying other processes' writes.
func (s *Store) remoteTx(btx *buntdb.Tx) *Tx {
	tx := &Tx{tx: btx, writable: true, store: s, gens: s.gens.table.Load()}
	if tx.gens != nil {
		tx.touched = make([]bool, len(tx.gens.prefixes))
		tx.logged = make([][]KeyChange, len(tx.gens.prefixes))
		tx.loggedBytes = make([]int, len(tx.gens.prefixes))
		tx.tooMany = make([]bool, len(tx.gens.prefixes))
	}
	return tx
}

// applyRemote puts other processes' writes into the memory: they count for generations
// like the transaction's own, and are not written again.
// applyNewer puts into the memory the writes of other processes that it does not hold yet
// (their transaction numbers are past lastSeq, which it then moves to): a catch-up read
// before the memory's lock may hold some the memory got meanwhile, and older ones must not
// overwrite newer.
func (tx *Tx) applyNewer(got news) error {
	pg := tx.store.pg
	last, newest := pg.lastSeq, int64(0)
	if got.whole {
		// the whole state: what the memory holds beyond it was deleted meanwhile
		if err := tx.dropAllBut(got.ops); err != nil {
			return err
		}
	}
	for _, o := range got.ops {
		newest = max(newest, o.seq)
		if o.seq <= pg.lastSeq && !got.whole {
			continue
		}
		if err := tx.applyRemote([]op{o}); err != nil {
			return err
		}
		last = max(last, o.seq)
	}
	if last != pg.lastSeq {
		pg.lastToken = 0 // got's token is the newest transaction's
		if last == newest {
			pg.lastToken = got.token
		}
	}
	pg.lastSeq = last
	return nil
}

// dropAllBut deletes from the memory every key that ops do not hold (set).
func (tx *Tx) dropAllBut(ops []op) error {
	keep := make(map[string]bool, len(ops))
	for _, o := range ops {
		if !o.del {
			keep[o.key] = true
		}
	}
	var gone []string
	if err := tx.tx.AscendKeys("*", func(k, _ string) bool {
		if !keep[k] {
			gone = append(gone, k)
		}
		return true
	}); err != nil {
		return translate(err)
	}
	for _, k := range gone {
		prev, err := tx.tx.Delete(k)
		if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
			return translate(err)
		}
		tx.noteWrite(k, prev, err == nil)
		tx.remote++
	}
	return nil
}

func (tx *Tx) applyRemote(ops []op) error {
	for _, o := range ops {
		var prev string
		var had bool
		if o.del {
			p, err := tx.tx.Delete(o.key)
			if err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return translate(err)
			}
			prev, had = p, err == nil
		} else {
			p, replaced, err := tx.tx.Set(o.key, o.value, nil)
			if err != nil {
				return translate(err)
			}
			prev, had = p, replaced
		}
		tx.noteWrite(o.key, prev, had)
		tx.remote++
	}
	return nil
}
