package org

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jitrt/jitrt/elements"
)

// # The sync engine
//
// A provider fetches the whole org from its platform (Provider); the engine does the rest
// for every platform: one real sync at a time for an org — the callers that arrive while
// one runs, in this process (the store's Lead shares its flight) or in another process of a
// shared store (Lead's leader publishes its report), wait and share its report or error —,
// the diff and its one-transaction write under the org's lock (Commit), dry runs, reports
// and history, the metrics, and the change events held off while a sync fetches and writes
// (HoldSyncs). A sync runs under the engine's lifetime, not its caller's: a caller that
// gives up does not cut it short for the others (its deadline bounds it), and the org's
// Close (cancelling the lifetime) does, whatever the platform or another replica is doing.

// Provider is the platform an org follows, as the sync engine asks it.
type Provider interface {
	// Fetch fetches the whole org into neutral records (streamed: a page is made into
	// record tails as it arrives), with what the fetch found worth a warning. Its error
	// carries the platform's code for the caller.
	Fetch(ctx context.Context) (*Fetched, []string, error)
}

// EngineConfig is what an Engine is made from.
type EngineConfig struct {
	Provider Provider
	// Events is the provider's change events (nil: it pushes none). With events, what a
	// sync still changes is what they missed (the report's Drift).
	Events EventSource
	// Scoped says the org follows part of the platform: an event does not pull in the
	// departments outside it.
	Scoped bool
	// BeforeApply, if set, runs before each event is applied; an error fails its batch
	// (the tests inject failures with it).
	BeforeApply func(*Event) error
	// Observer receives the sync's measurements (may be nil).
	Observer elements.Observer
}

// Engine syncs an org from its provider.
type Engine struct {
	dir  *Directory
	cfg  EngineConfig
	life context.Context
	// syncMu is held by a sync for all of it and by the change-event applier for each
	// batch (HoldSyncs).
	syncMu sync.Mutex
	// applyMu is held by the applier for each batch; under it, isolate, failHead and
	// failures find and set aside an event that keeps failing: after a batch fails, the
	// next isolate events go one at a time.
	applyMu  sync.Mutex
	isolate  int
	failHead string
	failures int
}

// NewEngine makes the org's sync engine; it does no I/O.
func (o *Directory) NewEngine(cfg EngineConfig) *Engine {
	return &Engine{dir: o, cfg: cfg, life: context.Background()}
}

// Start gives the engine its lifetime (cancelled when the org closes) and tells the store
// this process may lead the org's syncs (/metrics shows it does not, yet).
func (e *Engine) Start(life context.Context) {
	e.life = life
	e.dir.store.MayLead(e.leadName())
}

// leadName is the name of the org's sync among the processes that share the store.
func (e *Engine) leadName() string { return "sync:" + e.dir.name }

// HoldSyncs keeps syncs from starting until release is called (and waits for a running one
// to end): the change-event applier holds it for each batch, so that events apply between
// syncs, on top of what the last one wrote.
func (e *Engine) HoldSyncs() (release func()) {
	e.syncMu.Lock()
	return e.syncMu.Unlock
}

// Init makes the org initialised with a first sync (again: a sync).
func (e *Engine) Init(ctx context.Context) (*SyncReport, error) {
	if err := e.notInTransaction(ctx, "initCorp"); err != nil {
		return nil, err
	}
	return e.run(ctx, false, true)
}

// notInTransaction refuses what would wait for the org's own lock held by the caller's
// transaction (app.transaction of this corp): a sync, or the events applier, run on their
// own goroutines and take the lock after the syncs' turn, so they would wait for the
// transaction while it waits for them.
func (e *Engine) notInTransaction(ctx context.Context, what string) error {
	if e.dir.store.Holds(ctx, e.dir.keys.Lock()) {
		return elements.Errorf(elements.CodeFailedPrecondition, "%s of %s cannot run inside app.transaction(%q): run it before or after", what, e.dir.name, e.dir.name)
	}
	return nil
}

// Sync brings the org in step with its platform. A dry run fetches and diffs but writes
// nothing (and shares no one's run).
func (e *Engine) Sync(ctx context.Context, dryRun bool) (*SyncReport, error) {
	if err := e.notInTransaction(ctx, "a sync"); err != nil {
		return nil, err
	}
	if dryRun {
		return e.run(ctx, true, false)
	}
	type outcome struct {
		report *SyncReport
		err    error
	}
	done := make(chan outcome, 1)
	// The run keeps the caller's values (who called, which method: its audit record names
	// them) but not its end: a caller that stops waiting leaves the sync running, which
	// only the org's lifetime (or the caller's deadline) ends.
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(e.life, cancelRun)
	cancel := func() { stop(); cancelRun() }
	if dl, ok := ctx.Deadline(); ok {
		var cancelDeadline context.CancelFunc
		runCtx, cancelDeadline = context.WithDeadline(runCtx, dl)
		cancel = func() { cancelDeadline(); stop(); cancelRun() }
	}
	go func() {
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				done <- outcome{nil, recovered(e.dir, "sync", r)}
			}
		}()
		rep, err := e.lead(runCtx)
		done <- outcome{rep, err}
	}()
	select {
	case o := <-done:
		return o.report, o.err
	case <-ctx.Done():
		return nil, elements.Errorf(elements.CodeTimeout, "sync of %s: %v (the sync goes on in the background)", e.dir.name, ctx.Err())
	}
}

// syncOutcome is a sync's report or error, as its leader publishes it to the callers of
// other processes.
type syncOutcome struct {
	Report *SyncReport `json:"report,omitempty"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// lead runs a sync as the org's sync leader, or shares the leader's: a leader killed
// mid-sync wrote nothing (the write is one transaction), and the next caller runs it.
func (e *Engine) lead(ctx context.Context) (*SyncReport, error) {
	var rep *SyncReport
	var runErr error
	published, led, err := e.dir.store.Lead(ctx, e.leadName(), func(ctx context.Context) (string, error) {
		rep, runErr = e.run(ctx, false, false)
		if runErr != nil && ctx.Err() != nil {
			return "", runErr // this caller's time ran out: the waiters run it themselves
		}
		var out syncOutcome
		out.Report = rep
		if runErr != nil {
			code := elements.CodeInternal
			var ee *elements.Error
			if errors.As(runErr, &ee) {
				code = ee.Code
			}
			out.Error = &struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}{code, runErr.Error()}
		}
		return MustJSON(out), nil
	})
	switch {
	case led && runErr != nil:
		return nil, runErr
	case led && err != nil:
		// the sync is done and written; only telling the other processes failed
		e.dir.log.Warn("the sync's report could not be shared with the other processes", "err", err)
		return rep, nil
	case err != nil:
		return nil, fmt.Errorf("sync of %s: %w", e.dir.name, err)
	case led:
		return rep, nil
	}
	var out syncOutcome
	if err := json.Unmarshal([]byte(published), &out); err != nil {
		return nil, fmt.Errorf("sync of %s: the leader's report: %w", e.dir.name, err)
	}
	if out.Error != nil {
		return nil, &elements.Error{Code: out.Error.Code, Message: out.Error.Message}
	}
	if out.Report != nil && out.Report.Writes == 0 {
		e.dir.KeepReport(out.Report) // written nowhere: this process's history shows it too
	}
	return out.Report, nil
}

// run fetches, diffs and writes (or, dry, only reports), and measures the sync.
func (e *Engine) run(ctx context.Context, dryRun, init bool) (rep *SyncReport, err error) {
	start := time.Now()
	if !dryRun && e.cfg.Observer != nil {
		defer func() { e.cfg.Observer.Observe("sync", e.dir.name, time.Since(start), err) }()
	}
	if !dryRun {
		// change events wait while the whole org is fetched and written: those that come
		// meanwhile apply after it, on top of what it wrote
		release := e.HoldSyncs()
		defer release()
	}
	rep = &SyncReport{Kind: "sync", DryRun: dryRun, StartedAt: start.UTC().Format(time.RFC3339Nano), Warnings: []string{}, Changes: []Change{}}
	pre := e.dir.Prefetch() // the stored org is read while the platform is fetched
	fetched, warnings, err := e.cfg.Provider.Fetch(ctx)
	if err != nil {
		pre.Discard()
		// the caller gets the error and reports it (jitrt run logs it too, as an observer)
		e.dir.log.Debug("sync failed: nothing was written", "corp", e.dir.corpID, "err", err)
		return nil, err
	}
	rep.Warnings = append(rep.Warnings, warnings...)
	e.dir.log.Debug("sync fetched", "corp", e.dir.corpID, "members", len(fetched.Members), "took", time.Since(start))
	err = e.dir.Commit(ctx, pre, fetched, rep, CommitOptions{Start: start, DryRun: dryRun, Init: init, Events: e.cfg.Events != nil})
	if err != nil {
		return nil, err
	}
	if rep.Drift > 0 && !dryRun {
		elements.Count(e.cfg.Observer, "sync_drift", e.dir.name, rep.Drift)
	}
	return rep, nil
}
