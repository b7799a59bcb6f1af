package simkit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// Messages are delivered one at a time in order; one that fails is retried after each
// interval and then parked, and the next goes on.
func TestPusherDeliversInOrderRetriesAndParks(t *testing.T) {
	var mu sync.Mutex
	var got []string
	fails := map[string]int{"b": 1, "c": 10} // b fails once, c always
	p := NewPusher(func(_ context.Context, msg []byte) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(msg))
		if fails[string(msg)] > 0 {
			fails[string(msg)]--
			return errors.New("refused")
		}
		return nil
	}, []time.Duration{time.Millisecond, time.Millisecond})
	defer p.Stop()
	for _, m := range []string{"a", "b", "c", "d"} {
		p.Push([]byte(m))
	}
	if !p.WaitIdle(time.Minute) {
		t.Fatal("the pusher did not finish: a hang")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []string{"a", "b", "b", "c", "c", "c", "d"}) {
		t.Fatalf("deliveries %v", got)
	}
	if st := p.Stats(); st != (PushStats{Delivered: 3, Retried: 3, Parked: 1}) {
		t.Fatalf("stats %+v", st)
	}
	if parked := p.TakeParked(); len(parked) != 1 || string(parked[0]) != "c" || len(p.TakeParked()) != 0 {
		t.Fatalf("parked %q", parked)
	}
}
