package org

import (
	"slices"
	"sort"
	"strings"

	"github.com/jitrt/jitrt/kv"
)

// searchIndex finds the members whose id or name holds a text (listMembers' query) without
// reading every record: every member's id and name, lower-cased, in one string in id order
// ("id\x00name\n" each), searched with strings.Index, which skips what cannot match; the
// members changed since it was built are kept beside it (overlay) until too many have.
type searchIndex struct {
	version uint64
	hay     string
	starts  []int32           // where each member's entry starts in hay
	raws    []string          // each member's record
	overlay map[string]string // since built: a changed member's record ("" if removed)
}

// maxOverlay is how many changed members a search index keeps beside it before it is
// built anew.
const maxOverlay = 10_000

// searchable says whether a (lower-cased) query can be looked up in the index.
func searchable(needle string) bool {
	return needle != "" && !strings.ContainsAny(needle, "\x00\n")
}

func (o *Directory) searchIndex(tx *kv.Tx) (*searchIndex, error) {
	v := tx.Generation(o.keys.prefix)
	kept := o.searchIx.Load()
	if kept != nil && kept.version == v {
		return kept, nil
	}
	if kept != nil {
		if deltas, ok := o.memberDeltas(tx, kept.version); ok && len(kept.overlay)+len(deltas) <= maxOverlay {
			next := *kept
			next.version = v
			if len(deltas) > 0 {
				next.overlay = make(map[string]string, len(kept.overlay)+len(deltas))
				for id, raw := range kept.overlay {
					next.overlay[id] = raw
				}
				for _, d := range deltas {
					next.overlay[d.id] = d.now
				}
			}
			o.searchIx.Store(&next)
			return &next, nil
		}
	}
	s := &searchIndex{version: v}
	var hay []byte
	err := scanMembers(tx, o.keys, func(id, raw string) bool {
		s.starts = append(s.starts, int32(len(hay)))
		s.raws = append(s.raws, raw)
		hay = appendSearchEntry(hay, id, MemberField(raw, fName).String())
		return true
	})
	if err != nil {
		return nil, err
	}
	s.hay = string(hay)
	o.searchIx.Store(s)
	return s, nil
}

func appendSearchEntry(b []byte, id, name string) []byte {
	b = append(b, strings.ToLower(id)...)
	b = append(b, 0)
	b = append(b, strings.ToLower(name)...)
	return append(b, '\n')
}

// each calls fn with the record of every member whose id or name holds needle (lower
// case, searchable), in id order, until fn returns false.
func (s *searchIndex) each(needle string, fn func(raw string) bool) {
	// the changed members that match, in id order
	var changed []string
	for id, raw := range s.overlay {
		if raw != "" && strings.Contains(string(appendSearchEntry(nil, id, MemberField(raw, fName).String())), needle) {
			changed = append(changed, raw)
		}
	}
	slices.SortFunc(changed, func(a, b string) int { return strings.Compare(recordID(a), recordID(b)) })
	next := 0
	flush := func(before string) bool { // the changed ones before id ("": all)
		for ; next < len(changed) && (before == "" || recordID(changed[next]) < before); next++ {
			if !fn(changed[next]) {
				return false
			}
		}
		return true
	}
	for pos := 0; pos < len(s.hay); {
		i := strings.Index(s.hay[pos:], needle)
		if i < 0 {
			break
		}
		at := pos + i
		m := sort.Search(len(s.starts), func(j int) bool { return int(s.starts[j]) > at }) - 1
		end := len(s.hay)
		if m+1 < len(s.starts) {
			end = int(s.starts[m+1])
		}
		pos = end
		if at+len(needle) >= end { // across the entry's end: not a match in it
			pos = at + 1
			continue
		}
		raw := s.raws[m]
		id := recordID(raw)
		if !flush(id) {
			return
		}
		if _, isChanged := s.overlay[id]; isChanged {
			continue // as it is now: among the changed
		}
		if !fn(raw) {
			return
		}
	}
	flush("")
}
