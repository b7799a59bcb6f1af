// Package testapp writes app folders for tests.
package testapp

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteTree writes files (slash paths relative to a new temp folder) and returns the folder.
func WriteTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		Write(t, dir, rel, content)
	}
	return dir
}

// Write writes one file below dir, creating its folders.
func Write(t testing.TB, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
