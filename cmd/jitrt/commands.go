package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/control"
	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/runtime"
)

func newCheckCmd() *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "check APP",
		Short: "Check an app: print every problem as path:line:col: message",
		Long: `Check loads and validates every element of the app without running anything and
prints each problem as path:line:col: message, one per line, then each warning as
path:line:col: warning: message (a secret written in a config). It exits 1 if there
is any problem and 0 if there is none; warnings do not change the exit code.`,
		Args: argsExactly(1, "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := f.load(cmd, args[0], runtime.StateNone)
			if err != nil {
				return err
			}
			defer app.Close()
			ps := app.Problems()
			for _, p := range append(ps, app.Warnings()...) {
				fmt.Fprintln(cmd.OutOrStdout(), app.Redactor().String(p.String()))
			}
			if len(ps) > 0 {
				return exitError{exitFailure}
			}
			return nil
		},
	}
	f.register(c, "warn", false)
	return c
}

func newExecCmd() *cobra.Command {
	var f appFlags
	var code string
	c := &cobra.Command{
		Use:   "exec APP (FILE.js | -e CODE)",
		Short: "Run a script against the app and print its completion value as JSON",
		Long: `Exec loads the app and runs one script: a file, or code given with -e. console.log
goes to stdout; the script's completion value, unless undefined, is printed last
on stdout as JSON. On error the message goes to stderr and the exit code is 1.`,
		Example: `  jitrt exec apps/demo -e 'app.getElement("corps.DemoCorp").title'
  jitrt exec apps/demo apps/demo/scripts/main.js --timeout 10s`,
		Args: argsRange(1, 2, "APP and FILE.js, or APP and -e CODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			hasCode := cmd.Flags().Changed("eval")
			if hasCode == (len(args) == 2) {
				return usageError{fmt.Errorf("give either a script FILE.js or -e CODE, not both or neither")}
			}
			name := "<eval>"
			if !hasCode {
				file := scriptPath(args[1], args[0])
				b, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("read script: %w", err)
				}
				code, name = string(b), scriptName(file, args[0])
			}
			out := cmd.OutOrStdout()
			res, err := f.runOrSend(cmd, args[0], work{
				local: func(app *runtime.App) (json.RawMessage, error) {
					out = app.Redactor().Writer(out)
					ctx := elements.WithActor(withProgress(cmd.Context(), cmd.ErrOrStderr()), elements.Actor{Kind: "script", ID: name, Via: "jitrt exec"})
					r, err := app.Host().Run(ctx, runtime.Script{Name: name, Code: code, Stdout: out})
					if err != nil {
						return nil, err
					}
					return r.JSON, nil
				},
				remote: control.Request{Op: "exec", Name: name, Code: code},
			})
			if err != nil {
				return err
			}
			if res != nil {
				fmt.Fprintln(out, string(res))
			}
			return nil
		},
	}
	f.register(c, "warn", true)
	c.Flags().StringVarP(&code, "eval", "e", "", "JavaScript code to run instead of a file")
	return c
}

// scriptPath finds a script given relative to the current folder or to the app.
func scriptPath(p, appDir string) string {
	if _, err := os.Stat(p); err == nil || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(appDir, p)
}

// scriptName is how a script is named in errors: app-relative when it is in the app.
func scriptName(file, appDir string) string {
	abs, err1 := filepath.Abs(file)
	app, err2 := filepath.Abs(appDir)
	if err1 == nil && err2 == nil {
		if rel, err := filepath.Rel(app, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.ToSlash(file)
}

func newLsCmd() *cobra.Command {
	var f appFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "ls APP",
		Short: "List the app's elements with their type, title and status",
		Long: `Ls lists the app's elements with their type, title, generation and status (with the
error of an element that failed to load, and a task's next and last runs). It reads the
state file without writing it, so it is safe while jitrt run serves the app.`,
		Args: argsExactly(1, "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := f.load(cmd, args[0], runtime.StateReadOnly)
			if err != nil {
				return err
			}
			defer app.Close()
			var list []runtime.Status
			for _, e := range app.Entries() {
				list = append(list, e.Status())
			}
			out := app.Redactor().Writer(cmd.OutOrStdout())
			if asJSON {
				if list == nil {
					list = []runtime.Status{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FULLNAME\tTYPE\tTITLE\tGEN\tSTATUS")
			for _, s := range list {
				status := s.Status
				if next, ok := s.Detail["nextTime"]; ok {
					if next == nil {
						next = "none"
					}
					status += fmt.Sprintf(" (next run %v%s)", next, lastRun(s.Detail))
				}
				if s.Error != "" {
					status += ": " + strings.ReplaceAll(s.Error, "\n", "; ")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.FullName, s.Type, s.Title, s.Generation, status)
			}
			return tw.Flush()
		},
	}
	f.register(c, "warn", false)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// lastRun describes a task's last run for the ls table ("" if it has not run).
func lastRun(detail map[string]any) string {
	runs, _ := detail["lastRuns"].([]any)
	if len(runs) == 0 {
		return ""
	}
	r, _ := runs[0].(map[string]any)
	outcome := "ok"
	if r["ok"] != true {
		outcome = fmt.Sprintf("failed: %v", r["error"])
	}
	return fmt.Sprintf("; last run %v %s", r["finishedAt"], outcome)
}

// call calls one method of an element with args, JSON of an array or an object of the
// arguments (or nil): through the running jitrt run of the app if there is one, else in
// this process (and then *out becomes a writer that masks the app's secrets).
func (f *appFlags) call(cmd *cobra.Command, appDir, element, method string, args json.RawMessage, out *io.Writer) (json.RawMessage, error) {
	return f.runOrSend(cmd, appDir, work{
		local: func(app *runtime.App) (json.RawMessage, error) {
			*out = app.Redactor().Writer(*out)
			var callArgs any
			if args != nil {
				if err := json.Unmarshal(args, &callArgs); err != nil {
					return nil, err
				}
			}
			ctx, cancel := context.WithTimeout(elements.WithActor(withProgress(cmd.Context(), cmd.ErrOrStderr()), elements.Actor{Kind: "call", Via: "jitrt call"}), app.Timeout())
			defer cancel()
			v, err := app.CallJSON(ctx, element, method, callArgs)
			if err != nil {
				return nil, err
			}
			return json.Marshal(v)
		},
		remote: control.Request{Op: "call", Element: element, Method: method, Args: args},
	})
}

// orgView asks for a view of an org (org.Query): of the running jitrt run of the app if
// there is one, else of the app loaded here.
func (f *appFlags) orgView(cmd *cobra.Command, appDir, element, view string, args json.RawMessage, out *io.Writer) (json.RawMessage, error) {
	return f.runOrSend(cmd, appDir, work{
		local: func(app *runtime.App) (json.RawMessage, error) {
			*out = app.Redactor().Writer(*out)
			v, err := org.Query(app, element, view, args)
			if err != nil {
				return nil, err
			}
			return json.Marshal(v)
		},
		remote: control.Request{Op: "org", Element: element, View: view, Args: args},
	})
}

func newCallCmd() *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "call APP ELEMENT METHOD [JSON-ARGS]",
		Short: "Call one method of an element and print the result as JSON",
		Long: `Call runs one method of an element. JSON-ARGS is the arguments as JSON:

  an array   the arguments in order:     '["u1", ["admin"]]'
  an object  the arguments by name:      '{"memberId": "u1", "roleIdList": ["admin"]}'
  any other  the one argument:           '"u1"'  (a string, number, true/false or null)

A list as the first argument goes inside the array: setAdmin '[["u1", "u2"]]', or by
name: '{"memberIdList": ["u1", "u2"]}'. A property (title, fullName, a Type's own) is read
when METHOD names one and no JSON-ARGS are given.`,
		Example: `  jitrt call apps/demo corps.DemoCorp getCorpInfo
  jitrt call apps/demo corps.DemoCorp title
  jitrt call apps/demo corps.DemoCorp getMember '"ZhangWei"'
  jitrt call apps/demo corps.DemoCorp setAdmin '[["ZhangWei"]]'
  jitrt call apps/demo corps.DemoCorp setUserRole '{"memberId":"u1","roleIdList":["admin"]}'`,
		Args: argsRange(3, 4, "APP ELEMENT METHOD [JSON-ARGS]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if len(args) == 4 {
				raw = json.RawMessage(args[3])
				var callArgs any
				if err := json.Unmarshal(raw, &callArgs); err != nil {
					return usageError{fmt.Errorf("JSON-ARGS is not valid JSON (%v): give an array of the arguments, an object of them by name, or the one argument, such as '\"u1\"'", err)}
				}
				switch callArgs.(type) {
				case []any, map[string]any:
				default: // a single value is the one argument
					raw = json.RawMessage("[" + args[3] + "]")
				}
			}
			out := cmd.OutOrStdout()
			res, err := f.call(cmd, args[0], args[1], args[2], raw, &out)
			if err != nil {
				return err
			}
			return printJSON(out, res)
		},
	}
	f.register(c, "warn", true)
	return c
}
