package org

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jitrt/jitrt/kv"
	"github.com/tidwall/gjson"
)

// bigOrg is the size of org whose sync collects garbage between its phases.
const bigOrg = 20_000

// tightGC sets the collector to hugeOrgGC percent until the last of the syncs that asked
// for it (several orgs of a process may sync at once) calls the func it returns, which
// puts back what was set before the first. The setting is the process's: hence one count
// of it, here.
func tightGC() (release func()) {
	tight.mu.Lock()
	defer tight.mu.Unlock()
	if tight.n++; tight.n == 1 {
		tight.before = debug.SetGCPercent(hugeOrgGC)
	}
	return func() {
		tight.mu.Lock()
		defer tight.mu.Unlock()
		if tight.n--; tight.n == 0 {
			debug.SetGCPercent(tight.before)
		}
	}
}

var tight struct {
	mu        sync.Mutex
	n, before int
}

// hugeOrg is the size of org whose sync writes with the collector at hugeOrgGC percent.
const (
	hugeOrg   = 250_000
	hugeOrgGC = 50
)

// MaxHistory is how many sync reports a corp keeps.
const MaxHistory = 100

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
	// Kind is "sync" for a whole-org sync, "events" for the platform's change events applied (one
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
	// Events is how many events a report of events applied; Renamed the members the platform
	// gave a new id; Ignored the events of records the platform no longer has.
	Events  int `json:"events,omitempty"`
	Renamed int `json:"renamed,omitempty"`
	Ignored int `json:"ignored,omitempty"`
	// Refused is how many events were refused because applying them would have broken the
	// org: a rename onto an id another member holds, a department moved under itself or
	// its own subtree, the root deleted. The next sync takes the platform's truth.
	Refused int `json:"refused,omitempty"`
	// SetAside is how many events failed again and again and were set aside (kept with
	// their error, out of the queue) so that the events after them could go on.
	SetAside int `json:"setAside,omitempty"`
	// Drift is, for a corp that takes change events, what the sync had to repair that the
	// events had not (dropped or missed events): its changes to members, departments and
	// tags.
	Drift int `json:"drift,omitempty"`
}

// keepReport remembers the report of a sync that wrote nothing, once (the callers who
// shared a sync all bring its report).
func (o *Directory) KeepReport(rep *SyncReport) {
	o.quietMu.Lock()
	defer o.quietMu.Unlock()
	raw := MustJSON(rep)
	if slices.Contains(o.quietSyncs, raw) {
		return
	}
	o.quietSyncs = append(o.quietSyncs, raw)
	if len(o.quietSyncs) > MaxHistory {
		o.quietSyncs = o.quietSyncs[len(o.quietSyncs)-MaxHistory:]
	}
}

// quietReports returns the reports keepReport kept.
func (o *Directory) QuietReports() []string {
	o.quietMu.Lock()
	defer o.quietMu.Unlock()
	return slices.Clone(o.quietSyncs)
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

// remove deletes a record that is gone from the platform.
func (p *plan) remove(kind string, counts *DiffCounts, key, id, name string) {
	counts.Removed++
	p.del(key)
	p.describe(Change{Op: "remove", Kind: kind, ID: id, Name: name})
}

// diff computes the changes that make the local org equal the fetched one (its members
// as FetchedMember), and fills the report. It reads only the Snapshot and the fetch.
// Fetched is an org as its provider fetched it, in neutral records: departments sorted by
// id, members made into record tails (MakeFetched), each member once, tags.
type Fetched struct {
	Depts   []Dept
	Members []FetchedMember
	Tags    []Tag
	// Withheld are the member fields the platform withheld from this app: stored values
	// of those are kept (Profile.KeepWithheld).
	Withheld []string
	// Path is how the provider fetched the org (shown in reports).
	Path string
}

// DeptContext is what making a member's record needs of the departments (sorted by id):
// the ids fetched, and the root (the first whose parent was not fetched).
func DeptContext(depts []Dept) (map[int64]bool, int64) {
	known := make(map[int64]bool, len(depts))
	for _, d := range depts {
		known[d.DeptID] = true
	}
	for _, d := range depts {
		if !known[d.ParentID] {
			return known, d.DeptID
		}
	}
	return known, 0
}

// Diff computes the changes that make the local org equal the fetched one, and fills the
// report. It reads only the snapshot and the fetch, and takes the fetched members (they
// are the changes' now): org.Members is nil after it.
func (o *Directory) Diff(snap *Snapshot, org *Fetched, rep *SyncReport, init bool) []kv.Change {
	members := org.Members
	k := o.keys
	ts := Now()
	p := &plan{rep: rep, firstImport: len(snap.members.raw) == 0}
	set, describe := p.set, p.describe
	rep.Fetched.Departments, rep.Fetched.Members, rep.Fetched.Tags = len(org.Depts), len(members), len(org.Tags)

	// Departments.
	known, root := DeptContext(org.Depts)
	for _, rec := range org.Depts {
		if rec.Leaders == nil {
			rec.Leaders = []string{}
		}
		old, ok := snap.deptRaw[rec.DeptID]
		p.upsert("department", &rep.Departments, k.Dept(rec.DeptID), fmt.Sprint(rec.DeptID), rec.Name, MustJSON(rec), old, ok)
	}
	for _, id := range slices.Sorted(maps.Keys(snap.depts)) {
		if !known[id] {
			p.remove("department", &rep.Departments, k.Dept(id), fmt.Sprint(id), snap.depts[id].Name)
			if snap.deptRoles[id] {
				p.del(k.DeptRole(id)) // its grants go with it
			}
		}
	}

	// Members.
	withheld := map[string]bool{}
	for _, f := range org.Withheld {
		withheld[f] = true
	}
	recs, results := compareMembers(snap, members, withheld, o.profile.KeepWithheld, ts)
	writes := recs[:0]            // members to write, made in place of recs
	added, matched := 0, 0        // of the fetched, members not stored before, and stored
	var outside, keptOff []string // "name (id)", for the warnings
	for i, r := range results {
		rec, f := recs[i], &members[i]
		if r&exists != 0 {
			matched++
		}
		if r&dropped != 0 {
			outside = append(outside, f.Name+" ("+f.ID+")")
		}
		if r&keptOffline != 0 {
			keptOff = append(keptOff, f.Name+" ("+f.ID+")")
		}
		if rec.head != "" {
			writes = append(writes, rec)
		}
		switch {
		case r&exists == 0:
			rep.Added++
			added++
			describe(Change{Op: "add", Kind: "member", ID: f.ID, Name: f.Name})
		case rec.head == "":
			rep.Unchanged++
		case r&reactivated != 0:
			rep.Reactivated++
			describe(Change{Op: "reactivate", Kind: "member", ID: f.ID, Name: f.Name})
		default:
			rep.Updated++
			ch := Change{Op: "update", Kind: "member", ID: f.ID, Name: f.Name}
			if p.rep.DryRun {
				ch.Fields = memberChangedFields(snap.members.raw[f.ID], rec.String())
			}
			describe(ch)
		}
	}
	clear(recs[len(writes):]) // what did not move down
	if len(outside) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d member(s) are also in departments outside the app's visible range or the scope; those departments were left out of their records: %s",
			len(outside), someNames(outside)))
	}
	if len(keptOff) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d member(s) are active in "+o.platform()+" but were taken offline here with offlineMember; they stay offline (reactivateMember undoes it): %s",
			len(keptOff), someNames(keptOff)))
	}
	active := 0
	if len(members) == 0 {
		for _, raw := range snap.members.raw {
			if MemberField(raw, fStatus).String() == StatusActive {
				active++
			}
		}
	}
	guard := len(members) == 0 && active > 0
	if len(members) == 0 {
		rep.Warnings = append(rep.Warnings, o.platform()+" returned no members: check the app's visible range (可见范围) and the scope")
	}
	if guard {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("no member was taken offline: an empty answer from "+o.platform()+" is more likely a visibility problem than %d people leaving", active))
	}
	// Stored members the platform no longer lists go offline. Each fetched member comes
	// once (Fetched): when as many fetched members were stored as the store holds, none
	// of the stored is missing, and the store is not looked through.
	if !snap.partial && !guard && matched != len(snap.members.raw) {
		fetched := make(map[string]bool, len(members))
		for i := range members {
			fetched[members[i].ID] = true
		}
		var gone []string
		for id, raw := range snap.members.raw {
			if !fetched[id] && MemberField(raw, fStatus).String() == StatusActive {
				gone = append(gone, id)
			}
		}
		slices.Sort(gone)
		for _, id := range gone {
			rec := *snap.member(id)
			rec.Status, rec.OfflineBy, rec.OfflineAt, rec.UpdatedAt = StatusOffline, OfflineBySync, ts, ts
			rep.Offlined++
			writes = append(writes, memberRec{id: id, tail: EncodeMember(&rec)})
			describe(Change{Op: "offline", Kind: "member", ID: id, Name: rec.Name})
		}
	}
	// the fetched records are the writes' now: the rest of the fetch can go before the
	// chunks are made (for a large org, tens of MiB)
	members, org.Members = nil, nil
	// Admins who went offline leave the admin list.
	if len(snap.admins.MemberIDs) > 0 {
		leaving := map[string]bool{}
		for _, id := range snap.admins.MemberIDs {
			leaving[id] = false
		}
		for _, w := range writes {
			if _, admin := leaving[w.id]; admin {
				leaving[w.id] = MemberField(w.String(), fStatus).String() != StatusActive
			}
		}
		kept := slices.DeleteFunc(slices.Clone(snap.admins.MemberIDs), func(id string) bool { return leaving[id] })
		if len(kept) != len(snap.admins.MemberIDs) {
			set(k.Admins(), MustJSON(Admins{MemberIDs: kept, UpdatedAt: ts}))
		}
	}
	p.changes = append(p.changes, memberChanges(k, snap.members, writes, added)...)

	// Tags.
	seenTags := map[int64]bool{}
	for _, t := range org.Tags {
		seenTags[t.TagID] = true
		rec := Tag{TagID: t.TagID, Name: t.Name, MemberIDs: append(make([]string, 0, len(t.MemberIDs)), t.MemberIDs...), DeptIDs: append([]int64{}, t.DeptIDs...)}
		sort.Strings(rec.MemberIDs)
		slices.Sort(rec.DeptIDs)
		old, ok := snap.tagRaw[t.TagID]
		p.upsert("tag", &rep.Tags, k.Tag(t.TagID), fmt.Sprint(t.TagID), t.Name, MustJSON(rec), old, ok)
	}
	for _, id := range slices.Sorted(maps.Keys(snap.tags)) {
		if !seenTags[id] {
			p.remove("tag", &rep.Tags, k.Tag(id), fmt.Sprint(id), snap.tags[id].Name)
		}
	}

	// Roles and the corp's own record.
	for _, r := range o.declared {
		raw := MustJSON(roleRec{RoleID: r.RoleID, Name: r.Name})
		if snap.roles[r.RoleID] != raw {
			set(k.Role(r.RoleID), raw)
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
	if raw := MustJSON(meta); !snap.hasMeta || raw != MustJSON(snap.meta) {
		set(k.Meta(), raw)
	}
	slices.SortStableFunc(rep.Changes, func(a, b Change) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Op, b.Op), strings.Compare(a.ID, b.ID))
	})
	return p.changes
}

// memberResult is what comparing a fetched member with the stored one found, besides the
// record to write.
type memberResult uint8

const (
	exists      memberResult = 1 << iota // the member was stored before
	reactivated                          // stored offline by a sync, back on the platform
	keptOffline                          // stored offline by offlineMember, and stays so
	dropped                              // some of its departments are outside the fetch
)

// FetchedMember is a member as the provider gave it, made into the tail of a record (the
// head is the org's: status and times).
type FetchedMember struct {
	ID, Name, Tail string
	Dropped        bool // some of its departments are outside the fetch
}

// MakeFetched is a fetched member; dropped says some of its departments were left out.
func MakeFetched(m *Member, dropped bool) FetchedMember {
	return FetchedMember{ID: m.MemberID, Name: m.Name, Tail: EncodeTail(m), Dropped: dropped}
}

// compareMembers compares each fetched member with the stored one, on every core: the
// record to write for each (its head "" when unchanged) and what was found.
func compareMembers(snap *Snapshot, members []FetchedMember, withheld map[string]bool, keep func(tail, oldRaw string, withheld map[string]bool) string, ts string) ([]memberRec, []memberResult) {
	recs, results := make([]memberRec, len(members)), make([]memberResult, len(members))
	newHead := encodeHeadRest(StatusActive, "", "", ts, ts) // every added member's
	workers := min(goruntime.GOMAXPROCS(0), max(1, len(members)/1000))
	onWorkers(workers, func(w int) {
		if compareHook != nil {
			compareHook(w)
		}
		for i := w; i < len(members); i += workers {
			recs[i], results[i] = compareMember(snap, &members[i], withheld, keep, ts, newHead)
		}
	})
	return recs, results
}

// compareHook and prefetchHook, when set (by tests), run at the start of each compare
// worker and of the stored org's read; advanceHook when a view of the org is brought up
// to date from the members changed.
var (
	compareHook  func(worker int)
	prefetchHook func()
	advanceHook  func() // the department tree was brought up to date, not built anew
)

// compareMember makes a fetched member's record from the stored one's head and compares
// the two.
func compareMember(snap *Snapshot, f *FetchedMember, withheld map[string]bool, keep func(tail, oldRaw string, withheld map[string]bool) string, ts, newHead string) (memberRec, memberResult) {
	var r memberResult
	if f.Dropped {
		r |= dropped
	}
	oldRaw, stored := snap.members.raw[f.ID]
	if !stored {
		return memberRec{id: f.ID, head: newHead, tail: f.Tail}, r
	}
	r |= exists
	h, oldTail, ok := splitRecord(oldRaw)
	if !ok {
		h, oldTail = headerOf(oldRaw), tailOf(oldRaw)
	}
	tail := f.Tail
	if len(withheld) > 0 && keep != nil && tail != oldTail {
		tail = keep(tail, oldRaw, withheld)
	}
	status, offlineBy, offlineAt := StatusActive, "", ""
	reactivate := h.status == StatusOffline && h.offlineBy != OfflineByLocal
	if reactivate {
		r |= reactivated
	}
	if h.status == StatusOffline && !reactivate {
		status, offlineBy, offlineAt = h.status, h.offlineBy, h.offlineAt
		r |= keptOffline
	}
	if tail == oldTail && status == h.status && offlineBy == h.offlineBy && offlineAt == h.offlineAt {
		return memberRec{}, r // unchanged: nothing made
	}
	return memberRec{id: f.ID, head: encodeHeadRest(status, offlineBy, offlineAt, h.createdAt, ts), tail: tail}, r
}

// memberChanges are the writes of a sync's changed members (added of them not stored
// before): single records, or, when those would be a good part of the org, every member
// folded into chunks.
func memberChanges(k Keys, stored *storedMembers, writes []memberRec, added int) []kv.Change {
	if len(writes) == 0 {
		return nil
	}
	sortRecords(writes)
	overrides := len(stored.overrides)
	isOverride := make(map[string]bool, len(stored.overrides))
	for _, id := range stored.overrides {
		isOverride[id] = true
	}
	for _, w := range writes {
		if !isOverride[w.id] {
			overrides++
		}
	}
	if shouldFold(overrides, len(stored.raw)+added) {
		return foldChanges(k, mergeRecords(stored.raw, writes), stored)
	}
	changes := make([]kv.Change, 0, len(writes))
	for _, w := range writes {
		changes = append(changes, kv.Change{Key: k.Member(w.id), Value: w.String()})
	}
	return changes
}

// sortRecords sorts records by id: a large list in two parts at once, split around the
// median of three ids in place (no second list of a million records to fill).
func sortRecords(recs []memberRec) {
	byID := func(a, b memberRec) int { return strings.Compare(a.id, b.id) }
	if len(recs) < 50_000 || goruntime.GOMAXPROCS(0) < 2 {
		slices.SortFunc(recs, byID)
		return
	}
	a, b, c := recs[0].id, recs[len(recs)/2].id, recs[len(recs)-1].id
	pivot := max(min(a, b), min(max(a, b), c)) // the median of the three
	lo := 0                                    // recs[:lo] < pivot
	for i := range recs {
		if recs[i].id < pivot {
			recs[lo], recs[i] = recs[i], recs[lo]
			lo++
		}
	}
	parts := [2][]memberRec{recs[:lo], recs[lo:]}
	parallel(2, func(i int) { slices.SortFunc(parts[i], byID) })
}

// mergeRecords is every member of stored, and of writes (sorted by id), which win, in id
// order.
func mergeRecords(stored map[string]string, writes []memberRec) []memberRec {
	if len(stored) == 0 {
		return writes
	}
	ids := sortedIDs(stored)
	out := make([]memberRec, 0, len(ids)+len(writes))
	i := 0
	for _, w := range writes {
		for ; i < len(ids) && ids[i] < w.id; i++ {
			out = append(out, memberRec{id: ids[i], tail: stored[ids[i]]})
		}
		if i < len(ids) && ids[i] == w.id {
			i++
		}
		out = append(out, w)
	}
	for ; i < len(ids); i++ {
		out = append(out, memberRec{id: ids[i], tail: stored[ids[i]]})
	}
	return out
}

// memberChangedFields names the fields that differ between two member records.
func memberChangedFields(oldRaw, newRaw string) []string {
	if strings.HasPrefix(oldRaw, "{") {
		return changedFields(oldRaw, MustJSON(mustDecode(newRaw)))
	}
	a, b := gjson.Parse(oldRaw).Array(), gjson.Parse(newRaw).Array()
	var out []string
	for i, name := range memberFields {
		if i == fUpdatedAt || i >= len(a) || i >= len(b) {
			continue
		}
		if i == fOfflineAt || i == fCreatedAt {
			if unpackTime(a[i].String()) != unpackTime(b[i].String()) {
				out = append(out, name)
			}
		} else if a[i].Raw != b[i].Raw {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func mustDecode(raw string) *Member {
	m, _ := DecodeMember(raw)
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

// Prefetch is the stored org read in the background while a provider fetches.
type Prefetch struct {
	o  *Directory
	ch chan prefetched
}

type prefetched struct {
	snap     *Snapshot
	version  uint64
	err      error
	panicked bool // a bug, not a store that failed: the sync fails rather than read again
}

// Prefetch starts reading the stored org; Commit takes it (or Discard drops it).
func (o *Directory) Prefetch() *Prefetch {
	p := &Prefetch{o: o, ch: make(chan prefetched, 1)}
	go func() {
		defer func() {
			if r := recover(); r != nil {
				p.ch <- prefetched{err: recovered(o, "read the stored org", r), panicked: true}
			}
		}()
		if prefetchHook != nil {
			prefetchHook()
		}
		// a writer of this org, here or in another process, moves its generation
		v := o.store.Generation(o.keys.prefix)
		s, err := ReadSnapshot(o.store, o.keys)
		p.ch <- prefetched{snap: s, version: v, err: err}
	}()
	return p
}

// Discard waits for the read and drops it.
func (p *Prefetch) Discard() { <-p.ch }

// take is the snapshot, read again if a writer committed since it was read. The org's
// lock is held.
func (p *Prefetch) take() (*Snapshot, error) {
	r := <-p.ch
	if r.panicked {
		return nil, r.err
	}
	if r.err == nil && p.o.store.Generation(p.o.keys.prefix) == r.version {
		return r.snap, nil
	}
	return ReadSnapshot(p.o.store, p.o.keys)
}

// CommitOptions say how Commit writes.
type CommitOptions struct {
	// Start is when the sync started (its report's key).
	Start time.Time
	// DryRun writes nothing; Init marks the org initialised.
	DryRun, Init bool
	// Events says the org also takes change events: what a sync still changes is what
	// they missed (the report's Drift).
	Events bool
}

// Commit makes the stored org equal the fetched one: under the org's lock, it diffs them
// and writes every change with the report in one transaction (a dry run writes nothing).
// A sync that changes nothing writes nothing: its report is kept in memory.
func (o *Directory) Commit(ctx context.Context, pre *Prefetch, f *Fetched, rep *SyncReport, opt CommitOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recovered(o, "sync", r)
		}
	}()
	// A sync that changes nothing keeps its report as a note once the lock is let go: a
	// note needs no lock, and the lock holds one of the pool's connections meanwhile (a
	// note written under it would make a second: a new server process).
	var quiet *SyncReport
	defer func() {
		if quiet == nil {
			return
		}
		if err := o.store.SetNote(ctx, o.keys.QuietSync(), MustJSON(quiet)); err != nil {
			o.log.Warn("the no-change sync's report was not kept for the other processes", "corp", o.corpID, "err", err)
		}
	}()
	unlock, err := o.Lock(ctx)
	if err != nil {
		pre.Discard()
		return err
	}
	defer unlock()
	snap, err := pre.take()
	if err != nil {
		return err
	}
	if len(f.Members) >= hugeOrg {
		// The fetched org (hundreds of MiB) and the chunks made of it are alive at once:
		// collecting more often keeps the peak near them rather than twice their size.
		defer tightGC()()
	}
	changes := o.Diff(snap, f, rep, opt.Init)
	rep.Path = f.Path
	if opt.Events && !opt.Init && snap.hasMeta {
		rep.Drift = rep.Added + rep.Updated + rep.Offlined + rep.Reactivated +
			rep.Departments.Added + rep.Departments.Updated + rep.Departments.Removed +
			rep.Tags.Added + rep.Tags.Updated + rep.Tags.Removed
		if rep.Drift > 0 && !opt.DryRun {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d change(s) had not come as events (dropped or missed): repaired", rep.Drift))
		}
	}
	rep.Writes = len(changes)
	if rep.Fetched.Members >= bigOrg && rep.Fetched.Members < hugeOrg {
		// The fetch's and the diff's work are garbage now: for a large org, tens of MiB that
		// the collector would keep until the write has added its own. Collecting here keeps a
		// sync's peak memory near what it holds. (A huge org's sync collects as it goes.)
		snap.decoded = nil
		goruntime.GC()
	}
	finished := time.Now()
	rep.DurationMs = finished.Sub(opt.Start).Milliseconds()
	rep.FinishedAt = finished.UTC().Format(time.RFC3339Nano)
	if opt.DryRun {
		return nil
	}
	if len(changes) == 0 {
		// Nothing changed: nothing is written, not even the report, which is kept in
		// memory and shown by getSyncHistory until the app restarts.
		o.KeepReport(rep)
		// and beside the state for the other processes (lastSyncAt, getSyncHistory): a
		// note, not a write of the state (above, after the lock)
		quiet = rep
	} else {
		changes = append(changes, kv.Change{Key: o.keys.Sync(opt.Start), Value: MustJSON(rep)})
		if len(snap.history) >= MaxHistory {
			for _, old := range snap.history[:len(snap.history)-MaxHistory+1] {
				changes = append(changes, kv.Change{Key: old, Delete: true})
			}
		}
		if err := o.store.Apply(o.auditChanges(ctx, changes), nil); err != nil {
			return fmt.Errorf("sync of %s: write the local org: %w", o.name, err)
		}
	}
	o.log.Info("sync done", rep.logAttrs(o.corpID, time.Since(opt.Start))...)
	for _, w := range rep.Warnings {
		o.log.Warn("sync warning", "corp", o.corpID, "warning", w)
	}
	return nil
}

// Merge adds another events report's counts to r.
func (r *SyncReport) Merge(o *SyncReport) {
	r.Events += o.Events
	r.Added += o.Added
	r.Updated += o.Updated
	r.Offlined += o.Offlined
	r.Reactivated += o.Reactivated
	r.Renamed += o.Renamed
	r.Ignored += o.Ignored
	r.Refused += o.Refused
	r.SetAside += o.SetAside
	for _, d := range []struct{ dst, src *DiffCounts }{{&r.Departments, &o.Departments}, {&r.Tags, &o.Tags}} {
		d.dst.Added += d.src.Added
		d.dst.Updated += d.src.Updated
		d.dst.Removed += d.src.Removed
	}
	r.Fetched.Members += o.Fetched.Members
	r.Fetched.Departments += o.Fetched.Departments
	r.Fetched.Tags += o.Fetched.Tags
	r.Writes += o.Writes
	r.DurationMs += o.DurationMs
	r.FinishedAt = o.FinishedAt
	for _, w := range o.Warnings {
		if len(r.Warnings) < 20 && !slices.Contains(r.Warnings, w) {
			r.Warnings = append(r.Warnings, w)
		}
	}
}

// Register adds or updates the members, departments and tags of a part of the org (part,
// whose Members are made by members once the departments are known) without taking
// anyone offline or removing anything: departments known locally count as known, and
// members and tags outside the part are kept as they are. One transaction, under the
// org's lock.
func (o *Directory) Register(ctx context.Context, depts []Dept, part *Fetched, members func(known map[int64]bool, root int64) []FetchedMember) (*SyncReport, error) {
	unlock, err := o.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	snap, err := ReadSnapshot(o.store, o.keys)
	if err != nil {
		return nil, err
	}
	merged := *part
	merged.Depts = slices.Clone(depts)
	seen := map[int64]bool{}
	for _, d := range depts {
		seen[d.DeptID] = true
	}
	for _, id := range slices.Sorted(maps.Keys(snap.depts)) {
		if !seen[id] {
			merged.Depts = append(merged.Depts, snap.depts[id])
		}
	}
	slices.SortFunc(merged.Depts, func(a, b Dept) int { return cmp.Compare(a.DeptID, b.DeptID) })
	known, root := DeptContext(merged.Depts)
	merged.Members = members(known, root)
	keep := &Snapshot{depts: snap.depts, deptRaw: snap.deptRaw, decoded: snap.decoded, members: snap.members, partial: true,
		tags: map[int64]Tag{}, tagRaw: snap.tagRaw, roles: snap.roles, meta: snap.meta, hasMeta: snap.hasMeta}
	for _, t := range part.Tags {
		if old, ok := snap.tags[t.TagID]; ok {
			keep.tags[t.TagID] = old
		}
	}
	rep := &SyncReport{}
	if err := o.store.Apply(o.auditChanges(ctx, o.Diff(keep, &merged, rep, false)), nil); err != nil {
		return nil, err
	}
	return rep, nil
}
