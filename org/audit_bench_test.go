package org_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/org"
)

// BenchmarkAuditedWrite is the cost of an org's write with its audit record, beside the
// same write without one, on the state file (each a durable transaction): the record must
// stay within 10 % of the write (issue 26). Compare write/record in ns/op.
func BenchmarkAuditedWrite(b *testing.B) {
	store, err := kv.Open(context.Background(), b.TempDir(), kv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	o := org.New(org.Config{Store: store, Name: "corps.Bench", CorpID: "wwbench"})
	ctx := org.WithAuditCall(elements.WithActor(context.Background(), elements.Actor{Kind: "token"}), "saveUserSignature")
	value := `{"memberId":"u1","signature":"https://sig.example/` + strings.Repeat("s", 60) + `.png","updatedAt":"2026-12-06T00:00:00Z"}`
	key := func(i int) string { return o.Keys().Sig("u" + strconv.Itoa(i%100)) }
	b.Run("write", func(b *testing.B) {
		for i := range b.N {
			unlock, err := o.Lock(ctx)
			if err != nil {
				b.Fatal(err)
			}
			err = store.Update(func(tx *kv.Tx) error { return tx.Set(key(i), value) })
			unlock()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write+record", func(b *testing.B) {
		for i := range b.N {
			if err := o.Update(ctx, func(w *org.Writer) error { return w.Tx().Set(key(i), value) }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
