package kv

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestOpenIsPrivateAndDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("a", "1"); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	if err := s.Shrink(); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after shrink %v", fi.Mode().Perm())
	}
	s.Close()
	s, _ = Open(path)
	defer s.Close()
	if v, err := s.Get("a"); err != nil || v != "1" {
		t.Fatal(v, err)
	}
	if _, err := s.Get("missing"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

func TestJournalRoundTrip(t *testing.T) {
	changes := []Change{{Key: "k1", Value: `{"x":"引号\"和\n"}`}, {Key: "k2", Delete: true}, {Key: "", Value: ""}, {Key: "k3", Value: string(make([]byte, 300))}}
	got, err := decodeJournal(encodeJournal(changes))
	if err != nil || !reflect.DeepEqual(got, changes) {
		t.Fatalf("%v %v", got, err)
	}
	enc := encodeJournal(changes)
	for cut := len(journalMagic) + 1; cut < len(enc); cut += 7 {
		if _, err := decodeJournal(enc[:cut]); err == nil && cut < len(enc)-1 {
			// a cut at a change boundary decodes to fewer changes, which is fine; a cut
			// inside one must be an error
			if got, _ := decodeJournal(enc[:cut]); len(got) == len(changes) {
				t.Fatalf("cut at %d decoded everything", cut)
			}
		}
	}
}

// A journal left by a process that died between journalling and applying is replayed.
func TestOpenReplaysALeftJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, _ := Open(path)
	s.Set("keep", "old")
	s.Set("gone", "x")
	// what Apply writes first, and then "dies"
	s.Set(journalKey, encodeJournal([]Change{{Key: "keep", Value: "new"}, {Key: "gone", Delete: true}, {Key: "added", Value: "y"}}))
	s.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for k, want := range map[string]string{"keep": "new", "added": "y"} {
		if v, _ := s.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if _, err := s.Get("gone"); !errors.Is(err, ErrNotFound) {
		t.Error("deleted key survived")
	}
	if _, err := s.Get(journalKey); !errors.Is(err, ErrNotFound) {
		t.Error("journal not dropped")
	}
}

func TestApplyAndScan(t *testing.T) {
	s, _ := Open(Memory)
	defer s.Close()
	if err := s.Apply([]Change{{Key: "p:1", Value: "a"}, {Key: "p:2", Value: "b"}, {Key: "q:1", Value: "c"}}, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	s.View(func(tx *Tx) error {
		return Scan(tx, "p:", func(k, v string) bool { got = append(got, k+"="+v); return true })
	})
	if !reflect.DeepEqual(got, []string{"p:1=a", "p:2=b"}) {
		t.Fatal(got)
	}
	// a failing check writes nothing
	boom := errors.New("stale")
	if err := s.Apply([]Change{{Key: "p:3", Value: "x"}}, func(*Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := s.Get("p:3"); !errors.Is(err, ErrNotFound) {
		t.Fatal("written in spite of the check")
	}
}

func TestLockVersion(t *testing.T) {
	s, _ := Open(Memory)
	defer s.Close()
	v := s.Version("x")
	unlock := s.Lock("x")
	if s.Version("x") != v {
		t.Fatal("version moved before unlock")
	}
	unlock()
	if s.Version("x") != v+1 || s.Version("y") != 0 {
		t.Fatal("version did not count the unlock")
	}
}

// TestFileIsCompactedAndStaysPrivate rewrites the same keys until the file is far larger
// than its data: Apply compacts it, and the compacted file is still 0600.
func TestFileIsCompactedAndStaysPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	value := string(make([]byte, 64<<10))
	var peak int64
	for round := 0; round < 40; round++ {
		changes := make([]Change, 32)
		for i := range changes {
			changes[i] = Change{Key: "k" + string(rune('a'+i)), Value: value + string(rune('a'+round%26))}
		}
		if err := s.Apply(changes, nil); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(path)
		peak = max(peak, fi.Size())
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v after round %d", fi.Mode().Perm(), round)
		}
	}
	s.shrinkMu.Lock() // a compaction still running finishes first
	s.shrinkMu.Unlock()
	fi, _ := os.Stat(path)
	// 40 rounds of 2 MiB each (twice: journal and apply) = 160 MiB written; the data is 2 MiB
	t.Logf("file size: peak %d MiB, after compaction %d MiB", peak>>20, fi.Size()>>20)
	if fi.Size() > 40<<20 || s.ShrinkErr() != nil {
		t.Fatalf("the file was not compacted: %d MiB (%v)", fi.Size()>>20, s.ShrinkErr())
	}
	if v, _ := s.Get("ka"); len(v) != len(value)+1 {
		t.Fatal("data lost in compaction")
	}
}

func TestSnapshotReadsWithoutWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, _ := Open(path)
	s.Set("a", "1")
	s.Set(journalKey, encodeJournal([]Change{{Key: "b", Value: "2"}})) // as a killed writer leaves it
	s.Close()
	before, _ := os.ReadFile(path)
	snap, err := OpenSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	for k, want := range map[string]string{"a": "1", "b": "2"} {
		if v, _ := snap.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	snap.Set("c", "3")
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("a snapshot wrote to the file")
	}
	if empty, err := OpenSnapshot(filepath.Join(t.TempDir(), "none.db")); err != nil || empty == nil {
		t.Fatal(err)
	}
}
