package cluster

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jitrt/jitrt/internal/testwait"
)

// A leader whose work panics ends its flight: the panic goes on up the leader's own stack
// (its caller recovers it), the caller that joined it runs its work itself (as after an
// error), and so does the next caller, instead of waiting for a flight that never ends.
func TestALeaderThatPanicsEndsItsFlight(t *testing.T) {
	s := Local()
	joined := make(chan struct{})
	var arrivals atomic.Int32
	s.hooks = &Hooks{OnArrived: func(string) { // the second caller to arrive joins the first
		if arrivals.Add(1) == 2 {
			close(joined)
		}
	}}
	entered, release := make(chan struct{}), make(chan struct{})
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		s.Lead(context.Background(), "sync:p", func(context.Context) (string, error) {
			close(entered)
			<-release
			panic("injected")
		})
	}()
	<-entered
	joinErr := make(chan error, 1)
	go func() {
		res, led, err := s.Lead(context.Background(), "sync:p", func(context.Context) (string, error) { return "the joiner ran", nil })
		if err == nil && (!led || res != "the joiner ran") {
			err = fmt.Errorf("the joiner: %q led=%v", res, led)
		}
		joinErr <- err
	}()
	<-joined
	close(release)
	if r := <-recovered; r != "injected" {
		t.Fatalf("the leader's caller recovered %v, want the panic", r)
	}
	if err := testwait.Recv(t, "the caller that joined a panicking leader", joinErr); err != nil {
		t.Fatalf("the caller that joined a panicking leader: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, led, err := s.Lead(context.Background(), "sync:p", func(context.Context) (string, error) { return "next", nil })
		if err != nil || !led || res != "next" {
			t.Errorf("the next caller: %q led=%v err=%v", res, led, err)
		}
	}()
	testwait.For(t, "the next caller of Lead after a panic", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}
