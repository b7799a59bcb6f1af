package corps

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/wecom"
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

// memberFields are the fields of a member record, in the order of its JSON array, named as
// in the member objects scripts and the HTTP API see.
var memberFields = [...]string{
	"memberId", "status", "offlineBy", "offlineAt", "createdAt", "updatedAt", "name", "deptIds", "mainDeptId",
	"leaderDeptIds", "position", "mobile", "email", "bizMail", "avatar", "thumbAvatar", "gender", "qrCode",
	"address", "telephone", "alias", "englishName", "externalPosition", "directLeader", "extAttr", "wecomStatus",
}

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

// encodeMember writes a member as a record: a JSON array of its fields in order. A record
// is its head (id, status and times: what jitrt keeps) and its tail (what WeCom says).
func encodeMember(m *memberRec) string {
	return encodeHead(m.MemberID, m.Status, m.OfflineBy, m.OfflineAt, m.CreatedAt, m.UpdatedAt) + encodeTail(m)
}

// encodeHead writes the first fields of a record, up to the comma before its tail.
func encodeHead(id, status, offlineBy, offlineAt, createdAt, updatedAt string) string {
	b := make([]byte, 0, 48+len(id)+len(createdAt)+len(updatedAt)+len(offlineAt))
	b = append(b, '[')
	for _, s := range []string{id, status, offlineBy, offlineAt, createdAt, updatedAt} {
		b = appendJSONString(b, s)
		b = append(b, ',')
	}
	return string(b)
}

// encodeTail writes the fields from the name on, to the end of the record.
func encodeTail(m *memberRec) string {
	b := make([]byte, 0, 512)
	str := func(s string) { b = appendJSONString(b, s); b = append(b, ',') }
	ints := func(l []int64) {
		b = append(b, '[')
		for i, v := range l {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, v, 10)
		}
		b = append(b, ']', ',')
	}
	strs := func(l []string) {
		b = append(b, '[')
		for i, v := range l {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']', ',')
	}
	str(m.Name)
	ints(m.DeptIDs)
	b = strconv.AppendInt(b, m.MainDeptID, 10)
	b = append(b, ',')
	ints(m.LeaderDeptIDs)
	for _, s := range []string{m.Position, m.Mobile, m.Email, m.BizMail, m.Avatar, m.ThumbAvatar, m.Gender, m.QRCode,
		m.Address, m.Telephone, m.Alias, m.EnglishName, m.ExternalPosition} {
		str(s)
	}
	strs(m.DirectLeader)
	if m.ExtAttr != nil {
		ext, _ := json.Marshal(m.ExtAttr)
		b = append(b, ext...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(m.WecomStatus), 10)
	b = append(b, ']')
	return string(b)
}

// tailOf is the tail of a stored record (see encodeMember).
func tailOf(raw string) string {
	if _, tail, ok := splitRecord(raw); ok {
		return tail
	}
	if !strings.HasPrefix(raw, "[") {
		if m, err := decodeMember(raw); err == nil {
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

// decodeMember reads a record (or, from a store written before records, a JSON object).
func decodeMember(raw string) (*memberRec, error) {
	m := &memberRec{}
	if strings.HasPrefix(raw, "{") {
		return m, json.Unmarshal([]byte(raw), m)
	}
	if !strings.HasPrefix(raw, "[") {
		return nil, fmt.Errorf("not a member record: %.40q", raw)
	}
	f := gjson.Parse(raw).Array()
	if len(f) != len(memberFields) {
		return nil, fmt.Errorf("a member record of %d fields, not %d", len(f), len(memberFields))
	}
	ints := func(r gjson.Result) []int64 {
		a := r.Array()
		out := make([]int64, len(a))
		for i, x := range a {
			out[i] = x.Int()
		}
		return out
	}
	m.MemberID, m.Status, m.OfflineBy, m.OfflineAt = f[0].String(), f[1].String(), f[2].String(), f[3].String()
	m.CreatedAt, m.UpdatedAt, m.Name = f[4].String(), f[5].String(), f[6].String()
	m.DeptIDs, m.MainDeptID, m.LeaderDeptIDs = ints(f[7]), f[8].Int(), ints(f[9])
	if len(m.LeaderDeptIDs) == 0 {
		m.LeaderDeptIDs = nil
	}
	for i, dst := range []*string{&m.Position, &m.Mobile, &m.Email, &m.BizMail, &m.Avatar, &m.ThumbAvatar, &m.Gender,
		&m.QRCode, &m.Address, &m.Telephone, &m.Alias, &m.EnglishName, &m.ExternalPosition} {
		*dst = f[10+i].String()
	}
	for _, l := range f[23].Array() {
		m.DirectLeader = append(m.DirectLeader, l.String())
	}
	if f[24].Type != gjson.Null {
		m.ExtAttr = &wecom.ExtAttr{}
		if err := json.Unmarshal([]byte(f[24].Raw), m.ExtAttr); err != nil {
			return nil, err
		}
	}
	m.WecomStatus = int(f[25].Int())
	m.WecomUserID = m.MemberID
	return m, nil
}

// memberField reads one field of a record without decoding the rest.
func memberField(raw string, i int) gjson.Result {
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

// storedMembers are a corp's members as the store holds them.
type storedMembers struct {
	raw       map[string]string // every member's record, by id
	chunks    []string          // the keys of the chunks
	overrides []string          // the ids with a single record
}

// readMembers reads every member: the chunks, then the single records over them.
func readMembers(tx *kv.Tx, k keys) (*storedMembers, error) {
	s := &storedMembers{raw: map[string]string{}}
	var bad error
	err := tx.Scan(k.chunks(), func(key, v string) bool {
		s.chunks = append(s.chunks, key)
		for len(v) > 0 {
			line, rest, _ := strings.Cut(v, "\n")
			v = rest
			id := memberField(line, fMemberID).String()
			if id == "" {
				bad = fmt.Errorf("%s holds a line that is not a member record", key)
				return false
			}
			s.raw[id] = line
		}
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	err = tx.Scan(k.members(), func(key, v string) bool {
		id := unesc(strings.TrimPrefix(key, k.members()))
		s.overrides = append(s.overrides, id)
		s.raw[id] = v
		return true
	})
	return s, err
}

// getMember reads one member's record: its single record, else the one in its chunk.
func getMember(tx *kv.Tx, k keys, id string) (string, bool, error) {
	raw, err := tx.Get(k.member(id))
	if err == nil {
		return raw, true, nil
	}
	if err != kv.ErrNotFound {
		return "", false, err
	}
	found, ok := "", false
	err = tx.ScanReverseFrom(k.chunks(), esc(id), func(key, v string) bool {
		if unesc(strings.TrimPrefix(key, k.chunks())) > id {
			return true // a chunk of ids after this one
		}
		found, ok = findInChunk(v, id)
		return false // the one chunk that could hold it
	})
	return found, ok, err
}

// findInChunk finds the record of id among a chunk's lines. A record starts with its id as
// a JSON string, which for a WeCom userid (letters, digits and _-@.) is the id in quotes:
// the line is found by that start; any other id is compared field by field.
func findInChunk(chunk, id string) (string, bool) {
	if wecom.ValidUserID(id) {
		needle := make([]byte, 0, len(id)+4)
		needle = append(append(append(needle, '[', '"'), id...), '"', ',')
		for from := 0; ; {
			i := strings.Index(chunk[from:], string(needle))
			if i < 0 {
				return "", false
			}
			at := from + i
			if at == 0 || chunk[at-1] == '\n' {
				line, _, _ := strings.Cut(chunk[at:], "\n")
				return line, true
			}
			from = at + 1
		}
	}
	for len(chunk) > 0 {
		line, rest, _ := strings.Cut(chunk, "\n")
		chunk = rest
		if memberField(line, fMemberID).String() == id {
			return line, true
		}
	}
	return "", false
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

// foldChanges are the writes that store every member of final as chunks: the old chunks
// and single records go.
func foldChanges(k keys, final map[string]string, old *storedMembers) []kv.Change {
	var changes []kv.Change
	for _, key := range old.chunks {
		changes = append(changes, kv.Change{Key: key, Delete: true})
	}
	for _, id := range old.overrides {
		changes = append(changes, kv.Change{Key: k.member(id), Delete: true})
	}
	ids := sortedIDs(final)
	for start := 0; start < len(ids); start += chunkSize {
		end := min(start+chunkSize, len(ids))
		size := 0
		for _, id := range ids[start:end] {
			size += len(final[id]) + 1
		}
		var b strings.Builder
		b.Grow(size) // the chunk's one allocation: b.String hands it over
		for _, id := range ids[start:end] {
			b.WriteString(final[id])
			b.WriteByte('\n')
		}
		changes = append(changes, kv.Change{Key: k.chunk(ids[start]), Value: b.String()})
	}
	return changes
}

// scanMembers calls fn for every member in id order: the chunks' records merged with the
// single records written since, which win.
func scanMembers(tx *kv.Tx, k keys, fn func(id, raw string) bool) error {
	type single struct{ id, raw string }
	var singles []single
	if err := tx.Scan(k.members(), func(key, v string) bool {
		singles = append(singles, single{unesc(strings.TrimPrefix(key, k.members())), v})
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
	err := tx.Scan(k.chunks(), func(_, v string) bool {
		for len(v) > 0 && !stop {
			line, rest, _ := strings.Cut(v, "\n")
			v = rest
			id := memberField(line, fMemberID).String()
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

// memberList is a list of member records, read item by item (elements.List).
type memberList []string

func (l memberList) Len() int     { return len(l) }
func (l memberList) At(i int) any { return memberView(l[i]) }

func (l memberList) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i, raw := range l {
		if i > 0 {
			b = append(b, ',')
		}
		m, err := memberView(raw).MarshalJSON()
		if err != nil {
			return nil, err
		}
		b = append(b, m...)
	}
	return append(b, ']'), nil
}

// memberView is one member record as scripts and the API see it: an object of the
// member's fields (elements.Record), each read from the record when asked for.
type memberView string

// omitted are the fields a member object leaves out when they are empty.
var omitted = map[string]bool{"offlineBy": true, "offlineAt": true, "leaderDeptIds": true, "position": true, "mobile": true,
	"email": true, "bizMail": true, "avatar": true, "thumbAvatar": true, "gender": true, "qrCode": true, "address": true,
	"telephone": true, "alias": true, "englishName": true, "externalPosition": true, "directLeader": true, "extAttr": true}

func (v memberView) Keys() []string {
	fields := gjson.Parse(string(v)).Array()
	keys := make([]string, 0, len(memberFields)+1)
	for i, name := range memberFields {
		if i < len(fields) && omitted[name] && isEmpty(fields[i]) {
			continue
		}
		keys = append(keys, name)
	}
	return append(keys, "wecomUserId")
}

func isEmpty(r gjson.Result) bool {
	switch r.Type {
	case gjson.Null:
		return true
	case gjson.String:
		return r.Str == ""
	case gjson.JSON:
		return r.Raw == "[]"
	}
	return false
}

func (v memberView) Field(key string) (any, bool) {
	if key == "wecomUserId" {
		key = "memberId"
	}
	i, ok := fieldIndex[key]
	if !ok {
		return nil, false
	}
	r := memberField(string(v), i)
	if omitted[key] && isEmpty(r) {
		return nil, false
	}
	return jsonValueOf(r), true
}

// jsonValueOf is a gjson result as a JSON-shaped Go value (numbers as float64).
func jsonValueOf(r gjson.Result) any {
	switch r.Type {
	case gjson.String:
		return r.Str
	case gjson.Number:
		return r.Num
	case gjson.True:
		return true
	case gjson.False:
		return false
	case gjson.JSON:
		var v any
		json.Unmarshal([]byte(r.Raw), &v)
		return v
	}
	return nil
}

func (v memberView) MarshalJSON() ([]byte, error) {
	m, err := decodeMember(string(v))
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
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
// links a member to its WeCom userid in the corp.
type authList struct {
	corpID string
	raws   []string
}

func (l authList) Len() int { return len(l.raws) }

func (l authList) At(i int) any {
	r := gjson.GetMany(l.raws[i], strconv.Itoa(fMemberID), strconv.Itoa(fCreatedAt))
	return map[string]any{"memberId": r[0].Str, "corpId": l.corpID, "userId": r[0].Str, "createdAt": r[1].Str}
}

func (l authList) MarshalJSON() ([]byte, error) {
	items := make([]any, len(l.raws))
	for i := range l.raws {
		items[i] = l.At(i)
	}
	return json.Marshal(items)
}

// migrate brings an org stored by an earlier jitrt (members as JSON objects, one key each,
// with an auth record and a department index each) to records in chunks, in one
// transaction. An org already stored as records is left alone.
func (c *Corp) migrate() error {
	k := c.keys
	legacy := false
	c.el.Store.View(func(tx *kv.Tx) error {
		for _, prefix := range []string{k.prefix + "auth:", k.prefix + "deptmember:"} {
			tx.Scan(prefix, func(string, string) bool { legacy = true; return false })
		}
		tx.Scan(k.members(), func(_, v string) bool { legacy = strings.HasPrefix(v, "{"); return !legacy })
		return nil
	})
	if !legacy {
		return nil
	}
	unlock, err := c.lockOrg(context.Background())
	if err != nil {
		return err
	}
	defer unlock()
	return c.el.Store.Update(func(tx *kv.Tx) error {
		stored, err := readMembers(tx, k)
		if err != nil {
			return err
		}
		final := make(map[string]string, len(stored.raw))
		for id, raw := range stored.raw {
			m, err := decodeMember(raw)
			if err != nil {
				return fmt.Errorf("member %q: %w", id, err)
			}
			final[id] = encodeMember(m)
		}
		var old []string
		for _, prefix := range []string{k.prefix + "auth:", k.prefix + "deptmember:"} {
			tx.Scan(prefix, func(key, _ string) bool { old = append(old, key); return true })
		}
		for _, key := range old {
			if _, err := tx.Delete(key); err != nil {
				return err
			}
		}
		for _, ch := range foldChanges(k, final, stored) {
			var err error
			if ch.Delete {
				_, err = tx.Delete(ch.Key)
			} else {
				err = tx.Set(ch.Key, ch.Value)
			}
			if err != nil {
				return err
			}
		}
		c.el.Logger.Info("the stored org was brought up to date: members in chunks", "members", len(final))
		return nil
	})
}
