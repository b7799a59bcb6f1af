package kv

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Generations let a reader keep what it derived from the keys under one prefix (an index
// of an org's members) across commits that changed none of them: the state file is
// shared by every element of an app, and a commit of one (a login's session) need not
// throw away another's caches.
//
// A prefix is watched from the first time its generation is asked for. A transaction
// notes which watched prefixes its writes fall under and, when it commits, counts one more
// generation for each, before readers can see its data. A transaction that began before a
// prefix was first watched counts one for every watched prefix: it may have written under
// the new one.
type generations struct {
	mu    sync.Mutex // held to watch a new prefix
	table atomic.Pointer[genTable]
}

// genTable is the watched prefixes and their counts; it is replaced, never changed, when a
// prefix is added (the counters carry over).
type genTable struct {
	prefixes []string
	counts   []*atomic.Uint64
	logs     []*changeLog
}

// # What changed
//
// Each watched prefix also keeps the keys the last logCommits commits wrote under it, and
// what each held before (Changes): a reader may then bring what it derived up to date from
// those keys rather than from all of them. A commit of more than logKeys keys under the
// prefix (or whose keys held more than logBytes before it) is logged as too many, and a
// reader asking across it (or past the log's start) derives anew; so the log holds at most
// logCommits × logBytes of old values.
const (
	logCommits = 64
	logKeys    = 256
	logBytes   = 1 << 20 // of the values the keys held before, in one commit
)

// KeyChange is a key a commit wrote, and what it held before.
type KeyChange struct {
	Key     string
	Prev    string
	HadPrev bool // the key existed before (Prev is its value)
}

type changeLog struct {
	mu      sync.Mutex
	entries []logEntry // the last logCommits, oldest first
}

type logEntry struct {
	gen     uint64
	changes []KeyChange
	tooMany bool
}

func (l *changeLog) add(e logEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) == logCommits {
		l.entries = append(l.entries[:0:0], l.entries[1:]...)
	}
	l.entries = append(l.entries, e)
}

// Changes are the keys under prefix that the commits after generation since wrote (up to
// the generation the store is at), in the order written, each with what it held before
// that write (a key written twice is there twice: the first says what it held before
// them); ok is false when they are not known (too many, or too long ago).
func (s *Store) Changes(prefix string, since uint64) (changes []KeyChange, ok bool) {
	t := s.gens.table.Load()
	if t == nil {
		return nil, false
	}
	for i, p := range t.prefixes {
		if p != prefix {
			continue
		}
		now := t.counts[i].Load()
		l := t.logs[i]
		l.mu.Lock()
		defer l.mu.Unlock()
		want := since + 1
		for _, e := range l.entries {
			if e.gen < want {
				continue
			}
			if e.gen != want || e.tooMany {
				return nil, false // a commit not logged, or too large
			}
			changes = append(changes, e.changes...)
			want++
		}
		return changes, want == now+1
	}
	return nil, false
}

// Generation counts the committed transactions that wrote a key under prefix since the
// store was opened (or since prefix was first asked for). What a reader derives from those
// keys stays true for as long as the count is the same.
func (s *Store) Generation(prefix string) uint64 {
	t := s.gens.table.Load()
	if t != nil {
		for i, p := range t.prefixes {
			if p == prefix {
				return t.counts[i].Load()
			}
		}
	}
	return s.gens.watch(prefix).Load()
}

// Generation is Store.Generation, as this transaction sees the store.
func (tx *Tx) Generation(prefix string) uint64 { return tx.store.Generation(prefix) }

// watch adds prefix to the watched ones and returns its counter.
func (g *generations) watch(prefix string) *atomic.Uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.table.Load()
	next := &genTable{}
	if old != nil {
		for i, p := range old.prefixes {
			if p == prefix {
				return old.counts[i]
			}
		}
		next.prefixes = append(next.prefixes, old.prefixes...)
		next.counts = append(next.counts, old.counts...)
	}
	if old != nil {
		next.logs = append(next.logs, old.logs...)
	}
	c := new(atomic.Uint64)
	next.prefixes = append(next.prefixes, prefix)
	next.counts = append(next.counts, c)
	next.logs = append(next.logs, &changeLog{})
	g.table.Store(next)
	return c
}

// noteWrite marks the watched prefixes key falls under, and logs the change under them.
func (tx *Tx) noteWrite(key, prev string, hadPrev bool) {
	t := tx.gens
	if t == nil {
		return
	}
	for i, p := range t.prefixes {
		if !strings.HasPrefix(key, p) {
			continue
		}
		tx.touched[i] = true
		if tx.tooMany[i] {
			continue
		}
		tx.loggedBytes[i] += len(prev)
		if len(tx.logged[i]) == logKeys || tx.loggedBytes[i] > logBytes {
			tx.tooMany[i], tx.logged[i] = true, nil
			continue
		}
		tx.logged[i] = append(tx.logged[i], KeyChange{Key: key, Prev: prev, HadPrev: hadPrev})
	}
}

// countGenerations counts one more generation for each prefix the transaction wrote under
// (for every prefix, if one was first watched while it ran).
func (tx *Tx) countGenerations() {
	now := tx.store.gens.table.Load()
	if now == nil {
		return
	}
	if now != tx.gens {
		for i, c := range now.counts {
			now.logs[i].add(logEntry{gen: c.Load() + 1, tooMany: true}) // what it wrote there is not known
			c.Add(1)
		}
		return
	}
	for i, touched := range tx.touched {
		if touched {
			c := now.counts[i]
			now.logs[i].add(logEntry{gen: c.Load() + 1, changes: tx.logged[i], tooMany: tx.tooMany[i]})
			c.Add(1) // after the log: a reader that sees the count finds the entry
		}
	}
}
