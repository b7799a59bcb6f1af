package corps

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom"
)

// Sync brings the local org in step with WeCom (org.Org): the org's sync engine runs it,
// with WeCom as its provider (Fetch). One real sync runs at a time per corp: a caller
// arriving while one runs (in this process or, with a shared store, in another) waits for
// it and gets its report. A dry run fetches and diffs but writes nothing.
func (c *Corp) Sync(ctx context.Context, dryRun bool) (*org.SyncReport, error) {
	return c.engine.Sync(ctx, dryRun)
}

// Fetch fetches the whole WeCom org as the org's neutral records (org.Provider): the
// members are made into record tails as their pages arrive, so that no sync holds every
// fetched member: a page is garbage once read.
func (c *Corp) Fetch(ctx context.Context) (*org.Fetched, []string, error) {
	if h := hooks.Load(); h != nil && h.Sync != nil {
		h.Sync()
	}
	client, err := c.wecomClient()
	if err != nil {
		return nil, nil, err
	}
	// the pages' members, joined once the fetch ends: one slice grown a page at a time to
	// a million members moved 2 of a first sync's 15 CPU-seconds (it holds pointers: every
	// move under the collector's write barrier)
	var pages [][]org.FetchedMember
	var pageMu sync.Mutex
	var known map[int64]bool
	var root int64
	invalid := 0
	wo, err := client.FetchOrg(ctx, wecom.FetchOptions{Scope: c.cfg.Scope, Progress: elements.ProgressFrom(ctx), ExpectedMembers: c.dir.MemberEstimate(),
		OnDepartments: func(depts []wecom.Department) error {
			known, root = org.DeptContext(orgDepts(depts))
			pages, invalid = pages[:0], 0 // a fetch that starts over (on the id path)
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
			pages, invalid = append(pages, page), invalid+bad
			pageMu.Unlock()
			return nil
		}})
	if err != nil {
		return nil, nil, c.wecomErr("sync", err)
	}
	var warnings []string
	if invalid > 0 {
		warnings = append(warnings, fmt.Sprintf("WeCom sent %d member(s) whose userid is not a WeCom userid (%s); they were left out", invalid, wecom.UserIDRule))
	}
	if len(wo.Withheld) > 0 {
		warnings = append(warnings, fmt.Sprintf("WeCom withholds %v from this app (apps created since 2022-06-20 do not get them); local values of those fields were kept", wo.Withheld))
	}
	return fetched(wo, slices.Concat(pages...)), warnings, nil
}
