package org

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/jitrt/jitrt/kv"
)

// # The member record
//
// A member is stored as a JSON array of its fields in the order of memberFields: the
// neutral fields every provider maps to, then "ext", the provider's own part (a JSON object
// or null). The record's head (id, status, times) is the org's; its tail (from the name on)
// is what the provider says, compared as a string by a sync.
//
// Before the org engine, a record held WeCom's fields among the neutral ones (26 fields:
// legacyFields). Such a store is upgraded in place when the org is opened (Upgrade): the
// fields the neutral schema does not have move, in their old order, into ext (LegacyExt),
// which is what the WeCom provider writes there.

// memberFields are the fields of a member record, in the order of its JSON array, named as
// in the member objects scripts and the HTTP API see; "ext" is the provider's part, an
// array whose fields the provider names (Profile.ExtFields).
var memberFields = [...]string{
	"memberId", "status", "offlineBy", "offlineAt", "createdAt", "updatedAt", "name", "deptIds", "mainDeptId",
	"leaderDeptIds", "position", "mobile", "email", "avatar", "gender", "telephone", "englishName", "directLeader", "ext",
}

// fExt is the position of the provider's part.
const fExt = 18

// legacyFields are the fields of a record written before the org engine (WeCom's).
var legacyFields = [...]string{
	"memberId", "status", "offlineBy", "offlineAt", "createdAt", "updatedAt", "name", "deptIds", "mainDeptId",
	"leaderDeptIds", "position", "mobile", "email", "bizMail", "avatar", "thumbAvatar", "gender", "qrCode",
	"address", "telephone", "alias", "englishName", "externalPosition", "directLeader", "extAttr", "wecomStatus",
}

// LegacyExt are the legacy fields that are not neutral, in the order an upgraded record's
// provider part holds them: what the WeCom provider names its part (Profile.ExtFields).
var LegacyExt = []string{"bizMail", "thumbAvatar", "qrCode", "address", "alias", "externalPosition", "extAttr", "wecomStatus"}

// encodeTail writes the fields from the name on, to the end of the record.
func encodeTail(m *Member) string {
	// the record's size if nothing needs escaping (as in nearly every member): the tail is
	// handed over in the array it is written in, so the array is sized to it, not beyond
	n := 2 + len(m.Name) + len(m.Position) + len(m.Mobile) + len(m.Email) + len(m.Avatar) + len(m.Gender) +
		len(m.Telephone) + len(m.EnglishName) + 3*8 + 2*2 + intsLen(m.DeptIDs) + intsLen(m.LeaderDeptIDs) +
		intLen(m.MainDeptID) + 3 + len(m.Ext) + 4
	for _, l := range m.DirectLeader {
		n += len(l) + 3
	}
	b := make([]byte, 0, n)
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
	str(m.Name)
	ints(m.DeptIDs)
	b = strconv.AppendInt(b, m.MainDeptID, 10)
	b = append(b, ',')
	ints(m.LeaderDeptIDs)
	for _, s := range []string{m.Position, m.Mobile, m.Email, m.Avatar, m.Gender, m.Telephone, m.EnglishName} {
		str(s)
	}
	b = append(b, '[')
	for i, v := range m.DirectLeader {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, v)
	}
	b = append(b, ']', ',')
	if ext := bytes.TrimSpace(m.Ext); len(ext) > 0 && string(ext) != "null" {
		b = append(b, ext...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, ']')
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not written again: no copy
}

// intLen is the length of v in decimal.
func intLen(v int64) int {
	n := 1
	if v < 0 {
		n, v = 2, -v
	}
	for ; v >= 10; v /= 10 {
		n++
	}
	return n
}

// intsLen is the length of a JSON array of l and its comma.
func intsLen(l []int64) int {
	n := 3
	for _, v := range l {
		n += intLen(v) + 1
	}
	return n
}

// EncodeTail is the tail of a member's record: what a provider says of the member.
func EncodeTail(m *Member) string { return encodeTail(m) }

// DecodeMember reads a record: one of today's, or one written before the org engine (a
// legacy record, or from before records, a JSON object).
func DecodeMember(raw string) (*Member, error) {
	if strings.HasPrefix(raw, "{") {
		return decodeLegacyObject(raw)
	}
	if !strings.HasPrefix(raw, "[") {
		return nil, fmt.Errorf("not a member record: %.40q", raw)
	}
	f := gjson.Parse(raw).Array()
	switch len(f) {
	case len(memberFields):
	case len(legacyFields):
		return decodeLegacy(f)
	default:
		return nil, fmt.Errorf("a member record of %d fields, not %d", len(f), len(memberFields))
	}
	m := &Member{}
	m.MemberID, m.Status, m.OfflineBy, m.Name = f[0].String(), f[1].String(), f[2].String(), f[6].String()
	m.OfflineAt, m.CreatedAt, m.UpdatedAt = recordTimes(f[3].String(), f[4].String(), f[5].String())
	m.DeptIDs, m.MainDeptID, m.LeaderDeptIDs = intsOf(f[7]), f[8].Int(), intsOf(f[9])
	if len(m.LeaderDeptIDs) == 0 {
		m.LeaderDeptIDs = nil
	}
	for i, dst := range []*string{&m.Position, &m.Mobile, &m.Email, &m.Avatar, &m.Gender, &m.Telephone, &m.EnglishName} {
		*dst = f[10+i].String()
	}
	for _, l := range f[17].Array() {
		m.DirectLeader = append(m.DirectLeader, l.String())
	}
	if f[fExt].Type != gjson.Null {
		m.Ext = json.RawMessage(f[fExt].Raw)
	}
	return m, nil
}

// decodeLegacy reads a record of legacyFields.
func decodeLegacy(f []gjson.Result) (*Member, error) {
	m := &Member{}
	m.MemberID, m.Status, m.OfflineBy, m.OfflineAt = f[0].String(), f[1].String(), f[2].String(), f[3].String()
	m.CreatedAt, m.UpdatedAt, m.Name = f[4].String(), f[5].String(), f[6].String()
	m.DeptIDs, m.MainDeptID, m.LeaderDeptIDs = intsOf(f[7]), f[8].Int(), intsOf(f[9])
	if len(m.LeaderDeptIDs) == 0 {
		m.LeaderDeptIDs = nil
	}
	m.Position, m.Mobile, m.Email, m.Avatar, m.Gender = f[10].String(), f[11].String(), f[12].String(), f[14].String(), f[16].String()
	m.Telephone, m.EnglishName = f[19].String(), f[21].String()
	for _, l := range f[23].Array() {
		m.DirectLeader = append(m.DirectLeader, l.String())
	}
	var ext ExtBuilder // legacyExt, in order
	ext.String(f[13].String())
	ext.String(f[15].String())
	ext.String(f[17].String())
	ext.String(f[18].String())
	ext.String(f[20].String())
	ext.String(f[22].String())
	ext.Raw(f[24].Raw)
	ext.Int(f[25].Int())
	m.Ext = ext.JSON()
	return m, nil
}

// decodeLegacyObject reads a member stored as a JSON object (before records).
func decodeLegacyObject(raw string) (*Member, error) {
	if !gjson.Valid(raw) {
		return nil, fmt.Errorf("not a member record: %.40q", raw)
	}
	r := gjson.Parse(raw)
	f := make([]gjson.Result, len(legacyFields))
	for i, name := range legacyFields {
		f[i] = r.Get(name)
	}
	return decodeLegacy(f)
}

func intsOf(arr gjson.Result) []int64 { return appendInts(nil, arr) }

// ExtBuilder writes a provider's part of a member record: a JSON array of its fields in
// the order the provider names them (Profile.ExtFields), compact like the rest of the
// record. The same values in the same order always make the same bytes, which is what
// lets a sync compare records as strings.
type ExtBuilder struct{ b []byte }

// Grow makes room for n more bytes (the provider's estimate: one allocation, no growth).
func (e *ExtBuilder) Grow(n int) {
	if cap(e.b)-len(e.b) < n {
		b := make([]byte, len(e.b), len(e.b)+n)
		copy(b, e.b)
		e.b = b
	}
}

func (e *ExtBuilder) next() {
	if len(e.b) == 0 {
		e.Grow(64)
		e.b = append(e.b, '[')
	} else {
		e.b = append(e.b, ',')
	}
}

// String adds a string field.
func (e *ExtBuilder) String(v string) {
	e.next()
	e.b = appendJSONString(e.b, v)
}

// Int adds a number field.
func (e *ExtBuilder) Int(v int64) {
	e.next()
	e.b = strconv.AppendInt(e.b, v, 10)
}

// Raw adds a field of JSON ("" is null).
func (e *ExtBuilder) Raw(v string) {
	e.next()
	if v = strings.TrimSpace(v); v == "" {
		v = "null"
	}
	e.b = append(e.b, v...)
}

// RawBytes adds a field of JSON given as bytes (empty is null).
func (e *ExtBuilder) RawBytes(v []byte) {
	e.next()
	if len(v) == 0 {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, v...)
}

// JSON is the array (nil if no field was added).
func (e *ExtBuilder) JSON() json.RawMessage {
	if len(e.b) == 0 {
		return nil
	}
	return json.RawMessage(append(e.b, ']'))
}

// ExtValues are the fields of a provider's part, in order (nil for none).
func ExtValues(ext json.RawMessage) []gjson.Result {
	if len(ext) == 0 {
		return nil
	}
	return gjson.ParseBytes(ext).Array()
}

// isLegacy reports whether a stored member is a record of legacyFields or an object.
func isLegacy(raw string) bool {
	if strings.HasPrefix(raw, "{") {
		return true
	}
	n := 0
	gjson.Parse(raw).ForEach(func(_, _ gjson.Result) bool { n++; return n <= len(memberFields) })
	return n > len(memberFields)
}

// plainID reports whether an id is written into JSON as itself (no escape).
func plainID(id string) bool {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return id != ""
}

// findInChunk finds the record of id among a chunk's lines. A record starts with its id as
// a JSON string, which for an id with nothing to escape is the id in quotes: the line is
// found by that start; any other id is compared field by field.
func findInChunk(chunk, id string) (string, bool) {
	if plainID(id) {
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
		if MemberField(line, fMemberID).String() == id {
			return line, true
		}
	}
	return "", false
}

// memberList is a list of member records, read item by item (elements.List).
type memberList struct {
	raws []string
	prof *Profile
}

func (l memberList) Len() int     { return len(l.raws) }
func (l memberList) At(i int) any { return memberView{l.raws[i], l.prof} }

func (l memberList) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i, raw := range l.raws {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = (memberView{raw, l.prof}).appendJSON(b); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// memberView is one member record as scripts and the API see it: an object of the
// member's neutral fields, then the provider's (ext) and its aliases (elements.Record),
// each read from the record when asked for.
type memberView struct {
	raw  string
	prof *Profile
}

// omitted are the neutral fields a member object leaves out when they are empty.
var omitted = map[string]bool{"offlineBy": true, "offlineAt": true, "leaderDeptIds": true, "position": true, "mobile": true,
	"email": true, "avatar": true, "gender": true, "telephone": true, "englishName": true, "directLeader": true}

// fields calls fn with each field the member object has, in order, and its JSON.
func (v memberView) fields(fn func(key, raw string)) error {
	f := gjson.Parse(v.raw).Array()
	if len(f) != len(memberFields) {
		m, err := DecodeMember(v.raw) // a record of an earlier jitrt
		if err != nil {
			return err
		}
		f = gjson.Parse(EncodeMember(m)).Array()
	}
	offlineAt, createdAt, updatedAt := recordTimes(f[fOfflineAt].String(), f[fCreatedAt].String(), f[fUpdatedAt].String())
	f[fOfflineAt], f[fCreatedAt], f[fUpdatedAt] = stringResult(offlineAt), stringResult(createdAt), stringResult(updatedAt)
	for i, name := range memberFields {
		if i == fExt || omitted[name] && isEmpty(f[i]) {
			continue
		}
		fn(name, f[i].Raw)
	}
	if f[fExt].IsArray() && v.prof != nil {
		for i, val := range f[fExt].Array() {
			if i < len(v.prof.ExtFields) && !isEmpty(val) {
				fn(v.prof.ExtFields[i], val.Raw)
			}
		}
	}
	if v.prof != nil {
		for _, a := range v.prof.Aliases {
			if i, ok := fieldIndex[a.Of]; ok {
				fn(a.Name, f[i].Raw)
			}
		}
	}
	return nil
}

func (v memberView) Keys() []string {
	keys := make([]string, 0, len(memberFields)+8)
	v.fields(func(k, _ string) { keys = append(keys, k) })
	return keys
}

// stringResult is s as gjson would have read it from JSON.
func stringResult(s string) gjson.Result {
	return gjson.Result{Type: gjson.String, Str: s, Raw: string(appendJSONString(nil, s))}
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
	if v.prof != nil {
		for _, a := range v.prof.Aliases {
			if a.Name == key {
				key = a.Of
				break
			}
		}
	}
	if i, ok := fieldIndex[key]; ok && i != fExt && i != fUpdatedAt && strings.HasPrefix(v.raw, "[") {
		r := MemberField(v.raw, i)
		if i == fOfflineAt || i == fCreatedAt {
			r.Str = unpackTime(r.Str)
		}
		if omitted[key] && isEmpty(r) {
			return nil, false
		}
		return jsonValueOf(r), true
	}
	var out any
	found := false
	v.fields(func(k, raw string) {
		if !found && k == key {
			out, found = jsonValueOf(gjson.Parse(raw)), true
		}
	})
	return out, found
}

func (v memberView) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	first := true
	err := v.fields(func(k, raw string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = append(b, raw...)
	})
	return append(b, '}'), err
}

func (v memberView) MarshalJSON() ([]byte, error) { return v.appendJSON(nil) }

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

// Upgrade brings an org stored by an earlier jitrt to today's records in chunks, in one
// transaction under the org's lock: members stored as JSON objects (one key each, with an
// auth record and a department index each) or as legacy records. An org already stored as
// today's records is left alone, after reading one record.
func (o *Directory) Upgrade(ctx context.Context) error {
	k := o.keys
	legacy := false
	o.store.View(func(tx *kv.Tx) error {
		for _, prefix := range []string{k.prefix + "auth:", k.prefix + "deptmember:"} {
			tx.Scan(prefix, func(string, string) bool { legacy = true; return false })
		}
		tx.Scan(k.Members(), func(_, v string) bool { legacy = legacy || isLegacy(v); return !legacy })
		tx.Scan(k.Chunks(), func(_, v string) bool {
			line, _, _ := strings.Cut(v, "\n")
			legacy = legacy || isLegacy(line)
			return false
		})
		return nil
	})
	if !legacy {
		return nil
	}
	unlock, err := o.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return o.update(ctx, func(tx *kv.Tx) error {
		stored, err := readMembers(tx, k)
		if err != nil {
			return err
		}
		final := make([]memberRec, 0, len(stored.raw))
		for _, id := range sortedIDs(stored.raw) {
			m, err := DecodeMember(stored.raw[id])
			if err != nil {
				return fmt.Errorf("member %q: %w", id, err)
			}
			final = append(final, memberRec{id: id, tail: EncodeMember(m)})
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
		o.log.Info("the stored org was brought up to date: members in today's records, in chunks", "members", len(final))
		return nil
	})
}
