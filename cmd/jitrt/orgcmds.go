package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/org"
)

// corpElement is the element a CORP argument names: "corps.X", or "X" for short.
func corpElement(arg string) string {
	if !strings.Contains(arg, ".") {
		return "corps." + arg
	}
	return arg
}

func newOrgCmd() *cobra.Command {
	var f appFlags
	var dept, depth int64
	var asJSON bool
	c := &cobra.Command{
		Use:   "org APP CORP",
		Short: "Print a corp's department tree with member counts",
		Long: `Org prints the local department tree of a corp (after initCorp), from the root or
from --dept, --depth levels down, each department with its id, the distinct active
members in it and below, and those directly in it. CORP is the element, corps.X or X.
It asks the running jitrt run of the app if there is one.`,
		Example: `  jitrt org apps/demo DemoCorp
  jitrt org apps/demo corps.DemoCorp --dept 3 --depth 1
  jitrt org apps/demo DemoCorp --json | jq '.children[].name'`,
		Args: argsExactly(2, "APP CORP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := map[string]any{"depth": depth}
			if dept != 0 {
				q["deptId"] = dept
			}
			raw, _ := json.Marshal(q) // the arguments by name
			out := cmd.OutOrStdout()
			res, err := f.orgView(cmd, args[0], corpElement(args[1]), org.ViewTree, raw, &out)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(out, res)
			}
			var root org.TreeDept
			if err := json.Unmarshal(res, &root); err != nil {
				return err
			}
			printTree(out, root)
			return nil
		},
	}
	c.Flags().Int64Var(&dept, "dept", 0, "the department to start from (default the root)")
	c.Flags().Int64Var(&depth, "depth", 2, "how many levels of sub-departments to print")
	c.Flags().BoolVar(&asJSON, "json", false, "print the tree as JSON (the shape of getDeptTree)")
	f.register(c, "warn", true)
	return c
}

// printTree prints a department tree, one department a line, drawn with ├── and └──.
func printTree(w io.Writer, root org.TreeDept) {
	line := func(prefix string, n org.TreeDept) {
		fmt.Fprintf(w, "%s%s [%d]  %s", prefix, n.Name, n.DeptID, plural(n.Total, "member"))
		if n.Members != n.Total {
			fmt.Fprintf(w, ", %d directly", n.Members)
		}
		if n.SubDepartments > 0 && n.Children == nil {
			fmt.Fprintf(w, ", %s below", plural(n.SubDepartments, "sub-department"))
		}
		fmt.Fprintln(w)
	}
	var walk func(n org.TreeDept, indent string)
	walk = func(n org.TreeDept, indent string) {
		for i, ch := range n.Children {
			branch, next := "├── ", "│   "
			if i == len(n.Children)-1 {
				branch, next = "└── ", "    "
			}
			line(indent+branch, ch)
			walk(ch, indent+next)
		}
	}
	line("", root)
	walk(root, "")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func newMembersCmd() *cobra.Command {
	var f appFlags
	var dept, limit, offset int64
	var status, query string
	var asJSON bool
	c := &cobra.Command{
		Use:   "members APP CORP",
		Short: "List a corp's members: by department, status or a search",
		Long: `Members lists the local members of a corp (after initCorp) in id order, a page at a
time: all of them, those of --dept (active ones, and whether each leads it), those
with --status active or offline, or those whose name or id contains --query. CORP is
the element, corps.X or X. It asks the running jitrt run of the app if there is one.`,
		Example: `  jitrt members apps/demo DemoCorp --dept 3
  jitrt members apps/demo DemoCorp --status offline
  jitrt members apps/demo DemoCorp --query 张 --limit 20 --offset 20`,
		Args: argsExactly(2, "APP CORP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := map[string]any{"limit": limit, "offset": offset}
			if dept != 0 {
				q["deptId"] = dept
			}
			if status != "" {
				q["status"] = status
			}
			if query != "" {
				q["query"] = query
			}
			raw, _ := json.Marshal(q) // the arguments by name
			out := cmd.OutOrStdout()
			res, err := f.orgView(cmd, args[0], corpElement(args[1]), org.ViewMembers, raw, &out)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(out, res)
			}
			var page org.MemberPage
			if err := json.Unmarshal(res, &page); err != nil {
				return err
			}
			// the name comes last: CJK names are two columns wide and would break the alignment
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MEMBER ID\tSTATUS\tMAIN DEPT\tNAME")
			for _, m := range page.Members {
				name := m.Name
				if m.Position != "" {
					name += " · " + m.Position
				}
				if m.Leader != nil && *m.Leader {
					name += " (leader)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", m.MemberID, m.Status, m.MainDeptID, name)
			}
			tw.Flush()
			switch first := int(offset) + 1; {
			case page.Total == 0:
				fmt.Fprintln(out, "no members")
			case len(page.Members) == 0:
				fmt.Fprintf(out, "%s in all; none from %d on\n", plural(page.Total, "member"), first)
			case first+len(page.Members)-1 < page.Total:
				fmt.Fprintf(out, "%d–%d of %d; --offset %d for more\n", first, first+len(page.Members)-1, page.Total, int(offset)+len(page.Members))
			default:
				fmt.Fprintf(out, "%d–%d of %d\n", first, first+len(page.Members)-1, page.Total)
			}
			return nil
		},
	}
	c.Flags().Int64Var(&dept, "dept", 0, "only the active members of this department")
	c.Flags().StringVar(&status, "status", "", "only members with this status: active or offline")
	c.Flags().StringVarP(&query, "query", "q", "", "only members whose name or id contains this (any case)")
	c.Flags().Int64Var(&limit, "limit", 50, "how many to print (at most 1000)")
	c.Flags().Int64Var(&offset, "offset", 0, "how many to skip")
	c.Flags().BoolVar(&asJSON, "json", false, "print the page as JSON (the shape of listMembers)")
	f.register(c, "warn", true)
	return c
}

// printJSON prints a JSON answer indented, with <, > and & as they are.
func printJSON(w io.Writer, res json.RawMessage) error {
	var v any
	if err := json.Unmarshal(res, &v); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
