package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrLockLost is the cause of a write refused because a lock of the cluster its process
// held (Lock) was lost: the database dropped the connection that held it, so another
// process may hold it now, and what was read under it may be stale. Nothing was written;
// the write, under a lock taken again, may succeed (the error is an *UnavailableError).
var ErrLockLost = errors.New("cluster: a lock held by this process was lost with its connection; nothing was written")

// lockTries is how many connections Lock tries when the database drops them.
const lockTries = 4

func (c *Cluster) named(name string) *sync.Mutex {
	if l, ok := c.locks.Load(name); ok {
		return l.(*sync.Mutex)
	}
	l, _ := c.locks.LoadOrStore(name, &sync.Mutex{})
	return l.(*sync.Mutex)
}

// Lock takes the mutex of that name and returns its unlock. Writers that compute a diff
// from a snapshot hold it from the read to the write, so that no other writer of the same
// data slips in between, whichever goroutine, and, for a shared cluster, whichever process,
// they run in. Waiting for it ends with ctx; once it is held, Options.OnLocked has run on
// its connection (the memory holds what the other processes wrote), and the writes of the
// process are fenced by it (Fence) until it is let go.
func (c *Cluster) Lock(ctx context.Context, name string) (unlock func(), err error) {
	if c.Holds(ctx, name) {
		return func() {}, nil // the caller's transaction holds it (Hold)
	}
	l := c.named(name)
	l.Lock() // the goroutines of this process queue here, each process with one connection waiting
	if !c.Shared() {
		return l.Unlock, nil
	}
	// a pooled connection the database dropped fails on first use and leaves the pool:
	// the lock is tried again on another (a new one), a few times within ctx
	for try := 0; ; try++ {
		var release func()
		release, err = c.lockOnce(ctx, name)
		if err == nil {
			return func() { release(); l.Unlock() }, nil
		}
		if try == lockTries-1 || !ConnectionLost(ctx, err) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(try+1) * 100 * time.Millisecond):
		}
	}
	l.Unlock()
	return nil, c.unavailable(ctx, "lock "+name, err)
}

// lockOnce takes the advisory lock of name on the process's own connection (Options.Own)
// when it is free and no other process holds the lock, else on a pooled connection, and
// runs OnLocked on it; on an error it has let go of the connection.
func (c *Cluster) lockOnce(ctx context.Context, name string) (func(), error) {
	key := c.Key("lock", name)
	if c.opts.Own != nil {
		// on the process's own connection when it is free and no other process holds
		// the lock: OnLocked runs there too, before the connection is let go
		var got bool
		var pid uint32
		ran, err := c.opts.Own(ctx, false, func(conn *pgx.Conn) error {
			if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
				return fmt.Errorf("cluster: lock %s in %s: %w", name, c.where(), err)
			}
			if !got {
				return nil
			}
			pid = conn.PgConn().PID()
			if c.opts.OnLocked != nil {
				if err := c.opts.OnLocked(ctx, conn); err != nil {
					got = false
					uctx, cancel := context.WithTimeout(context.Background(), UnlockTimeout)
					defer cancel()
					conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, key)
					return err
				}
			}
			return nil
		})
		switch {
		case ran && err != nil:
			return nil, err
		case ran && got:
			id := c.fences.add(key, pid)
			return func() {
				c.fences.remove(key, id)
				c.unlockOwn(key)
			}, nil
		}
		// busy or taken: on the pool's, waiting for the holder, as any process
	}
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: lock %s in %s: %w", name, c.where(), c.opts.Redact(err))
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		closeConn(conn) // a wait cut short may still be granted: drop it
		return nil, fmt.Errorf("cluster: lock %s in %s: %w", name, c.where(), err)
	}
	if c.opts.OnLocked != nil {
		if err := c.opts.OnLocked(ctx, conn); err != nil { // on this connection: no second one is needed
			unlockOn(conn, key)
			return nil, err
		}
	}
	id := c.fences.add(key, conn.Conn().PgConn().PID())
	return func() {
		c.fences.remove(key, id)
		unlockOn(conn, key)
	}, nil
}

// unlockOn lets go of an advisory lock held by conn, and of conn.
func unlockOn(conn *pgxpool.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.Background(), UnlockTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
		conn.Conn().Close(ctx) // the lock goes with the session
	}
	conn.Release()
}

// closeConn closes a pooled connection (its session's locks go with it) and gives it back
// (a closed connection leaves the pool).
func closeConn(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), UnlockTimeout)
	defer cancel()
	conn.Conn().Close(ctx)
	conn.Release()
}

// heldKey marks a context whose holder holds a cluster's lock (Hold).
type heldKey struct {
	c    *Cluster
	name string
}

// Hold takes the lock of that name (Lock) for a transaction of the caller's and returns a
// context that says so: a Lock of the same name with it (or a context made from it) is the
// holder's own and does not wait, so the writers the transaction calls, which take the lock
// themselves, run inside it. Only what runs on that context shares the lock.
func (c *Cluster) Hold(ctx context.Context, name string) (held context.Context, unlock func(), err error) {
	unlock, err = c.Lock(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return context.WithValue(ctx, heldKey{c, name}, true), unlock, nil
}

// Holds says whether ctx is that of a holder of the lock of that name (Hold).
func (c *Cluster) Holds(ctx context.Context, name string) bool {
	held, _ := ctx.Value(heldKey{c, name}).(bool)
	return held
}

// TryLock takes the mutex of that name if no one holds it, without waiting: ok is false if
// someone does. It runs no OnLocked (a holder that reads what others wrote takes Lock)
// and fences nothing (it is kept while work runs: a task's run, whose writes take Lock).
func (c *Cluster) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	l := c.named(name)
	if !l.TryLock() {
		return nil, false, nil
	}
	if !c.Shared() {
		return l.Unlock, true, nil
	}
	conn, err := c.holder(ctx)
	if err != nil {
		l.Unlock()
		return nil, false, c.unavailable(ctx, "lock "+name, err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, c.Key("lock", name)).Scan(&got); err != nil || !got {
		releaseHolder(conn, err == nil)
		l.Unlock()
		if err != nil {
			return nil, false, c.unavailable(ctx, "lock "+name, fmt.Errorf("cluster: lock %s in %s: %w", name, c.where(), err))
		}
		return nil, false, nil
	}
	return func() {
		releaseHolder(conn, true)
		l.Unlock()
	}, true, nil
}

// holder is a connection of the holders' pool, for a lock kept for as long as some work
// runs (a task's run, a sync's lead): reused from one holder to the next, so that a task
// due every second does not connect every second. releaseHolder gives it back.
func (c *Cluster) holder(ctx context.Context) (*pgxpool.Conn, error) {
	c.hooks.connect()
	conn, err := c.holders.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %s: %w", c.opts.Where, c.opts.Redact(err))
	}
	return conn, nil
}

// releaseHolder gives a holder's connection back without a lock of its session: its
// locks are let go (clean: the connection is sound, and nothing may still be granting it
// a lock), else the connection is closed, and its session's locks go with it.
func releaseHolder(conn *pgxpool.Conn, clean bool) {
	if clean {
		ctx, cancel := context.WithTimeout(context.Background(), UnlockTimeout)
		_, err := conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
		cancel()
		if err == nil {
			conn.Release()
			return
		}
	}
	closeConn(conn)
}
