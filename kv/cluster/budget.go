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

	mu     sync.Mutex
	blocks map[string]*budgetBlock // by endpoint: calls taken and not spent yet
	taking singleflight.Group      // one Take at a time per endpoint: its block is everyone's
}

type budgetBlock struct {
	left  int
	until time.Time
}

// NewBudget is the budget of name (a Local cluster's limits nothing: a process then paces
// its own calls), perMinute and perHour calls of each
// endpoint (a limit ≤ 0 is none).
func (c *Cluster) NewBudget(name string, perMinute, perHour int) *Budget {
	block := 1
	if perMinute > 0 {
		block = max(1, min(50, perMinute/200)) // 9,500 a minute: 47 calls a transaction
	}
	return &Budget{c: c, name: name, perMinute: perMinute, perHour: perHour, block: block, blocks: map[string]*budgetBlock{}}
}

// Block is how many calls Wait takes from the budget at once (and spends before it takes
// more).
func (b *Budget) Block() int { return b.block }

// Wait blocks until a call of endpoint is within the budget of every process, or ctx ends.
//
// The calls of a process come from one block per endpoint at a time: callers that find it
// spent wait for one Take (singleflight) and share the block it brings, so that no block
// replaces another with calls left (taken, counted, never made: with eight fetch workers,
// most blocks were wasted and a replica paced itself at a fraction of the limit).
func (b *Budget) Wait(ctx context.Context, endpoint string) error {
	for {
		b.mu.Lock()
		bl := b.blocks[endpoint]
		if bl != nil && bl.left > 0 && time.Now().Before(bl.until) {
			bl.left--
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		v, err, _ := b.taking.Do(endpoint, func() (any, error) {
			took := time.Now()
			granted, retry, err := b.Take(context.WithoutCancel(ctx), endpoint, b.block)
			if err == nil && granted > 0 {
				b.mu.Lock()
				b.blocks[endpoint] = &budgetBlock{left: granted, until: took.Add(budgetBlockLife)}
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

// Take takes up to want calls of endpoint from the budget, without waiting: granted may be
// fewer, or 0 with how long until the oldest calls of the window leave it.
func (b *Budget) Take(ctx context.Context, endpoint string, want int) (granted int, retry time.Duration, err error) {
	c := b.c
	if !c.Shared() {
		return want, 0, nil
	}
	name := b.name + ":" + endpoint
	ctx, cancel := context.WithTimeout(ctx, budgetTimeout)
	defer cancel()
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, c.Key("budget", name)); err != nil {
			return err
		}
		var now int64
		var minute, hour int
		var frac float64
		if err := tx.QueryRow(ctx, fmt.Sprintf(`WITH c AS (SELECT extract(epoch FROM clock_timestamp()) AS t)
			SELECT floor(c.t)::bigint, c.t - floor(c.t),
				coalesce((SELECT sum(n) FROM %[1]s.budget WHERE name = $1 AND sec > floor(c.t)::bigint - 60), 0),
				coalesce((SELECT sum(n) FROM %[1]s.budget WHERE name = $1 AND sec > floor(c.t)::bigint - 3600), 0)
			FROM c`, c.opts.Schema), name).Scan(&now, &frac, &minute, &hour); err != nil {
			return err
		}
		granted = want
		if b.perMinute > 0 {
			granted = min(granted, b.perMinute-minute)
		}
		if b.perHour > 0 {
			granted = min(granted, b.perHour-hour)
		}
		if granted <= 0 {
			granted = 0
			retry = time.Duration((1 - frac) * float64(time.Second)) // the next second may free some
			return nil
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %[1]s.budget (name, sec, n) VALUES ($1, $2, $3)
			ON CONFLICT (name, sec) DO UPDATE SET n = budget.n + excluded.n`, c.opts.Schema), name, now, granted)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s.budget WHERE name = $1 AND sec <= $2`, c.opts.Schema), name, now-3600)
		return err
	})
	if err != nil {
		return 0, 0, c.unavailable(ctx, "take from the budget "+b.name, fmt.Errorf("cluster: budget %s in %s: %w", b.name, c.where(), err))
	}
	retry = max(retry, time.Millisecond)
	return granted, retry, nil
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
	c.pool.QueryRow(ctx, fmt.Sprintf(`WITH c AS (SELECT floor(extract(epoch FROM clock_timestamp()))::bigint AS t)
		SELECT coalesce((SELECT sum(n) FROM %[1]s.budget, c WHERE name LIKE $1 AND sec > c.t - 60), 0),
			coalesce((SELECT sum(n) FROM %[1]s.budget, c WHERE name LIKE $1 AND sec > c.t - 3600), 0)`, c.opts.Schema),
		likePrefix(b.name+":")).Scan(&minute, &hour)
	return minute, hour
}

// likePrefix is a LIKE pattern matching the strings that start with prefix.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}
