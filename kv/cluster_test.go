package kv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/buntdb"

	"github.com/jitrt/jitrt/internal/pgtest"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/kv/cluster"
)

// The cluster's coordination, with several stores on one schema standing for processes
// (each has connections of its own, as a process does): Lock is one mutex across them and
// hands over a memory that has caught up; Lead runs overlapping callers' work once and
// shares its result; a leader that dies lets the next caller lead; a process that needs
// the schema alone (jitrt migrate) is refused while replicas share it, and told who they are.
func TestClusterLocksAndLeads(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	open := func(command string) *Store {
		s, err := OpenPostgres(context.Background(), url, "cluster", Options{Command: command, Shared: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	stores := []*Store{open("jitrt run A"), open("jitrt run B"), open("jitrt run C")}
	ctx := context.Background()

	t.Run("LockIsOneMutexAndCatchesUp", func(t *testing.T) {
		// read (in memory, outside any transaction) and write back under the lock: an
		// increment of another process lost would show
		var wg sync.WaitGroup
		for _, s := range stores {
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 15 {
						unlock, err := s.Lock(ctx, "counter")
						if err != nil {
							t.Error(err)
							return
						}
						n := 0
						if v, err := s.Get("el:n"); err == nil {
							fmt.Sscan(v, &n)
						}
						err = s.Set("el:n", fmt.Sprint(n+1))
						unlock()
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		unlock, err := stores[0].Lock(ctx, "counter")
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		if v, _ := stores[0].Get("el:n"); v != "90" {
			t.Fatalf("counter %s after 3 processes × 2 goroutines × 15 increments under Lock", v)
		}
	})

	t.Run("FreshReadsWhatAnotherCommitted", func(t *testing.T) {
		for i := range 200 {
			v := fmt.Sprint(i)
			if err := stores[0].Set("el:fresh", v); err != nil {
				t.Fatal(err)
			}
			if err := stores[1].CatchUpIfBehind(ctx); err != nil {
				t.Fatal(err)
			}
			if got, _ := stores[1].Get("el:fresh"); got != v {
				t.Fatalf("write %d, read after CatchUpIfBehind on another process: %q", i, got)
			}
		}
	})

	t.Run("ReadersDoNotWaitForAnotherProcesssWrite", func(t *testing.T) {
		// A's write is in progress (it holds the schema's writer lock); B's write waits for
		// it; B's readers go on meanwhile
		inA, releaseA := make(chan struct{}), make(chan struct{})
		aDone := make(chan error, 1)
		go func() {
			aDone <- stores[0].Update(func(tx *Tx) error {
				close(inA)
				<-releaseA
				return tx.Set("el:slow", "a")
			})
		}()
		<-inA
		bDone := make(chan error, 1)
		go func() { bDone <- stores[1].Set("el:slow", "b") }()
		conn := pgtest.Connect(t, url)
		for waiting := 0; waiting == 0; { // until B waits for the writer lock
			conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting)
		}
		read := make(chan struct{})
		go func() { stores[1].Get("el:fresh"); stores[1].CatchUpIfBehind(ctx); close(read) }()
		select {
		case <-read:
		case <-time.After(testwait.Hang):
			close(releaseA)
			t.Fatal("B's readers waited for A's write")
		}
		close(releaseA)
		if err := <-aDone; err != nil {
			t.Fatal(err)
		}
		if err := <-bDone; err != nil {
			t.Fatal(err)
		}
		stores[0].CatchUpIfBehind(ctx)
		if v, _ := stores[0].Get("el:slow"); v != "b" {
			t.Fatalf("after both writes, A reads %q", v)
		}
	})

	t.Run("TryLockDoesNotWait", func(t *testing.T) {
		unlock, ok, err := stores[0].TryLock(ctx, "task:x")
		if err != nil || !ok {
			t.Fatalf("a free lock: %v %v", ok, err)
		}
		if _, ok, err := stores[1].TryLock(ctx, "task:x"); err != nil || ok {
			t.Fatalf("a lock another process holds: ok=%v %v", ok, err)
		}
		if _, ok, _ := stores[0].TryLock(ctx, "task:x"); ok {
			t.Fatal("a lock this process holds was taken again")
		}
		unlock()
		unlock2, ok, err := stores[1].TryLock(ctx, "task:x")
		if err != nil || !ok {
			t.Fatalf("after the holder let go: %v %v", ok, err)
		}
		unlock2()
	})

	t.Run("LeadRunsOverlappingCallersOnce", func(t *testing.T) {
		// 30 callers over the three processes, each opening its connection 0–500 ms late;
		// the leader's work holds until every caller has arrived, so they all overlap it by
		// construction, and some connect only after it published: each round runs the work
		// once, and every caller gets that run's result.
		var arrivedMu sync.Mutex
		arrived := map[string]int{}
		allArrived := map[string]chan struct{}{}
		const callers = 30
		for _, s := range stores {
			s.cluster.Hooks().OnConnect = func() { time.Sleep(time.Duration(rand.Int64N(int64(500 * time.Millisecond)))) }
			s.cluster.Hooks().OnArrived = func(name string) {
				arrivedMu.Lock()
				defer arrivedMu.Unlock()
				if arrived[name]++; arrived[name] == callers {
					close(allArrived[name])
				}
			}
		}
		defer func() {
			for _, s := range stores {
				s.cluster.Hooks().OnConnect, s.cluster.Hooks().OnArrived = nil, nil
			}
		}()
		rounds := 3
		if testing.Short() {
			rounds = 1 // make test-slow runs 3
		}
		for round := range rounds {
			name := fmt.Sprintf("sync:x%d", round)
			arrivedMu.Lock()
			allArrived[name] = make(chan struct{})
			arrivedMu.Unlock()
			var runs, led atomic.Int32
			results := make(chan string, callers)
			var wg sync.WaitGroup
			for i := range callers {
				s := stores[i%3]
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, l, err := s.Lead(ctx, name, func(context.Context) (string, error) {
						n := runs.Add(1)
						select {
						case <-allArrived[name]:
						case <-time.After(2 * time.Minute):
							t.Errorf("round %d: the leader waited 2 minutes for the %d callers to arrive", round, callers)
						}
						return fmt.Sprintf("run %d", n), nil
					})
					if err != nil {
						t.Error(err)
					}
					if l {
						led.Add(1)
					}
					results <- res
				}()
			}
			wg.Wait()
			close(results)
			if runs.Load() != 1 || led.Load() != 1 {
				t.Fatalf("round %d: %d overlapping callers ran the work %d times (%d led)", round, callers, runs.Load(), led.Load())
			}
			for r := range results {
				if r != "run 1" {
					t.Fatalf("round %d: a caller got %q, not the one run's result", round, r)
				}
			}
		}
		// a later call runs again; leadership is reported
		if res, l, _ := stores[1].Lead(ctx, "sync:x0", func(context.Context) (string, error) { return "again", nil }); !l || res != "again" {
			t.Fatalf("a later call: %q led=%v", res, l)
		}
		var sawLed bool
		for _, s := range stores {
			for _, ls := range s.Leadership() {
				if ls.Name == "sync:x0" && ls.Led > 0 {
					sawLed = true
				}
				if ls.Holding {
					t.Fatalf("%s still held after the work ended", ls.Name)
				}
			}
		}
		if !sawLed {
			t.Fatal("no process reports having led sync:x0")
		}
	})

	t.Run("ManyLeadsAtOnceEachTakingALock", func(t *testing.T) {
		// more leaders at once than the pool has connections, each taking a short lock
		// inside (a sync writing its corp): none waits for a connection another holds
		const n = cluster.PoolSize + 4
		var entered sync.WaitGroup
		entered.Add(n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := stores[0].Lead(ctx, fmt.Sprintf("sync:many%d", i), func(ctx context.Context) (string, error) {
					entered.Done()
					entered.Wait() // every leader holds its lead here at once
					unlock, err := stores[0].Lock(ctx, fmt.Sprintf("corp%d", i))
					if err != nil {
						return "", err
					}
					defer unlock()
					return "", stores[0].Set(fmt.Sprintf("el:many:%d", i), "x")
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	})

	t.Run("AnErrorIsNotSharedAndTheNextCallerRuns", func(t *testing.T) {
		entered := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error)
		go func() {
			_, _, err := stores[0].Lead(ctx, "flaky", func(context.Context) (string, error) {
				close(entered)
				<-release
				return "", errors.New("wecom is down")
			})
			done <- err
		}()
		<-entered
		got := make(chan string)
		go func() {
			res, l, err := stores[1].Lead(ctx, "flaky", func(context.Context) (string, error) { return "second ran", nil })
			if err != nil || !l {
				t.Errorf("the waiter: led=%v err=%v", l, err)
			}
			got <- res
		}()
		close(release)
		if err := <-done; err == nil || !strings.Contains(err.Error(), "wecom is down") {
			t.Fatalf("the leader's error: %v", err)
		}
		if res := <-got; res != "second ran" {
			t.Fatalf("the waiter got %q", res)
		}
	})

	t.Run("ALeaderThatDiesLetsTheNextLead", func(t *testing.T) {
		doomed := open("jitrt run doomed")
		entered, gone := make(chan struct{}), make(chan struct{})
		defer close(gone) // the doomed goroutine ends with the test (its process would be gone)
		go doomed.Lead(ctx, "sync:y", func(ctx context.Context) (string, error) {
			close(entered)
			<-gone
			return "", errors.New("killed")
		})
		<-entered
		waited := make(chan string)
		go func() {
			res, l, err := stores[2].Lead(ctx, "sync:y", func(context.Context) (string, error) { return "after the death", nil })
			if err != nil || !l {
				t.Errorf("after the leader died: led=%v err=%v", l, err)
			}
			waited <- res
		}()
		// the doomed process's connections end as a killed process's do
		conn := pgtest.Connect(t, url)
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND objid = ($1::bigint & 4294967295)::oid AND pid <> pg_backend_pid()`,
			doomed.pg.advisoryKey("lead", "sync:y")); err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-waited:
			if res != "after the death" {
				t.Fatalf("got %q", res)
			}
		case <-time.After(testwait.Hang):
			t.Fatal("the waiter never led after the leader died")
		}
	})

	t.Run("TheDatabaseDroppingEveryConnectionLosesNothing", func(t *testing.T) {
		// as a restart or a failover does: every connection of the processes ends
		conn := pgtest.Connect(t, url)
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database()`); err != nil {
			t.Fatal(err)
		}
		if err := stores[0].Set("el:after", "1"); err != nil {
			t.Fatalf("a write after the database dropped the connection: %v", err)
		}
		for deadline := time.Now().Add(testwait.Hang); ; {
			if v, _ := stores[1].Get("el:after"); v == "1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("another process never caught up after the database dropped its connections")
			}
			time.Sleep(10 * time.Millisecond)
		}
		unlock, err := stores[2].Lock(ctx, "counter") // its pool's connections are dead: tried again on new ones
		if err != nil {
			t.Fatalf("Lock after the database dropped the connections: %v", err)
		}
		unlock()
		if v, _ := stores[2].Get("el:after"); v != "1" {
			t.Fatalf("Lock handed over a memory without the write: %q", v)
		}
		// every replica, the idle ones too, says again who it is (and holds its share of
		// the owner lock again)
		for deadline := time.Now().Add(testwait.Hang); ; {
			var n int
			conn.QueryRow(ctx, `SELECT count(*) FROM cluster.replicas WHERE backend IN (SELECT pid FROM pg_stat_activity)`).Scan(&n)
			if n >= len(stores) { // (and the doomed one of the test before, still open)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d replicas registered again", n, len(stores))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("CatchUpIfBehindDoesNotKeepAskingADatabaseThatFailed", func(t *testing.T) {
		s := open("jitrt run cut off")
		s.pg.pool.Close() // its questions fail from now on, as with a database away
		if err := s.CatchUpIfBehind(ctx); err == nil || errors.Is(err, errDatabaseAway) {
			t.Fatalf("the first CatchUpIfBehind after the database went: %v", err)
		}
		if err := s.CatchUpIfBehind(ctx); !errors.Is(err, errDatabaseAway) {
			t.Fatalf("the next CatchUpIfBehind asked again: %v", err)
		}
		if _, err := s.Get("el:after"); err != nil {
			t.Fatalf("the memory does not serve: %v", err)
		}
	})

	t.Run("MigrateIsRefusedWhileReplicasShare", func(t *testing.T) {
		_, err := OpenPostgres(ctx, url, "cluster", Options{Command: "jitrt migrate", LockTimeout: -1})
		var le *LockedError
		if !errors.As(err, &le) || strings.Count(err.Error(), "jitrt run") < 2 {
			t.Fatalf("an exclusive open beside replicas: %v", err)
		}
	})
}

// A process refused the schema is told who holds it, as long as they do: every replica
// alive by name, or the owner alive; a row left by an owner that ended (an earlier jitrt
// migrate) blames no one.
func TestTheHoldersNamedAreAlive(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	open := func(command string, shared bool) (*Store, error) {
		return OpenPostgres(ctx, url, "holders", Options{Command: command, Shared: shared, LockTimeout: -1})
	}
	migrate, err := open("jitrt migrate", false)
	if err != nil {
		t.Fatal(err)
	}
	migrate.Close()
	exec, err := open("jitrt exec", false)
	if err != nil {
		t.Fatalf("after the migrate ended: %v", err)
	}
	_, err = open("jitrt call", false)
	if err == nil || !strings.Contains(err.Error(), "jitrt exec") || strings.Contains(err.Error(), "migrate") {
		t.Fatalf("beside a live owner: %v", err)
	}
	exec.Close()
	var replicas []*Store
	for _, name := range []string{"jitrt run R1", "jitrt run R2"} {
		r, err := open(name, true)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		replicas = append(replicas, r)
	}
	_, err = open("jitrt migrate", false)
	if err == nil || !strings.Contains(err.Error(), "jitrt run R1") || !strings.Contains(err.Error(), "jitrt run R2") ||
		strings.Contains(err.Error(), "jitrt exec") {
		t.Fatalf("beside two replicas, an exclusive open: %v", err)
	}
	replicas[0].Close()
	_, err = open("jitrt migrate", false)
	if err == nil || strings.Contains(err.Error(), "jitrt run R1") || !strings.Contains(err.Error(), "jitrt run R2") {
		t.Fatalf("beside the one replica left: %v", err)
	}
}

// A database that stopped: a write, a lock and a lead each fail with ErrUnavailable (code
// "unavailable", a Retry-After), whose message names neither the database's host, port
// and user nor the schema; reads are served from memory.
func TestADatabaseAwayIsUnavailableNotInternal(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a PostgreSQL server of its own, stopped: make test-slow")
	}
	url, stop := pgtest.StartStoppable(t)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, url, "away_schema", Options{Command: "jitrt run", Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Set("el:before", "1"); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(ctx, "warm") // the pool holds a connection, to be found dead
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	stop()
	u, _ := neturl.Parse(url)
	check := func(what string, err error) {
		t.Helper()
		var ue *UnavailableError
		if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || ue.ErrorCode() != "unavailable" || ue.RetryAfterSeconds() < 1 {
			t.Fatalf("%s with the database stopped: %v", what, err)
		}
		for _, leak := range []string{u.Hostname(), u.Port(), u.User.Username(), "away_schema"} {
			if strings.Contains(err.Error(), leak) {
				t.Fatalf("%s: the message names %q: %v", what, leak, err)
			}
		}
	}
	check("a write", s.Set("el:during", "1"))
	lctx, cancel := context.WithTimeout(ctx, testwait.Hang)
	defer cancel()
	_, err = s.Lock(lctx, "corp")
	check("a lock", err)
	_, _, err = s.Lead(lctx, "sync:x", func(context.Context) (string, error) { return "ran", nil })
	check("a lead", err)
	if v, err := s.Get("el:before"); err != nil || v != "1" {
		t.Fatalf("a read from memory with the database stopped: %q %v", v, err)
	}
}

// CatchUpIfBehind asks for the last transaction committed: a number the sequence gave to a write
// that then rolled back does not make every later CatchUpIfBehind catch up for nothing, and a write
// committed after it is caught up on.
func TestCatchUpIfBehindComparesWithTheLastCommit(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	a, b := twoReplicas(t, url, "fresh_head")
	if err := a.Set("el:x", "1"); err != nil {
		t.Fatal(err)
	}
	if err := b.CatchUpIfBehind(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get("el:x"); v != "1" {
		t.Fatalf("after CatchUpIfBehind: %q", v)
	}
	conn := pgtest.Connect(t, url)
	if _, err := conn.Exec(ctx, `SELECT nextval('fresh_head.kv_seq_gen')`); err != nil { // a write that rolled back
		t.Fatal(err)
	}
	before := b.pg.freshCatchUps.Load()
	for range 3 {
		if err := b.CatchUpIfBehind(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.pg.freshCatchUps.Load() - before; n != 0 {
		t.Fatalf("after a rolled-back number, %d of 3 CatchUpIfBehind calls caught up for nothing", n)
	}
	if err := a.Set("el:x", "2"); err != nil {
		t.Fatal(err)
	}
	if err := b.CatchUpIfBehind(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get("el:x"); v != "2" {
		t.Fatalf("a write committed after the rolled-back number: CatchUpIfBehind left %q", v)
	}
}

// A TryLock taken and let go again and again, as a task due every second does, reuses the
// holders' connections instead of connecting each time, and each time the lock is free
// for another process once let go.
func TestHoldersReuseTheirConnections(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	a, b := twoReplicas(t, url, "holders_reuse")
	var connects atomic.Int32
	a.cluster.Hooks().OnConnect = func() { connects.Add(1) }
	before := a.cluster.Holders().Stat().NewConnsCount()
	for i := range 30 {
		unlock, ok, err := a.TryLock(ctx, "task:every-second")
		if err != nil || !ok {
			t.Fatalf("round %d: TryLock: %v %v", i, ok, err)
		}
		if _, ok, err := b.TryLock(ctx, "task:every-second"); err != nil || ok {
			t.Fatalf("round %d: another process took the lock held: %v %v", i, ok, err)
		}
		unlock()
		unlockB, ok, err := b.TryLock(ctx, "task:every-second")
		if err != nil || !ok {
			t.Fatalf("round %d: the lock let go is not free for another process: %v %v", i, ok, err)
		}
		unlockB()
	}
	if n := a.cluster.Holders().Stat().NewConnsCount() - before; n > 2 {
		t.Fatalf("30 TryLocks opened %d connections", n)
	}
	if connects.Load() != 30 {
		t.Fatalf("the hook saw %d of 30 holders", connects.Load())
	}
}

// twoReplicas are two stores sharing a schema, as two processes of jitrt run.
func twoReplicas(t *testing.T, url, schema string) (a, b *Store) {
	t.Helper()
	s := replicas(t, url, schema, Options{}, "jitrt run A", "jitrt run B")
	return s[0], s[1]
}

// replicas opens a shared store of the schema for each name (with opts), closed when the
// test ends.
func replicas(t *testing.T, url, schema string, opts Options, names ...string) []*Store {
	t.Helper()
	var stores []*Store
	for _, name := range names {
		o := opts
		o.Command, o.Shared = name, true
		s, err := OpenPostgres(context.Background(), url, schema, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	return stores
}

// Fencing: a process holding a lock of the cluster whose connection the database drops
// learns it at its next write, before anything is committed (the write is refused as
// unavailable, ErrLockLost), while another process takes the lock; once the holder lets go
// its writes go through again.
func TestALockLostWithItsConnectionFencesTheWrite(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	a, b := twoReplicas(t, url, "fence")
	unlock, err := a.Lock(ctx, "corp")
	if err != nil {
		t.Fatal(err)
	}
	unlock = sync.OnceFunc(unlock)
	defer unlock()
	if err := a.Set("el:x", "under the lock"); err != nil {
		t.Fatalf("a write under a lock held: %v", err)
	}
	conn := pgtest.Connect(t, url)
	var ended int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND objid = ($1::bigint & 4294967295)::oid AND classid = (($1::bigint >> 32) & 4294967295)::oid`, a.pg.advisoryKey("lock", "corp")).Scan(&ended); err != nil || ended != 1 {
		t.Fatalf("terminating the holder's session: %d %v", ended, err)
	}
	// another process takes the lock the database let go of, and writes under it
	unlockB, err := b.Lock(ctx, "corp")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set("el:x", "B's"); err != nil {
		t.Fatal(err)
	}
	unlockB()
	err = a.Set("el:x", "A's, read under a lock it lost")
	var ue *UnavailableError
	if !errors.Is(err, ErrLockLost) || !errors.As(err, &ue) {
		t.Fatalf("a write after the lock was lost: %v", err)
	}
	if err := b.CatchUp(); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get("el:x"); v != "B's" {
		t.Fatalf("the fenced write reached the database: %q", v)
	}
	unlock()
	if err := a.Set("el:y", "after letting go"); err != nil {
		t.Fatalf("a write after the lost lock was let go: %v", err)
	}
	if v, _ := a.Get("el:x"); v != "B's" {
		t.Fatalf("the fenced write stayed in the memory: %q", v)
	}
}

// Tombstones: the deletes' tombstones go once every replica alive has caught up past
// them (each says how far it has, the purge loop every PurgeInterval), and a replica that
// was cut off while they went reads the whole state again: a key deleted meanwhile goes
// from its memory too. A process that owns the schema alone deletes outright.
func TestTombstonesArePurgedOnceEveryReplicaIsPast(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	stores := replicas(t, url, "purge", Options{PurgeInterval: 20 * time.Millisecond}, "jitrt run A", "jitrt run B")
	a, b := stores[0], stores[1]
	conn := pgtest.Connect(t, url)
	tombstones := func() (n int) {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM purge.kv WHERE deleted`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 50 {
		if err := a.Set(fmt.Sprintf("el:k%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Update(func(tx *Tx) error {
		for i := range 40 {
			if _, err := tx.Delete(fmt.Sprintf("el:k%02d", i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the 40 tombstones to be purged", func() bool { return tombstones() == 0 })
	for _, s := range stores {
		if err := s.CatchUp(); err != nil {
			t.Fatal(err)
		}
		n := 0
		s.View(func(tx *Tx) error {
			return tx.Scan("el:k", func(k, v string) bool { n++; return true })
		})
		if n != 10 {
			t.Fatalf("%s holds %d keys after the purge, want 10", s.pg.opts.Command, n)
		}
	}

	// B is cut off (as a process whose connections dropped for a while) and misses a
	// delete whose tombstone the others purge: it reads the whole state again
	behind := b.pg.seen.Load()
	if err := a.Set("el:missed", "x"); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(func(tx *Tx) error { _, err := tx.Delete("el:missed"); return err }); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the missed delete's tombstone to be purged", func() bool { return tombstones() == 0 })
	// (B's memory as it was before the set and the delete it missed: the key, stale)
	if err := b.db.Update(func(tx *buntdb.Tx) error { _, _, err := tx.Set("el:missed", "stale", nil); return err }); err != nil {
		t.Fatal(err)
	}
	b.pg.seen.Store(behind)
	b.pg.lastSeq = behind
	if err := b.CatchUp(); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get("el:missed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a replica behind the purge kept a key deleted meanwhile: %q %v", v, err)
	}
	if v, _ := b.Get("el:k45"); v != "v" {
		t.Fatalf("reading the whole state again lost a key: %q", v)
	}

	// alone, a delete leaves no tombstone
	a.Close()
	b.Close()
	solo, err := OpenPostgres(ctx, url, "purge", Options{Command: "jitrt migrate"})
	if err != nil {
		t.Fatal(err)
	}
	defer solo.Close()
	if err := solo.Update(func(tx *Tx) error { _, err := tx.Delete("el:k45"); return err }); err != nil {
		t.Fatal(err)
	}
	var rows int
	conn.QueryRow(ctx, `SELECT count(*) FROM purge.kv WHERE key = 'el:k45'`).Scan(&rows)
	if rows != 0 {
		t.Fatalf("a delete by the schema's only process left %d rows", rows)
	}
}
