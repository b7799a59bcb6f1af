package tasks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/testapp"

	"github.com/jitrt/jitrt/elements"
	_ "github.com/jitrt/jitrt/elements/tasks"
	"github.com/jitrt/jitrt/runtime"
)

// worker is a test Type whose work method counts its calls and takes sleepMs.
type worker struct {
	el    *elements.Element
	calls atomic.Int64
}

var workers sync.Map // fullName → *worker

func init() {
	elements.RegisterMeta("tasktest.Meta", "")
	elements.RegisterType(elements.Type{ID: "tasktest.Worker", Meta: "tasktest.Meta", ConfigFile: true,
		Schema: elements.Schema{Fields: []elements.Field{{Name: "sleepMs", Kind: elements.KindNumber}}},
		New: func(el *elements.Element) (elements.Instance, error) {
			w := &worker{el: el}
			if old, ok := workers.Load(el.FullName); ok {
				w.calls.Store(old.(*worker).calls.Load())
			}
			workers.Store(el.FullName, w)
			return w, nil
		}})
}

func (w *worker) Methods() []elements.Method {
	return []elements.Method{
		{Name: "work", Callable: true, Call: func(ctx context.Context, _ elements.Args) (any, error) {
			n := w.calls.Add(1)
			ms, _ := w.el.Config["sleepMs"].(float64)
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return map[string]any{"call": float64(n)}, nil
		}},
		{Name: "private", Call: func(context.Context, elements.Args) (any, error) { return "no", nil }},
	}
}
func (w *worker) Properties() []elements.Property { return nil }

func calls(name string) int64 {
	w, ok := workers.Load(name)
	if !ok {
		return 0
	}
	return w.(*worker).calls.Load()
}

type observed struct {
	mu  sync.Mutex
	ops map[string]int
}

func (o *observed) Observe(op, element string, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := op + " " + element
	if err != nil {
		key += " error"
	}
	o.ops[key]++
}

func (o *observed) get(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ops[key]
}

func task(fn, timer string, enable int) string {
	return fmt.Sprintf(`{"type": "tasks.NormalType", "title": "t", "enable": %d, "funcType": "Global", "func": %q, "timerCfg": %s}`, enable, fn, timer)
}

const everySecond = `{"startTime": "2024-01-01 00:00:00", "cron": "@every 1s"}`

func write(t *testing.T, dir, rel, content string) { testapp.Write(t, dir, rel, content) }

func TestTasksRunInARunningApp(t *testing.T) {
	workers.Clear()
	dir := t.TempDir()
	write(t, dir, "w/Fast/e.json", `{"type": "tasktest.Worker"}`)
	write(t, dir, "w/Fast/Fast.json", `{"sleepMs": 0}`)
	write(t, dir, "w/Slow/e.json", `{"type": "tasktest.Worker"}`)
	write(t, dir, "w/Slow/Slow.json", `{"sleepMs": 2500}`)
	write(t, dir, "tasks/Fast/e.json", task("w.Fast.work", everySecond, 1))
	write(t, dir, "tasks/Overlap/e.json", task("w.Slow.work", everySecond, 1))
	write(t, dir, "tasks/Off/e.json", task("w.Fast.work", everySecond, 0))
	write(t, dir, "tasks/Private/e.json", task("w.Fast.private", `{"startTime": "2024-01-01 00:00:00"}`, 1))
	write(t, dir, "tasks/Inner/e.json", `{"type": "tasks.NormalType", "title": "内部任务", "enable": 1, "funcType": "Inner", "timerCfg": `+everySecond+`}`)
	write(t, dir, "tasks/Inner/inner.js", `exports.customFunc = function (task) { return {title: task.title, trigger: task.trigger, fast: app.getElement("w.Fast").fullName} }`)
	obs := &observed{ops: map[string]int{}}
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(), Service: true, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if ps := app.Problems(); len(ps) > 0 {
		t.Fatal(ps)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watcher, err := app.NewWatcher(runtime.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go watcher.Run(ctx)
	time.Sleep(3300 * time.Millisecond)

	if n := calls("w.Fast"); n < 2 || n > 4 {
		t.Errorf("the every-second task ran %d times in 3.3 s", n)
	}
	if n := calls("w.Slow"); n < 1 || n > 2 {
		t.Errorf("the slow task ran %d times; runs must not overlap", n)
	}
	if obs.get("task_skipped tasks.Overlap") < 1 {
		t.Errorf("no skipped run was counted: %v", obs.ops)
	}
	if obs.get("task_run tasks.Fast") < 2 || obs.get("task_run tasks.Inner") < 2 {
		t.Errorf("runs not counted: %v", obs.ops)
	}
	var out struct {
		Next, OffNext any
		Run           map[string]any
		History       []map[string]any
		PrivateErr    string
	}
	res, err := app.Host().Run(ctx, runtime.Script{Code: `
		const inner = app.getElement("tasks.Inner");
		let privateErr = "";
		try { app.getElement("tasks.Private").run() } catch (e) { privateErr = e.message }
		({next: inner.nextTime(), offNext: app.getElement("tasks.Off").nextTime(), run: inner.run(),
		  history: inner.getRunHistory(), privateErr})`})
	if err != nil {
		t.Fatal(err)
	}
	jsonInto(t, res.JSON, &out)
	if s, _ := out.Next.(string); !strings.HasPrefix(s, time.Now().Format("2006-01-02T")) {
		t.Errorf("nextTime = %v", out.Next)
	}
	if out.OffNext != nil {
		t.Errorf("a disabled task has a next time: %v", out.OffNext)
	}
	if out.Run["title"] != "内部任务" || out.Run["trigger"] != "manual" || out.Run["fast"] != "w.Fast" {
		t.Errorf("run() = %v", out.Run)
	}
	if len(out.History) < 3 || out.History[0]["trigger"] != "manual" || out.History[0]["ok"] != true {
		t.Errorf("history = %v", out.History)
	}
	if !strings.Contains(out.PrivateErr, "can only be called from the app's scripts") {
		t.Errorf("a task calling a non-callable method: %q", out.PrivateErr)
	}
	if d := mustEntry(t, app, "tasks.Fast").Status().Detail; d["nextTime"] == nil || d["lastRuns"] == nil {
		t.Errorf("status detail %v", d)
	}

	// disabled by an edit: no more runs
	write(t, dir, "tasks/Fast/e.json", task("w.Fast.work", everySecond, 0))
	time.Sleep(400 * time.Millisecond)
	before := calls("w.Fast")
	time.Sleep(2200 * time.Millisecond)
	if after := calls("w.Fast"); after != before {
		t.Errorf("a disabled task ran: %d → %d", before, after)
	}
	// enabled again with another schedule: it runs again
	write(t, dir, "tasks/Fast/e.json", task("w.Fast.work", `{"startTime": "2024-01-01 00:00:00", "cron": "@every 1s"}`, 1))
	deadline := time.Now().Add(4 * time.Second)
	for calls("w.Fast") == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if calls("w.Fast") == before {
		t.Error("the re-enabled task did not run")
	}
	// a deleted task stops
	os.RemoveAll(filepath.Join(dir, "tasks/Inner"))
	time.Sleep(400 * time.Millisecond)
	n := obs.get("task_run tasks.Inner")
	time.Sleep(1500 * time.Millisecond)
	if obs.get("task_run tasks.Inner") != n {
		t.Error("a deleted task still runs")
	}
}

func TestTasksDoNotRunOutsideService(t *testing.T) {
	workers.Clear()
	dir := t.TempDir()
	write(t, dir, "w/Fast/e.json", `{"type": "tasktest.Worker"}`)
	write(t, dir, "tasks/Fast/e.json", task("w.Fast.work", everySecond, 1))
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	time.Sleep(1500 * time.Millisecond)
	if n := calls("w.Fast"); n != 0 {
		t.Fatalf("a task ran %d times in jitrt exec/ls/call", n)
	}
}

func TestBadTaskIsAPathLineColError(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "tasks/Bad/e.json", "{\"type\": \"tasks.NormalType\", \"funcType\": \"Global\", \"func\": \"a.B.c\",\n \"timerCfg\": {\"startTime\": \"2024-01-01\",\n   \"repeat\": {\"repeatType\": \"fortnight\"}}}")
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ps := app.Problems()
	if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), `tasks/Bad/e.json:3:29: timerCfg.repeat.repeatType must be one of`) {
		t.Fatalf("%v", ps)
	}
}

func mustEntry(t *testing.T, app *runtime.App, name string) *runtime.Entry {
	e, err := app.Element(name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
