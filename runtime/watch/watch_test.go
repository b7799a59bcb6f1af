package watch_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/internal/testtypes"
	"github.com/jitrt/jitrt/internal/testwait"
	"github.com/jitrt/jitrt/runtime"
	"github.com/jitrt/jitrt/runtime/watch"
)

var echoApp = map[string]string{
	"app.json":            `{"name": "echoapp", "title": "Echo App"}`,
	"e/Hello/e.json":      `{"title": "Hello", "type": "testing.Echo"}`,
	"e/Hello/Hello.json":  `{"greeting": "hello"}`,
	"scripts/lib/util.js": `exports.shout = s => s.toUpperCase();`,
}

// watching runs a Watcher on app until the test ends and records every reload.
type watching struct {
	*watch.Watcher
	mu     sync.Mutex
	events []runtime.ReloadEvent
}

func watchApp(t testing.TB, app *runtime.App, opts watch.Options) *watching {
	t.Helper()
	w := &watching{}
	opts.OnReload = func(ev runtime.ReloadEvent) {
		w.mu.Lock()
		w.events = append(w.events, ev)
		w.mu.Unlock()
	}
	watcher, err := watch.New(app, opts) // the watches are in place when it returns
	if err != nil {
		t.Fatal(err)
	}
	w.Watcher = watcher
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- watcher.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return w
}

// count returns how many reloads of kind (any kind when "") touched element.
func (w *watching) count(element, kind string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ev := range w.events {
		if ev.Element == element && (kind == "" || ev.Kind == kind) {
			n++
		}
	}
	return n
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, cond)
}

func loadTest(t testing.TB, dir string) *runtime.App {
	t.Helper()
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(),
		Getenv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

func run(t testing.TB, app *runtime.App, code string) (string, string, error) {
	t.Helper()
	var out bytes.Buffer
	res, err := app.Host().Run(context.Background(), runtime.Script{Name: "test.js", Code: code, Stdout: &out, Stderr: &out})
	if err != nil {
		return "", out.String(), err
	}
	return string(res.JSON), out.String(), nil
}

func mustElement(t testing.TB, app *runtime.App, name string) *runtime.Entry {
	t.Helper()
	e, err := app.Element(name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func title(app *runtime.App, name string) string {
	e, err := app.Element(name)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	v, _, err := e.Property("title")
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return v.(string)
}

func writeFile(t testing.TB, dir, rel, content string) { testapp.Write(t, dir, rel, content) }

func reloadApp(t *testing.T) (string, *runtime.App, *watching) {
	dir, app := reloadAppDir(t)
	return dir, app, watchApp(t, app, watch.Options{MaxDelay: 2 * time.Second})
}

// reloadAppDir is the echo app with a second element, e.Other, loaded.
func reloadAppDir(t *testing.T) (string, *runtime.App) {
	dir := testapp.WriteTree(t, echoApp)
	writeFile(t, dir, "e/Other/e.json", `{"title": "Other", "type": "testing.Echo"}`)
	writeFile(t, dir, "e/Other/Other.json", `{"greeting": "other"}`)
	return dir, loadTest(t, dir)
}

// flushAll makes the watcher see every event of what the test did before (a write to
// e.Other's config, whose event comes after theirs, makes pending+1 reloads scheduled),
// then performs the reloads. With a quiet time longer than the test, the test decides by
// construction what one reload holds.
func (w *watching) flushAll(t *testing.T, dir string, pending int) {
	t.Helper()
	writeFile(t, dir, "e/Other/Other.json", `{"greeting": "other"}`)
	eventually(t, "the events to be seen", func() bool { return w.Pending() == pending+1 })
	w.Flush()
}

func TestEditsOfEveryKindOfSaveAreLoaded(t *testing.T) {
	dir, app, w := reloadApp(t)
	ej := filepath.Join(dir, "e/Hello/e.json")
	// plain write
	writeFile(t, dir, "e/Hello/e.json", `{"title": "plain", "type": "testing.Echo"}`)
	eventually(t, "plain write", func() bool { return title(app, "e.Hello") == "plain" })
	// rename over the original (JetBrains, and vim with backupcopy=no)
	writeFile(t, dir, "e/Hello/e.json___jb_tmp___", `{"title": "renamed", "type": "testing.Echo"}`)
	os.Rename(ej, ej+"___jb_old___")
	os.Rename(ej+"___jb_tmp___", ej)
	os.Remove(ej + "___jb_old___")
	eventually(t, "rename-over", func() bool { return title(app, "e.Hello") == "renamed" })
	// vim: writes 4913, renames the original to e.json~, writes anew
	writeFile(t, dir, "e/Hello/4913", "")
	os.Remove(filepath.Join(dir, "e/Hello/4913"))
	os.Rename(ej, ej+"~")
	writeFile(t, dir, "e/Hello/e.json", `{"title": "vim", "type": "testing.Echo"}`)
	os.Remove(ej + "~")
	eventually(t, "vim save", func() bool { return title(app, "e.Hello") == "vim" })
	// truncate and write in two parts
	f, _ := os.OpenFile(ej, os.O_WRONLY|os.O_TRUNC, 0)
	f.WriteString(`{"title": "trunc`)
	f.Sync()
	time.Sleep(5 * time.Millisecond)
	f.WriteString(`ated", "type": "testing.Echo"}`)
	f.Close()
	eventually(t, "truncate-and-write", func() bool { return title(app, "e.Hello") == "truncated" })
	// the config file too
	writeFile(t, dir, "e/Hello/Hello.json", `{"greeting": "bonjour"}`)
	eventually(t, "config edit", func() bool {
		got, _, _ := run(t, app, `app.getElement("e.Hello").greet("x")`)
		return got == `"bonjour, x"`
	})
	if n := w.count("e.Other", ""); n != 0 {
		t.Fatalf("the other element was reloaded %d times", n)
	}
	if g := mustElement(t, app, "e.Other").Status().Generation; g != 1 {
		t.Fatalf("the other element's generation is %d", g)
	}
	if s := mustElement(t, app, "e.Hello").Status(); s.Generation < 6 || s.Status != "ok" {
		t.Fatalf("status %+v", s)
	}
}

func TestBrokenEditKeepsTheLastGoodInstanceServing(t *testing.T) {
	dir, app, w := reloadApp(t)
	writeFile(t, dir, "e/Hello/Hello.json", "{\n  \"greeting\": \"hola\",\n  oops\n}")
	eventually(t, "the error", func() bool { return w.count("e.Hello", "error") == 1 })
	got, _, err := run(t, app, `app.getElement("e.Hello").greet("x")`)
	if err != nil || got != `"hello, x"` {
		t.Fatalf("the old instance does not answer: %s %v", got, err)
	}
	s := mustElement(t, app, "e.Hello").Status()
	if s.Status != "error" || !s.Serving || s.Generation != 1 || !strings.HasPrefix(s.Error, "e/Hello/Hello.json:3:3: invalid JSON") {
		t.Fatalf("status %+v", s)
	}
	// a schema error is refused the same way
	writeFile(t, dir, "e/Hello/Hello.json", `{"greeting": 5}`)
	eventually(t, "the second error", func() bool { return w.count("e.Hello", "error") == 2 })
	if s := mustElement(t, app, "e.Hello").Status(); !strings.Contains(s.Error, `key "greeting" must be a string`) {
		t.Fatalf("status %+v", s)
	}
	// fixed again: the error clears
	writeFile(t, dir, "e/Hello/Hello.json", `{"greeting": "hola"}`)
	eventually(t, "the fix", func() bool { return mustElement(t, app, "e.Hello").Status().Status == "ok" })
	if got, _, _ := run(t, app, `app.getElement("e.Hello").greet("x")`); got != `"hola, x"` {
		t.Fatal(got)
	}
	if s := mustElement(t, app, "e.Hello").Status(); s.Generation != 2 || s.Error != "" {
		t.Fatalf("status %+v", s)
	}
}

func TestElementFoldersComeAndGo(t *testing.T) {
	dir, app, w := reloadApp(t)
	// a whole new folder tree at once
	os.MkdirAll(filepath.Join(dir, "new/deep/Fresh"), 0o755)
	writeFile(t, dir, "new/deep/Fresh/Fresh.json", `{"greeting": "fresh"}`)
	writeFile(t, dir, "new/deep/Fresh/e.json", `{"title": "Fresh", "type": "testing.Echo"}`)
	eventually(t, "the new element", func() bool { return title(app, "new.deep.Fresh") == "Fresh" })
	if got, _, err := run(t, app, `app.getElement("new.deep.Fresh").greet("x")`); err != nil || got != `"fresh, x"` {
		t.Fatal(got, err)
	}
	// and later edits inside it are watched too
	writeFile(t, dir, "new/deep/Fresh/e.json", `{"title": "Fresh2", "type": "testing.Echo"}`)
	eventually(t, "an edit in the new folder", func() bool { return title(app, "new.deep.Fresh") == "Fresh2" })
	// deleted
	inst := testtypes.Last("new.deep.Fresh")
	os.RemoveAll(filepath.Join(dir, "new"))
	eventually(t, "the removal", func() bool { return w.count("new.deep.Fresh", "remove") >= 1 })
	if _, err := app.Element("new.deep.Fresh"); err == nil {
		t.Fatal("a deleted element is still there")
	}
	if !inst.Closed() {
		t.Fatal("the deleted element's instance was not closed")
	}
	_, _, err := run(t, app, `app.getElement("new.deep.Fresh")`)
	if err == nil || !strings.Contains(err.Error(), `no element "new.deep.Fresh"`) {
		t.Fatal(err)
	}
	// only e.json deleted: the element goes too
	os.Remove(filepath.Join(dir, "e/Other/e.json"))
	eventually(t, "removal by e.json", func() bool { _, err := app.Element("e.Other"); return err != nil })
}

// Writes within an element's quiet time are one reload. The quiet time is made longer than
// any machine takes to write (so they fall in it by construction), and Flush ends it.
func TestBurstOfWritesIsOneReload(t *testing.T) {
	dir, app := reloadAppDir(t)
	w := watchApp(t, app, watch.Options{Debounce: time.Hour, MaxDelay: time.Hour})
	for i := 0; i < 100; i++ {
		writeFile(t, dir, "e/Hello/e.json", fmt.Sprintf(`{"title": "burst %d", "type": "testing.Echo"}`, i))
	}
	w.flushAll(t, dir, 1)
	if n, got := w.count("e.Hello", ""), title(app, "e.Hello"); n != 1 || got != "burst 99" {
		t.Fatalf("100 writes caused %d reloads (title %q), want 1 with the last write", n, got)
	}
}

func TestEditorTempFilesAreIgnored(t *testing.T) {
	dir, _, w := reloadApp(t)
	for _, name := range []string{".e.json.swp", "4913", "e.json~", "Hello.json___jb_tmp___", "#e.json#", ".#e.json"} {
		writeFile(t, dir, "e/Hello/"+name, "junk")
	}
	writeFile(t, dir, ".jitrt/whatever.json", "{}")
	writeFile(t, dir, ".git/X/e.json", `{"type": "testing.Echo"}`)
	// A real edit after them: once it is reloaded, the events before it were all seen.
	writeFile(t, dir, "e/Other/e.json", `{"title": "Other 2", "type": "testing.Echo"}`)
	eventually(t, "the real edit", func() bool { return w.count("e.Other", "reload") == 1 })
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.events) != 1 || w.Pending() != 0 {
		t.Fatalf("temp files caused reloads: %+v, %d pending", w.events, w.Pending())
	}
}

func TestCallInFlightFinishesOnTheOldInstance(t *testing.T) {
	dir, app, w := reloadApp(t)
	oldInst := testtypes.Last("e.Hello")
	done := make(chan string)
	go func() {
		got, _, err := run(t, app, `app.getElement("e.Hello").sleep(400)`)
		if err != nil {
			got = err.Error()
		}
		done <- got
	}()
	eventually(t, "the call to start", func() bool { return oldInst.Sleeping() == 1 })
	writeFile(t, dir, "e/Hello/Hello.json", `{"greeting": "new"}`)
	eventually(t, "the reload", func() bool { return w.count("e.Hello", "reload") == 1 })
	if got, _, _ := run(t, app, `app.getElement("e.Hello").greet("x")`); got != `"new, x"` {
		t.Fatalf("the next call got %s", got)
	}
	if oldInst.Closed() {
		t.Fatal("the old instance was closed while a call was running on it")
	}
	if got := <-done; got != `"hello"` {
		t.Fatalf("the call in flight returned %s, want the old instance's greeting", got)
	}
	if !oldInst.Closed() {
		t.Fatal("the old instance was not closed after its last call")
	}
}

func TestScriptAndAppChanges(t *testing.T) {
	dir, app, _ := reloadApp(t)
	if got, _, _ := run(t, app, `require("./scripts/lib/util").shout("a")`); got != `"A"` {
		t.Fatal(got)
	}
	writeFile(t, dir, "scripts/lib/util.js", `exports.shout = s => s + "!";`)
	eventually(t, "the new module", func() bool {
		got, _, _ := run(t, app, `require("./scripts/lib/util").shout("a")`)
		return got == `"a!"`
	})
	writeFile(t, dir, "app.json", `{"name": "echoapp", "title": "Renamed App"}`)
	eventually(t, "the app reload", func() bool {
		got, _, _ := run(t, app, `app.title`)
		return got == `"Renamed App"`
	})
	if app.Info().Entry != "" {
		t.Fatal("entry not reloaded")
	}
}

func TestEditingATypeElementReloadsItsInstances(t *testing.T) {
	dir := testapp.WriteTree(t, map[string]string{
		"e/Loud/e.json":   `{"type": "testing.Meta", "extend": "testing.Echo"}`,
		"e/Loud/index.js": `exports.greet = function (n) { return this.$super.greet(n).toUpperCase() }`,
		"e/I/e.json":      `{"type": "e.Loud"}`,
		"e/I/I.json":      `{"greeting": "hey"}`,
		"e/Z/e.json":      `{"type": "testing.Echo"}`,
		"e/Z/Z.json":      `{"greeting": "zzz"}`,
	})
	app := loadTest(t, dir)
	// the quiet time outlasts the write on any machine; Flush ends it
	w := watchApp(t, app, watch.Options{Debounce: time.Hour, MaxDelay: time.Hour})
	writeFile(t, dir, "e/Loud/index.js", `exports.greet = function (n) { return "v2 " + n }; exports.whisper = function () { return "psst" }`)
	writeFile(t, dir, "e/Z/Z.json", `{"greeting": "zzz"}`) // its event comes after the edit's
	eventually(t, "the edits to be seen", func() bool { return w.Pending() == 2 })
	w.Flush()
	if got, _, err := run(t, app, `app.getElement("e.I").whisper()`); err != nil || got != `"psst"` {
		t.Fatalf("the method the edit adds: %s %v", got, err)
	}
	if got, _, err := run(t, app, `app.getElement("e.I").greet("z")`); err != nil || got != `"v2 z"` {
		t.Fatalf("the edited override: %s %v", got, err)
	}
	if w.count("e.I", "reload") != 1 {
		t.Fatalf("the instance was reloaded %d times", w.count("e.I", "reload"))
	}
}

// An editor that saves by writing a temporary file and renaming it over the config: the
// reload names the config, not the temporary file.
func TestAReloadNamesTheFileNotTheEditorsTemporaryOne(t *testing.T) {
	dir, app := reloadAppDir(t)
	w := watchApp(t, app, watch.Options{Debounce: time.Hour, MaxDelay: time.Hour})
	tmp := filepath.Join(dir, "e/Hello/Hello.json.4821.save")
	if err := os.WriteFile(tmp, []byte(`{"greeting": "saved by rename"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "e/Hello/Hello.json")); err != nil {
		t.Fatal(err)
	}
	w.flushAll(t, dir, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range w.events {
		if ev.Element == "e.Hello" {
			if fmt.Sprint(ev.Files) != "[Hello.json]" {
				t.Fatalf("the reload names %v", ev.Files)
			}
		}
	}
	_ = app
}

// An element made with cat > e.json: the file is there empty before its content comes. The
// watcher waits for the content (no refusal); once written, the element is added. A new
// element whose first files are broken is refused as new (no last good instance serves).
func TestANewElementWaitsForItsFilesContent(t *testing.T) {
	dir := testapp.WriteTree(t, map[string]string{"e/Z/e.json": `{"type": "testing.Echo"}`, "e/Z/Z.json": `{"greeting": "zzz"}`})
	app := loadTest(t, dir)
	var mu sync.Mutex
	var waited []string
	w := watchApp(t, app, watch.Options{Debounce: time.Hour, MaxDelay: time.Hour, OnWaiting: func(f string) {
		mu.Lock()
		waited = append(waited, f)
		mu.Unlock()
	}})
	// flushUntil performs what is scheduled until cond holds: the OS's events come when
	// they come (on a busy machine, some after a flush), and each flush takes those there
	flushUntil := func(what string, cond func() bool) {
		t.Helper()
		eventually(t, what, func() bool { w.Flush(); return cond() })
	}
	last := func(element string) (ev runtime.ReloadEvent) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, e := range w.events {
			if e.Element == element {
				ev = e
			}
		}
		return ev
	}
	writeFile(t, dir, "e/New/e.json", "")
	flushUntil("the empty e.json to be waited for", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(waited, "e/New/e.json")
	})
	if n := w.count("e.New", ""); n != 0 {
		t.Fatalf("an empty new e.json was reloaded %d times", n)
	}
	// the config first: a flush between the two finds e.json still empty, and waits
	writeFile(t, dir, "e/New/New.json", `{"greeting": "new"}`)
	writeFile(t, dir, "e/New/e.json", `{"type": "testing.Echo"}`)
	flushUntil("the new element to be added", func() bool { return w.count("e.New", "add") == 1 })
	if n := w.count("e.New", "error"); n != 0 {
		t.Fatalf("the new element was refused %d times on its way", n)
	}

	writeFile(t, dir, "e/Bad/e.json", `{"type": `)
	flushUntil("the broken new element to be refused", func() bool { return last("e.Bad").Kind == "error" })
	if ev := last("e.Bad"); ev.Serving {
		t.Fatalf("a broken new element: %+v, want no instance serving", ev)
	}
	writeFile(t, dir, "e/Z/Z.json", `{"greeting": `)
	flushUntil("the broken edit to be refused", func() bool { return last("e.Z").Kind == "error" })
	if ev := last("e.Z"); !ev.Serving {
		t.Fatalf("a broken edit of a good element: %+v, want the last good one serving", ev)
	}
}
