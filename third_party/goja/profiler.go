package goja

// jitrt patch: jitrt's build leaves goja's sampling profiler out (JITRT.md): it built
// pprof profiles with github.com/google/pprof/profile, whose package initialisation
// compiles regular expressions in every process that links it, at every start. What vm.go
// reads of it stays, so that the run loop is upstream's: the profiler is never enabled,
// and a VM that asks to be tracked is told to stop at once.

import (
	"errors"
	"io"
	"sync/atomic"
	"time"
)

const profMaxStackDepth = 64

const (
	profReqNone int32 = iota
	profReqDoSample
	profReqSampleReady
	profReqStop
)

type _globalProfiler struct {
	p       profiler
	enabled int32
}

var globalProfiler _globalProfiler

type profTracker struct {
	req, finished int32
	start, stop   time.Time
	numFrames     int
	frames        [profMaxStackDepth]StackFrame
}

type profiler struct{}

func (p *profiler) registerVm() *profTracker {
	pt := new(profTracker)
	atomic.StoreInt32(&pt.req, profReqStop)
	return pt
}

// ErrProfilerLeftOut is StartProfile's error in jitrt's build.
var ErrProfilerLeftOut = errors.New("goja: the profiler is left out of this build (third_party/goja/JITRT.md)")

// StartProfile would start goja's sampling profiler; jitrt's build leaves it out.
func StartProfile(w io.Writer) error { return ErrProfilerLeftOut }

// StopProfile does nothing: no profile was started.
func StopProfile() {}
