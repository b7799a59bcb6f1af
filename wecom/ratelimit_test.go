package wecom

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func admitted(w *windowLimiter) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := w.Wait(ctx)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		panic(err)
	}
	return err == nil
}

func TestWindowLimiterKeepsBothWindows(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	w := newWindowLimiter(Limits{PerMinute: 3, PerHour: 5}, clk.now)
	for i := 0; i < 3; i++ {
		if !admitted(w) {
			t.Fatalf("call %d refused", i)
		}
	}
	if admitted(w) {
		t.Fatal("4th call in a minute admitted")
	}
	clk.add(59 * time.Second)
	if admitted(w) {
		t.Fatal("admitted before the minute passed")
	}
	clk.add(time.Second)
	if !admitted(w) || !admitted(w) {
		t.Fatal("refused after the minute passed")
	}
	clk.add(2 * time.Minute)
	if admitted(w) {
		t.Fatal("6th call in an hour admitted")
	}
	clk.add(time.Hour)
	if !admitted(w) {
		t.Fatal("refused after the hour passed")
	}
	clk.add(50 * time.Hour) // long idle
	for i := 0; i < 3; i++ {
		if !admitted(w) {
			t.Fatalf("after idle, call %d refused", i)
		}
	}
}

func TestScrubURL(t *testing.T) {
	for in, want := range map[string]string{
		`dial "http://h/cgi-bin/gettoken?corpid=x&corpsecret=S" failed`: `dial "http://h/cgi-bin/gettoken" failed`,
		"GET /x?access_token=T": "GET /x",
		"no query here":         "no query here",
	} {
		if got := scrubURL(in); got != want {
			t.Errorf("scrubURL(%q) = %q", in, got)
		}
	}
}
