package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/runtime/loader"
)

func newMigrateCmd() *cobra.Command {
	var f appFlags
	var to, from, schema string
	var force bool
	c := &cobra.Command{
		Use:   "migrate APP (--to postgres://… | --from postgres://…)",
		Short: "Copy an app's state between its state file and PostgreSQL",
		Long: `Migrate copies every record of an app's state from its state file (in the data folder)
into a PostgreSQL schema (--to), or back (--from), in one transaction, then checks that
both hold the same: the same count and the same canonical dump (every key and value,
in key order, hashed). It owns both sides while it copies (stop jitrt run first). The
destination must be empty unless --force, which makes it an exact copy. The schema is
--schema, else app.json's "storeSchema", else jitrt_<app name>. After --to, the state
file is marked as moved: jitrt exec, call and run refuse it without --store (and say which
database holds the state); --from takes the mark off.`,
		Example: `  jitrt migrate apps/demo --to env:DATABASE_URL
  jitrt migrate apps/demo --from env:DATABASE_URL --force`,
		Args: argsExactly(1, "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (to == "") == (from == "") {
				return usageError{errors.New("give --to postgres://… (file to database) or --from postgres://… (database to file)")}
			}
			flag := "to"
			if from != "" {
				flag = "from"
			}
			url, err := databaseURL(flag, to+from, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if !kv.IsDatabaseURL(url) {
				return usageError{fmt.Errorf("%s is not a PostgreSQL URL (postgres://user:password@host/db)", kv.RedactURL(url))}
			}
			cfg, _ := loader.ReadAppConfig(args[0])
			if schema == "" {
				schema = cfg.StoreSchema
			}
			if schema == "" {
				schema = runtime.SchemaOf(cfg.Name)
			}
			ctx := cmd.Context()
			opts := kv.Options{Command: "jitrt migrate", LockTimeout: f.lockTimeout}
			file, err := kv.Open(ctx, f.dataDir(args[0]), opts)
			if err != nil {
				return err
			}
			defer file.Close()
			db, err := kv.OpenPostgres(ctx, url, schema, opts)
			if err != nil {
				return err
			}
			defer db.Close()
			src, dst := file, db
			if from != "" {
				src, dst = db, file
			}
			records, err := copyStore(src, dst, force)
			if err != nil {
				return err
			}
			a, an, err := canonical(src)
			if err != nil {
				return err
			}
			b, bn, err := canonical(dst)
			if err != nil {
				return err
			}
			if a != b || an != bn {
				return fmt.Errorf("after the copy %s holds %d records (%s) and %s %d (%s): they differ", src.Path(), an, a[:12], dst.Path(), bn, b[:12])
			}
			// the state file says where its state went, so that a jitrt that opens it without
			// --store is refused instead of serving what the database has moved past
			if to != "" {
				err = file.MarkMoved(url, schema)
			} else {
				err = file.ClearMoved()
			}
			if err != nil {
				return fmt.Errorf("mark the state file %s: %w", file.Path(), err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied %d records from %s to %s; both hold %d records, canonical dump sha256:%s\n",
				records, src.Path(), dst.Path(), an, a)
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "copy the state file into this PostgreSQL database")
	c.Flags().StringVar(&from, "from", "", "copy this PostgreSQL database into the state file")
	c.Flags().StringVar(&schema, "schema", "", "the app's schema in the database (default: app.json storeSchema, else jitrt_<name>)")
	c.Flags().BoolVar(&force, "force", false, "replace what the destination holds")
	c.Flags().StringVar(&f.data, "data", "", "folder of the state file (default APP/.jitrt)")
	c.Flags().DurationVar(&f.lockTimeout, "lock-timeout", kv.DefaultLockTimeout, "how long to wait for another process that owns the state")
	return c
}

// copyStore makes dst hold what src holds, in one transaction; a dst that holds records is
// refused unless force.
func copyStore(src, dst *kv.Store, force bool) (int, error) {
	var changes []kv.Change
	if err := src.View(func(tx *kv.Tx) error {
		return tx.Scan("", func(k, v string) bool {
			if !strings.HasPrefix(k, "kv:") {
				changes = append(changes, kv.Change{Key: k, Value: v})
			}
			return true
		})
	}); err != nil {
		return 0, err
	}
	copied := len(changes)
	var existing []string
	dst.View(func(tx *kv.Tx) error {
		return tx.Scan("", func(k, _ string) bool {
			if !strings.HasPrefix(k, "kv:") {
				existing = append(existing, k)
			}
			return true
		})
	})
	if len(existing) > 0 && !force {
		return 0, fmt.Errorf("%s already holds %d records: --force replaces them with the %d of %s", dst.Path(), len(existing), copied, src.Path())
	}
	have := make(map[string]bool, len(changes))
	for _, c := range changes {
		have[c.Key] = true
	}
	for _, k := range existing {
		if !have[k] {
			changes = append(changes, kv.Change{Key: k, Delete: true})
		}
	}
	return copied, dst.Apply(changes, nil)
}

// canonical is the sha256 of a store's records in key order (key, NUL, value, newline)
// and how many there are.
func canonical(s *kv.Store) (string, int, error) {
	h := sha256.New()
	n := 0
	err := s.View(func(tx *kv.Tx) error {
		return tx.Scan("", func(k, v string) bool {
			if strings.HasPrefix(k, "kv:") {
				return true
			}
			h.Write([]byte(k))
			h.Write([]byte{0})
			h.Write([]byte(v))
			h.Write([]byte{'\n'})
			n++
			return true
		})
	})
	return hex.EncodeToString(h.Sum(nil)), n, err
}
