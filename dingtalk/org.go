package dingtalk

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// RootDeptID is the root department of every DingTalk org.
const RootDeptID = 1

// FetchOptions tune FetchOrg.
type FetchOptions struct {
	// Roots are the departments whose subtrees are fetched (default: the app's contacts
	// scope, auth/scopes' authed_dept, or the root when the scope cannot be read).
	Roots []int64
	// Progress, if set, is called as work is done: phase ("departments", "members"), items
	// done and items known so far.
	Progress func(phase string, done, total int)
	// OnDepartments and OnUsers, when OnUsers is set, receive the org as it is fetched: the
	// departments once (sorted by id), then the members a page at a time, each member once
	// (a member of several departments comes with the first), in no set order — OnUsers is
	// called from several goroutines at once. Org.Users then stays empty. An error from
	// either ends the fetch with it.
	OnDepartments func([]DepartmentDetail) error
	OnUsers       func([]User) error
}

// Org is a whole-org fetch.
type Org struct {
	Departments []DepartmentDetail // sorted by id
	Users       []User             // empty when FetchOptions.OnUsers took them
	Members     int                // members fetched
	Roots       []int64
}

// FetchOrg fetches the org (or the subtrees of Roots): the departments level by level
// (listsub for the children, department/get for each one's order and managers), then
// every department's members a page at a time (v2/user/list), with bounded concurrency
// and the per-API rate limit. It returns all of it or an error: never a partial org.
func (c *Client) FetchOrg(ctx context.Context, opts FetchOptions) (*Org, error) {
	roots := opts.Roots
	if len(roots) == 0 {
		roots = []int64{RootDeptID}
		if s, err := c.AuthScopes(ctx); err == nil && len(s.AuthedDept) > 0 {
			roots = s.AuthedDept
		} else if err != nil && ctx.Err() != nil {
			return nil, err
		}
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}
	depts, err := c.fetchDepartments(ctx, roots, progress)
	if err != nil {
		return nil, err
	}
	o := &Org{Departments: depts, Roots: slices.Clone(roots)}
	if opts.OnUsers != nil && opts.OnDepartments != nil {
		if err := opts.OnDepartments(depts); err != nil {
			return nil, err
		}
	}
	var (
		seen    sync.Map
		mu      sync.Mutex
		members atomic.Int64
		done    atomic.Int64
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	for _, d := range depts {
		g.Go(func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = c.recovered("fetch worker", r)
				}
			}()
			for cursor := int64(0); ; {
				page, err := c.ListUsers(gctx, d.DeptID, cursor, MaxPageSize)
				if err != nil {
					return fmt.Errorf("the members of department %d: %w", d.DeptID, err)
				}
				fresh := page.List[:0]
				for _, u := range page.List {
					if _, dup := seen.LoadOrStore(u.UserID, struct{}{}); !dup {
						fresh = append(fresh, u)
					}
				}
				members.Add(int64(len(fresh)))
				if len(fresh) > 0 {
					if opts.OnUsers != nil {
						if err := opts.OnUsers(fresh); err != nil {
							return err
						}
					} else {
						mu.Lock()
						o.Users = append(o.Users, fresh...)
						mu.Unlock()
					}
				}
				if !page.HasMore {
					break
				}
				if page.NextCursor <= cursor {
					return fmt.Errorf("%w: v2/user/list of department %d: next_cursor %d does not move past %d", ErrTransport, d.DeptID, page.NextCursor, cursor)
				}
				cursor = page.NextCursor
			}
			progress("members", int(done.Add(1)), len(depts))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	o.Members = int(members.Load())
	return o, nil
}

// fetchDepartments reads the subtrees of roots, a level at a time: each department's
// detail and its children. A department reached twice (overlapping roots) is read once.
func (c *Client) fetchDepartments(ctx context.Context, roots []int64, progress func(string, int, int)) ([]DepartmentDetail, error) {
	var (
		mu    sync.Mutex
		out   []DepartmentDetail
		known = map[int64]bool{}
	)
	level := []int64{}
	for _, r := range roots {
		if r > 0 && !known[r] { // an edu org's -1 is no department to walk
			known[r] = true
			level = append(level, r)
		}
	}
	for len(level) > 0 {
		var next []int64
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.cfg.Concurrency)
		for _, id := range level {
			g.Go(func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = c.recovered("fetch worker", r)
					}
				}()
				detail, err := c.GetDepartment(gctx, id)
				if err != nil {
					return fmt.Errorf("department %d: %w", id, err)
				}
				children, err := c.ListSubDepartments(gctx, id)
				if err != nil {
					return fmt.Errorf("the departments under %d: %w", id, err)
				}
				mu.Lock()
				defer mu.Unlock()
				detail.DeptID = id
				out = append(out, *detail)
				for _, ch := range children {
					if ch.DeptID > 0 && !known[ch.DeptID] {
						known[ch.DeptID] = true
						next = append(next, ch.DeptID)
					}
				}
				progress("departments", len(out), len(known))
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		slices.Sort(next)
		level = next
	}
	slices.SortFunc(out, func(a, b DepartmentDetail) int { return cmp.Compare(a.DeptID, b.DeptID) })
	return out, nil
}
