package jshost

import (
	"sync"
	"testing"
)

// The pool is filled in the background: a run that comes before it is full waits for the
// next runtime made rather than making a one-off of its own; once every pooled runtime is
// taken, a run gets a one-off; runtimes put back go to the pool, never beyond its size.
func TestThePoolFilledInTheBackgroundServesTheFirstRuns(t *testing.T) {
	h := New(Options{PoolSize: 2})
	a, pooledA := h.get()
	b, pooledB := h.get()
	if !pooledA || !pooledB || a == b {
		t.Fatalf("the first two runs got pooled runtimes: %v %v (the same: %v)", pooledA, pooledB, a == b)
	}
	<-h.filled
	c, pooledC := h.get()
	if pooledC {
		t.Fatal("a third run at once got a pooled runtime from a pool of two")
	}
	h.put(c, pooledC, true)
	h.put(a, pooledA, true)
	h.put(b, pooledB, true)
	if n := len(h.pool); n != 2 {
		t.Fatalf("%d runtimes pooled after the runs, want 2", n)
	}

	// many runs at once while a pool is still being filled: none waits forever, none is lost
	h = New(Options{PoolSize: 3})
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, pooled := h.get()
			h.put(v, pooled, true)
		}()
	}
	wg.Wait()
	<-h.filled
	if n := len(h.pool); n != 3 {
		t.Fatalf("%d runtimes pooled after the runs, want 3", n)
	}
}
