package org

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
)

// # Change events
//
// A platform that pushes its changes gives the org a queue of events, kept in the store as
// the platform sent them (the provider stores them there before it answers the platform).
// The engine applies them in the order they came, a batch at a time, each batch in one
// transaction that also takes it off the queue: a process killed at any moment applies
// each event once. The provider decodes an event into the org's terms (Event); an event
// changes only what it carries (a partial update a member's fields, through the provider's
// Patch). An event that names a member, department or tag the org does not know, or that
// carries only ids, fetches just that record from the platform (the EventSource's single
// objects) before the transaction. A whole-org sync holds the applier off while it runs,
// and the events that came meanwhile apply after it.
//
// A batch that fails for another reason than the platform or the store being out of
// reach is tried again one event at a time, and an event that fails alone maxAttempts
// times is set aside with its error (in the history, the metric events_set_aside and
// SetAsideEvents): the events after it go on, and the next sync repairs what it would
// have changed.
//
//	evq:<seq>      an event received and not yet applied (as the platform sent it)
//	evdead:<seq>   an event set aside after maxAttempts failures, with the error
//	renamed:<old member id>   the member's id since the platform renamed it

// EventQueue is the prefix of the queued events; EventAt the key of the event numbered seq.
func (k Keys) EventQueue() string        { return k.prefix + "evq:" }
func (k Keys) EventAt(seq uint64) string { return k.prefix + "evq:" + fmt.Sprintf("%020d", seq) }
func (k Keys) setAside(seq string) string {
	return k.prefix + "evdead:" + seq
}
func (k Keys) setAsides() string { return k.prefix + "evdead:" }

// maxBatch is the most events one transaction applies.
const maxBatch = 2000

// maxAttempts is how many times an event that fails alone is tried before it is set aside.
const maxAttempts = 5

// EventKind is what an event changes.
type EventKind int

const (
	// MemberChanged: a member created or updated (and perhaps renamed: NewMemberID).
	MemberChanged EventKind = iota + 1
	// MemberLeft: a member left the org on the platform (taken offline here).
	MemberLeft
	// DeptChanged: a department created or updated (DeptName, DeptParent, DeptOrder as given).
	DeptChanged
	// DeptRemoved: a department deleted.
	DeptRemoved
	// TagChanged: a tag's members or departments changed.
	TagChanged
)

// Event is a platform's change event in the org's terms, as its provider decodes it.
type Event struct {
	Kind EventKind
	// Name is the platform's name for the event ("update_user"), as the history and the
	// events set aside show it.
	Name string
	// Create says the platform calls it new (a hire, a new department).
	Create bool
	// Oversized, when set, is why the event is refused unapplied (a field beyond the
	// platform's own limits): the next sync reconciles.
	Oversized string

	// MemberID is the member the event is about; NewMemberID their id since, for a rename.
	MemberID, NewMemberID string
	// Whole says the event carries the member whole (a create with its fields): no fetch
	// is needed to know them.
	Whole bool
	// Patch is the member as the event leaves base (the stored member; for a Whole create,
	// a member with only its id), with every department the event names: the engine
	// keeps those the org has. Nil: the event changes no field.
	Patch func(base *Member) *Member
	// Depts are the departments the event names for the member (DeptsNamed: it names some).
	Depts      []int64
	DeptsNamed bool

	// Refetch says the event only names what changed (DingTalk's and Feishu's carry ids):
	// the member or department is fetched from the platform and its record there taken
	// whole.
	Refetch bool

	// DeptID is the department of a DeptChanged or DeptRemoved; the fields it carries.
	DeptID     int64
	DeptName   *string
	DeptParent *int64
	DeptOrder  *int64

	// TagID is the tag of a TagChanged; what it adds to and takes from the tag.
	TagID                        int64
	TagAddMembers, TagDelMembers []string
	TagAddDepts, TagDelDepts     []int64
}

// ID is what the event is about, for messages: a member id, or a department's or tag's.
func (ev *Event) ID() string {
	switch {
	case ev.MemberID != "":
		return ev.MemberID
	case ev.Kind == DeptChanged || ev.Kind == DeptRemoved:
		return strconv.FormatInt(ev.DeptID, 10)
	case ev.Kind == TagChanged:
		return strconv.FormatInt(ev.TagID, 10)
	}
	return ""
}

// ErrNotInPlatform is returned (wrapped) by an EventSource's single fetch when the
// platform has no such member, department or tag, or does not let the app see it.
var ErrNotInPlatform = errors.New("not in the platform")

// EventSource is a provider that pushes change events.
type EventSource interface {
	// DecodeEvent reads an event as the provider queued it.
	DecodeEvent(raw string) (*Event, error)
	// FetchMember fetches one member as the platform has it now, with all its departments
	// (ErrNotInPlatform: gone). Its error carries the platform's code.
	FetchMember(ctx context.Context, id string) (*Member, error)
	// FetchDept fetches one department (ErrNotInPlatform: gone).
	FetchDept(ctx context.Context, id int64) (*Dept, error)
	// FetchTag fetches one tag with its members and departments (ErrNotInPlatform: gone).
	FetchTag(ctx context.Context, id int64) (*Tag, error)
}

// StartEvents starts the applier of jitrt run: it applies the queue at once, when woken
// (wake: the provider stored an event), and every second (an event another process of a
// shared store queued), under the engine's lifetime. stop ends it and waits for it.
func (e *Engine) StartEvents(wake <-chan struct{}) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		// the applier's writes are the platform's change events'
		ctx := WithAuditCall(elements.WithActor(e.life, elements.Actor{Kind: "event", Via: e.dir.corpID}), "applyEvents")
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			for {
				n, err := e.applyQueued(ctx)
				if err != nil {
					if ctx.Err() == nil {
						e.dir.log.Error("applying change events failed; they stay queued", "corp", e.dir.name, "err", err)
					}
					break
				}
				if n == 0 {
					break
				}
			}
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-wake:
			case <-tick.C:
			}
		}
	}()
	return func() { close(quit); <-done }
}

// ApplyQueued applies the queued events now (what the applier does in jitrt run); it
// returns how many it applied.
func (e *Engine) ApplyQueued(ctx context.Context) (int, error) {
	if err := e.notInTransaction(ctx, "applying events"); err != nil {
		return 0, err
	}
	total := 0
	for {
		n, err := e.applyQueued(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

type queuedEvent struct {
	key string
	raw string
	ev  *Event // nil: unreadable
}

// applyQueued applies one batch of queued events (or, after a failure, one event).
func (e *Engine) applyQueued(ctx context.Context) (n int, err error) {
	src := e.cfg.Events
	if src == nil {
		return 0, nil
	}
	release := e.HoldSyncs()
	defer release()
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	o := e.dir
	limit := maxBatch
	if e.isolate > 0 {
		limit = 1
	}
	var batch []queuedEvent
	defer func() {
		if r := recover(); r != nil {
			err = recovered(o, "apply events", r)
		}
		if len(batch) > 0 {
			n, err = e.afterBatch(ctx, batch, n, err)
		}
	}()
	bad := 0
	if err := o.store.View(func(tx *kv.Tx) error {
		return tx.Scan(o.keys.EventQueue(), func(key, v string) bool {
			ev, err := src.DecodeEvent(v)
			if err != nil {
				bad++ // stored by an older jitrt, or damaged: dropped with the batch
				ev = nil
			}
			batch = append(batch, queuedEvent{key, v, ev})
			return len(batch) < limit
		})
	}); err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		return 0, nil
	}
	start := time.Now()
	a := &applier{o: o, k: o.keys, src: src, scoped: e.cfg.Scoped, rep: &SyncReport{Kind: "events", Warnings: []string{}, StartedAt: start.UTC().Format(time.RFC3339Nano)},
		users: map[string]*Member{}, goneUsers: map[string]bool{}, depts: map[int64]*Dept{}, tags: map[int64]*Tag{}}
	if err := a.fetchMissing(ctx, batch); err != nil {
		return 0, err
	}
	unlock, err := o.Lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	taken := 0
	err = o.update(ctx, func(tx *kv.Tx) error {
		a.begin(tx)
		taken = 0
		for _, q := range batch {
			if _, err := tx.Get(q.key); errors.Is(err, kv.ErrNotFound) {
				continue // applied meanwhile by another process that shares the store
			}
			taken++
			if q.ev != nil {
				if e.cfg.BeforeApply != nil {
					if err := e.cfg.BeforeApply(q.ev); err != nil {
						return err
					}
				}
				if err := a.apply(q.ev); err != nil {
					return err
				}
				a.rep.Events++
			}
			if _, err := tx.Delete(q.key); err != nil {
				return err
			}
		}
		if taken == 0 {
			return nil
		}
		if err := a.flush(); err != nil {
			return err
		}
		return o.keepEventReport(tx, a.rep, start)
	})
	if err != nil {
		return 0, err
	}
	if bad > 0 {
		o.log.Warn("queued change events that could not be read were dropped", "corp", o.name, "events", bad)
	}
	if e.cfg.Observer != nil {
		e.cfg.Observer.Observe("events_applied", o.name, time.Since(start), nil)
	}
	o.log.Debug("change events applied", "corp", o.name, "events", a.rep.Events, "added", a.rep.Added, "updated", a.rep.Updated,
		"offlined", a.rep.Offlined, "departments", a.rep.Departments, "fetched", a.rep.Fetched, "took", time.Since(start).Round(time.Microsecond))
	return taken, nil
}

// keepEventReport adds a batch's counts to the org's history: into the events report of
// the last minute, or a new one (so a busy stream of events keeps one report a minute).
func (o *Directory) keepEventReport(tx *kv.Tx, rep *SyncReport, start time.Time) error {
	finished := time.Now()
	rep.FinishedAt = finished.UTC().Format(time.RFC3339Nano)
	rep.DurationMs = finished.Sub(start).Milliseconds()
	var lastKey, lastRaw string
	tx.ScanReverse(o.keys.Syncs(), func(k, v string) bool { lastKey, lastRaw = k, v; return false })
	var last SyncReport
	if lastRaw != "" && json.Unmarshal([]byte(lastRaw), &last) == nil && last.Kind == "events" {
		if at, err := time.Parse(time.RFC3339Nano, last.StartedAt); err == nil && start.Sub(at) < time.Minute {
			last.Merge(rep)
			return tx.Set(lastKey, MustJSON(&last))
		}
	}
	if err := tx.Set(o.keys.Sync(start), MustJSON(rep)); err != nil {
		return err
	}
	var keysNow []string
	tx.Scan(o.keys.Syncs(), func(k, _ string) bool { keysNow = append(keysNow, k); return true })
	for len(keysNow) > MaxHistory {
		if _, err := tx.Delete(keysNow[0]); err != nil {
			return err
		}
		keysNow = keysNow[1:]
	}
	return nil
}

// applier applies one batch of events in one transaction, over an overlay of the records
// it has read and changed.
type applier struct {
	o      *Directory
	k      Keys
	src    EventSource
	scoped bool
	tx     *kv.Tx
	rep    *SyncReport
	ts     string

	// fetched from the platform before the transaction
	users map[string]*Member
	// goneUsers are member ids fetched because of an event and not found in the platform
	goneUsers map[string]bool
	depts     map[int64]*Dept // nil: gone
	tags      map[int64]*Tag

	members     map[string]*Member // read or changed; nil: known not to exist
	dirty       map[string]bool
	removed     map[string]bool // renamed away
	deptRecs    map[int64]*Dept
	deptDirty   map[int64]bool
	known       map[int64]bool // the departments of the local org
	root        int64
	tagRecs     map[int64]*Tag
	tagDirty    map[int64]bool
	admins      *Admins
	adminsSet   bool
	dirtyAdmins bool
}

// fetchMissing fetches, before the transaction, what the batch names and the local org
// does not have, or what an event carries too little of.
func (a *applier) fetchMissing(ctx context.Context, batch []queuedEvent) error {
	needUser, needDept, needTag := map[string]bool{}, map[int64]bool{}, map[int64]bool{}
	moved := map[int64]bool{} // departments an event moves
	err := a.o.store.View(func(tx *kv.Tx) error {
		created := map[string]bool{}
		knownDept := func(id int64) bool {
			_, err := tx.Get(a.k.Dept(id))
			return err == nil
		}
		for _, q := range batch {
			ev := q.ev
			if ev == nil {
				continue
			}
			switch ev.Kind {
			case MemberChanged:
				id := ev.MemberID
				if ev.NewMemberID != "" {
					id = ev.NewMemberID
				}
				raw, exists, err := GetMember(tx, a.k, ev.MemberID)
				if err != nil {
					return err
				}
				full := ev.Create && ev.Whole
				if (!exists && !created[id] && !full) || ev.Refetch {
					needUser[id] = true
				}
				if _, err := tx.Get(a.k.Gone(id)); err == nil && !exists && !created[id] {
					needUser[id] = true // deleted before: the platform says whether it exists now
				}
				if ev.NewMemberID != "" && exists {
					if _, taken, err := GetMember(tx, a.k, ev.NewMemberID); err != nil {
						return err
					} else if taken {
						// a rename onto an id held here is refused; whether the old id still
						// exists in the platform says whether its record is stale (a sync met
						// the new id first) or the event is wrong
						needUser[ev.MemberID] = true
					}
				}
				if exists && !created[id] {
					// an event for a member who left the platform: its word decides whether
					// they are back, not the event's (a retry of an older event comes late)
					if m, err := DecodeMember(raw); err == nil && m.Status == StatusOffline && m.OfflineBy != OfflineByLocal {
						needUser[id] = true
					}
				}
				created[id] = true
				if ev.DeptsNamed && !a.scoped {
					for _, dept := range ev.Depts {
						if !knownDept(dept) {
							needDept[dept] = true
						}
					}
				}
			case DeptChanged:
				id := ev.DeptID
				if (ev.Create && ev.DeptName == nil) || (!ev.Create && !knownDept(id)) {
					needDept[id] = true
				}
				if (!ev.Create && ev.DeptParent != nil) || ev.Refetch {
					// a move: the platform's own record is at hand if the event would break the
					// tree; an event that only names the department: its record is taken
					moved[id] = true
				}
			case TagChanged:
				if _, err := tx.Get(a.k.Tag(ev.TagID)); errors.Is(err, kv.ErrNotFound) {
					needTag[ev.TagID] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(needUser)) {
		m, err := a.src.FetchMember(ctx, id)
		if errors.Is(err, ErrNotInPlatform) {
			a.goneUsers[id] = true
			continue // gone since, or outside the app's view: the event is ignored
		}
		if err != nil {
			return err
		}
		a.users[id] = m
		a.rep.Fetched.Members++
		if !a.scoped {
			for _, d := range m.DeptIDs {
				needDept[d] = true
			}
		}
	}
	// departments, and the parents they name that the local org lacks
	for len(needDept) > 0 {
		ids := make([]int64, 0, len(needDept))
		for id := range needDept {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		needDept = map[int64]bool{}
		for _, id := range ids {
			if _, done := a.depts[id]; done {
				continue
			}
			var known bool
			a.o.store.View(func(tx *kv.Tx) error { _, err := tx.Get(a.k.Dept(id)); known = err == nil; return nil })
			if known && id != 0 {
				continue
			}
			d, err := a.src.FetchDept(ctx, id)
			if errors.Is(err, ErrNotInPlatform) {
				a.depts[id] = nil
				continue
			}
			if err != nil {
				return err
			}
			a.depts[id] = d
			a.rep.Fetched.Departments++
			if d.ParentID != 0 {
				if _, done := a.depts[d.ParentID]; !done {
					needDept[d.ParentID] = true
				}
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(moved)) {
		if _, done := a.depts[id]; done {
			continue
		}
		d, err := a.src.FetchDept(ctx, id)
		if errors.Is(err, ErrNotInPlatform) {
			continue
		}
		if err != nil {
			return err
		}
		a.depts[id] = d
		a.rep.Fetched.Departments++
	}
	for _, id := range slices.Sorted(maps.Keys(needTag)) {
		t, err := a.src.FetchTag(ctx, id)
		if errors.Is(err, ErrNotInPlatform) {
			continue
		}
		if err != nil {
			return err
		}
		a.tags[id] = t
		a.rep.Fetched.Tags++
	}
	return nil
}

func (a *applier) begin(tx *kv.Tx) {
	a.tx, a.ts = tx, Now()
	a.members, a.dirty, a.removed = map[string]*Member{}, map[string]bool{}, map[string]bool{}
	a.deptRecs, a.deptDirty, a.known = map[int64]*Dept{}, map[int64]bool{}, map[int64]bool{}
	a.tagRecs, a.tagDirty = map[int64]*Tag{}, map[int64]bool{}
	tx.Scan(a.k.Depts(), func(key, _ string) bool {
		id, _ := strconv.ParseInt(strings.TrimPrefix(key, a.k.Depts()), 10, 64)
		a.known[id] = true
		return true
	})
	var meta Meta
	tx.GetJSON(a.k.Meta(), &meta)
	a.root = meta.RootDeptID
}

// member reads a member through the overlay (nil if there is none).
func (a *applier) member(id string) (*Member, error) {
	if m, ok := a.members[id]; ok {
		return m, nil
	}
	raw, ok, err := GetMember(a.tx, a.k, id)
	if err != nil || !ok {
		a.members[id] = nil
		return nil, err
	}
	m, err := DecodeMember(raw)
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", id, err)
	}
	a.members[id] = m
	return m, nil
}

func (a *applier) setMember(m *Member) {
	a.members[m.MemberID] = m
	a.dirty[m.MemberID] = true
	delete(a.removed, m.MemberID)
}

// dept reads a department through the overlay (nil if there is none).
func (a *applier) dept(id int64) *Dept {
	if d, ok := a.deptRecs[id]; ok {
		return d
	}
	var d Dept
	if err := a.tx.GetJSON(a.k.Dept(id), &d); err != nil {
		a.deptRecs[id] = nil
		return nil
	}
	a.deptRecs[id] = &d
	return &d
}

func (a *applier) setDept(d *Dept) {
	if d.Leaders == nil {
		d.Leaders = []string{}
	}
	a.deptRecs[d.DeptID], a.deptDirty[d.DeptID], a.known[d.DeptID] = d, true, true
}

func (a *applier) tag(id int64) *Tag {
	if t, ok := a.tagRecs[id]; ok {
		return t
	}
	var t Tag
	if err := a.tx.GetJSON(a.k.Tag(id), &t); err != nil {
		a.tagRecs[id] = nil
		return nil
	}
	a.tagRecs[id] = &t
	return &t
}

func (a *applier) adminList() *Admins {
	if !a.adminsSet {
		a.admins = &Admins{}
		a.tx.GetJSON(a.k.Admins(), a.admins)
		a.adminsSet = true
	}
	return a.admins
}

// ensureDepts adds the fetched departments a member names (and their parents) to the
// local org.
func (a *applier) ensureDepts(ids []int64) {
	for _, id := range ids {
		for hops := 0; id != 0 && !a.known[id] && hops < 64; hops++ {
			d := a.depts[id]
			if d == nil {
				break
			}
			c := *d
			c.Leaders = slices.Clone(d.Leaders)
			a.setDept(&c)
			a.rep.Departments.Added++
			id = d.ParentID
		}
	}
}

// place keeps the departments of m the local org has: the main department stays if it is
// one of them, else the first is main; a member in none is in the root.
func place(m *Member, known map[int64]bool, root int64) {
	depts := make([]int64, 0, len(m.DeptIDs))
	for _, d := range m.DeptIDs {
		if known[d] {
			depts = append(depts, d)
		}
	}
	var leads []int64
	for _, d := range m.LeaderDeptIDs {
		if known[d] && slices.Contains(depts, d) {
			leads = append(leads, d)
		}
	}
	m.DeptIDs, m.LeaderDeptIDs = depts, leads
	switch {
	case known[m.MainDeptID] && slices.Contains(depts, m.MainDeptID):
	case len(depts) > 0:
		m.MainDeptID = depts[0]
	default:
		m.DeptIDs, m.MainDeptID = []int64{root}, root
	}
}

// apply applies one event to the overlay.
func (a *applier) apply(ev *Event) error {
	if ev.Oversized != "" {
		a.refuse(fmt.Sprintf("a %s event was refused: %s; the next sync reconciles from %s", ev.Name, ev.Oversized, a.o.profile.Platform))
		return nil
	}
	switch ev.Kind {
	case MemberChanged:
		return a.applyMember(ev)
	case MemberLeft:
		return a.memberLeft(ev.MemberID)
	case DeptChanged:
		a.applyDept(ev)
	case DeptRemoved:
		id := ev.DeptID
		if id == a.root {
			a.refuse(fmt.Sprintf("a delete of department %d, the org's root, was refused; the next sync reconciles from %s", id, a.o.profile.Platform))
			return nil
		}
		if a.dept(id) != nil {
			a.deptRecs[id], a.deptDirty[id] = nil, true
			delete(a.known, id)
			a.rep.Departments.Removed++
		}
	case TagChanged:
		a.applyTag(ev)
	}
	return nil
}

func (a *applier) applyMember(ev *Event) error {
	platform := a.o.profile.Platform
	id := ev.MemberID
	if newID := ev.NewMemberID; newID != "" && newID != id {
		if taken, err := a.member(newID); err != nil {
			return err
		} else if taken != nil {
			// An identity is never handed over by an id: B's record (active or offline, a
			// departed member whose id the platform let be reused) keeps its roles, admin,
			// signature and sessions, and A keeps theirs. The next sync takes the platform's truth.
			a.refuse(fmt.Sprintf("a rename of member %q onto %q was refused: %q is another member's record (%s); the next sync reconciles from %s", id, newID, newID, taken.Status, platform))
			if a.goneUsers[id] {
				// the platform has no such id any more: its record here is stale (the sync met
				// the new id first). It goes offline, as a departure does; nothing of it moves.
				return a.memberLeft(id)
			}
			return nil
		}
		if err := a.rename(id, newID); err != nil {
			return err
		}
		id = newID
	}
	old, err := a.member(id)
	if err != nil {
		return err
	}
	if ev.Create && old != nil && old.Status == StatusOffline && old.OfflineBy != OfflineByLocal {
		if a.goneUsers[id] {
			a.rep.Ignored++ // a late retry of the hire of one who has left since
			return nil
		}
		// the platform gave the id of one who left to someone new: the newcomer gets nothing
		// of theirs (roles, admin, signature, sessions); their record is kept aside
		if err := a.archive(old); err != nil {
			return err
		}
		old = nil
	}
	var rec *Member
	switch {
	case old != nil && old.Status == StatusOffline && old.OfflineBy != OfflineByLocal:
		if a.users[id] == nil {
			a.rep.Ignored++ // they left, and the platform says they have not come back
			return nil
		}
		rec = cloneMember(a.users[id])
	case ev.Refetch && a.users[id] != nil:
		rec = cloneMember(a.users[id]) // the platform's member as of now, whole
	case old != nil:
		rec = cloneMember(old)
		if ev.Patch != nil {
			rec = ev.Patch(rec)
		}
	case a.users[id] != nil:
		rec = cloneMember(a.users[id]) // fetched: the platform's member as of now
	case ev.Create && ev.Whole && !a.wasGone(id) && ev.Patch != nil:
		rec = ev.Patch(&Member{MemberID: id})
	default:
		a.rep.Ignored++ // a member the platform no longer has (or never let this app see)
		return nil
	}
	rec.MemberID = id
	if ev.DeptsNamed {
		a.ensureDepts(ev.Depts)
	}
	a.ensureDepts(rec.DeptIDs)
	place(rec, a.known, a.root)
	switch {
	case old == nil:
		rec.Status, rec.OfflineBy, rec.OfflineAt, rec.CreatedAt, rec.UpdatedAt = StatusActive, "", "", a.ts, a.ts
		a.rep.Added++
	default:
		rec.CreatedAt, rec.UpdatedAt = old.CreatedAt, a.ts
		rec.Status, rec.OfflineBy, rec.OfflineAt = old.Status, old.OfflineBy, old.OfflineAt
		if old.Status == StatusOffline && old.OfflineBy != OfflineByLocal {
			rec.Status, rec.OfflineBy, rec.OfflineAt = StatusActive, "", "" // back in the platform
			a.rep.Reactivated++
		} else if EncodeTail(rec) == EncodeTail(old) {
			return nil // nothing changed
		} else {
			a.rep.Updated++
		}
	}
	if old == nil {
		if _, err := a.tx.Delete(a.k.Gone(id)); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
	}
	a.setMember(rec)
	return nil
}

// cloneMember is a copy of m whose slices are its own.
func cloneMember(m *Member) *Member {
	c := *m
	c.DeptIDs, c.LeaderDeptIDs, c.DirectLeader = slices.Clone(m.DeptIDs), slices.Clone(m.LeaderDeptIDs), slices.Clone(m.DirectLeader)
	return &c
}

// archive moves a departed member's record, roles and signature to departed:, so that a
// newcomer given their id starts with none of it.
func (a *applier) archive(old *Member) error {
	id := old.MemberID
	kept := struct {
		Member    *Member         `json:"member"`
		Roles     []MemberRoleRec `json:"roles,omitempty"`
		Signature *SigRec         `json:"signature,omitempty"`
	}{Member: old}
	var moved []string // the keys of what is kept aside
	a.tx.Scan(a.k.MemberRoles(id), func(key, v string) bool {
		var r MemberRoleRec
		if json.Unmarshal([]byte(v), &r) == nil {
			kept.Roles = append(kept.Roles, r)
		}
		moved = append(moved, key)
		return true
	})
	var sig SigRec
	if a.tx.GetJSON(a.k.Sig(id), &sig) == nil {
		kept.Signature = &sig
		moved = append(moved, a.k.Sig(id))
	}
	for _, key := range moved {
		if _, err := a.tx.Delete(key); err != nil {
			return err
		}
	}
	a.leaveAdminsAndLeads(id)
	a.members[id] = nil
	a.rep.Warnings = append(a.rep.Warnings, fmt.Sprintf("the %s %q of a member who left was given to someone new: their record, roles and signature were kept aside; the newcomer starts with none", a.o.profile.MemberIDName, id))
	a.o.log.Info("a departed member's id was reused: their record was kept aside", "corp", a.o.name, "member", id)
	return a.tx.SetJSON(a.k.Departed(id, a.ts), kept)
}

// wasGone reports whether a departure named the id before it was known here.
func (a *applier) wasGone(id string) bool {
	_, err := a.tx.Get(a.k.Gone(id))
	return err == nil
}

// rename moves a member to a new id with what is theirs: roles, admin status, signature,
// tags, the departments they lead; the old id is remembered (renamed:) so that a session
// or a script that knew it finds the member.
func (a *applier) rename(oldID, newID string) error {
	old, err := a.member(oldID)
	if err != nil {
		return err
	}
	if old == nil {
		return a.tx.Set(a.k.Gone(oldID), a.ts) // a create of the old id that comes later is checked with the platform
	}
	if cur, err := a.member(newID); err != nil {
		return err
	} else if cur == nil {
		m := *old
		m.MemberID, m.UpdatedAt = newID, a.ts
		a.setMember(&m)
	}
	a.members[oldID] = nil
	delete(a.dirty, oldID)
	a.removed[oldID] = true
	a.rep.Renamed++
	tx, k := a.tx, a.k
	var roles []MemberRoleRec
	tx.Scan(k.MemberRoles(oldID), func(key, v string) bool {
		var r MemberRoleRec
		if json.Unmarshal([]byte(v), &r) == nil {
			roles = append(roles, r)
		}
		return true
	})
	for _, r := range roles {
		tx.Delete(k.MemberRole(oldID, r.RoleID))
		r.MemberID = newID
		if err := tx.SetJSON(k.MemberRole(newID, r.RoleID), r); err != nil {
			return err
		}
	}
	var sig SigRec
	if tx.GetJSON(k.Sig(oldID), &sig) == nil {
		tx.Delete(k.Sig(oldID))
		sig.MemberID = newID
		if err := tx.SetJSON(k.Sig(newID), sig); err != nil {
			return err
		}
	}
	if adm := a.adminList(); slices.Contains(adm.MemberIDs, oldID) {
		for i, id := range adm.MemberIDs {
			if id == oldID {
				adm.MemberIDs[i] = newID
			}
		}
		adm.UpdatedAt = a.ts
		a.dirtyAdmins = true
	}
	a.replaceInDepts(oldID, newID)
	a.replaceInTags(oldID, newID)
	return tx.Set(k.Renamed(oldID), newID)
}

// replaceInDepts renames (or, with newID "", removes) a member in the leaders of the local
// departments.
func (a *applier) replaceInDepts(oldID, newID string) {
	quoted := `"` + oldID + `"`
	var ids []int64
	a.tx.Scan(a.k.Depts(), func(key, v string) bool {
		if strings.Contains(v, quoted) {
			id, _ := strconv.ParseInt(strings.TrimPrefix(key, a.k.Depts()), 10, 64)
			ids = append(ids, id)
		}
		return true
	})
	for id := range a.deptRecs {
		ids = append(ids, id)
	}
	for _, id := range ids {
		d := a.dept(id)
		if d == nil || !slices.Contains(d.Leaders, oldID) {
			continue
		}
		c := *d
		c.Leaders = slices.DeleteFunc(slices.Clone(d.Leaders), func(l string) bool { return l == oldID && newID == "" })
		for i, l := range c.Leaders {
			if l == oldID {
				c.Leaders[i] = newID
			}
		}
		a.setDept(&c)
	}
}

func (a *applier) replaceInTags(oldID, newID string) {
	var ids []int64
	a.tx.Scan(a.k.Tags(), func(_, v string) bool {
		var t Tag
		if json.Unmarshal([]byte(v), &t) == nil && slices.Contains(t.MemberIDs, oldID) {
			ids = append(ids, t.TagID)
		}
		return true
	})
	for _, id := range ids {
		t := a.tag(id)
		if t == nil {
			continue
		}
		c := *t
		c.MemberIDs = slices.DeleteFunc(slices.Clone(t.MemberIDs), func(m string) bool { return m == oldID })
		if newID != "" && !slices.Contains(c.MemberIDs, newID) {
			c.MemberIDs = append(c.MemberIDs, newID)
			sort.Strings(c.MemberIDs)
		}
		a.tagRecs[id], a.tagDirty[id] = &c, true
	}
}

// memberLeft takes a member offline (never deleted: a member who comes back is the same
// one); they leave the admins and the departments they led.
func (a *applier) memberLeft(id string) error {
	m, err := a.member(id)
	if err != nil {
		return err
	}
	if m == nil {
		return a.tx.Set(a.k.Gone(id), a.ts) // a create that comes later is checked with the platform
	}
	if m.Status != StatusOffline {
		c := *m
		c.Status, c.OfflineBy, c.OfflineAt, c.UpdatedAt = StatusOffline, OfflineBySync, a.ts, a.ts
		a.setMember(&c)
		a.rep.Offlined++
	}
	a.leaveAdminsAndLeads(id)
	return nil
}

// leaveAdminsAndLeads takes a member off the admins and the departments they lead.
func (a *applier) leaveAdminsAndLeads(id string) {
	if adm := a.adminList(); slices.Contains(adm.MemberIDs, id) {
		adm.MemberIDs = slices.DeleteFunc(adm.MemberIDs, func(x string) bool { return x == id })
		adm.UpdatedAt = a.ts
		a.dirtyAdmins = true
	}
	a.replaceInDepts(id, "")
}

func (a *applier) applyDept(ev *Event) {
	platform := a.o.profile.Platform
	id := ev.DeptID
	cur := a.dept(id)
	var d Dept
	switch {
	case ev.Refetch && a.depts[id] != nil:
		d = *a.depts[id] // the platform's department as of now, whole
		d.Leaders = slices.Clone(d.Leaders)
	case ev.Refetch:
		a.rep.Ignored++ // gone from the platform since (its remove event follows)
		return
	case cur != nil:
		d = *cur
		d.Leaders = slices.Clone(cur.Leaders)
		if ev.DeptName != nil {
			d.Name = *ev.DeptName
		}
		if ev.DeptParent != nil {
			d.ParentID = *ev.DeptParent
		}
		if ev.DeptOrder != nil {
			d.Order = *ev.DeptOrder
		}
	case a.depts[id] != nil:
		d = *a.depts[id]
		d.Leaders = slices.Clone(d.Leaders)
	case ev.DeptName != nil:
		d = Dept{DeptID: id, Name: *ev.DeptName}
		if ev.DeptParent != nil {
			d.ParentID = *ev.DeptParent
		}
		if ev.DeptOrder != nil {
			d.Order = *ev.DeptOrder
		}
	default:
		a.rep.Ignored++
		return
	}
	if why := a.breaksTree(d); why != "" {
		refused := fmt.Sprintf("an event for department %d (%q) was refused: %s", id, d.Name, why)
		f := a.depts[id] // the platform's record, fetched for a move
		if f == nil {
			a.refuse(refused + "; the next sync reconciles from " + platform)
			return
		}
		truth := *f
		truth.Leaders = slices.Clone(f.Leaders)
		if a.breaksTree(truth) != "" {
			a.refuse(refused + "; the next sync reconciles from " + platform)
			return
		}
		a.refuse(refused + "; " + platform + "'s own record of it was applied")
		d = truth
	}
	if cur != nil && MustJSON(&d) == MustJSON(cur) {
		return
	}
	if cur == nil {
		a.rep.Departments.Added++
	} else {
		a.rep.Departments.Updated++
	}
	a.setDept(&d)
}

// breaksTree says why department d, as an event would make it, would break the tree ("" if
// it would not): the root given a parent, a department its own parent, or a parent in its
// own subtree (a cycle).
func (a *applier) breaksTree(d Dept) string {
	switch {
	case d.DeptID == a.root:
		if d.ParentID != 0 && d.ParentID != a.rootParent() {
			return fmt.Sprintf("the root cannot be moved under department %d", d.ParentID)
		}
		return ""
	case d.ParentID == d.DeptID:
		return "a department cannot be its own parent"
	case d.ParentID == 0:
		return "only the root has no parent"
	}
	seen := map[int64]bool{d.DeptID: true}
	for p := d.ParentID; p != 0 && p != a.root; {
		if seen[p] {
			return fmt.Sprintf("its new parent %d is in its own subtree: the tree would have a cycle", d.ParentID)
		}
		seen[p] = true
		up := a.dept(p)
		if up == nil {
			return "" // a parent not known here yet: the department is placed when it comes
		}
		p = up.ParentID
	}
	return ""
}

// rootParent is the parent the root department has (0 on most platforms).
func (a *applier) rootParent() int64 {
	if r := a.dept(a.root); r != nil {
		return r.ParentID
	}
	return 0
}

// maxRefusalsShown is how many refusals a report's warnings spell out (all are counted
// and logged).
const maxRefusalsShown = 20

// refuse counts and logs an event refused for what it would have broken.
func (a *applier) refuse(why string) {
	a.rep.Refused++
	if a.rep.Refused <= maxRefusalsShown {
		a.rep.Warnings = append(a.rep.Warnings, why)
	}
	a.o.log.Warn("a change event was refused", "corp", a.o.name, "why", why)
}

func (a *applier) applyTag(ev *Event) {
	id := ev.TagID
	cur := a.tag(id)
	var t Tag
	switch {
	case cur != nil:
		t = *cur
		t.MemberIDs, t.DeptIDs = slices.Clone(cur.MemberIDs), slices.Clone(cur.DeptIDs)
		for _, u := range ev.TagAddMembers {
			if !slices.Contains(t.MemberIDs, u) {
				t.MemberIDs = append(t.MemberIDs, u)
			}
		}
		t.MemberIDs = slices.DeleteFunc(t.MemberIDs, func(u string) bool { return slices.Contains(ev.TagDelMembers, u) })
		for _, p := range ev.TagAddDepts {
			if !slices.Contains(t.DeptIDs, p) {
				t.DeptIDs = append(t.DeptIDs, p)
			}
		}
		t.DeptIDs = slices.DeleteFunc(t.DeptIDs, func(p int64) bool { return slices.Contains(ev.TagDelDepts, p) })
	case a.tags[id] != nil:
		f := a.tags[id]
		t = Tag{TagID: id, Name: f.Name, MemberIDs: slices.Clone(f.MemberIDs), DeptIDs: slices.Clone(f.DeptIDs)}
	default:
		a.rep.Ignored++
		return
	}
	if t.MemberIDs == nil {
		t.MemberIDs = []string{}
	}
	if t.DeptIDs == nil {
		t.DeptIDs = []int64{}
	}
	sort.Strings(t.MemberIDs)
	slices.Sort(t.DeptIDs)
	if cur != nil && MustJSON(&t) == MustJSON(cur) {
		return
	}
	if cur == nil {
		a.rep.Tags.Added++
	} else {
		a.rep.Tags.Updated++
	}
	a.tagRecs[id], a.tagDirty[id] = &t, true
}

// flush writes what the batch changed.
func (a *applier) flush() error {
	tx, k := a.tx, a.k
	for _, id := range slices.Sorted(maps.Keys(a.removed)) {
		if err := RemoveMember(tx, k, id); err != nil {
			return err
		}
		a.rep.Writes++
	}
	for _, id := range slices.Sorted(maps.Keys(a.dirty)) {
		if err := tx.Set(k.Member(id), EncodeMember(a.members[id])); err != nil {
			return err
		}
		a.rep.Writes++
	}
	for id := range a.deptDirty {
		var err error
		if d := a.deptRecs[id]; d == nil {
			_, err = tx.Delete(k.Dept(id))
			if err == nil {
				_, err = tx.Delete(k.DeptRole(id)) // its grants go with it
			}
		} else {
			err = tx.Set(k.Dept(id), MustJSON(d))
		}
		if err != nil {
			return err
		}
		a.rep.Writes++
	}
	for id := range a.tagDirty {
		if err := tx.Set(k.Tag(id), MustJSON(a.tagRecs[id])); err != nil {
			return err
		}
		a.rep.Writes++
	}
	if a.dirtyAdmins {
		if err := tx.SetJSON(k.Admins(), a.admins); err != nil {
			return err
		}
		a.rep.Writes++
	}
	return nil
}

// afterBatch counts a batch's failure (or its success) toward setting an event aside.
func (e *Engine) afterBatch(ctx context.Context, batch []queuedEvent, n int, err error) (int, error) {
	head := batch[0].key
	switch {
	case err == nil:
		if e.isolate > 0 {
			e.isolate--
		}
		if e.failHead == head {
			e.failHead, e.failures = "", 0
		}
		return n, nil
	case ctx.Err() != nil || elements.CodeOf(err) == elements.CodeUnavailable:
		return n, err // the platform or the store is out of reach: tried again as it is
	case len(batch) > 1:
		e.isolate = len(batch) // find the event that fails, one at a time
		return n, err
	}
	if e.failHead != head {
		e.failHead, e.failures = head, 0
	}
	e.failures++
	if e.failures < maxAttempts {
		return n, err
	}
	if serr := e.setAside(ctx, batch[0], err); serr != nil {
		return n, errors.Join(err, serr)
	}
	e.failHead, e.failures = "", 0
	if e.isolate > 0 {
		e.isolate--
	}
	return 1, nil
}

// setAsideRec is an event set aside.
type setAsideRec struct {
	Seq      string `json:"seq"`
	Kind     string `json:"kind"`
	ID       string `json:"id"`
	Error    string `json:"error"`
	Attempts int    `json:"attempts"`
	At       string `json:"at"`
	Message  string `json:"message"` // the event as the platform sent it
}

// setAside moves an event that keeps failing out of the queue into evdead:, with its
// error, and says so in the org's history and metrics; the next sync repairs what it
// would have changed.
func (e *Engine) setAside(ctx context.Context, q queuedEvent, cause error) error {
	o := e.dir
	start := time.Now()
	seq := strings.TrimPrefix(q.key, o.keys.EventQueue())
	rec := setAsideRec{Seq: seq, Error: cause.Error(), Attempts: maxAttempts, At: Now()}
	if q.ev != nil {
		rec.Kind, rec.ID = q.ev.Name, q.ev.ID()
	}
	unlock, err := o.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	err = o.update(ctx, func(tx *kv.Tx) error {
		raw, err := tx.Get(q.key)
		if errors.Is(err, kv.ErrNotFound) {
			return nil // applied or set aside meanwhile by another process
		}
		if err != nil {
			return err
		}
		rec.Message = raw
		if err := tx.SetJSON(o.keys.setAside(seq), rec); err != nil {
			return err
		}
		if _, err := tx.Delete(q.key); err != nil {
			return err
		}
		rep := &SyncReport{Kind: "events", SetAside: 1, StartedAt: start.UTC().Format(time.RFC3339Nano), Changes: []Change{},
			Warnings: []string{fmt.Sprintf("a %s %s event (%s) failed %d times and was set aside: %s; the events after it went on, and the next sync repairs what it would have changed",
				o.profile.Platform, orNone(rec.Kind), orNone(rec.ID), maxAttempts, rec.Error)}}
		return o.keepEventReport(tx, rep, start)
	})
	if err != nil {
		return fmt.Errorf("set a failing event aside: %w", err)
	}
	elements.Count(e.cfg.Observer, "events_set_aside", o.name, 1)
	o.log.Error("a change event that keeps failing was set aside", "corp", o.name, "seq", seq, "kind", rec.Kind, "id", rec.ID, "err", rec.Error)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// SetAsideEvents lists the events set aside, newest first.
func (e *Engine) SetAsideEvents() ([]any, error) {
	o := e.dir
	out := []any{}
	err := o.store.View(func(tx *kv.Tx) error {
		return tx.ScanReverse(o.keys.setAsides(), func(_, v string) bool {
			var r setAsideRec
			if json.Unmarshal([]byte(v), &r) == nil {
				out = append(out, map[string]any{"seq": r.Seq, "kind": r.Kind, "id": r.ID, "error": r.Error, "attempts": float64(r.Attempts), "at": r.At})
			}
			return true
		})
	})
	return out, err
}
