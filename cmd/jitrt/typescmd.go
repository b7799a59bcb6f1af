package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/internal/tsdecl"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/runtime/loader"
)

// jsconfig is the jsconfig.json jitrt types writes when the app has none: editors (and
// tsc -p) check the app's scripts against jitrt.d.ts. Each script is a module of its own
// (moduleDetection), as jitrt runs it. TypeScript 5.9 and 7 both accept it: "bundler"
// resolution (7 removed "node", i.e. node10) with "preserve" modules, and strict off as
// both say it, since 7 turns strict on by default and plain JavaScript is not annotated
// for it; a misspelt method or element is still an error.
const jsconfig = `{
  "compilerOptions": {
    "checkJs": true,
    "noEmit": true,
    "strict": false,
    "target": "ES2020",
    "lib": ["ES2020"],
    "module": "preserve",
    "moduleResolution": "bundler",
    "moduleDetection": "force",
    "types": []
  },
  "include": ["jitrt.d.ts", "**/*.js"],
  "exclude": [".jitrt", "node_modules"]
}
`

func newTypesCmd() *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "types APP",
		Short: "Write jitrt.d.ts: TypeScript declarations of the app's elements for editors",
		Long: `Types loads the app (as jitrt check does: nothing starts, nothing is written to its
state) and writes APP/jitrt.d.ts: app.getElement("corps.X") typed per element of this
app, each method with its parameters (in order, or by name in one object) and what it
returns where its Type says, and the properties; methods an app Type element adds are
there too. It also writes APP/jsconfig.json if the app has none, so that VS Code (and
tsc -p APP/jsconfig.json) checks the scripts against them. Run it again after adding
elements or changing Types.`,
		Example: `  jitrt types apps/demo
  npx -p typescript tsc -p apps/demo/jsconfig.json`,
		Args: argsExactly(1, "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options(cmd, runtime.StateNone)
			if err != nil {
				return err
			}
			// types need no secrets: a variable that is not set stands for a placeholder
			// (nothing starts, nothing is called, no value is written out)
			opts.Getenv = withPlaceholders(os.LookupEnv)
			app, err := runtime.Load(cmd.Context(), args[0], opts)
			if err = damaged(args[0], err); err != nil {
				return err
			}
			defer app.Close()
			var els []tsdecl.Element
			for _, e := range app.Entries() {
				s := e.Status()
				if s.Status == "type" || !s.Serving {
					continue
				}
				els = append(els, tsdecl.Element{FullName: e.FullName, Type: s.Type, Title: s.Title,
					Methods: e.Methods(), Properties: e.Properties()})
			}
			var b bytes.Buffer
			if err := tsdecl.Write(&b, app.Name, els); err != nil {
				return err
			}
			out := filepath.Join(args[0], "jitrt.d.ts")
			if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d elements\n", out, len(els))
			cfg := filepath.Join(args[0], "jsconfig.json")
			if _, err := os.Stat(cfg); errors.Is(err, fs.ErrNotExist) {
				if err := os.WriteFile(cfg, []byte(jsconfig), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", cfg)
			}
			if ps := app.Problems(); len(ps) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d elements with problems are left out (jitrt check %s)\n", len(ps), args[0])
			}
			return nil
		},
	}
	f.register(c, "warn", false)
	return c
}

// withPlaceholders is getenv with every variable that is not set standing in the example
// of the key it is written in (loader.StandIn): types need no secrets.
func withPlaceholders(getenv func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v, ok := getenv(name); ok && v != "" {
			return v, true
		}
		return loader.StandIn, true
	}
}
