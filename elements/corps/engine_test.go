package corps_test

// These tests set the corp's test hooks (a package-wide failure), so they do not run in
// parallel: Go runs every serial test before the parallel ones start.

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/elements/corps"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom/callback"
)

// postEvent posts one signed event without applying it.
func (e *eventEnv) postEvent(ev *callback.Event) (int, string) {
	e.t.Helper()
	msg, err := xml.Marshal(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.post(msg, fmt.Sprint(time.Now().Unix()), fmt.Sprint(time.Now().UnixNano()))
}

// applyEvents applies the queue now.
func (e *eventEnv) applyEvents() error {
	_, err := e.app.CallJSON(context.Background(), "corps.E", "applyEvents", nil)
	return err
}

// A panic in each goroutine the corp starts — a sync's, the committer's, the applier's —
// is an error of that operation, counted (jitrt_panics_total); the process keeps serving
// and the next operation works.
func TestAPanicInACorpGoroutineIsThatOperationsError(t *testing.T) {
	e := newEventEnv(t, 30, 4)
	users := e.sim.Org().Users
	panics := e.app.Panics()
	undo := corps.SetTestHooks(corps.TestHooks{
		Sync:   func() { panic("injected into the sync") },
		Commit: func() { panic("injected into the committer") },
		Apply:  func(*org.Event) error { panic("injected into the applier") },
	})
	_, err := e.app.CallJSON(context.Background(), "corps.E", "syncCorp", nil)
	if elements.CodeOf(err) != elements.CodeInternal || !strings.Contains(err.Error(), "internal") {
		t.Fatalf("a sync whose goroutine panicked: %v (code %q)", err, elements.CodeOf(err))
	}
	renamed := users[1]
	renamed.Name = "改名一"
	if status, body := e.postEvent(callback.UserEvent(evCorpID, callback.UpdateUser, time.Now().Unix(), &users[1], &renamed, false)); status == 200 {
		t.Fatalf("an event whose store panicked was answered 200: %s", body)
	}
	undo() // the committer works again; the applier still panics
	corps.SetTestHooks(corps.TestHooks{Apply: func(*org.Event) error { panic("injected into the applier") }})
	if status, body := e.postEvent(callback.UserEvent(evCorpID, callback.UpdateUser, time.Now().Unix(), &users[1], &renamed, false)); status != 200 {
		t.Fatalf("the event after the committer's panic: %d %s", status, body)
	}
	if err := e.applyEvents(); elements.CodeOf(err) != elements.CodeInternal {
		t.Fatalf("applying events whose applier panicked: %v", err)
	}
	corps.SetTestHooks(corps.TestHooks{})()
	// the applier of jitrt run tried the queue too, and panicked as many times
	if got := e.app.Panics() - panics; got < 3 {
		t.Fatalf("%d panics counted, want one each at least (sync, committer, applier)", got)
	}
	// the process serves on: a sync, the queued event
	if _, err := e.app.CallJSON(context.Background(), "corps.E", "syncCorp", nil); err != nil {
		t.Fatalf("a sync after the panics: %v", err)
	}
	if err := e.applyEvents(); err != nil {
		t.Fatalf("applying the queued event after the panics: %v", err)
	}
	for _, want := range []string{"injected into the sync", "injected into the committer", "injected into the applier"} {
		if !strings.Contains(e.logs.String(), want) {
			t.Fatalf("the log does not have the panic %q", want)
		}
	}
}

// An event that fails again and again is set aside after its tries, with its error, in the
// history, the metrics and getSetAsideEvents; the events after it are applied.
func TestAnEventThatKeepsFailingIsSetAside(t *testing.T) {
	e := newEventEnv(t, 30, 4)
	users := e.sim.Org().Users
	poison, next := users[3], users[4]
	undo := corps.SetTestHooks(corps.TestHooks{Apply: func(ev *org.Event) error {
		if ev.MemberID == poison.UserID {
			return errors.New("injected: this event cannot be applied")
		}
		return nil
	}})
	defer undo()
	for _, u := range []struct{ from, to string }{{poison.Name, "毒一"}, {next.Name, "下一个"}} {
		src := next
		if u.from == poison.Name {
			src = poison
		}
		changed := src
		changed.Name = u.to
		if status, body := e.postEvent(callback.UserEvent(evCorpID, callback.UpdateUser, time.Now().Unix(), &src, &changed, false)); status != 200 {
			t.Fatalf("post: %d %s", status, body)
		}
	}
	var applied bool
	for try := 0; try < 20 && !applied; try++ { // the applier's tries, by hand: a few are enough
		if e.applyEvents() == nil {
			applied = true
		}
	}
	if !applied {
		t.Fatal("the queue still fails after 20 tries: the failing event was not set aside")
	}
	if m, _ := e.member(next.UserID); m.Name != "下一个" {
		t.Fatalf("the event after the failing one was not applied: %+v", m)
	}
	if m, _ := e.member(poison.UserID); m.Name != poison.Name {
		t.Fatalf("the failing event changed its member: %+v", m)
	}
	var aside []map[string]any
	e.js(`corp.getSetAsideEvents()`, &aside)
	if len(aside) != 1 || aside[0]["id"] != poison.UserID || aside[0]["kind"] != "update_user" || !strings.Contains(fmt.Sprint(aside[0]["error"]), "cannot be applied") {
		t.Fatalf("getSetAsideEvents: %v", aside)
	}
	var hist []map[string]any
	e.js(`corp.getSyncHistory()`, &hist)
	found := false
	for _, h := range hist {
		if h["kind"] == "events" && h["setAside"] == 1.0 && strings.Contains(fmt.Sprint(h["warnings"]), poison.UserID) {
			found = true
		}
	}
	if !found {
		t.Fatalf("the history does not say the event was set aside: %v", hist)
	}
	if !strings.Contains(e.logs.String(), "was set aside") {
		t.Fatal("the log does not say the event was set aside")
	}
}

// Close of a corp whose sync waits on a WeCom that does not answer, and whose writer waits
// on a lock another holder keeps, returns (it waits on neither); the sync ends with an
// error; the element reloads and serves.
func TestCloseWaitsOnNeitherWeComNorALock(t *testing.T) {
	e := newEventEnv(t, 30, 4)
	release := onceFunc(e.sim.Hold("department/list"))
	defer release()
	syncDone := make(chan error, 1)
	go func() {
		_, err := e.app.CallJSON(context.Background(), "corps.E", "syncCorp", nil)
		syncDone <- err
	}()
	testwait.For(t, "the sync to wait on WeCom", func() bool { return e.sim.Held("department/list") > 0 })
	inst, rel, err := e.app.Instance("corps.E")
	if err != nil {
		t.Fatal(err)
	}
	rel()
	dir := inst.(org.Org).Directory()
	held, err := dir.Lock(context.Background()) // another writer holds the org's lock
	if err != nil {
		t.Fatal(err)
	}
	unlock := onceFunc(held)
	defer unlock()
	writeDone := make(chan error, 1)
	go func() {
		_, err := e.app.CallJSON(context.Background(), "corps.E", "setAdmin", map[string]any{"memberIdList": []string{e.sim.Org().Users[0].UserID}})
		writeDone <- err
	}()
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- inst.(io.Closer).Close() }()
	testwait.Recv(t, "Close", closed)
	t.Logf("Close returned in %s while WeCom and the lock still hang", time.Since(start).Round(time.Millisecond))
	t0 := time.Now()
	if err := testwait.Recv(t, "the sync's end", syncDone); err == nil {
		t.Fatal("the sync cut off by Close answered no error")
	} else {
		t.Logf("the sync ended %s after Close: %v", time.Since(t0).Round(time.Millisecond), err)
	}
	// the next instance serves
	p := filepath.Join(e.dir, "corps/E/e.json")
	if err := os.WriteFile(p, []byte(`{"title": "事件 2", "type": "corps.QywxInnerType"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.app.ReloadElement("corps/E")
	var info map[string]any
	e.js(`corp.getCorpInfo()`, &info)
	if info["title"] != "事件 2" {
		t.Fatalf("after the reload: %v", info)
	}
	unlock()
	release()
	testwait.Recv(t, "the write that waited on the lock", writeDone)
}

func onceFunc(f func()) func() {
	var once sync.Once
	return func() { once.Do(f) }
}
