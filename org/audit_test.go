package org

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/kv"
)

// Records older than the org's retention go with a later write; the newer ones stay.
// Arguments named like secrets are masked, inside objects too, and the members a call
// names are kept for the filter.
func TestAuditRecordsAreMaskedAndPruned(t *testing.T) {
	store, err := kv.Open(context.Background(), t.TempDir(), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const keep = 200 * time.Millisecond
	o := New(Config{Store: store, Name: "corps.A", CorpID: "wwa", AuditRetention: keep})
	write := func(method string, args elements.Args) {
		t.Helper()
		c := &auditCall{method: method}
		c.args, c.members = maskArgs(args)
		ctx := context.WithValue(elements.WithActor(context.Background(), elements.Actor{Kind: "token"}), auditCallKey{}, c)
		if err := o.update(ctx, func(tx *kv.Tx) error { return tx.Set(o.keys.Sig("m1"), method) }); err != nil {
			t.Fatal(err)
		}
	}
	write("setMemberPassword", elements.Args{"memberId": "m1", "password": "hunter2-secret",
		"member": map[string]any{"name": "甲", "password": "another-secret", "apiKey": "k"}})
	recs, err := o.AuditLog(AuditQuery{Member: "m1"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("the record: %v %v", recs, err)
	}
	a := recs[0].Args
	if a["password"] != "******" || a["member"].(map[string]any)["password"] != "******" || a["member"].(map[string]any)["apiKey"] != "******" || a["memberId"] != "m1" {
		t.Fatalf("the arguments as recorded: %v", a)
	}
	time.Sleep(2 * keep) // the first record is past the retention now
	write("saveUserSignature", elements.Args{"memberId": "m1", "signature": "https://x.example/s.png"})
	recs, _ = o.AuditLog(AuditQuery{})
	if len(recs) != 1 || recs[0].Method != "saveUserSignature" {
		t.Fatalf("after the retention: %+v", recs)
	}
}

// Records past the retention go in the background, with no write of the org to carry them:
// at start, many in batches, then again at each interval; the ones within it stay, and
// a pass with nothing past it writes nothing.
func TestAuditRecordsArePrunedInTheBackground(t *testing.T) {
	store, err := kv.Open(context.Background(), t.TempDir(), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	o := New(Config{Store: store, Name: "corps.A", CorpID: "wwa", AuditRetention: time.Hour})
	plant := func(n int, age time.Duration) {
		t.Helper()
		var changes []kv.Change
		for i := range n {
			at := time.Now().Add(-age)
			changes = append(changes, kv.Change{Key: o.keys.Audit(at, fmt.Sprintf("%08x", i)),
				Value: MustJSON(AuditRecord{Method: "setAdmin", At: at.UTC().Format(time.RFC3339Nano), Stored: true})})
		}
		if err := store.Apply(changes, nil); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		store.View(func(tx *kv.Tx) error {
			return tx.Scan(o.keys.Audits(), func(string, string) bool { n++; return true })
		})
		return n
	}
	plant(3*auditPruneBatch+5, 2*time.Hour)
	plant(2, time.Minute)
	life, end := context.WithCancel(context.Background())
	defer end()
	o.KeepAuditPruned(life, 20*time.Millisecond)
	testwait.For(t, "the records past the retention to be pruned at start", func() bool { return count() == 2 })
	plant(3, 3*time.Hour)
	testwait.For(t, "the next pass to prune the newly old records", func() bool { return count() == 2 })
	end()

	commits := store.Commits()
	if n, err := o.PruneAudit(context.Background()); n != 0 || err != nil || store.Commits() != commits {
		t.Fatalf("a pass with nothing past the retention: %d %v, %d commits", n, err, store.Commits()-commits)
	}
}
