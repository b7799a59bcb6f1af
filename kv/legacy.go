package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
)

// State files written by jitrt before this format were plain BuntDB files, in which a
// write of several keys could be journalled under legacyJournalKey first. Open reads such
// a file, finishes a journalled write a killed process left, and rewrites the file in the
// checksummed format, keeping the old one in the backups folder.

const (
	legacyJournalKey   = "kv:journal"
	legacyJournalMagic = "kvj1"
	// BackupDir is the folder of the data folder that keeps earlier state files.
	BackupDir = "backups"
)

// convertLegacy rewrites a plain BuntDB file (already loaded) in the checksummed format.
func (s *Store) convertLegacy(journal bool) error {
	f := s.f
	s.f = nil // the replay below stays in memory: the rewrite writes it
	if journal {
		if err := s.replayLegacyJournal(); err != nil {
			f.Close()
			return err
		}
	}
	s.f = f
	backups := filepath.Join(s.dir, BackupDir)
	if err := os.MkdirAll(backups, 0o700); err != nil {
		return fmt.Errorf("kv: convert %s: %w", s.path, err)
	}
	backup := filepath.Join(backups, "state-before-v1-"+time.Now().UTC().Format("20060102T150405Z")+".db")
	if err := os.Link(s.path, backup); err != nil {
		return fmt.Errorf("kv: keep the old %s as %s: %w", s.path, backup, err)
	}
	if err := s.Compact(); err != nil {
		return err
	}
	s.log.Info("the state file was rewritten in the checksummed format; the old one is kept", "file", s.path, "backup", backup)
	return nil
}

// replayLegacyJournal finishes, in memory, a journalled write a killed process left.
func (s *Store) replayLegacyJournal() error {
	return translate(s.db.Update(func(tx *buntdb.Tx) error {
		raw, err := tx.Get(legacyJournalKey)
		if err != nil {
			return nil
		}
		changes, err := decodeLegacyJournal(raw)
		if err != nil {
			return fmt.Errorf("kv: the journal in %s is unreadable: %w", s.path, err)
		}
		for _, c := range changes {
			if c.Delete {
				tx.Delete(c.Key)
			} else if _, _, err := tx.Set(c.Key, c.Value, nil); err != nil {
				return err
			}
		}
		_, err = tx.Delete(legacyJournalKey)
		return err
	}))
}

func decodeLegacyJournal(s string) ([]Change, error) {
	if !strings.HasPrefix(s, legacyJournalMagic) {
		return nil, errors.New("not a journal")
	}
	s = s[len(legacyJournalMagic):]
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
