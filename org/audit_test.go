package org

import (
	"context"
	"testing"
	"time"

	"github.com/jitrt/jitrt/elements"
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
