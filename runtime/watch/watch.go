// Package watch reloads what changes in a running app's folder: it watches the tree with
// fsnotify (new folders included, editors' temporary files ignored), coalesces a burst of
// events into one reload per element, and hands each reload to the runtime.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/runtime/loader"
)

// Options tune a Watcher.
type Options struct {
	// Debounce is the quiet time after the last event of an element before it is reloaded
	// (default 30 ms): an editor's save is several events, and a burst of writes is one reload.
	Debounce time.Duration
	// MaxDelay bounds how long a steady stream of events can postpone a reload (default 500 ms).
	MaxDelay time.Duration
	// OnReload, if set, is told of every reload after it is done.
	OnReload func(runtime.ReloadEvent)
	// OnWaiting, if set, is told of a reload put off because a JSON file is there but
	// empty (cat > e.json, an editor that truncates first): its app-relative path.
	OnWaiting func(file string)
}

// ignoredName reports files and folders the watcher never reacts to: dotfiles (.jitrt/,
// .git/), node_modules, and the temporary files editors write while saving.
func ignoredName(name string) bool {
	switch {
	case strings.HasPrefix(name, "."), // dotfiles, vim's .e.json.swp, emacs' .#lock
		name == "node_modules",
		name == "4913", // vim's probe of whether it may write in the folder
		strings.HasSuffix(name, "~"),
		strings.HasSuffix(name, ".swp"), strings.HasSuffix(name, ".swx"), strings.HasSuffix(name, ".swo"),
		strings.HasSuffix(name, ".tmp"),
		strings.Contains(name, "___jb_tmp___"), strings.Contains(name, "___jb_old___"), // JetBrains
		strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"): // emacs auto-save
		return true
	}
	return false
}

// watcher is the state of one Watch.
type watcher struct {
	a    *runtime.App
	fs   *fsnotify.Watcher
	opts Options

	watched map[string]bool // folders under watch (absolute)

	mu      sync.Mutex
	pending map[string]*pendingReload // by key: "app" or an element folder (rel)
	fire    chan string
	flush   chan chan struct{}
	done    chan struct{} // closed when Watch returns, so no timer blocks on fire
}

type pendingReload struct {
	files []string
	first time.Time
	timer *time.Timer
}

// Watcher reloads what changes in an app folder. NewWatcher has its watches in place when
// it returns, so nothing edited after that is missed; Run serves the events.
type Watcher struct{ w *watcher }

// New watches the app folder (new folders included): an edited element is swapped live, a
// broken edit leaves the last good instance serving, a new element folder is added, a
// deleted one removed, app.json reloads the app, and a changed script is read afresh by the
// next run. The watches are in place when New returns; call Run to act on the events.
func New(a *runtime.App, opts Options) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = 30 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 500 * time.Millisecond
	}
	fw, err := fsnotify.NewBufferedWatcher(1024)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", a.Dir, err)
	}
	w := &watcher{a: a, fs: fw, opts: opts, watched: map[string]bool{}, pending: map[string]*pendingReload{}, fire: make(chan string, 64), flush: make(chan chan struct{}), done: make(chan struct{})}
	if err := w.addTree(a.Dir); err != nil {
		fw.Close()
		return nil, err
	}
	a.Logger().Info("watching for changes", "dir", a.Dir, "folders", len(w.watched))
	return &Watcher{w}, nil
}

// Watch is New and Run: it reloads what changes until ctx ends.
func Watch(ctx context.Context, a *runtime.App, opts Options) error {
	w, err := New(a, opts)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// Pending is the number of reloads scheduled and not yet done.
func (wr *Watcher) Pending() int {
	wr.w.mu.Lock()
	defer wr.w.mu.Unlock()
	return len(wr.w.pending)
}

// Flush performs the reloads scheduled now without waiting for their quiet time, and
// returns when they are done (or when Run has ended). What Run has not received yet from
// the OS stays scheduled as usual.
func (wr *Watcher) Flush() {
	done := make(chan struct{})
	select {
	case wr.w.flush <- done:
		<-done
	case <-wr.w.done:
	}
}

// Run reloads what changes until ctx ends, then stops watching.
func (wr *Watcher) Run(ctx context.Context) error {
	w := wr.w
	fw, a := w.fs, w.a
	defer fw.Close()
	defer close(w.done)
	defer w.stopTimers()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			w.protect("file event "+ev.Name, func() { w.event(ev) })
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: reload everything rather than miss an edit.
				a.Logger().Warn("too many file events at once; reloading the whole app")
				w.schedule("app", "*")
				continue
			}
			a.Logger().Error("watching failed", "err", err)
		case key := <-w.fire:
			w.protect("reload of "+key, func() { w.reload(key) })
		case done := <-w.flush:
			w.mu.Lock()
			keys := slices.Sorted(maps.Keys(w.pending))
			w.mu.Unlock()
			for _, key := range keys {
				w.protect("reload of "+key, func() { w.reload(key) })
			}
			close(done)
		}
	}
}

// addTree watches dir and every folder below it that can hold elements.
func (w *watcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if p != w.a.Dir && ignoredName(d.Name()) {
			return filepath.SkipDir
		}
		if w.watched[p] {
			return nil
		}
		if err := w.fs.Add(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir // gone already
			}
			return fmt.Errorf("watch %s: %w", p, err)
		}
		w.watched[p] = true
		return nil
	})
}

func (w *watcher) rel(p string) (string, bool) {
	r, err := filepath.Rel(w.a.Dir, p)
	if err != nil || r == "." || strings.HasPrefix(r, "..") {
		return "", false
	}
	return filepath.ToSlash(r), true
}

// event classifies one file event and schedules what it asks for.
func (w *watcher) event(ev fsnotify.Event) {
	rel, ok := w.rel(ev.Name)
	if !ok {
		return
	}
	for _, seg := range strings.Split(rel, "/") {
		if ignoredName(seg) {
			return
		}
	}
	if ev.Op == fsnotify.Chmod {
		return
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			// A new folder: watch it, and load the elements already in it (files created
			// before the watch was added raise no events).
			if err := w.addTree(ev.Name); err != nil {
				w.a.Logger().Error("cannot watch a new folder", "dir", rel, "err", err)
			}
			rels, _ := loader.Scan(ev.Name)
			for _, sub := range rels {
				w.schedule(path.Join(rel, sub), "e.json")
			}
			if _, err := os.Stat(filepath.Join(ev.Name, "e.json")); err == nil {
				w.schedule(rel, "e.json")
			}
			return
		}
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if w.watched[ev.Name] {
			// A folder went away: drop its watches and the elements in it.
			for p := range w.watched {
				if p == ev.Name || strings.HasPrefix(p, ev.Name+string(filepath.Separator)) {
					delete(w.watched, p)
				}
			}
			for _, dir := range w.a.ElementDirs() {
				if dir == rel || strings.HasPrefix(dir, rel+"/") {
					w.schedule(dir, "")
				}
			}
			return
		}
	}
	if rel == "app.json" {
		w.schedule("app", rel)
		return
	}
	if strings.HasSuffix(rel, ".js") || strings.HasSuffix(rel, ".mjs") || strings.HasSuffix(rel, ".cjs") {
		w.a.ScriptsChanged()
		w.a.Logger().Info("script changed; the next run reads it", "file", rel)
		if w.opts.OnReload != nil {
			w.opts.OnReload(runtime.ReloadEvent{Kind: "scripts", Files: []string{rel}})
		}
	}
	if dir := w.elementOf(rel); dir != "" {
		w.schedule(dir, path.Base(rel))
	}
}

// elementOf returns the element folder a file belongs to: the nearest folder, from the
// file's own, that has an e.json now or is a loaded element.
func (w *watcher) elementOf(rel string) string {
	known := w.a.ElementDirs()
	for dir := path.Dir(rel); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if slices.Contains(known, dir) {
			return dir
		}
		if _, err := os.Stat(filepath.Join(w.a.Dir, filepath.FromSlash(dir), "e.json")); err == nil {
			return dir
		}
	}
	return ""
}

// schedule (re)starts the quiet-time timer of a key.
func (w *watcher) schedule(key, file string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending[key]
	now := time.Now()
	if p == nil {
		p = &pendingReload{first: now}
		w.pending[key] = p
	}
	if file != "" && !slices.Contains(p.files, file) {
		p.files = append(p.files, file)
	}
	delay := w.opts.Debounce
	if until := p.first.Add(w.opts.MaxDelay).Sub(now); until < delay {
		delay = max(until, 0)
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.timer = time.AfterFunc(delay, func() {
		select {
		case w.fire <- key:
		case <-w.done:
		}
	})
}

func (w *watcher) stopTimers() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.pending {
		if p.timer != nil {
			p.timer.Stop()
		}
	}
}

// reload performs a scheduled reload and logs it.
func (w *watcher) reload(key string) {
	w.mu.Lock()
	p := w.pending[key]
	delete(w.pending, key)
	w.mu.Unlock()
	if p == nil {
		return // fired twice; the first took it
	}
	if empty := w.emptyFile(key, p.files); empty != "" {
		// an editor or a shell (cat > e.json) that truncated the file and has not written
		// its content yet: the write that follows schedules the reload
		w.a.Logger().Info("waiting for the content of an empty file", "file", empty)
		if w.opts.OnWaiting != nil {
			w.opts.OnWaiting(empty)
		}
		return
	}
	var events []runtime.ReloadEvent
	if key == "app" {
		events = w.a.ReloadApp()
	} else {
		events = w.a.ReloadElement(key)
	}
	// the files that changed and are still there: an editor's temporary file, written and
	// renamed away while saving, is not one the user edited
	files := make([]string, 0, len(p.files))
	for _, f := range p.files {
		at := filepath.Join(w.a.Dir, filepath.FromSlash(f))
		if key != "app" {
			at = filepath.Join(w.a.Dir, filepath.FromSlash(key), f)
		}
		if _, err := os.Lstat(at); err == nil || f == "*" || len(p.files) == 1 {
			files = append(files, f)
		}
	}
	events[0].Files = files
	log := w.a.Logger()
	for _, ev := range events {
		switch {
		case ev.Kind == "error" && ev.Serving:
			log.Error("edit refused; the last good instance keeps serving", "element", ev.Element,
				"files", ev.Files, "problems", ev.Problems.Error(), "took", ev.Took.Round(time.Microsecond))
		case ev.Kind == "error":
			log.Error("new element refused; it serves once its files are fixed", "element", ev.Element,
				"files", ev.Files, "problems", ev.Problems.Error(), "took", ev.Took.Round(time.Microsecond))
		case ev.Kind == "app":
			log.Info("app reloaded", "files", ev.Files, "took", ev.Took.Round(time.Microsecond))
		default:
			log.Info("element "+ev.Kind, "element", ev.Element, "files", ev.Files,
				"generation", ev.Generation, "took", ev.Took.Round(time.Microsecond))
		}
		if w.opts.OnReload != nil {
			w.opts.OnReload(ev)
		}
	}
}

// emptyFile is the first of a reload's JSON files (e.json, a config, app.json) that is
// there and empty, or "".
func (w *watcher) emptyFile(key string, files []string) string {
	for _, f := range files {
		if !strings.HasSuffix(f, ".json") {
			continue
		}
		rel := f
		if key != "app" {
			rel = path.Join(key, f)
		}
		if fi, err := os.Stat(filepath.Join(w.a.Dir, filepath.FromSlash(rel))); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			return rel
		}
	}
	return ""
}

// protect runs fn, turning a panic into a logged, counted error: the watcher goes on.
func (w *watcher) protect(where string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			w.a.Recovered("watcher: "+where, r)
		}
	}()
	fn()
}
