package wasmhost

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing/fstest"
)

// The "fs" grant shows the guest its Type element's folder, read-only, as "/". It is a copy
// made when the module loads, in memory: only regular files that are really in the folder
// (no symbolic link is followed, so nothing outside it — /proc, /etc, another element's
// config — can be reached, whatever links the folder holds). An instance's config reaches
// a guest through jitrt.config, its secrets removed. An edit of a file reloads the
// element, which copies the folder again.

// Limits of the copy.
const (
	maxGrantBytes = 64 << 20
	maxGrantFiles = 10_000
)

// ErrGrantTooLarge is a folder under the "fs" grant over maxGrantBytes or maxGrantFiles.
var ErrGrantTooLarge = errors.New("wasm: the fs grant's folder is too large")

// snapshot copies the regular files under dir into an in-memory FS, and returns a digest
// of what it holds (so that a changed folder loads a module of its own).
func snapshot(dir string) (fs.FS, string, error) {
	files := fstest.MapFS{}
	sum := sha256.New()
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			files[rel] = &fstest.MapFile{Mode: fs.ModeDir | 0o555}
			return nil
		case !d.Type().IsRegular(): // symbolic links, devices, sockets, pipes
			return nil
		}
		if len(files) >= maxGrantFiles {
			return fmt.Errorf("%w: over %d files in %s", ErrGrantTooLarge, maxGrantFiles, dir)
		}
		// O_NOFOLLOW: a file swapped for a link after the walk saw it is not followed
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil // gone, or a link now: not shown
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(f, maxGrantBytes-total+1))
		if err != nil {
			return fmt.Errorf("wasm: read %s for the fs grant: %w", path, err)
		}
		total += int64(len(data))
		if total > maxGrantBytes {
			return fmt.Errorf("%w: over %d MiB in %s", ErrGrantTooLarge, maxGrantBytes>>20, dir)
		}
		files[rel] = &fstest.MapFile{Data: data, Mode: 0o444}
		fmt.Fprintf(sum, "%q %d\n", rel, len(data))
		sum.Write(data)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return files, hex.EncodeToString(sum.Sum(nil)), nil
}
