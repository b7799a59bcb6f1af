package kv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitrt/jitrt/kv/cluster"
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
// Both, with TryLock and the call budgets, are the cluster package's (kv/cluster): the
// store gives it the connections' URL and, for Lock, its catch-up.
//
// The replicas hold the schema's owner lock shared, so that a process that needs it alone
// (jitrt migrate) waits for them, and they for it; each says who it is in the replicas
// table. A store that is not shared has the same methods, for one process.

// Shared reports whether the store is one of several processes sharing a schema.
func (s *Store) Shared() bool { return s.pg != nil && s.pg.shared }

// advisoryKey is the advisory lock of a name of a kind in the schema.
func (pg *pgStore) advisoryKey(kind, name string) int64 { return pg.cl.Key(kind, name) }

// Cluster is the coordination of the processes sharing the store (cluster.Local for a
// store that is not shared): its locks, leads and call budgets.
func (s *Store) Cluster() *cluster.Cluster { return s.cluster }

// Lock takes the store's mutex of that name and returns its unlock (cluster.Cluster.Lock):
// for a shared store, the cluster's, and once it is held the memory holds what the other
// processes wrote, and the process's writes are fenced by it.
func (s *Store) Lock(ctx context.Context, name string) (unlock func(), err error) {
	return s.cluster.Lock(ctx, name)
}

// Hold takes the lock of that name for a transaction of the caller's
// (cluster.Cluster.Hold).
func (s *Store) Hold(ctx context.Context, name string) (held context.Context, unlock func(), err error) {
	return s.cluster.Hold(ctx, name)
}

// Holds says whether ctx is that of a holder of the lock of that name.
func (s *Store) Holds(ctx context.Context, name string) bool { return s.cluster.Holds(ctx, name) }

// TryLock takes the mutex of that name if no one holds it (cluster.Cluster.TryLock).
func (s *Store) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	return s.cluster.TryLock(ctx, name)
}

// Lead runs fn once for the callers of every process that ask for name at overlapping
// times (cluster.Cluster.Lead).
func (s *Store) Lead(ctx context.Context, name string, fn func(context.Context) (string, error)) (result string, led bool, err error) {
	return s.cluster.Lead(ctx, name, fn)
}

// MayLead says this process may Lead name, so that Leadership lists it before it first does.
func (s *Store) MayLead(name string) { s.cluster.MayLead(name) }

// Leadership lists, by name, what this process did with Lead.
func (s *Store) Leadership() []Leadership { return s.cluster.Leadership() }

// Leadership is, for one name given to Lead, what this process did.
type Leadership = cluster.Leadership

// NewBudget is a call budget of name shared by the processes of the store
// (cluster.Cluster.NewBudget).
func (s *Store) NewBudget(name string, perMinute, perHour int) *cluster.Budget {
	return s.cluster.NewBudget(name, perMinute, perHour)
}

// errLockLost ends the writing transaction that found a lock lost.
var errLockLost = errors.New("kv: fence")

// ErrLockLost is the cause of a write refused because a lock its process held was lost
// with its connection (cluster.ErrLockLost).
var ErrLockLost = cluster.ErrLockLost

// joinCluster, for a shared store, holds the schema's owner lock shared (waiting for a
// process that holds it alone), says who this process is in the replicas table, and
// opens the cluster's connections (its locks and leads).
func (pg *pgStore) joinCluster(ctx context.Context, dbURL string, opts Options) error {
	if err := pg.lock(ctx, opts, true); err != nil {
		return err
	}
	if err := pg.register(ctx); err != nil {
		return err
	}
	co := cluster.Options{URL: dbURL, Where: pg.where, Schema: pg.schema, Logger: opts.Logger,
		Redact:   func(err error) error { return redactErr(err, dbURL) },
		OnLocked: func(ctx context.Context, q cluster.Querier) error { return pg.onLocked(ctx, q) }}
	if opts.OneRun {
		co.Own = pg.own
	}
	cl, err := cluster.New(ctx, co)
	if err != nil {
		return err
	}
	pg.cl, pg.pool = cl, cl.Pool()
	return nil
}

// own runs fn on the writes' connection for the cluster (cluster.Options.Own, a process of
// one run): now if no writer of this process has it, or, with wait, once it is let go;
// not if the database closed it (the next write makes it again).
func (pg *pgStore) own(ctx context.Context, wait bool, fn func(*pgx.Conn) error) (bool, error) {
	if wait {
		pg.writeMu.Lock()
	} else if !pg.writeMu.TryLock() {
		return false, nil
	}
	defer pg.writeMu.Unlock()
	if pg.conn.IsClosed() {
		return false, nil
	}
	err := fn(pg.conn)
	pg.endTransaction()
	return true, err
}

// endTransaction rolls back what an exchange left open on the writes' connection (a batch
// with its own BEGIN that failed stays in its failed transaction: the server skipped its
// COMMIT), so that the next write begins on a connection that can; one that cannot is
// closed, and the next write makes it again. Called with writeMu held.
func (pg *pgStore) endTransaction() {
	if pg.conn.IsClosed() || pg.conn.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pg.conn.Exec(ctx, `ROLLBACK`); err != nil {
		pg.conn.Close(ctx)
	}
}

// register says who this process is in the replicas table (and forgets the replicas that
// are gone).
func (pg *pgStore) register(ctx context.Context) error {
	host, _ := os.Hostname()
	app := ""
	if a := pg.app.Load(); a != nil {
		app = *a
	}
	// in one exchange, and not waiting for the disk: the rows say who is alive now, and a
	// crash of the server ends their sessions anyway
	var backend int64
	batch := &pgx.Batch{}
	batch.Queue(`BEGIN`)
	batch.Queue(`SET LOCAL synchronous_commit = off`)
	batch.Queue(fmt.Sprintf(`DELETE FROM %s.replicas WHERE backend NOT IN (SELECT pid FROM pg_stat_activity)`, pg.schema))
	batch.Queue(fmt.Sprintf(`INSERT INTO %s.replicas (backend, pid, command, host, since, app, packs) VALUES (pg_backend_pid(), $1, $2, $3, now(), $4, true)
		ON CONFLICT (backend) DO UPDATE SET pid = excluded.pid, command = excluded.command, host = excluded.host, since = excluded.since, app = excluded.app, packs = true
		RETURNING backend`, pg.schema),
		os.Getpid(), pg.opts.Command, host, app).QueryRow(func(row pgx.Row) error { return row.Scan(&backend) })
	batch.Queue(`COMMIT`)
	err := pg.conn.SendBatch(ctx, batch).Close()
	pg.endTransaction()
	if err != nil {
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
