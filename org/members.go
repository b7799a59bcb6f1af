package org

import (
	"encoding/json"
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/jitrt/jitrt/kv"
)

// # How members are stored
//
// An org of 100,000 members is opened, synced and read many times a day, so its members are
// kept compact and in few keys:
//
//	mchunk:<first memberId>   up to chunkSize member records, sorted by id, one a line
//	member:<memberId>         a member's record written since its chunk was; it wins
//
// A record is a JSON array of the member's fields in the order of memberFields (about 60%
// of the size of the same record as an object). A sync writes the members it changes as
// single records; once those are a good part of the org, it folds everything back into
// chunks in the same transaction. A sync that changes 1% of the members thus writes 1% of
// them, and opening the store loads a few hundred chunks rather than 100,000 keys.

// chunkSize is how many members a chunk holds.
const chunkSize = 128

// Positions of the fields a sync reads without decoding the record.
const (
	fMemberID = iota
	fStatus
	fOfflineBy
	fOfflineAt
	fCreatedAt
	fUpdatedAt
	fName
	fDeptIDs
)

// fieldIndex maps a field's name to its position.
var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(memberFields))
	for i, f := range memberFields {
		m[f] = i
	}
	return m
}()

// EncodeMember writes a member as a record: a JSON array of its fields in order. A record
// is its head (id, status and times: what jitrt keeps) and its tail (what the provider says).
func EncodeMember(m *Member) string {
	return encodeHead(m.MemberID, m.Status, m.OfflineBy, m.OfflineAt, m.CreatedAt, m.UpdatedAt) + encodeTail(m)
}

// encodeHead writes the first fields of a record, up to the comma before its tail.
func encodeHead(id, status, offlineBy, offlineAt, createdAt, updatedAt string) string {
	rest := encodeHeadRest(status, offlineBy, offlineAt, createdAt, updatedAt)
	b := make([]byte, 0, len(id)+4+len(rest))
	return string(append(appendHeadID(b, id), rest...))
}

// appendHeadID appends the start of a record up to its id's comma.
func appendHeadID(b []byte, id string) []byte {
	b = append(b, '[')
	b = appendJSONString(b, id)
	return append(b, ',')
}

// encodeHeadRest writes the fields of a record's head after its id, up to the comma
// before its tail: the same for every member a sync adds, so made once. Its times are
// packed (packTime), updatedAt left empty when it is createdAt.
func encodeHeadRest(status, offlineBy, offlineAt, createdAt, updatedAt string) string {
	offlineAt, createdAt, updatedAt = packTime(offlineAt), packTime(createdAt), packTime(updatedAt)
	if updatedAt == createdAt {
		updatedAt = ""
	}
	b := make([]byte, 0, 40+len(createdAt)+len(updatedAt)+len(offlineAt))
	for _, s := range []string{status, offlineBy, offlineAt, createdAt, updatedAt} {
		b = appendJSONString(b, s)
		b = append(b, ',')
	}
	return string(b)
}

// # Times in a record
//
// A member's times (offlineAt, createdAt, updatedAt) are RFC 3339 in whole seconds, UTC,
// as Now gives them, everywhere a member is seen. A record keeps them packed: the seconds
// since 1970 in decimal ("1796531204", 12 bytes with its quotes for 22), and updatedAt
// empty while it is createdAt (a member nothing changed since it was added). That is 30 of
// the 440 bytes a WeCom member's record takes on average: 7% of a state file of a million
// members. A time of any other form (a record of an earlier jitrt, a time with a fraction
// or an offset) is kept as it is; reading a record unpacks either form to the same string.

// packTime is a time as a record keeps it.
func packTime(t string) string {
	tm, err := time.Parse(time.RFC3339, t)
	if err != nil || tm.Year() < 1970 || !strings.HasSuffix(t, "Z") || tm.Format(time.RFC3339) != t {
		return t // not whole seconds in UTC as written (a fraction, an offset, 30 February): kept as written
	}
	return strconv.FormatInt(tm.Unix(), 10)
}

// unpackTime is a time as a record keeps it, as members show it.
func unpackTime(s string) string {
	if s == "" || len(s) > 12 {
		return s
	}
	n := int64(0)
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return s
		}
		n = n*10 + int64(s[i]-'0')
	}
	return time.Unix(n, 0).UTC().Format(time.RFC3339)
}

// recordTimes are a record's times as members show them, from its fields as stored.
func recordTimes(offlineAt, createdAt, updatedAt string) (string, string, string) {
	if updatedAt == "" {
		updatedAt = createdAt
	}
	return unpackTime(offlineAt), unpackTime(createdAt), unpackTime(updatedAt)
}

// tailOf is the tail of a stored record (see EncodeMember).
func tailOf(raw string) string {
	if _, tail, ok := splitRecord(raw); ok {
		return tail
	}
	if !strings.HasPrefix(raw, "[") {
		if m, err := DecodeMember(raw); err == nil {
			return encodeTail(m)
		}
		return ""
	}
	r := gjson.Get(raw, strconv.Itoa(fUpdatedAt))
	if end := r.Index + len(r.Raw); r.Index > 0 && end < len(raw) && raw[end] == ',' {
		return raw[end+1:]
	}
	return ""
}

// appendJSONString appends s as a JSON string (no HTML escaping; never a raw newline, so
// that records can be joined by lines).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else if r == '\u2028' || r == '\u2029' {
				b = append(b, fmt.Sprintf(`\u%04x`, r)...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(b, '"')
}

// MemberField reads one field of a record without decoding the rest.
func MemberField(raw string, i int) gjson.Result {
	if strings.HasPrefix(raw, "{") {
		return gjson.Get(raw, memberFields[i])
	}
	return gjson.Get(raw, strconv.Itoa(i))
}

// memberHeader is the part of a stored member a comparison needs.
type memberHeader struct {
	status, offlineBy, offlineAt, createdAt, updatedAt string
}

// splitRecord reads a record's head fields (plain strings, as encodeHead writes them) and
// its tail without decoding anything else or allocating.
func splitRecord(raw string) (memberHeader, string, bool) {
	var f [6]string
	if len(raw) < 2 || raw[0] != '[' {
		return memberHeader{}, "", false
	}
	p := 1
	for i := range f {
		if p >= len(raw) || raw[p] != '"' {
			return memberHeader{}, "", false
		}
		end := strings.IndexByte(raw[p+1:], '"')
		if end < 0 || strings.IndexByte(raw[p+1:p+1+end], '\\') >= 0 {
			return memberHeader{}, "", false
		}
		f[i] = raw[p+1 : p+1+end]
		p += end + 2
		if p >= len(raw) || raw[p] != ',' {
			return memberHeader{}, "", false
		}
		p++
	}
	return memberHeader{f[1], f[2], f[3], f[4], f[5]}, raw[p:], true
}

func headerOf(raw string) memberHeader {
	if h, _, ok := splitRecord(raw); ok {
		return h
	}
	if strings.HasPrefix(raw, "{") {
		r := gjson.GetMany(raw, "status", "offlineBy", "offlineAt", "createdAt", "updatedAt")
		return memberHeader{r[0].String(), r[1].String(), r[2].String(), r[3].String(), r[4].String()}
	}
	r := gjson.GetMany(raw, "1", "2", "3", "4", "5")
	return memberHeader{r[0].String(), r[1].String(), r[2].String(), r[3].String(), r[4].String()}
}

// recordID is the id of a record (its first field), read without parsing the rest.
func recordID(raw string) string {
	if strings.HasPrefix(raw, `["`) {
		if end := strings.IndexByte(raw[2:], '"'); end >= 0 && strings.IndexByte(raw[2:2+end], '\\') < 0 {
			return raw[2 : 2+end]
		}
	}
	return MemberField(raw, fMemberID).String()
}

// storedMembers are a corp's members as the store holds them.
type storedMembers struct {
	raw       map[string]string // every member's record, by id
	chunks    []string          // the keys of the chunks
	overrides []string          // the ids with a single record
}

// readMembers reads every member: the chunks, then the single records over them.
func readMembers(tx *kv.Tx, k Keys) (*storedMembers, error) {
	s := &storedMembers{}
	var values []string
	if err := tx.Scan(k.Chunks(), func(key, v string) bool {
		s.chunks, values = append(s.chunks, key), append(values, v)
		return true
	}); err != nil {
		return nil, err
	}
	s.raw = make(map[string]string, len(values)*chunkSize) // a chunk holds up to chunkSize: no growing
	for i, v := range values {
		for len(v) > 0 {
			line, rest, _ := strings.Cut(v, "\n")
			v = rest
			id := recordID(line)
			if id == "" {
				return nil, fmt.Errorf("%s holds a line that is not a member record", s.chunks[i])
			}
			s.raw[id] = line
		}
	}
	err := tx.Scan(k.Members(), func(key, v string) bool {
		id := Unesc(strings.TrimPrefix(key, k.Members()))
		s.overrides = append(s.overrides, id)
		s.raw[id] = v
		return true
	})
	return s, err
}

// MemberEstimate is about how many members the org stores (at most chunkSize-1 over), from
// its keys alone: what a sync may size its sets by before the stored org is read.
func (o *Directory) MemberEstimate() int {
	n := 0
	o.store.View(func(tx *kv.Tx) error {
		tx.ScanKeys(o.keys.Chunks(), func(string) bool { n += chunkSize; return true })
		tx.ScanKeys(o.keys.Members(), func(string) bool { n++; return true })
		return nil
	})
	return n
}

// GetMember reads one member's record: its single record, else the one in its chunk.
func GetMember(tx *kv.Tx, k Keys, id string) (string, bool, error) {
	raw, err := tx.Get(k.Member(id))
	if err == nil {
		return raw, true, nil
	}
	if err != kv.ErrNotFound {
		return "", false, err
	}
	return chunkRecord(tx, k, id)
}

// chunkRecord reads the record of a member in its chunk (not a single record over it).
func chunkRecord(tx *kv.Tx, k Keys, id string) (string, bool, error) {
	found, ok := "", false
	err := tx.ScanReverseFrom(k.Chunks(), Esc(id), func(key, v string) bool {
		if Unesc(strings.TrimPrefix(key, k.Chunks())) > id {
			return true // a chunk of ids after this one
		}
		found, ok = findInChunk(v, id)
		return false // the one chunk that could hold it
	})
	return found, ok, err
}

// sortedIDs are the keys of a member map in order.
func sortedIDs(m map[string]string) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// shouldFold says whether, with overrides single records among total members, the
// members are better rewritten as chunks.
func shouldFold(overrides, total int) bool {
	return overrides >= 2*chunkSize && overrides*4 >= total
}

// memberRec is a member's record as the strings it is made of: its id, the rest of its
// head (encodeHeadRest) and its tail; or, with no head, the whole record as its tail. A
// fold writes it into its chunk without making it, and the members a sync adds share one
// head.
type memberRec struct{ id, head, tail string }

func (r memberRec) String() string {
	if r.head == "" {
		return r.tail
	}
	return string(r.appendTo(make([]byte, 0, r.size())))
}

// size is about the record's size (more if its id needs escapes).
func (r memberRec) size() int {
	if r.head == "" {
		return len(r.tail)
	}
	return len(r.id) + 4 + len(r.head) + len(r.tail)
}

func (r memberRec) appendTo(b []byte) []byte {
	if r.head != "" {
		b = append(appendHeadID(b, r.id), r.head...)
	}
	return append(b, r.tail...)
}

// foldChanges are the writes that store every member of final (in id order) as chunks:
// the old chunks and single records go. It empties final as it goes, so that a record's
// parts can be collected once its chunk is made.
func foldChanges(k Keys, final []memberRec, old *storedMembers) []kv.Change {
	var changes []kv.Change
	for _, key := range old.chunks {
		changes = append(changes, kv.Change{Key: key, Delete: true})
	}
	for _, id := range old.overrides {
		changes = append(changes, kv.Change{Key: k.Member(id), Delete: true})
	}
	first := len(changes)
	changes = append(changes, make([]kv.Change, (len(final)+chunkSize-1)/chunkSize)...)
	// the chunks are made on every core: for a large org, hundreds of MiB of new memory
	parallel(len(changes)-first, func(i int) {
		recs := final[i*chunkSize : min((i+1)*chunkSize, len(final))]
		size := 0
		for _, r := range recs {
			size += r.size() + 1
		}
		b := make([]byte, 0, size) // the chunk's one allocation, handed over as it is
		for _, r := range recs {
			b = append(r.appendTo(b), '\n')
		}
		id := recs[0].id
		clear(recs)
		changes[first+i] = kv.Change{Key: k.Chunk(id), Value: unsafe.String(unsafe.SliceData(b), len(b))}
	})
	return changes
}

// parallel calls fn(i) for i in [0, n) on every core, and returns when all are done. A
// panic in fn is raised again in the caller's goroutine.
func parallel(n int, fn func(i int)) {
	workers := min(goruntime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	onWorkers(workers, func(int) {
		for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
			fn(i)
		}
	})
}

// onWorkers runs fn(w) for w in [0, workers) on goroutines of their own, and returns when
// all are done. A panic in one is raised again in the caller's goroutine.
func onWorkers(workers int, fn func(w int)) {
	var panicked atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					panicked.CompareAndSwap(nil, fmt.Sprintf("%v\n%s", r, debug.Stack()))
				}
			}()
			fn(w)
		}()
	}
	wg.Wait()
	if p := panicked.Load(); p != nil {
		panic(p.(string))
	}
}

// scanMembers calls fn for every member in id order: the chunks' records merged with the
// single records written since, which win.
func scanMembers(tx *kv.Tx, k Keys, fn func(id, raw string) bool) error {
	type single struct{ id, raw string }
	var singles []single
	if err := tx.Scan(k.Members(), func(key, v string) bool {
		singles = append(singles, single{Unesc(strings.TrimPrefix(key, k.Members())), v})
		return true
	}); err != nil {
		return err
	}
	next, stop := 0, false
	emitSinglesBefore := func(id string) {
		for !stop && next < len(singles) && (id == "" || singles[next].id < id) {
			stop = !fn(singles[next].id, singles[next].raw)
			next++
		}
	}
	err := tx.Scan(k.Chunks(), func(_, v string) bool {
		for len(v) > 0 && !stop {
			line, rest, _ := strings.Cut(v, "\n")
			v = rest
			id := MemberField(line, fMemberID).String()
			emitSinglesBefore(id)
			if stop {
				break
			}
			if next < len(singles) && singles[next].id == id {
				stop = !fn(id, singles[next].raw)
				next++
				continue
			}
			stop = !fn(id, line)
		}
		return !stop
	})
	emitSinglesBefore("")
	return err
}

// jsonList is a list of stored JSON documents, decoded item by item (elements.List).
type jsonList []string

func (l jsonList) Len() int { return len(l) }

func (l jsonList) At(i int) any {
	var v any
	json.Unmarshal([]byte(l[i]), &v)
	return v
}

func (l jsonList) MarshalJSON() ([]byte, error) {
	n := 2
	for _, s := range l {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, s...)
	}
	return append(b, ']'), nil
}

// authList is the third-party auth records of members, made from their records: each
// links a member to its id on the platform.
type authList struct {
	corpID string
	raws   []string
}

func (l authList) Len() int { return len(l.raws) }

func (l authList) At(i int) any {
	r := gjson.GetMany(l.raws[i], strconv.Itoa(fMemberID), strconv.Itoa(fCreatedAt))
	return map[string]any{"memberId": r[0].Str, "corpId": l.corpID, "userId": r[0].Str, "createdAt": unpackTime(r[1].Str)}
}

func (l authList) MarshalJSON() ([]byte, error) {
	items := make([]any, len(l.raws))
	for i := range l.raws {
		items[i] = l.At(i)
	}
	return json.Marshal(items)
}
