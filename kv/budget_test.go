package kv

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/pgtest"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/kv/cluster"
)

// Three replicas each wanting 10,000 calls of one API a minute from a budget of 10,000
// (a minute and an hour): together they are given 10,000, not 30,000, each a share (each
// takes its first block before any takes a second: they overlap by construction, not by
// the scheduler's luck); the next call is told when to come back; another API has a
// budget of its own.
func TestABudgetIsSharedByTheReplicas(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	var budgets []*cluster.Budget
	stores := replicas(t, url, "budget", Options{}, "jitrt run A", "jitrt run B", "jitrt run C")
	for _, s := range stores {
		budgets = append(budgets, s.NewBudget("wecom:wwbudget", 10_000, 10_000))
	}
	got := make([]int, len(budgets))
	var wg, first sync.WaitGroup
	first.Add(len(budgets))
	for i, b := range budgets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tookFirst sync.Once
			defer tookFirst.Do(first.Done) // one that ends early holds no one up
			for took := 0; got[i] < 10_000; took++ {
				if took == 1 {
					tookFirst.Do(first.Done)
					first.Wait()
				}
				n, retry, err := b.Take(ctx, "user/list", min(b.Block(), 10_000-got[i]))
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					if retry <= 0 || retry > time.Second {
						t.Errorf("refused, to come back in %v", retry)
					}
					return
				}
				got[i] += n
			}
		}()
	}
	wg.Wait()
	total := got[0] + got[1] + got[2]
	if total != 10_000 {
		t.Fatalf("three replicas wanting 10,000 calls each were given %v: %d in all, want 10,000", got, total)
	}
	for i, n := range got {
		if n == 0 {
			t.Errorf("replica %d was given no call (%v)", i, got)
		}
	}
	// (the minute's count drops if the machine took over a minute; the hour's does not)
	if m, h := budgets[2].Used(); m > 10_000 || h != 10_000 {
		t.Fatalf("Used: %d a minute, %d an hour; want at most and exactly 10,000", m, h)
	}
	if n, _, err := budgets[0].Take(ctx, "department/list", 5); err != nil || n != 5 {
		t.Fatalf("another API's budget: %d %v", n, err)
	}
	// Wait spends a block it took before taking another (spent slowly, on the budget's
	// clock: none is taken ahead of it)
	b := budgets[1]
	start := time.Now()
	var calls atomic.Int64
	// 30 ms a call: a block of 50 lasts 1.5 s of its 2, half of it 0.75 s
	stores[1].cluster.Hooks().Now = func() time.Time { return start.Add(time.Duration(calls.Load()) * 30 * time.Millisecond) }
	ctx2, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for range b.Block() {
		if err := b.Wait(ctx2, "department/list"); err != nil {
			t.Fatal(err)
		}
		calls.Add(1)
	}
	if _, h := b.Used(); h != 10_000+5+b.Block() {
		t.Fatalf("after %d calls waited for in one block: %d used in the hour", b.Block(), h)
	}
}

// Eight callers waiting on one budget at once (a sync's fetch workers) spend the blocks it
// takes: what the budget counts is what they called, give or take two blocks (the last,
// and one taken ahead of it), and once those blocks' life has ended, exactly what they
// called: the unspent calls are given back.
func TestConcurrentWaitersSpendTheBlocksTaken(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	b := replicas(t, url, "budgetwaiters", Options{}, "jitrt run A")[0].NewBudget("wecom:wwwaiters", 9_500, 142_500)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // only a hang reaches it
	defer cancel()
	const each = 300
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := b.Wait(ctx, "user/list"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// the last block's calls left, and one taken ahead of it
	if _, h := b.Used(); h < 8*each || h > 8*each+2*b.MaxBlock() {
		t.Fatalf("8 callers made %d calls; the budget counts %d (want at most two blocks of %d more)", 8*each, h, b.MaxBlock())
	}
	testwait.For(t, "the unspent calls given back as their blocks' life ends", func() bool { _, h := b.Used(); return h == 8*each })
}

// A process that closes gives back the calls it took and did not spend, at once: another
// replica's budget counts only the calls made.
func TestAClosingProcessGivesBackItsUnspentCalls(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	stores := replicas(t, url, "budgetclose", Options{}, "jitrt exec", "jitrt run")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // only a hang reaches it
	defer cancel()
	// the closing process's clock stands still: its block's life does not end before the
	// close, however slow the machine (else its timer would give the calls back first)
	frozen := time.Now()
	stores[0].cluster.Hooks().Now = func() time.Time { return frozen }
	closing, other := stores[0].NewBudget("wecom:wwclose", 9_500, 142_500), stores[1].NewBudget("wecom:wwclose", 9_500, 142_500)
	if stores[0].NewBudget("wecom:wwclose", 9_500, 142_500) != closing {
		t.Fatal("a process's budget of a name asked for again is another")
	}
	for range 3 {
		if err := closing.Wait(ctx, "user/list"); err != nil {
			t.Fatal(err)
		}
	}
	if _, h := other.Used(); h != closing.Block() {
		t.Fatalf("a block taken: %d counted, want the block's %d", h, closing.Block())
	}
	stores[0].Close()
	if _, h := other.Used(); h != 3 {
		t.Fatalf("the process that made 3 calls closed: %d counted, want 3", h)
	}
}

// A block spent fast (half of it within a quarter of its life) has the next one taken
// ahead, twice its size up to MaxBlock, and the calls after it come from that one; a block
// spent slowly has none taken ahead. The budget's clock is the test's: nothing here
// depends on the machine's speed.
func TestABlockSpentFastHasTheNextTakenAhead(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // only a hang reaches it
	defer cancel()
	for _, fast := range []bool{true, false} {
		s := replicas(t, url, "budgetahead", Options{}, "jitrt run")[0]
		var mu sync.Mutex
		now := time.Now()
		s.cluster.Hooks().Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		b := s.NewBudget(fmt.Sprintf("wecom:fast=%v", fast), 9_500, 142_500)
		n := b.Block()
		wait := func(calls int) {
			t.Helper()
			for range calls {
				if err := b.Wait(ctx, "user/list"); err != nil {
					t.Fatal(err)
				}
			}
		}
		wait(1) // takes the first block
		if !fast {
			mu.Lock()
			now = now.Add(time.Second) // half of the block's two seconds
			mu.Unlock()
			wait(n - 1)
			if _, h := b.Used(); h != n {
				t.Fatalf("a block spent slowly: %d calls counted, want its %d alone", h, n)
			}
			continue
		}
		// blocks of n, 2n, 4n, … up to MaxBlock, then MaxBlock again, spent: each had the
		// next taken ahead as it was half spent (the last, MaxBlock, taken ahead of them)
		sizes := []int{n}
		for sizes[len(sizes)-1] < b.MaxBlock() {
			sizes = append(sizes, min(2*sizes[len(sizes)-1], b.MaxBlock()))
		}
		sizes = append(sizes, b.MaxBlock(), b.MaxBlock())
		taken, spend := 0, -1 // the first call took the first block
		for i, size := range sizes {
			taken += size
			if i < len(sizes)-1 {
				spend += size
			}
		}
		if len(sizes) < 4 {
			t.Fatalf("MaxBlock %d is not several blocks of %d", b.MaxBlock(), n)
		}
		wait(spend)
		testwait.For(t, "the blocks taken ahead", func() bool { _, h := b.Used(); return h == taken })
		wait(1) // from the block taken ahead
		if _, h := b.Used(); h != taken {
			t.Fatalf("the first call after four blocks: %d calls counted, want %d (the one taken ahead spent)", h, taken)
		}
	}
}
