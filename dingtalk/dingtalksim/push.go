package dingtalksim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jitrt/jitrt/dingtalk/callback"
)

// Subscription is an app's HTTP event push: where, and with which token and aes_key (the
// owner key is the AppKey, as for events set in the developer console).
type Subscription struct {
	URL, Token, AESKey string
	// URLFunc, when URL is empty, gives the URL at each push: the subscription of a server
	// that is not listening yet, checked with check_url before its first event instead of
	// at once.
	URLFunc func() string
	// RetryIntervals are the waits before the retries of a push that failed (DingTalk's
	// 10 s and 30 s when nil); after the last one the event is parked in the failed list.
	RetryIntervals []time.Duration
	// Timeout is how long a reply may take (1500 ms when 0).
	Timeout time.Duration
}

// PushStats count the pushes: delivered, retried, parked (failed for good).
type PushStats struct {
	Delivered, Retried, Parked int
}

type pusher struct {
	s      *Server
	sub    Subscription
	crypto *callback.Crypto
	client *http.Client

	mu      sync.Mutex
	queue   []*callback.Event
	wake    chan struct{}
	idle    *sync.Cond
	busy    bool
	stats   PushStats
	failed  []*callback.Event
	checked bool // check_url was answered
	ctx     context.Context
	cancel  context.CancelFunc
	stopped chan struct{}
}

// Subscribe sets the app's event push: it sends check_url and needs the encrypted
// "success" back (else the subscription is refused, as DingTalk's console refuses to save
// it); from then on every change of the org is pushed, in order, with retries.
func (s *Server) Subscribe(sub Subscription) error {
	c, err := callback.New(sub.Token, sub.AESKey, s.opts.AppKey)
	if err != nil {
		return err
	}
	if sub.RetryIntervals == nil {
		sub.RetryIntervals = []time.Duration{10 * time.Second, 30 * time.Second}
	}
	if sub.Timeout <= 0 {
		sub.Timeout = 1500 * time.Millisecond
	}
	p := &pusher{s: s, sub: sub, crypto: c, client: &http.Client{Timeout: sub.Timeout}, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	p.idle = sync.NewCond(&p.mu)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if sub.URL == "" && sub.URLFunc == nil {
		return fmt.Errorf("dingtalksim: a subscription needs a URL")
	}
	if sub.URL != "" {
		if err := p.send(&callback.Event{EventType: callback.CheckURL}); err != nil {
			return fmt.Errorf("dingtalksim: the callback did not answer check_url as DingTalk needs (71009): %w", err)
		}
		p.checked = true
	}
	s.mu.Lock()
	old := s.push
	s.push = p
	s.mu.Unlock()
	if old != nil {
		old.stop()
	}
	go p.run()
	return nil
}

// PushStats are the subscription's counts (zero without one).
func (s *Server) PushStats() PushStats {
	s.mu.RLock()
	p := s.push
	s.mu.RUnlock()
	if p == nil {
		return PushStats{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// WaitPushed waits until every event so far was delivered or parked (false at timeout).
func (s *Server) WaitPushed(timeout time.Duration) bool {
	s.mu.RLock()
	p := s.push
	s.mu.RUnlock()
	if p == nil {
		return true
	}
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

// FailedEvents returns and clears the parked events (get_call_back_failed_result).
func (s *Server) FailedEvents() []callback.Event {
	s.mu.RLock()
	p := s.push
	s.mu.RUnlock()
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]callback.Event, len(p.failed))
	for i, e := range p.failed {
		out[i] = *e
	}
	p.failed = nil
	return out
}

// emit queues an event of a change (under no lock of the org).
func (s *Server) emit(typ string, users []string, depts []int64) {
	s.mu.RLock()
	p := s.push
	s.mu.RUnlock()
	if p == nil {
		return
	}
	e := &callback.Event{EventType: typ, EventID: randomHex(16), CorpID: s.opts.CorpID,
		TimeStamp: strconv.FormatInt(time.Now().UnixMilli(), 10), UserIDs: slices.Clone(users), DeptIDs: slices.Clone(depts), OptStaff: "manager"}
	p.mu.Lock()
	p.queue = append(p.queue, e)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pusher) stop() {
	p.cancel()
	<-p.stopped
}

// run delivers the queue in order: an event that fails is retried after each interval,
// then parked; the next waits for it (DingTalk's pushes of one app come one at a time).
func (p *pusher) run() {
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
		e := p.queue[0]
		p.queue = p.queue[1:]
		p.busy = true
		p.mu.Unlock()
		err := p.deliver(e)
		for i := 0; err != nil && i < len(p.sub.RetryIntervals); i++ {
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(p.sub.RetryIntervals[i]):
			}
			p.mu.Lock()
			p.stats.Retried++
			p.mu.Unlock()
			err = p.deliver(e)
		}
		p.mu.Lock()
		if err != nil {
			p.stats.Parked++
			p.failed = append(p.failed, e)
		} else {
			p.stats.Delivered++
		}
		p.mu.Unlock()
	}
}

// deliver pushes an event, after check_url if the URL was not checked yet.
func (p *pusher) deliver(e *callback.Event) error {
	if !p.checked {
		if err := p.send(&callback.Event{EventType: callback.CheckURL}); err != nil {
			return fmt.Errorf("check_url: %w", err)
		}
		p.checked = true
	}
	return p.send(e)
}

// send pushes one event and checks the reply.
func (p *pusher) send(e *callback.Event) error {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	q, body, err := p.crypto.Seal(e.Marshal(), ts, randomHex(8))
	if err != nil {
		return err
	}
	to := p.sub.URL
	if to == "" {
		to = p.sub.URLFunc()
	}
	req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, to+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, reply)
	}
	return p.crypto.CheckReply(reply)
}
