package wecomsim

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/jitrt/jitrt/wecom/callback"
)

// # Pushing events
//
// Each registered callback gets every change as an encrypted, signed change_contact POST
// (WECOM-AUTH-EVENTS.md §2), in the order of the changes, with WeCom's retries: a non-200
// answer or no answer within 5 s is tried again (3 more times by default). EventFaults
// drop, duplicate, reorder and delay deliveries, and can send the minimal events of a
// contact-sync assistant set up since 2022-08-15 (only UserID and Department, Id and
// ParentId).

// Callback is where the emulator pushes events: the app's callback URL and its config.
type Callback struct {
	URL string
	// URLFunc, if set, gives the URL at each delivery (an app's address known only once it
	// serves).
	URLFunc func() string
	// Token and EncodingAESKey are the callback config of the app (43 characters).
	Token, EncodingAESKey string
	// Minimal sends only the ids of each change, as the contact-sync assistant does for
	// callbacks set up since 2022-08-15.
	Minimal bool
	// Lanes deliver this callback's events concurrently (default: EventFaults.Lanes, else
	// 1); a member's, department's or tag's events always take the same lane, in order.
	Lanes int
}

// EventFaults shape the delivery of events. Probabilities are per event.
type EventFaults struct {
	Drop      float64 `json:"drop"`      // never delivered
	Duplicate float64 `json:"duplicate"` // delivered twice (the same plaintext)
	Reorder   float64 `json:"reorder"`   // held back behind the next event
	// Delay waits before each delivery.
	Delay time.Duration `json:"delay"`
	// Minimal sends every event in its minimal form (see Callback.Minimal).
	Minimal bool `json:"minimal"`
	// Retries after a failed delivery (default 3), RetryInterval apart (default 1 s).
	Retries       int           `json:"retries"`
	RetryInterval time.Duration `json:"retryInterval"`
	// Lanes deliver events concurrently (default 1: strictly in order); a member's,
	// department's or tag's events always take the same lane, in order.
	Lanes int `json:"lanes"`
	// Seed of the fault choices (0: a fixed default).
	Seed uint64 `json:"seed"`
}

// PushStats count the deliveries of the callbacks.
type PushStats struct {
	Events, Delivered, Dropped, Duplicated, Reordered, Failed, Retried int64
}

type pusher struct {
	s      *Server
	cb     Callback
	crypto *callback.Crypto
	lanes  []*lane
	http   *fasthttp.Client
}

type lane struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*callback.Event
	closed bool
	done   chan struct{}
}

type pushCounters struct {
	events, delivered, dropped, duplicated, reordered, failed, retried atomic.Int64
}

// AddCallback registers a callback: from now on every change is pushed to it.
func (s *Server) AddCallback(cb Callback) error {
	if cb.URL == "" && cb.URLFunc == nil {
		return fmt.Errorf("%w: a callback needs a URL", ErrInvalid)
	}
	c, err := callback.New(cb.Token, cb.EncodingAESKey, s.opts.CorpID)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &pusher{s: s, cb: cb, crypto: c, http: &fasthttp.Client{Name: "wecomsim", MaxConnsPerHost: 64}}
	n := max(1, s.evFaults().Lanes)
	if cb.Lanes > 0 {
		n = cb.Lanes
	}
	for i := 0; i < n; i++ {
		l := &lane{done: make(chan struct{})}
		l.cond = sync.NewCond(&l.mu)
		p.lanes = append(p.lanes, l)
		go p.run(l, uint64(i))
	}
	s.pushers = append(s.pushers, p)
	return nil
}

// SetEventFaults sets how events are delivered from now on (lanes: for callbacks added
// after).
func (s *Server) SetEventFaults(f EventFaults) {
	if f.Retries == 0 {
		f.Retries = 3
	}
	if f.Retries < 0 {
		f.Retries = 0
	}
	if f.RetryInterval <= 0 {
		f.RetryInterval = time.Second
	}
	s.eventFaults.Store(&f)
}

// evFaults are the event faults now in force.
func (s *Server) evFaults() EventFaults { return *s.eventFaults.Load() }

// PushStats returns the counts of deliveries so far.
func (s *Server) PushStats() PushStats {
	c := &s.pushed
	return PushStats{Events: c.events.Load(), Delivered: c.delivered.Load(), Dropped: c.dropped.Load(),
		Duplicated: c.duplicated.Load(), Reordered: c.reordered.Load(), Failed: c.failed.Load(), Retried: c.retried.Load()}
}

// WaitPushed waits until every event so far has been delivered or given up on (or the
// timeout passes); it reports whether the queues are empty.
func (s *Server) WaitPushed(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if s.pending.Load() == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// emit queues the event of a change (made for each callback's form) on every callback.
// Called with mu held, so events queue in the order of the changes.
func (s *Server) emit(key string, make func(minimal bool) *callback.Event) {
	h := fnv.New32a()
	h.Write([]byte(key))
	for _, p := range s.pushers {
		ev := make(p.cb.Minimal || s.evFaults().Minimal)
		if ev == nil {
			continue // nothing this callback hears of (a minimal update_party without a move)
		}
		l := p.lanes[int(h.Sum32()%uint32(len(p.lanes)))]
		s.pushed.events.Add(1)
		s.pending.Add(1)
		l.mu.Lock()
		l.queue = append(l.queue, ev)
		l.mu.Unlock()
		l.cond.Signal()
	}
}

// closePushers stops delivering (what is queued is dropped).
func (s *Server) closePushers() {
	s.mu.Lock()
	ps := s.pushers
	s.pushers = nil
	s.mu.Unlock()
	for _, p := range ps {
		for _, l := range p.lanes {
			l.mu.Lock()
			l.closed = true
			s.pending.Add(-int64(len(l.queue)))
			l.queue = nil
			l.mu.Unlock()
			l.cond.Broadcast()
			<-l.done
		}
	}
}

// run delivers a lane's events in order.
func (p *pusher) run(l *lane, n uint64) {
	defer close(l.done)
	s := p.s
	for {
		l.mu.Lock()
		for len(l.queue) == 0 && !l.closed {
			l.cond.Wait()
		}
		if l.closed {
			l.mu.Unlock()
			return
		}
		f := s.evFaults()
		rng := s.faultRand(f.Seed + n)
		ev := l.queue[0]
		l.queue = l.queue[1:]
		var next *callback.Event
		if len(l.queue) > 0 && f.Reorder > 0 && rng() < f.Reorder {
			next = l.queue[0]
			l.queue = l.queue[1:]
		}
		l.mu.Unlock()
		if next != nil {
			s.pushed.reordered.Add(1)
			p.deliver(next, f, rng)
		}
		p.deliver(ev, f, rng)
	}
}

// faultRand is the random source of fault choices: seeded, so a run can be repeated.
func (s *Server) faultRand(seed uint64) func() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	if s.rngs == nil {
		s.rngs = map[uint64]*mrand.Rand{}
	}
	r := s.rngs[seed]
	if r == nil {
		r = mrand.New(mrand.NewPCG(seed, 0x5eed))
		s.rngs[seed] = r
	}
	return func() float64 {
		s.rngMu.Lock()
		defer s.rngMu.Unlock()
		return r.Float64()
	}
}

func (p *pusher) deliver(ev *callback.Event, f EventFaults, rng func() float64) {
	s := p.s
	defer s.pending.Add(-1)
	if f.Drop > 0 && rng() < f.Drop {
		s.pushed.dropped.Add(1)
		return
	}
	copies := 1
	if f.Duplicate > 0 && rng() < f.Duplicate {
		copies = 2
		s.pushed.duplicated.Add(1)
	}
	if f.Delay > 0 {
		time.Sleep(f.Delay)
	}
	msg := ev.Marshal()
	for c := 0; c < copies; c++ {
		ok := false
		for try := 0; try <= f.Retries && !ok; try++ {
			if try > 0 {
				s.pushed.retried.Add(1)
				time.Sleep(f.RetryInterval)
			}
			ok = p.send(msg)
		}
		if ok {
			s.pushed.delivered.Add(1)
		} else {
			s.pushed.failed.Add(1)
			s.log.Warn("wecomsim: an event was not delivered", "change", ev.Kind(), "retries", f.Retries)
		}
	}
}

// send POSTs one encrypted event (encrypted afresh, as every try is) and reports whether
// the app answered 200 within 5 s.
func (p *pusher) send(msg []byte) bool {
	enc, err := p.crypto.Encrypt(msg)
	if err != nil {
		return false
	}
	ts := fmt.Sprint(time.Now().Unix())
	var b [8]byte
	rand.Read(b[:])
	nonce := fmt.Sprint(binary.BigEndian.Uint32(b[:4]))
	body, _ := xml.Marshal(callback.Envelope{ToUserName: callback.Text{V: p.s.opts.CorpID}, Encrypt: callback.Text{V: enc}})
	u := p.cb.URL
	if p.cb.URLFunc != nil {
		u = p.cb.URLFunc()
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(u + sep + "msg_signature=" + p.crypto.Sign(ts, nonce, enc) + "&timestamp=" + ts + "&nonce=" + nonce)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("text/xml")
	req.SetBody(body)
	start := time.Now()
	err = p.http.DoTimeout(req, resp, 5*time.Second)
	status := resp.StatusCode()
	if err != nil {
		status = 0
	}
	p.s.log.Info("wecomsim: event pushed", "status", status, "took", time.Since(start).Round(time.Microsecond), "err", err)
	return err == nil && status == 200
}

func sameUser(a, b any) bool { return reflect.DeepEqual(a, b) }
