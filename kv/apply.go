package kv

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
)

// journalKey holds a diff between its journalling and its application (see Apply).
const journalKey = "kv:journal"

// Change is one key to set (Delete false) or delete.
type Change struct {
	Key    string `json:"k"`
	Value  string `json:"v,omitempty"`
	Delete bool   `json:"d,omitempty"`
}

// Apply writes a set of changes so that a process killed at any moment — even in the
// middle of the write — reopens to the state before them or after them, never a mix.
//
// BuntDB writes a transaction with one write, but a write cut short leaves the records
// before the cut in the file, in no set order. So Apply first journals the whole diff as a
// single record (a record cut short is dropped when the file is loaded), then applies it,
// then drops the journal; Open replays a journal left behind. Each step is fsynced.
//
// check, if not nil, runs in the applying transaction before anything is written; an error
// from it writes nothing (use it to verify that the snapshot the diff was computed from is
// still current).
func (s *Store) Apply(changes []Change, check func(tx *Tx) error) error {
	if len(changes) == 0 {
		if check != nil {
			return s.View(check)
		}
		return nil
	}
	if check != nil {
		if err := s.View(check); err != nil {
			return err
		}
	}
	if err := s.Set(journalKey, encodeJournal(changes)); err != nil {
		return fmt.Errorf("kv: write journal: %w", err)
	}
	if err := s.Update(func(tx *Tx) error { return applyChanges(tx, changes) }); err != nil {
		// Nothing of the diff was committed; drop the journal so it is not replayed.
		if derr := s.deleteJournal(); derr != nil {
			return errors.Join(err, derr)
		}
		return err
	}
	if err := s.deleteJournal(); err != nil {
		return err
	}
	// A large diff is when the file grows most: compact it then, if it is due.
	s.maybeShrink()
	return nil
}

func (s *Store) deleteJournal() error {
	err := s.Update(func(tx *Tx) error {
		_, err := tx.Delete(journalKey)
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("kv: drop journal: %w", err)
	}
	return nil
}

func applyChanges(tx *Tx, changes []Change) error {
	for _, c := range changes {
		if c.Delete {
			if _, err := tx.Delete(c.Key); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return fmt.Errorf("kv: delete %s: %w", c.Key, err)
			}
			continue
		}
		if _, _, err := tx.Set(c.Key, c.Value, nil); err != nil {
			return fmt.Errorf("kv: set %s: %w", c.Key, err)
		}
	}
	return nil
}

// replayJournal finishes an Apply that a killed process left half done.
func (s *Store) replayJournal() (bool, error) {
	raw, err := s.Get(journalKey)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	changes, err := decodeJournal(raw)
	if err != nil {
		return false, fmt.Errorf("kv: journal is unreadable: %w", err)
	}
	if err := s.Update(func(tx *Tx) error { return applyChanges(tx, changes) }); err != nil {
		return false, err
	}
	return true, s.deleteJournal()
}

// journalMagic starts an encoded journal.
const journalMagic = "kvj1"

// encodeJournal writes changes as one string, built at its exact size: per change an op
// byte ('S' set, 'D' delete), the key and, for a set, the value, each length-prefixed.
func encodeJournal(changes []Change) string {
	size := len(journalMagic)
	for _, c := range changes {
		size += 1 + binary.MaxVarintLen64 + len(c.Key)
		if !c.Delete {
			size += binary.MaxVarintLen64 + len(c.Value)
		}
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(journalMagic)
	var n [binary.MaxVarintLen64]byte
	for _, c := range changes {
		if c.Delete {
			b.WriteByte('D')
		} else {
			b.WriteByte('S')
		}
		b.Write(n[:binary.PutUvarint(n[:], uint64(len(c.Key)))])
		b.WriteString(c.Key)
		if !c.Delete {
			b.Write(n[:binary.PutUvarint(n[:], uint64(len(c.Value)))])
			b.WriteString(c.Value)
		}
	}
	return b.String()
}

func decodeJournal(s string) ([]Change, error) {
	if !strings.HasPrefix(s, journalMagic) {
		return nil, errors.New("not a journal")
	}
	s = s[len(journalMagic):]
	field := func() (string, error) {
		n, w := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
		if w <= 0 || uint64(len(s)-w) < n {
			return "", errors.New("truncated journal")
		}
		v := s[w : w+int(n)]
		s = s[w+int(n):]
		return v, nil
	}
	var out []Change
	for len(s) > 0 {
		op := s[0]
		s = s[1:]
		key, err := field()
		if err != nil {
			return nil, err
		}
		switch op {
		case 'D':
			out = append(out, Change{Key: key, Delete: true})
		case 'S':
			val, err := field()
			if err != nil {
				return nil, err
			}
			out = append(out, Change{Key: key, Value: val})
		default:
			return nil, fmt.Errorf("bad journal op %q", op)
		}
	}
	return out, nil
}

// Scan calls fn for every key with the prefix, in key order, until fn returns false.
func Scan(tx *Tx, prefix string, fn func(key, value string) bool) error {
	return tx.AscendGreaterOrEqual("", prefix, func(k, v string) bool {
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		return fn(k, v)
	})
}

// GetJSON decodes the JSON value of key into v; it returns ErrNotFound if there is none.
func GetJSON(tx *Tx, key string, v any) error {
	raw, err := tx.Get(key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("kv: %s holds bad JSON: %w", key, err)
	}
	return nil
}

// SetJSON stores v as JSON under key.
func SetJSON(tx *Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("kv: encode %s: %w", key, err)
	}
	_, _, err = tx.Set(key, string(b), nil)
	return err
}

// SetTTL writes one key that expires after ttl.
func (s *Store) SetTTL(key, value string, ttl time.Duration) error {
	return s.db.Update(func(tx *Tx) error {
		_, _, err := tx.Set(key, value, &buntdb.SetOptions{Expires: ttl > 0, TTL: ttl})
		return err
	})
}
