package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The heap a command reserves ahead (internal/hugeheap) counts among the heap's objects
// until the collector sweeps it: it is made before the app loads and any script runs, so
// that a script that builds up 100 MiB of objects, under its 256 MiB budget, is not
// charged a gigabyte it did not allocate and stopped.
func TestTheHeapsReservationIsNotChargedToTheScript(t *testing.T) {
	app := writeTree(t, map[string]string{"app.json": `{"name": "heavy"}`})
	bin := buildJitrt(t)
	out, err := exec.Command(bin, "exec", app, "--data", t.TempDir(), "-e",
		`const a = []; for (let i = 0; i < 400000; i++) a.push({i, s: "member " + i}); a.length`).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "400000" {
		t.Fatalf("a script building 400,000 objects: %v\n%s", err, out)
	}
}
