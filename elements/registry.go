// Package elements defines what every element Type shares — the Type registry, config
// schemas, the method and property surface scripts see, coded errors and RowData — and
// knows nothing of how an app is loaded or how JavaScript is hosted.
//
// # Lifecycle of an element
//
// A Type registers itself once, in an init function of its package, under an ID of the
// form "namespace.Name" (RegisterType); registering wrongly panics, looking up an unknown
// ID is an error. When an app is loaded, the runtime reads each element's e.json and its
// <Name>.json config, checks the config against the Type's Schema (required keys, JSON
// types), then calls the Type's optional Validate hook for anything a schema cannot say.
// Then:
//
//  1. New builds the Instance from the validated config. It does no I/O and starts
//     nothing: jitrt check and jitrt ls build instances only to report on them.
//  2. Start (the optional Starter interface) does the I/O the instance needs to serve:
//     it starts an emulator, creates indexes, starts timers. The runtime calls it once,
//     before the instance serves, in the commands that run the app (run, exec, call).
//  3. The instance serves: Methods and Properties, called through the runtime's one
//     call path, which recovers a panic into an error for that caller.
//  4. Close (the optional io.Closer) undoes Start. It is called when the instance is
//     replaced by a hot reload (after its last running call), when the app shuts down,
//     and after a Start that failed.
package elements

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Type describes one registered element Type.
type Type struct {
	// ID is "namespace.Name", e.g. "corps.QywxInnerType".
	ID string
	// Meta is the ID of the Meta this Type belongs to, e.g. "corps.Meta".
	Meta string
	// Doc is one line shown by tools.
	Doc string
	// Config, when set, is the Type's config struct (a zero value): Schema is derived from
	// it (SchemaOf) and the Type reads configs with Decode. One description of the keys
	// serves the loader's checks, the masking of secrets, the docs and the JSON Schema.
	Config any
	// Schema declares the element's config keys (derived from Config when that is set).
	Schema Schema
	// ConfigFile says whether the element reads a <Name>.json config beside its e.json.
	// When true and the file is absent, an empty config is checked against the Schema.
	ConfigFile bool
	// Definition, when set, is the struct of the keys the Type reads from e.json itself
	// (a zero value), from which DefinitionSchema is derived.
	Definition any
	// DefinitionSchema declares the keys the Type reads from e.json itself, besides title
	// and type (a task's enable, funcType, func, timerCfg). With no fields, e.json may hold
	// anything else.
	DefinitionSchema Schema
	// Validate, if set, checks a config that already satisfies the Schema. It reports
	// problems through the Reporter so that each names its key.
	Validate func(el *Element, r Reporter)
	// New builds an instance. It is only called with a config that passed validation.
	New func(el *Element) (Instance, error)
	// LocalOnly, if set, reports that an element with this config talks to nothing outside
	// the machine (a corp on its built-in emulator): its secrets are not real ones, and
	// jitrt check does not warn about them being written in the config.
	LocalOnly func(el *Element) bool
	// Scaffold, if set, gives the files a new element of this Type starts with besides its
	// e.json and config (jitrt new), by name in its folder: a task's inner.js.
	Scaffold func(name string) map[string]string
	// CheckRefs, if set, checks what the element names of other elements (a task's func)
	// once the whole app is loaded, and again when the element is reloaded.
	CheckRefs func(el *Element, app Refs, r Reporter)
}

var (
	registryMu sync.RWMutex
	registry   = map[string]*Type{}
	metas      = map[string]string{}
	// an ID is dotted names: "corps.QywxInnerType", "auths.loginTypes.QywxInnerType"
	idPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$`)
)

// RegisterType adds a Type to the registry. It is meant to be called from init and panics on
// a programmer error: a malformed ID, a missing New, or an ID registered twice.
func RegisterType(t Type) {
	if !idPattern.MatchString(t.ID) {
		panic(fmt.Sprintf("elements: type ID %q is not of the form namespace.Name", t.ID))
	}
	if t.New == nil {
		panic(fmt.Sprintf("elements: type %s has no New function", t.ID))
	}
	if t.Config != nil {
		if len(t.Schema.Fields) > 0 {
			panic(fmt.Sprintf("elements: type %s declares both Config and Schema: give the config struct only", t.ID))
		}
		t.Schema = SchemaOf(t.Config)
	}
	if t.Definition != nil {
		if len(t.DefinitionSchema.Fields) > 0 {
			panic(fmt.Sprintf("elements: type %s declares both Definition and DefinitionSchema: give the struct only", t.ID))
		}
		t.DefinitionSchema = SchemaOf(t.Definition)
	}
	if err := t.Schema.check(); err != nil {
		panic(fmt.Sprintf("elements: type %s: %v", t.ID, err))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[t.ID]; dup {
		panic(fmt.Sprintf("elements: type %s is already registered", t.ID))
	}
	registry[t.ID] = &t
}

// RegisterMeta registers a Meta, the family a Type belongs to (e.g. "corps.Meta"). An app's
// own Type elements name a Meta as their type. It panics on a malformed or repeated ID.
func RegisterMeta(id, doc string) {
	if !idPattern.MatchString(id) {
		panic(fmt.Sprintf("elements: meta ID %q is not of the form namespace.Name", id))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := metas[id]; dup {
		panic(fmt.Sprintf("elements: meta %s is already registered", id))
	}
	metas[id] = doc
}

// IsMeta reports whether id names a registered Meta.
func IsMeta(id string) bool {
	registryMu.RLock()
	defer registryMu.RUnlock()
	_, ok := metas[id]
	return ok
}

// LookupType returns the registered Type with that ID, or an error wrapping ErrUnknownType.
func LookupType(id string) (*Type, error) {
	registryMu.RLock()
	t, ok := registry[id]
	if !ok {
		if _, meta := metas[id]; meta {
			registryMu.RUnlock()
			return nil, fmt.Errorf("%w: %s is a Meta, not a Type; an instance names a Type such as %s", ErrUnknownType, id, suggest(id))
		}
		registryMu.RUnlock()
		return nil, fmt.Errorf("%w %q", ErrUnknownType, id)
	}
	registryMu.RUnlock()
	return t, nil
}

// Types lists the registered Type IDs, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	ids := make([]string, 0, len(registry))
	for id := range registry {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Metas lists the registered Meta IDs, sorted.
func Metas() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	ids := make([]string, 0, len(metas))
	for id := range metas {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Refs is what CheckRefs may ask of the loaded app.
type Refs interface {
	// Method describes a method of an element's current instance, or says why there is none.
	Method(fullName, method string) (*Method, error)
	// ElementsWhere is AppHandle.ElementsWhere.
	ElementsWhere(is func(Instance) bool) []*Element
}

// suggest names the registered Types of a Meta, for error messages. Called with the lock held.
func suggest(meta string) string {
	var ids []string
	for id, t := range registry {
		if t.Meta == meta {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return "one registered under it"
	}
	return strings.Join(ids, " or ")
}
