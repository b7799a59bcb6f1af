package org

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitrt/jitrt/kv"
)

// platformEvents is the events of a small platform of the test's own, queued as JSON: what
// a provider (WeCom today, DingTalk and Feishu next) gives the engine, and nothing of any
// platform in particular.
type platformEvents struct {
	members map[string]*Member // the platform's members now (FetchMember)
	fetched []string           // the members fetched, in order
	fail    string             // a member whose events fail when applied (BeforeApply)
}

type testEvent struct {
	Kind string `json:"kind"` // "hire", "edit", "leave"
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

func (p *platformEvents) DecodeEvent(raw string) (*Event, error) {
	var te testEvent
	if err := json.Unmarshal([]byte(raw), &te); err != nil {
		return nil, err
	}
	ev := &Event{Name: te.Kind, MemberID: te.ID}
	switch te.Kind {
	case "hire", "edit":
		ev.Kind, ev.Create, ev.Whole = MemberChanged, te.Kind == "hire", te.Name != ""
		ev.Patch = func(base *Member) *Member {
			if te.Name != "" {
				base.Name = te.Name
			}
			return base
		}
	case "leave":
		ev.Kind = MemberLeft
	default:
		return nil, fmt.Errorf("no such event %q", te.Kind)
	}
	return ev, nil
}

func (p *platformEvents) FetchMember(_ context.Context, id string) (*Member, error) {
	p.fetched = append(p.fetched, id)
	if m, ok := p.members[id]; ok {
		c := *m
		return &c, nil
	}
	return nil, fmt.Errorf("member %s: %w", id, ErrNotInPlatform)
}

func (p *platformEvents) FetchDept(context.Context, int64) (*Dept, error) {
	return nil, ErrNotInPlatform
}

func (p *platformEvents) FetchTag(context.Context, int64) (*Tag, error) {
	return nil, ErrNotInPlatform
}

// queue stores events as a provider does, in the order given.
func queue(t *testing.T, d *Directory, events ...testEvent) {
	t.Helper()
	err := d.store.Update(func(tx *kv.Tx) error {
		var last uint64
		tx.ScanReverse(d.keys.EventQueue(), func(k, _ string) bool {
			fmt.Sscan(strings.TrimPrefix(k, d.keys.EventQueue()), &last)
			return false
		})
		for i, ev := range events {
			if err := tx.Set(d.keys.EventAt(last+uint64(i)+1), MustJSON(ev)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func name(t *testing.T, d *Directory, id string) (string, string) {
	t.Helper()
	m, err := d.Member(id)
	if err != nil {
		return "", err.Error()
	}
	return fmt.Sprint(m["name"]), fmt.Sprint(m["status"])
}

// The engine applies a provider's events in the order they came: a member's fields as the
// event patches them, a member the org does not know fetched from the platform (or the
// event ignored when the platform has no such member), a departure offline; a queued event
// that cannot be read is dropped; an event that keeps failing is set aside after its tries
// with its error, and the events after it are applied.
func TestTheEngineAppliesAProvidersEventsInOrder(t *testing.T) {
	d, _ := newTestDir(t)
	ctx := context.Background()
	if err := d.Commit(ctx, d.Prefetch(), fetchedOrg(3), &SyncReport{}, CommitOptions{Start: time.Now(), Init: true}); err != nil {
		t.Fatal(err)
	}
	src := &platformEvents{members: map[string]*Member{"new1": {MemberID: "new1", Name: "from the platform", DeptIDs: []int64{1, 99}, MainDeptID: 99}}}
	e := d.NewEngine(EngineConfig{Events: src, BeforeApply: func(ev *Event) error {
		if ev.MemberID == src.fail {
			return errors.New("injected: cannot be applied")
		}
		return nil
	}})
	queue(t, d,
		testEvent{Kind: "edit", ID: "m00000", Name: "first"},
		testEvent{Kind: "edit", ID: "m00000", Name: "second"}, // in order: the last one stays
		testEvent{Kind: "edit", ID: "new1"},                   // only an id: fetched
		testEvent{Kind: "edit", ID: "gone1"},                  // not in the platform: ignored
		testEvent{Kind: "leave", ID: "m00001"},
		testEvent{Kind: "nonsense", ID: "x"}, // unreadable: dropped
	)
	if n, err := e.ApplyQueued(ctx); err != nil || n != 6 {
		t.Fatalf("applied %d: %v", n, err)
	}
	for id, want := range map[string][2]string{"m00000": {"second", "active"}, "new1": {"from the platform", "active"}, "m00001": {"member 1", "offline"}} {
		if n, s := name(t, d, id); n != want[0] || s != want[1] {
			t.Errorf("member %s: %q %q, want %v", id, n, s, want)
		}
	}
	if m, _ := d.Member("new1"); fmt.Sprint(m["deptIds"]) != "[1]" || fmt.Sprint(m["mainDeptId"]) != "1" {
		t.Errorf("a fetched member keeps only the departments the org has: %v %v", m["deptIds"], m["mainDeptId"])
	}
	if _, err := d.Member("gone1"); err == nil {
		t.Error("an event for a member the platform does not have made one")
	}
	if strings.Join(src.fetched, ",") != "gone1,new1" {
		t.Errorf("fetched %v, want the two members the org did not know", src.fetched)
	}

	// a member whose events keep failing: set aside, the next event applied
	src.fail = "m00002"
	queue(t, d, testEvent{Kind: "edit", ID: "m00002", Name: "never"}, testEvent{Kind: "edit", ID: "m00000", Name: "third"})
	applied := false
	for try := 0; try < 3*maxAttempts && !applied; try++ {
		_, err := e.ApplyQueued(ctx)
		applied = err == nil
	}
	if !applied {
		t.Fatal("the queue still fails: the failing event was not set aside")
	}
	if n, _ := name(t, d, "m00000"); n != "third" {
		t.Errorf("the event after the failing one: %q", n)
	}
	if n, _ := name(t, d, "m00002"); n != "member 2" {
		t.Errorf("the failing event changed its member: %q", n)
	}
	aside, err := e.SetAsideEvents()
	if err != nil || len(aside) != 1 {
		t.Fatalf("set aside: %v %v", aside, err)
	}
	if a := aside[0].(map[string]any); a["id"] != "m00002" || a["kind"] != "edit" || !strings.Contains(fmt.Sprint(a["error"]), "cannot be applied") {
		t.Errorf("the event set aside: %v", a)
	}
	hist, _ := d.SyncHistory(context.Background(), 10, false, "")
	if !strings.Contains(fmt.Sprint(hist), "set aside") {
		t.Errorf("the history does not say an event was set aside: %v", hist)
	}
	if n, err := e.ApplyQueued(ctx); err != nil || n != 0 {
		t.Errorf("the queue after: %d %v", n, err)
	}
}
