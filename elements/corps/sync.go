package corps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom"
)

// Sync brings the local org in step with WeCom. One real sync runs at a time per corp: a
// caller arriving while one runs (in this process or, with a shared store, in another)
// waits for it and gets its report. A dry run fetches and diffs but writes nothing.
func (c *Corp) Sync(ctx context.Context, dryRun bool) (*org.SyncReport, error) {
	if dryRun {
		return c.runSync(ctx, true, false)
	}
	// The sync runs to completion even if this caller gives up, so that the callers who
	// share it and the store see a whole sync; it is bounded by the caller's deadline, if
	// any. The callers of this process share it in the store's Lead.
	type outcome struct {
		report *org.SyncReport
		err    error
	}
	done := make(chan outcome, 1)
	// It lives under the corp's lifetime, not the caller's: Close (a reload, the app's end)
	// cancels it wherever it waits (WeCom, another replica's lock).
	runCtx, cancel := context.WithCancel(c.lifetime())
	if dl, ok := ctx.Deadline(); ok {
		runCtx, cancel = context.WithDeadline(runCtx, dl)
	}
	go func() {
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				done <- outcome{nil, c.el.App.Recovered(c.el.FullName+" sync", r)}
			}
		}()
		if h := hooks.Load(); h != nil && h.Sync != nil {
			h.Sync()
		}
		rep, err := c.leadSync(runCtx)
		done <- outcome{rep, err}
	}()
	select {
	case o := <-done:
		return o.report, o.err
	case <-ctx.Done():
		return nil, elements.Errorf(elements.CodeTimeout, "sync of %s: %v (the sync goes on in the background)", c.el.FullName, ctx.Err())
	}
}

// syncOutcome is a sync's report or error, as its leader publishes it to the callers of
// other processes.
type syncOutcome struct {
	Report *org.SyncReport `json:"report,omitempty"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// leadSync runs a sync as the corp's sync leader: where several processes share the store,
// one of them fetches and writes at a time, and a caller of another process that comes
// while it runs waits and shares its report (or error). A leader killed mid-sync wrote
// nothing (the write is one transaction), and the next caller runs the sync.
func (c *Corp) leadSync(ctx context.Context) (*org.SyncReport, error) {
	var rep *org.SyncReport
	var runErr error
	published, led, err := c.el.Store.Lead(ctx, c.syncLead(), func(ctx context.Context) (string, error) {
		rep, runErr = c.runSync(ctx, false, false)
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
		return org.MustJSON(out), nil
	})
	switch {
	case led && runErr != nil:
		return nil, runErr
	case led && err != nil:
		// the sync is done and written; only telling the other processes failed
		c.el.Logger.Warn("the sync's report could not be shared with the other processes", "err", err)
		return rep, nil
	case err != nil:
		return nil, fmt.Errorf("sync of %s: %w", c.el.FullName, err)
	case led:
		return rep, nil
	}
	var out syncOutcome
	if err := json.Unmarshal([]byte(published), &out); err != nil {
		return nil, fmt.Errorf("sync of %s: the leader's report: %w", c.el.FullName, err)
	}
	if out.Error != nil {
		return nil, &elements.Error{Code: out.Error.Code, Message: out.Error.Message}
	}
	if out.Report != nil && out.Report.Writes == 0 {
		c.dir.KeepReport(out.Report) // written nowhere: this process's history shows it too
	}
	return out.Report, nil
}

// syncLead is the name of the corp's sync among the processes that share the store.
func (c *Corp) syncLead() string { return "sync:" + c.el.FullName }

// runSync fetches, diffs and applies, and reports the sync to the app's metrics. init marks
// the org initialised.
func (c *Corp) runSync(ctx context.Context, dryRun, init bool) (rep *org.SyncReport, err error) {
	start := time.Now()
	if !dryRun && c.el.Observer != nil {
		defer func() { c.el.Observer.Observe("sync", c.el.FullName, time.Since(start), err) }()
	}
	if !dryRun {
		// WeCom's change events wait while the whole org is fetched and written: those that
		// come meanwhile apply after it, on top of what it wrote.
		c.applyMu.Lock()
		defer c.applyMu.Unlock()
	}
	rep, err = c.syncOnce(ctx, start, dryRun, init)
	return rep, err
}

func (c *Corp) syncOnce(ctx context.Context, start time.Time, dryRun, init bool) (*org.SyncReport, error) {
	rep := &org.SyncReport{Kind: "sync", DryRun: dryRun, StartedAt: start.UTC().Format(time.RFC3339Nano), Warnings: []string{}, Changes: []org.Change{}}
	client, err := c.wecomClient()
	if err != nil {
		return nil, err
	}
	// The local org is read while WeCom is fetched.
	pre := c.dir.Prefetch()
	// The members are made into record tails as their pages arrive, so that no sync holds
	// every fetched member: a page is garbage once read.
	var members []org.FetchedMember
	var pageMu sync.Mutex
	var known map[int64]bool
	var root int64
	invalid := 0
	wo, err := client.FetchOrg(ctx, wecom.FetchOptions{Scope: c.cfg.Scope, Progress: elements.ProgressFrom(ctx),
		OnDepartments: func(depts []wecom.Department) error {
			known, root = org.DeptContext(orgDepts(depts))
			members, invalid = members[:0], 0 // a fetch that starts over (on the id path)
			return nil
		},
		OnUsers: func(users []wecom.User) error { // on the fetch's goroutines, at once
			page := make([]org.FetchedMember, 0, len(users))
			bad := 0
			for i := range users {
				if !wecom.ValidUserID(users[i].UserID) {
					bad++ // no key of the org is ever made from such an id
					continue
				}
				page = append(page, fetchedMember(&users[i], known, root))
			}
			pageMu.Lock()
			members, invalid = append(members, page...), invalid+bad
			pageMu.Unlock()
			return nil
		}})
	if err != nil {
		pre.Discard()
		c.el.Logger.Error("sync failed: nothing was written", "corp", c.cfg.CorpID, "err", err)
		return nil, c.wecomErr("sync", err)
	}
	if invalid > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("WeCom sent %d member(s) whose userid is not a WeCom userid (%s); they were left out", invalid, wecom.UserIDRule))
	}
	if len(wo.Withheld) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("WeCom withholds %v from this app (apps created since 2022-06-20 do not get them); local values of those fields were kept", wo.Withheld))
	}
	err = c.dir.Commit(ctx, pre, fetched(wo, members), rep, org.CommitOptions{Start: start, DryRun: dryRun, Init: init, Events: c.recv != nil})
	if err != nil {
		return nil, err
	}
	if rep.Drift > 0 && !dryRun {
		elements.Count(c.el.Observer, "sync_drift", c.el.FullName, rep.Drift)
	}
	return rep, nil
}
