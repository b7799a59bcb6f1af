package hugeheap

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
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
	advice := Advise()
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
	advice.Stop()
	advice.Stop() // twice is harmless
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
		advice := Advise()
		if n := runtime.NumGoroutine(); n != before {
			t.Errorf("%s=%s: Advise started a goroutine", env[0], env[1])
		}
		advice.Stop()
		t.Setenv(env[0], "")
	}
}

// childEnv marks the test binary run again for one test in a fresh process.
const childEnv = "HUGEHEAP_TEST_CHILD"

// rssBytes is the process's resident memory.
func rssBytes(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestTheReservationIsMappedUntouchedAndNotLive: reserveHeap leaves the heap mapped ahead
// by the reservation (free, for the work to grow into), touches none of it (the resident
// memory stays), and the collector's goal after it is set by what is live, not by it.
// It runs in a process of its own (this test binary again), whose heap no reservation
// has grown yet.
func TestTheReservationIsMappedUntouchedAndNotLive(t *testing.T) {
	if b, _ := os.ReadFile("/proc/sys/vm/overcommit_memory"); strings.TrimSpace(string(b)) == "2" || raceEnabled {
		t.Skip("strict overcommit, or the race detector: no reservation is made")
	}
	if os.Getenv(childEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTheReservationIsMappedUntouchedAndNotLive$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	size := uint64(reserveSize())
	if size < 64<<20 {
		t.Skipf("a reservation of %d bytes is too small to tell from the heap", size)
	}
	runtime.GC()
	rss0 := rssBytes(t)
	reserveHeap()
	if rss := rssBytes(t); rss > rss0+size/8 {
		t.Fatalf("resident memory %d -> %d: the reservation of %d was written", rss0, rss, size)
	}
	// (mapped now, or by an earlier reservation of this process: the heap keeps it)
	if mapped := readMetric("/memory/classes/total:bytes"); mapped < size {
		t.Fatalf("%d bytes mapped: the reservation of %d was not", mapped, size)
	}
	runtime.GC()
	if goal := readMetric("/gc/heap/goal:bytes"); goal > size/2 {
		t.Fatalf("the collector's goal after the reservation is %d: it counted the reservation (%d) live", goal, size)
	}
	if free := readMetric("/memory/classes/heap/free:bytes") + readMetric("/memory/classes/heap/released:bytes"); free < size*3/4 {
		t.Fatalf("%d bytes of heap free after the reservation of %d: it was not let go", free, size)
	}
}

// TestAdviseReservesTheHeapAhead: once Advise returns, the heap is mapped past the
// reservation's size. In a process of its own.
func TestAdviseReservesTheHeapAhead(t *testing.T) {
	if b, _ := os.ReadFile("/proc/sys/vm/overcommit_memory"); strings.TrimSpace(string(b)) == "2" || raceEnabled {
		t.Skip("strict overcommit, or the race detector: no reservation is made")
	}
	thpAvailable(t)
	if os.Getenv(childEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAdviseReservesTheHeapAhead$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1", Env+"=")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	size := uint64(reserveSize())
	advice := Advise()
	defer advice.Stop()
	if mapped := readMetric("/memory/classes/total:bytes"); mapped < size {
		t.Fatalf("%d bytes mapped once Advise returned: no reservation of %d", mapped, size)
	}
}
