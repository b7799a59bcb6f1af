// Package deadline gives a context a deadline whose timer is made only once something waits
// for it: a cheap call (an API read of the admins) finishes without ever asking for Done,
// and context.WithTimeout's cancel context, timer and the runtime's timer heap cost such a
// call more than its read.
package deadline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// After is context.WithTimeout(parent, d) for a parent that is never cancelled (its Done is
// nil, as context.Background's and its values'): the returned context reports the deadline
// at once, and makes the standard one (context.WithDeadline, its timer and channel) the
// first time Done is asked for or Err is asked past the deadline. Everything the standard
// library does with a context (AfterFunc, WithCancel under it, Cause) then works on that
// standard one. A parent that may be cancelled, or has a deadline of its own, gets
// context.WithDeadline straight away.
func After(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	at := time.Now().Add(d)
	if _, has := parent.Deadline(); has || parent.Done() != nil {
		return context.WithDeadline(parent, at)
	}
	c := &lazy{parent: parent, deadline: at}
	return c, c.cancel
}

// lazy is After's context until something waits: then inner, the standard one.
type lazy struct {
	parent   context.Context
	deadline time.Time

	inner atomic.Pointer[context.Context]

	mu          sync.Mutex // over making inner and cancelling
	cancelled   bool       // cancel came before inner was made
	cancelInner context.CancelFunc
}

func (c *lazy) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *lazy) Done() <-chan struct{} { return c.made().Done() }

func (c *lazy) Err() error {
	if in := c.inner.Load(); in != nil {
		return (*in).Err()
	}
	c.mu.Lock()
	cancelled := c.cancelled
	c.mu.Unlock()
	if cancelled {
		return context.Canceled
	}
	if !time.Now().Before(c.deadline) {
		// past the deadline: the standard context, made now, is already done with
		// DeadlineExceeded, and Done agrees from here on
		return c.made().Err()
	}
	return nil
}

// Value asks the standard context once it is made (the library finds its cancel context
// through Value, to hang children on it without a goroutine), the parent before.
func (c *lazy) Value(key any) any {
	if in := c.inner.Load(); in != nil {
		return (*in).Value(key)
	}
	return c.parent.Value(key)
}

func (c *lazy) String() string { return "deadline.After(" + c.deadline.String() + ")" }

// made is the standard context, made on the first call.
func (c *lazy) made() context.Context {
	if in := c.inner.Load(); in != nil {
		return *in
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if in := c.inner.Load(); in != nil {
		return *in
	}
	ctx, cancel := context.WithDeadline(c.parent, c.deadline)
	if c.cancelled {
		cancel()
	}
	c.cancelInner = cancel
	c.inner.Store(&ctx)
	return ctx
}

func (c *lazy) cancel() {
	c.mu.Lock()
	c.cancelled = true
	cancel := c.cancelInner
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}
