package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/internal/bytesize"
	"github.com/jitrt/jitrt/kv"
)

// damaged adds to a refused state file what the user can do about it.
func damaged(dir string, err error) error {
	if errors.Is(err, kv.ErrCorrupt) {
		return fmt.Errorf("%w\n  jitrt repair %s     salvages every intact transaction (the damaged file is kept in backups/)\n  jitrt restore %s    lists the backups to go back to", err, dir, dir)
	}
	return err
}

func newRepairCmd() *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "repair APP",
		Short: "Salvage a damaged state file: keep every intact transaction, say what was dropped",
		Long: `Repair checks the app's state file. A sound file is left as it is. A damaged one is
salvaged: every transaction whose checksums hold is kept, in order; every stretch that
does not check out is dropped and listed with its byte offsets. The damaged file is kept
in the data folder's backups/, and the salvaged state written in its place.

Repair needs the state to itself: stop jitrt run first.`,
		Args: argsExactly(1, "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := kv.Repair(cmd.Context(), f.dataDir(args[0]), kv.Options{Command: "jitrt repair " + args[0], LockTimeout: f.lockTimeout})
			var locked *kv.LockedError
			if errors.As(err, &locked) {
				return inUse(args[0], locked)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if rep.Sound {
				fmt.Fprintf(out, "the state of %s is sound (%d transactions): nothing to repair\n", args[0], rep.Kept)
				return nil
			}
			for _, d := range rep.Dropped {
				fmt.Fprintf(out, "dropped bytes %d to %d: %s\n", d.From, d.To, d.Reason)
			}
			fmt.Fprintf(out, "kept %d transactions (%d keys); lost %d; the damaged file is kept as %s\n", rep.Kept, rep.Keys, rep.Lost, rep.Backup)
			return nil
		},
	}
	c.Flags().StringVar(&f.data, "data", "", "folder of the state file (default APP/.jitrt)")
	c.Flags().DurationVar(&f.lockTimeout, "lock-timeout", kv.DefaultLockTimeout, "how long to wait for another process that owns the app's state")
	return c
}

func newRestoreCmd() *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "restore APP [BACKUP]",
		Short: "List the kept state files, or go back to one",
		Long: `Without BACKUP, restore lists the state files kept in the data folder's backups/
(before each of the last compactions, before a repair, before a restore), newest first.
With BACKUP (a name from that list), it checks that file and makes it the app's state;
the current state file is kept in backups/ first.

Restore needs the state to itself: stop jitrt run first.`,
		Args: argsRange(1, 2, "APP [BACKUP]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := f.dataDir(args[0])
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				list, err := kv.Backups(dir)
				if err != nil {
					return err
				}
				if len(list) == 0 {
					fmt.Fprintf(out, "no backups of %s yet (one is kept at each compaction)\n", args[0])
					return nil
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "BACKUP\tKEPT\tWHY\tSIZE")
				for _, b := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Name, b.Time.Local().Format(time.DateTime), b.Why, bytesize.Human(b.Size))
				}
				return tw.Flush()
			}
			current, err := kv.Restore(cmd.Context(), dir, args[1], kv.Options{Command: "jitrt restore " + args[0], LockTimeout: f.lockTimeout})
			var locked *kv.LockedError
			if errors.As(err, &locked) {
				return inUse(args[0], locked)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "restored %s", args[1])
			if current != "" {
				fmt.Fprintf(out, "; the state before is kept as %s", current)
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	c.Flags().StringVar(&f.data, "data", "", "folder of the state file (default APP/.jitrt)")
	c.Flags().DurationVar(&f.lockTimeout, "lock-timeout", kv.DefaultLockTimeout, "how long to wait for another process that owns the app's state")
	return c
}
