// Package appfile reads the files of an app folder the way jitrt may: only regular files,
// only inside the app folder once symbolic links are resolved, of bounded size, and never
// blocking (a FIFO or a device named like an app file is refused, not opened for reading).
package appfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// MaxConfig is the largest e.json, config or app.json jitrt reads.
const MaxConfig = 1 << 20

// MaxScript is the largest script jitrt reads.
const MaxScript = 8 << 20

// ErrOutside is returned for a path whose real location is outside the app folder.
var ErrOutside = errors.New("outside the app folder")

// Within reports whether path p lies inside dir (both cleaned, neither resolved).
func Within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// Resolve returns the real path of p (symbolic links resolved), which must lie inside the
// real app folder. A missing file is fs.ErrNotExist.
func Resolve(appDir, p string) (string, error) {
	realApp, err := filepath.EvalSymlinks(appDir)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	if !Within(realApp, real) {
		rel, _ := filepath.Rel(appDir, p)
		return "", fmt.Errorf("%s is a link to %s, %w", filepath.ToSlash(rel), real, ErrOutside)
	}
	return real, nil
}

// Read reads p, a path inside the app folder appDir: it must resolve to a regular file
// inside the app folder, of at most max bytes.
func Read(appDir, p string, max int64) ([]byte, error) {
	real, err := Resolve(appDir, p)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
	f, err := os.OpenFile(real, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", filepath.Base(p), kind(fi.Mode()))
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes; the most jitrt reads is %d", filepath.Base(p), fi.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is over %d bytes", filepath.Base(p), max)
	}
	return data, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}
