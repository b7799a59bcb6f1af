package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// largeHistory writes a state file of mapMin bytes or more: a small transaction, then two
// large ones ("big:" and "other:" keys), and returns its bytes and contents.
func largeHistory(t *testing.T, dir string) ([]byte, map[string]string) {
	t.Helper()
	s := openTest(t, dir)
	if err := s.Set("a", "1"); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"big:", "other:"} {
		var changes []Change
		for i := 0; i < 60; i++ {
			changes = append(changes, Change{Key: fmt.Sprintf("%s%03d", prefix, i), Value: fmt.Sprintf("value of %s%03d ", prefix, i) + strings.Repeat("名", 3000)})
		}
		if err := s.Apply(changes, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := contentsOf(t, s)
	s.Close()
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < mapMin {
		t.Fatalf("the file is %d bytes, under mapMin", len(b))
	}
	return b, want
}

// txStart is the offset of the header of the transaction holding offset at.
func txStart(file []byte, at int) int64 {
	return int64(bytes.LastIndex(file[:at], headerPrefix))
}

// valueStart is the offset of the value holding offset at (whose length line ends before it).
func valueStart(file []byte, at int) int64 {
	return int64(bytes.LastIndex(file[:at], []byte("\r\n")) + 2)
}

// A large file opens without its values being read, and a value damaged in it is found
// when first read: the View or Update that read it fails with the value's byte and key,
// it is not handed out, nothing is written, a compaction refuses to copy it on; the rest
// of the store, the other values of its transaction too, serves.
func TestADamagedValueOfALargeFileIsRefusedWhenFirstRead(t *testing.T) {
	dir := t.TempDir()
	file, want := largeHistory(t, dir)
	path := filepath.Join(dir, FileName)
	at := bytes.Index(file, []byte("value of big:030 ")) + 20 // inside the value's bytes
	bad := bytes.Clone(file)
	bad[at] ^= 0x01
	os.WriteFile(path, bad, 0o600)

	s, err := Open(context.Background(), dir, Options{LockTimeout: -1})
	if err != nil {
		t.Fatalf("a damaged value was read when the file was opened (it is checked when first read): %v", err)
	}
	defer s.Close()
	isDamage := func(what string, err error) {
		t.Helper()
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Offset != valueStart(file, at) ||
			!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"big:030"`) {
			t.Fatalf("%s: want the damage at byte %d of %s (big:030), got %v", what, valueStart(file, at), path, err)
		}
	}
	for _, k := range []string{"a", "other:000", "other:059", "big:000", "big:029", "big:031"} {
		if v, err := s.Get(k); err != nil || v != want[k] {
			t.Fatalf("%s, a sound value: %v", k, err)
		}
	}
	_, err = s.Get("big:030")
	isDamage("Get of the damaged value", err)
	var keys []string
	err = s.View(func(tx *Tx) error {
		return tx.ScanKeys("big:", func(k string) bool { keys = append(keys, k); return true })
	})
	if err != nil || len(keys) != 60 || keys[30] != "big:030" {
		t.Fatalf("ScanKeys, which reads no value, listed %d keys: %v", len(keys), err)
	}
	var served []string
	err = s.View(func(tx *Tx) error {
		tx.Scan("big:", func(k, _ string) bool { served = append(served, k); return true }) // its error ignored, as careless code does
		return nil
	})
	isDamage("a scan whose error is ignored", err)
	if len(served) != 30 || served[29] != "big:029" {
		t.Fatalf("a scan handed out %v before the damaged value (want big:000 to big:029)", served)
	}
	err = s.Update(func(tx *Tx) error {
		tx.Set("written", "1")
		tx.Get("big:030")
		return nil
	})
	isDamage("an Update that read it", err)
	if _, err := s.Get("written"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an Update that read a damaged value wrote: %v", err)
	}
	isDamage("a compaction", s.Compact())
	isDamage("VerifyAll", s.VerifyAll())
	if err := s.Set("after", "1"); err != nil {
		t.Fatalf("a write that reads nothing damaged: %v", err)
	}
	s.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(after[:len(bad)], bad) {
		t.Fatal("the damaged bytes were changed")
	}

	// Read-only, the same.
	r, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Get("big:030")
	isDamage("read-only", err)
	r.Close()

	// jitrt repair finds it at once.
	rep, err := Repair(context.Background(), dir, Options{LockTimeout: -1})
	if err != nil || rep.Sound || len(rep.Dropped) != 1 || rep.Dropped[0].From != txStart(file, at) {
		t.Fatalf("repair: %+v %v", rep, err)
	}
}

// A large file is opened from its transactions' indexes: a damaged index (a key, a
// length in it) or header is refused then, as in a small file. A command's own bytes in
// the body are compared with its index when its value is first read: a damaged key or
// length there is refused then, naming the byte and the key, and the value is not served;
// a damaged delete (which has no value to read) by VerifyAll and a compaction, which
// check each transaction whole.
func TestALargeFilesIndexIsCheckedWhenOpenedAndEachCommandWhenFirstRead(t *testing.T) {
	dir := t.TempDir()
	file, want := largeHistory(t, dir)
	path := filepath.Join(dir, FileName)
	key := bytes.Index(file, []byte("big:031\r\n"))
	length := bytes.LastIndex(file[:bytes.Index(file, []byte("value of big:031 "))], []byte("$"))
	header := bytes.LastIndex(file[:key], headerPrefix)
	index := bytes.Index(file, []byte(headsKey))
	indexKey := index + bytes.Index(file[index:], []byte("big:031\r\n"))
	indexLength := indexKey + len("big:031\r\n$")
	if index < 0 || indexKey < index || indexKey < length {
		t.Fatalf("no index after the commands (index at %d, its big:031 at %d)", index, indexKey)
	}
	for what, at := range map[string]int{"a key in the index": indexKey + 5, "a length in the index": indexLength + 1,
		"the index's own length": index + bytes.Index(file[index:], []byte("\r\n*3\r\n$3\r\nset\r\n$5\r\nkv:tx")) - 3,
		"the header":             header + len(headerPrefix) + 10} {
		bad := bytes.Clone(file)
		bad[at] ^= 0x02
		os.WriteFile(path, bad, 0o600)
		s, err := Open(context.Background(), dir, Options{LockTimeout: -1})
		if err == nil {
			s.Close()
			t.Fatalf("%s damaged (byte %d) was opened", what, at)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v", what, err)
		}
	}
	for what, at := range map[string]int{"a key": key + 5, "a value's length": length + 2} {
		bad := bytes.Clone(file)
		bad[at] ^= 0x02
		os.WriteFile(path, bad, 0o600)
		s, err := Open(context.Background(), dir, Options{LockTimeout: -1})
		if err != nil {
			t.Fatalf("%s damaged in the body was read when opened (its index was): %v", what, err)
		}
		for _, k := range []string{"a", "big:030", "big:032", "other:031"} {
			if v, err := s.Get(k); err != nil || v != want[k] {
				s.Close()
				t.Fatalf("%s damaged: %s, a sound command: %v", what, k, err)
			}
		}
		v, err := s.Get("big:031")
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Offset != int64(at) || !strings.Contains(err.Error(), `"big:031"`) || v != "" {
			s.Close()
			t.Fatalf("%s damaged at byte %d: Get served %d bytes, %v (want the byte and the key named)", what, at, len(v), err)
		}
		if err := s.VerifyAll(); !errors.As(err, &ce) || ce.Offset != int64(at) {
			t.Fatalf("%s damaged: VerifyAll: %v", what, err)
		}
		s.Close()
	}

	// A delete in a large transaction, damaged: nothing reads it but a check of the whole.
	dir = t.TempDir()
	s := openTest(t, dir)
	changes := []Change{{Key: "gone", Delete: true}}
	for i := 0; i < 30; i++ {
		changes = append(changes, Change{Key: fmt.Sprintf("k%02d", i), Value: strings.Repeat("v", 4000)})
	}
	if err := s.Set("gone", "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	path = filepath.Join(dir, FileName)
	file, _ = os.ReadFile(path)
	for len(file) < mapMin { // mapped, so opened lazily
		file = append(file, 0)
	}
	del := bytes.Index(file, []byte("del\r\n$4\r\ngone"))
	if del < 0 || !bytes.Contains(file, []byte(txMagic3)) {
		t.Fatal("no delete in a kvtx3 transaction")
	}
	file[del+len("del\r\n$4\r\ng")] ^= 0x02
	os.WriteFile(path, file, 0o600)
	s, err := Open(context.Background(), dir, Options{LockTimeout: -1})
	if err != nil {
		t.Fatalf("a damaged delete was read when opened: %v", err)
	}
	defer s.Close()
	if _, err := s.Get("gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the deleted key, from the index: %v", err)
	}
	if err := s.VerifyAll(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "transaction 2 fails its checksum") {
		t.Fatalf("VerifyAll of a file with a damaged delete: %v", err)
	}
	if err := s.Compact(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a compaction of a file with a damaged delete: %v", err)
	}
}

// A file of kvtx2 transactions (written by jitrt before the index) is read as it was, its
// commands walked when opened, and compacted into kvtx3.
func TestAFileWithoutIndexesIsReadAsBefore(t *testing.T) {
	dir := t.TempDir()
	file, want := largeHistory(t, dir)
	path := filepath.Join(dir, FileName)
	old := withoutIndexes(t, file)
	if bytes.Contains(old, []byte(txMagic3)) || !bytes.Contains(old, []byte(txMagic2)) || bytes.Contains(old, []byte(headsKey)) {
		t.Fatal("the file was not rewritten as kvtx2")
	}
	os.WriteFile(path, old, 0o600)
	s := openTest(t, dir)
	if got := contentsOf(t, s); len(got) != len(want) || got["big:042"] != want["big:042"] {
		t.Fatal("a kvtx2 file read to other contents")
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte(txMagic3)) {
		t.Fatal("the compacted file is not kvtx3")
	}
	s = openTest(t, dir)
	if got := contentsOf(t, s); len(got) != len(want) || got["other:007"] != want["other:007"] {
		t.Fatal("the compacted file holds other contents")
	}
	s.Close()

	// a key damaged in a kvtx2 body is refused when opened, as before
	key := bytes.Index(old, []byte("big:031\r\n"))
	old[key+5] ^= 0x02
	os.WriteFile(path, old, 0o600)
	if s, err := Open(context.Background(), dir, Options{LockTimeout: -1}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("a kvtx2 file with a damaged key: %v", err)
	}
}

// withoutIndexes is file with its kvtx3 transactions written as kvtx2: without the index.
func withoutIndexes(t *testing.T, file []byte) []byte {
	t.Helper()
	var out []byte
	for pos := 0; pos < len(file); {
		start := pos
		h, bodyStart, err := readHeader(file, pos)
		if err != nil {
			t.Fatal(err)
		}
		body := file[bodyStart : bodyStart+int(h.size)]
		pos = bodyStart + int(h.size)
		if !h.indexed {
			out = append(out, file[start:pos]...)
			continue
		}
		body = body[:bytes.LastIndex(body, []byte("*3\r\n$3\r\nset\r\n$8\r\n"+headsKey))]
		fields := fmt.Sprintf("%s %016x %08x %016x %08x %08x", txMagic2, h.seq, h.n-1, len(body), crc32.Checksum(body, castagnoli), h.skelCRC)
		out = appendSet(out, txKey, fmt.Sprintf("%s %08x", fields, crc32.Checksum([]byte(fields), castagnoli)))
		out = append(out, body...)
	}
	return out
}

// A sound large file serves every value, compacts (into large transactions, which stay
// lazy) and reopens to the same contents; and no single damaged byte anywhere is ever
// served: either the file is refused when opened or reading it all fails.
func TestALargeFileServesWhatItHoldsAndNoDamagedByte(t *testing.T) {
	dir := t.TempDir()
	file, want := largeHistory(t, dir)
	path := filepath.Join(dir, FileName)
	s := openTest(t, dir)
	if s.mapped == nil || len(s.mapped.values) != 120 {
		t.Fatalf("the 120 values of the file's two large transactions are not left to their first read: %+v", s.mapped)
	}
	got := contentsOf(t, s)
	if len(got) != len(want) {
		t.Fatalf("%d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s differs", k)
		}
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, dir)
	if s.mapped == nil {
		t.Fatal("the compacted file is not opened lazily")
	}
	if got := contentsOf(t, s); len(got) != len(want) || got["big:042"] != want["big:042"] {
		t.Fatal("the compacted file holds other contents")
	}
	s.Close()

	for i := 0; i < 150; i++ {
		bad := bytes.Clone(file)
		at := rand.IntN(len(bad))
		bad[at] ^= byte(1 + rand.IntN(255))
		os.WriteFile(path, bad, 0o600)
		s, err := Open(context.Background(), dir, Options{LockTimeout: -1})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d: %v", at, err)
			}
			continue
		}
		err = s.View(func(tx *Tx) error {
			return tx.Scan("", func(k, v string) bool { return true })
		})
		s.Close()
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d (%q) damaged was opened and read whole: %v", at, file[at], err)
		}
	}
}

func TestHeaderSizes(t *testing.T) {
	if got := len(encodeHeader(7, 1, lazyMin, 0, 0)); got != headerLen2 {
		t.Fatalf("a kvtx2 header is %d bytes, headerLen2 says %d", got, headerLen2)
	}
}

// Changes lists what the commits after a generation wrote under a prefix, with what each
// key held before; it says it does not know when a commit wrote too many keys there or
// the commits asked for left the log.
func TestChangesSayWhatCommitsWroteUnderAPrefix(t *testing.T) {
	s := openTest(t, t.TempDir())
	s.Set("el:a:x", "1")
	g := s.Generation("el:a:")
	s.Apply([]Change{{Key: "el:a:x", Value: "2"}, {Key: "el:a:y", Value: "new"}, {Key: "el:b:z", Value: "other"}}, nil)
	s.Update(func(tx *Tx) error { tx.Set("el:a:rolled", "back"); return errors.New("no") })
	s.Apply([]Change{{Key: "el:a:x", Delete: true}}, nil)
	got, ok := s.Changes("el:a:", g)
	want := []KeyChange{{Key: "el:a:x", Prev: "1", HadPrev: true}, {Key: "el:a:y"}, {Key: "el:a:x", Prev: "2", HadPrev: true}}
	if !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes since %d: %v %v, want %v", g, got, ok, want)
	}
	if got, ok := s.Changes("el:a:", s.Generation("el:a:")); !ok || len(got) != 0 {
		t.Fatalf("none since now: %v %v", got, ok)
	}
	// too many keys in one commit
	g = s.Generation("el:a:")
	var many []Change
	for i := 0; i <= logKeys; i++ {
		many = append(many, Change{Key: fmt.Sprintf("el:a:k%d", i), Value: "v"})
	}
	s.Apply(many, nil)
	if _, ok := s.Changes("el:a:", g); ok {
		t.Fatal("a commit of too many keys was listed")
	}
	// a commit whose keys held too much before
	g = s.Generation("el:a:")
	s.Apply([]Change{{Key: "el:a:k1", Value: strings.Repeat("x", logBytes)}}, nil)
	s.Apply([]Change{{Key: "el:a:k1", Value: "small"}, {Key: "el:a:k2", Value: "small"}}, nil)
	if _, ok := s.Changes("el:a:", g+1); ok {
		t.Fatal("a commit whose old values were over logBytes was listed")
	}
	if got, ok := s.Changes("el:a:", g); ok || got != nil {
		t.Fatalf("across it: %v %v", got, ok)
	}
	// past the log's start
	g = s.Generation("el:a:")
	for i := 0; i <= logCommits; i++ {
		s.Set("el:a:n", fmt.Sprint(i))
	}
	if _, ok := s.Changes("el:a:", g); ok {
		t.Fatal("commits that left the log were listed")
	}
	if got, ok := s.Changes("el:a:", s.Generation("el:a:")-2); !ok || len(got) != 2 {
		t.Fatalf("the last two commits: %v %v", got, ok)
	}
}

// mappingRss is the resident size, in bytes, of this process's mapping of path.
func mappingRss(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 6 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			in = f[len(f)-1] == path
			continue
		}
		if in && strings.HasPrefix(l, "Rss:") {
			var kb int64
			fmt.Sscanf(strings.TrimPrefix(l, "Rss:"), "%d", &kb)
			return kb << 10
		}
	}
	t.Fatalf("no mapping of %s", path)
	return 0
}

// Opening a large state file reads its transactions' indexes, not their commands: of a
// file of large values, a few pages (the folios of its start and its end) are mapped
// after the open. The same file written as kvtx2 (no index), whose commands the open
// walks, is mapped whole by it.
func TestOpeningALargeFileReadsItsIndexesNotItsCommands(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	var changes []Change
	for i := 0; i < 200; i++ { // 20 MiB: ten times the largest folio of the page cache (2 MiB), which a fault maps whole
		changes = append(changes, Change{Key: fmt.Sprintf("k%03d", i), Value: strings.Repeat(string(rune('a'+i%26)), 100<<10)})
	}
	if err := s.Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	file, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	old := t.TempDir()
	if err := os.WriteFile(filepath.Join(old, FileName), withoutIndexes(t, file), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir   string
		whole bool
	}{{dir, false}, {old, true}} {
		s := openTest(t, c.dir)
		path, _ := filepath.EvalSymlinks(filepath.Join(c.dir, FileName))
		rss := mappingRss(t, path)
		if v, err := s.Get("k123"); err != nil || v != changes[123].Value {
			t.Fatalf("k123: %v", err)
		}
		s.Close()
		if size := int64(len(file)); c.whole && rss < size*9/10 || !c.whole && rss > size/3 {
			t.Errorf("a file of %d bytes (kvtx2: %v): %d resident after it was opened", size, c.whole, rss)
		}
	}
}
