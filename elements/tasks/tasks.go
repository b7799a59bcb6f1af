// Package tasks provides JitAi's scheduled task element, tasks.NormalType (Meta tasks.Meta):
// a timer that calls an element method (funcType Global) or the element's own inner.js
// (funcType Inner) on a schedule, never two runs at once.
package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
)

// The registered IDs.
const (
	MetaID = "tasks.Meta"
	TypeID = "tasks.NormalType"
)

// Limits of a run and of the history.
const (
	// GlobalRunTimeout bounds a Global run (a sync of a large org takes minutes on the id path).
	GlobalRunTimeout = time.Hour
	maxRuns          = 20
	innerModule      = "inner.js"
	innerExport      = "customFunc"
)

func init() {
	elements.RegisterMeta(MetaID, "scheduled tasks (定时任务)")
	elements.RegisterType(elements.Type{
		ID:         TypeID,
		Meta:       MetaID,
		Doc:        "a scheduled task: calls an element method or its inner.js customFunc on a timer",
		Definition: definition{},
		Validate:   func(el *elements.Element, r elements.Reporter) { parse(el, r.Errorf) },
		Scaffold: func(string) map[string]string {
			return map[string]string{innerModule: `// customFunc runs on the task's timer (funcType "Inner"). info is {fullName, title,
// trigger, time}; what it returns is kept in the task's run history (getRunHistory).
exports.customFunc = function (info) {
  console.log("task", info.fullName, "ran:", info.trigger, info.time);
  return {ok: true};
};
`}
		},
		CheckRefs: checkRefs,
		New:       newTask,
	})
}

// config is a task's e.json, parsed.
type config struct {
	enabled  bool
	funcType string
	element  string // Global: the element of func
	method   string // Global: the method of func
	sched    Schedule
}

// maxPeriod is the longest period of each repeat type: ten years of it.
var maxPeriod = map[string]int{"minute": 10 * 366 * 24 * 60, "hour": 10 * 366 * 24, "day": 10 * 366, "week": 10 * 53, "month": 10 * 12}

var funcPattern = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+)\.([A-Za-z_][A-Za-z0-9_]*)$`)

// definition is what a task's e.json holds besides title and type: the one description
// of its keys, from which the loader's checks and the JSON Schema are derived.
type definition struct {
	Enable   any      `json:"enable" jitrt:"kinds=number|boolean" doc:"1 to schedule the task, 0 to keep it off (true/false too)"`
	FuncType string   `json:"funcType" jitrt:"required,enum=Global|Inner" example:"Inner" doc:"Global: call func; Inner: call customFunc of inner.js"`
	Func     string   `json:"func" doc:"with Global: an element method, e.g. corps.DemoCorp.syncCorp"`
	TimerCfg timerCfg `json:"timerCfg" jitrt:"required" doc:"when the task runs: startTime, endTime, repeat {repeatType, period}, skipHoliday, holidays, cron"`
}

type timerCfg struct {
	StartTime   string     `json:"startTime" jitrt:"required" example:"2024-01-01 02:00:00" doc:"the first run, \"2024-01-01 02:00:00\" in the app's time zone"`
	EndTime     string     `json:"endTime" doc:"no run after this time"`
	Repeat      *repeatCfg `json:"repeat" doc:"run every period repeatTypes (default: once)"`
	SkipHoliday any        `json:"skipHoliday" jitrt:"kinds=number|boolean" doc:"1 to skip Saturdays, Sundays and the holidays"`
	Holidays    []string   `json:"holidays" doc:"dates to skip, \"2024-10-01\""`
	Cron        *string    `json:"cron" doc:"a cron expression (5 fields, or @every 10s, @hourly…) instead of repeat"`
}

type repeatCfg struct {
	RepeatType string `json:"repeatType" jitrt:"required,enum=once|minute|hour|day|week|month" doc:"the unit of period"`
	Period     int    `json:"period" jitrt:"min=1" doc:"how many repeatTypes between runs (default 1)"`
}

// parse reads a task's e.json; problems go to report with the key they are about.
func parse(el *elements.Element, report func(key, format string, args ...any)) config {
	var d definition
	elements.Decode(el.Definition, &d, report)
	loc := el.Location
	if loc == nil {
		loc = time.Local
	}
	c := config{enabled: true, funcType: d.FuncType, sched: Schedule{Loc: loc, Period: 1}}
	if on, ok := oneOrZero(d.Enable); !ok {
		report("enable", "enable must be 1 or 0, not %v", d.Enable)
	} else if d.Enable != nil {
		c.enabled = on
	}
	switch c.funcType {
	case "Global":
		m := funcPattern.FindStringSubmatch(d.Func)
		if m == nil {
			report("func", "func %q must name an element method, such as \"corps.DemoCorp.syncCorp\"", d.Func)
		} else {
			c.element, c.method = m[1], m[2]
		}
	case "Inner":
		if _, err := os.Stat(filepath.Join(el.Dir, innerModule)); err != nil {
			report("funcType", "funcType Inner runs %s/%s, which does not exist", filepath.Base(el.Dir), innerModule)
		}
	}
	cfg, s := d.TimerCfg, &c.sched
	if cfg.StartTime != "" {
		if t, err := parseTime(cfg.StartTime, loc); err != nil {
			report("timerCfg.startTime", "timerCfg.startTime: %v", err)
		} else {
			s.Start = t
		}
	}
	if cfg.EndTime != "" {
		if t, err := parseTime(cfg.EndTime, loc); err != nil {
			report("timerCfg.endTime", "timerCfg.endTime: %v", err)
		} else if !s.Start.IsZero() && t.Before(s.Start) {
			report("timerCfg.endTime", "timerCfg.endTime %s is before startTime", cfg.EndTime)
		} else {
			s.End = t
		}
	}
	if cfg.Cron != nil {
		if every, ok := strings.CutPrefix(strings.TrimSpace(*cfg.Cron), "@every "); ok {
			// counted from startTime, so that every process of the app has the same due times
			d, err := time.ParseDuration(strings.TrimSpace(every))
			switch {
			case err != nil:
				report("timerCfg.cron", "timerCfg.cron %q: %v (@every takes a duration such as 10s or 1h30m)", *cfg.Cron, err)
			case d < time.Second:
				report("timerCfg.cron", "timerCfg.cron %q: at most one run a second (@every 1s)", *cfg.Cron)
			default:
				s.Every = d
			}
		} else {
			sched, err := cronParser.Parse(*cfg.Cron)
			if err != nil {
				report("timerCfg.cron", "timerCfg.cron %q: %v (5 fields, or @every 10s, @hourly…)", *cfg.Cron, err)
			}
			s.Cron = sched
		}
	}
	switch {
	case s.Every > 0:
		s.RepeatType = "every" // cron replaces repeat
	case cfg.Repeat != nil:
		s.RepeatType = cfg.Repeat.RepeatType
		if p := cfg.Repeat.Period; p > 0 {
			if most := maxPeriod[s.RepeatType]; most > 0 && p > most {
				report("timerCfg.repeat.period", "timerCfg.repeat.period %v is more than ten years of %ss (at most %d)", p, s.RepeatType, most)
			} else {
				s.Period = p
			}
		}
	case s.Cron == nil:
		s.RepeatType = "once"
	}
	if on, ok := oneOrZero(cfg.SkipHoliday); !ok {
		report("timerCfg.skipHoliday", "timerCfg.skipHoliday must be 1 or 0, not %v", cfg.SkipHoliday)
	} else {
		s.SkipHoliday = on
	}
	if cfg.Holidays != nil {
		s.Holidays = map[string]bool{}
		for i, h := range cfg.Holidays {
			if _, err := time.Parse("2006-01-02", h); err != nil {
				report(fmt.Sprintf("timerCfg.holidays.%d", i), "timerCfg.holidays.%d must be a date like \"2024-10-01\", not %q", i, h)
				continue
			}
			s.Holidays[h] = true
		}
	}
	return c
}

// oneOrZero reads a flag written 1/0 (as JitAi does) or true/false; nil is false.
func oneOrZero(v any) (on, ok bool) {
	switch x := v.(type) {
	case nil:
		return false, true
	case bool:
		return x, true
	case float64:
		return x == 1, x == 0 || x == 1
	}
	return false, false
}

// checkRefs checks that a Global task's func names a method that exists and that a task may
// call (one its Type marks callable from outside the app's scripts).
func checkRefs(el *elements.Element, app elements.Refs, r elements.Reporter) {
	c := parse(el, func(string, string, ...any) {})
	if c.funcType != "Global" || c.element == "" {
		return
	}
	m, err := app.Method(c.element, c.method)
	switch {
	case err != nil:
		r.Errorf("func", "func %s.%s: %v", c.element, c.method, err)
	case !m.Callable:
		r.Errorf("func", "func %s.%s can only be called from the app's scripts, not by a task", c.element, c.method)
	}
}

// Task is an instance of tasks.NormalType.
type Task struct {
	el   *elements.Element
	cfg  config
	now  func() time.Time
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	running bool
}

// newTask parses the task; its timer starts in Start.
func newTask(el *elements.Element) (elements.Instance, error) {
	return &Task{el: el, cfg: parse(el, func(string, string, ...any) {}), now: time.Now,
		stop: make(chan struct{})}, nil
}

// Start starts the task's timer when the app runs as a service and the task is enabled.
func (t *Task) Start(context.Context) error {
	if t.el.Service && t.cfg.enabled {
		t.done = make(chan struct{})
		go t.loop()
	}
	return nil
}

// Close stops the timer. A run in progress finishes on its own.
func (t *Task) Close() error {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	if t.done != nil {
		<-t.done
	}
	return nil
}

// loop waits for each next run time and starts the run. A panic in it (a schedule that
// cannot be computed) stops the timer with an error in the log, never the process.
func (t *Task) loop() {
	defer close(t.done)
	defer func() {
		if r := recover(); r != nil {
			t.el.Logger.Error("the task's timer stopped", "err", t.el.App.Recovered(t.el.FullName+" timer", r))
		}
	}()
	log := t.el.Logger
	// a due time claimed by a process that died before running it: looked at once the app
	// is up (the task's function may be another element's) and that process's lock is gone
	recheck := time.AfterFunc(claimGrace, t.recoverMissed)
	defer recheck.Stop()
	for {
		next, ok := t.cfg.sched.Next(t.now())
		if !ok {
			log.Info("task has no more runs")
			return
		}
		log.Debug("task scheduled", "next", next.Format(time.RFC3339))
		timer := time.NewTimer(time.Until(next))
		select {
		case <-t.stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		if !t.begin() {
			log.Warn("task run skipped: the previous run is still going", "due", next.Format(time.RFC3339))
			t.el.Observer.Observe("task_skipped", t.el.FullName, 0, nil)
			continue
		}
		// the task's lock among the processes that share the store: a run still going in
		// another is a run still going
		unlock, free, err := t.el.Store.TryLock(context.Background(), t.lockName())
		if err == nil && !free {
			t.end()
			log.Warn("task run skipped: the previous run is still going in another process", "due", next.Format(time.RFC3339))
			t.el.Observer.Observe("task_skipped", t.el.FullName, 0, nil)
			continue
		}
		claimed := false
		if err == nil {
			if claimed, err = t.claim(next); err != nil || !claimed {
				unlock()
			}
		}
		if err != nil || !claimed {
			t.end()
			if err != nil {
				log.Error("task run not started: its due time could not be claimed", "due", next.Format(time.RFC3339), "err", err)
			} else {
				log.Debug("task due time run by another process", "due", next.Format(time.RFC3339))
				// if that process dies before running it, its lock goes: look again soon
				recheck.Reset(claimGrace)
			}
			continue
		}
		go t.runHeld(next, unlock)
	}
}

// runHeld runs the timer's run for due, holding the task's lock (let go after) and its
// running flag (begin); a panic in it is that run's error, never the process's end.
func (t *Task) runHeld(due time.Time, unlock func()) {
	defer t.end()
	defer unlock()
	defer func() {
		if r := recover(); r != nil {
			t.el.App.Recovered(t.el.FullName+" run", r)
		}
	}()
	t.runDue(context.Background(), "timer", due)
}

func (t *Task) begin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running {
		return false
	}
	t.running = true
	return true
}

func (t *Task) end() {
	t.mu.Lock()
	t.running = false
	t.mu.Unlock()
}

// runRec is one run kept in the task's history.
type runRec struct {
	Trigger    string `json:"trigger"`       // timer or manual
	Due        string `json:"due,omitempty"` // the due time a timer's run was for
	StartedAt  string `json:"startedAt"`
	FinishedAt string `json:"finishedAt"`
	DurationMs int64  `json:"durationMs"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	Result     any    `json:"result,omitempty"`
}

func (t *Task) runsPrefix() string { return "el:" + t.el.FullName + ":run:" }

// lockName is the task's lock, held for a run.
func (t *Task) lockName() string { return "task:" + t.el.FullName }

// dueKey holds the last due time a process of the app claimed.
func (t *Task) dueKey() string { return "el:" + t.el.FullName + ":due" }

// claim takes a due time for this process: where several processes share the store, each
// schedules the task and the first to claim a due time runs it, so that it runs once, and
// still runs while another process restarts. The claim is one transaction that reads the
// last due time claimed and writes this one if it is later.
func (t *Task) claim(due time.Time) (bool, error) {
	claimed := false
	err := t.el.Store.Update(func(tx *kv.Tx) error {
		if last, err := tx.Get(t.dueKey()); err == nil {
			if at, err := time.Parse(time.RFC3339Nano, last); err == nil && !at.Before(due) {
				return nil
			}
		}
		claimed = true
		return tx.Set(t.dueKey(), due.UTC().Format(time.RFC3339Nano))
	})
	return claimed, err
}

// claimGrace is how long after another process claimed a due time this one looks whether
// it ran it (its lock free and no run recorded for it: that process died first).
const claimGrace = 10 * time.Second

// recoverMissed runs the last due time claimed whose run was never recorded, if no run of
// the task goes on anywhere (its lock is free): the process that claimed it died between
// the claim and the run's record. The run is recorded for that due time, so it is run once.
func (t *Task) recoverMissed() {
	select {
	case <-t.stop:
		return
	default:
	}
	if !t.begin() {
		return
	}
	unlock, free, err := t.el.Store.TryLock(context.Background(), t.lockName())
	if err != nil || !free {
		t.end()
		return
	}
	due, missed := t.missedDue()
	if !missed {
		unlock()
		t.end()
		return
	}
	t.el.Logger.Warn("task due time claimed by a process that ended before running it: running it now", "due", due.Format(time.RFC3339))
	go t.runHeld(due, unlock)
}

// missedDue is the last due time claimed if no run is recorded for it.
func (t *Task) missedDue() (time.Time, bool) {
	var due time.Time
	missed := false
	t.el.Store.View(func(tx *kv.Tx) error {
		last, err := tx.Get(t.dueKey())
		if err != nil {
			return nil // never claimed
		}
		if due, err = time.Parse(time.RFC3339Nano, last); err != nil {
			return nil
		}
		if raw, err := tx.Get(t.doneKey()); err == nil {
			done, err := time.Parse(time.RFC3339Nano, raw)
			missed = err == nil && done.Before(due)
			return nil
		}
		// a state written before doneKey was kept: the history says, if it has timer runs
		want, timerRuns := formatDue(due), 0
		missed = true
		tx.ScanReverse(t.runsPrefix(), func(_, v string) bool {
			var r runRec
			if json.Unmarshal([]byte(v), &r) == nil && r.Due != "" {
				timerRuns++
				if r.Due == want {
					missed = false
					return false
				}
			}
			return true
		})
		missed = missed && timerRuns > 0
		return nil
	})
	return due, missed
}

// doneKey holds the last due time whose run was recorded.
func (t *Task) doneKey() string { return "el:" + t.el.FullName + ":duedone" }

// run calls the task's function once, records the run and measures it.
func (t *Task) run(ctx context.Context, trigger string) (any, error) {
	return t.runDue(ctx, trigger, time.Time{})
}

// runDue is run for the due time of a timer's run (zero for a manual one).
func (t *Task) runDue(ctx context.Context, trigger string, due time.Time) (any, error) {
	// what the run writes is the task's (a manual run's names who started it too)
	ctx = elements.WithTaskActor(ctx, t.el.FullName, trigger)
	start := time.Now()
	log := t.el.Logger
	var res any
	var err error
	switch t.cfg.funcType {
	case "Global":
		ctx, cancel := context.WithTimeout(ctx, GlobalRunTimeout)
		res, err = t.el.App.Call(ctx, t.cfg.element, t.cfg.method, elements.Args{})
		cancel()
	case "Inner":
		rel, _ := filepath.Rel(t.el.AppDir, filepath.Join(t.el.Dir, innerModule))
		res, err = t.el.App.CallScript(ctx, filepath.ToSlash(rel), innerExport, t.info(trigger))
	}
	took := time.Since(start)
	rec := runRec{Trigger: trigger, Due: formatDue(due), StartedAt: start.UTC().Format(time.RFC3339Nano), FinishedAt: time.Now().UTC().Format(time.RFC3339Nano),
		DurationMs: took.Milliseconds(), OK: err == nil, Result: small(res)}
	if err != nil {
		rec.Error = err.Error()
		log.Error("task run failed", "trigger", trigger, "took", took.Round(time.Millisecond), "err", err)
	} else {
		log.Info("task run done", "trigger", trigger, "took", took.Round(time.Millisecond))
	}
	t.el.Observer.Observe("task_run", t.el.FullName, took, err)
	if serr := t.record(start, rec); serr != nil {
		log.Warn("task run not recorded", "err", serr)
	}
	return res, err
}

func formatDue(due time.Time) string {
	if due.IsZero() {
		return ""
	}
	return due.UTC().Format(time.RFC3339Nano)
}

// small keeps a result in the history only if it is small.
func small(v any) any {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 2048 {
		return nil
	}
	return v
}

func (t *Task) record(at time.Time, rec runRec) error {
	b, _ := json.Marshal(rec)
	key := t.runsPrefix() + at.UTC().Format("20060102T150405.000000000Z")
	// The run and the trimming of the oldest are one transaction.
	return t.el.Store.Update(func(tx *kv.Tx) error {
		if err := tx.Set(key, string(b)); err != nil {
			return err
		}
		if rec.Due != "" {
			if err := tx.Set(t.doneKey(), rec.Due); err != nil {
				return err
			}
		}
		var keys []string
		tx.Scan(t.runsPrefix(), func(k, _ string) bool { keys = append(keys, k); return true })
		for len(keys) > maxRuns {
			if _, err := tx.Delete(keys[0]); err != nil {
				return err
			}
			keys = keys[1:]
		}
		return nil
	})
}

// runs returns the kept runs, newest first.
func (t *Task) runs() []any {
	out := []any{}
	t.el.Store.View(func(tx *kv.Tx) error {
		return tx.ScanReverse(t.runsPrefix(), func(_, v string) bool {
			var r any
			if json.Unmarshal([]byte(v), &r) == nil {
				out = append(out, r)
			}
			return true
		})
	})
	return out
}

// info is what customFunc of inner.js receives.
func (t *Task) info(trigger string) map[string]any {
	return map[string]any{"fullName": t.el.FullName, "title": t.el.Title, "trigger": trigger, "time": time.Now().In(t.cfg.sched.Loc).Format(time.RFC3339)}
}

// NextTime is the next run, or false when none is left (or the task is disabled).
func (t *Task) NextTime() (time.Time, bool) {
	if !t.cfg.enabled {
		return time.Time{}, false
	}
	return t.cfg.sched.Next(t.now())
}

func (t *Task) nextTimeValue() any {
	if n, ok := t.NextTime(); ok {
		return n.Format(time.RFC3339)
	}
	return nil
}

// Methods lists the task's methods.
func (t *Task) Methods() []elements.Method {
	return []elements.Method{
		{Name: "nextTime", Callable: true, Doc: "the next run as an ISO time, or null when none is left",
			Call: func(context.Context, elements.Args) (any, error) { return t.nextTimeValue(), nil }},
		{Name: "run", Callable: true, Doc: "run the task now and return its result",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				if !t.begin() {
					return nil, &elements.Error{Code: elements.CodeFailedPrecondition, Message: fmt.Sprintf("task %s is already running", t.el.FullName)}
				}
				defer t.end()
				unlock, free, err := t.el.Store.TryLock(ctx, t.lockName())
				if err != nil {
					return nil, fmt.Errorf("task %s: %w", t.el.FullName, err)
				}
				if !free {
					return nil, &elements.Error{Code: elements.CodeFailedPrecondition, Message: fmt.Sprintf("task %s is already running in another process", t.el.FullName)}
				}
				defer unlock()
				res, err := t.run(ctx, "manual")
				if err != nil {
					var ee *elements.Error
					if errors.As(err, &ee) {
						return nil, err
					}
					return nil, fmt.Errorf("task %s: %w", t.el.FullName, err)
				}
				return res, nil
			}},
		{Name: "getRunHistory", Callable: true, Doc: "the last runs, newest first",
			Call: func(context.Context, elements.Args) (any, error) { return t.runs(), nil }},
	}
}

// Properties lists the task's properties.
func (t *Task) Properties() []elements.Property {
	return []elements.Property{
		{Name: "enable", Get: func() any { return t.cfg.enabled }},
		{Name: "funcType", Get: func() any { return t.cfg.funcType }},
		{Name: "func", Get: func() any {
			if t.cfg.funcType == "Global" {
				return t.cfg.element + "." + t.cfg.method
			}
			return nil
		}},
		{Name: "running", Get: func() any { t.mu.Lock(); defer t.mu.Unlock(); return t.running }},
	}
}

// Describe is the task's part of its element's status (jitrt ls, the HTTP API).
func (t *Task) Describe() map[string]any {
	d := map[string]any{"enable": t.cfg.enabled, "nextTime": t.nextTimeValue(), "scheduled": t.el.Service && t.cfg.enabled}
	if runs := t.runs(); len(runs) > 0 {
		d["lastRuns"] = runs[:min(len(runs), 5)]
	}
	return d
}
