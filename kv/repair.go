package kv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"
	"golang.org/x/sys/unix"
)

// keepBackups is how many state files from before a compaction are kept in backups/.
const keepBackups = 3

// Dropped is a stretch of a damaged state file that a repair could not keep.
type Dropped struct {
	From, To int64  // byte offsets, To exclusive
	Reason   string // what was wrong at From
}

// RepairReport says what Repair found and did.
type RepairReport struct {
	// Sound is true when the file needed no repair (nothing was written).
	Sound bool
	// Kept and Lost count the transactions salvaged and those in the dropped stretches
	// (as far as their headers could be read).
	Kept, Lost int
	Dropped    []Dropped
	// Keys is how many keys the repaired state holds.
	Keys int
	// Backup is where the damaged file was kept.
	Backup string
}

// Repair salvages a damaged state file: every transaction whose checksums hold is kept, in
// order; every stretch between them that does not check out is dropped and reported. The
// damaged file is moved to the backups folder and the salvaged state written in its place.
// A sound file is left as it is. Repair takes the data folder's lock.
func Repair(ctx context.Context, dir string, opts Options) (*RepairReport, error) {
	lock, err := opts.lock(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer lock.release()
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kv: read %s: %w", path, err)
	}
	rep := &RepairReport{}
	if c, err := verify(path, data, false); err == nil && c.torn == 0 {
		rep.Sound, rep.Kept = true, int(c.seq)
		if c.legacy {
			rep.Kept = 0
		}
		return rep, nil
	}
	kept := salvage(data, rep)
	db, err := buntdb.Open(":memory:")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Load((&contents{bodies: kept}).reader(data)); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("kv: load what was salvaged: %w", err)
	}
	db.Update(func(tx *buntdb.Tx) error {
		tx.Delete(legacyJournalKey)
		tx.Delete(sumsKey)
		tx.Delete(headsKey)
		return nil
	})
	backup, err := keepAside(dir, path, "damaged")
	if err != nil {
		return nil, err
	}
	rep.Backup = backup
	if err := writeFileFrom(db, path); err != nil {
		return nil, err
	}
	db.View(func(tx *buntdb.Tx) error {
		rep.Keys, _ = tx.Len()
		return nil
	})
	return rep, nil
}

// salvage finds the transactions of data whose checksums hold, and the stretches between
// them that do not.
func salvage(data []byte, rep *RepairReport) [][2]int {
	var kept [][2]int
	// A plain BuntDB file has no transaction headers at all.
	legacy := len(data) > 0 && !bytes.Contains(data, headerPrefix)
	pos := 0
	for pos < len(data) {
		if legacy {
			// a plain BuntDB file: command by command
			if cmd, err := parseCommand(data, pos); err == nil {
				kept = append(kept, [2]int{pos, cmd.end})
				pos = cmd.end
				continue
			}
		} else if end, ok := wholeTransaction(data, pos); ok {
			_, bodyStart, _ := readHeader(data, pos)
			kept = append(kept, [2]int{bodyStart, end})
			rep.Kept++
			pos = end
			continue
		}
		// Damage at pos: on to the next place where a whole transaction (or command) starts.
		next := nextStart(data, pos+1, legacy)
		reason := "not a whole transaction"
		if _, err := parseCommand(data, pos); err != nil {
			reason = err.Error()
		}
		if next == len(data) && zeros(data[pos:]) {
			reason = "an unfinished final write"
		}
		rep.Dropped = append(rep.Dropped, Dropped{From: int64(pos), To: int64(next), Reason: reason})
		rep.Lost += bytes.Count(data[pos:next], headerPrefix)
		pos = next
	}
	return kept
}

// wholeTransaction reports whether a transaction whose checksums hold starts at pos, and
// where it ends.
func wholeTransaction(data []byte, pos int) (int, bool) {
	h, bodyStart, err := readHeader(data, pos)
	if err != nil || int64(len(data)-bodyStart) < h.size {
		return 0, false
	}
	end := bodyStart + int(h.size)
	if crc32.Checksum(data[bodyStart:end], castagnoli) != h.bodyCRC {
		return 0, false
	}
	sh, _, err := skeleton(data, bodyStart, end, h.n, false)
	if err != nil || (h.v2 && sh.skel != h.skelCRC) || h.v2 != (sh.sums != nil) || (h.v2 && len(sh.sums) != 4*len(sh.values)) || sh.index != h.indexed {
		return 0, false
	}
	for i, v := range sh.values {
		if h.v2 && crc32.Checksum(data[v[0]:v[1]], castagnoli) != binary.LittleEndian.Uint32(sh.sums[4*i:]) {
			return 0, false
		}
	}
	return end, sh.n == h.n
}

// nextStart is the first offset from pos where a whole transaction (or, in a legacy file,
// a command) starts, or the end of data.
func nextStart(data []byte, pos int, legacy bool) int {
	for pos < len(data) {
		if legacy {
			i := bytes.IndexByte(data[pos:], '*')
			if i < 0 {
				return len(data)
			}
			if _, err := parseCommand(data, pos+i); err == nil {
				return pos + i
			}
			pos += i + 1
			continue
		}
		i := bytes.Index(data[pos:], headerPrefix)
		if i < 0 {
			return len(data)
		}
		if _, ok := wholeTransaction(data, pos+i); ok {
			return pos + i
		}
		pos += i + 1
	}
	return len(data)
}

// writeFileFrom writes db as a compacted state file at path (through a file beside it).
func writeFileFrom(db *buntdb.DB, path string) error {
	tmp := path + ".new"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	err = db.View(func(tx *buntdb.Tx) error {
		_, _, err := writeCompacted(f, tx)
		return err
	})
	if err == nil {
		err = unix.Fdatasync(int(f.Fd()))
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("kv: write %s: %w", path, err)
	}
	return nil
}

// keepAside moves (or, for a file that stays, links) the state file into the backups
// folder under a name that says why and when; it returns the backup's path.
func keepAside(dir, path, why string) (string, error) {
	backups := filepath.Join(dir, BackupDir)
	if err := os.MkdirAll(backups, 0o700); err != nil {
		return "", fmt.Errorf("kv: %w", err)
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
	name := filepath.Join(backups, "state-"+stamp+"-"+why+".db")
	for i := 2; ; i++ {
		err := os.Link(path, name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, os.ErrExist) || i > 100 {
			return "", fmt.Errorf("kv: keep %s as %s: %w", path, name, err)
		}
		name = filepath.Join(backups, fmt.Sprintf("state-%s.%d-%s.db", stamp, i, why))
	}
}

// Backup is a state file kept in the backups folder.
type Backup struct {
	Name string
	Path string
	// Why it was kept: compaction (the file as it was before one), damaged (before a
	// repair), restore (before a restore) or before-v1 (a file of an earlier jitrt).
	Why  string
	Time time.Time
	Size int64
}

// Backups lists the kept state files of the data folder dir, newest first.
func Backups(dir string) ([]Backup, error) {
	entries, err := os.ReadDir(filepath.Join(dir, BackupDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Backup
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "state-") || !strings.HasSuffix(e.Name(), ".db") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		stamp, why, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(e.Name(), "state-"), ".db"), "-")
		stamp, _, _ = strings.Cut(stamp, ".")
		nano, _ := strconv.ParseInt(stamp, 10, 64)
		t := time.Unix(0, nano).UTC()
		if strings.HasPrefix(e.Name(), "state-before-v1-") {
			why = "before-v1"
			t, _ = time.Parse("20060102T150405Z", strings.TrimSuffix(strings.TrimPrefix(e.Name(), "state-before-v1-"), ".db"))
		}
		out = append(out, Backup{Name: e.Name(), Path: filepath.Join(dir, BackupDir, e.Name()), Why: why, Time: t, Size: fi.Size()})
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Time.After(out[j].Time) || out[i].Time.Equal(out[j].Time) && out[i].Name > out[j].Name
	})
	return out, nil
}

// Restore makes the backup named name the state of the data folder dir. The backup must
// check out; the current state file is kept in the backups folder first. Restore takes
// the data folder's lock.
func Restore(ctx context.Context, dir, name string, opts Options) (current string, err error) {
	if name != filepath.Base(name) {
		return "", fmt.Errorf("kv: %q is not the name of a backup (see the backups list)", name)
	}
	src := filepath.Join(dir, BackupDir, name)
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("kv: read the backup: %w", err)
	}
	if _, err := verify(src, data, false); err != nil {
		return "", err
	}
	lock, err := opts.lock(ctx, dir)
	if err != nil {
		return "", err
	}
	defer lock.release()
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err == nil {
		if current, err = keepAside(dir, path, "restore"); err != nil {
			return "", err
		}
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", fmt.Errorf("kv: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("kv: %w", err)
	}
	return current, syncDir(dir)
}

// rotateBackups drops the oldest backups made by compactions beyond keepBackups.
func rotateBackups(dir string) {
	list, _ := Backups(dir)
	n := 0
	for _, b := range list {
		if b.Why != "compaction" {
			continue
		}
		if n++; n > keepBackups {
			os.Remove(b.Path)
		}
	}
}
