package cluster

import "sync"

// # Fencing
//
// A lock of the cluster is held by a database session. When the database drops that
// session (a restart, a terminated backend), the lock is another process's to take while
// its holder goes on, unaware, to write what it read under it. So every write of a process
// checks, in its writing transaction, that the sessions of the locks the process holds
// (Lock) still hold them (MissingSQL), and is refused if one does not (ErrLockLost).

// MissingSQL is a query, for the writing transaction, of the keys of a Fence ($1: Keys,
// $2: PIDs) whose sessions no longer hold them: a bigint[] (empty when all are held).
const MissingSQL = `SELECT coalesce(array_agg(h.k), '{}') FROM unnest($1::bigint[], $2::int[]) AS h(k, pid)
	WHERE NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.pid = h.pid
	AND l.objsubid = 1 AND l.classid = ((h.k >> 32) & 4294967295)::oid AND l.objid = (h.k & 4294967295)::oid)`

// Fence is the locks a process held when a write began: their keys, the sessions (backend
// pids) that hold them, and each holding's number.
type Fence struct {
	Keys []int64
	PIDs []int32
	ids  []uint64
}

// Fence is the locks this process holds now, for a write that begins.
func (c *Cluster) Fence() Fence { return c.fences.held() }

// Lost says whether a lock that MissingSQL found no longer held is still held by this
// process, in the same holding as when the write began: then its session is gone, and the
// write must be refused. A holding let go meanwhile (it is forgotten before the database
// lets go) is not lost.
func (c *Cluster) Lost(f Fence, missing []int64) bool { return c.fences.lost(f, missing) }

// fences are the cluster locks (Lock) a process holds: each by its advisory key, the
// session (backend pid) that holds it and a number unique to the holding.
type fences struct {
	mu    sync.Mutex
	next  uint64
	byKey map[int64]fence
}

type fence struct {
	pid int32
	id  uint64
}

func (f *fences) add(key int64, pid uint32) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byKey == nil {
		f.byKey = map[int64]fence{}
	}
	f.next++
	f.byKey[key] = fence{int32(pid), f.next}
	return f.next
}

func (f *fences) remove(key int64, id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byKey[key].id == id {
		delete(f.byKey, key)
	}
}

func (f *fences) held() Fence {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := Fence{make([]int64, 0, len(f.byKey)), make([]int32, 0, len(f.byKey)), make([]uint64, 0, len(f.byKey))}
	for k, fc := range f.byKey {
		h.Keys, h.PIDs, h.ids = append(h.Keys, k), append(h.PIDs, fc.pid), append(h.ids, fc.id)
	}
	return h
}

func (f *fences) lost(h Fence, missing []int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range missing {
		for i, hk := range h.Keys {
			if hk == k && f.byKey[k].id == h.ids[i] {
				return true
			}
		}
	}
	return false
}
