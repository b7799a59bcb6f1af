package corps

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
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/callback"
)

// # Applying events
//
// The applier takes the queued events of a corp in the order they came, a batch at a time,
// and applies each batch in one transaction that also takes it off the queue: a process
// killed at any moment applies each event once. An event changes only what it carries (a
// partial update_user its fields; a withheld field keeps its local value). An event that
// names a member, department or tag the local org does not know (or that carries only ids,
// as the contact-sync assistant's since 2022-08-15) fetches just that record from WeCom
// (user/get, department/get, tag/get) before the transaction. A whole-org sync holds the
// applier off while it runs, and the events that came meanwhile apply after it.
//
//	renamed:<old userid>   the member's userid since WeCom renamed it

// maxBatch is the most events one transaction applies.
const maxBatch = 2000

// maxAttempts is how many times an event that fails alone is tried before it is set aside.
const maxAttempts = 5

// evdead:<seq>           an event set aside after maxAttempts failures, with the error
func (k eventKeys) setAside(seq string) string { return k.prefix + "evdead:" + seq }
func (k eventKeys) setAsides() string          { return k.prefix + "evdead:" }

// startApplier starts the committer and the applier (jitrt run).
func (c *Corp) startApplier() {
	r := c.recv
	r.writes = make(chan *queued, 4096)
	r.stop = make(chan struct{})
	r.done = make(chan struct{})
	c.applierDone = make(chan struct{})
	go c.commit()
	go c.applyLoop()
}

// stopApplier stops both (queued events stay in the store for the next instance).
func (c *Corp) stopApplier() {
	if c.recv == nil || c.recv.stop == nil {
		return
	}
	close(c.recv.stop)
	<-c.recv.done
	<-c.applierDone
}

func (c *Corp) applyLoop() {
	defer close(c.applierDone)
	ctx := c.lifetime()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for {
			n, err := c.applyQueued(ctx)
			if err != nil {
				if ctx.Err() == nil {
					c.el.Logger.Error("applying WeCom events failed; they stay queued", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-c.recv.stop:
			return
		case <-c.recv.wake:
		case <-tick.C:
		}
	}
}

// ApplyQueued applies the queued events now (what the applier does in jitrt run); it
// returns how many it applied.
func (c *Corp) ApplyQueued(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := c.applyQueued(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

type queuedEvent struct {
	key string
	ev  *callback.Event
}

// applyQueued applies one batch of queued events. A batch that fails for another reason
// than WeCom being out of reach is applied again one event at a time, and an event that
// fails alone maxAttempts times is set aside (setAside): the events after it go on.
func (c *Corp) applyQueued(ctx context.Context) (n int, err error) {
	release := c.engine.HoldSyncs()
	defer release()
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	limit := maxBatch
	if c.isolate > 0 {
		limit = 1
	}
	var batch []queuedEvent
	defer func() {
		if r := recover(); r != nil {
			err = c.el.App.Recovered(c.el.FullName+" apply events", r)
		}
		if len(batch) > 0 {
			n, err = c.afterBatch(ctx, batch, n, err)
		}
	}()
	bad := 0
	if err := c.el.Store.View(func(tx *kv.Tx) error {
		return tx.Scan(c.evk.eventQueue(), func(key, v string) bool {
			ev, err := callback.ParseEvent([]byte(v))
			if err != nil {
				bad++ // stored by an older jitrt, or damaged: dropped with the batch
				ev = nil
			}
			batch = append(batch, queuedEvent{key, ev})
			return len(batch) < limit
		})
	}); err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		return 0, nil
	}
	start := time.Now()
	if _, err := c.wecomClient(); err != nil {
		return 0, err
	}
	a := &applier{c: c, k: c.keys, rep: &org.SyncReport{Kind: "events", Warnings: []string{}, StartedAt: start.UTC().Format(time.RFC3339Nano)},
		users: map[string]*wecom.User{}, goneUsers: map[string]bool{}, depts: map[int64]*wecom.Department{}, tags: map[int64]*wecom.TagDetail{}}
	if err := a.fetchMissing(ctx, batch); err != nil {
		return 0, err
	}
	unlock, err := c.dir.Lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	taken := 0
	err = c.el.Store.Update(func(tx *kv.Tx) error {
		a.begin(tx)
		taken = 0
		for _, q := range batch {
			if _, err := tx.Get(q.key); errors.Is(err, kv.ErrNotFound) {
				continue // applied meanwhile by another process that shares the store
			}
			taken++
			if q.ev != nil {
				if h := hooks.Load(); h != nil && h.Apply != nil {
					if err := h.Apply(q.ev); err != nil {
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
		return c.keepEventReport(tx, a.rep, start)
	})
	if err != nil {
		return 0, err
	}
	if bad > 0 {
		c.el.Logger.Warn("queued WeCom events that could not be read were dropped", "events", bad)
	}
	c.el.Observer.Observe("events_applied", c.el.FullName, time.Since(start), nil)
	c.el.Logger.Debug("WeCom events applied", "events", a.rep.Events, "added", a.rep.Added, "updated", a.rep.Updated,
		"offlined", a.rep.Offlined, "departments", a.rep.Departments, "fetched", a.rep.Fetched, "took", time.Since(start).Round(time.Microsecond))
	return taken, nil
}

// keepEventReport adds a batch's counts to the corp's history: into the events report of
// the last minute, or a new one (so a busy stream of events keeps one report a minute).
func (c *Corp) keepEventReport(tx *kv.Tx, rep *org.SyncReport, start time.Time) error {
	finished := time.Now()
	rep.FinishedAt = finished.UTC().Format(time.RFC3339Nano)
	rep.DurationMs = finished.Sub(start).Milliseconds()
	var lastKey, lastRaw string
	tx.ScanReverse(c.keys.Syncs(), func(k, v string) bool { lastKey, lastRaw = k, v; return false })
	var last org.SyncReport
	if lastRaw != "" && json.Unmarshal([]byte(lastRaw), &last) == nil && last.Kind == "events" {
		if at, err := time.Parse(time.RFC3339Nano, last.StartedAt); err == nil && start.Sub(at) < time.Minute {
			last.Merge(rep)
			return tx.Set(lastKey, org.MustJSON(&last))
		}
	}
	if err := tx.Set(c.keys.Sync(start), org.MustJSON(rep)); err != nil {
		return err
	}
	var keysNow []string
	tx.Scan(c.keys.Syncs(), func(k, _ string) bool { keysNow = append(keysNow, k); return true })
	for len(keysNow) > org.MaxHistory {
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
	c   *Corp
	k   org.Keys
	tx  *kv.Tx
	rep *org.SyncReport
	ts  string

	// fetched from WeCom before the transaction
	users map[string]*wecom.User
	// goneUsers are userids fetched because of an event and not found in WeCom
	goneUsers map[string]bool
	depts     map[int64]*wecom.Department
	tags      map[int64]*wecom.TagDetail

	members     map[string]*org.Member // read or changed; nil: known not to exist
	dirty       map[string]bool
	removed     map[string]bool // renamed away
	deptRecs    map[int64]*org.Dept
	deptDirty   map[int64]bool
	known       map[int64]bool // the departments of the local wo
	root        int64
	tagRecs     map[int64]*org.Tag
	tagDirty    map[int64]bool
	admins      *org.Admins
	adminsSet   bool
	dirtyAdmins bool
}

// fetchMissing fetches, before the transaction, what the batch names and the local wo
// does not have, or what an event carries too little of.
func (a *applier) fetchMissing(ctx context.Context, batch []queuedEvent) error {
	client, err := a.c.wecomClient()
	if err != nil {
		return err
	}
	needUser, needDept, needTag := map[string]bool{}, map[int64]bool{}, map[int64]bool{}
	moved := map[int64]bool{} // departments an event moves
	err = a.c.el.Store.View(func(tx *kv.Tx) error {
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
			switch ev.Kind() {
			case callback.CreateUser, callback.UpdateUser:
				id := ev.User()
				if ev.NewUser() != "" {
					id = ev.NewUser()
				}
				raw, exists, err := org.GetMember(tx, a.k, ev.User())
				if err != nil {
					return err
				}
				full := ev.Kind() == callback.CreateUser && ev.UserFields()
				if !exists && !created[id] && !full {
					needUser[id] = true
				}
				if _, err := tx.Get(a.k.Gone(id)); err == nil && !exists && !created[id] {
					needUser[id] = true // deleted before: WeCom says whether it exists now
				}
				if ev.NewUser() != "" && exists {
					if _, taken, err := org.GetMember(tx, a.k, ev.NewUser()); err != nil {
						return err
					} else if taken {
						// a rename onto an id held here is refused; whether the old id still
						// exists in WeCom says whether its record is stale (a sync met the
						// new id first) or the event is wrong
						needUser[ev.User()] = true
					}
				}
				if exists && !created[id] {
					// an event for a member who left WeCom: WeCom's word decides whether they
					// are back, not the event's (a retry of an older event comes late)
					if m, err := org.DecodeMember(raw); err == nil && m.Status == org.StatusOffline && m.OfflineBy != org.OfflineByLocal {
						needUser[id] = true
					}
				}
				created[id] = true
				if d, ok := ev.Departments(); ok && len(a.c.cfg.Scope) == 0 {
					for _, dept := range d {
						if !knownDept(dept) {
							needDept[dept] = true
						}
					}
				}
			case callback.CreateParty, callback.UpdateParty:
				id, _ := ev.DeptID()
				if (ev.Kind() == callback.CreateParty && ev.Name == nil) || (ev.Kind() == callback.UpdateParty && !knownDept(id)) {
					needDept[id] = true
				}
				if ev.Kind() == callback.UpdateParty && ev.ParentID != nil {
					// a move: WeCom's own record is at hand if the event would break the tree
					moved[id] = true
				}
			case callback.UpdateTag:
				if _, err := tx.Get(a.k.Tag(ev.Tag())); errors.Is(err, kv.ErrNotFound) {
					needTag[ev.Tag()] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	gone := func(err error) bool {
		code := wecom.CodeOf(err)
		return code == wecom.CodeUserNotFound || code == wecom.CodeInvalidUserID || code == wecom.CodeDeptNotFound ||
			code == wecom.CodeInvalidDepartment || code == wecom.CodeInvalidTagID || code == wecom.CodeNoPermission
	}
	for _, id := range sortedKeys(needUser) {
		u, err := client.GetUser(ctx, id)
		if gone(err) {
			a.goneUsers[id] = true
			continue // gone since, or outside the app's view: the event is ignored
		}
		if err != nil {
			return a.c.wecomErr("fetch a member named by an event", err)
		}
		a.users[id] = u
		a.rep.Fetched.Members++
		if len(a.c.cfg.Scope) == 0 {
			for _, d := range u.Department {
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
			a.c.el.Store.View(func(tx *kv.Tx) error { _, err := tx.Get(a.k.Dept(id)); known = err == nil; return nil })
			if known && id != 0 {
				continue
			}
			d, err := client.GetDepartment(ctx, id)
			if gone(err) {
				a.depts[id] = nil
				continue
			}
			if err != nil {
				return a.c.wecomErr("fetch a department named by an event", err)
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
		d, err := client.GetDepartment(ctx, id)
		if gone(err) {
			continue
		}
		if err != nil {
			return a.c.wecomErr("fetch a department an event moves", err)
		}
		a.depts[id] = d
		a.rep.Fetched.Departments++
	}
	for id := range needTag {
		t, err := client.GetTag(ctx, id)
		if gone(err) {
			continue
		}
		if err != nil {
			return a.c.wecomErr("fetch a tag named by an event", err)
		}
		a.tags[id] = t
		a.rep.Fetched.Tags++
	}
	return nil
}

func (a *applier) begin(tx *kv.Tx) {
	a.tx, a.ts = tx, org.Now()
	a.members, a.dirty, a.removed = map[string]*org.Member{}, map[string]bool{}, map[string]bool{}
	a.deptRecs, a.deptDirty, a.known = map[int64]*org.Dept{}, map[int64]bool{}, map[int64]bool{}
	a.tagRecs, a.tagDirty = map[int64]*org.Tag{}, map[int64]bool{}
	tx.Scan(a.k.Depts(), func(key, _ string) bool {
		id, _ := strconv.ParseInt(strings.TrimPrefix(key, a.k.Depts()), 10, 64)
		a.known[id] = true
		return true
	})
	var meta org.Meta
	tx.GetJSON(a.k.Meta(), &meta)
	a.root = meta.RootDeptID
}

// member reads a member through the overlay (nil if there is none).
func (a *applier) member(id string) (*org.Member, error) {
	if m, ok := a.members[id]; ok {
		return m, nil
	}
	raw, ok, err := org.GetMember(a.tx, a.k, id)
	if err != nil || !ok {
		a.members[id] = nil
		return nil, err
	}
	m, err := org.DecodeMember(raw)
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", id, err)
	}
	a.members[id] = m
	return m, nil
}

func (a *applier) setMember(m *org.Member) {
	a.members[m.MemberID] = m
	a.dirty[m.MemberID] = true
	delete(a.removed, m.MemberID)
}

// dept reads a department through the overlay (nil if there is none).
func (a *applier) dept(id int64) *org.Dept {
	if d, ok := a.deptRecs[id]; ok {
		return d
	}
	var d org.Dept
	if err := a.tx.GetJSON(a.k.Dept(id), &d); err != nil {
		a.deptRecs[id] = nil
		return nil
	}
	a.deptRecs[id] = &d
	return &d
}

func (a *applier) setDept(d *org.Dept) {
	if d.Leaders == nil {
		d.Leaders = []string{}
	}
	a.deptRecs[d.DeptID], a.deptDirty[d.DeptID], a.known[d.DeptID] = d, true, true
}

func (a *applier) tag(id int64) *org.Tag {
	if t, ok := a.tagRecs[id]; ok {
		return t
	}
	var t org.Tag
	if err := a.tx.GetJSON(a.k.Tag(id), &t); err != nil {
		a.tagRecs[id] = nil
		return nil
	}
	a.tagRecs[id] = &t
	return &t
}

func (a *applier) adminList() *org.Admins {
	if !a.adminsSet {
		a.admins = &org.Admins{}
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
			a.setDept(&org.Dept{DeptID: d.ID, Name: d.Name, NameEn: d.NameEn, ParentID: d.ParentID, Order: d.Order, Leaders: d.Leaders})
			a.rep.Departments.Added++
			id = d.ParentID
		}
	}
}

// apply applies one event to the overlay.
func (a *applier) apply(ev *callback.Event) error {
	if why := ev.Oversized(); why != "" {
		a.refuse(fmt.Sprintf("a %s event was refused: %s; the next sync reconciles from WeCom", ev.Kind(), why))
		return nil
	}
	switch ev.Kind() {
	case callback.CreateUser, callback.UpdateUser:
		return a.applyUser(ev)
	case callback.DeleteUser:
		return a.deleteUser(ev.User())
	case callback.CreateParty, callback.UpdateParty:
		a.applyParty(ev)
	case callback.DeleteParty:
		id, _ := ev.DeptID()
		if id == a.root {
			a.refuse(fmt.Sprintf("a delete of department %d, the org's root, was refused; the next sync reconciles from WeCom", id))
			return nil
		}
		if a.dept(id) != nil {
			a.deptRecs[id], a.deptDirty[id] = nil, true
			delete(a.known, id)
			a.rep.Departments.Removed++
		}
	case callback.UpdateTag:
		a.applyTag(ev)
	}
	return nil
}

func (a *applier) applyUser(ev *callback.Event) error {
	id := ev.User()
	if newID := ev.NewUser(); newID != "" && newID != id {
		if taken, err := a.member(newID); err != nil {
			return err
		} else if taken != nil {
			// An identity is never handed over by an id: B's record (active or offline, a
			// departed member whose id WeCom let be reused) keeps its roles, admin,
			// signature and sessions, and A keeps theirs. The next sync takes WeCom's truth.
			a.refuse(fmt.Sprintf("a rename of member %q onto %q was refused: %q is another member's record (%s); the next sync reconciles from WeCom", id, newID, newID, taken.Status))
			if a.goneUsers[id] {
				// WeCom has no such userid any more: its record here is stale (the sync met the new
				// id first). It goes offline, as a departure does; nothing of it moves.
				return a.deleteUser(id)
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
	if ev.Kind() == callback.CreateUser && old != nil && old.Status == org.StatusOffline && old.OfflineBy != org.OfflineByLocal {
		if a.goneUsers[id] {
			a.rep.Ignored++ // a late retry of the hire of one who has left since
			return nil
		}
		// WeCom gave the userid of one who left to someone new: the newcomer gets nothing
		// of theirs (roles, admin, signature, sessions); their record is kept aside
		if err := a.archive(old); err != nil {
			return err
		}
		old = nil
	}
	var u *wecom.User
	switch {
	case old != nil && old.Status == org.StatusOffline && old.OfflineBy != org.OfflineByLocal:
		if a.users[id] == nil {
			a.rep.Ignored++ // they left, and WeCom says they have not come back
			return nil
		}
		u = a.users[id]
	case old != nil:
		u = toWeCom(old)
		ev.ApplyTo(u)
	case a.users[id] != nil:
		u = a.users[id] // fetched: WeCom's member as of now
	case ev.Kind() == callback.CreateUser && ev.UserFields() && !a.wasGone(id):
		u = &wecom.User{UserID: id}
		ev.ApplyTo(u)
	default:
		a.rep.Ignored++ // a member WeCom no longer has (or never let this app see)
		return nil
	}
	if u.Status == 0 {
		u.Status = 1
	}
	if d, ok := ev.Departments(); ok {
		a.ensureDepts(d)
	}
	a.ensureDepts(u.Department)
	rec, _ := memberFromWeCom(u, a.known, a.root)
	switch {
	case old == nil:
		rec.Status, rec.CreatedAt, rec.UpdatedAt = org.StatusActive, a.ts, a.ts
		a.rep.Added++
	default:
		rec.CreatedAt, rec.UpdatedAt = old.CreatedAt, a.ts
		rec.Status, rec.OfflineBy, rec.OfflineAt = old.Status, old.OfflineBy, old.OfflineAt
		if old.Status == org.StatusOffline && old.OfflineBy != org.OfflineByLocal {
			rec.Status, rec.OfflineBy, rec.OfflineAt = org.StatusActive, "", "" // back in WeCom
			a.rep.Reactivated++
		} else if org.EncodeTail(rec) == org.EncodeTail(old) {
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

// archive moves a departed member's record, roles and signature to departed:, so that a
// newcomer given their userid starts with none of it.
func (a *applier) archive(old *org.Member) error {
	id := old.MemberID
	kept := struct {
		Member    *org.Member         `json:"member"`
		Roles     []org.MemberRoleRec `json:"roles,omitempty"`
		Signature *org.SigRec         `json:"signature,omitempty"`
	}{Member: old}
	var moved []string // the keys of what is kept aside
	a.tx.Scan(a.k.MemberRoles(id), func(key, v string) bool {
		var r org.MemberRoleRec
		if json.Unmarshal([]byte(v), &r) == nil {
			kept.Roles = append(kept.Roles, r)
		}
		moved = append(moved, key)
		return true
	})
	var sig org.SigRec
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
	a.rep.Warnings = append(a.rep.Warnings, fmt.Sprintf("the userid %q of a member who left was given to someone new: their record, roles and signature were kept aside; the newcomer starts with none", id))
	a.c.el.Logger.Info("a departed member's userid was reused: their record was kept aside", "corp", a.c.el.FullName, "member", id)
	return a.tx.SetJSON(a.k.Departed(id, a.ts), kept)
}

// wasGone reports whether a delete_user named the userid before it was known here.
func (a *applier) wasGone(id string) bool {
	_, err := a.tx.Get(a.k.Gone(id))
	return err == nil
}

// rename moves a member to a new userid with what is theirs: roles, admin status,
// signature, tags, the departments they lead; the old id is remembered (renamed:) so that
// a session or a script that knew it finds the member.
func (a *applier) rename(oldID, newID string) error {
	old, err := a.member(oldID)
	if err != nil {
		return err
	}
	if old == nil {
		return a.tx.Set(a.k.Gone(oldID), a.ts) // a create of the old id that comes later is checked with WeCom
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
	var roles []org.MemberRoleRec
	tx.Scan(k.MemberRoles(oldID), func(key, v string) bool {
		var r org.MemberRoleRec
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
	var sig org.SigRec
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
		a.adminsDirty()
	}
	a.replaceInDepts(oldID, newID)
	a.replaceInTags(oldID, newID)
	return tx.Set(k.Renamed(oldID), newID)
}

func (a *applier) adminsDirty() { a.dirtyAdmins = true }

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
		var t org.Tag
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

// deleteUser takes a member offline (never deleted: a member who comes back is the same
// one); they leave the admins and the departments they led.
func (a *applier) deleteUser(id string) error {
	m, err := a.member(id)
	if err != nil {
		return err
	}
	if m == nil {
		return a.tx.Set(a.k.Gone(id), a.ts) // a create that comes later is checked with WeCom
	}
	if m.Status != org.StatusOffline {
		c := *m
		c.Status, c.OfflineBy, c.OfflineAt, c.UpdatedAt = org.StatusOffline, org.OfflineBySync, a.ts, a.ts
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
		a.adminsDirty()
	}
	a.replaceInDepts(id, "")
}

func (a *applier) applyParty(ev *callback.Event) {
	id, _ := ev.DeptID()
	cur := a.dept(id)
	var d org.Dept
	switch {
	case cur != nil:
		d = *cur
		d.Leaders = slices.Clone(cur.Leaders)
		if ev.Name != nil {
			d.Name = ev.Name.V
		}
		if ev.ParentID != nil {
			d.ParentID, _ = strconv.ParseInt(strings.TrimSpace(ev.ParentID.V), 10, 64)
		}
		if ev.Order != nil {
			d.Order, _ = strconv.ParseInt(strings.TrimSpace(ev.Order.V), 10, 64)
		}
	case a.depts[id] != nil:
		f := a.depts[id]
		d = org.Dept{DeptID: f.ID, Name: f.Name, NameEn: f.NameEn, ParentID: f.ParentID, Order: f.Order, Leaders: slices.Clone(f.Leaders)}
	case ev.Name != nil:
		d = org.Dept{DeptID: id, Name: ev.Name.V}
		if ev.ParentID != nil {
			d.ParentID, _ = strconv.ParseInt(strings.TrimSpace(ev.ParentID.V), 10, 64)
		}
		if ev.Order != nil {
			d.Order, _ = strconv.ParseInt(strings.TrimSpace(ev.Order.V), 10, 64)
		}
	default:
		a.rep.Ignored++
		return
	}
	if why := a.breaksTree(d); why != "" {
		refused := fmt.Sprintf("an event for department %d (%q) was refused: %s", id, d.Name, why)
		f := a.depts[id] // WeCom's record, fetched for a move
		if f == nil {
			a.refuse(refused + "; the next sync reconciles from WeCom")
			return
		}
		truth := org.Dept{DeptID: f.ID, Name: f.Name, NameEn: f.NameEn, ParentID: f.ParentID, Order: f.Order, Leaders: slices.Clone(f.Leaders)}
		if a.breaksTree(truth) != "" {
			a.refuse(refused + "; the next sync reconciles from WeCom")
			return
		}
		a.refuse(refused + "; WeCom's own record of it was applied")
		d = truth
	}
	if cur != nil && org.MustJSON(&d) == org.MustJSON(cur) {
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
func (a *applier) breaksTree(d org.Dept) string {
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

// rootParent is the parent the root department has (0 in WeCom).
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
	a.c.el.Logger.Warn("a change event was refused", "corp", a.c.el.FullName, "why", why)
}

func (a *applier) applyTag(ev *callback.Event) {
	id := ev.Tag()
	cur := a.tag(id)
	var t org.Tag
	switch {
	case cur != nil:
		t = *cur
		t.MemberIDs, t.DeptIDs = slices.Clone(cur.MemberIDs), slices.Clone(cur.DeptIDs)
		addU, delU, addP, delP := ev.TagItems()
		for _, u := range addU {
			if !slices.Contains(t.MemberIDs, u) {
				t.MemberIDs = append(t.MemberIDs, u)
			}
		}
		t.MemberIDs = slices.DeleteFunc(t.MemberIDs, func(u string) bool { return slices.Contains(delU, u) })
		for _, p := range addP {
			if !slices.Contains(t.DeptIDs, p) {
				t.DeptIDs = append(t.DeptIDs, p)
			}
		}
		t.DeptIDs = slices.DeleteFunc(t.DeptIDs, func(p int64) bool { return slices.Contains(delP, p) })
	case a.tags[id] != nil:
		f := a.tags[id]
		t = org.Tag{TagID: id, Name: f.TagName, DeptIDs: slices.Clone(f.PartyList)}
		for _, tu := range f.UserList {
			t.MemberIDs = append(t.MemberIDs, tu.UserID)
		}
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
	if cur != nil && org.MustJSON(&t) == org.MustJSON(cur) {
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
	for _, id := range sortedKeys(a.removed) {
		if err := org.RemoveMember(tx, k, id); err != nil {
			return err
		}
		a.rep.Writes++
	}
	for _, id := range sortedKeys(a.dirty) {
		if err := tx.Set(k.Member(id), org.EncodeMember(a.members[id])); err != nil {
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
			err = tx.Set(k.Dept(id), org.MustJSON(d))
		}
		if err != nil {
			return err
		}
		a.rep.Writes++
	}
	for id := range a.tagDirty {
		if err := tx.Set(k.Tag(id), org.MustJSON(a.tagRecs[id])); err != nil {
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// afterBatch counts a batch's failure (or its success) toward setting an event aside.
func (c *Corp) afterBatch(ctx context.Context, batch []queuedEvent, n int, err error) (int, error) {
	head := batch[0].key
	switch {
	case err == nil:
		if c.isolate > 0 {
			c.isolate--
		}
		if c.failHead == head {
			c.failHead, c.failures = "", 0
		}
		return n, nil
	case ctx.Err() != nil || errors.Is(err, wecom.ErrTransport) || elements.CodeOf(err) == elements.CodeUnavailable:
		return n, err // WeCom or the store is out of reach: tried again as it is
	case len(batch) > 1:
		c.isolate = len(batch) // find the event that fails, one at a time
		return n, err
	}
	if c.failHead != head {
		c.failHead, c.failures = head, 0
	}
	c.failures++
	if c.failures < maxAttempts {
		return n, err
	}
	if serr := c.setAside(ctx, batch[0], err); serr != nil {
		return n, errors.Join(err, serr)
	}
	c.failHead, c.failures = "", 0
	if c.isolate > 0 {
		c.isolate--
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
	Message  string `json:"message"` // the event as WeCom sent it (decrypted XML)
}

// setAside moves an event that keeps failing out of the queue into evdead:, with its
// error, and says so in the corp's history and metrics; the next sync repairs what it
// would have changed.
func (c *Corp) setAside(ctx context.Context, q queuedEvent, cause error) error {
	start := time.Now()
	seq := strings.TrimPrefix(q.key, c.evk.eventQueue())
	rec := setAsideRec{Seq: seq, Error: cause.Error(), Attempts: maxAttempts, At: org.Now()}
	if q.ev != nil {
		rec.Kind, rec.ID = q.ev.Kind(), q.ev.User()
		if id, err := q.ev.DeptID(); rec.ID == "" && err == nil {
			rec.ID = strconv.FormatInt(id, 10)
		}
	}
	unlock, err := c.dir.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	err = c.el.Store.Update(func(tx *kv.Tx) error {
		raw, err := tx.Get(q.key)
		if errors.Is(err, kv.ErrNotFound) {
			return nil // applied or set aside meanwhile by another process
		}
		if err != nil {
			return err
		}
		rec.Message = raw
		if err := tx.SetJSON(c.evk.setAside(seq), rec); err != nil {
			return err
		}
		if _, err := tx.Delete(q.key); err != nil {
			return err
		}
		rep := &org.SyncReport{Kind: "events", SetAside: 1, StartedAt: start.UTC().Format(time.RFC3339Nano), Changes: []org.Change{},
			Warnings: []string{fmt.Sprintf("a WeCom %s event (%s) failed %d times and was set aside: %s; the events after it went on, and the next sync repairs what it would have changed",
				orNone(rec.Kind), orNone(rec.ID), maxAttempts, rec.Error)}}
		return c.keepEventReport(tx, rep, start)
	})
	if err != nil {
		return fmt.Errorf("set a failing event aside: %w", err)
	}
	elements.Count(c.el.Observer, "events_set_aside", c.el.FullName, 1)
	c.el.Logger.Error("a WeCom event that keeps failing was set aside", "seq", seq, "kind", rec.Kind, "id", rec.ID, "err", rec.Error)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// setAsideEvents lists the events set aside, newest first.
func (c *Corp) setAsideEvents() ([]any, error) {
	out := []any{}
	err := c.el.Store.View(func(tx *kv.Tx) error {
		return tx.ScanReverse(c.evk.setAsides(), func(_, v string) bool {
			var r setAsideRec
			if json.Unmarshal([]byte(v), &r) == nil {
				out = append(out, map[string]any{"seq": r.Seq, "kind": r.Kind, "id": r.ID, "error": r.Error, "attempts": float64(r.Attempts), "at": r.At})
			}
			return true
		})
	})
	return out, err
}
