package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

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
// lock goes with its connection and the next caller leads. A Local cluster runs fn once
// for the callers of this process that overlap.
//
// The in-process flight is written here rather than taken from x/sync/singleflight, which
// fits the rest of jitrt's "one at a time" needs: a joiner here waits only as long as its
// own context (singleflight.Do waits for the leader whatever the caller's deadline), the
// test hooks see a caller join before it waits (overlap by construction), and a leader's
// panic is an error for those that joined (singleflight's DoChan re-panics on a goroutine
// of its own, which ends the process).
func (c *Cluster) Lead(ctx context.Context, name string, fn func(context.Context) (string, error)) (result string, led bool, err error) {
	st := c.leadState(name)
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
			return c.own(ctx, name, st, f, fn)
		}
		c.hooks.arrived(name) // arrived: the attempt joined is going
		st.waiting.Add(1)
		select {
		case <-f.done:
		case <-ctx.Done():
			st.waiting.Add(-1)
			return "", false, fmt.Errorf("cluster: wait for the leader of %s: %w", name, ctx.Err())
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
func (c *Cluster) own(ctx context.Context, name string, st *leadState, f *leadFlight, fn func(context.Context) (string, error)) (string, bool, error) {
	ended := false
	defer func() {
		if !ended {
			f.result, f.led, f.err = "", false, fmt.Errorf("cluster: the leader of %s panicked", name)
		}
		st.mu.Lock()
		st.flight = nil
		st.mu.Unlock()
		close(f.done)
	}()
	f.result, f.led, f.err = c.attempt(ctx, name, st, fn)
	if f.err != nil && !f.led {
		f.err = c.unavailable(ctx, "lead "+name, f.err)
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
func (c *Cluster) attempt(ctx context.Context, name string, st *leadState, fn func(context.Context) (string, error)) (string, bool, error) {
	if !c.Shared() {
		c.hooks.arrived(name)
		return c.runLead(ctx, st, fn)
	}
	runs := c.opts.Schema + ".runs"
	// What was published before this attempt, read through the pool now: a result
	// published after it came from a run that overlapped it.
	var before int64
	if err := c.Exchange(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM `+runs+` WHERE name = $1`, name).Scan(&before)
	}); err != nil {
		return "", false, fmt.Errorf("cluster: lead %s in %s: %w", name, c.where(), err)
	}
	c.hooks.arrived(name)
	key := c.Key("lead", name)
	hold, err := c.leadHold(ctx, name, st, key)
	if err != nil {
		return "", false, err
	}
	defer hold.release()
	var published string
	err = hold.use(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT result FROM `+runs+` WHERE name = $1 AND id > $2 ORDER BY id DESC LIMIT 1`, name, before).Scan(&published)
	})
	switch {
	case err == nil:
		st.followed.Add(1)
		return published, false, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return "", false, fmt.Errorf("cluster: lead %s in %s: %w", name, c.where(), err)
	}
	result, led, err := c.runLead(ctx, st, fn)
	if err != nil {
		return "", led, err
	}
	// published even if this caller gave up: the others wait for it
	pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	perr := hold.use(pctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(pctx, `WITH added AS (INSERT INTO `+runs+` (name, result) VALUES ($1, $2) RETURNING id)
			DELETE FROM `+runs+` WHERE name = $1 AND id <= (SELECT id FROM added) - $3`, name, result, runsKept)
		return err
	})
	if perr != nil {
		return result, true, fmt.Errorf("cluster: publish the result of %s in %s: %w", name, c.where(), perr)
	}
	return result, true, nil
}

// leadHold is a Lead's lock, granted: use runs a query of the lead (the results it
// reads and publishes) while it is held, release lets go of it.
type leadHold struct {
	use     func(ctx context.Context, fn func(*pgx.Conn) error) error
	release func()
}

// leadHold takes the lock of a Lead: on the process's own connection when Options.Own
// lends it and the lock is free (no server process of its own for the common case),
// else on a holder's connection, waiting for the process that leads.
func (c *Cluster) leadHold(ctx context.Context, name string, st *leadState, key int64) (leadHold, error) {
	if own := c.opts.Own; own != nil {
		var got bool
		ran, err := own(ctx, false, func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got)
		})
		if ran && err == nil && got {
			return leadHold{
				// the lead's queries need not its lock's session: the connection is not
				// kept while the work runs (the work writes on it)
				use:     c.Exchange,
				release: func() { c.unlockOwn(key) },
			}, nil
		}
		// busy, refused or taken: a holder's connection, as any process
	}
	// a holder's connection, kept while the work runs (the work may take the pool's)
	conn, err := c.holder(ctx)
	if err != nil {
		return leadHold{}, err
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		releaseHolder(conn, false)
		return leadHold{}, fmt.Errorf("cluster: lead %s in %s: %w", name, c.where(), err)
	}
	if !got {
		st.waiting.Add(1)
		_, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key)
		st.waiting.Add(-1)
		if err != nil {
			releaseHolder(conn, false)
			return leadHold{}, fmt.Errorf("cluster: wait for the leader of %s in %s: %w", name, c.where(), err)
		}
	}
	return leadHold{
		use:     func(_ context.Context, fn func(*pgx.Conn) error) error { return fn(conn.Conn()) },
		release: func() { releaseHolder(conn, true) },
	}, nil
}

// unlockOwn lets go of a lock held on the process's own connection (a Lead's, a Lock's):
// at once if the connection is free, else beside the caller once it is (a write of
// another goroutine has it; Close waits). Meanwhile this process may take the lock again
// there: a session's advisory locks count, and each unlock takes one. A connection that
// fails to unlock is the store's to make again; the lock goes with its session.
func (c *Cluster) unlockOwn(key int64) {
	unlock := func(wait bool) bool {
		ctx, cancel := context.WithTimeout(context.Background(), UnlockTimeout)
		defer cancel()
		ran, _ := c.opts.Own(ctx, wait, func(conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key)
			return err
		})
		return ran
	}
	if !unlock(false) {
		c.unlocking.Go(func() { unlock(true) })
	}
}

// runLead runs fn as the leader of name.
func (c *Cluster) runLead(ctx context.Context, st *leadState, fn func(context.Context) (string, error)) (string, bool, error) {
	st.holding.Store(true)
	defer st.holding.Store(false)
	st.led.Add(1)
	result, err := fn(ctx)
	return result, true, err
}

func (c *Cluster) leadState(name string) *leadState {
	if st, ok := c.leads.Load(name); ok {
		return st.(*leadState)
	}
	st, _ := c.leads.LoadOrStore(name, &leadState{})
	return st.(*leadState)
}

// MayLead says this process may Lead name, so that Leadership lists it (not leading)
// before it first does.
func (c *Cluster) MayLead(name string) { c.leadState(name) }

// Leadership lists, by name, what this process did with Lead.
func (c *Cluster) Leadership() []Leadership {
	var out []Leadership
	c.leads.Range(func(name, v any) bool {
		st := v.(*leadState)
		out = append(out, Leadership{Name: name.(string), Holding: st.holding.Load(), Waiting: st.waiting.Load(), Led: st.led.Load(), Followed: st.followed.Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
