package normal

import (
	"context"
	"errors"
	"testing"

	"github.com/jitrt/jitrt/elements"
)

// Password checks wait for one of the org's hashing slots, as long as their caller does;
// beyond maxHashWaiters waiting, a check is refused at once as busy (503 with Retry-After),
// so that a flood of sign-ins cannot take the memory and the cores.
func TestPasswordChecksAreBoundedAndBusyBeyond(t *testing.T) {
	c := &Corp{slots: make(chan struct{}, 2)}
	hash := hashPassword("right-password-1")
	if ok, err := c.verify(context.Background(), hash, "right-password-1"); !ok || err != nil {
		t.Fatalf("a check with a free slot: %v %v", ok, err)
	}
	c.slots <- struct{}{} // every slot taken
	c.slots <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.verify(ctx, hash, "right-password-1"); !errors.Is(err, errBusy) {
		t.Fatalf("a check whose caller gave up waiting: %v", err)
	}
	c.waiters.Store(maxHashWaiters) // as many waiting as may
	_, err := c.verify(context.Background(), hash, "right-password-1")
	var r interface{ RetryAfterSeconds() int }
	if elements.CodeOf(err) != elements.CodeUnavailable || !errors.As(err, &r) || r.RetryAfterSeconds() < 1 {
		t.Fatalf("a check beyond the waiters: %v (code %q)", err, elements.CodeOf(err))
	}
	if c.waiters.Load() != maxHashWaiters {
		t.Fatalf("a refused check left the waiters at %d", c.waiters.Load())
	}
	c.waiters.Store(0)
	<-c.slots // a slot frees: the next check runs
	if ok, err := c.verify(context.Background(), hash, "wrong-password-1"); ok || err != nil {
		t.Fatalf("a wrong password with a slot free: %v %v", ok, err)
	}
}
