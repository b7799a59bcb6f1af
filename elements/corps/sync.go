package corps

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	goruntime "runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/wecom"
)

// bigOrg is the size of org whose sync collects garbage between its phases.
const bigOrg = 20_000

// maxHistory is how many sync reports a corp keeps.
const maxHistory = 100

// DiffCounts counts the changes of one kind of record.
type DiffCounts struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
	Removed int `json:"removed"`
}

// Change describes one change a sync makes (listed by a dry run).
type Change struct {
	Op     string   `json:"op"`   // add, update, offline, reactivate, remove
	Kind   string   `json:"kind"` // member, department, tag
	ID     string   `json:"id"`
	Name   string   `json:"name,omitempty"`
	Fields []string `json:"fields,omitempty"` // the fields an update changes
}

// SyncReport is what a sync did (or, for a dry run, would do). The member counts come
// first, as the seed's callers read them.
type SyncReport struct {
	// Kind is "sync" for a whole-org sync, "events" for WeCom's change events applied (one
	// report a minute at most, their counts added up).
	Kind        string     `json:"kind"`
	Added       int        `json:"added"`
	Updated     int        `json:"updated"`
	Offlined    int        `json:"offlined"`
	Reactivated int        `json:"reactivated"`
	Unchanged   int        `json:"unchanged"`
	Warnings    []string   `json:"warnings"`
	DurationMs  int64      `json:"durationMs"`
	Departments DiffCounts `json:"departments"`
	Tags        DiffCounts `json:"tags"`
	Fetched     struct {
		Departments int `json:"departments"`
		Members     int `json:"members"`
		Tags        int `json:"tags"`
	} `json:"fetched"`
	Path       string `json:"path"`
	DryRun     bool   `json:"dryRun"`
	Writes     int    `json:"writes"`
	StartedAt  string `json:"startedAt"`
	FinishedAt string `json:"finishedAt"`
	// Changes are every change by id and name (an update's fields in a dry run); the members
	// of a first import are counted in ChangesOmitted instead of listed.
	Changes        []Change `json:"changes"`
	ChangesOmitted int      `json:"changesOmitted,omitempty"`
	// Events is how many events a report of events applied; Renamed the members WeCom gave
	// a new userid; Ignored the events of records WeCom no longer has.
	Events  int `json:"events,omitempty"`
	Renamed int `json:"renamed,omitempty"`
	Ignored int `json:"ignored,omitempty"`
	// Refused is how many events were refused because applying them would have broken the
	// org: a rename onto an id another member holds, a department moved under itself or
	// its own subtree, the root deleted. The next sync takes WeCom's truth.
	Refused int `json:"refused,omitempty"`
	// Drift is, for a corp that takes change events, what the sync had to repair that the
	// events had not (dropped or missed events): its changes to members, departments and
	// tags.
	Drift int `json:"drift,omitempty"`
}

// keepReport remembers the report of a sync that wrote nothing, once (the callers who
// shared a sync all bring its report).
func (c *Corp) keepReport(rep *SyncReport) {
	c.quietMu.Lock()
	defer c.quietMu.Unlock()
	raw := mustJSON(rep)
	if slices.Contains(c.quietSyncs, raw) {
		return
	}
	c.quietSyncs = append(c.quietSyncs, raw)
	if len(c.quietSyncs) > maxHistory {
		c.quietSyncs = c.quietSyncs[len(c.quietSyncs)-maxHistory:]
	}
}

// quietReports returns the reports keepReport kept.
func (c *Corp) quietReports() []string {
	c.quietMu.Lock()
	defer c.quietMu.Unlock()
	return slices.Clone(c.quietSyncs)
}

// Sync brings the local org in step with WeCom. One real sync runs at a time per corp: a
// caller arriving while one runs (in this process or, with a shared store, in another)
// waits for it and gets its report. A dry run fetches and diffs but writes nothing.
func (c *Corp) Sync(ctx context.Context, dryRun bool) (*SyncReport, error) {
	if dryRun {
		return c.runSync(ctx, true, false)
	}
	// The sync runs to completion even if this caller gives up, so that the callers who
	// share it and the store see a whole sync; it is bounded by the caller's deadline, if
	// any. The callers of this process share it in the store's Lead.
	type outcome struct {
		report *SyncReport
		err    error
	}
	done := make(chan outcome, 1)
	go func() {
		runCtx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			runCtx, cancel = context.WithDeadline(runCtx, dl)
			defer cancel()
		}
		rep, err := c.leadSync(runCtx)
		done <- outcome{rep, err}
	}()
	select {
	case o := <-done:
		return o.report, o.err
	case <-ctx.Done():
		return nil, elements.Errorf(elements.CodeTimeout, "sync of %s: %v (the sync goes on in the background)", c.el.FullName, ctx.Err())
	}
}

// syncOutcome is a sync's report or error, as its leader publishes it to the callers of
// other processes.
type syncOutcome struct {
	Report *SyncReport `json:"report,omitempty"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// leadSync runs a sync as the corp's sync leader: where several processes share the store,
// one of them fetches and writes at a time, and a caller of another process that comes
// while it runs waits and shares its report (or error). A leader killed mid-sync wrote
// nothing (the write is one transaction), and the next caller runs the sync.
func (c *Corp) leadSync(ctx context.Context) (*SyncReport, error) {
	var rep *SyncReport
	var runErr error
	published, led, err := c.el.Store.Lead(ctx, c.syncLead(), func(ctx context.Context) (string, error) {
		rep, runErr = c.runSync(ctx, false, false)
		if runErr != nil && ctx.Err() != nil {
			return "", runErr // this caller's time ran out: the waiters run it themselves
		}
		var out syncOutcome
		out.Report = rep
		if runErr != nil {
			code := elements.CodeInternal
			var ee *elements.Error
			if errors.As(runErr, &ee) {
				code = ee.Code
			}
			out.Error = &struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}{code, runErr.Error()}
		}
		return mustJSON(out), nil
	})
	switch {
	case led && runErr != nil:
		return nil, runErr
	case led && err != nil:
		// the sync is done and written; only telling the other processes failed
		c.el.Logger.Warn("the sync's report could not be shared with the other processes", "err", err)
		return rep, nil
	case err != nil:
		return nil, fmt.Errorf("sync of %s: %w", c.el.FullName, err)
	case led:
		return rep, nil
	}
	var out syncOutcome
	if err := json.Unmarshal([]byte(published), &out); err != nil {
		return nil, fmt.Errorf("sync of %s: the leader's report: %w", c.el.FullName, err)
	}
	if out.Error != nil {
		return nil, &elements.Error{Code: out.Error.Code, Message: out.Error.Message}
	}
	if out.Report != nil && out.Report.Writes == 0 {
		c.keepReport(out.Report) // written nowhere: this process's history shows it too
	}
	return out.Report, nil
}

// syncLead is the name of the corp's sync among the processes that share the store.
func (c *Corp) syncLead() string { return "sync:" + c.el.FullName }

// runSync fetches, diffs and applies, and reports the sync to the app's metrics. init marks
// the org initialised.
func (c *Corp) runSync(ctx context.Context, dryRun, init bool) (rep *SyncReport, err error) {
	start := time.Now()
	if !dryRun && c.el.Observer != nil {
		defer func() { c.el.Observer.Observe("sync", c.el.FullName, time.Since(start), err) }()
	}
	if !dryRun {
		// WeCom's change events wait while the whole org is fetched and written: those that
		// come meanwhile apply after it, on top of what it wrote.
		c.applyMu.Lock()
		defer c.applyMu.Unlock()
	}
	rep, err = c.syncOnce(ctx, start, dryRun, init)
	return rep, err
}

func (c *Corp) syncOnce(ctx context.Context, start time.Time, dryRun, init bool) (*SyncReport, error) {
	rep := &SyncReport{Kind: "sync", DryRun: dryRun, StartedAt: start.UTC().Format(time.RFC3339Nano), Warnings: []string{}, Changes: []Change{}}
	// The local org is read while WeCom is fetched; if a writer commits in between, it is
	// read again under the lock.
	type snapRead struct {
		snap    *snapshot
		version uint64
		err     error
	}
	client, err := c.wecomClient()
	if err != nil {
		return nil, err
	}
	read := make(chan snapRead, 1)
	go func() {
		// a writer of this corp, here or in another process, moves its generation
		v := c.el.Store.Generation(c.keys.prefix)
		s, err := readSnapshot(c.el.Store, c.keys)
		read <- snapRead{s, v, err}
	}()
	// The members are made into record tails as their pages arrive, so that no sync holds
	// every fetched member: a page is garbage once read.
	var members []fetchedMember
	var pageMu sync.Mutex
	var known map[int64]bool
	var root int64
	invalid := 0
	org, err := client.FetchOrg(ctx, wecom.FetchOptions{Scope: c.cfg.Scope, Progress: elements.ProgressFrom(ctx),
		OnDepartments: func(depts []wecom.Department) error {
			known, root = deptContext(depts)
			members, invalid = members[:0], 0 // a fetch that starts over (on the id path)
			return nil
		},
		OnUsers: func(users []wecom.User) error { // on the fetch's goroutines, at once
			page := make([]fetchedMember, 0, len(users))
			bad := 0
			for i := range users {
				if !wecom.ValidUserID(users[i].UserID) {
					bad++ // no key of the org is ever made from such an id
					continue
				}
				page = append(page, c.fetchedMember(&users[i], known, root))
			}
			pageMu.Lock()
			members, invalid = append(members, page...), invalid+bad
			pageMu.Unlock()
			return nil
		}})
	sr := <-read
	if err != nil {
		c.el.Logger.Error("sync failed: nothing was written", "corp", c.cfg.CorpID, "err", err)
		return nil, c.wecomErr("sync", err)
	}
	if invalid > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("WeCom sent %d member(s) whose userid is not a WeCom userid (%s); they were left out", invalid, wecom.UserIDRule))
	}
	unlock, err := c.lockOrg(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	snap := sr.snap
	if sr.err != nil || c.el.Store.Generation(c.keys.prefix) != sr.version {
		if snap, err = readSnapshot(c.el.Store, c.keys); err != nil {
			return nil, err
		}
	}
	changes := c.diff(snap, org, members, rep, init)
	rep.Path = org.Path
	if c.recv != nil && !init && snap.hasMeta {
		// with change events coming, what a sync still changes is what they missed
		rep.Drift = rep.Added + rep.Updated + rep.Offlined + rep.Reactivated +
			rep.Departments.Added + rep.Departments.Updated + rep.Departments.Removed +
			rep.Tags.Added + rep.Tags.Updated + rep.Tags.Removed
		if rep.Drift > 0 && !dryRun {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d change(s) had not come as events (dropped or missed): repaired", rep.Drift))
			elements.Count(c.el.Observer, "sync_drift", c.el.FullName, rep.Drift)
		}
	}
	rep.Writes = len(changes)
	if len(members) >= bigOrg {
		// The fetch's and the diff's work are garbage now: for a large org, tens of MiB that
		// the collector would keep until the write has added its own. Collecting here keeps a
		// sync's peak memory near what it holds.
		members, snap.decoded = nil, nil
		goruntime.GC()
	}
	finished := time.Now()
	rep.DurationMs = finished.Sub(start).Milliseconds()
	rep.FinishedAt = finished.UTC().Format(time.RFC3339Nano)
	if dryRun {
		return rep, nil
	}
	if len(changes) == 0 {
		// Nothing changed: nothing is written, not even the report, which is kept in
		// memory and shown by getSyncHistory until the app restarts.
		c.keepReport(rep)
	} else {
		changes = append(changes, kv.Change{Key: c.keys.sync(start), Value: mustJSON(rep)})
		if len(snap.history) >= maxHistory {
			for _, old := range snap.history[:len(snap.history)-maxHistory+1] {
				changes = append(changes, kv.Change{Key: old, Delete: true})
			}
		}
		if err := c.el.Store.Apply(changes, nil); err != nil {
			return nil, fmt.Errorf("sync of %s: write the local org: %w", c.el.FullName, err)
		}
	}
	c.el.Logger.Info("sync done", rep.logAttrs(c.cfg.CorpID, time.Since(start))...)
	for _, w := range rep.Warnings {
		c.el.Logger.Warn("sync warning", "corp", c.cfg.CorpID, "warning", w)
	}
	return rep, nil
}

// logAttrs are a report's counts, each labelled, and up to 10 names of each kind of change.
func (r *SyncReport) logAttrs(corpID string, took time.Duration) []any {
	attrs := []any{"corp", corpID, "added", r.Added, "updated", r.Updated, "offlined", r.Offlined,
		"reactivated", r.Reactivated, "unchanged", r.Unchanged,
		"departments.added", r.Departments.Added, "departments.updated", r.Departments.Updated, "departments.removed", r.Departments.Removed,
		"tags.added", r.Tags.Added, "tags.updated", r.Tags.Updated, "tags.removed", r.Tags.Removed,
		"warnings", len(r.Warnings), "writes", r.Writes, "took", took.Round(time.Millisecond)}
	groups := map[string][]string{}
	var order []string
	for _, ch := range r.Changes {
		key := ch.Kind + "s." + ch.Op
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], ch.label())
	}
	for _, key := range order {
		attrs = append(attrs, key, someNames(groups[key]))
	}
	return attrs
}

// label is a change's record as people name it: "name (id)".
func (ch Change) label() string {
	if ch.Name == "" || ch.Name == ch.ID {
		return ch.ID
	}
	return ch.Name + " (" + ch.ID + ")"
}

// someNames lists up to 10 names, then how many more.
func someNames(names []string) string {
	if len(names) <= 10 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:10], ", "), len(names)-10)
}

// plan collects the changes of a diff and describes them in the report.
type plan struct {
	rep         *SyncReport
	changes     []kv.Change
	firstImport bool // the local org has no member yet
}

func (p *plan) set(key, value string) {
	p.changes = append(p.changes, kv.Change{Key: key, Value: value})
}
func (p *plan) del(key string) { p.changes = append(p.changes, kv.Change{Key: key, Delete: true}) }

func (p *plan) describe(ch Change) {
	if p.firstImport && ch.Kind == "member" && ch.Op == "add" {
		p.rep.ChangesOmitted++ // a first import of thousands of members is not listed one by one
		return
	}
	p.rep.Changes = append(p.rep.Changes, ch)
}

// upsert writes a record whose stored JSON (old, if it exists) differs from raw.
func (p *plan) upsert(kind string, counts *DiffCounts, key, id, name, raw, old string, exists bool) {
	switch {
	case !exists:
		counts.Added++
		p.set(key, raw)
		p.describe(Change{Op: "add", Kind: kind, ID: id, Name: name})
	case old != raw:
		counts.Updated++
		p.set(key, raw)
		p.describe(Change{Op: "update", Kind: kind, ID: id, Name: name, Fields: changedFields(old, raw)})
	}
}

// remove deletes a record that is gone from WeCom.
func (p *plan) remove(kind string, counts *DiffCounts, key, id, name string) {
	counts.Removed++
	p.del(key)
	p.describe(Change{Op: "remove", Kind: kind, ID: id, Name: name})
}

// deptContext is what making a member's record needs of the departments (sorted by id):
// the ids fetched, and the root (the first whose parent was not fetched).
func deptContext(depts []wecom.Department) (map[int64]bool, int64) {
	known := make(map[int64]bool, len(depts))
	for _, d := range depts {
		known[d.ID] = true
	}
	for _, d := range depts {
		if !known[d.ParentID] {
			return known, d.ID
		}
	}
	return known, 0
}

// diff computes the changes that make the local org equal the fetched one (its members
// as fetchedMember), and fills the report. It reads only the snapshot and the fetch.
func (c *Corp) diff(snap *snapshot, org *wecom.Org, members []fetchedMember, rep *SyncReport, init bool) []kv.Change {
	k := c.keys
	ts := now()
	p := &plan{rep: rep, firstImport: len(snap.members.raw) == 0}
	set, describe := p.set, p.describe
	rep.Fetched.Departments, rep.Fetched.Members, rep.Fetched.Tags = len(org.Departments), len(members), len(org.Tags)

	// Departments.
	known, root := deptContext(org.Departments)
	for _, d := range org.Departments {
		rec := deptRec{DeptID: d.ID, Name: d.Name, NameEn: d.NameEn, ParentID: d.ParentID, Order: d.Order, Leaders: d.Leaders}
		if rec.Leaders == nil {
			rec.Leaders = []string{}
		}
		old, ok := snap.deptRaw[d.ID]
		p.upsert("department", &rep.Departments, k.dept(d.ID), fmt.Sprint(d.ID), d.Name, mustJSON(rec), old, ok)
	}
	for _, id := range slices.Sorted(maps.Keys(snap.depts)) {
		if !known[id] {
			p.remove("department", &rep.Departments, k.dept(id), fmt.Sprint(id), snap.depts[id].Name)
			if snap.deptRoles[id] {
				p.del(k.deptRole(id)) // its grants go with it
			}
		}
	}

	// Members.
	withheld := map[string]bool{}
	for _, f := range org.Withheld {
		withheld[f] = true
	}
	if len(org.Withheld) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("WeCom withholds %v from this app (apps created since 2022-06-20 do not get them); local values of those fields were kept", org.Withheld))
	}
	fetched := make(map[string]bool, len(org.Users))
	writes := map[string]string{}     // members to write: id → record
	var outside, keptOffline []string // "name (id)", for the warnings
	for _, r := range compareMembers(snap, members, withheld, ts) {
		fetched[r.id] = true
		if r.dropped {
			outside = append(outside, r.name+" ("+r.id+")")
		}
		if r.keptOffline {
			keptOffline = append(keptOffline, r.name+" ("+r.id+")")
		}
		switch {
		case !r.exists:
			rep.Added++
			writes[r.id] = r.raw
			describe(Change{Op: "add", Kind: "member", ID: r.id, Name: r.name})
		case r.raw == "":
			rep.Unchanged++
		case r.reactivate:
			rep.Reactivated++
			writes[r.id] = r.raw
			describe(Change{Op: "reactivate", Kind: "member", ID: r.id, Name: r.name})
		default:
			rep.Updated++
			writes[r.id] = r.raw
			ch := Change{Op: "update", Kind: "member", ID: r.id, Name: r.name}
			if p.rep.DryRun {
				ch.Fields = memberChangedFields(snap.members.raw[r.id], r.raw)
			}
			describe(ch)
		}
	}
	if len(outside) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d member(s) are also in departments outside the app's visible range or the scope; those departments were left out of their records: %s",
			len(outside), someNames(outside)))
	}
	if len(keptOffline) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d member(s) are active in WeCom but were taken offline here with offlineMember; they stay offline (reactivateMember undoes it): %s",
			len(keptOffline), someNames(keptOffline)))
	}
	active := 0
	for _, raw := range snap.members.raw {
		if memberField(raw, fStatus).String() == StatusActive {
			active++
		}
	}
	guard := len(members) == 0 && active > 0
	if len(members) == 0 {
		rep.Warnings = append(rep.Warnings, "WeCom returned no members: check the app's visible range (可见范围) and the scope")
	}
	if guard {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("no member was taken offline: an empty answer from WeCom is more likely a visibility problem than %d people leaving", active))
	}
	for _, id := range sortedIDs(snap.members.raw) {
		if snap.partial || fetched[id] || guard || memberField(snap.members.raw[id], fStatus).String() != StatusActive {
			continue
		}
		rec := *snap.member(id)
		rec.Status, rec.OfflineBy, rec.OfflineAt, rec.UpdatedAt = StatusOffline, OfflineBySync, ts, ts
		rep.Offlined++
		writes[id] = encodeMember(&rec)
		describe(Change{Op: "offline", Kind: "member", ID: id, Name: rec.Name})
	}
	// Admins who went offline leave the admin list.
	if len(snap.admins.MemberIDs) > 0 {
		kept := slices.DeleteFunc(slices.Clone(snap.admins.MemberIDs), func(id string) bool {
			raw, ok := writes[id]
			return ok && memberField(raw, fStatus).String() != StatusActive
		})
		if len(kept) != len(snap.admins.MemberIDs) {
			set(k.admins(), mustJSON(adminsRec{MemberIDs: kept, UpdatedAt: ts}))
		}
	}
	p.changes = append(p.changes, memberChanges(k, snap.members, writes)...)

	// Tags.
	seenTags := map[int64]bool{}
	for _, t := range org.Tags {
		seenTags[t.TagID] = true
		rec := tagRec{TagID: t.TagID, Name: t.TagName, MemberIDs: make([]string, 0, len(t.UserList)), DeptIDs: append([]int64{}, t.PartyList...)}
		for _, tu := range t.UserList {
			rec.MemberIDs = append(rec.MemberIDs, tu.UserID)
		}
		sort.Strings(rec.MemberIDs)
		slices.Sort(rec.DeptIDs)
		old, ok := snap.tagRaw[t.TagID]
		p.upsert("tag", &rep.Tags, k.tag(t.TagID), fmt.Sprint(t.TagID), t.TagName, mustJSON(rec), old, ok)
	}
	for _, id := range slices.Sorted(maps.Keys(snap.tags)) {
		if !seenTags[id] {
			p.remove("tag", &rep.Tags, k.tag(id), fmt.Sprint(id), snap.tags[id].Name)
		}
	}

	// Roles and the corp's own record.
	for _, r := range c.cfg.Roles {
		raw := mustJSON(roleRec{RoleID: r.RoleID, Name: r.Name})
		if snap.roles[r.RoleID] != raw {
			set(k.role(r.RoleID), raw)
		}
	}
	meta := snap.meta
	if !snap.hasMeta {
		meta.CreatedAt = ts
	}
	meta.RootDeptID = root
	if org.Path != "" {
		meta.Path = org.Path
	}
	meta.Initialized = meta.Initialized || init
	if raw := mustJSON(meta); !snap.hasMeta || raw != mustJSON(snap.meta) {
		set(k.meta(), raw)
	}
	slices.SortStableFunc(rep.Changes, func(a, b Change) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Op, b.Op), strings.Compare(a.ID, b.ID))
	})
	return p.changes
}

// memberFromWeCom builds a member record from WeCom's member, keeping only departments the
// local org has. dropped reports whether some were left out.
func (c *Corp) memberFromWeCom(u *wecom.User, known map[int64]bool, root int64) (*memberRec, bool) {
	rec := &memberRec{
		MemberID: u.UserID, WecomUserID: u.UserID, Name: u.Name, Position: u.Position,
		Mobile: u.Mobile, Email: u.Email, BizMail: u.BizMail, Avatar: u.Avatar, ThumbAvatar: u.ThumbAvatar,
		Gender: u.Gender, QRCode: u.QRCode, Address: u.Address, Telephone: u.Telephone, Alias: u.Alias,
		EnglishName: u.EnglishName, ExternalPosition: u.ExternalPosition, DirectLeader: u.DirectLeader,
		ExtAttr: u.ExtAttr, WecomStatus: u.Status, DeptIDs: make([]int64, 0, len(u.Department)),
	}
	dropped := false
	for i, d := range u.Department {
		if !known[d] {
			dropped = true
			continue
		}
		rec.DeptIDs = append(rec.DeptIDs, d)
		if i < len(u.IsLeaderInDept) && u.IsLeaderInDept[i] == 1 {
			rec.LeaderDeptIDs = append(rec.LeaderDeptIDs, d)
		}
	}
	switch {
	case known[u.MainDepartment] && slices.Contains(rec.DeptIDs, u.MainDepartment):
		rec.MainDeptID = u.MainDepartment
	case len(rec.DeptIDs) > 0:
		rec.MainDeptID = rec.DeptIDs[0]
	default:
		rec.DeptIDs = []int64{root}
		rec.MainDeptID = root
	}
	return rec, dropped
}

// keepWithheld copies, for each field WeCom withheld, the value the local org already has:
// a withheld field is unknown, not cleared.
func keepWithheld(rec, old *memberRec, withheld map[string]bool) {
	for _, f := range []struct {
		name     string
		dst, src *string
	}{
		{"mobile", &rec.Mobile, &old.Mobile}, {"email", &rec.Email, &old.Email}, {"biz_mail", &rec.BizMail, &old.BizMail},
		{"avatar", &rec.Avatar, &old.Avatar}, {"thumb_avatar", &rec.ThumbAvatar, &old.ThumbAvatar},
		{"gender", &rec.Gender, &old.Gender}, {"qr_code", &rec.QRCode, &old.QRCode}, {"address", &rec.Address, &old.Address},
	} {
		if withheld[f.name] {
			*f.dst = *f.src
		}
	}
}

// memberResult is what comparing a fetched member with the stored one found.
type memberResult struct {
	id, name    string
	raw         string // the record to write, "" when unchanged
	exists      bool   // the member was stored before
	reactivate  bool   // stored offline by a sync, back in WeCom
	keptOffline bool   // stored offline by offlineMember, and stays so
	dropped     bool   // some of its departments are outside the fetch
}

// fetchedMember is a member as WeCom gave it, made into the tail of a record (the head is
// jitrt's: status and times).
type fetchedMember struct {
	id, name, tail string
	dropped        bool // some of its departments are outside the fetch
}

func (c *Corp) fetchedMember(u *wecom.User, known map[int64]bool, root int64) fetchedMember {
	rec, dropped := c.memberFromWeCom(u, known, root)
	return fetchedMember{id: rec.MemberID, name: rec.Name, tail: encodeTail(rec), dropped: dropped}
}

// compareMembers compares each fetched member with the stored one, on every core.
func compareMembers(snap *snapshot, members []fetchedMember, withheld map[string]bool, ts string) []memberResult {
	out := make([]memberResult, len(members))
	workers := min(goruntime.GOMAXPROCS(0), max(1, len(members)/1000))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(members); i += workers {
				out[i] = compareMember(snap, &members[i], withheld, ts)
			}
		}()
	}
	wg.Wait()
	return out
}

// compareMember makes a fetched member's record from the stored one's head and compares
// the two.
func compareMember(snap *snapshot, f *fetchedMember, withheld map[string]bool, ts string) memberResult {
	r := memberResult{id: f.id, name: f.name, dropped: f.dropped}
	oldRaw, exists := snap.members.raw[f.id]
	if !exists {
		r.raw = encodeHead(f.id, StatusActive, "", "", ts, ts) + f.tail
		return r
	}
	r.exists = true
	h, oldTail, ok := splitRecord(oldRaw)
	if !ok {
		h, oldTail = headerOf(oldRaw), tailOf(oldRaw)
	}
	tail := f.tail
	if len(withheld) > 0 && tail != oldTail {
		tail = keepWithheldTail(f.id, tail, oldRaw, withheld)
	}
	status, offlineBy, offlineAt := StatusActive, "", ""
	r.reactivate = h.status == StatusOffline && h.offlineBy != OfflineByLocal
	if h.status == StatusOffline && !r.reactivate {
		status, offlineBy, offlineAt = h.status, h.offlineBy, h.offlineAt
		r.keptOffline = true
	}
	if tail == oldTail && status == h.status && offlineBy == h.offlineBy && offlineAt == h.offlineAt {
		return r // unchanged: nothing made
	}
	r.raw = encodeHead(f.id, status, offlineBy, offlineAt, h.createdAt, ts) + tail
	return r
}

// keepWithheldTail is a fetched tail with the stored values of the fields WeCom withheld.
func keepWithheldTail(id, tail, oldRaw string, withheld map[string]bool) string {
	rec, err1 := decodeMember(encodeHead(id, "", "", "", "", "") + tail)
	old, err2 := decodeMember(oldRaw)
	if err1 != nil || err2 != nil {
		return tail
	}
	keepWithheld(rec, old, withheld)
	return encodeTail(rec)
}

// memberChanges are the writes of a sync's changed members: single records, or, when
// those would be a good part of the org, every member folded into chunks.
func memberChanges(k keys, stored *storedMembers, writes map[string]string) []kv.Change {
	if len(writes) == 0 {
		return nil
	}
	overrides := len(stored.overrides)
	isOverride := make(map[string]bool, len(stored.overrides))
	for _, id := range stored.overrides {
		isOverride[id] = true
	}
	total := len(stored.raw)
	for id := range writes {
		if !isOverride[id] {
			overrides++
		}
		if _, ok := stored.raw[id]; !ok {
			total++
		}
	}
	if shouldFold(overrides, total) {
		final := maps.Clone(stored.raw)
		maps.Copy(final, writes)
		return foldChanges(k, final, stored)
	}
	changes := make([]kv.Change, 0, len(writes))
	for _, id := range sortedIDs(writes) {
		changes = append(changes, kv.Change{Key: k.member(id), Value: writes[id]})
	}
	return changes
}

// memberChangedFields names the fields that differ between two member records.
func memberChangedFields(oldRaw, newRaw string) []string {
	if strings.HasPrefix(oldRaw, "{") {
		return changedFields(oldRaw, mustJSON(mustDecode(newRaw)))
	}
	a, b := gjson.Parse(oldRaw).Array(), gjson.Parse(newRaw).Array()
	var out []string
	for i, name := range memberFields {
		if i == fUpdatedAt || i >= len(a) || i >= len(b) {
			continue
		}
		if a[i].Raw != b[i].Raw {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func mustDecode(raw string) *memberRec {
	m, _ := decodeMember(raw)
	return m
}

// changedFields names the top-level fields that differ between two JSON records.
func changedFields(oldRaw, newRaw string) []string {
	var a, b map[string]json.RawMessage
	json.Unmarshal([]byte(oldRaw), &a)
	json.Unmarshal([]byte(newRaw), &b)
	var out []string
	for key, v := range b {
		if key == "updatedAt" {
			continue
		}
		if string(a[key]) != string(v) {
			out = append(out, key)
		}
	}
	for key := range a {
		if _, ok := b[key]; !ok && key != "updatedAt" {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}
