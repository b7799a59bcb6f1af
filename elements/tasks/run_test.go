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
	"testing/synctest"
	"time"

	"github.com/jitrt/jitrt/internal/testapp"
	"github.com/jitrt/jitrt/kv"

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

const everySecond = `{"startTime": "2000-01-01 00:00:00", "cron": "@every 1s"}`

func write(t *testing.T, dir, rel, content string) { testapp.Write(t, dir, rel, content) }

// The timers run on synctest's fake clock: 3.3 s of schedule take no time, and every
// count is exact.
func TestTasksRunInARunningApp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		workers.Clear()
		dir := t.TempDir()
		write(t, dir, "w/Fast/e.json", `{"type": "tasktest.Worker"}`)
		write(t, dir, "w/Fast/Fast.json", `{"sleepMs": 0}`)
		write(t, dir, "w/Slow/e.json", `{"type": "tasktest.Worker"}`)
		write(t, dir, "w/Slow/Slow.json", `{"sleepMs": 2500}`)
		write(t, dir, "tasks/Fast/e.json", task("w.Fast.work", everySecond, 1))
		write(t, dir, "tasks/Overlap/e.json", task("w.Slow.work", everySecond, 1))
		write(t, dir, "tasks/Off/e.json", task("w.Fast.work", everySecond, 0))
		write(t, dir, "tasks/Private/e.json", task("w.Fast.private", `{"startTime": "2000-01-01 00:00:00"}`, 1))
		write(t, dir, "tasks/Inner/e.json", `{"type": "tasks.NormalType", "title": "内部任务", "enable": 1, "funcType": "Inner", "timerCfg": `+everySecond+`}`)
		write(t, dir, "tasks/Inner/inner.js", `exports.customFunc = function (task) { return {title: task.title, trigger: task.trigger, fast: app.getElement("w.Fast").fullName} }`)
		obs := &observed{ops: map[string]int{}}
		app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir(), Service: true, Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		defer closeInBubble(app)
		// a func a task may not call is reported when the app loads
		if ps := app.Problems(); len(ps) != 1 || ps[0].String() != "tasks/Private/e.json:1:87: func w.Fast.private can only be called from the app's scripts, not by a task" {
			t.Fatal(ps)
		}
		time.Sleep(3300 * time.Millisecond)
		synctest.Wait()

		if n := calls("w.Fast"); n != 3 {
			t.Errorf("the every-second task ran %d times in 3.3 s", n)
		}
		if n := calls("w.Slow"); n != 1 {
			t.Errorf("the slow task ran %d times; runs must not overlap", n)
		}
		if n := obs.get("task_skipped tasks.Overlap"); n != 2 {
			t.Errorf("%d skipped runs were counted, want 2: %v", n, obs.ops)
		}
		if obs.get("task_run tasks.Fast") != 3 || obs.get("task_run tasks.Inner") != 3 {
			t.Errorf("runs not counted: %v", obs.ops)
		}
		var out struct {
			Next, OffNext any
			Run           map[string]any
			History       []map[string]any
			PrivateErr    string
		}
		res, err := app.Host().Run(context.Background(), runtime.Script{Code: `
			const inner = app.getElement("tasks.Inner");
			let privateErr = "";
			try { app.getElement("tasks.Private").run() } catch (e) { privateErr = e.message }
			({next: inner.nextTime(), offNext: app.getElement("tasks.Off").nextTime(), run: inner.run(),
			  history: inner.getRunHistory(), privateErr})`})
		if err != nil {
			t.Fatal(err)
		}
		jsonInto(t, res.JSON, &out)
		if s, _ := out.Next.(string); s != time.Now().Truncate(time.Second).Add(time.Second).In(time.Local).Format(time.RFC3339) {
			t.Errorf("nextTime = %v at %v", out.Next, time.Now())
		}
		if out.OffNext != nil {
			t.Errorf("a disabled task has a next time: %v", out.OffNext)
		}
		if out.Run["title"] != "内部任务" || out.Run["trigger"] != "manual" || out.Run["fast"] != "w.Fast" {
			t.Errorf("run() = %v", out.Run)
		}
		if len(out.History) != 4 || out.History[0]["trigger"] != "manual" || out.History[0]["ok"] != true {
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
		app.ReloadElement("tasks/Fast")
		before := calls("w.Fast")
		time.Sleep(2200 * time.Millisecond)
		synctest.Wait()
		if after := calls("w.Fast"); after != before {
			t.Errorf("a disabled task ran: %d → %d", before, after)
		}
		// enabled again with another schedule: it runs again
		write(t, dir, "tasks/Fast/e.json", task("w.Fast.work", `{"startTime": "2000-01-01 00:00:00", "cron": "@every 1s"}`, 1))
		app.ReloadElement("tasks/Fast")
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		if calls("w.Fast") != before+1 {
			t.Errorf("the re-enabled task ran %d times in 1.1 s", calls("w.Fast")-before)
		}
		// a deleted task stops
		os.RemoveAll(filepath.Join(dir, "tasks/Inner"))
		app.ReloadElement("tasks/Inner")
		n := obs.get("task_run tasks.Inner")
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if obs.get("task_run tasks.Inner") != n {
			t.Error("a deleted task still runs")
		}
	})
}

// closeInBubble closes an app in a synctest bubble, and lets the second pass in which
// BuntDB's background goroutine notices that its store is closed.
func closeInBubble(app *runtime.App) {
	app.Close()
	time.Sleep(1100 * time.Millisecond)
}

func TestTasksDoNotRunOutsideService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		workers.Clear()
		dir := t.TempDir()
		write(t, dir, "w/Fast/e.json", `{"type": "tasktest.Worker"}`)
		write(t, dir, "tasks/Fast/e.json", task("w.Fast.work", everySecond, 1))
		app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer closeInBubble(app)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if n := calls("w.Fast"); n != 0 {
			t.Fatalf("a task ran %d times in jitrt exec/ls/call", n)
		}
	})
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

// A due time claimed by a process that ended before running it (the claim written, no run
// recorded, the task's lock free) is run by the next process that starts, once: a restart
// after that finds it done.
func TestADueTimeClaimedAndNotRunIsRunOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		workers.Clear()
		dir, data := t.TempDir(), t.TempDir()
		write(t, dir, "w/Fast/e.json", `{"type": "tasktest.Worker"}`)
		write(t, dir, "tasks/Daily/e.json", task("w.Fast.work", `{"startTime": "2000-01-01 00:00:00", "cron": "@every 24h"}`, 1))
		app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: data})
		if err != nil {
			t.Fatal(err)
		}
		// as the process that died left it: the due time claimed, the one before it run
		if err := app.Store().Update(func(tx *kv.Tx) error {
			if err := tx.Set("el:tasks.Daily:due", "1999-12-31T00:00:00Z"); err != nil {
				return err
			}
			return tx.Set("el:tasks.Daily:duedone", "1999-12-30T00:00:00Z")
		}); err != nil {
			t.Fatal(err)
		}
		app.Close()
		for start := range 2 {
			app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: data, Service: true})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(11 * time.Second) // the fake clock: no time at all
			synctest.Wait()
			if n := calls("w.Fast"); n != 1 {
				t.Fatalf("start %d: the missed due time ran %d times, want once in all", start, n)
			}
			var due string
			app.Store().View(func(tx *kv.Tx) error {
				return tx.Scan("el:tasks.Daily:run:", func(_, v string) bool {
					if strings.Contains(v, `"due":"1999-12-31T00:00:00Z"`) {
						due = v
					}
					return true
				})
			})
			if due == "" {
				t.Fatalf("start %d: no run recorded for the missed due time", start)
			}
			closeInBubble(app)
		}
	})
}
