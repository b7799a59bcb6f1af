package wecom

import (
	"context"
	"sync"
	"time"
)

// Limits are the client-side call limits per API. WeCom blocks an API for a minute when
// a corp exceeds 10,000 calls a minute, and for an hour past 150,000 an hour; the client
// stays under both so that a large sync never trips the hour-long block.
type Limits struct {
	PerMinute int
	PerHour   int
}

// DefaultLimits stay 5% under WeCom's documented per-corp, per-API limits.
var DefaultLimits = Limits{PerMinute: 9_500, PerHour: 142_500}

// Limiter paces a client's calls of a corp: Wait admits a call of an endpoint (an API),
// Used counts the calls admitted in the last minute and hour. RateLimiter is one process's;
// a program whose processes share a corp gives one that counts the calls of them all.
type Limiter interface {
	Wait(ctx context.Context, endpoint string) error
	Used() (minute, hour int)
}

// RateLimiter keeps the call limits of one corp, per API. WeCom counts calls per corp, so
// every client of a corp in a process should share one (Config.RateLimiter): two elements
// with the same corpId, or an element and its reloaded successor, then share one budget.
type RateLimiter struct {
	limits Limits
	now    func() time.Time

	mu      sync.Mutex
	windows map[string]*windowLimiter
}

// NewRateLimiter makes a limiter (DefaultLimits when l is zero; a negative limit is off).
// RateLimiterKey is the key under which a program shares one RateLimiter among every
// client of a corp (WeCom's limits are per corp): the corp's sync client and its login's.
func RateLimiterKey(corpID string) string { return "wecom.ratelimit:" + corpID }

// now is the clock (time.Now when nil).
func NewRateLimiter(l Limits, now func() time.Time) *RateLimiter {
	if l == (Limits{}) {
		l = DefaultLimits
	}
	l.PerMinute, l.PerHour = max(l.PerMinute, 0), max(l.PerHour, 0)
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{limits: l, now: now, windows: map[string]*windowLimiter{}}
}

// Used counts the calls admitted in the last minute and the last hour, all APIs together.
func (r *RateLimiter) Used() (minute, hour int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now().Unix()
	for _, w := range r.windows {
		w.mu.Lock()
		w.advance(now)
		minute, hour = minute+w.minute, hour+w.hour
		w.mu.Unlock()
	}
	return minute, hour
}

// Wait blocks until a call of endpoint is admitted, or the context ends.
func (r *RateLimiter) Wait(ctx context.Context, endpoint string) error {
	r.mu.Lock()
	w := r.windows[endpoint]
	if w == nil {
		w = newWindowLimiter(r.limits, r.now)
		r.windows[endpoint] = w
	}
	r.mu.Unlock()
	return w.Wait(ctx)
}

// windowLimiter counts calls in one-second buckets over the last hour and admits a call
// only while both the last minute and the last hour are under their limits. A token bucket
// cannot say "at most N in any hour" without starving short bursts, which is why this is
// not golang.org/x/time/rate.
type windowLimiter struct {
	limits Limits
	now    func() time.Time

	mu      sync.Mutex
	buckets [3600]int32
	start   int64 // unix second of buckets[head]
	head    int
	minute  int // calls in the last 60 s
	hour    int // calls in the last 3600 s
}

func newWindowLimiter(l Limits, now func() time.Time) *windowLimiter {
	return &windowLimiter{limits: l, now: now}
}

// advance moves the window to second sec, dropping expired buckets from the sums.
func (w *windowLimiter) advance(sec int64) {
	if w.start == 0 || sec-w.start >= int64(len(w.buckets)) {
		// first call, or idle for an hour: nothing in the window counts any more
		w.buckets, w.minute, w.hour, w.start, w.head = [3600]int32{}, 0, 0, sec, 0
		return
	}
	for w.start < sec {
		w.start++
		w.head = (w.head + 1) % len(w.buckets)
		// the bucket now at head is an hour old: leave the hour
		w.hour -= int(w.buckets[w.head])
		w.buckets[w.head] = 0
		// the bucket 60 s back leaves the minute
		w.minute -= int(w.buckets[(w.head+len(w.buckets)-60)%len(w.buckets)])
	}
}

// Wait blocks until a call is admitted, or the context ends.
func (w *windowLimiter) Wait(ctx context.Context) error {
	if w == nil || (w.limits.PerMinute <= 0 && w.limits.PerHour <= 0) {
		return nil
	}
	for {
		w.mu.Lock()
		now := w.now()
		w.advance(now.Unix())
		minuteOK := w.limits.PerMinute <= 0 || w.minute < w.limits.PerMinute
		hourOK := w.limits.PerHour <= 0 || w.hour < w.limits.PerHour
		if minuteOK && hourOK {
			w.buckets[w.head]++
			w.minute++
			w.hour++
			w.mu.Unlock()
			return nil
		}
		// Wait for the next second boundary, when the oldest bucket may leave the window.
		wait := time.Until(time.Unix(now.Unix()+1, 0))
		w.mu.Unlock()
		if wait <= 0 {
			wait = time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
