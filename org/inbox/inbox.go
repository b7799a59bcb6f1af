// Package inbox keeps the change events a platform pushes to an org, durably, before they
// are acknowledged: whatever the platform (WeCom, DingTalk, Feishu), a push its type has
// verified and decrypted is stored in the org's event queue before the answer, so that an
// event the platform was told was received is never lost; a delivery repeated (a retry, a
// replay, the same push to another replica sharing the store) is stored once, and answered
// only once the first one's outcome is known. The org's engine applies the queue in order
// (org/events.go). It imports no platform.
//
//	evq:<seq>       an event received and not yet applied (its plaintext)
//	evseq           the number of the last event queued
//	evseen:<minute>:<sha256>  an event's plaintext received in that minute (unix minutes),
//	                          kept StoredDedupeMinutes: a delivery the platform repeats to
//	                          another process that shares the store is stored once
package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/org"
)

// Window is how far a push's timestamp may be from now, and (doubled) how long a request is
// remembered to refuse its replay.
const Window = 5 * time.Minute

// dedupeWindow is how long a received event's plaintext is remembered to drop duplicates.
const dedupeWindow = time.Hour

// StoredDedupeMinutes is how long the store remembers plaintexts, for the processes that
// share it: platforms repeat a delivery within seconds or minutes, and every event stored
// costs a key for this long.
const StoredDedupeMinutes = 10

// bounds of the in-memory windows, against a flood
const (
	maxReplayEntries = 200_000
	maxDedupeEntries = 1_000_000
)

// Config is what an Inbox is made from.
type Config struct {
	Store *kv.Store
	// Keys are the org's (its event queue).
	Keys org.Keys
	// Platform names the sender in messages ("WeCom").
	Platform string
	Logger   *slog.Logger
	// Recovered reports a panic caught in the committer (may be nil).
	Recovered func(where string, r any) error
	// BeforeCommit, if set, runs before each batch is written (the tests inject failures).
	BeforeCommit func()
}

// Inbox is an org's side of the pushes: the replay and duplicate windows, and the queue
// writer that commits concurrent deliveries together.
type Inbox struct {
	cfg    Config
	prefix string

	mu      sync.Mutex
	replays map[string]*arrival // a request's replay key → its first delivery
	seen    map[string]*arrival // sha256 of plaintext → its first delivery

	writes chan *queued // to the committer (nil: write directly)
	stop   chan struct{}
	done   chan struct{}
	wake   chan struct{} // pokes the applier
}

type queued struct {
	msgs [][]byte
	hash string
	dup  bool
	err  chan error
}

// New makes an inbox; it does no I/O (Start starts its committer).
func New(cfg Config) *Inbox {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Inbox{cfg: cfg, prefix: cfg.Keys.Prefix(), replays: map[string]*arrival{}, seen: map[string]*arrival{}, wake: make(chan struct{}, 1)}
}

// Wake is poked after events were queued (the engine's applier waits on it).
func (i *Inbox) Wake() <-chan struct{} { return i.wake }

// Start starts the committer, which writes the deliveries that arrive together in one
// transaction (jitrt run; without it each delivery is written on its own).
func (i *Inbox) Start() {
	i.writes = make(chan *queued, 4096)
	i.stop = make(chan struct{})
	i.done = make(chan struct{})
	go i.commit()
}

// Stop stops the committer (queued events stay in the store for the next instance).
func (i *Inbox) Stop() {
	if i.stop == nil {
		return
	}
	close(i.stop)
	<-i.done
}

func (i *Inbox) eventSeq() string   { return i.prefix + "evseq" }
func (i *Inbox) eventsSeen() string { return i.prefix + "evseen:" }
func (i *Inbox) eventSeenMinute(minute int64) string {
	return i.prefix + "evseen:" + fmt.Sprintf("%012d", minute) + ":"
}

// arrival is the first delivery of a request or an event. A delivery of the same one again
// is answered only once the first one's outcome is known: acknowledged when it was stored,
// an error (so that the platform delivers again) when storing it failed. Acknowledging
// while the first was still being written would acknowledge an event a kill could lose.
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

// Refused is a refused push: its code (for the HTTP status), the reason the log and the
// metric give, and nothing of the payload.
func Refused(code, reason, format string, args ...any) error {
	return &elements.Error{Code: code, Message: fmt.Sprintf(format, args...), Err: errRefused{reason}}
}

type errRefused struct{ reason string }

func (e errRefused) Error() string { return "callback refused: " + e.reason }

// Refusal is the reason of a refused push ("" if err is not one).
func Refusal(err error) string {
	var r errRefused
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}

// CheckTime refuses a push whose time is more than Window from now.
func CheckTime(at, now time.Time) error {
	if d := now.Sub(at); d > Window || d < -Window {
		return Refused(elements.CodeInvalidArgument, "stale", "the callback's timestamp is %s from now (at most %s)", d.Round(time.Second), Window)
	}
	return nil
}

// CheckTimestamp reads a push's timestamp (unix seconds, or milliseconds when it has 13
// digits or more) and refuses it if it is more than Window from now.
func CheckTimestamp(ts string, now time.Time) error {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Refused(elements.CodeInvalidArgument, "timestamp", "the callback's timestamp %q is not a number", ts)
	}
	at := time.Unix(n, 0)
	if len(strings.TrimLeft(ts, "-")) >= 13 {
		at = time.UnixMilli(n)
	}
	return CheckTime(at, now)
}

// Opened is what a push held, once its type verified and decrypted it: the plaintext to
// queue (Msg), or several events to queue in order (Msgs: a push naming several members,
// one event each), or Skip for a push that needs nothing (an event the org does not follow).
type Opened struct {
	Msg  []byte
	Msgs [][]byte
	// Key, when set, is what makes two pushes the same event (Feishu's event_id): a push
	// with a Key seen within the windows is a redelivery however its bytes differ.
	// Without one, the plaintext is the identity.
	Key  string
	Skip bool
	// Name says what the event is, for the log ("user_add_org").
	Name string
}

// Receive takes a push whose request is known by replayKey (its timestamp, nonce and
// signature): a replay of a request seen within the window is answered with the first
// one's outcome; else open verifies and decrypts it, and its plaintext is stored before
// Receive returns (stored reports false for a duplicate, a replay or a skipped push).
func (i *Inbox) Receive(ctx context.Context, replayKey string, open func() (Opened, error)) (stored bool, err error) {
	now := time.Now()
	first, mine := i.replayed(replayKey, now)
	if first != nil {
		i.cfg.Logger.Debug(i.cfg.Platform + " callback replayed: not stored again")
		return false, first.wait(ctx)
	}
	var hash string
	defer func() {
		if err != nil {
			i.drop(replayKey, hash, mine) // a delivery again is taken afresh
		}
		mine.err = err
		close(mine.done)
	}()
	o, err := open()
	if err != nil {
		return false, err
	}
	if o.Skip {
		i.cfg.Logger.Debug(i.cfg.Platform+" callback needs nothing: acknowledged", "event", o.Name)
		return false, nil
	}
	msgs := o.Msgs
	if o.Msg != nil {
		msgs = append([][]byte{o.Msg}, msgs...)
	}
	h := sha256.New()
	for k, m := range msgs {
		if k > 0 {
			h.Write([]byte{0}) // one event's hash is its plaintext's, as stored before
		}
		h.Write(m)
	}
	hash = hex.EncodeToString(h.Sum(nil))
	if o.Key != "" {
		k := sha256.Sum256([]byte("key\x00" + o.Key))
		hash = hex.EncodeToString(k[:])
	}
	q := &queued{msgs: msgs, hash: hash, err: make(chan error, 1)}
	if first := i.duplicate(hash, mine); first != nil {
		i.cfg.Logger.Debug(i.cfg.Platform+" event delivered again: applied once", "event", o.Name)
		return false, first.wait(ctx)
	}
	if err := i.enqueue(ctx, q); err != nil {
		return false, fmt.Errorf("keep the event: %w", err)
	}
	if q.dup {
		i.cfg.Logger.Debug(i.cfg.Platform+" event delivered again (to another process): applied once", "event", o.Name)
		return false, nil
	}
	return true, nil
}

// replayed returns the first delivery of a request with this key, if one came within the
// window; else it remembers this one (mine).
func (i *Inbox) replayed(key string, now time.Time) (first, mine *arrival) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if a, ok := i.replays[key]; ok && now.Sub(a.at) < 2*Window {
		return a, nil
	}
	if len(i.replays) >= maxReplayEntries {
		for k, a := range i.replays {
			if now.Sub(a.at) >= 2*Window {
				delete(i.replays, k)
			}
		}
	}
	mine = newArrival(now)
	i.replays[key] = mine
	return nil, mine
}

// duplicate returns the first delivery of the plaintext with this hash, if one came within
// dedupeWindow; else it remembers mine as that.
func (i *Inbox) duplicate(hash string, mine *arrival) (first *arrival) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if a, ok := i.seen[hash]; ok && mine.at.Sub(a.at) < dedupeWindow {
		return a
	}
	if len(i.seen) >= maxDedupeEntries {
		for k, a := range i.seen {
			if mine.at.Sub(a.at) >= dedupeWindow {
				delete(i.seen, k)
			}
		}
	}
	i.seen[hash] = mine
	return nil
}

// drop forgets a delivery that failed, so that the next delivery of it is taken afresh.
func (i *Inbox) drop(key, hash string, a *arrival) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.replays[key] == a {
		delete(i.replays, key)
	}
	if hash != "" && i.seen[hash] == a {
		delete(i.seen, hash)
	}
}

// enqueue stores an event in the queue, durably, before it returns: through the committer
// or directly.
func (i *Inbox) enqueue(ctx context.Context, q *queued) error {
	if i.writes == nil {
		return i.write([]*queued{q})
	}
	select {
	case i.writes <- q:
	case <-ctx.Done():
		return ctx.Err()
	case <-i.stop:
		return fmt.Errorf("the corp is being replaced; %s will deliver again", i.cfg.Platform)
	}
	select {
	case err := <-q.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write appends events to the queue in one transaction and pokes the applier. The queue's
// numbers and the received plaintexts are kept in the store, so that the processes that
// share it (replicas behind one callback URL) queue in one order and store an event the
// platform delivers to two of them once; a duplicate is marked dup and not stored.
func (i *Inbox) write(batch []*queued) error {
	minute := time.Now().Unix() / 60
	err := i.cfg.Store.Update(func(tx *kv.Tx) error {
		seq, err := i.lastQueued(tx)
		if err != nil {
			return err
		}
	events:
		for _, q := range batch {
			q.dup = false
			for m := minute - StoredDedupeMinutes; m <= minute; m++ {
				if _, err := tx.Get(i.eventSeenMinute(m) + q.hash); err == nil {
					q.dup = true
					continue events
				}
			}
			for _, m := range q.msgs {
				seq++
				if err := tx.Set(i.cfg.Keys.EventAt(seq), string(m)); err != nil {
					return err
				}
			}
			if err := tx.Set(i.eventSeenMinute(minute)+q.hash, ""); err != nil {
				return err
			}
		}
		// the minutes past the window go, oldest first (only they are read)
		if _, err := tx.DeleteBefore(i.eventsSeen(), i.eventSeenMinute(minute-StoredDedupeMinutes), 0); err != nil {
			return err
		}
		return tx.Set(i.eventSeq(), strconv.FormatUint(seq, 10))
	})
	if err != nil {
		return err
	}
	select {
	case i.wake <- struct{}{}:
	default:
	}
	return nil
}

// lastQueued is the number of the last event queued: the counter, or, in a state written
// before it was kept, the last key of the queue.
func (i *Inbox) lastQueued(tx *kv.Tx) (uint64, error) {
	if v, err := tx.Get(i.eventSeq()); err == nil {
		return strconv.ParseUint(v, 10, 64)
	}
	var seq uint64
	err := tx.ScanReverse(i.cfg.Keys.EventQueue(), func(key, _ string) bool {
		seq, _ = strconv.ParseUint(strings.TrimPrefix(key, i.cfg.Keys.EventQueue()), 10, 64)
		return false
	})
	return seq, err
}

// commit is the committer: it writes what arrives together as one transaction, so that
// concurrent deliveries share one sync to disk.
func (i *Inbox) commit() {
	defer close(i.done)
	for {
		var first *queued
		select {
		case first = <-i.writes:
		case <-i.stop:
			return
		}
		batch := []*queued{first}
	more:
		for len(batch) < 1024 {
			select {
			case q := <-i.writes:
				batch = append(batch, q)
			default:
				break more
			}
		}
		err := i.commitBatch(batch)
		for _, q := range batch {
			q.err <- err
		}
	}
}

// commitBatch writes a batch of arrivals; a panic is the batch's error (each caller is
// answered, and the platform delivers again).
func (i *Inbox) commitBatch(batch []*queued) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if i.cfg.Recovered != nil {
				err = i.cfg.Recovered("store events", r)
			} else {
				err = fmt.Errorf("store events: internal error (panic: %v)", r)
			}
		}
	}()
	if i.cfg.BeforeCommit != nil {
		i.cfg.BeforeCommit()
	}
	return i.write(batch)
}
