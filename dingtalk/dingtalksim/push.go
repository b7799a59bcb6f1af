package dingtalksim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jitrt/jitrt/dingtalk/callback"
	"github.com/jitrt/jitrt/internal/simkit"
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
type PushStats = simkit.PushStats

// subscription is a Subscription at work: its crypto and client, whether check_url was
// answered, and its pusher.
type subscription struct {
	sub     Subscription
	crypto  *callback.Crypto
	client  *http.Client
	checked bool // touched by the pusher's goroutine only (and Subscribe before it starts)
	pusher  *simkit.Pusher
}

// Subscribe sets the app's event push: it sends check_url and needs the encrypted
// "success" back (else the subscription is refused, as DingTalk's console refuses to save
// it); from then on every change of the org is pushed, in order, with retries.
func (s *Server) Subscribe(sub Subscription) error {
	c, err := callback.New(sub.Token, sub.AESKey, s.opts.AppKey)
	if err != nil {
		return err
	}
	if sub.URL == "" && sub.URLFunc == nil {
		return fmt.Errorf("dingtalksim: a subscription needs a URL")
	}
	if sub.RetryIntervals == nil {
		sub.RetryIntervals = []time.Duration{10 * time.Second, 30 * time.Second}
	}
	if sub.Timeout <= 0 {
		sub.Timeout = 1500 * time.Millisecond
	}
	p := &subscription{sub: sub, crypto: c, client: &http.Client{Timeout: sub.Timeout}}
	if sub.URL != "" {
		if err := p.send(context.Background(), (&callback.Event{EventType: callback.CheckURL}).Marshal()); err != nil {
			return fmt.Errorf("dingtalksim: the callback did not answer check_url as DingTalk needs (71009): %w", err)
		}
		p.checked = true
	}
	p.pusher = simkit.NewPusher(p.deliver, sub.RetryIntervals)
	s.mu.Lock()
	old := s.push
	s.push = p
	s.mu.Unlock()
	if old != nil {
		old.pusher.Stop()
	}
	return nil
}

// PushStats are the subscription's counts (zero without one).
func (s *Server) PushStats() PushStats {
	if p := s.subscription(); p != nil {
		return p.pusher.Stats()
	}
	return PushStats{}
}

// WaitPushed waits until every event so far was delivered or parked (false at timeout).
func (s *Server) WaitPushed(timeout time.Duration) bool {
	if p := s.subscription(); p != nil {
		return p.pusher.WaitIdle(timeout)
	}
	return true
}

// FailedEvents returns and clears the parked events (get_call_back_failed_result).
func (s *Server) FailedEvents() []callback.Event {
	p := s.subscription()
	if p == nil {
		return nil
	}
	var out []callback.Event
	for _, msg := range p.pusher.TakeParked() {
		if e, err := callback.ParseEvent(msg); err == nil {
			out = append(out, *e)
		}
	}
	return out
}

func (s *Server) subscription() *subscription {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.push
}

// emit queues an event of a change (under no lock of the org).
func (s *Server) emit(typ string, users []string, depts []int64) {
	p := s.subscription()
	if p == nil {
		return
	}
	e := &callback.Event{EventType: typ, EventID: randomHex(16), CorpID: s.opts.CorpID,
		TimeStamp: strconv.FormatInt(time.Now().UnixMilli(), 10), UserIDs: slices.Clone(users), DeptIDs: slices.Clone(depts), OptStaff: "manager"}
	p.pusher.Push(e.Marshal())
}

// deliver pushes an event, after check_url if the URL was not checked yet.
func (p *subscription) deliver(ctx context.Context, msg []byte) error {
	if !p.checked {
		if err := p.send(ctx, (&callback.Event{EventType: callback.CheckURL}).Marshal()); err != nil {
			return fmt.Errorf("check_url: %w", err)
		}
		p.checked = true
	}
	return p.send(ctx, msg)
}

// send pushes one plaintext and checks the reply.
func (p *subscription) send(ctx context.Context, msg []byte) error {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	q, body, err := p.crypto.Seal(msg, ts, randomHex(8))
	if err != nil {
		return err
	}
	to := p.sub.URL
	if to == "" {
		to = p.sub.URLFunc()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to+"?"+q.Encode(), bytes.NewReader(body))
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
