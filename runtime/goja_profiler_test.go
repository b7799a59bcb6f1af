package runtime

import (
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// The goja build leaves its sampling profiler out (third_party/goja/JITRT.md), and with it
// google/pprof, whose initialisation every jitrt process paid at start.
func TestGojaIsBuiltWithoutItsProfiler(t *testing.T) {
	if err := goja.StartProfile(io.Discard); !errors.Is(err, goja.ErrProfilerLeftOut) {
		goja.StopProfile()
		t.Fatalf("StartProfile: %v, want ErrProfilerLeftOut", err)
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/jitrt/jitrt/cmd/jitrt").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "github.com/google/pprof") {
		t.Fatal("jitrt links github.com/google/pprof again")
	}
}
