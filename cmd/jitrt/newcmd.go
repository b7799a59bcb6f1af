package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/runtime/loader"
)

var fullNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$`)

func newNewCmd() *cobra.Command {
	var typeID, extends string
	c := &cobra.Command{
		Use:   "new APP FULLNAME (--type TYPE | --extends TYPE)",
		Short: "Create an element, or a Type element, with every key it needs",
		Long: `New creates the folder of an element in APP (and APP/app.json if there is none):

  --type TYPE      an instance: e.json with its title and type, the config with every
                   required key (secrets as ${VAR} placeholders named after the element,
                   the other keys with example values to replace), the optional keys
                   listed under "$optional" with what each does, and any file the Type
                   starts with (a task's inner.js)
  --extends TYPE   a Type element: e.json with its Meta, extend and callable, and an
                   index.js that lists the methods it may override, with their parameters

TYPE is a registered Type or one of the app's Type elements. New never overwrites: if the
folder exists it changes nothing and says so. What it writes passes jitrt check once the
secrets it names are in the environment.`,
		Example: `  jitrt new apps/my corps.MyQywxCorp --type corps.QywxInnerType
  jitrt new apps/my corps.AuditedCorp --extends corps.QywxInnerType
  jitrt new apps/my corps.Branch --type corps.AuditedCorp
  jitrt new apps/my tasks.Nightly --type tasks.NormalType`,
		Args: argsExactly(2, "APP FULLNAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (typeID == "") == (extends == "") {
				return usageError{errors.New("give --type TYPE (an element) or --extends TYPE (a Type element)")}
			}
			appDir, fullName := args[0], args[1]
			if !fullNamePattern.MatchString(fullName) {
				return usageError{fmt.Errorf("FULLNAME %q must be dotted names such as corps.MyQywxCorp (the folder corps/MyQywxCorp)", fullName)}
			}
			id := typeID + extends
			if typeID != "" && elements.IsMeta(typeID) {
				return usageError{fmt.Errorf("%s is a Meta: an element's type is a Type such as corps.QywxInnerType; to make a Type element, use --extends with the Type it builds on", typeID)}
			}
			base, meta, appType, err := loader.ResolveType(appDir, id)
			if err != nil {
				return fmt.Errorf("type %s: %w", id, err)
			}
			name := fullName[strings.LastIndexByte(fullName, '.')+1:]
			rel := strings.ReplaceAll(fullName, ".", "/")
			var files []newFile
			var secrets []string
			if typeID != "" {
				files, secrets = instanceFiles(rel, name, fullName, typeID, base)
			} else {
				files = typeElementFiles(rel, name, fullName, extends, meta, base, appType)
			}
			if _, err := os.Stat(filepath.Join(appDir, "app.json")); errors.Is(err, fs.ErrNotExist) {
				abs, _ := filepath.Abs(appDir)
				app := filepath.Base(abs)
				files = append([]newFile{{"app.json", jsonObject([]jsonKey{{"name", app}, {"title", app}})}}, files...)
			}
			if err := writeNew(appDir, rel, files); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, f := range files {
				fmt.Fprintf(out, "created %s\n", filepath.Join(appDir, f.rel))
			}
			for _, s := range secrets {
				fmt.Fprintf(out, "set %s in the environment: the config reads the secret from it\n", s)
			}
			if extends != "" {
				fmt.Fprintf(out, "next: jitrt new %s %s.Instance --type %s\n", appDir, fullName[:strings.LastIndexByte(fullName, '.')], fullName)
			} else {
				fmt.Fprintf(out, "next: jitrt check %s\n", appDir)
			}
			return nil
		},
	}
	c.Flags().StringVar(&typeID, "type", "", "the Type of the new element")
	c.Flags().StringVar(&extends, "extends", "", "the Type the new Type element builds on")
	return c
}

type newFile struct{ rel, content string }

// jsonKey is a key of a JSON object written in order.
type jsonKey struct {
	key string
	val any
}

// jsonObject writes an object with its keys in the order given, indented by two.
func jsonObject(keys []jsonKey) string {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, k := range keys {
		key, _ := json.Marshal(k.key)
		var val bytes.Buffer
		enc := json.NewEncoder(&val)
		enc.SetEscapeHTML(false)
		enc.SetIndent("  ", "  ")
		enc.Encode(k.val)
		fmt.Fprintf(&b, "  %s: %s", key, bytes.TrimSpace(val.Bytes()))
		if i < len(keys)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.String()
}

// requiredAndOptional lists a schema's keys: the required ones with a value that passes
// (a secret as its ${VAR}), and the optional ones by what they do.
func requiredAndOptional(s elements.Schema, element string) (keys []jsonKey, optional map[string]string, secrets []string) {
	optional = map[string]string{}
	for _, f := range s.Fields {
		switch {
		case f.Required && f.Secret:
			env := loader.SecretEnvName(element, f.Name)
			keys = append(keys, jsonKey{f.Name, "${" + env + "}"})
			secrets = append(secrets, env)
		case f.Required:
			v := f.ExampleValue()
			if v == nil {
				v = ""
			}
			keys = append(keys, jsonKey{f.Name, v})
		default:
			optional[f.Name] = f.Doc
		}
	}
	return keys, optional, secrets
}

func instanceFiles(rel, name, fullName, typeID string, base *elements.Type) ([]newFile, []string) {
	def := []jsonKey{{"title", name}, {"type", typeID}}
	defKeys, defOptional, _ := requiredAndOptional(base.DefinitionSchema, name)
	def = append(def, defKeys...)
	if len(defOptional) > 0 {
		def = append(def, jsonKey{"$optional", defOptional})
	}
	files := []newFile{{rel + "/e.json", jsonObject(def)}}
	var secrets []string
	if base.ConfigFile {
		keys, optional, s := requiredAndOptional(base.Schema, name)
		secrets = s
		if len(optional) > 0 {
			keys = append(keys, jsonKey{"$optional", optional})
		}
		files = append(files, newFile{rel + "/" + name + ".json", jsonObject(keys)})
	}
	if base.Scaffold != nil {
		extra := base.Scaffold(name)
		for _, n := range slices.Sorted(maps.Keys(extra)) {
			files = append(files, newFile{rel + "/" + n, extra[n]})
		}
	}
	return files, secrets
}

func typeElementFiles(rel, name, fullName, extends, meta string, base *elements.Type, appType bool) []newFile {
	def := jsonObject([]jsonKey{{"title", name}, {"type", meta}, {"extend", extends}, {"callable", []string{}}})
	return []newFile{{rel + "/e.json", def}, {rel + "/" + loader.OverrideModule, overrideModule(fullName, extends, base, appType)}}
}

// overrideModule is the index.js of a new Type element: what it may override, and how.
func overrideModule(fullName, extends string, base *elements.Type, appType bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "// %s: a Type element that extends %s.\n//\n", fullName, extends)
	b.WriteString(`// Export a function named like one of the methods below to override it: "this" is the
// element (its methods, the most derived first, and its properties) and "this.$super" has
// the methods it overrides. A function with a new name adds a method; list it under
// "callable" in e.json for the HTTP API and tasks to reach it.
//
`)
	methods := baseMethods(base)
	if appType {
		fmt.Fprintf(&b, "// %s adds to these the methods of its own index.js.\n//\n", extends)
	}
	fmt.Fprintf(&b, "// The methods of %s:\n", base.ID)
	width := 0
	sigs := make([]string, len(methods))
	for i, m := range methods {
		var ps []string
		for _, p := range m.Params {
			ps = append(ps, p.Name)
		}
		sigs[i] = m.Name + "(" + strings.Join(ps, ", ") + ")"
		width = max(width, len(sigs[i]))
	}
	for i, m := range methods {
		fmt.Fprintf(&b, "//   %-*s  %s\n", width, sigs[i], m.Doc)
	}
	example := "syncCorp"
	if i := slices.IndexFunc(methods, func(m elements.Method) bool { return m.Name == example }); i < 0 && len(methods) > 0 {
		example = methods[0].Name
	}
	var params []string
	for _, m := range methods {
		if m.Name == example {
			for _, p := range m.Params {
				params = append(params, p.Name)
			}
		}
	}
	args := strings.Join(params, ", ")
	fmt.Fprintf(&b, `//
// For example:
//
// exports.%[1]s = function (%[2]s) {
//   const result = this.$super.%[1]s(%[2]s);
//   console.log("%[1]s of", this.fullName);
//   return result;
// };
`, example, args)
	return b.String()
}

// baseMethods are the methods of a registered Type, from an instance built on an example
// config (New does no I/O), sorted by name.
func baseMethods(base *elements.Type) []elements.Method {
	example := func(s elements.Schema) map[string]any {
		out := map[string]any{}
		for _, f := range s.Fields {
			if v := f.ExampleValue(); f.Required && v != nil {
				out[f.Name] = v
			} else if f.Required {
				out[f.Name] = "x"
			}
		}
		return out
	}
	el := &elements.Element{FullName: "new.Element", Name: "Element", TypeID: base.ID, Config: example(base.Schema),
		Definition: example(base.DefinitionSchema), Dir: os.TempDir()}
	inst, err := func() (inst elements.Instance, err error) {
		defer func() {
			if recover() != nil {
				err = errors.New("New panicked")
			}
		}()
		return base.New(el)
	}()
	if err != nil || inst == nil {
		return nil
	}
	ms := inst.Methods()
	slices.SortFunc(ms, func(a, b elements.Method) int { return strings.Compare(a.Name, b.Name) })
	return ms
}

// writeNew writes the files, refusing (and writing nothing) if the element's folder or
// any of the files exists.
func writeNew(appDir, rel string, files []newFile) error {
	if _, err := os.Stat(filepath.Join(appDir, filepath.FromSlash(rel))); err == nil {
		return fmt.Errorf("%s exists: jitrt new never overwrites; pick another name or remove it", filepath.Join(appDir, filepath.FromSlash(rel)))
	}
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(appDir, filepath.FromSlash(f.rel))); err == nil {
			return fmt.Errorf("%s exists: jitrt new never overwrites", filepath.Join(appDir, f.rel))
		}
	}
	for _, f := range files {
		p := filepath.Join(appDir, filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = fh.WriteString(f.content)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
