package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FolderHash is the sha256 of the app folder as replicas compare it: every file's path
// (relative, with /) and contents, in path order, leaving out hidden files and folders
// (.jitrt, the state's and caches', .git) and jitrt.d.ts (written from the app, not part
// of it).
func (a *App) FolderHash() (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(a.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && a.opts.DataDir != "" && filepath.Clean(path) == filepath.Clean(a.opts.DataDir) {
			return filepath.SkipDir // the state, wherever --data puts it
		}
		if path != a.Dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() || d.Name() == "jitrt.d.ts" {
			return nil
		}
		rel, err := filepath.Rel(a.Dir, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		n, err := io.Copy(h, f)
		fmt.Fprintf(h, "\x00%d\n", n)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hash the app folder %s: %w", a.Dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
