package kv

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// # Several processes on one schema
//
// A store opened with Options.Shared is one of several processes (replicas) that keep the
// same PostgreSQL schema. Besides the writes (each Update takes the schema's writer lock
// and first catches up, see postgres.go), they coordinate through two things, both
// PostgreSQL advisory locks held by a connection of the process, so that a process that
// dies lets go at once:
//
//   - Lock(name) is a mutex of the whole cluster: held by one goroutine of one process at a
//     time, and the memory has caught up with every other process when it is granted.
//     TryLock takes it only if it is free (a task's run).
//   - Lead(name, fn) runs fn once for the callers that overlap, wherever they are: one
//     leads (runs fn, publishes its result in the schema's runs table), the others wait and
//     share that result; if the leader dies before it publishes, the next one runs fn.
//
// Lock holds a pooled connection for a moment and catches up on it; Lead and TryLock,
// held for as long as a sync or a task's run takes, open a connection of their own. So no
// holder ever waits for a second pooled connection, and any number of them can be held.
//
// The replicas hold the schema's owner lock shared, so that a process that needs it alone
// (jitrt migrate) waits for them, and they for it; each says who it is in the replicas
// table. A store that is not shared has the same methods, for one process.

// clusterSize is how many connections a shared store pools for its short locks, catch-ups
// and Fresh (a Lead or a TryLock holds one of the holders' pool, holdersSize).
const clusterSize = 16

// holdersSize is the most connections a process keeps for locks held while work runs
// (task runs, sync leads, at once): a holder beyond waits for one to be given back.
const holdersSize = 32

// runsKept is how many published results of each name the runs table keeps.
const runsKept = 10

// leadState counts, for one name, what this process did.
type leadState struct {
	mu     sync.Mutex
	flight *leadFlight // this process's attempt going now, nil when none

	holding  atomic.Bool
	waiting  atomic.Int64 // callers waiting now for a leader's result
	led      atomic.Uint64
	followed atomic.Uint64
}

// Leadership is, for one name given to Lead, what this process did: whether it leads it
// now, how many of its callers wait now for a leader (of this process or another), and
// how many times it led or followed (shared another's result).
type Leadership struct {
	Name     string
	Holding  bool
	Waiting  int64
	Led      uint64
	Followed uint64
}

// Shared reports whether the store is one of several processes sharing a schema.
func (s *Store) Shared() bool { return s.pg != nil && s.pg.shared }

// advisoryKey is the advisory lock of a name in the schema.
func (pg *pgStore) advisoryKey(kind, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("jitrt:" + pg.schema + ":" + kind + ":" + name))
	return int64(h.Sum64())
}

// Lock takes the store's mutex of that name and returns its unlock. Writers that compute a
// diff from a snapshot hold it from the read to the write, so that no other writer of the
// same data slips in between, whichever instance of an element, and, for a shared store,
// whichever process, they run in. A shared store's lock is the cluster's (a PostgreSQL
// advisory lock): waiting for it ends with ctx, and once it is held the memory holds what
// the other processes wrote.
func (s *Store) Lock(ctx context.Context, name string) (unlock func(), err error) {
	if s.Holds(ctx, name) {
		return func() {}, nil // the caller's transaction holds it (Hold)
	}
	l := s.named(name)
	l.mu.Lock() // the goroutines of this process queue here, each process with one connection waiting
	if !s.Shared() {
		return l.mu.Unlock, nil
	}
	// a pooled connection the database dropped fails on first use and leaves the pool:
	// the lock is tried again on another (a new one), a few times within ctx
	for try := 0; ; try++ {
		var release func()
		release, err = s.lockOnce(ctx, name, l)
		if err == nil {
			return release, nil
		}
		if try == lockTries-1 || !connectionLost(ctx, err) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(try+1) * 100 * time.Millisecond):
		}
	}
	l.mu.Unlock()
	return nil, s.pg.unavailable(ctx, "lock "+name, err)
}

// ErrLockLost is the cause of a write refused because a lock of the cluster its process
// held (Lock) was lost: the database dropped the connection that held it, so another
// process may hold it now, and what was read under it may be stale. Nothing was written;
// the write, under a lock taken again, may succeed (the error is an *UnavailableError).
var ErrLockLost = errors.New("kv: a lock of the cluster held by this process was lost with its connection; nothing was written")

// errLockLost ends the writing transaction that found a lock lost.
var errLockLost = errors.New("kv: fence")

// fences are the cluster locks (Lock) a process holds: each by its advisory key and the
// database session (backend pid) that holds it. Every write checks, in its transaction,
// that the sessions still hold them.
type fences struct {
	mu    sync.Mutex
	next  uint64
	byKey map[int64]fence
}

// fence is one holding of a lock: its session, and a number unique to the holding.
type fence struct {
	pid int32
	id  uint64
}

// heldFences are the locks held when a write began, as arrays for its transaction.
type heldFences struct {
	keys []int64
	pids []int32
	ids  []uint64
}

func (f *fences) add(key int64, pid uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byKey == nil {
		f.byKey = map[int64]fence{}
	}
	f.next++
	f.byKey[key] = fence{int32(pid), f.next}
}

func (f *fences) remove(key int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byKey, key)
}

func (f *fences) held() heldFences {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := heldFences{make([]int64, 0, len(f.byKey)), make([]int32, 0, len(f.byKey)), make([]uint64, 0, len(f.byKey))}
	for k, fc := range f.byKey {
		h.keys, h.pids, h.ids = append(h.keys, k), append(h.pids, fc.pid), append(h.ids, fc.id)
	}
	return h
}

// lost says whether a lock the database no longer shows held (missing) is still held by
// this process, in the same holding as when the write began: then its session is gone. A
// holding let go meanwhile (it is removed before the database lets go) is not lost.
func (f *fences) lost(h heldFences, missing []int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range missing {
		for i, hk := range h.keys {
			if hk == k && f.byKey[k].id == h.ids[i] {
				return true
			}
		}
	}
	return false
}

// lockTries is how many connections Lock tries when the database drops them.
const lockTries = 4

// lockOnce takes the advisory lock of name on a pooled connection and catches up on it;
// on an error it has let go of the connection (and keeps the process's mutex).
func (s *Store) lockOnce(ctx context.Context, name string, l *namedLock) (func(), error) {
	conn, err := s.pg.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("kv: lock %s in %s#%s: %w", name, s.pg.where, s.pg.schema, err)
	}
	key := s.pg.advisoryKey("lock", name)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
		conn.Conn().Close(closeCtx) // a wait cut short may still be granted: drop it
		cancel()
		conn.Release()
		return nil, fmt.Errorf("kv: lock %s in %s#%s: %w", name, s.pg.where, s.pg.schema, err)
	}
	if err := s.catchUp(ctx, conn); err != nil { // on this connection: no second one is needed
		unlockOn(conn, key)
		return nil, err
	}
	s.pg.fences.add(key, conn.Conn().PgConn().PID())
	return func() {
		s.pg.fences.remove(key)
		unlockOn(conn, key)
		l.mu.Unlock()
	}, nil
}

// unlockTimeout bounds letting go of a lock: a database that does not answer loses the
// connection instead (its session's locks go with it), and the holder goes on.
const unlockTimeout = 5 * time.Second

// unlockOn lets go of an advisory lock held by conn, and of conn.
func unlockOn(conn *pgxpool.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
		conn.Conn().Close(ctx) // the lock goes with the session
	}
	conn.Release()
}

// heldKey marks a context whose holder holds a store's lock (Hold).
type heldKey struct {
	s    *Store
	name string
}

// Hold takes the lock of that name (Lock) for a transaction of the caller's and returns a
// context that says so: a Lock of the same name with it (or a context made from it) is the
// holder's own and does not wait, so the writers the transaction calls, which take the lock
// themselves, run inside it. Only what runs on that context shares the lock.
func (s *Store) Hold(ctx context.Context, name string) (held context.Context, unlock func(), err error) {
	unlock, err = s.Lock(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return context.WithValue(ctx, heldKey{s, name}, true), unlock, nil
}

// Holds says whether ctx is that of a holder of the lock of that name (Hold).
func (s *Store) Holds(ctx context.Context, name string) bool {
	held, _ := ctx.Value(heldKey{s, name}).(bool)
	return held
}

// TryLock takes the mutex of that name (the cluster's, for a shared store) if no one holds
// it, without waiting: ok is false if someone does. It does not catch up (a holder that
// reads what others wrote takes Lock).
func (s *Store) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	l := s.named(name)
	if !l.mu.TryLock() {
		return nil, false, nil
	}
	if !s.Shared() {
		return l.mu.Unlock, true, nil
	}
	// a holder's connection, kept while the lock is (a task's run): the pool's stay for
	// the short locks, which never wait for a second one
	conn, err := s.pg.holder(ctx)
	if err != nil {
		l.mu.Unlock()
		return nil, false, s.pg.unavailable(ctx, "lock "+name, err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, s.pg.advisoryKey("lock", name)).Scan(&got); err != nil || !got {
		releaseHolder(conn, err == nil)
		l.mu.Unlock()
		if err != nil {
			return nil, false, s.pg.unavailable(ctx, "lock "+name, fmt.Errorf("kv: lock %s in %s#%s: %w", name, s.pg.where, s.pg.schema, err))
		}
		return nil, false, nil
	}
	return func() {
		releaseHolder(conn, true)
		l.mu.Unlock()
	}, true, nil
}

// holder is a connection of the holders' pool, for a lock kept for as long as some work
// runs (a task's run, a sync's lead): reused from one holder to the next, so that a task
// due every second does not connect every second. releaseHolder gives it back.
func (pg *pgStore) holder(ctx context.Context) (*pgxpool.Conn, error) {
	pg.hooks.connect()
	conn, err := pg.holders.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("kv: connect to %s: %w", pg.where, redactErr(err, pg.url))
	}
	return conn, nil
}

// releaseHolder gives a holder's connection back without a lock of its session: its
// locks are let go (clean: the connection is sound, and nothing may still be granting it
// a lock), else the connection is closed, and its session's locks go with it.
func releaseHolder(conn *pgxpool.Conn, clean bool) {
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	if clean {
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err == nil {
			conn.Release()
			return
		}
	}
	conn.Conn().Close(ctx)
	conn.Release() // a closed connection leaves the pool
}

// Lead runs fn once for the callers of every process that ask for name at overlapping
// times: if no process runs it now, fn runs here (led is true) and its result is
// published; if one does, Lead waits for it and returns the result it published (led is
// false).
//
// Overlap is decided when the caller arrives, never later: the callers of this process
// that arrive while an attempt of theirs is going join it in memory, and an attempt notes
// which results were published before it, through the pool, before it opens the
// connection it waits on. So a caller that came while a run was going shares that run,
// however long its own connection takes to open.
//
// An error of fn publishes nothing: the callers of this process that shared the failed
// attempt run it once more together (one leads the retry, the rest share it), and those of
// other processes, waiting for the lock, run it in turn. If the leader dies first, its
// lock goes with its connection and the next caller leads. A store that is not shared
// runs fn once for the callers of this process that overlap.
//
// The in-process flight is written here rather than taken from x/sync/singleflight, which
// fits the rest of jitrt's "one at a time" needs: a joiner here waits only as long as its
// own context (singleflight.Do waits for the leader whatever the caller's deadline), the
// test hooks see a caller join before it waits (overlap by construction), and a leader's
// panic is an error for those that joined (singleflight's DoChan re-panics on a goroutine
// of its own, which ends the process).
func (s *Store) Lead(ctx context.Context, name string, fn func(context.Context) (string, error)) (result string, led bool, err error) {
	st := s.leadState(name)
	for retried := false; ; retried = true {
		st.mu.Lock()
		f := st.flight
		own := f == nil
		if own {
			f = &leadFlight{done: make(chan struct{})}
			st.flight = f
		}
		st.mu.Unlock()
		if own {
			return s.own(ctx, name, st, f, fn)
		}
		s.hooks.arrived(name) // arrived: the attempt joined is going
		st.waiting.Add(1)
		select {
		case <-f.done:
		case <-ctx.Done():
			st.waiting.Add(-1)
			return "", false, fmt.Errorf("kv: wait for the leader of %s: %w", name, ctx.Err())
		}
		st.waiting.Add(-1)
		if f.err == nil {
			st.followed.Add(1)
			return f.result, false, nil
		}
		if retried || ctx.Err() != nil {
			return "", false, f.err
		}
	}
}

// own makes this caller's attempt the process's flight for name, and ends the flight
// however the attempt ends: a work that panics is an error for the callers that joined it
// (the panic goes on up this caller's stack), and the next caller starts a new flight.
func (s *Store) own(ctx context.Context, name string, st *leadState, f *leadFlight, fn func(context.Context) (string, error)) (string, bool, error) {
	ended := false
	defer func() {
		if !ended {
			f.result, f.led, f.err = "", false, fmt.Errorf("kv: the leader of %s panicked", name)
		}
		st.mu.Lock()
		st.flight = nil
		st.mu.Unlock()
		close(f.done)
	}()
	f.result, f.led, f.err = s.attempt(ctx, name, st, fn)
	if f.err != nil && !f.led && s.pg != nil {
		f.err = s.pg.unavailable(ctx, "lead "+name, f.err)
	}
	ended = true
	return f.result, f.led, f.err
}

// leadFlight is one attempt of this process at a name given to Lead, shared by the
// callers of the process that arrive while it is going.
type leadFlight struct {
	done   chan struct{} // closed when the attempt ended
	result string
	led    bool
	err    error
}

// attempt is one attempt of this process at Lead: it leads, or shares the result of
// another process's run that overlapped it.
func (s *Store) attempt(ctx context.Context, name string, st *leadState, fn func(context.Context) (string, error)) (string, bool, error) {
	if !s.Shared() {
		s.hooks.arrived(name)
		return s.runLead(ctx, st, fn)
	}
	pg := s.pg
	runs := pg.schema + ".runs"
	// What was published before this attempt, read through the pool now: a result
	// published after it came from a run that overlapped it.
	var before int64
	if err := pg.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM `+runs+` WHERE name = $1`, name).Scan(&before); err != nil {
		return "", false, fmt.Errorf("kv: lead %s in %s#%s: %w", name, pg.where, pg.schema, err)
	}
	s.hooks.arrived(name)
	// a holder's connection, kept while the work runs (the work may take the pool's)
	conn, err := pg.holder(ctx)
	if err != nil {
		return "", false, err
	}
	clean := false // a wait cut short may still be granted: only a sound end lets go cleanly
	defer func() { releaseHolder(conn, clean) }()
	key := pg.advisoryKey("lead", name)
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		return "", false, fmt.Errorf("kv: lead %s in %s#%s: %w", name, pg.where, pg.schema, err)
	}
	if !got {
		st.waiting.Add(1)
		_, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key)
		st.waiting.Add(-1)
		if err != nil {
			return "", false, fmt.Errorf("kv: wait for the leader of %s in %s#%s: %w", name, pg.where, pg.schema, err)
		}
	}
	clean = true
	var published string
	err = conn.QueryRow(ctx, `SELECT result FROM `+runs+` WHERE name = $1 AND id > $2 ORDER BY id DESC LIMIT 1`, name, before).Scan(&published)
	switch {
	case err == nil:
		st.followed.Add(1)
		return published, false, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return "", false, fmt.Errorf("kv: lead %s in %s#%s: %w", name, pg.where, pg.schema, err)
	}
	result, led, err := s.runLead(ctx, st, fn)
	if err != nil {
		return "", led, err
	}
	// published even if this caller gave up: the others wait for it
	pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, perr := conn.Exec(pctx, `WITH added AS (INSERT INTO `+runs+` (name, result) VALUES ($1, $2) RETURNING id)
		DELETE FROM `+runs+` WHERE name = $1 AND id <= (SELECT id FROM added) - $3`, name, result, runsKept)
	if perr != nil {
		return result, true, fmt.Errorf("kv: publish the result of %s in %s#%s: %w", name, pg.where, pg.schema, perr)
	}
	return result, true, nil
}

// runLead runs fn as the leader of name.
func (s *Store) runLead(ctx context.Context, st *leadState, fn func(context.Context) (string, error)) (string, bool, error) {
	st.holding.Store(true)
	defer st.holding.Store(false)
	st.led.Add(1)
	result, err := fn(ctx)
	return result, true, err
}

func (s *Store) leadState(name string) *leadState {
	if st, ok := s.leads.Load(name); ok {
		return st.(*leadState)
	}
	st, _ := s.leads.LoadOrStore(name, &leadState{})
	return st.(*leadState)
}

// MayLead says this process may Lead name, so that Leadership lists it (not leading)
// before it first does.
func (s *Store) MayLead(name string) { s.leadState(name) }

// Leadership lists, by name, what this process did with Lead.
func (s *Store) Leadership() []Leadership {
	var out []Leadership
	s.leads.Range(func(name, v any) bool {
		st := v.(*leadState)
		out = append(out, Leadership{Name: name.(string), Holding: st.holding.Load(), Waiting: st.waiting.Load(), Led: st.led.Load(), Followed: st.followed.Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// joinCluster, for a shared store, holds the schema's owner lock shared (waiting for a
// process that holds it alone), says who this process is in the replicas table, and
// opens the connections of locks and leads.
func (pg *pgStore) joinCluster(ctx context.Context, dbURL string, opts Options) error {
	if err := pg.lock(ctx, opts, true); err != nil {
		return err
	}
	if err := pg.register(ctx); err != nil {
		return err
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("kv: connect to %s: %w", pg.where, redactErr(err, dbURL))
	}
	cfg.MaxConns, cfg.MinConns = clusterSize, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("kv: connect to %s: %w", pg.where, redactErr(err, dbURL))
	}
	pg.pool = pool
	hcfg := cfg.Copy()
	hcfg.MaxConns = holdersSize
	holders, err := pgxpool.NewWithConfig(ctx, hcfg)
	if err != nil {
		return fmt.Errorf("kv: connect to %s: %w", pg.where, redactErr(err, dbURL))
	}
	pg.holders = holders
	return nil
}

// register says who this process is in the replicas table (and forgets the replicas that
// are gone).
func (pg *pgStore) register(ctx context.Context) error {
	host, _ := os.Hostname()
	if _, err := pg.conn.Exec(ctx, fmt.Sprintf(`DELETE FROM %s.replicas WHERE backend NOT IN (SELECT pid FROM pg_stat_activity)`, pg.schema)); err != nil {
		return fmt.Errorf("kv: join %s#%s: %w", pg.where, pg.schema, err)
	}
	app := ""
	if a := pg.app.Load(); a != nil {
		app = *a
	}
	var backend int64
	if err := pg.conn.QueryRow(ctx, fmt.Sprintf(`INSERT INTO %s.replicas (backend, pid, command, host, since, app) VALUES (pg_backend_pid(), $1, $2, $3, now(), $4)
		ON CONFLICT (backend) DO UPDATE SET pid = excluded.pid, command = excluded.command, host = excluded.host, since = excluded.since, app = excluded.app
		RETURNING backend`, pg.schema),
		os.Getpid(), pg.opts.Command, host, app).Scan(&backend); err != nil {
		return fmt.Errorf("kv: join %s#%s: %w", pg.where, pg.schema, err)
	}
	pg.backend.Store(backend)
	return nil
}

// Peer is another process sharing the store, as it said who it is.
type Peer struct {
	PID     int
	Command string
	Host    string
	App     string // the hash of its app folder ("" if it did not say)
}

// AdvertiseApp says, in the replicas table, the hash of this replica's app folder (again
// after a reload) and returns the other replicas alive whose folder's hash differs. A store
// that is not shared has no other replicas.
func (s *Store) AdvertiseApp(ctx context.Context, hash string) ([]Peer, error) {
	if !s.Shared() {
		return nil, nil
	}
	s.pg.app.Store(&hash)
	if _, err := s.pg.pool.Exec(ctx, fmt.Sprintf(`UPDATE %s.replicas SET app = $1 WHERE backend = $2`, s.pg.schema), hash, s.pg.backend.Load()); err != nil {
		return nil, s.pg.unavailable(ctx, "advertise the app folder", fmt.Errorf("kv: advertise in %s#%s: %w", s.pg.where, s.pg.schema, err))
	}
	return s.AppPeers(ctx)
}

// AppPeers are the other replicas alive whose app folder's hash differs from the one this
// replica advertised (none before it advertised one).
func (s *Store) AppPeers(ctx context.Context) ([]Peer, error) {
	mine := s.pg.app.Load()
	if !s.Shared() || mine == nil {
		return nil, nil
	}
	rows, err := s.pg.pool.Query(ctx, fmt.Sprintf(`SELECT pid, command, host, app FROM %s.replicas
		WHERE backend <> $1 AND backend IN (SELECT pid FROM pg_stat_activity) AND app <> '' AND app <> $2 ORDER BY since, pid`, s.pg.schema),
		s.pg.backend.Load(), *mine)
	if err != nil {
		return nil, s.pg.unavailable(ctx, "read the replicas", fmt.Errorf("kv: read %s#%s: %w", s.pg.where, s.pg.schema, err))
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Peer])
}

// lockedError names the processes that hold the schema: for a process that would own it
// alone, every replica alive that shares it (else its owner); for a replica, the process
// that owns it alone. A holder is named only while its database session is alive: a row
// left by a process long gone (an earlier jitrt migrate) blames no one.
func (pg *pgStore) lockedError(ctx context.Context) error {
	le := &LockedError{Dir: pg.where + "#" + pg.schema}
	var holders []Owner
	if !pg.shared {
		rows, err := pg.conn.Query(ctx, fmt.Sprintf(`SELECT pid, command, since FROM %s.replicas
			WHERE backend IN (SELECT pid FROM pg_stat_activity) ORDER BY since DESC, pid`, pg.schema))
		if err == nil {
			for rows.Next() {
				var o Owner
				var since time.Time
				if rows.Scan(&o.PID, &o.Command, &since) == nil {
					o.Since = since.UTC().Format(time.RFC3339)
					holders = append(holders, o)
				}
			}
			rows.Close()
		}
	}
	if len(holders) == 0 {
		var o Owner
		var since time.Time
		err := pg.conn.QueryRow(ctx, fmt.Sprintf(`SELECT pid, command, since FROM %s.owner
			WHERE id = 1 AND backend IN (SELECT pid FROM pg_stat_activity)`, pg.schema)).Scan(&o.PID, &o.Command, &since)
		if err == nil {
			o.Since = since.UTC().Format(time.RFC3339)
			holders = append(holders, o)
		}
	}
	if len(holders) > 0 {
		le.Owner, le.Others = holders[0], holders[1:]
	}
	return le
}

// testHooks let the package's tests put callers where they want them (a barrier, a
// delay); every hook is nil outside tests.
type testHooks struct {
	onConnect func()            // before a connection of its own is opened
	onArrived func(name string) // a caller of Lead has arrived: its overlap is decided
}

func (h *testHooks) connect() {
	if h != nil && h.onConnect != nil {
		h.onConnect()
	}
}

func (h *testHooks) arrived(name string) {
	if h != nil && h.onArrived != nil {
		h.onArrived(name)
	}
}
