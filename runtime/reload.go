package runtime

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jitrt/jitrt/runtime/loader"
)

// ReloadEvent says what one reload did; the watcher logs it and hands it to OnReload.
type ReloadEvent struct {
	// Kind: "add", "reload", "remove", "error" (the edit was refused and the last good
	// instance serves on), "app" (app.json) or "scripts" (a .js file: the next run reads it).
	Kind       string
	Element    string // fullName ("" for app and scripts)
	Files      []string
	Took       time.Duration
	Generation int
	Problems   Problems
	// Serving, for an "error", says whether a last good instance serves on (false for a
	// new element whose first files are refused: it serves once they are fixed).
	Serving bool
}

// ReloadElement loads the element folder rel (app-relative, slash-separated) off to the
// side and, if it is good, swaps it in; if it is broken the current instance keeps serving
// and the problems become the element's status. A folder without e.json removes the element.
// When rel is an app Type element, its instances are rebuilt too: one event each, after
// the Type element's.
func (a *App) ReloadElement(rel string) []ReloadEvent {
	var dependents []string
	ev, err := protect(a, "reload of "+rel, func() (ev ReloadEvent, err error) {
		ev, dependents = a.reloadOne(rel)
		return ev, nil
	})
	defer a.checkRefs() // what other elements name may have come or gone
	if err != nil {
		// A panic while reloading: the last good instance keeps serving.
		name := strings.ReplaceAll(rel, "/", ".")
		serving := false
		if e, eerr := a.Element(name); eerr == nil {
			serving = e.Status().Serving
		}
		return []ReloadEvent{{Kind: "error", Element: name, Serving: serving,
			Problems: Problems{{Path: rel + "/e.json", Msg: err.Error()}}}}
	}
	events := []ReloadEvent{ev}
	for _, inst := range dependents {
		events = append(events, a.ReloadElement(inst)...)
	}
	return events
}

// reloadOne reloads one folder and returns the folders of the instances built through it.
func (a *App) reloadOne(rel string) (ReloadEvent, []string) {
	start := time.Now()
	if _, err := os.Stat(filepath.Join(a.Dir, filepath.FromSlash(rel), "e.json")); errors.Is(err, fs.ErrNotExist) {
		name := a.removeElement(rel)
		a.mu.Lock()
		_, wasType := a.types[name]
		delete(a.types, name)
		a.mu.Unlock()
		var dependents []string
		if wasType {
			dependents = a.instancesOf(name)
		}
		return ReloadEvent{Kind: "remove", Element: name, Took: time.Since(start)}, dependents
	}
	def := loader.Load(a.Dir, rel, a.opts.Getenv, a.appType)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ReloadEvent{Kind: "error", Element: def.FullName, Problems: Problems{{Path: rel, Msg: "the app is closed"}}}, nil
	}
	e, known := a.entries[def.FullName]
	if !known {
		e = &Entry{app: a, FullName: def.FullName}
		a.entries[def.FullName] = e
	}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), a.Timeout())
	ps := e.install(ctx, def)
	cancel()
	var dependents []string
	if def.IsType {
		dependents = a.instancesOf(def.FullName) // rebuilt with it
	}
	st := e.Status()
	ev := ReloadEvent{Kind: "reload", Element: def.FullName, Took: time.Since(start), Generation: st.Generation, Problems: ps, Serving: st.Serving}
	switch {
	case len(ps) > 0:
		ev.Kind = "error"
	case !known:
		ev.Kind = "add"
	}
	return ev, dependents
}

// removeElement drops the element of folder rel; its instance closes after its last call.
func (a *App) removeElement(rel string) string {
	a.mu.Lock()
	var found *Entry
	for name, e := range a.entries {
		e.mu.Lock()
		dir := e.dir
		e.mu.Unlock()
		if dir == rel || (dir == "" && name == strings.ReplaceAll(rel, "/", ".")) {
			found = e
			delete(a.entries, name)
			break
		}
	}
	a.mu.Unlock()
	if found == nil {
		return strings.ReplaceAll(rel, "/", ".")
	}
	found.mu.Lock()
	found.removed = true
	found.mu.Unlock()
	if ref := found.cur.Swap(nil); ref != nil {
		ref.retire()
	}
	return found.FullName
}

// dirOf returns the folder of a loaded element ("" if none).
func (a *App) dirOf(fullName string) string {
	e, err := a.Element(fullName)
	if err != nil {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dir
}

// ElementDirs lists the folders of the loaded elements.
func (a *App) ElementDirs() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.entries))
	for _, e := range a.entries {
		e.mu.Lock()
		out = append(out, e.dir)
		e.mu.Unlock()
	}
	return out
}

// ReloadApp re-reads app.json and reloads every element, adding and removing as the folder
// now says; compiled scripts are dropped too.
func (a *App) ReloadApp() []ReloadEvent {
	start := time.Now()
	cfg, ps := loader.ReadAppConfig(a.Dir)
	a.mu.Lock()
	a.Name, a.Title, a.Entry, a.Timezone, a.appProblems = cfg.Name, cfg.Title, cfg.Entry, cfg.Timezone, ps
	a.permissions, a.permPos = cfg.Permissions, cfg.PermissionPos
	a.auditRetention = time.Duration(cfg.AuditRetentionDays) * 24 * time.Hour
	a.mu.Unlock()
	limits, timeout := a.limitsOf(cfg.Limits)
	a.host.SetLimits(limits)
	a.host.SetTimeout(timeout)
	a.ScriptsChanged()
	events := []ReloadEvent{{Kind: "app", Files: []string{"app.json"}, Problems: ps}}
	rels, err := loader.Scan(a.Dir)
	if err != nil {
		events[0].Problems = append(events[0].Problems, Problem{Path: ".", Msg: err.Error()})
	}
	seen := map[string]bool{}
	// Type elements first, so that their instances are built through the new ones; the
	// instances a Type element rebuilds are not reloaded again after it.
	rels = loader.TypesFirst(a.Dir, rels)
	done := map[string]bool{}
	for _, rel := range rels {
		seen[rel] = true
		if done[rel] {
			continue
		}
		for _, ev := range a.ReloadElement(rel) {
			events = append(events, ev)
			done[a.dirOf(ev.Element)] = true
		}
	}
	for _, rel := range a.ElementDirs() {
		if !seen[rel] {
			events = append(events, a.ReloadElement(rel)...)
		}
	}
	a.checkPermissions()
	events[0].Took = time.Since(start)
	return events
}

// ScriptsChanged drops compiled scripts: the next run reads every script afresh.
func (a *App) ScriptsChanged() { a.host.InvalidateScripts() }
