package org

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
)

// # The audit trail
//
// Every transaction that writes an org carries a record of who made it (elements.Actor,
// from the call's context), through which method of which element, with what arguments
// (secrets masked), when and on which replica: the write and its record are one
// transaction, so there is no write without its record, on the state file as on
// PostgreSQL. A call that wrote nothing (a no-change sync, the same roles again) leaves no
// record. A write method that failed leaves the state as it was, as every refused call
// does; its failure is kept in the memory of the process that took it (recent ones,
// AuditFailuresKept), and getAuditLog lists it beside the records, marked stored: false.
// Records older than the org's AuditRetention go in the background (KeepAuditPruned: at
// start and every AuditPruneEvery), and a few at a time with later writes.

// DefaultAuditRetention is how long an org keeps its audit records.
const DefaultAuditRetention = 90 * 24 * time.Hour

// AuditFailuresKept is how many failed write calls an org keeps in memory.
const AuditFailuresKept = 1000

// auditPruneBatch is the most old records a write deletes with its own, and the background
// pruning in one transaction.
const auditPruneBatch = 64

// DefaultAuditPruneEvery is how often an org's records past the retention are looked for.
const DefaultAuditPruneEvery = time.Hour

// AuditRecord is one write of an org, as the trail keeps it.
type AuditRecord struct {
	At      string         `json:"at"`
	Actor   elements.Actor `json:"actor"`
	Element string         `json:"element"`
	Method  string         `json:"method"`
	Args    map[string]any `json:"args,omitempty"`
	// Members are the members the call named (memberId, memberIdList), for the filter.
	Members []string `json:"members,omitempty"`
	Result  string   `json:"result"` // "ok", or the error's code
	Error   string   `json:"error,omitempty"`
	Replica string   `json:"replica"`
	Stored  bool     `json:"stored"`
}

// auditCall is the write call a context belongs to (Audited).
type auditCall struct {
	method  string
	args    map[string]any
	members []string

	mu       sync.Mutex
	recorded bool
}

type auditCallKey struct{}

// Audited wraps a write method of an org so that what it writes carries its record: the
// call's method and arguments go, in its context, to the transactions it makes, and a
// failure is kept (in memory) too.
func (o *Directory) Audited(m elements.Method) elements.Method {
	call := m.Call
	m.Call = func(ctx context.Context, a elements.Args) (any, error) {
		c := &auditCall{method: m.Name}
		c.args, c.members = maskArgs(a)
		res, err := call(context.WithValue(ctx, auditCallKey{}, c), a)
		if err != nil {
			c.mu.Lock()
			recorded := c.recorded
			c.mu.Unlock()
			if !recorded {
				o.keepFailure(o.newRecord(ctx, c, time.Now(), err))
			}
		}
		return res, err
	}
	return m
}

// WriteMethods are the methods of the corp Types that write the org: AuditWrites wraps them.
var WriteMethods = map[string]bool{
	"initCorp": true, "syncCorp": true, "bulkRegister": true, "setUserRole": true, "offlineMember": true,
	"reactivateMember": true, "saveUserSignature": true, "setAdmin": true, "setDeptRole": true, "applyEvents": true,
	// an org kept in the app (corps.NormalType)
	"addMember": true, "createDept": true, "updateDept": true, "deleteDept": true, "setDeptLeaderByDept": true,
	"createRole": true, "updateUserInfo": true, "changeMemberStatus": true, "addDeptMember": true,
	"deleteDeptMember": true, "addRoleMember": true, "deleteMember": true, "setMemberPassword": true,
}

// AuditWrites wraps the write methods (WriteMethods) of a corp Type's list (Audited).
func (o *Directory) AuditWrites(ms []elements.Method) []elements.Method {
	for i := range ms {
		if WriteMethods[ms[i].Name] {
			ms[i] = o.Audited(ms[i])
		}
	}
	return ms
}

// WithAuditCall is ctx for writes made on an org's behalf by no method (the change events'
// applier, a sync the org starts itself): their records name method.
func WithAuditCall(ctx context.Context, method string) context.Context {
	if _, ok := ctx.Value(auditCallKey{}).(*auditCall); ok {
		return ctx
	}
	return context.WithValue(ctx, auditCallKey{}, &auditCall{method: method})
}

func callFrom(ctx context.Context) *auditCall {
	c, _ := ctx.Value(auditCallKey{}).(*auditCall)
	return c
}

var secretArg = regexp.MustCompile(`(?i)pass(word)?|secret|token|key|code`)

// maskArgs copies a call's arguments with secrets masked, and the members it names.
func maskArgs(a elements.Args) (map[string]any, []string) {
	if len(a) == 0 {
		return nil, nil
	}
	var members []string
	for _, k := range []string{"memberId", "userid"} {
		if s, ok := a[k].(string); ok {
			members = append(members, s)
		}
	}
	if l, ok := a["memberIdList"].([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				members = append(members, s)
			}
		}
	}
	return maskValue(map[string]any(a)).(map[string]any), members
}

// maskValue masks the secrets of an object argument (a member's password in addMember).
func maskValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if secretArg.MatchString(k) {
				out[k] = "******"
			} else {
				out[k] = maskValue(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = maskValue(e)
		}
		return out
	}
	return v
}

var replica = func() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}()

// newRecord is the record of a call (nil c: a write no method made) made at, failed with
// err or not.
func (o *Directory) newRecord(ctx context.Context, c *auditCall, at time.Time, err error) AuditRecord {
	r := AuditRecord{At: at.UTC().Format(time.RFC3339Nano), Actor: elements.ActorFrom(ctx), Element: o.name,
		Method: "(internal)", Result: "ok", Replica: replica}
	if c != nil {
		r.Method, r.Args, r.Members = c.method, c.args, c.members
	}
	if err != nil {
		r.Result, r.Error = elements.CodeOf(err), err.Error()
	}
	return r
}

// audit writes, in tx, the record of the call of ctx, if tx wrote anything; and deletes a
// few records past the retention.
func (o *Directory) audit(ctx context.Context, tx *kv.Tx) error {
	if tx.Writes() == 0 {
		return nil // nothing written: nothing to record
	}
	key, r := o.storedRecord(ctx)
	if err := tx.SetJSON(key, r); err != nil {
		return err
	}
	return o.pruneAudit(tx)
}

// auditChanges are the record of the call of ctx as changes (for a write made with Apply).
func (o *Directory) auditChanges(ctx context.Context, changes []kv.Change) []kv.Change {
	if len(changes) == 0 {
		return changes
	}
	key, r := o.storedRecord(ctx)
	return append(changes, kv.Change{Key: key, Value: MustJSON(r)})
}

// storedRecord is the record a transaction of the call of ctx stores, and its key; the
// call is marked recorded.
func (o *Directory) storedRecord(ctx context.Context) (string, AuditRecord) {
	c := callFrom(ctx)
	now := time.Now()
	r := o.newRecord(ctx, c, now, nil)
	r.Stored = true
	if c != nil {
		c.mu.Lock()
		c.recorded = true
		c.mu.Unlock()
	}
	var random [4]byte
	rand.Read(random[:])
	return o.keys.Audit(now, hex.EncodeToString(random[:])), r
}

// update is the org's write transaction: fn's writes, and their record.
func (o *Directory) update(ctx context.Context, fn func(tx *kv.Tx) error) error {
	return o.store.Update(func(tx *kv.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return o.audit(ctx, tx)
	})
}

// pruneAudit deletes up to auditPruneBatch records older than the retention.
func (o *Directory) pruneAudit(tx *kv.Tx) error {
	_, err := tx.DeleteBefore(o.keys.Audits(), o.auditCutoff(), auditPruneBatch)
	return err
}

// auditCutoff is the key before which the records are past the retention.
func (o *Directory) auditCutoff() string {
	keep := o.auditRetention
	if keep <= 0 {
		keep = DefaultAuditRetention
	}
	return o.keys.Audit(time.Now().Add(-keep), "")
}

// PruneAudit deletes the records past the retention, auditPruneBatch per transaction (a
// writer of the org waits for one batch at most), and says how many went. With none past
// it, it writes nothing (a read of the oldest key tells).
func (o *Directory) PruneAudit(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		cutoff := o.auditCutoff()
		due := false
		if err := o.store.View(func(tx *kv.Tx) error {
			return tx.Scan(o.keys.Audits(), func(k, _ string) bool { due = k < cutoff; return false })
		}); err != nil {
			return total, err
		}
		if !due {
			return total, nil
		}
		var n int
		if err := o.store.Update(func(tx *kv.Tx) (err error) {
			n, err = tx.DeleteBefore(o.keys.Audits(), cutoff, auditPruneBatch)
			return err
		}); err != nil {
			return total, fmt.Errorf("prune the audit records of %s: %w", o.name, err)
		}
		total += n
		if n < auditPruneBatch {
			return total, nil
		}
	}
	return total, ctx.Err()
}

// KeepAuditPruned prunes the org's audit records past the retention (PruneAudit) now and
// every interval (DefaultAuditPruneEvery when 0), until life ends.
func (o *Directory) KeepAuditPruned(life context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultAuditPruneEvery
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			func() {
				defer func() {
					if r := recover(); r != nil {
						recovered(o, "audit pruning", r)
					}
				}()
				if n, err := o.PruneAudit(life); err != nil && life.Err() == nil {
					o.log.Warn("audit records past the retention not pruned", "org", o.name, "err", err)
				} else if n > 0 {
					o.log.Info("audit records past the retention pruned", "org", o.name, "records", n)
				}
			}()
			select {
			case <-life.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// keepFailure keeps a failed call's record in memory.
func (o *Directory) keepFailure(r AuditRecord) {
	o.failMu.Lock()
	defer o.failMu.Unlock()
	o.failures = append(o.failures, r)
	if len(o.failures) > AuditFailuresKept {
		o.failures = slices.Delete(o.failures, 0, len(o.failures)-AuditFailuresKept)
	}
}

// AuditQuery filters the trail: by member, by element (an org has one: its own), since a
// time, newest first, at most Limit (100 when 0, 1000 at most).
type AuditQuery struct {
	Member  string
	Element string
	Since   time.Time
	Limit   int
}

// AuditLog lists the org's records, newest first: those stored, and the failures this
// process kept.
func (o *Directory) AuditLog(q AuditQuery) ([]AuditRecord, error) {
	if q.Element != "" && q.Element != o.name {
		return []AuditRecord{}, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	match := func(r AuditRecord) bool {
		if q.Member != "" && !slices.Contains(r.Members, q.Member) {
			return false
		}
		if !q.Since.IsZero() {
			t, err := time.Parse(time.RFC3339Nano, r.At)
			if err != nil || t.Before(q.Since) {
				return false
			}
		}
		return true
	}
	var out []AuditRecord
	err := o.store.View(func(tx *kv.Tx) error {
		var err error
		tx.ScanReverse(o.keys.Audits(), func(_, v string) bool {
			var r AuditRecord
			if err = jsonUnmarshal(v, &r); err != nil {
				return false
			}
			if !q.Since.IsZero() {
				if t, perr := time.Parse(time.RFC3339Nano, r.At); perr == nil && t.Before(q.Since) {
					return false // older from here on
				}
			}
			if match(r) {
				out = append(out, r)
			}
			return len(out) < limit
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	o.failMu.Lock()
	for _, r := range o.failures {
		if match(r) {
			out = append(out, r)
		}
	}
	o.failMu.Unlock()
	slices.SortStableFunc(out, func(a, b AuditRecord) int { return strings.Compare(b.At, a.At) })
	return out[:min(len(out), limit)], nil
}

// ParseSince reads a "since" of the audit log: "" (none), an RFC 3339 time, or a duration
// back from now ("24h", "90m").
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("since %q is neither an RFC 3339 time (2026-12-01T08:00:00Z) nor a duration back (24h)", s)
}
