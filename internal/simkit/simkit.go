// Package simkit is what the platforms' emulators share beside their APIs: the pusher that
// delivers an app's events one at a time, in order, retried on the platform's schedule, and
// the churn that changes an emulated org while it runs.
package simkit

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// PushStats count a pusher's deliveries: delivered, retried, parked (failed for good).
type PushStats struct {
	Delivered, Retried, Parked int
}

// Pusher delivers messages one at a time, in order: a message that fails is retried after
// each interval, then parked, and the next one goes.
type Pusher struct {
	deliver func(ctx context.Context, msg []byte) error
	retry   []time.Duration

	mu      sync.Mutex
	queue   [][]byte
	busy    bool
	idle    *sync.Cond
	stats   PushStats
	parked  [][]byte
	wake    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	stopped chan struct{}
}

// NewPusher starts a pusher that delivers with deliver, retrying after the intervals.
func NewPusher(deliver func(ctx context.Context, msg []byte) error, retry []time.Duration) *Pusher {
	p := &Pusher{deliver: deliver, retry: retry, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	p.idle = sync.NewCond(&p.mu)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.run()
	return p
}

// Push queues a message.
func (p *Pusher) Push(msg []byte) {
	p.mu.Lock()
	p.queue = append(p.queue, msg)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Stats are the pusher's counts.
func (p *Pusher) Stats() PushStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// TakeParked returns the parked messages and forgets them.
func (p *Pusher) TakeParked() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.parked
	p.parked = nil
	return out
}

// WaitIdle waits until every message so far was delivered or parked (false at timeout).
func (p *Pusher) WaitIdle(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		p.mu.Lock()
		for len(p.queue) > 0 || p.busy {
			p.idle.Wait()
		}
		p.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Stop stops the pusher (what is queued is not delivered) and waits for it.
func (p *Pusher) Stop() {
	p.cancel()
	<-p.stopped
	p.mu.Lock()
	p.queue, p.busy = nil, false
	p.idle.Broadcast()
	p.mu.Unlock()
}

func (p *Pusher) run() {
	defer close(p.stopped)
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.busy = false
			p.idle.Broadcast()
			p.mu.Unlock()
			select {
			case <-p.ctx.Done():
				return
			case <-p.wake:
				continue
			}
		}
		msg := p.queue[0]
		p.queue = p.queue[1:]
		p.busy = true
		p.mu.Unlock()
		err := p.deliver(p.ctx, msg)
		for i := 0; err != nil && i < len(p.retry); i++ {
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(p.retry[i]):
			}
			p.mu.Lock()
			p.stats.Retried++
			p.mu.Unlock()
			err = p.deliver(p.ctx, msg)
		}
		p.mu.Lock()
		if err != nil {
			p.stats.Parked++
			p.parked = append(p.parked, msg)
		} else {
			p.stats.Delivered++
		}
		p.mu.Unlock()
	}
}

// Churn calls change rate times a second, with a count and a random source, until Stop.
type Churn struct {
	mu   sync.Mutex
	stop context.CancelFunc
}

// Start (re)starts the churn; a rate ≤ 0 stops it.
func (c *Churn) Start(rate int, change func(k int, rng *rand.Rand)) {
	c.Stop()
	if rate <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.stop = cancel
	c.mu.Unlock()
	go func() {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		for k := 0; ; k++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			change(k, rng)
		}
	}()
}

// Stop stops the churn.
func (c *Churn) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
}
