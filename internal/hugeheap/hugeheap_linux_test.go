package hugeheap

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// vmFlags is the VmFlags line of the mapping holding addr in /proc/self/smaps ("" when
// none holds it).
func vmFlags(t *testing.T, addr uintptr) string {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	in := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-"); ok && !strings.HasSuffix(strings.Fields(line)[0], ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uintptr(l) <= addr && addr < uintptr(h)
				continue
			}
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return line
		}
	}
	return ""
}

func thpAvailable(t *testing.T) {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(b), "[never]") {
		t.Skip("this kernel has no transparent huge pages to advise")
	}
}

// TestTheHeapMappedAfterwardsIsAdvised: memory the heap maps after Advise (a new chunk,
// which the runtime maps over its reservation, dropping earlier advice) is advised too,
// and stop ends the advising goroutine.
func TestTheHeapMappedAfterwardsIsAdvised(t *testing.T) {
	thpAvailable(t)
	t.Setenv(Env, "")
	before := runtime.NumGoroutine()
	stop := Advise()
	var chunks [][]byte
	deadline := time.Now().Add(time.Minute) // only a hang reaches it
	for {
		if len(chunks) < 8 {
			b := make([]byte, 32<<20) // a chunk the heap has to map anew
			b[0] = 1
			chunks = append(chunks, b)
		}
		b := chunks[len(chunks)-1]
		if flags := vmFlags(t, uintptr(unsafe.Pointer(&b[0]))); strings.Contains(" "+flags+" ", " hg ") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the heap's fresh memory never got the advice: %q", flags)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	stop() // twice is harmless
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after stop, %d before Advise", n, before)
	}
	runtime.KeepAlive(chunks)
}

// TestTurnedOff: JITRT_HUGEPAGES=0 and GODEBUG=disablethp=1 leave the heap alone.
func TestTurnedOff(t *testing.T) {
	for _, env := range [][2]string{{Env, "0"}, {"GODEBUG", "disablethp=1"}} {
		t.Setenv(env[0], env[1])
		before := runtime.NumGoroutine()
		stop := Advise()
		if n := runtime.NumGoroutine(); n != before {
			t.Errorf("%s=%s: Advise started a goroutine", env[0], env[1])
		}
		stop()
		t.Setenv(env[0], "")
	}
}
