package deadline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type key struct{}

// hang is how long a wait may take before the test calls it a hang: only a hang reaches it.
const hang = time.Minute

func TestNothingIsMadeWhileNobodyWaits(t *testing.T) {
	parent := context.WithValue(context.Background(), key{}, "v")
	ctx, cancel := After(parent, time.Hour)
	defer cancel()
	c, ok := ctx.(*lazy)
	if !ok {
		t.Fatalf("a parent never cancelled got %T, not the lazy context", ctx)
	}
	if d, has := ctx.Deadline(); !has || time.Until(d) < 59*time.Minute {
		t.Fatalf("deadline %v %v, want an hour from now", d, has)
	}
	if ctx.Err() != nil || ctx.Value(key{}) != "v" {
		t.Fatalf("err %v value %v", ctx.Err(), ctx.Value(key{}))
	}
	if c.inner.Load() != nil {
		t.Fatal("Err, Deadline and Value made the standard context")
	}
	// two allocations (the context, its cancel) for a call that never waits, where
	// WithTimeout makes a cancel context, its timer and more
	lazyAllocs := testing.AllocsPerRun(100, func() {
		ctx, cancel := After(parent, time.Hour)
		_ = ctx.Err()
		cancel()
	})
	standardAllocs := testing.AllocsPerRun(100, func() {
		ctx, cancel := context.WithTimeout(parent, time.Hour)
		_ = ctx.Err()
		cancel()
	})
	if lazyAllocs > 2 || lazyAllocs >= standardAllocs {
		t.Fatalf("%v allocations a call (WithTimeout: %v), want 2", lazyAllocs, standardAllocs)
	}
}

func TestDoneClosesAtTheDeadline(t *testing.T) {
	ctx, cancel := After(context.Background(), 5*time.Millisecond)
	defer cancel()
	select {
	case <-ctx.Done():
	case <-time.After(hang):
		t.Fatal("Done never closed")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Fatalf("err %v cause %v", ctx.Err(), context.Cause(ctx))
	}
}

func TestErrPastTheDeadlineWithoutWaiting(t *testing.T) {
	ctx, cancel := After(context.Background(), time.Millisecond)
	defer cancel()
	for d, _ := ctx.Deadline(); time.Now().Before(d); {
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("err %v past the deadline", ctx.Err())
	}
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Err said done and Done did not")
	}
}

func TestCancelBeforeAndAfterWaiting(t *testing.T) {
	ctx, cancel := After(context.Background(), time.Hour)
	cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("err %v after cancel", ctx.Err())
	}
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Done open after cancel")
	}

	ctx, cancel = After(context.Background(), time.Hour)
	done := ctx.Done()
	ran := make(chan struct{})
	context.AfterFunc(ctx, func() { close(ran) })
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	cancel() // twice is harmless
	for _, ch := range []<-chan struct{}{done, ran, child.Done()} {
		select {
		case <-ch:
		case <-time.After(hang):
			t.Fatal("a waiter was not told of the cancel")
		}
	}
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Fatalf("err %v child %v", ctx.Err(), child.Err())
	}
}

func TestAParentThatMayEndGetsTheStandardContext(t *testing.T) {
	parent, stop := context.WithCancel(context.Background())
	ctx, cancel := After(parent, time.Hour)
	defer cancel()
	if _, lazy := ctx.(*lazy); lazy {
		t.Fatal("a cancellable parent got the lazy context: its cancel would not reach")
	}
	stop()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("err %v after the parent's cancel", ctx.Err())
	}
	early, stopEarly := context.WithTimeout(context.Background(), time.Minute)
	defer stopEarly()
	ctx, cancel = After(early, time.Hour)
	defer cancel()
	if d, _ := ctx.Deadline(); time.Until(d) > 2*time.Minute {
		t.Fatalf("deadline %v: the parent's earlier one lost", d)
	}
}

// TestWaitersAndCancelTogether runs Done, Err, Value and cancel from many goroutines at
// once (go test -race checks the rest).
func TestWaitersAndCancelTogether(t *testing.T) {
	for range 50 {
		ctx, cancel := After(context.Background(), time.Hour)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				switch i % 4 {
				case 0:
					<-ctx.Done()
				case 1:
					for ctx.Err() == nil {
						time.Sleep(10 * time.Microsecond)
					}
				case 2:
					ctx.Value(key{})
					<-ctx.Done()
				case 3:
					cancel()
				}
			}()
		}
		close(start)
		wg.Wait()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("err %v", ctx.Err())
		}
	}
}
