package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/singleflight"
)

// # A call budget shared by the replicas
//
// A platform that limits the calls of a tenant (WeCom: 10,000 a minute per corp and API)
// counts the calls of every replica together: three replicas that each keep to the limit
// spend three times it. A Budget keeps the count in the schema instead. The calls of each
// second are a row of the budget table; a process takes calls in small blocks (one
// transaction per block, under a lock of the budget's name, against the sums of the last
// minute and hour as the database's clock tells them), and spends a block within
// budgetBlockLife, so that the table counts a call at most that long before it is made.
// What a block has left when its life ends (the calls stopped: a sync's fetch is done),
// or when the process closes, is given back: taken off the count of the second it was
// counted in, so that large blocks cost the other replicas nothing once unspent.

// budgetTimeout bounds taking from the budget (a database that does not answer).
const budgetTimeout = 5 * time.Second

// budgetBlockLife is how long a block of calls taken from the budget may be spent.
const budgetBlockLife = 2 * time.Second

// Budget is a call budget of one name (a corp's API) per minute and per hour, shared by
// every process of the cluster; its Wait and Used fit a platform client's limiter.
type Budget struct {
	c                  *Cluster
	name               string
	perMinute, perHour int
	block              int

	mu        sync.Mutex
	endpoints map[string]*endpointBudget
	taking    singleflight.Group // one Take at a time per endpoint: its block is everyone's
}

// endpointBudget is what a process holds of an endpoint's budget: the block it spends, the
// one taken ahead of it, and the take ahead in flight (closed when it ends).
type endpointBudget struct {
	cur, next *budgetBlock
	ahead     chan struct{}
}

type budgetBlock struct {
	size, left  int
	took, until time.Time
	sec         int64       // the database's second it was counted in
	expiry      *time.Timer // gives back what is left when its life ends
}

// budgetGrowth is how many times the Block a block taken ahead of a fast one may grow to
// (doubling from block to block): a 100,000-member sync's 5,000 calls take 9 blocks, not
// 106, each a transaction of the database's (on a 2-core machine running the database
// too, each a few milliseconds of waiting: a no-change re-sync 1.10x the file store's
// with blocks of at most 4 Blocks, 1.04x with 32). Up to two blocks (3,008 calls of
// WeCom's 9,500 a minute) are counted and unspent when the calls stop, until their life
// ends and they are given back (giveBack).
const budgetGrowth = 32

// usable reports whether calls of the block may be made at now.
func (bl *budgetBlock) usable(now time.Time) bool {
	return bl != nil && bl.left > 0 && now.Before(bl.until)
}

// NewBudget is the budget of name (a Local cluster's limits nothing: a process then paces
// its own calls), perMinute and perHour calls of each
// endpoint (a limit ≤ 0 is none).
//
// A process has one budget of a name and limits: asked again (an element reloaded), it
// is the same, with the blocks it holds.
func (c *Cluster) NewBudget(name string, perMinute, perHour int) *Budget {
	c.budgetsMu.Lock()
	defer c.budgetsMu.Unlock()
	key := budgetKey{name, perMinute, perHour}
	if b := c.budgets[key]; b != nil {
		return b
	}
	block := 1
	if perMinute > 0 {
		block = max(1, min(50, perMinute/200)) // 9,500 a minute: 47 calls a transaction
	}
	b := &Budget{c: c, name: name, perMinute: perMinute, perHour: perHour, block: block, endpoints: map[string]*endpointBudget{}}
	if c.budgets == nil {
		c.budgets = map[budgetKey]*Budget{}
	}
	c.budgets[key] = b
	return b
}

// budgetKey is what makes two of a process's budgets the same.
type budgetKey struct {
	name               string
	perMinute, perHour int
}

// Block is how many calls Wait takes from the budget at once (and spends before it takes
// more); a block taken ahead of a fast one may be up to budgetGrowth times it.
func (b *Budget) Block() int { return b.block }

// MaxBlock is the most calls Wait takes at once.
func (b *Budget) MaxBlock() int { return budgetGrowth * b.block }

// Wait blocks until a call of endpoint is within the budget of every process, or ctx ends.
//
// The calls of a process come from one block per endpoint at a time: callers that find it
// spent wait for one Take (singleflight) and share the block it brings, so that no block
// replaces another with calls left (taken, counted, never made: with eight fetch workers,
// most blocks were wasted and a replica paced itself at a fraction of the limit).
//
// A block spent fast (half of it within a quarter of its life: a sync's fetch) has the next
// taken ahead, beside the calls, twice its size up to budgetGrowth times the Block, so
// that the callers do not all stop for each Take, and take fewer. A block spent slowly has
// none taken ahead (taken and left to expire, its calls would be counted and never made),
// and the next is of the Block's size.
func (b *Budget) Wait(ctx context.Context, endpoint string) error {
	for {
		b.mu.Lock()
		e := b.endpoints[endpoint]
		if e == nil {
			e = &endpointBudget{}
			b.endpoints[endpoint] = e
		}
		now := b.c.hooks.now()
		if !e.cur.usable(now) && e.next != nil {
			b.retire(endpoint, e.cur)
			e.cur, e.next = e.next, nil
		}
		if bl := e.cur; bl.usable(now) {
			bl.left--
			if b.block > 1 && e.next == nil && e.ahead == nil && bl.left <= bl.size/2 && now.Sub(bl.took) < budgetBlockLife/4 {
				e.ahead = make(chan struct{})
				go b.takeAhead(context.WithoutCancel(ctx), endpoint, e, min(2*bl.size, budgetGrowth*b.block))
			}
			b.mu.Unlock()
			return nil
		}
		ahead := e.ahead
		b.mu.Unlock()
		if ahead != nil {
			// the block taken ahead is on its way: it is the next one
			select {
			case <-ahead:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		v, err, _ := b.taking.Do(endpoint, func() (any, error) {
			b.mu.Lock()
			// a block came meanwhile (a Take that ended as this caller joined none)
			came := e.cur.usable(b.c.hooks.now()) || e.next != nil || e.ahead != nil
			b.mu.Unlock()
			if came {
				return time.Duration(0), nil
			}
			took := b.c.hooks.now()
			granted, retry, sec, err := b.take(context.WithoutCancel(ctx), endpoint, b.block)
			if err == nil && granted > 0 {
				b.mu.Lock()
				b.retire(endpoint, e.cur)
				e.cur = b.newBlock(endpoint, granted, sec, took)
				b.mu.Unlock()
				return time.Duration(0), nil
			}
			return retry, err
		})
		if err != nil {
			return err
		}
		if retry := v.(time.Duration); retry > 0 {
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// takeAhead takes the block of size after e's current one (none if the budget has no
// calls left now, or the database does not answer: the callers then take one themselves).
func (b *Budget) takeAhead(ctx context.Context, endpoint string, e *endpointBudget, size int) {
	took := b.c.hooks.now()
	granted, _, sec, err := b.take(ctx, endpoint, size)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil && granted > 0 {
		e.next = b.newBlock(endpoint, granted, sec, took)
	}
	close(e.ahead)
	e.ahead = nil
}

// newBlock is a block of granted calls, counted in the database's second sec, taken at
// took; what is left of it when its life ends is given back. Called with b.mu held.
func (b *Budget) newBlock(endpoint string, granted int, sec int64, took time.Time) *budgetBlock {
	bl := &budgetBlock{size: granted, left: granted, took: took, until: took.Add(budgetBlockLife), sec: sec}
	if b.c.Shared() {
		// a little past its life, on the process's clock (the budget's may be a test's:
		// then a block still usable by it is not given back, until retired or closed)
		bl.expiry = time.AfterFunc(budgetBlockLife+budgetBlockLife/8, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if !b.c.hooks.now().Before(bl.until) {
				b.retire(endpoint, bl)
			}
		})
	}
	return bl
}

// retire ends bl (a block replaced, or whose life ended): no call is spent from it any
// more, and what it had left is given back, beside the caller. Called with b.mu held.
func (b *Budget) retire(endpoint string, bl *budgetBlock) {
	if bl == nil {
		return
	}
	if bl.expiry != nil {
		bl.expiry.Stop()
	}
	left := bl.left
	bl.left = 0
	if left <= 0 || !b.c.Shared() || b.c.closing.Load() {
		return
	}
	b.c.givingBack.Add(1)
	go func() {
		defer b.c.givingBack.Done()
		b.giveBack([]unspent{{endpoint, bl.sec, left}})
	}()
}

// unspent are the calls a block left, counted in its endpoint's second sec.
type unspent struct {
	endpoint string
	sec      int64
	n        int
}

// giveBackAll ends every block of the budget and gives back what they had left (the
// process closes: Cluster.Close, once closing is set).
func (b *Budget) giveBackAll() {
	var back []unspent
	b.mu.Lock()
	for endpoint, e := range b.endpoints {
		for _, bl := range []*budgetBlock{e.cur, e.next} {
			if bl == nil {
				continue
			}
			if bl.expiry != nil {
				bl.expiry.Stop()
			}
			if bl.left > 0 {
				back = append(back, unspent{endpoint, bl.sec, bl.left})
			}
			bl.left = 0
		}
	}
	b.mu.Unlock()
	if b.c.Shared() && len(back) > 0 {
		b.giveBack(back)
	}
}

// giveBack takes the calls unspent off the counts of their seconds, in one exchange (a
// batch runs as one transaction; a process's close waits for it). A database that does
// not answer keeps them counted (the replicas then pace themselves more than they need,
// until the minute passes).
func (b *Budget) giveBack(back []unspent) {
	c := b.c
	ctx, cancel := context.WithTimeout(context.Background(), budgetTimeout)
	defer cancel()
	sql := fmt.Sprintf(`UPDATE %s.budget SET n = greatest(0, n - $3) WHERE name = $1 AND sec = $2`, c.opts.Schema)
	var batch pgx.Batch
	for _, u := range back {
		batch.Queue(sql, b.name+":"+u.endpoint, u.sec, u.n)
	}
	err := c.Exchange(ctx, func(conn *pgx.Conn) error { return conn.SendBatch(ctx, &batch).Close() })
	if err != nil {
		c.opts.Logger.Debug("cluster: unspent calls could not be given back to the budget", "budget", b.name, "blocks", len(back), "err", c.opts.Redact(err))
	}
}

// Take takes up to want calls of endpoint from the budget, without waiting: granted may be
// fewer, or 0 with how long until the oldest calls of the window leave it.
func (b *Budget) Take(ctx context.Context, endpoint string, want int) (granted int, retry time.Duration, err error) {
	granted, retry, _, err = b.take(ctx, endpoint, want)
	return granted, retry, err
}

// take is Take, which also says the database's second the calls were counted in.
func (b *Budget) take(ctx context.Context, endpoint string, want int) (granted int, retry time.Duration, sec int64, err error) {
	c := b.c
	if !c.Shared() {
		return want, 0, 0, nil
	}
	name := b.name + ":" + endpoint
	ctx, cancel := context.WithTimeout(ctx, budgetTimeout)
	defer cancel()
	// One round trip: the transaction, its lock and its count go as one batch (seven
	// exchanges before, 106 times in a 100,000-member sync). The count is read by a
	// statement of its own after the lock is granted, so that it sees the counts of the
	// replica that held the lock before (a statement's snapshot is taken as it starts).
	//
	// The count need not wait for the disk: committed, it is seen by every replica at
	// once; only a crash of the server could lose its last fraction of a second of counts
	// (calls the platform may then refuse as over its limit, which the client waits out
	// as it does any such answer). Waiting cost a flush per block.
	batch := &pgx.Batch{}
	batch.Queue(`BEGIN`)
	batch.Queue(`SET LOCAL synchronous_commit = off`)
	batch.Queue(`SELECT pg_advisory_xact_lock($1)`, c.Key("budget", name))
	var frac float64
	batch.Queue(fmt.Sprintf(`WITH c AS (SELECT extract(epoch FROM clock_timestamp()) AS t),
		used AS (SELECT floor(c.t)::bigint AS now, c.t - floor(c.t) AS frac,
			coalesce((SELECT sum(n) FROM %[1]s.budget WHERE name = $1 AND sec > floor(c.t)::bigint - 60), 0) AS minute,
			coalesce((SELECT sum(n) FROM %[1]s.budget WHERE name = $1 AND sec > floor(c.t)::bigint - 3600), 0) AS hour FROM c),
		g AS (SELECT now, frac, greatest(0, least($2::bigint,
			CASE WHEN $3::bigint > 0 THEN $3::bigint - minute ELSE $2::bigint END,
			CASE WHEN $4::bigint > 0 THEN $4::bigint - hour ELSE $2::bigint END)) AS granted FROM used),
		counted AS (INSERT INTO %[1]s.budget (name, sec, n) SELECT $1, now, granted FROM g WHERE granted > 0
			ON CONFLICT (name, sec) DO UPDATE SET n = budget.n + excluded.n),
		forgotten AS (DELETE FROM %[1]s.budget WHERE name = $1 AND sec <= (SELECT now FROM g) - 3600)
		SELECT granted, frac, now FROM g`, c.opts.Schema), name, want, b.perMinute, b.perHour).QueryRow(func(row pgx.Row) error {
		return row.Scan(&granted, &frac, &sec)
	})
	batch.Queue(`COMMIT`)
	err = c.Exchange(ctx, func(conn *pgx.Conn) error { return conn.SendBatch(ctx, batch).Close() })
	if err == nil && granted <= 0 {
		granted = 0
		retry = time.Duration((1 - frac) * float64(time.Second)) // the next second may free some
	}
	if err != nil {
		return 0, 0, 0, c.unavailable(ctx, "take from the budget "+b.name, fmt.Errorf("cluster: budget %s in %s: %w", b.name, c.where(), err))
	}
	retry = max(retry, time.Millisecond)
	return granted, retry, sec, nil
}

// Used counts the calls of every process taken in the last minute and hour, all endpoints
// together (0, 0 when the database does not answer).
func (b *Budget) Used() (minute, hour int) {
	c := b.c
	if !c.Shared() {
		return 0, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), budgetTimeout)
	defer cancel()
	c.Exchange(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, fmt.Sprintf(`WITH c AS (SELECT floor(extract(epoch FROM clock_timestamp()))::bigint AS t)
			SELECT coalesce((SELECT sum(n) FROM %[1]s.budget, c WHERE name LIKE $1 AND sec > c.t - 60), 0),
				coalesce((SELECT sum(n) FROM %[1]s.budget, c WHERE name LIKE $1 AND sec > c.t - 3600), 0)`, c.opts.Schema),
			likePrefix(b.name+":")).Scan(&minute, &hour)
	})
	return minute, hour
}

// likePrefix is a LIKE pattern matching the strings that start with prefix.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}
