package kv

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

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
