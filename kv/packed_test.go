package kv

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jitrt/jitrt/internal/pgtest"
	"github.com/jitrt/jitrt/internal/testwait"
)

// largeWrite sets n values of 8 to 12 KB under prefix (from 120, over copyMin: by COPY, as
// a sync's chunks are), and returns them.
func largeWrite(t *testing.T, s *Store, prefix string, n int) map[string]string {
	t.Helper()
	want := map[string]string{}
	if err := s.Update(func(tx *Tx) error {
		for i := range n {
			var names strings.Builder
			for j := range 600 + i {
				fmt.Fprintf(&names, "张%d伟%d,", (i*j)%997, j)
			}
			k, v := fmt.Sprintf("%s:%03d", prefix, i), fmt.Sprintf(`{"n":%d,"names":%q}`, i, names.String())
			tx.Set(k, v)
			want[k] = v
		}
		tx.Set(prefix+":small", "tiny") // below packMin: text
		want[prefix+":small"] = "tiny"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return want
}

// rowsOf counts the rows of prefix in kv: packed (value NULL), and as text.
func rowsOf(t *testing.T, conn *pgx.Conn, schema, prefix string) (packed, text int) {
	t.Helper()
	if err := conn.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*) FILTER (WHERE packed IS NOT NULL AND value IS NULL),
		count(*) FILTER (WHERE packed IS NULL AND value IS NOT NULL) FROM %s.kv WHERE key LIKE $1 AND NOT deleted`, schema), prefix+":%").Scan(&packed, &text); err != nil {
		t.Fatal(err)
	}
	return packed, text
}

// A large write's values are packed by the writer, and read back as they were written by
// every way a process reads the schema: its own memory, another replica catching up, a
// process opening it, a read-only open. A packed value written again by a small write is
// text again; one deleted leaves a tombstone.
func TestALargeWriteIsPackedAndReadEverywhere(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	a, b := twoReplicas(t, url, "packed")
	want := largeWrite(t, a, "m", 200)
	conn := pgtest.Connect(t, url)
	if packed, text := rowsOf(t, conn, "packed", "m"); packed != 200 || text != 1 {
		t.Fatalf("%d rows packed, %d as text; want 200 and 1", packed, text)
	}
	if err := b.CatchUp(); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Store{"the writer": a, "a replica caught up": b} {
		if got := contentsOf(t, s); !maps.Equal(got, want) {
			t.Fatalf("%s: %d keys, want %d", name, len(got), len(want))
		}
	}
	c := replicas(t, url, "packed", Options{}, "jitrt exec")[0]
	if got := contentsOf(t, c); !maps.Equal(got, want) {
		t.Fatalf("opened: %d keys, want %d", len(got), len(want))
	}
	ro, err := OpenPostgresReadOnly(ctx, url, "packed")
	if err != nil {
		t.Fatal(err)
	}
	if got := contentsOf(t, ro); !maps.Equal(got, want) {
		t.Fatalf("read only: %d keys, want %d", len(got), len(want))
	}
	ro.Close()

	// written again by the arrays, deleted: text, a tombstone
	a.Apply([]Change{{Key: "m:000", Value: "small now"}, {Key: "m:001", Delete: true}}, nil)
	want["m:000"] = "small now"
	delete(want, "m:001")
	if packed, text := rowsOf(t, conn, "packed", "m"); packed != 198 || text != 2 {
		t.Fatalf("after a small write and a delete: %d rows packed, %d as text; want 198 and 2", packed, text)
	}
	if err := b.CatchUp(); err != nil {
		t.Fatal(err)
	}
	if got := contentsOf(t, b); !maps.Equal(got, want) {
		t.Fatalf("caught up after a small write: %d keys, want %d (m:000 %q)", len(got), len(want), got["m:000"])
	}
}

// A replica that does not read packed values (an older jitrt still running: its row in the
// replicas table says nothing of packing) keeps every writer from packing while it lives;
// once its session is gone, large writes are packed again.
func TestAnOlderReplicaKeepsLargeWritesUnpacked(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	a := replicas(t, url, "older", Options{}, "jitrt run")[0]
	older, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := older.Exec(ctx, `INSERT INTO older.replicas (backend, pid, command, host, since) VALUES (pg_backend_pid(), 1, 'jitrt run (older)', 'h', now())`); err != nil {
		t.Fatal(err)
	}
	want := largeWrite(t, a, "u", 300)
	conn := pgtest.Connect(t, url)
	if packed, text := rowsOf(t, conn, "older", "u"); packed != 0 || text != 301 {
		t.Fatalf("beside an older replica: %d rows packed, %d as text; want 0 and 301", packed, text)
	}
	older.Close(ctx)
	testwait.For(t, "the older replica's session to end", func() bool {
		var alive bool
		conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM older.replicas r JOIN pg_stat_activity a ON a.pid = r.backend WHERE r.command LIKE '%older%')`).Scan(&alive)
		return !alive
	})
	maps.Copy(want, largeWrite(t, a, "p", 300))
	if packed, text := rowsOf(t, conn, "older", "p"); packed != 300 || text != 1 {
		t.Fatalf("once the older replica is gone: %d rows packed, %d as text; want 300 and 1", packed, text)
	}
	b := replicas(t, url, "older", Options{}, "jitrt exec")[0]
	if got := contentsOf(t, b); !maps.Equal(got, want) {
		t.Fatalf("opened: %d keys, want %d", len(got), len(want))
	}
}

// A packed value that does not decode is refused as the schema is read, its key named.
func TestADamagedPackedValueIsRefusedByKey(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	a := replicas(t, url, "damaged", Options{}, "jitrt run")[0]
	largeWrite(t, a, "d", 300)
	conn := pgtest.Connect(t, url)
	// the block's last bytes cut off
	if _, err := conn.Exec(ctx, `UPDATE damaged.kv SET packed = substr(packed, 1, length(packed) - 3) WHERE key = 'd:077'`); err != nil {
		t.Fatal(err)
	}
	_, err := OpenPostgres(ctx, url, "damaged", Options{Command: "jitrt exec", Shared: true})
	if err == nil || !strings.Contains(err.Error(), `"d:077"`) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("opening a damaged value: %v", err)
	}
}

// A schema from before packed values (no packed column) is read by a read-only open as it
// was (jitrt ls beside an older jitrt run that has not migrated it).
func TestAReadOnlyOpenReadsASchemaFromBeforePacking(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	conn := pgtest.Connect(t, url)
	for _, sql := range []string{`CREATE SCHEMA before`, `CREATE TABLE before.kv (key text PRIMARY KEY, value text NOT NULL, seq bigint NOT NULL DEFAULT 0, deleted boolean NOT NULL DEFAULT false)`,
		`INSERT INTO before.kv (key, value) VALUES ('a', '1'), ('b', '二')`} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	ro, err := OpenPostgresReadOnly(ctx, url, "before")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got := contentsOf(t, ro); !maps.Equal(got, map[string]string{"a": "1", "b": "二"}) {
		t.Fatalf("read only: %v", got)
	}
}
