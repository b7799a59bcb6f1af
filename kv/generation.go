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
	c := new(atomic.Uint64)
	next.prefixes = append(next.prefixes, prefix)
	next.counts = append(next.counts, c)
	g.table.Store(next)
	return c
}

// noteWrite marks the watched prefixes key falls under.
func (tx *Tx) noteWrite(key string) {
	t := tx.gens
	if t == nil {
		return
	}
	for i, p := range t.prefixes {
		if !tx.touched[i] && strings.HasPrefix(key, p) {
			tx.touched[i] = true
		}
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
		for _, c := range now.counts {
			c.Add(1)
		}
		return
	}
	for i, touched := range tx.touched {
		if touched {
			now.counts[i].Add(1)
		}
	}
}
