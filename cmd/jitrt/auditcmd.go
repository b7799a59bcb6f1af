package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/org"
)

func newAuditCmd() *cobra.Command {
	var f appFlags
	var member, since string
	var limit int
	var asJSON bool
	c := &cobra.Command{
		Use:   "audit APP [CORP]",
		Short: "List who wrote the app's orgs: every write with its caller, method and result",
		Long: `Audit lists the audit trail of the app's orgs (of CORP only, corps.X or X, when given),
newest first: when, which element and method, who (the API token, a member's session, the
console, a script or jitrt call, a task, the platform's change events), the arguments with
secrets masked, and the result. Each write and its record were one transaction. Failed
calls are listed too, from the memory of the process that took them (a running jitrt run:
it asks it if there is one).`,
		Example: `  jitrt audit apps/demo
  jitrt audit apps/demo DemoCorp --member ZhangWei --since 24h
  jitrt audit apps/demo --since 2026-12-01T00:00:00Z --json`,
		Args: argsRange(1, 2, "APP [CORP]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := org.ParseSince(since, time.Now()); err != nil {
				return usageError{err}
			}
			element := ""
			if len(args) == 2 {
				element = corpElement(args[1])
			}
			raw, _ := json.Marshal(org.AuditArgs{Member: member, Since: since, Limit: limit})
			out := cmd.OutOrStdout()
			res, err := f.orgView(cmd, args[0], element, org.ViewAudit, raw, &out)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(out, res)
			}
			var recs []org.AuditRecord
			if err := json.Unmarshal(res, &recs); err != nil {
				return err
			}
			if len(recs) == 0 {
				fmt.Fprintln(out, "no writes recorded")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WHEN\tELEMENT\tMETHOD\tWHO\tRESULT\tARGUMENTS")
			for _, r := range recs {
				at, _ := time.Parse(time.RFC3339Nano, r.At)
				result := r.Result
				if !r.Stored {
					result += " (not stored)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", at.Local().Format("2006-01-02 15:04:05"), r.Element, r.Method, r.Actor, result, argsLine(r.Args))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&member, "member", "", "only the writes that named this member")
	c.Flags().StringVar(&since, "since", "", "only the writes since then: an RFC 3339 time or a duration back (24h)")
	c.Flags().IntVar(&limit, "limit", 100, "how many to print (at most 1000)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the records as JSON")
	f.register(c, "warn", true)
	return c
}

// argsLine is a record's arguments on one line: key=value, by key.
func argsLine(args map[string]any) string {
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v, _ := json.Marshal(args[k])
		parts[i] = k + "=" + string(v)
	}
	return strings.Join(parts, " ")
}
