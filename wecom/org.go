package wecom

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Fetch paths.
const (
	PathDetail = "detail" // department/list + user/list per department
	PathID     = "id"     // department/simplelist + department/get, user/list_id or user/simplelist, user/get
)

// FetchOptions tune FetchOrg.
type FetchOptions struct {
	// Scope limits the fetch to these departments and their subtrees (all when empty).
	Scope []int64
	// Path forces a fetch path; empty chooses: detail, or id once WeCom refused detail with
	// 48009 (remembered for the corp).
	Path string
	// Progress, if set, is called as work is done: phase ("departments", "members", "tags"),
	// items done and items known so far. While WeCom's call limit holds the fetch's calls
	// back (for a second or more), the phase ends with PacedNote, and is reported as soon
	// as the wait starts, not only as items are done.
	Progress func(phase string, done, total int)
	// OnDepartments and OnUsers, when OnUsers is set, receive the org as it is fetched: the
	// departments once (sorted by id), then the members a page at a time, each member once,
	// in no set order — OnUsers is called from several goroutines at once. Org.Users then
	// stays empty (Org.Members counts them): a sync of a large org never holds every member
	// at once. An error from either ends the fetch with it.
	OnDepartments func([]Department) error
	OnUsers       func([]User) error
	// ExpectedMembers, if known (the count of the org as last stored), sizes the set that
	// hands each member on once: a million members grown into it rehashed it again and again.
	ExpectedMembers int
}

// FetchOrg fetches the whole organisation (or the scoped subtrees) with bounded concurrency.
// It either returns all of it or an error: a partial org is never returned.
func (c *Client) FetchOrg(ctx context.Context, opts FetchOptions) (*Org, error) {
	path := opts.Path
	if path == "" {
		path = c.rememberedPath(ctx)
	}
	if path == PathDetail || path == "" {
		org, err := c.fetchDetail(ctx, opts)
		if err == nil {
			c.rememberPath(ctx, PathDetail)
			return org, nil
		}
		if CodeOf(err) != CodeAPIForbiddenIP || opts.Path == PathDetail {
			return nil, err
		}
		c.log.Info("wecom refused the detail endpoints (48009); fetching through the id endpoints", "corp", c.cfg.CorpID)
	}
	org, err := c.fetchByID(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.rememberPath(ctx, PathID)
	return org, nil
}

// Path reports the fetch path that last worked for this corp ("" before any fetch).
func (c *Client) Path() string {
	c.pathMu.Lock()
	defer c.pathMu.Unlock()
	return c.path
}

func (c *Client) pathKey() string { return "wecom:path:" + c.cfg.CorpID }

func (c *Client) rememberedPath(ctx context.Context) string {
	c.pathMu.Lock()
	defer c.pathMu.Unlock()
	if c.path == "" && c.cfg.Store != nil {
		if v, ok, err := c.cfg.Store.Load(ctx, c.pathKey()); err == nil && ok && (v == PathDetail || v == PathID) {
			c.path = v
		}
	}
	return c.path
}

func (c *Client) rememberPath(ctx context.Context, p string) {
	c.pathMu.Lock()
	changed := c.path != p
	c.path = p
	c.pathMu.Unlock()
	if changed && c.cfg.Store != nil {
		if err := c.cfg.Store.Save(ctx, c.pathKey(), p, 30*24*time.Hour); err != nil {
			c.log.Warn("wecom fetch path not saved", "err", err)
		}
	}
}

// PacedNote ends a progress phase while the call limit holds the fetch back: a fetch of
// more departments than the minute's calls allows (50,000 at 9,500 calls a minute take
// over five minutes) spends most of its time waiting, and says so.
const PacedNote = ", waiting for WeCom's call limit"

// pacedAfter is how long a call waits for the call limit before the progress says so.
const pacedAfter = time.Second

// progress counts work for FetchOptions.Progress.
type progress struct {
	fn    func(string, int, int)
	phase string
	done  atomic.Int64
	total int
	paced atomic.Int32 // calls waiting for the limit longer than pacedAfter
}

func (o FetchOptions) start(phase string, total int) *progress {
	p := &progress{fn: o.Progress, phase: phase, total: total}
	if p.fn != nil {
		p.fn(phase, 0, total)
	}
	return p
}

func (p *progress) step() {
	n := p.done.Add(1)
	p.report(int(n))
}

func (p *progress) report(done int) {
	if p.fn == nil {
		return
	}
	phase := p.phase
	if p.paced.Load() > 0 {
		phase += PacedNote
	}
	p.fn(phase, done, p.total)
}

type progressKey struct{}

// waitForLimit waits for the call limit to admit a call of endpoint (and for a block
// WeCom set on it with 45009 to pass); when ctx carries a fetch's progress and the wait
// lasts, the progress says the limit paces the fetch.
func (c *Client) waitForLimit(ctx context.Context, endpoint string) error {
	p, _ := ctx.Value(progressKey{}).(*progress)
	if p == nil || p.fn == nil {
		return c.waitAdmitted(ctx, endpoint)
	}
	long := time.AfterFunc(pacedAfter, func() {
		if p.paced.Add(1) == 1 {
			p.report(int(p.done.Load()))
		}
	})
	err := c.waitAdmitted(ctx, endpoint)
	if !long.Stop() {
		p.paced.Add(-1) // the next item done reports the phase without the note
	}
	return err
}

func (c *Client) waitAdmitted(ctx context.Context, endpoint string) error {
	if d := c.blockLeft(endpoint); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return c.limiter.Wait(ctx, endpoint)
}

// block notes that WeCom answered 45009 for endpoint: it refuses the API for
// RateLimitBlock from the first such answer (later ones within it do not extend it). It
// returns how long is left.
func (c *Client) block(endpoint string) time.Duration {
	c.blockMu.Lock()
	defer c.blockMu.Unlock()
	now := time.Now()
	until, ok := c.blocked[endpoint]
	if !ok || !now.Before(until) {
		until = now.Add(c.cfg.RateLimitBlock)
		c.blocked[endpoint] = until
		c.log.Info("wecom refused an API with 45009 (its call limit passed): its calls wait until WeCom's block ends",
			"corp", c.cfg.CorpID, "endpoint", endpoint, "wait", c.cfg.RateLimitBlock)
	}
	return until.Sub(now)
}

// blockLeft is how long WeCom's block of endpoint lasts yet (0: none).
func (c *Client) blockLeft(endpoint string) time.Duration {
	c.blockMu.Lock()
	defer c.blockMu.Unlock()
	until, ok := c.blocked[endpoint]
	if !ok {
		return 0
	}
	left := time.Until(until)
	if left <= 0 {
		delete(c.blocked, endpoint)
		return 0
	}
	return left
}

// roots are the departments a fetch starts from: the scope, or the whole tree (0).
func roots(opts FetchOptions) []int64 {
	if len(opts.Scope) == 0 {
		return []int64{0}
	}
	return opts.Scope
}

// fanOut calls fetch for every item, c.cfg.Concurrency at a time, reporting progress as
// phase, and hands each result to keep, under a lock, so keep may fill shared maps. The
// first error stops the rest and is returned.
func fanOut[T, R any](ctx context.Context, c *Client, opts FetchOptions, phase string, items []T,
	fetch func(context.Context, T) (R, error), keep func(i int, item T, r R)) error {
	prog := opts.start(phase, len(items))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(context.WithValue(ctx, progressKey{}, prog))
	g.SetLimit(c.cfg.Concurrency)
	for i, it := range items {
		g.Go(func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = c.recovered("fetch "+phase, r)
				}
			}()
			if h := testHookFetchWorker; h != nil {
				h()
			}
			r, err := fetch(gctx, it)
			if err != nil {
				return err
			}
			mu.Lock()
			keep(i, it, r)
			mu.Unlock()
			prog.step()
			return nil
		})
	}
	return g.Wait()
}

func (c *Client) fetchDetail(ctx context.Context, opts FetchOptions) (*Org, error) {
	depts := map[int64]Department{}
	for _, root := range roots(opts) {
		list, err := c.ListDepartments(ctx, root)
		if err != nil {
			return nil, err
		}
		for _, d := range list {
			depts[d.ID] = d
		}
	}
	users := newUserSet(opts.OnUsers, opts.ExpectedMembers)
	if err := opts.departments(depts); err != nil {
		return nil, err
	}
	// Each page is decoded into a buffer a worker used before, all zero again once the page
	// was handed on, rather than into a slice the decoder grows a member at a time: at a
	// million members that growth was a GiB allocated and moved.
	// (A channel, not a sync.Pool: a pool drops what it holds at every collection, and a
	// large sync collects often.)
	buffers := make(chan *[]User, c.cfg.Concurrency) // all zero up to their capacity
	err := fanOut(ctx, c, opts, "members", slices.Sorted(maps.Keys(depts)),
		func(ctx context.Context, id int64) ([]User, error) {
			var buf *[]User
			select {
			case buf = <-buffers:
			default:
				buf = new([]User)
			}
			list, err := c.listUsersInto(ctx, id, *buf)
			if err != nil {
				return nil, fmt.Errorf("members of department %d: %w", id, err) // the buffer, maybe written, is dropped
			}
			users.addPage(list)
			clear(list) // every member the decoder wrote: the buffer is all zero again
			*buf = list[:0]
			select {
			case buffers <- buf:
			default:
			}
			return nil, nil
		},
		func(_ int, _ int64, list []User) {})
	if err != nil {
		return nil, err
	}
	return c.finish(ctx, opts, PathDetail, depts, users)
}

func (c *Client) fetchByID(ctx context.Context, opts FetchOptions) (*Org, error) {
	inScope := map[int64]bool{}
	for _, root := range roots(opts) {
		list, err := c.SimpleListDepartments(ctx, root)
		if err != nil {
			return nil, err
		}
		for _, r := range list {
			inScope[r.ID] = true
		}
	}
	ids := slices.Sorted(maps.Keys(inScope))

	// Departments: department/get each.
	depts := make(map[int64]Department, len(ids))
	err := fanOut(ctx, c, opts, "departments", ids,
		func(ctx context.Context, id int64) (*Department, error) {
			d, err := c.GetDepartment(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("department %d: %w", id, err)
			}
			return d, nil
		},
		func(_ int, id int64, d *Department) { depts[id] = *d })
	if err != nil {
		return nil, err
	}

	// Member ids: user/list_id with the contact-sync secret, else user/simplelist per department.
	userIDs := map[string]bool{}
	if c.contact != nil {
		rows, err := c.ListAllUserIDs(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if inScope[r.Department] {
				userIDs[r.UserID] = true
			}
		}
	} else {
		err := fanOut(ctx, c, opts, "member ids", ids,
			func(ctx context.Context, id int64) ([]SimpleUser, error) {
				list, err := c.SimpleListUsers(ctx, id)
				if err != nil {
					return nil, fmt.Errorf("members of department %d: %w", id, err)
				}
				return list, nil
			},
			func(_ int, _ int64, list []SimpleUser) {
				for _, u := range list {
					userIDs[u.UserID] = true
				}
			})
		if err != nil {
			return nil, err
		}
	}

	// Members: user/get each.
	users := newUserSet(opts.OnUsers, opts.ExpectedMembers)
	if err := opts.departments(depts); err != nil {
		return nil, err
	}
	err = fanOut(ctx, c, opts, "members", slices.Sorted(maps.Keys(userIDs)),
		func(ctx context.Context, uid string) (*User, error) {
			u, err := c.GetUser(ctx, uid)
			if CodeOf(err) == CodeUserNotFound {
				return nil, nil // left between the id listing and now: not a member any more
			}
			if err != nil {
				return nil, fmt.Errorf("member %q: %w", uid, err)
			}
			users.addPage([]User{*u})
			return u, nil
		},
		func(_ int, uid string, u *User) {})
	if err != nil {
		return nil, err
	}
	return c.finish(ctx, opts, PathID, depts, users)
}

// finish fetches the tags and assembles the org in its canonical order.
func (c *Client) finish(ctx context.Context, opts FetchOptions, path string, depts map[int64]Department, users *userSet) (*Org, error) {
	if users.err != nil {
		return nil, users.err
	}
	org := &Org{Path: path, Departments: make([]Department, 0, len(depts)), Users: users.sorted(), Members: users.n}
	for _, id := range slices.Sorted(maps.Keys(depts)) {
		org.Departments = append(org.Departments, depts[id])
	}
	tags, err := c.ListTags(ctx)
	if err != nil {
		return nil, err
	}
	org.Tags = make([]TagDetail, len(tags))
	err = fanOut(ctx, c, opts, "tags", tags,
		func(ctx context.Context, t Tag) (*TagDetail, error) {
			d, err := c.GetTag(ctx, t.TagID)
			if err != nil {
				return nil, fmt.Errorf("tag %d: %w", t.TagID, err)
			}
			if d.TagName == "" {
				d.TagName = t.TagName
			}
			return d, nil
		},
		func(i int, _ Tag, d *TagDetail) { org.Tags[i] = *d })
	if err != nil {
		return nil, err
	}
	Canonicalize(org)
	MarkWithheld(org)
	org.Withheld = users.withheld()
	if len(org.Departments) == 0 {
		return nil, errors.New("wecom: the fetch returned no departments: the app's visible range is empty or the scope names no department")
	}
	return org, nil
}

// userSet gathers the members of a fetch, each once (a member is on the page of each of its
// departments). It copies a member from its page as it comes, so that no page outlives its
// decoding: a User is large, and 100,000 of them twice over are hundreds of MiB. With a
// consumer (FetchOptions.OnUsers) it hands the members on instead of keeping them, from the
// goroutine that fetched their page, so that the consumer's work runs on every core.
type userSet struct {
	on func([]User) error

	mu      sync.Mutex
	list    []User
	seen    map[string]struct{}
	err     error // the first error of on
	n       int
	carried map[string]bool // the sensitive fields some member carries
}

func newUserSet(on func([]User) error, expected int) *userSet {
	return &userSet{seen: make(map[string]struct{}, max(expected, 0)), on: on, carried: map[string]bool{}}
}

// addPage adds a page's members not seen before and hands them to the consumer. The page
// is the call's: with a consumer, its fresh members are moved to its front and handed on in
// it, not copied (a User is large: a million of them copied are half a GiB moved).
func (s *userSet) addPage(page []User) {
	s.mu.Lock()
	fresh := 0
	for i := range page {
		u := &page[i]
		n := len(s.seen)
		if s.seen[u.UserID] = struct{}{}; len(s.seen) == n {
			continue // seen on another department's page: one hash, not a look-up and an insert
		}
		s.n++
		if len(s.carried) < len(SensitiveFields) {
			for _, f := range carriedFields(u) {
				s.carried[f] = true
			}
		}
		if s.on == nil {
			s.list = append(s.list, *u)
			continue
		}
		if fresh != i {
			page[fresh] = *u
		}
		fresh++
	}
	s.mu.Unlock()
	if s.on == nil || fresh == 0 {
		return
	}
	if err := s.on(page[:fresh]); err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
}

// withheld is what withheldFields says of the members added.
func (s *userSet) withheld() []string {
	if s.n == 0 {
		return nil
	}
	var out []string
	for _, f := range SensitiveFields {
		if !s.carried[f] {
			out = append(out, f)
		}
	}
	return out
}

// sorted returns the members by userid, sorted in place by moving each once.
func (s *userSet) sorted() []User {
	order := make([]int, len(s.list))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return s.list[order[a]].UserID < s.list[order[b]].UserID })
	// Apply the permutation: position i takes the member at order[i], cycle by cycle.
	for i := range order {
		if order[i] == i || order[i] < 0 {
			continue
		}
		tmp := s.list[i]
		j := i
		for {
			k := order[j]
			order[j] = -1
			if k == i {
				s.list[j] = tmp
				break
			}
			s.list[j] = s.list[k]
			j = k
		}
	}
	out := s.list
	s.list, s.seen = nil, nil
	return out
}

// departments hands the departments, sorted, to the consumer of a streamed fetch.
func (o FetchOptions) departments(depts map[int64]Department) error {
	if o.OnUsers == nil || o.OnDepartments == nil {
		return nil
	}
	list := make([]Department, 0, len(depts))
	for _, id := range slices.Sorted(maps.Keys(depts)) {
		list = append(list, depts[id])
	}
	return o.OnDepartments(list)
}

// Canonicalize sorts an org into the order FetchOrg returns: departments by id, members by
// userid, tags by id with their members by userid and departments by id.
func Canonicalize(org *Org) {
	sort.Slice(org.Departments, func(i, j int) bool { return org.Departments[i].ID < org.Departments[j].ID })
	sort.Slice(org.Users, func(i, j int) bool { return org.Users[i].UserID < org.Users[j].UserID })
	sort.Slice(org.Tags, func(i, j int) bool { return org.Tags[i].TagID < org.Tags[j].TagID })
	for i := range org.Tags {
		t := &org.Tags[i]
		sort.Slice(t.UserList, func(a, b int) bool { return t.UserList[a].UserID < t.UserList[b].UserID })
		slices.Sort(t.PartyList)
	}
}

// MarkWithheld sets org.Withheld, and each member's Withheld, to the sensitive fields no
// member carries.
func MarkWithheld(org *Org) {
	org.Withheld = withheldFields(org.Users)
	for i := range org.Users {
		org.Users[i].Withheld = org.Withheld
	}
}

// withheldFields returns the sensitive fields that no member carries: WeCom withholds them
// from apps created since 2022-06-20 (an org where every member lacks a field tells that
// apart from members who merely left it blank).
func withheldFields(users []User) []string {
	s := newUserSet(nil, len(users))
	s.addPage(users)
	return s.withheld()
}

// carriedFields are the sensitive fields a member has a value for.
func carriedFields(u *User) []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"mobile", u.Mobile != ""}, {"email", u.Email != ""}, {"biz_mail", u.BizMail != ""},
		{"avatar", u.Avatar != ""}, {"thumb_avatar", u.ThumbAvatar != ""},
		{"gender", u.Gender == "1" || u.Gender == "2"}, {"qr_code", u.QRCode != ""}, {"address", u.Address != ""},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}
