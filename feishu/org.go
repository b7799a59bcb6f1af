package feishu

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// FetchOptions tune FetchOrg.
type FetchOptions struct {
	// Roots are the departments (open_department_id) whose subtrees are fetched (default:
	// the whole tenant from "0").
	Roots []string
	// Progress, if set, is called as work is done: phase ("departments", "members").
	Progress func(phase string, done, total int)
	// OnDepartments and OnUsers, when OnUsers is set, receive the org as it is fetched:
	// the departments once (the root first), then the members a page at a time, each
	// once, from several goroutines at once. An error from either ends the fetch.
	OnDepartments func([]Department) error
	OnUsers       func([]User) error
}

// Org is a whole-org fetch.
type Org struct {
	Departments []Department // the roots first, then level by level
	Users       []User       // empty when FetchOptions.OnUsers took them
	Members     int
}

// FetchOrg fetches the tenant's org (or the subtrees of Roots): the departments a level at
// a time (children, paged), then every department's direct members (find_by_department,
// paged), with bounded concurrency and the per-API limit. All of it, or an error.
func (c *Client) FetchOrg(ctx context.Context, opts FetchOptions) (*Org, error) {
	roots := opts.Roots
	if len(roots) == 0 {
		roots = []string{RootDepartmentID}
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}
	depts, err := c.fetchDepartments(ctx, roots, progress)
	if err != nil {
		return nil, err
	}
	o := &Org{Departments: depts}
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
			for token := ""; ; {
				page, err := c.FindByDepartment(gctx, d.OpenDepartmentID, token)
				if err != nil {
					return fmt.Errorf("the members of department %s: %w", d.OpenDepartmentID, err)
				}
				fresh := page.Items[:0]
				for _, u := range page.Items {
					key := u.UserID
					if key == "" {
						key = "open:" + u.OpenID
					}
					if _, dup := seen.LoadOrStore(key, struct{}{}); !dup {
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
				if page.PageToken == "" || page.PageToken == token {
					return fmt.Errorf("%w: find_by_department of %s: has_more without a new page_token", ErrTransport, d.OpenDepartmentID)
				}
				token = page.PageToken
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

// fetchDepartments reads the roots (department get; the root "0" as Feishu names it) and
// their subtrees a level at a time (children, every page).
func (c *Client) fetchDepartments(ctx context.Context, roots []string, progress func(string, int, int)) ([]Department, error) {
	var (
		mu    sync.Mutex
		out   []Department
		known = map[string]bool{}
	)
	for _, r := range roots {
		if known[r] {
			continue
		}
		known[r] = true
		d, err := c.GetDepartment(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("department %s: %w", r, err)
		}
		if r == RootDepartmentID {
			d.OpenDepartmentID, d.ParentDepartmentID = RootDepartmentID, ""
		}
		out = append(out, *d)
	}
	level := slices.Clone(roots)
	for len(level) > 0 {
		var next []string
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.cfg.Concurrency)
		for _, id := range level {
			g.Go(func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = c.recovered("fetch worker", r)
					}
				}()
				for token := ""; ; {
					page, err := c.ListChildren(gctx, id, token)
					if err != nil {
						return fmt.Errorf("the departments under %s: %w", id, err)
					}
					mu.Lock()
					for _, ch := range page.Items {
						if ch.OpenDepartmentID != "" && !known[ch.OpenDepartmentID] && (ch.Status == nil || !ch.Status.IsDeleted) {
							known[ch.OpenDepartmentID] = true
							if ch.ParentDepartmentID == "" {
								ch.ParentDepartmentID = id
							}
							out = append(out, ch)
							next = append(next, ch.OpenDepartmentID)
						}
					}
					progress("departments", len(out), len(known))
					mu.Unlock()
					if !page.HasMore {
						return nil
					}
					if page.PageToken == "" || page.PageToken == token {
						return fmt.Errorf("%w: children of %s: has_more without a new page_token", ErrTransport, id)
					}
					token = page.PageToken
				}
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		slices.SortFunc(next, strings.Compare)
		level = next
	}
	return out, nil
}
