package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
)

// Notes are small values kept beside the state, not in it: they are not versioned, not in
// the change log other replicas read, not in a state file's bytes, and the last writer
// wins. They hold what a reader may see a moment stale and what must not cost a write of
// the state: the report of the last sync that found nothing to change (a no-change sync
// writes 0 bytes of state, yet "last synced" counts it in every process).
//
// A state file keeps its notes in NotesFileName in the same folder, replaced whole by a
// rename (mode 0600); PostgreSQL keeps them in the schema's notes table.

// NotesFileName is the file beside the state file that holds its notes.
const NotesFileName = "notes.json"

// SetNote sets the note key to value.
func (s *Store) SetNote(ctx context.Context, key, value string) error {
	if s.readOnly {
		return ErrReadOnly
	}
	switch {
	case s.pg != nil:
		return s.pg.setNote(ctx, s, key, value)
	case s.dir == "":
		s.notesMu.Lock()
		defer s.notesMu.Unlock()
		if s.memNotes == nil {
			s.memNotes = map[string]string{}
		}
		s.memNotes[key] = value
		return nil
	}
	s.notesMu.Lock()
	defer s.notesMu.Unlock()
	notes, err := s.readNotesFile()
	if err != nil {
		return err
	}
	notes[key] = value
	b, _ := json.Marshal(notes)
	path := filepath.Join(s.dir, NotesFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("kv: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("kv: write %s: %w", path, err)
	}
	return nil
}

// Note returns the note key (ErrNotFound if there is none).
func (s *Store) Note(ctx context.Context, key string) (string, error) {
	var (
		notes map[string]string
		err   error
	)
	switch {
	case s.pg != nil:
		return s.pg.note(ctx, s, key)
	case s.dir == "":
		s.notesMu.Lock()
		v, ok := s.memNotes[key]
		s.notesMu.Unlock()
		if !ok {
			return "", ErrNotFound
		}
		return v, nil
	default:
		s.notesMu.Lock()
		notes, err = s.readNotesFile()
		s.notesMu.Unlock()
	}
	if err != nil {
		return "", err
	}
	v, ok := notes[key]
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}

// readNotesFile reads the notes beside a state file (none if there is no file; a file
// that does not read as notes is an error naming it, and SetNote does not overwrite it).
func (s *Store) readNotesFile() (map[string]string, error) {
	path := filepath.Join(s.dir, NotesFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kv: read %s: %w", path, err)
	}
	notes := map[string]string{}
	if err := json.Unmarshal(b, &notes); err != nil {
		return nil, fmt.Errorf("kv: %s: not the notes jitrt writes: %w", path, err)
	}
	return notes, nil
}

func (pg *pgStore) setNote(ctx context.Context, s *Store, key, value string) error {
	q := fmt.Sprintf(`INSERT INTO %s.notes (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value, at = now()`, pg.schema)
	var err error
	if pg.cl != nil {
		err = pg.cl.Exchange(ctx, func(conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, q, key, value)
			return err
		})
	} else {
		// one process owns the schema: its one connection, under the memory's write lock
		btx, berr := s.db.Begin(true)
		if berr != nil {
			return translate(berr)
		}
		_, err = pg.conn.Exec(ctx, q, key, value)
		btx.Rollback()
	}
	if err != nil {
		return pg.unavailable(ctx, "write a note", fmt.Errorf("kv: write a note in %s#%s: %w", pg.where, pg.schema, err))
	}
	return nil
}

func (pg *pgStore) note(ctx context.Context, s *Store, key string) (string, error) {
	q := fmt.Sprintf(`SELECT value FROM %s.notes WHERE key = $1`, pg.schema)
	var v string
	var err error
	if pg.cl != nil {
		err = pg.cl.Exchange(ctx, func(conn *pgx.Conn) error { return conn.QueryRow(ctx, q, key).Scan(&v) })
	} else {
		btx, berr := s.db.Begin(true) // the owner's one connection, under the write lock
		if berr != nil {
			return "", translate(berr)
		}
		err = pg.conn.QueryRow(ctx, q, key).Scan(&v)
		btx.Rollback()
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", pg.unavailable(ctx, "read a note", fmt.Errorf("kv: read a note in %s#%s: %w", pg.where, pg.schema, err))
	}
	return v, nil
}
