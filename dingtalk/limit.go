package dingtalk

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
)

// DefaultPerSecond is DingTalk's limit of a standard-edition app: 20 calls a second per API
// (DINGTALK-API.md §3; past it, 90018).
const DefaultPerSecond = 20

// Limiter paces calls per API: Wait returns when a call of endpoint may go (or ctx ends).
// Share one between the clients of an app; several processes share one that counts the
// calls of them all.
type Limiter interface {
	Wait(ctx context.Context, endpoint string) error
}

// RateLimiter keeps a token bucket per API (golang.org/x/time/rate: smooth, burst 1, so
// that a fetch's calls come evenly and never a second's worth at once).
type RateLimiter struct {
	perSecond float64
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
}

// NewRateLimiter limits each API to perSecond calls (≤ 0: no limit).
func NewRateLimiter(perSecond float64) *RateLimiter {
	return &RateLimiter{perSecond: perSecond, buckets: map[string]*rate.Limiter{}}
}

// Wait waits for endpoint's bucket.
func (l *RateLimiter) Wait(ctx context.Context, endpoint string) error {
	if l.perSecond <= 0 || endpoint == "gettoken" { // token calls are not counted (D-exempt)
		return ctx.Err()
	}
	l.mu.Lock()
	b := l.buckets[endpoint]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.perSecond), 1)
		l.buckets[endpoint] = b
	}
	l.mu.Unlock()
	return b.Wait(ctx)
}
