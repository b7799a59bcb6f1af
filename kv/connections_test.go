package kv

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jitrt/jitrt/internal/pgtest"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/kv/cluster"
)

// The first caller of a cluster's pool, come while the connection the pool makes as it
// opens is being made, waits for it rather than making a second beside it (each a new
// server process): the pool then holds the one connection.
func TestTheFirstCallerOfAPoolWaitsForItsFirstConnection(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	first, release := make(chan struct{}), make(chan struct{})
	var connects atomic.Int32
	waiting, second := make(chan struct{}, 1), make(chan struct{})
	hooks := &cluster.Hooks{
		BeforeConnect: func(pool string) {
			if pool != "pool" {
				return
			}
			switch connects.Add(1) {
			case 1:
				close(first)
				<-release // the first connection is made only once the caller waits
			case 2:
				close(second)
			}
		},
		OnPoolWait: func() { waiting <- struct{}{} },
	}
	c, err := cluster.New(ctx, cluster.Options{URL: url, Where: "test", Schema: "public", Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testwait.Recv(t, "the pool's first connection begun", first)
	answered := make(chan error, 1)
	go func() {
		var one int
		answered <- c.Pool().QueryRow(ctx, `SELECT 1`).Scan(&one)
	}()
	select {
	case <-waiting:
	case <-second:
		close(release)
		t.Fatal("the pool's first caller made a connection of its own while the first was being made")
	case <-time.After(testwait.Hang):
		t.Fatal("the pool's first caller neither waited nor connected: a hang")
	}
	close(release)
	if err := testwait.Recv(t, "the caller's query", answered); err != nil {
		t.Fatal(err)
	}
	if n := connects.Load(); n != 1 {
		t.Fatalf("the pool made %d connections for its first caller, want 1", n)
	}
	if n := c.Pool().Stat().TotalConns(); n != 1 {
		t.Fatalf("the pool holds %d connections, want 1", n)
	}
}

// A store that listens only later (a command of one run) makes no listening connection
// until then; meanwhile its writes still read what another replica wrote first. Once it
// listens, another replica's commit reaches its memory with nothing asked of it.
func TestAStoreThatListensLaterCatchesUpWhenItWritesAndOnceItListens(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a := replicas(t, url, "listen_later", Options{}, "jitrt run")[0]
	b := replicas(t, url, "listen_later", Options{ListenAfter: 24 * time.Hour}, "jitrt exec")[0]
	if n := listeners(t, url, "listen_later"); n != 1 {
		t.Fatalf("%d connections listen to the schema, want only the replica's", n)
	}
	if err := a.Update(func(tx *Tx) error { return tx.Set("el:n", "1") }); err != nil {
		t.Fatal(err)
	}
	// the write reads what the other wrote before it: its increment is of 1, not of nothing
	if err := b.Update(func(tx *Tx) error {
		v, err := tx.Get("el:n")
		if err != nil {
			return err
		}
		return tx.Set("el:n", v+"+1")
	}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the replica to hold the later listener's write", func() bool { v, _ := a.Get("el:n"); return v == "1+1" })
	b.Close()
	if n := listeners(t, url, "listen_later"); n != 1 {
		t.Fatalf("%d connections listen after the later listener closed, want 1", n)
	}

	c := replicas(t, url, "listen_later", Options{ListenAfter: 1}, "jitrt exec, lasting")[0]
	testwait.For(t, "the store to listen once its delay passed", func() bool { return listeners(t, url, "listen_later") == 2 })
	if err := a.Update(func(tx *Tx) error { return tx.Set("el:m", "from the replica") }); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the listening store to hold the replica's commit", func() bool { v, _ := c.Get("el:m"); return v == "from the replica" })
}

// listeners counts the database's connections that listen to the schema's channel.
func listeners(t *testing.T, url, schema string) int {
	t.Helper()
	conn := pgtest.Connect(t, url)
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE query = $1`,
		"LISTEN "+(&pgStore{schema: schema}).channel()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The versions a schema lacks go in one exchange; one that fails is named, and none of
// them is applied (the versions before it in the same exchange neither).
func TestMigrationsGoTogetherAndAFailureNamesItsVersion(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	s := replicas(t, url, "migrate_together", Options{}, "jitrt migrate")[0]
	last := len(migrations) - 1
	good := append(migrations[:len(migrations):len(migrations)], `CREATE TABLE %[1]s.added (x int)`)
	bad := append(good[:len(good):len(good)], `ALTER TABLE %[1]s.missing ADD COLUMN y int`)
	err := s.pg.migrateTo(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "to version "+strconv.Itoa(last+2)) {
		t.Fatalf("a failing version: %v, want it named (version %d)", err, last+2)
	}
	version := func() (v int, added bool) {
		conn := pgtest.Connect(t, url)
		conn.QueryRow(ctx, `SELECT max(version) FROM migrate_together.migrations`).Scan(&v)
		conn.QueryRow(ctx, `SELECT to_regclass('migrate_together.added') IS NOT NULL`).Scan(&added)
		return v, added
	}
	if v, added := version(); v != last || added {
		t.Fatalf("after a failed version: at version %d, table of the good one there: %v; want %d and none", v, added, last)
	}
	if err := s.pg.migrateTo(ctx, good); err != nil {
		t.Fatal(err)
	}
	if v, added := version(); v != last+1 || !added {
		t.Fatalf("at version %d, its table there: %v; want %d and there", v, added, last+1)
	}
}

// The state loads from where pgx received its rows (no copy of the packed values first),
// unpacks them outside the Go heap, and what it loads is what was written: packed values,
// small ones, and an empty one.
func TestTheStateLoadsFromTheDriversBuffer(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	s := replicas(t, url, "load_raw", Options{}, "jitrt run")[0]
	want := map[string]string{"el:empty": "", "el:small": "a small value, not packed"}
	for i := range 4 { // over a MiB together: packed
		want["el:chunk:"+strconv.Itoa(i)] = strings.Repeat(strconv.Itoa(i)+" a chunk of members ", 20_000)
	}
	if err := s.Update(func(tx *Tx) error {
		for k, v := range want {
			if err := tx.Set(k, v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var packed int
	pgtest.Connect(t, url).QueryRow(context.Background(), `SELECT count(*) FROM load_raw.kv WHERE packed IS NOT NULL`).Scan(&packed)
	if packed != 4 {
		t.Fatalf("%d values packed, want the 4 chunks", packed)
	}
	r := replicas(t, url, "load_raw", Options{}, "jitrt exec")[0]
	if !r.pg.loadedRaw {
		t.Fatal("the state was scanned into copies, not read from the driver's buffer")
	}
	chunks := 0
	for k, v := range want {
		if got, err := r.Get(k); err != nil || got != v {
			t.Fatalf("%s: %d bytes (%v), want %d", k, len(got), err, len(v))
		}
		if strings.HasPrefix(k, "el:chunk:") {
			chunks += len(v)
		}
	}
	// the values it unpacked are outside the heap (packed.go: arena)
	if r.pg.inArena != chunks {
		t.Fatalf("%d bytes of unpacked values outside the heap, want the chunks' %d", r.pg.inArena, chunks)
	}
}

// A process of one run takes a Lead's lock on its writes' connection when no one leads:
// no holder's connection is made, a replica that comes meanwhile waits for it and shares
// its result, and once it is done the lock is free for the replica. When the replica
// leads, the process of one run waits for it on a holder's connection and shares its
// result, as any process does.
func TestAOneRunProcessLeadsOnItsOwnConnection(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	a := replicas(t, url, "one_run_lead", Options{}, "jitrt run")[0]
	b := replicas(t, url, "one_run_lead", Options{OneRun: true}, "jitrt exec")[0]
	waiting := func(s *Store) int64 {
		for _, l := range s.cluster.Leadership() {
			if l.Name == "sync:x" {
				return l.Waiting
			}
		}
		return 0
	}
	// b leads, a comes meanwhile
	entered, release := make(chan struct{}), make(chan struct{})
	led := make(chan error, 1)
	go func() {
		res, ok, err := b.Lead(ctx, "sync:x", func(context.Context) (string, error) {
			close(entered)
			<-release
			return "from b", nil
		})
		if err == nil && (!ok || res != "from b") {
			err = fmt.Errorf("b: %q led=%v", res, ok)
		}
		led <- err
	}()
	testwait.Recv(t, "b's lead to begin", entered)
	shared := make(chan error, 1)
	go func() {
		res, ok, err := a.Lead(ctx, "sync:x", func(context.Context) (string, error) { return "from a", nil })
		if err == nil && (ok || res != "from b") {
			err = fmt.Errorf("a, while b led: %q led=%v, want b's result shared", res, ok)
		}
		shared <- err
	}()
	testwait.For(t, "a to wait for b's lead", func() bool { return waiting(a) == 1 })
	close(release)
	if err := testwait.Recv(t, "b's lead", led); err != nil {
		t.Fatal(err)
	}
	if err := testwait.Recv(t, "a's wait", shared); err != nil {
		t.Fatal(err)
	}
	if n := b.cluster.Holders().Stat().NewConnsCount(); n != 0 {
		t.Fatalf("b made %d holder connections for a lead no one else held", n)
	}
	if res, ok, err := a.Lead(ctx, "sync:x", func(context.Context) (string, error) { return "a again", nil }); err != nil || !ok || res != "a again" {
		t.Fatalf("a after b's lead: %q led=%v %v, want to lead (the lock let go)", res, ok, err)
	}
	if err := b.Set("el:after", "b writes on"); err != nil {
		t.Fatal(err)
	}

	// a leads, b comes meanwhile
	entered, release = make(chan struct{}), make(chan struct{})
	go func() {
		_, _, err := a.Lead(ctx, "sync:x", func(context.Context) (string, error) {
			close(entered)
			<-release
			return "from a", nil
		})
		led <- err
	}()
	testwait.Recv(t, "a's lead to begin", entered)
	go func() {
		res, ok, err := b.Lead(ctx, "sync:x", func(context.Context) (string, error) { return "from b", nil })
		if err == nil && (ok || res != "from a") {
			err = fmt.Errorf("b, while a led: %q led=%v, want a's result shared", res, ok)
		}
		shared <- err
	}()
	testwait.For(t, "b to wait for a's lead", func() bool { return waiting(b) == 1 })
	close(release)
	if err := testwait.Recv(t, "a's lead", led); err != nil {
		t.Fatal(err)
	}
	if err := testwait.Recv(t, "b's wait", shared); err != nil {
		t.Fatal(err)
	}
	if n := b.cluster.Holders().Stat().NewConnsCount(); n != 1 {
		t.Fatalf("b waited for a's lead on %d holder connections, want 1", n)
	}
}

// A process of one run whose own connection is free makes no connection of the pools for
// its locks, budgets, notes and leads; its Lock still catches its memory up with another
// replica's commit before it returns, excludes the other process, and fences its write.
func TestAOneRunProcessMakesNoOtherConnectionWhenItsOwnIsFree(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	a := replicas(t, url, "one_run_conns", Options{}, "jitrt run")[0]
	b := replicas(t, url, "one_run_conns", Options{OneRun: true}, "jitrt exec")[0]
	if err := a.Set("el:n", "1"); err != nil {
		t.Fatal(err)
	}
	unlock, err := b.Lock(ctx, "org")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get("el:n"); v != "1" {
		t.Fatalf("under its lock, the one-run process reads %q, want the replica's 1", v)
	}
	locked := make(chan struct{})
	go func() {
		unlockA, err := a.Lock(ctx, "org")
		if err == nil {
			unlockA()
		}
		close(locked)
	}()
	conn := pgtest.Connect(t, url)
	testwait.For(t, "the replica to wait for the lock", func() bool {
		var n int
		conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&n)
		return n == 1
	})
	if err := b.Set("el:n", "2"); err != nil { // fenced: the lock's session is alive
		t.Fatal(err)
	}
	unlock()
	testwait.Recv(t, "the replica's lock once let go", locked)

	budget := b.NewBudget("wecom:one", 1000, 0)
	if got, _, err := budget.Take(ctx, "user/list", 10); err != nil || got != 10 {
		t.Fatalf("take from the budget: %d %v", got, err)
	}
	if err := b.SetNote(ctx, "el:note", "kept"); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Note(ctx, "el:note"); err != nil || v != "kept" {
		t.Fatalf("the note: %q %v", v, err)
	}
	if _, led, err := b.Lead(ctx, "sync:y", func(context.Context) (string, error) { return "done", nil }); err != nil || !led {
		t.Fatalf("lead: %v %v", led, err)
	}
	if n := b.cluster.Pool().Stat().NewConnsCount() + b.cluster.Holders().Stat().NewConnsCount(); n != 0 {
		t.Fatalf("the one-run process made %d connections of its pools", n)
	}
	testwait.For(t, "the replica to hold the one-run process's write", func() bool { v, _ := a.Get("el:n"); return v == "2" })
}

// An exchange that fails inside a transaction of its own on a one-run process's writes'
// connection (a batch whose COMMIT the server skipped) leaves that connection able to
// write: what it left open is rolled back.
func TestAFailedExchangeOnTheOwnConnectionLeavesItWritable(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	b := replicas(t, url, "own_rollback", Options{OneRun: true}, "jitrt exec")[0]
	err := b.cluster.Exchange(ctx, func(conn *pgx.Conn) error {
		batch := &pgx.Batch{}
		batch.Queue(`BEGIN`)
		batch.Queue(`SELECT 1 / 0`)
		batch.Queue(`COMMIT`)
		return conn.SendBatch(ctx, batch).Close()
	})
	if err == nil {
		t.Fatal("a division by zero went through")
	}
	if n := b.cluster.Pool().Stat().NewConnsCount(); n != 0 {
		t.Fatalf("the exchange ran on %d pool connections, not the process's own", n)
	}
	if err := b.Set("el:after", "written"); err != nil {
		t.Fatalf("a write after the failed exchange: %v", err)
	}
}
