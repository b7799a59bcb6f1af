package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/buntdb"

	"github.com/jitrt/jitrt/internal/testwait"
)

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, Options{Command: "kv test", LockTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// contentsOf is every key and value of the store.
func contentsOf(t testing.TB, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := s.View(func(tx *Tx) error {
		return tx.Scan("", func(k, v string) bool { out[k] = v; return true })
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenIsPrivateAndDurable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	s := openTest(t, dir)
	if err := s.Set("a", "1"); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, FileName))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(filepath.Join(dir, FileName))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after compaction %v", fi.Mode().Perm())
	}
	s.Close()
	s = openTest(t, dir)
	if v, err := s.Get("a"); err != nil || v != "1" {
		t.Fatal(v, err)
	}
	if _, err := s.Get("missing"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.Set("kv:mine", "x"); !errors.Is(err, ErrReservedKey) {
		t.Fatalf("a reserved key was written: %v", err)
	}
}

func TestReadOnlyFileIsRefusedNotChanged(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	s.Set("a", "1")
	s.Close()
	path := filepath.Join(dir, FileName)
	os.Chmod(path, 0o400)
	_, err := Open(context.Background(), dir, Options{LockTimeout: -1})
	if err == nil || !strings.Contains(err.Error(), "read-only (mode 0400)") {
		t.Fatalf("a 0400 state file was opened: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o400 {
		t.Fatalf("mode changed to %v", fi.Mode().Perm())
	}
}

func TestUpdateIsAllOrNothing(t *testing.T) {
	s := openTest(t, t.TempDir())
	s.Set("keep", "1")
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		tx.Set("keep", "2")
		tx.Set("new", "x")
		tx.Delete("keep")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	func() {
		defer func() { recover() }()
		s.Update(func(tx *Tx) error {
			tx.Set("keep", "3")
			panic("in a transaction")
		})
	}()
	// the panic rolled back and let go of the write lock
	if got := contentsOf(t, s); !maps.Equal(got, map[string]string{"keep": "1"}) {
		t.Fatalf("after rolled-back transactions: %v", got)
	}
	if err := s.Set("after", "ok"); err != nil {
		t.Fatal(err)
	}
}

func TestApplyChecksAndScans(t *testing.T) {
	s := openTest(t, t.TempDir())
	if err := s.Apply([]Change{{Key: "p:1", Value: "a"}, {Key: "p:2", Value: "b"}, {Key: "q", Value: "c"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply([]Change{{Key: "p:1", Delete: true}, {Key: "p:3", Value: "d"}}, nil); err != nil {
		t.Fatal(err)
	}
	stale := errors.New("stale")
	if err := s.Apply([]Change{{Key: "p:9", Value: "z"}}, func(*Tx) error { return stale }); !errors.Is(err, stale) {
		t.Fatal(err)
	}
	var fwd, back []string
	s.View(func(tx *Tx) error {
		tx.Scan("p:", func(k, _ string) bool { fwd = append(fwd, k); return true })
		tx.ScanReverse("p:", func(k, _ string) bool { back = append(back, k); return true })
		return nil
	})
	if fmt.Sprint(fwd) != "[p:2 p:3]" || fmt.Sprint(back) != "[p:3 p:2]" {
		t.Fatalf("scan %v, reverse %v", fwd, back)
	}
	s.Apply([]Change{{Key: "o:9", Value: "x"}, {Key: "p:25", Value: "y"}}, nil)
	for from, want := range map[string]string{"2": "[p:2]", "25": "[p:25 p:2]", "29": "[p:25 p:2]", "3": "[p:3 p:25 p:2]", "1": "[]", "": "[]", "\xff": "[p:3 p:25 p:2]"} {
		var got []string
		s.View(func(tx *Tx) error {
			return tx.ScanReverseFrom("p:", from, func(k, _ string) bool { got = append(got, k); return true })
		})
		if fmt.Sprint(got) != want {
			t.Errorf("reverse from %q: %v, want %s", from, got, want)
		}
	}
}

func TestIndexServesLookupsByField(t *testing.T) {
	s := openTest(t, t.TempDir())
	s.Apply([]Change{{Key: "m:1", Value: `{"status":"active"}`}, {Key: "m:2", Value: `{"status":"offline"}`}, {Key: "m:3", Value: `{"status":"active"}`}}, nil)
	if err := s.CreateIndex("status", "m:*", "status"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateIndex("status", "m:*", "status"); err != nil {
		t.Fatalf("creating an index twice: %v", err)
	}
	var active []string
	s.View(func(tx *Tx) error {
		return tx.AscendEqual("status", `{"status":"active"}`, func(k, _ string) bool { active = append(active, k); return true })
	})
	if fmt.Sprint(active) != "[m:1 m:3]" {
		t.Fatal(active)
	}
}

// history writes a few transactions and returns the file after each, with the contents.
type step struct {
	file     []byte
	contents map[string]string
}

func history(t *testing.T, dir string) []step {
	t.Helper()
	s := openTest(t, dir)
	var steps []step
	snap := func() {
		b, _ := os.ReadFile(filepath.Join(dir, FileName))
		steps = append(steps, step{b, contentsOf(t, s)})
	}
	snap()
	s.Set("el:c:meta", `{"initialized":true}`)
	snap()
	s.Apply([]Change{{Key: "el:c:member:u1", Value: `{"name":"张伟"}`}, {Key: "el:c:member:u2", Value: `{"name":"李娜"}`}, {Key: "el:c:role:u1:admin", Value: "{}"}}, nil)
	snap()
	s.Apply([]Change{{Key: "el:c:role:u1:admin", Delete: true}, {Key: "el:c:role:u2:admin", Value: "{}"}, {Key: "el:c:member:u1", Value: `{"name":"张伟","status":"offline"}`}}, nil)
	snap()
	s.Close()
	return steps
}

// A write cut off at any byte — a crash mid-write — reopens to the state before it.
func TestCutAtEveryByteReopensToBeforeOrAfter(t *testing.T) {
	t.Parallel()
	steps := history(t, t.TempDir())
	final := steps[len(steps)-1]
	dir := t.TempDir()
	for cut := 0; cut <= len(final.file); cut++ {
		// the state that was committed at or before this length
		want := steps[0]
		for _, st := range steps {
			if len(st.file) <= cut {
				want = st
			}
		}
		os.WriteFile(filepath.Join(dir, FileName), final.file[:cut], 0o600)
		s, err := Open(context.Background(), dir, Options{LockTimeout: -1})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if got := contentsOf(t, s); !maps.Equal(got, want.contents) {
			t.Fatalf("cut at %d of %d: reopened to %v, want %v", cut, len(final.file), got, want.contents)
		}
		// the unfinished write is gone from the file, and the next one lands after it
		if err := s.Set("next", "1"); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = OpenReadOnly(dir)
		if err != nil {
			t.Fatal(err)
		}
		want.contents = maps.Clone(want.contents)
		want.contents["next"] = "1"
		if got := contentsOf(t, s); !maps.Equal(got, want.contents) {
			t.Fatalf("cut at %d, then a write: %v", cut, got)
		}
		s.Close()
	}
}

// One damaged byte anywhere is refused with its offset, and the file is left as it was.
func TestDamagedBytesAreRefusedAndLeftUntouched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	steps := history(t, dir)
	final := steps[len(steps)-1]
	refused, tries := 0, 0
	d := t.TempDir()
	path := filepath.Join(d, FileName)
	for i := 0; i < len(final.file); i++ {
		for _, flip := range []byte{0x01, 0x20, 0x80} {
			tries++
			bad := bytes.Clone(final.file)
			bad[i] ^= flip
			os.WriteFile(path, bad, 0o600)
			s, err := Open(context.Background(), d, Options{LockTimeout: -1})
			if err == nil {
				got := contentsOf(t, s)
				s.Close()
				t.Fatalf("byte %d (%q) ^ %#x was accepted and opened to %v", i, final.file[i], flip, got)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("byte %d ^ %#x: %v", i, flip, err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
				t.Fatalf("byte %d: the damaged file was changed", i)
			}
			refused++
		}
	}
	t.Logf("%d of %d single-byte changes refused", refused, tries)
}

func TestReadOnlyNeitherLocksNorWrites(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, dir)
	w.Set("a", "1")
	// an unfinished write at the end, as a reader may see one mid-append
	f, _ := os.OpenFile(filepath.Join(dir, FileName), os.O_WRONLY|os.O_APPEND, 0)
	f.Write(headerPrefix[:7])
	f.Close()
	before, _ := os.ReadFile(filepath.Join(dir, FileName))
	r, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v, _ := r.Get("a"); v != "1" {
		t.Fatal(v)
	}
	if err := r.Set("b", "2"); !errors.Is(err, ErrReadOnly) {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, FileName)); !bytes.Equal(before, after) {
		t.Fatal("a read-only open changed the file")
	}
	empty, err := OpenReadOnly(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	empty.Close()
}

func TestSecondOwnerWaitsAndNamesTheFirst(t *testing.T) {
	dir := t.TempDir()
	first := openTest(t, dir)
	start := time.Now()
	_, err := Open(context.Background(), dir, Options{Command: "second", LockTimeout: 100 * time.Millisecond})
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	t.Logf("the second open gave up after %s (LockTimeout 100ms)", time.Since(start))
	if le.Owner.PID != os.Getpid() || le.Owner.Command != "kv test" || !strings.Contains(err.Error(), fmt.Sprintf("pid %d (kv test)", os.Getpid())) {
		t.Fatalf("%v %+v", err, le.Owner)
	}
	first.Advertise("/run/x.sock")
	if o, ok, _ := ReadOwner(dir); !ok || o.Endpoint != "/run/x.sock" {
		t.Fatal(o, ok)
	}
	// a waiter gets the lock when the owner lets go (it waits: the owner may let go before
	// or after it asks, and either way it gets the lock)
	go func() { time.Sleep(50 * time.Millisecond); first.Close() }()
	s, err := Open(context.Background(), dir, Options{LockTimeout: testwait.Hang})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, ok, _ := ReadOwner(dir); ok {
		t.Fatal("a closed owner is still named")
	}
}

// A lock held by a process that was killed is released by the OS.
func TestLockOfAKilledProcessIsReleased(t *testing.T) {
	if dir := os.Getenv("KV_HOLD"); dir != "" {
		s, err := Open(context.Background(), dir, Options{Command: "holder"})
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(2)
		}
		s.Set("held", "yes")
		fmt.Println("HOLDING")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockOfAKilledProcessIsReleased$")
	cmd.Env = append(os.Environ(), "KV_HOLD="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "HOLDING") {
		t.Fatalf("child: %s", buf[:n])
	}
	_, err := Open(context.Background(), dir, Options{LockTimeout: -1})
	var le *LockedError
	if !errors.As(err, &le) || le.Owner.PID != cmd.Process.Pid || le.Owner.Command != "holder" {
		t.Fatalf("while the child holds it: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	s := openTest(t, dir)
	if v, _ := s.Get("held"); v != "yes" {
		t.Fatal(v)
	}
}

func TestCompactionKeepsEverythingAndIsDueWhenTheFileGrows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTest(t, dir)
	value, limit := 64<<10, int64(40<<20) // 75 MiB written, ~ 6 MiB live
	if testing.Short() {
		// the same at a quarter of the size: make test-slow writes the 75 MiB
		s.compactMinTest, value, limit = compactMinSize/4, value/4, limit/4
	}
	big := strings.Repeat("x", value)
	for i := 0; i < 1200; i++ {
		if err := s.Set(fmt.Sprintf("k%03d", i%100), big+fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.compactMu.Lock() // wait for a background compaction
	s.compactMu.Unlock()
	if err := s.CompactErr(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, FileName))
	if fi.Size() > limit {
		t.Fatalf("file is %d MiB after %d MiB of writes of %d MiB of data", fi.Size()>>20, 1200*value>>20, 100*value>>20)
	}
	want := contentsOf(t, s)
	s.Set("after", "compaction")
	want["after"] = "compaction"
	s.Close()
	s = openTest(t, dir)
	if got := contentsOf(t, s); !maps.Equal(got, want) {
		t.Fatalf("%d keys after reopening, want %d", len(got), len(want))
	}
}

// A state file of the earlier plain BuntDB format, with a journal a killed writer left, is
// read, finished and rewritten; the old file is kept.
func TestLegacyFileIsConvertedWithItsJournal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	db, err := buntdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	journal := legacyJournalMagic + "S\x04keep\x03new" + "D\x04gone"
	db.Update(func(tx *buntdb.Tx) error {
		tx.Set("keep", "old", nil)
		tx.Set("gone", "x", nil)
		tx.Set(legacyJournalKey, journal, nil)
		return nil
	})
	db.Close()
	s := openTest(t, dir)
	if got := contentsOf(t, s); !maps.Equal(got, map[string]string{"keep": "new"}) {
		t.Fatal(got)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, BackupDir, "state-before-v1-*.db"))
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, headerPrefix) {
		t.Fatal("not rewritten")
	}
}

// Concurrent transactions of different writers are each whole in the file.
func TestConcurrentWritersEachStayWhole(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	done := make(chan error)
	for w := 0; w < 4; w++ {
		go func() {
			for i := 0; i < 50; i++ {
				err := s.Update(func(tx *Tx) error {
					for k := 0; k < 5; k++ {
						if err := tx.Set(fmt.Sprintf("w%d:%d", w, k), fmt.Sprint(i)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for w := 0; w < 4; w++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	file, _ := os.ReadFile(filepath.Join(dir, FileName))
	// every cut of the file reopens to rounds where each writer's five keys agree
	for i := 0; i < 40; i++ {
		cut := rand.IntN(len(file) + 1)
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, FileName), file[:cut], 0o600)
		r, err := OpenReadOnly(d)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		got := contentsOf(t, r)
		r.Close()
		for w := 0; w < 4; w++ {
			first := got[fmt.Sprintf("w%d:0", w)]
			for k := 1; k < 5; k++ {
				if got[fmt.Sprintf("w%d:%d", w, k)] != first {
					t.Fatalf("cut %d: writer %d half written: %v", cut, w, got)
				}
			}
		}
	}
}

// A damaged file is repaired: every transaction whose checksums hold is kept, the damaged
// one is dropped and reported, and the damaged file is kept aside. A sound file is left.
func TestRepairKeepsWhatIsIntactAndSaysWhatItDropped(t *testing.T) {
	dir := t.TempDir()
	steps := history(t, dir)
	final := steps[len(steps)-1]
	path := filepath.Join(dir, FileName)
	rep, err := Repair(context.Background(), dir, Options{LockTimeout: -1})
	if err != nil || !rep.Sound || rep.Kept != len(steps)-1 {
		t.Fatalf("a sound file: %+v %v", rep, err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, final.file) {
		t.Fatal("repair changed a sound file")
	}
	for i := 0; i < 100; i++ {
		bad := bytes.Clone(final.file)
		at := rand.IntN(len(bad))
		bad[at] ^= byte(1 + rand.IntN(255))
		os.WriteFile(path, bad, 0o600)
		if s, err := Open(context.Background(), dir, Options{LockTimeout: -1}); err == nil {
			s.Close()
			t.Fatalf("byte %d: the damaged file was opened", at)
		}
		rep, err := Repair(context.Background(), dir, Options{LockTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sound || len(rep.Dropped) == 0 || rep.Dropped[0].From > int64(at) || rep.Dropped[len(rep.Dropped)-1].To <= int64(at) {
			t.Fatalf("byte %d: %+v", at, rep)
		}
		if kept, _ := os.ReadFile(rep.Backup); !bytes.Equal(kept, bad) {
			t.Fatal("the damaged file was not kept as it was")
		}
		s := openTest(t, dir)
		got := contentsOf(t, s)
		s.Close()
		// what is left is the history without the transaction the damage was in
		which := 0
		for k, st := range steps {
			if len(st.file) <= at {
				which = k + 1
			}
		}
		if which == 0 || which >= len(steps) {
			t.Fatalf("byte %d is in no transaction", at)
		}
		for k, v := range final.contents {
			if got[k] != v && steps[which-1].contents[k] == steps[which].contents[k] && !lastWriteOf(steps, k, which) {
				t.Fatalf("byte %d (transaction %d): key %s lost though no damaged transaction wrote it: %v", at, which, k, got)
			}
		}
		os.RemoveAll(filepath.Join(dir, BackupDir))
	}
}

// lastWriteOf reports whether transaction which (1-based) is the last that changed key.
func lastWriteOf(steps []step, key string, which int) bool {
	for k := which + 1; k < len(steps); k++ {
		if steps[k].contents[key] != steps[k-1].contents[key] {
			return false
		}
	}
	return steps[which].contents[key] != steps[which-1].contents[key]
}

// Compactions keep the file they replace, the last few, and a backup can be restored.
func TestCompactionsKeepBackupsToRestore(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	for round := 0; round < 5; round++ {
		s.Set("round", fmt.Sprint(round))
		if err := s.Compact(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	list, err := Backups(dir)
	if err != nil || len(list) != keepBackups || list[0].Why != "compaction" || !list[0].Time.After(list[2].Time) {
		t.Fatalf("%+v %v", list, err)
	}
	// the newest backup is the file before the last compaction: round 4 written, not compacted
	if _, err := Restore(context.Background(), dir, list[len(list)-1].Name, Options{LockTimeout: -1}); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)
	if v, _ := s.Get("round"); v != "2" {
		t.Fatalf("restored round %q", v)
	}
	s.Close()
	if list, _ := Backups(dir); list[0].Why != "restore" {
		t.Fatalf("the state before the restore was not kept: %+v", list)
	}
	if _, err := Restore(context.Background(), dir, "../state.db", Options{LockTimeout: -1}); err == nil {
		t.Fatal("a path outside the backups was restored")
	}
}

func TestGenerationCountsOnlyCommitsUnderItsPrefix(t *testing.T) {
	s := openTest(t, t.TempDir())
	a0, b0 := s.Generation("el:a:"), s.Generation("el:b:")
	s.Apply([]Change{{Key: "el:a:1", Value: "x"}}, nil)
	if s.Generation("el:a:") != a0+1 || s.Generation("el:b:") != b0 {
		t.Fatalf("after a write under a: a %d, b %d", s.Generation("el:a:"), s.Generation("el:b:"))
	}
	s.Apply([]Change{{Key: "el:ab:1", Value: "x"}, {Key: "other", Value: "y"}}, nil)
	if s.Generation("el:a:") != a0+1 || s.Generation("el:b:") != b0 {
		t.Fatal("a write under neither prefix counted")
	}
	s.Apply([]Change{{Key: "el:b:1", Value: "x"}, {Key: "el:a:1", Delete: true}}, nil)
	if s.Generation("el:a:") != a0+2 || s.Generation("el:b:") != b0+1 {
		t.Fatal("a delete under a and a write under b: one each")
	}
	stale := errors.New("no")
	s.Apply([]Change{{Key: "el:a:2", Value: "x"}}, func(*Tx) error { return stale })
	s.Update(func(tx *Tx) error { tx.Get("el:a:1"); return nil }) // writes nothing
	if s.Generation("el:a:") != a0+2 {
		t.Fatal("a rolled-back or empty transaction counted")
	}
	// A prefix first watched while a transaction runs: that transaction counts for it.
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Update(func(tx *Tx) error {
			close(entered)
			<-release
			return tx.Set("el:c:1", "x")
		})
	}()
	<-entered
	c0 := s.Generation("el:c:")
	close(release)
	<-done
	if s.Generation("el:c:") == c0 {
		t.Fatal("a write by a transaction that began before the prefix was watched was not counted")
	}
}

// validSchema says what SchemaPattern says, for names of every length and byte class.
func TestValidSchemaIsSchemaPattern(t *testing.T) {
	re := regexp.MustCompile(SchemaPattern)
	cases := []string{"", "a", "jitrt", "_x", "9a", "a9", "A", "a-b", "a b", "é", strings.Repeat("a", 63), strings.Repeat("a", 64), "jitrt\n"}
	for c := 0; c < 256; c++ {
		cases = append(cases, string([]byte{byte(c)}), "a"+string([]byte{byte(c)}))
	}
	for _, name := range cases {
		if validSchema(name) != re.MatchString(name) {
			t.Fatalf("validSchema(%q) = %v, SchemaPattern says %v", name, validSchema(name), re.MatchString(name))
		}
	}
}
