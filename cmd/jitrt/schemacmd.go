package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/runtime/loader"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema OUT_DIR",
		Short: "Write the JSON Schemas of app.json, e.json and each Type's config",
		Long: `Schema writes JSON Schemas (draft 2020-12) into OUT_DIR: app.schema.json for
app.json, e.schema.json for every e.json, and <TypeID>.schema.json for the config
file of each registered Type that reads one. Editors use them to complete and check
the files as they are typed; jitrt check remains the full check (what a schema cannot
say: URLs, methods that exist, secrets in the environment).

Point VS Code at them in .vscode/settings.json:

  "json.schemas": [
    {"fileMatch": ["app.json"], "url": "./schemas/app.schema.json"},
    {"fileMatch": ["**/e.json"], "url": "./schemas/e.schema.json"},
    {"fileMatch": ["corps/*/*.json", "!**/e.json"], "url": "./schemas/corps.QywxInnerType.schema.json"}
  ]

or name the schema in the file itself: {"$schema": "../../schemas/e.schema.json", …}.`,
		Example: `  jitrt schema apps/demo/schemas`,
		Args:    argsExactly(1, "OUT_DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			schemas := loader.JSONSchemas()
			for _, name := range slices.Sorted(maps.Keys(schemas)) {
				b, err := json.MarshalIndent(schemas[name], "", "  ")
				if err != nil {
					return err
				}
				path := filepath.Join(args[0], name)
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), path)
			}
			return nil
		},
	}
}
