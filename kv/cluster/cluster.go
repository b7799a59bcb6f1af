// Package cluster coordinates the processes that share one PostgreSQL schema (the replicas
// of an app): locks of the whole cluster, fenced; work led once for the callers that
// overlap, wherever they are; a platform's call budget counted for all of them. Without a
// database (Local) the same calls coordinate the goroutines of one process.
//
// Every hold is a PostgreSQL advisory lock kept by a connection of the process, so a
// process that dies lets go at once. Short locks (Lock) take a connection of a small pool
// for a moment; locks kept while work runs (TryLock, Lead) one of the holders' pool, reused
// from one holder to the next: no TCP connect per task tick. A process of one run (a
// jitrt exec) takes its Lock and Lead on the connection its store writes on when it can
// (Options.Own), each connection being a new server process it would pay for. Every wait ends with the
// caller's context, every unlock and close within UnlockTimeout.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolSize is how many connections a cluster pools for its short locks (and lends to the
// store for catch-ups and its checks); a Lead or a TryLock holds one of HoldersSize.
const PoolSize = 16

// HoldersSize is the most connections a process keeps for locks held while work runs
// (task runs, sync leads, at once): a holder beyond waits for one to be given back.
const HoldersSize = 32

// UnlockTimeout bounds letting go of a lock and closing: a database that does not answer
// loses the connection instead (its session's locks go with it), and the holder goes on.
const UnlockTimeout = 5 * time.Second

// Querier is a connection, a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Options say where a cluster coordinates.
type Options struct {
	// URL is the database ("" for one process: Local); Where names it in messages (the URL
	// without its password); Schema holds the runs and budget tables.
	URL, Where, Schema string
	// Logger receives what went wrong on the way (the database away).
	Logger *slog.Logger
	// Redact removes secrets (the URL's password) from a driver's error before it is
	// logged or wrapped.
	Redact func(error) error
	// OnLocked runs on the lock's own connection once Lock is granted, before Lock returns
	// (a store's memory catches up with what the other processes wrote).
	OnLocked func(ctx context.Context, q Querier) error
	// Own, for a process of one run, lends the cluster the connection the process keeps
	// for its store's writes: fn runs on it now if it is free and sound (ran false if not),
	// or, with wait, once it is free. A Lead or a Lock takes its lock there when no other
	// process holds it, and the short exchanges (Exchange: budgets, published results)
	// run there when it is free: such a process makes no connection of the pools unless
	// it must wait for another process or finds its own busy. nil: the pools always.
	Own func(ctx context.Context, wait bool, fn func(*pgx.Conn) error) (ran bool, err error)
	// Hooks are the cluster's test hooks, there from the start (nil: none).
	Hooks *Hooks
}

// Cluster is the coordination of one schema's processes, as seen from one of them.
type Cluster struct {
	opts    Options
	pool    *Pool // short locks (and the store's catch-ups and checks)
	holders *Pool // locks held while work runs
	hooks   *Hooks

	locks  sync.Map // name → *sync.Mutex: the goroutines of this process queue here
	leads  sync.Map // name → *leadState
	fences fences

	warming  sync.WaitGroup // the pools' first connections being made
	warmStop context.CancelFunc

	unlocking sync.WaitGroup // locks held on the process's own connection, let go once it is free

	budgetsMu  sync.Mutex
	budgets    map[budgetKey]*Budget // NewBudget's: Close gives back their unspent calls
	givingBack sync.WaitGroup        // calls of unspent blocks being given back to the budget
	closing    atomic.Bool           // Close gives back what is unspent itself
}

// Local is the coordination of one process's goroutines.
func Local() *Cluster { return &Cluster{hooks: &Hooks{}} }

// New opens the pools of a cluster on the database of opts.URL and starts making the
// first connection of each in the background (each a new server process, ~25 ms of a
// small machine's CPU), so that the first lock, lead or budget block of a process that
// has just opened the store does not wait for a connection made only then (a process of
// one run, opts.Own, makes neither until it needs it). Close waits for them.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Redact == nil {
		opts.Redact = func(err error) error { return errors.New("the connection failed") }
	}
	c := &Cluster{opts: opts, hooks: opts.Hooks}
	if c.hooks == nil {
		c.hooks = &Hooks{}
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %s: %w", opts.Where, opts.Redact(err))
	}
	cfg.MaxConns, cfg.MinConns = PoolSize, 0
	if h := c.hooks.BeforeConnect; h != nil {
		cfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error { h("pool"); return nil }
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %s: %w", opts.Where, opts.Redact(err))
	}
	hcfg := cfg.Copy()
	hcfg.MaxConns = HoldersSize
	if h := c.hooks.BeforeConnect; h != nil {
		hcfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error { h("holders"); return nil }
	}
	holders, err := pgxpool.NewWithConfig(ctx, hcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("cluster: connect to %s: %w", opts.Where, opts.Redact(err))
	}
	wctx, cancel := context.WithCancel(context.Background())
	c.warmStop = cancel
	if opts.Own == nil {
		c.pool, c.holders = c.warm(wctx, pool), c.warm(wctx, holders)
	} else {
		// a process of one run locks, leads and exchanges on its own connection: the
		// pools connect only when it must wait for another process or finds it busy
		c.pool, c.holders = cold(pool, c.hooks), cold(holders, c.hooks)
	}
	return c, nil
}

// cold is p as a Pool whose first connection is made when first needed.
func cold(p *pgxpool.Pool, hooks *Hooks) *Pool {
	ready := make(chan struct{})
	close(ready)
	return &Pool{Pool: p, ready: ready, hooks: hooks}
}

// Exchange runs fn, a short exchange that needs no session of its own (a budget's
// count, a lead's published result, a note), on the process's own connection when
// Options.Own lends it and it is free now, else on a connection of the pool.
func (c *Cluster) Exchange(ctx context.Context, fn func(*pgx.Conn) error) error {
	if c.opts.Own != nil {
		if ran, err := c.opts.Own(ctx, false, fn); ran {
			return err
		}
	}
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	return fn(conn.Conn())
}

// Pool is a pool of the cluster's connections whose first connection is being made as
// the cluster opens: a caller that comes meanwhile waits for it rather than making a
// second beside it (pgxpool makes one for every caller that finds none idle).
type Pool struct {
	*pgxpool.Pool
	ready chan struct{} // closed once the first connection is made (or failed)
	hooks *Hooks
}

// warm returns p as a Pool whose first connection is being made.
func (c *Cluster) warm(ctx context.Context, p *pgxpool.Pool) *Pool {
	wp := &Pool{Pool: p, ready: make(chan struct{}), hooks: c.hooks}
	c.warming.Go(func() {
		defer close(wp.ready)
		if conn, err := p.Acquire(ctx); err == nil {
			conn.Release()
		}
	})
	return wp
}

// wait waits for the first connection (or the end of ctx, which the call then fails with).
func (p *Pool) wait(ctx context.Context) {
	select {
	case <-p.ready:
		return
	default:
	}
	if p.hooks.OnPoolWait != nil {
		p.hooks.OnPoolWait()
	}
	select {
	case <-p.ready:
	case <-ctx.Done():
	}
}

// Acquire takes a connection of the pool (after its first is made).
func (p *Pool) Acquire(ctx context.Context) (*pgxpool.Conn, error) {
	p.wait(ctx)
	return p.Pool.Acquire(ctx)
}

// Exec runs sql on a connection of the pool (after its first is made).
func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	p.wait(ctx)
	return p.Pool.Exec(ctx, sql, args...)
}

// Query runs sql on a connection of the pool (after its first is made).
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	p.wait(ctx)
	return p.Pool.Query(ctx, sql, args...)
}

// QueryRow runs sql on a connection of the pool (after its first is made).
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	p.wait(ctx)
	return p.Pool.QueryRow(ctx, sql, args...)
}

// SendBatch sends b on a connection of the pool (after its first is made).
func (p *Pool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	p.wait(ctx)
	return p.Pool.SendBatch(ctx, b)
}

// Begin begins a transaction on a connection of the pool (after its first is made).
func (p *Pool) Begin(ctx context.Context) (pgx.Tx, error) {
	p.wait(ctx)
	return p.Pool.Begin(ctx)
}

// Shared says whether the cluster coordinates processes (it has a database).
func (c *Cluster) Shared() bool { return c.pool != nil }

// Pool is the cluster's pool of short connections, lent to the store for catch-ups and
// checks (nil for Local).
func (c *Cluster) Pool() *Pool { return c.pool }

// Holders is the pool of connections kept while work runs (nil for Local).
func (c *Cluster) Holders() *Pool { return c.holders }

// Hooks are the cluster's test hooks (nil hooks do nothing).
func (c *Cluster) Hooks() *Hooks { return c.hooks }

// Close closes the connections, waiting at most UnlockTimeout for each pool's to come
// back: a lock still held (a task's run the program did not wait for) must not hold up
// the close; its session ends with the process.
func (c *Cluster) Close() {
	if c.warmStop != nil {
		c.warmStop()
	}
	c.warming.Wait()
	c.unlocking.Wait()
	// (a block retired before this gives its calls back on its own, waited for below)
	c.closing.Store(true)
	c.budgetsMu.Lock()
	for _, b := range c.budgets {
		b.giveBackAll()
	}
	c.budgetsMu.Unlock()
	c.givingBack.Wait()
	closePool(c.pool)
	closePool(c.holders)
}

func closePool(p *Pool) {
	if p == nil {
		return
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(UnlockTimeout):
	}
}

// Key is the advisory lock of a name of a kind ("lock", "lead", "budget") in the schema.
func (c *Cluster) Key(kind, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("jitrt:" + c.opts.Schema + ":" + kind + ":" + name))
	return int64(h.Sum64())
}

// where names the schema in messages.
func (c *Cluster) where() string { return c.opts.Where + "#" + c.opts.Schema }

// Hooks let tests put callers where they want them (a barrier, a delay); every hook is
// nil outside tests.
type Hooks struct {
	OnConnect func()            // before a holder's connection is taken
	OnArrived func(name string) // a caller of Lead has arrived: its overlap is decided
	Now       func() time.Time  // the budgets' clock (default time.Now)
	// BeforeConnect runs before a pool makes a connection ("pool" or "holders");
	// OnPoolWait when a caller waits for a pool's first connection.
	BeforeConnect func(pool string)
	OnPoolWait    func()
}

func (h *Hooks) now() time.Time {
	if h != nil && h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Hooks) connect() {
	if h != nil && h.OnConnect != nil {
		h.OnConnect()
	}
}

func (h *Hooks) arrived(name string) {
	if h != nil && h.OnArrived != nil {
		h.OnArrived(name)
	}
}
