package corps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/wecom/callback"
)

// # Receiving WeCom's change events
//
// A corp with callbackToken and encodingAESKey takes WeCom's contact-change callbacks
// (jitrt run serves them at /wecom/{fullName}/callback). A POST is verified (signature in
// constant time, timestamp within 5 minutes, no replay of a seen timestamp, nonce and
// signature), decrypted (the receive id must be the corpId), and its event stored in the
// org's event queue before the answer — so an event WeCom was told was received is never
// lost; a second delivery of the same plaintext is not stored again. The org's engine then
// applies the queue in order (org/events.go; eventsource.go decodes WeCom's events).
//
//	evq:<seq>       an event received and not yet applied (its decrypted XML)
//	evseq           the number of the last event queued
//	evseen:<minute>:<sha256>  an event's plaintext received in that minute (unix minutes),
//	                          kept storedDedupeMinutes: a delivery WeCom repeats to another
//	                          process that shares the store is stored once

// CallbackWindow is how far a callback's timestamp may be from now.
const CallbackWindow = 5 * time.Minute

// dedupeWindow is how long a received event's plaintext is remembered to drop duplicates.
const dedupeWindow = time.Hour

// storedDedupeMinutes is how long the store remembers plaintexts, for the processes that
// share it: WeCom repeats a delivery within seconds (three tries, 5 s each), and every
// event stored costs a key for this long.
const storedDedupeMinutes = 10

// eventKeys are where a corp keeps what it has seen and the queue's counter (the queue
// itself is the org's: org.Keys.EventQueue).
type eventKeys struct{ prefix string }

// bounds of the in-memory windows, against a flood
const (
	maxReplayEntries = 200_000
	maxDedupeEntries = 1_000_000
)

func (k eventKeys) eventSeq() string   { return k.prefix + "evseq" }
func (k eventKeys) eventsSeen() string { return k.prefix + "evseen:" }
func (k eventKeys) eventSeenMinute(minute int64) string {
	return k.prefix + "evseen:" + fmt.Sprintf("%012d", minute) + ":"
}
func (k eventKeys) eventSeen(minute int64, hash string) string {
	return k.eventSeenMinute(minute) + hash
}

// receiver is a corp's side of the callbacks: the crypto, the replay and duplicate
// windows, and the queue writer that commits concurrent deliveries together.
type receiver struct {
	crypto *callback.Crypto

	mu      sync.Mutex
	replays map[string]*arrival // timestamp|nonce|signature → its first delivery
	seen    map[string]*arrival // sha256 of plaintext → its first delivery

	writes chan *queued // to the committer (nil: write directly)
	stop   chan struct{}
	done   chan struct{}
	wake   chan struct{} // pokes the applier
}

type queued struct {
	msg  []byte
	hash string
	dup  bool
	err  chan error
}

func newReceiver(c *callback.Crypto) *receiver {
	return &receiver{crypto: c, replays: map[string]*arrival{}, seen: map[string]*arrival{}, wake: make(chan struct{}, 1)}
}

// arrival is the first delivery of a request or an event. A delivery of the same one again
// (WeCom retries what it has not seen answered, and may send it to another replica) is
// answered only once the first one's outcome is known: 200 when it was stored, an error
// (so that WeCom delivers again) when storing it failed. Answering 200 while the first
// was still being written would acknowledge an event a kill could lose.
type arrival struct {
	at   time.Time
	done chan struct{} // closed when the first delivery has its outcome
	err  error         // its outcome: nil when what it carried is stored (or needs nothing)
}

func newArrival(now time.Time) *arrival { return &arrival{at: now, done: make(chan struct{})} }

// wait is the outcome of the first delivery, once it has one.
func (a *arrival) wait(ctx context.Context) error {
	select {
	case <-a.done:
		if a.err != nil {
			return elements.Errorf(elements.CodeUnavailable, "the first delivery of this event was not stored (%v): deliver it again", a.err)
		}
		return nil
	case <-ctx.Done():
		return elements.Errorf(elements.CodeUnavailable, "the first delivery of this event is still being stored: deliver it again")
	}
}

// callbackError is a refused callback: its code (for the HTTP status), what the log and
// metric say of it, and nothing of the payload.
func callbackError(code, reason, format string, args ...any) error {
	return &elements.Error{Code: code, Message: fmt.Sprintf(format, args...), Err: errRefused{reason}}
}

type errRefused struct{ reason string }

func (e errRefused) Error() string { return "callback refused: " + e.reason }

// refusal is the reason of a refused callback ("" if err is not one).
func refusal(err error) string {
	var r errRefused
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}

func (c *Corp) callbackReceiver() (*receiver, error) {
	if c.recv == nil {
		return nil, elements.Errorf(elements.CodeFailedPrecondition,
			"corp %s takes no WeCom callbacks: set callbackToken and encodingAESKey in %s", c.el.FullName, c.el.ConfigPath)
	}
	return c.recv, nil
}

// checkTimestamp refuses a timestamp more than CallbackWindow from now.
func checkTimestamp(ts string, now time.Time) error {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return callbackError(elements.CodeInvalidArgument, "timestamp", "the callback's timestamp %q is not a number", ts)
	}
	if d := now.Sub(time.Unix(n, 0)); d > CallbackWindow || d < -CallbackWindow {
		return callbackError(elements.CodeInvalidArgument, "stale", "the callback's timestamp is %s from now (at most %s)", d.Round(time.Second), CallbackWindow)
	}
	return nil
}

// VerifyCallback answers WeCom's URL verification (GET): the signature over echostr is
// checked, echostr decrypted, and its plaintext returned, to be answered bare.
func (c *Corp) VerifyCallback(signature, timestamp, nonce, echostr string) (string, error) {
	r, err := c.callbackReceiver()
	if err != nil {
		return "", err
	}
	if err := r.crypto.Verify(signature, timestamp, nonce, echostr); err != nil {
		return "", callbackError(elements.CodeUnauthenticated, "signature", "the callback's signature does not match (check callbackToken)")
	}
	if err := checkTimestamp(timestamp, time.Now()); err != nil {
		return "", err
	}
	msg, err := r.crypto.Decrypt(echostr)
	if err != nil {
		return "", decryptError(err)
	}
	return string(msg), nil
}

func decryptError(err error) error {
	if errors.Is(err, callback.ErrWrongReceiver) {
		return callbackError(elements.CodePermissionDenied, "corp", "the callback is for another corp (%v)", err)
	}
	return callbackError(elements.CodeInvalidArgument, "decrypt", "the callback cannot be decrypted (check encodingAESKey): %v", err)
}

// ReceiveCallback takes a callback POST: verified, decrypted, and its event stored before
// it returns (stored reports false for a duplicate, a replay, or a callback that is not a
// contact change, none of which is stored).
func (c *Corp) ReceiveCallback(ctx context.Context, signature, timestamp, nonce string, body []byte) (stored bool, err error) {
	start := time.Now()
	defer func() {
		result := "stored"
		switch {
		case err != nil:
			result = "refused_" + refusal(err)
			c.el.Logger.Warn("WeCom callback refused", "reason", refusal(err), "err", err)
		case !stored:
			result = "skipped"
		}
		c.el.Observer.Observe("callback_"+result, c.el.FullName, time.Since(start), nil)
	}()
	r, err := c.callbackReceiver()
	if err != nil {
		return false, err
	}
	var env callback.Envelope
	if err := xml.Unmarshal(body, &env); err != nil || env.Encrypt.V == "" {
		return false, callbackError(elements.CodeInvalidArgument, "body", "the callback's body is not WeCom's <xml><Encrypt>…</Encrypt></xml>")
	}
	enc := strings.TrimSpace(env.Encrypt.V)
	if err := r.crypto.Verify(signature, timestamp, nonce, enc); err != nil {
		return false, callbackError(elements.CodeUnauthenticated, "signature", "the callback's signature does not match (check callbackToken)")
	}
	now := time.Now()
	if err := checkTimestamp(timestamp, now); err != nil {
		return false, err
	}
	replayKey := timestamp + "|" + nonce + "|" + strings.ToLower(signature)
	first, mine := r.replayed(replayKey, now)
	if first != nil {
		c.el.Logger.Debug("WeCom callback replayed: not stored again")
		return false, first.wait(ctx)
	}
	var hash string
	defer func() {
		if err != nil {
			r.drop(replayKey, hash, mine) // a delivery again is taken afresh
		}
		mine.err = err
		close(mine.done)
	}()
	msg, err := r.crypto.Decrypt(enc)
	if err != nil {
		return false, decryptError(err)
	}
	ev, err := callback.ParseEvent(msg)
	if errors.Is(err, callback.ErrNotContactEvent) {
		c.el.Logger.Debug("WeCom callback is not a contact change: acknowledged")
		return false, nil
	}
	if err != nil {
		return false, callbackError(elements.CodeInvalidArgument, "event", "%v", err)
	}
	sum := sha256.Sum256(msg)
	hash = hex.EncodeToString(sum[:])
	q := &queued{msg: msg, hash: hash, err: make(chan error, 1)}
	if first := r.duplicate(hash, mine); first != nil {
		c.el.Logger.Debug("WeCom event delivered again: applied once", "change", ev.Kind())
		return false, first.wait(ctx)
	}
	if err := c.enqueue(ctx, q); err != nil {
		return false, fmt.Errorf("corp %s: keep the event: %w", c.el.FullName, err)
	}
	if q.dup {
		c.el.Logger.Debug("WeCom event delivered again (to another process): applied once", "change", ev.Kind())
		return false, nil
	}
	return true, nil
}

// replayed returns the first delivery of a request with this timestamp, nonce and
// signature, if one came within the window; else it remembers this one (mine).
func (r *receiver) replayed(key string, now time.Time) (first, mine *arrival) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.replays[key]; ok && now.Sub(a.at) < 2*CallbackWindow {
		return a, nil
	}
	if len(r.replays) >= maxReplayEntries {
		for k, a := range r.replays {
			if now.Sub(a.at) >= 2*CallbackWindow {
				delete(r.replays, k)
			}
		}
	}
	mine = newArrival(now)
	r.replays[key] = mine
	return nil, mine
}

// duplicate returns the first delivery of the plaintext with this hash, if one came within
// dedupeWindow; else it remembers mine as that.
func (r *receiver) duplicate(hash string, mine *arrival) (first *arrival) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.seen[hash]; ok && mine.at.Sub(a.at) < dedupeWindow {
		return a
	}
	if len(r.seen) >= maxDedupeEntries {
		for k, a := range r.seen {
			if mine.at.Sub(a.at) >= dedupeWindow {
				delete(r.seen, k)
			}
		}
	}
	r.seen[hash] = mine
	return nil
}

// drop forgets a delivery that failed, so that the next delivery of it is taken afresh.
func (r *receiver) drop(key, hash string, a *arrival) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.replays[key] == a {
		delete(r.replays, key)
	}
	if hash != "" && r.seen[hash] == a {
		delete(r.seen, hash)
	}
}

// enqueue stores an event in the queue, durably, before it returns: through the committer
// (which writes the deliveries that arrive together in one transaction), or directly.
func (c *Corp) enqueue(ctx context.Context, q *queued) error {
	r := c.recv
	if r.writes == nil {
		return c.writeQueued([]*queued{q})
	}
	select {
	case r.writes <- q:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stop:
		return errors.New("the corp is being replaced; WeCom will deliver again")
	}
	select {
	case err := <-q.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeQueued appends events to the queue in one transaction and pokes the applier. The
// queue's numbers and the received plaintexts are kept in the store, so that the processes
// that share it (replicas behind one callback URL) queue in one order and store an event
// WeCom delivers to two of them once; a duplicate is marked dup and not stored.
func (c *Corp) writeQueued(batch []*queued) error {
	r := c.recv
	minute := time.Now().Unix() / 60
	err := c.el.Store.Update(func(tx *kv.Tx) error {
		seq, err := c.lastQueued(tx)
		if err != nil {
			return err
		}
	events:
		for _, q := range batch {
			q.dup = false
			for m := minute - storedDedupeMinutes; m <= minute; m++ {
				if _, err := tx.Get(c.evk.eventSeen(m, q.hash)); err == nil {
					q.dup = true
					continue events
				}
			}
			seq++
			if err := tx.Set(c.keys.EventAt(seq), string(q.msg)); err != nil {
				return err
			}
			if err := tx.Set(c.evk.eventSeen(minute, q.hash), ""); err != nil {
				return err
			}
		}
		// the minutes past the window go, oldest first (only they are read)
		if _, err := tx.DeleteBefore(c.evk.eventsSeen(), c.evk.eventSeenMinute(minute-storedDedupeMinutes), 0); err != nil {
			return err
		}
		return tx.Set(c.evk.eventSeq(), strconv.FormatUint(seq, 10))
	})
	if err != nil {
		return err
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// lastQueued is the number of the last event queued: the counter, or, in a state written
// before it was kept, the last key of the queue.
func (c *Corp) lastQueued(tx *kv.Tx) (uint64, error) {
	if v, err := tx.Get(c.evk.eventSeq()); err == nil {
		return strconv.ParseUint(v, 10, 64)
	}
	var seq uint64
	err := tx.ScanReverse(c.keys.EventQueue(), func(key, _ string) bool {
		seq, _ = strconv.ParseUint(strings.TrimPrefix(key, c.keys.EventQueue()), 10, 64)
		return false
	})
	return seq, err
}

// commit is the committer: it writes what arrives together as one transaction, so that
// concurrent deliveries share one sync to disk.
func (c *Corp) commit() {
	r := c.recv
	defer close(r.done)
	for {
		var first *queued
		select {
		case first = <-r.writes:
		case <-r.stop:
			return
		}
		batch := []*queued{first}
	more:
		for len(batch) < 1024 {
			select {
			case q := <-r.writes:
				batch = append(batch, q)
			default:
				break more
			}
		}
		err := c.commitBatch(batch)
		for _, q := range batch {
			q.err <- err
		}
	}
}

// callbackMethods are the corp's callback methods: not Callable (jitrt run's callback route
// reaches them from inside; the signature check is their guard).
func (c *Corp) callbackMethods() []elements.Method {
	return []elements.Method{
		{Name: "verifyCallback", Doc: "WeCom's callback URL verification: the decrypted echostr",
			Params: []elements.Param{str("msgSignature"), str("timestamp"), str("nonce"), str("echostr")},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				return c.VerifyCallback(a.String("msgSignature"), a.String("timestamp"), a.String("nonce"), a.String("echostr"))
			}},
		{Name: "getSetAsideEvents", Callable: true, Doc: "the WeCom events that failed again and again and were set aside, newest first: [{seq, kind, id, error, attempts, at}]",
			Call: func(context.Context, elements.Args) (any, error) { return c.engine.SetAsideEvents() }},
		{Name: "applyEvents", Callable: true, Doc: "apply the WeCom change events received and not yet applied, now: {applied}",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				if _, err := c.callbackReceiver(); err != nil {
					return nil, err
				}
				n, err := c.engine.ApplyQueued(ctx)
				return map[string]any{"applied": float64(n)}, err
			}},
		{Name: "receiveCallback", Doc: "a WeCom callback POST: verified, decrypted and its event stored; {stored}",
			Params: []elements.Param{str("msgSignature"), str("timestamp"), str("nonce"), str("body")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				stored, err := c.ReceiveCallback(ctx, a.String("msgSignature"), a.String("timestamp"), a.String("nonce"), []byte(a.String("body")))
				if err != nil {
					return nil, err
				}
				return map[string]any{"stored": stored}, nil
			}},
	}
}

// commitBatch writes a batch of arrivals; a panic is the batch's error (each caller is
// answered, and WeCom delivers again).
func (c *Corp) commitBatch(batch []*queued) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = c.el.App.Recovered(c.el.FullName+" store events", r)
		}
	}()
	if h := hooks.Load(); h != nil && h.Commit != nil {
		h.Commit()
	}
	return c.writeQueued(batch)
}
