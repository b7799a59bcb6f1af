// Package testwait waits, in tests, for something to happen, with a deadline that only a
// hang reaches: a slow or busy machine makes a test slower, never red.
package testwait

import (
	"testing"
	"time"
)

// Hang is how long a test waits for something before it calls it a hang. Nothing a test
// waits for takes a fraction of it, on the slowest machine, under load.
const Hang = 3 * time.Minute

// For polls cond until it holds, and fails the test (saying what it waited for) if it
// does not within Hang.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Hang)
	for pause := time.Millisecond; !cond(); pause = min(2*pause, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: a hang", Hang, what)
		}
		time.Sleep(pause)
	}
}

// Recv waits for a value on ch, and fails the test (saying what it waited for) if none
// comes within Hang.
func Recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(Hang):
		t.Fatalf("waited %s for %s: a hang", Hang, what)
		var zero T
		return zero
	}
}

// RecvOK is Recv that also says whether ch was open (false: closed).
func RecvOK[T any](t testing.TB, what string, ch <-chan T) (T, bool) {
	t.Helper()
	select {
	case v, ok := <-ch:
		return v, ok
	case <-time.After(Hang):
		t.Fatalf("waited %s for %s: a hang", Hang, what)
		var zero T
		return zero, false
	}
}
