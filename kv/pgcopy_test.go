package kv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/internal/pgtest"
)

// copyStore opens schema at url shared, keeping its local copy in dir.
func copyStore(t *testing.T, url, schema, dir, command string) *Store {
	t.Helper()
	s, err := OpenPostgres(context.Background(), url, schema, Options{Command: command, Shared: true, CopyDir: dir, OneRun: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// copyHolding is a database, and a data folder whose copy of schema holds k = value (a
// first process set it and closed).
func copyHolding(t *testing.T, schema, value string) (url, dir string) {
	t.Helper()
	url, dir = pgtest.Database(t), t.TempDir()
	a := copyStore(t, url, schema, dir, "first")
	a.Set("k", value)
	a.Close()
	return url, dir
}

// bigValue is a value of n bytes unlike another's (a sync's chunk: a write of it goes by
// COPY, and to the copy as it is).
func bigValue(tag string, n int) string {
	return strings.Repeat(tag+"·", n/(len(tag)+2)+1)[:n]
}

// wantState fails unless s holds exactly want.
func wantState(t *testing.T, s *Store, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	s.View(func(tx *Tx) error {
		return tx.Scan("", func(k, v string) bool { got[k] = v; return true })
	})
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d bytes %.20q…, want %d bytes %.20q…", k, len(got[k]), got[k], len(v), v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: held, want none", k)
		}
	}
}

// A process that keeps a local copy opens from it the next time, and reads from the
// database only what was committed after it: by another process (a set, a delete), by a
// process that kept no copy. What it caught up with goes to the copy as it commits, and
// its own large write (COPY) too.
func TestAStoreOpensFromItsCopyAndCatchesUpFromIt(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	dir := t.TempDir()
	want := map[string]string{"small": "1", "gone": "x", "chunk:1": bigValue("one", 2<<20), "chunk:2": bigValue("two", 600<<10)}
	a := copyStore(t, url, "copy_opens", dir, "first")
	if a.pg.fromCopy {
		t.Fatal("the first open of a new schema came from a copy")
	}
	if err := a.Update(func(tx *Tx) error {
		for k, v := range want {
			tx.Set(k, v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if a.pg.copy.seq != a.pg.lastSeq {
		t.Fatalf("the large write was not appended to the copy (it holds %d, the memory %d)", a.pg.copy.seq, a.pg.lastSeq)
	}
	// a large write the database refuses as it takes the COPY (a trigger refuses a key):
	// its append, written beside the COPY, is cut off
	pgtest.Exec(t, url, `CREATE FUNCTION copy_opens.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.key = 'refused' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON copy_opens.kv FOR EACH ROW EXECUTE FUNCTION copy_opens.refuse()`)
	size := a.pg.copy.size
	if err := a.Update(func(tx *Tx) error {
		tx.Set("chunk:3", bigValue("three", 2<<20))
		return tx.Set("refused", "v")
	}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("a write the database refuses: %v", err)
	}
	pgtest.Exec(t, url, `DROP TRIGGER refuse ON copy_opens.kv`)
	// its append stays (another process may have the file mapped: it is never cut short),
	// naming a transaction never committed: not used by a process that opens it now
	if fi, err := os.Stat(a.pg.copy.path); err != nil || fi.Size() <= size || a.pg.copy.seq != -1 {
		t.Fatalf("after a write that failed: the copy's file %v (was %d bytes), at %d, want its append left and the copy due to be written whole", err, size, a.pg.copy.seq)
	}
	reader := copyStore(t, url, "copy_opens", dir, "reader")
	if reader.pg.fromCopy {
		t.Fatal("a copy naming a transaction that failed was used")
	}
	wantState(t, reader, want)
	reader.Close()
	// the next commit writes it whole
	a.Set("small", "2")
	want["small"] = "2"
	if a.pg.copy.seq != a.pg.lastSeq {
		t.Fatalf("the copy is at %d after the next commit, the memory at %d", a.pg.copy.seq, a.pg.lastSeq)
	}
	a.Close()

	b := copyStore(t, url, "copy_opens", dir, "second")
	if !b.pg.fromCopy {
		t.Fatal("the second open did not come from the copy")
	}
	wantState(t, b, want)

	// another process, without a copy, writes meanwhile: b catches up (its memory and
	// the copy, appended)
	other := replicas(t, url, "copy_opens", Options{}, "other")[0]
	other.Update(func(tx *Tx) error {
		tx.Delete("gone")
		return tx.Set("later", "2")
	})
	delete(want, "gone")
	want["later"] = "2"
	if err := b.CatchUp(); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, want)
	if b.pg.copy.seq != b.pg.lastSeq {
		t.Fatalf("the copy holds transaction %d after the catch-up, the memory %d", b.pg.copy.seq, b.pg.lastSeq)
	}
	other.Set("after", "3") // after b closes: read from the database at the next open
	want["after"] = "3"
	b.Close()

	c := copyStore(t, url, "copy_opens", dir, "third")
	if !c.pg.fromCopy {
		t.Fatal("the third open did not come from the copy")
	}
	wantState(t, c, want)
}

// The copy is used only while the schema holds its transaction with its token: a schema
// made again whose transactions reach the same number (a database restored to before the
// copy and written again) is read from the database; the copy is then written again and
// used.
func TestACopyOfAnotherHistoryIsNotUsed(t *testing.T) {
	t.Parallel()
	url, dir := copyHolding(t, "copy_history", "before")

	pgtest.Exec(t, url, "DROP SCHEMA copy_history CASCADE")
	other := replicas(t, url, "copy_history", Options{}, "other")[0]
	other.Set("k", "after") // the same transaction number, another token
	other.Close()

	b := copyStore(t, url, "copy_history", dir, "second")
	if b.pg.fromCopy {
		t.Fatal("the copy of another history was used")
	}
	wantState(t, b, map[string]string{"k": "after"})
	b.Close()
	c := copyStore(t, url, "copy_history", dir, "third")
	if !c.pg.fromCopy {
		t.Fatal("the copy written again at close was not used")
	}
	wantState(t, c, map[string]string{"k": "after"})
}

// A damaged copy is not used (the state is read from the database) and is written again;
// a copy whose last append was cut short is used up to its last whole transaction and
// caught up from there.
func TestADamagedOrCutCopyFallsBack(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	dir := t.TempDir()
	a := copyStore(t, url, "copy_damaged", dir, "first")
	a.Set("chunk", bigValue("c", 300<<10))
	a.Set("n", "1")
	a.Close() // its copy: started empty (a new schema), each write appended
	a = copyStore(t, url, "copy_damaged", dir, "appends")
	a.Set("n", "2") // appended: the copy's last transaction
	if a.pg.copy.seq != a.pg.lastSeq {
		t.Fatal("the write was not appended to the copy")
	}
	a.Close()
	path := filepath.Join(dir, copyName(RedactURL(url), "copy_damaged"))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// cut inside its last transaction
	if err := os.WriteFile(path, data[:len(data)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	b := copyStore(t, url, "copy_damaged", dir, "cut")
	if !b.pg.fromCopy {
		t.Fatal("a copy cut in its last transaction was not used up to the one before")
	}
	wantState(t, b, map[string]string{"chunk": bigValue("c", 300<<10), "n": "2"})
	b.Close() // not cut short where it was torn (another process may map it): written whole
	data, _ = os.ReadFile(path)
	if contents, err := verify(path, data, false); err != nil || contents.torn != 0 {
		t.Fatalf("the copy after a process opened it torn and closed: %v, %d bytes torn", err, contents.torn)
	}

	// a byte of the large value changed
	data, _ = os.ReadFile(path)
	at := strings.Index(string(data), "c·c·c·") + 1000
	data[at] ^= 0x20
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c := copyStore(t, url, "copy_damaged", dir, "damaged")
	if c.pg.fromCopy {
		t.Fatal("a damaged copy was used")
	}
	wantState(t, c, map[string]string{"chunk": bigValue("c", 300<<10), "n": "2"})
	c.Close()
	d := copyStore(t, url, "copy_damaged", dir, "again")
	if !d.pg.fromCopy {
		t.Fatal("the damaged copy was not written again")
	}
	wantState(t, d, map[string]string{"chunk": bigValue("c", 300<<10), "n": "2"})
}

// Two processes on one data folder: the first writes the copy, the second reads it and
// writes nothing to it (its close leaves the first's appends whole).
func TestOneProcessWritesTheCopyTheOthersReadIt(t *testing.T) {
	t.Parallel()
	url, dir := copyHolding(t, "copy_two", "1")
	b := copyStore(t, url, "copy_two", dir, "writer")
	c := copyStore(t, url, "copy_two", dir, "reader")
	if !b.pg.fromCopy || !c.pg.fromCopy {
		t.Fatalf("opened from the copy: writer %v, reader %v", b.pg.fromCopy, c.pg.fromCopy)
	}
	if b.pg.copy.lock == nil || c.pg.copy.lock != nil {
		t.Fatal("not one writer of the copy")
	}
	c.Set("k", "2") // its memory is ahead of the copy, which it does not write
	c.Close()
	b.CatchUp() // the writer appends it
	b.Close()
	d := copyStore(t, url, "copy_two", dir, "next")
	if !d.pg.fromCopy || d.pg.lastSeq != b.pg.lastSeq {
		t.Fatalf("the next open: from the copy %v at %d, want at %d", d.pg.fromCopy, d.pg.lastSeq, b.pg.lastSeq)
	}
	wantState(t, d, map[string]string{"k": "2"})
}

// The tokens of transactions long past go: a copy of one of them is read from the database
// again rather than trusted.
func TestTheTokensOfOldTransactionsGo(t *testing.T) {
	t.Parallel()
	url, dir := copyHolding(t, "copy_old", "1")
	// the next transaction's number is a multiple of tokensPruneEvery past tokensKept
	next := (tokensKept/tokensPruneEvery + 2) * tokensPruneEvery
	pgtest.Exec(t, url, fmt.Sprintf("SELECT setval('copy_old.kv_seq_gen', %d)", next-1))
	other := replicas(t, url, "copy_old", Options{}, "other")[0]
	other.Set("j", "2")
	var old int
	pgtest.Connect(t, url).QueryRow(context.Background(), `SELECT count(*) FROM copy_old.commits WHERE seq < $1`, next).Scan(&old)
	if old != 0 {
		t.Fatalf("%d tokens of transactions %d or more before kept", old, tokensKept)
	}
	b := copyStore(t, url, "copy_old", dir, "second")
	if b.pg.fromCopy {
		t.Fatal("a copy whose token is gone was used")
	}
	wantState(t, b, map[string]string{"k": "1", "j": "2"})
}

// A store that owns its schema alone keeps a copy too; a delete since (made outright)
// makes it read the whole state rather than keep the deleted key.
func TestAnOwnersCopyMissesNoDelete(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	dir := t.TempDir()
	open := func(command string, copyDir string) *Store {
		s, err := OpenPostgres(context.Background(), url, "copy_owner", Options{Command: command, CopyDir: copyDir, LockTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := open("first", dir)
	a.Set("a", "1")
	a.Set("b", "2")
	a.Close()
	b := open("no copy", "")
	b.Update(func(tx *Tx) error {
		tx.Delete("a")
		return tx.Set("c", "3")
	})
	b.Close()
	c := open("second", dir)
	defer c.Close()
	if !c.pg.fromCopy {
		t.Fatal("not opened from the copy")
	}
	wantState(t, c, map[string]string{"b": "2", "c": "3"})
}

// Processes opening, writing and closing on one data folder at once, while another keeps
// writing: each opens whole (from the copy or the database), one writes the copy at a
// time, and the last open holds every write.
func TestManyProcessesShareOneCopy(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	dir := t.TempDir()
	first := copyStore(t, url, "copy_many", dir, "first")
	first.Set("chunk", bigValue("c", 2<<20))
	first.Close()
	writer := replicas(t, url, "copy_many", Options{}, "writer")[0]
	stop := make(chan struct{})
	wrote := make(chan int)
	go func() {
		n := 0
		defer func() { wrote <- n }()
		for n < 300 { // (a bound on the test's writes; the processes usually end first)
			select {
			case <-stop:
				return
			default:
			}
			if err := writer.Set(fmt.Sprintf("w:%04d", n), "x"); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	const procs, rounds = 4, 5
	errs := make(chan error, procs)
	for p := range procs {
		go func() {
			for r := range rounds {
				s, err := OpenPostgres(context.Background(), url, "copy_many", Options{Command: "p", Shared: true, CopyDir: dir, OneRun: true})
				if err != nil {
					errs <- err
					return
				}
				if v, _ := s.Get("chunk"); v != bigValue("c", 2<<20) {
					errs <- fmt.Errorf("process %d round %d reads the chunk as %d bytes", p, r, len(v))
					s.Close()
					return
				}
				if err := s.Set(fmt.Sprintf("p:%d:%d", p, r), "y"); err != nil {
					errs <- err
					s.Close()
					return
				}
				s.Close()
			}
			errs <- nil
		}()
	}
	for range procs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	n := <-wrote
	last := copyStore(t, url, "copy_many", dir, "last")
	if !last.pg.fromCopy {
		t.Fatal("the last open did not come from the copy")
	}
	want := map[string]string{"chunk": bigValue("c", 2<<20)}
	for i := range n {
		want[fmt.Sprintf("w:%04d", i)] = "x"
	}
	for p := range procs {
		for r := range rounds {
			want[fmt.Sprintf("p:%d:%d", p, r)] = "y"
		}
	}
	wantState(t, last, want)
}

// The copy is read while the database is reached: an open that then fails (here, a schema
// of a newer jitrt) lets go of the copy's lock, and the next open writes it.
func TestAnOpenThatFailsLetsGoOfTheCopy(t *testing.T) {
	t.Parallel()
	url, dir := copyHolding(t, "copy_fail", "1")
	newer := len(migrations)
	pgtest.Exec(t, url, fmt.Sprintf("INSERT INTO copy_fail.migrations (version) VALUES (%d)", newer))
	for range 2 { // twice: the first failure did not keep the lock
		if s, err := OpenPostgres(context.Background(), url, "copy_fail", Options{Command: "newer", Shared: true, CopyDir: dir, OneRun: true}); err == nil {
			s.Close()
			t.Fatal("opened a schema of a newer jitrt")
		}
	}
	pgtest.Exec(t, url, fmt.Sprintf("DELETE FROM copy_fail.migrations WHERE version = %d", newer))
	b := copyStore(t, url, "copy_fail", dir, "after")
	if !b.pg.fromCopy || b.pg.copy.lock == nil {
		t.Fatalf("after an open that failed: from the copy %v, its writer %v", b.pg.fromCopy, b.pg.copy.lock != nil)
	}
	wantState(t, b, map[string]string{"k": "1"})
}
