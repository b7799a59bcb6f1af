package console

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/runtime"
)

// page is what every page template gets.
type page struct {
	Title  string
	Crumbs []crumb
	CSRF   string
	Viewer string
	Data   any
}

type crumb struct{ Label, Href string }

func (v *view) page(title string, data any, crumbs ...crumb) page {
	return page{Title: title, Crumbs: append([]crumb{{"Console", Prefix}}, crumbs...), CSRF: v.csrf, Viewer: v.r.Viewer, Data: data}
}

func corpHref(corp string) string { return Prefix + "/corps/" + url.PathEscape(corp) }

// ---- home

type homeData struct {
	Elements []runtime.Status
	Corps    []corpSummary
	Tasks    []taskSummary
	// Drift names the other replicas on the database whose app folder differs from this
	// one's (they run other elements, tasks or settings).
	Drift []kv.Peer
}

type corpSummary struct {
	FullName, Title, Href string
	Info                  corpInfo
	Root                  deptNode
	Departments           int // the org's, all of them
	Err                   string
}

type corpInfo struct {
	CorpID    string `json:"corpId"`
	AgentID   string `json:"agentId"`
	Simulated bool   `json:"simulated"`
	Title     string `json:"title"`
	Roles     []struct {
		RoleID string `json:"roleId"`
		Name   string `json:"name"`
	} `json:"roles"`
}

type taskSummary struct {
	FullName, Title, Href string
	Detail                map[string]any
	Last                  *taskRun
}

type taskRun struct {
	Trigger    string `json:"trigger"`
	StartedAt  string `json:"startedAt"`
	DurationMs int64  `json:"durationMs"`
	OK         bool   `json:"ok"`
	Error      string `json:"error"`
}

func (v *view) statuses() []runtime.Status {
	var out []runtime.Status
	for _, e := range v.c.app.Entries() {
		out = append(out, e.Status())
	}
	return out
}

func (v *view) home() Response {
	d := homeData{Elements: v.statuses()}
	if st := v.c.app.Store(); st.Shared() {
		qctx, cancel := context.WithTimeout(v.ctx, kv.BehindCheckTimeout)
		d.Drift, _ = st.AppPeers(qctx) // a database away shows no warning, and the page
		cancel()
	}
	for _, s := range d.Elements {
		switch {
		case s.Status == "type" || !s.Serving:
		case v.isCorp(s.FullName):
			cs := corpSummary{FullName: s.FullName, Title: s.Title, Href: corpHref(s.FullName)}
			err := v.withOrg(s.FullName, func(o org.Org) (err error) {
				if err = reshape(o.Info(), &cs.Info); err == nil {
					cs.Root, err = o.Directory().Tree(0, 0)
				}
				if err == nil {
					var counts map[string]any
					if counts, err = o.Directory().Counts(v.ctx); err == nil {
						n, _ := counts["departments"].(float64)
						cs.Departments = int(n)
					}
				}
				return err
			})
			if err != nil {
				cs.Err = err.Error()
			}
			d.Corps = append(d.Corps, cs)
		case v.hasMethod(s.FullName, "getRunHistory"):
			ts := taskSummary{FullName: s.FullName, Title: s.Title, Href: Prefix + "/tasks/" + url.PathEscape(s.FullName), Detail: s.Detail}
			var runs []taskRun
			if v.call(s.FullName, "getRunHistory", nil, &runs) == nil && len(runs) > 0 {
				ts.Last = &runs[0]
			}
			d.Tasks = append(d.Tasks, ts)
		}
	}
	return v.render(200, "home", v.page("jitrt console", d))
}

// elementRows is the elements table's body, which the home page fetches to stay live.
func (v *view) elementRows() Response {
	return v.render(200, "elementRows", v.statuses())
}

// ---- a corp's org

type (
	deptNode   = org.TreeDept
	memberPage = org.MemberPage
)

// deptView is a department's sub-departments and members, as the tree shows them.
type deptView struct {
	Corp, Base string
	Dept       deptNode
	Members    memberPage
	More       int    // members not listed
	MoreHref   string // where they are
	Path       []deptNode
	Grants     []roleOpt // the declared roles, checked where the department passes them down (its page)
	Done       string
}

// deptMembersShown is how many members a department of the tree lists.
const deptMembersShown = 50

func (v *view) deptView(corp string, id int64, withPath bool) (*deptView, error) {
	d := &deptView{Corp: corp, Base: corpHref(corp)}
	o, release, err := org.Of(v.c.app, corp)
	if err != nil {
		return nil, err
	}
	defer release()
	dir := o.Directory()
	if d.Dept, err = dir.Tree(id, 1); err != nil {
		return nil, err
	}
	if d.Members, err = dir.List(org.MemberQuery{DeptID: d.Dept.DeptID, Limit: deptMembersShown}); err != nil {
		return nil, err
	}
	if d.More = d.Members.Total - len(d.Members.Members); d.More > 0 {
		d.MoreHref = d.Base + "/members?dept=" + strconv.FormatInt(d.Dept.DeptID, 10) + "&offset=" + strconv.Itoa(deptMembersShown)
	}
	for p := d.Dept.ParentID; withPath && p != 0 && len(d.Path) < 64; {
		n, err := dir.Tree(p, 0)
		if err != nil {
			break
		}
		d.Path = append([]deptNode{n}, d.Path...)
		p = n.ParentID
	}
	return d, nil
}

type corpData struct {
	Corp, Base string
	Q, Status  string // the search form's, empty here
	Info       corpInfo
	Tree       *deptView
	Admins     []string
	Done       string
}

func (v *view) corp(corp string) Response {
	d := corpData{Corp: corp, Base: corpHref(corp)}
	if err := v.withOrg(corp, func(o org.Org) error { return reshape(o.Info(), &d.Info) }); err != nil {
		return v.fail(0, err)
	}
	tree, err := v.deptView(corp, 0, false)
	if err != nil {
		return v.fail(0, err)
	}
	d.Tree = tree
	v.call(corp, "getAdmin", nil, &d.Admins)
	d.Done = v.r.Query.Get("done")
	return v.render(200, "corp", v.page(d.Info.Title+" · org", d, crumb{corp, ""}))
}

func (v *view) dept(corp, idText string) Response {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return v.fail(400, elements.Errorf(elements.CodeInvalidArgument, "department id %q is not a positive number", idText))
	}
	fragment := v.r.Query.Get("fragment") == "1"
	d, err := v.deptView(corp, id, !fragment)
	if err != nil {
		if fragment {
			r := v.render(elements.HTTPStatus(elements.CodeOf(err)), "fragmentError", err.Error())
			return r
		}
		return v.fail(0, err)
	}
	if fragment {
		return v.render(200, "deptBody", d)
	}
	var granted struct {
		RoleIDList []string `json:"roleIdList"`
	}
	v.call(corp, "getDeptRole", map[string]any{"deptId": id}, &granted)
	d.Grants = v.declaredRoles(corp, func(r string) bool { return slices.Contains(granted.RoleIDList, r) })
	d.Done = v.r.Query.Get("done")
	crumbs := []crumb{{corp, corpHref(corp)}}
	for _, p := range d.Path {
		crumbs = append(crumbs, crumb{p.Name, d.Base + "/dept/" + strconv.FormatInt(p.DeptID, 10)})
	}
	crumbs = append(crumbs, crumb{d.Dept.Name, ""})
	return v.render(200, "dept", v.page(d.Dept.Name, d, crumbs...))
}

// ---- search

type searchData struct {
	Corp, Base    string
	Q, Status     string
	Dept          string
	Offset, Limit int
	Result        memberPage
	First, Last   int
	Prev, Next    string
}

const searchPage = 50

func (v *view) search(corp string) Response {
	q := v.r.Query
	d := searchData{Corp: corp, Base: corpHref(corp), Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Dept: q.Get("dept"), Limit: searchPage}
	d.Offset, _ = strconv.Atoi(q.Get("offset"))
	d.Offset = max(d.Offset, 0)
	mq := org.MemberQuery{Limit: d.Limit, Offset: d.Offset, Query: d.Q, Status: d.Status}
	if d.Dept != "" {
		id, err := strconv.ParseInt(d.Dept, 10, 64)
		if err != nil {
			return v.fail(400, elements.Errorf(elements.CodeInvalidArgument, "department id %q is not a number", d.Dept))
		}
		mq.DeptID = id
	}
	if err := v.withOrg(corp, func(o org.Org) (err error) { d.Result, err = o.Directory().List(mq); return err }); err != nil {
		return v.fail(0, err)
	}
	if n := len(d.Result.Members); n > 0 {
		d.First, d.Last = d.Offset+1, d.Offset+n
	}
	link := func(off int) string {
		u := url.Values{}
		for k, val := range map[string]string{"q": d.Q, "status": d.Status, "dept": d.Dept} {
			if val != "" {
				u.Set(k, val)
			}
		}
		if off > 0 {
			u.Set("offset", strconv.Itoa(off))
		}
		return d.Base + "/members?" + u.Encode()
	}
	if d.Offset > 0 {
		d.Prev = link(max(d.Offset-d.Limit, 0))
	}
	if d.Last < d.Result.Total && d.Last > 0 {
		d.Next = link(d.Last)
	}
	return v.render(200, "search", v.page("Members", d, crumb{corp, d.Base}, crumb{"Members", ""}))
}

// ---- a member

type memberData struct {
	Corp, Base string
	Member     map[string]any
	Depts      []memberDept
	Roles      []memberRole
	Direct     []roleOpt // the declared roles, checked where the member holds them directly
	Active     bool
	Done       string // the action just taken
	Signature  string
	Sessions   []loginSessions
	Fields     [][2]string // the other fields, in a fixed order
}

type memberDept struct {
	ID     int64
	Name   string
	Main   bool
	Leader bool
}

type memberRole struct {
	RoleID string   `json:"roleId"`
	Name   string   `json:"name"`
	From   []string `json:"from"`
}

type loginSessions struct {
	Login    string
	Sessions []struct {
		CreatedAt string `json:"createdAt"`
		ExpiresAt string `json:"expiresAt"`
	}
}

// memberFields are the member's fields the page lists, in order.
var memberFields = []string{"position", "mobile", "email", "bizMail", "gender", "address", "directLeader", "wecomUserId",
	"wecomStatus", "offlineBy", "createdAt", "updatedAt"}

func (v *view) member(corp, id string) Response {
	d := memberData{Corp: corp, Base: corpHref(corp)}
	o, release, err := org.Of(v.c.app, corp)
	if err != nil {
		return v.fail(0, err)
	}
	defer release()
	dir := o.Directory()
	if d.Member, err = dir.Member(id); err != nil {
		return v.fail(0, err)
	}
	mid, _ := d.Member["memberId"].(string) // a renamed member's page shows the new id
	main := int64(num(d.Member["mainDeptId"]))
	var leads []int64
	for _, x := range list(d.Member["leaderDeptIds"]) {
		leads = append(leads, int64(num(x)))
	}
	for _, x := range list(d.Member["deptIds"]) {
		md := memberDept{ID: int64(num(x)), Main: int64(num(x)) == main}
		md.Leader = slices.Contains(leads, md.ID)
		if n, err := dir.Tree(md.ID, 0); err == nil {
			md.Name = n.Name
		}
		d.Depts = append(d.Depts, md)
	}
	roles, err := dir.MemberRoles(mid)
	if err != nil {
		return v.fail(0, err)
	}
	for _, r := range roles {
		d.Roles = append(d.Roles, memberRole{RoleID: r.RoleID, Name: r.Name, From: r.From})
	}
	d.Direct = v.declaredRoles(corp, func(id string) bool {
		return slices.ContainsFunc(roles, func(r org.EffectiveRole) bool { return r.RoleID == id && slices.Contains(r.From, "direct") })
	})
	d.Active, d.Done = d.Member["status"] == org.StatusActive, v.r.Query.Get("done")
	if sig, err := dir.Signature(mid); err == nil {
		d.Signature = sig
	}
	for _, e := range v.c.app.Entries() {
		if !v.hasMethod(e.FullName, "getMemberSessions") {
			continue
		}
		var of string
		if v.call(e.FullName, "getCorp", nil, &of) != nil || of != corp {
			continue
		}
		ls := loginSessions{Login: e.FullName}
		if v.call(e.FullName, "getMemberSessions", map[string]any{"memberId": mid}, &ls.Sessions) == nil {
			d.Sessions = append(d.Sessions, ls)
		}
	}
	for _, f := range memberFields {
		if val, ok := d.Member[f]; ok && val != nil && val != "" {
			d.Fields = append(d.Fields, [2]string{f, text(val)})
		}
	}
	name, _ := d.Member["name"].(string)
	return v.render(200, "member", v.page(name, d, crumb{corp, d.Base}, crumb{name, ""}))
}

// ---- syncs

type report struct {
	Kind          string   `json:"kind"`
	StartedAt     string   `json:"startedAt"`
	DurationMs    int64    `json:"durationMs"`
	Added         int      `json:"added"`
	Updated       int      `json:"updated"`
	Offlined      int      `json:"offlined"`
	Reactivated   int      `json:"reactivated"`
	Unchanged     int      `json:"unchanged"`
	DryRun        bool     `json:"dryRun"`
	Warnings      []string `json:"warnings"`
	ChangeCount   int      `json:"changeCount"`
	Omitted       int      `json:"changesOmitted"`
	Events        int      `json:"events"`
	Drift         int      `json:"drift"`
	Path          string   `json:"path"`
	Writes        int      `json:"writes"`
	Departments   counts   `json:"departments"`
	Tags          counts   `json:"tags"`
	Changes       []change `json:"changes"`
	Href, Started string
}

type counts struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
	Removed int `json:"removed"`
}

type change struct {
	Op     string   `json:"op"`
	Kind   string   `json:"kind"`
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
}

type syncsData struct {
	Corp, Base string
	Reports    []report
	Chart      chart
	DryRun     *report // the dry run just made
	New        string  // the startedAt of the sync just made
	Made       *report // that sync's report, with its changes (nil: it changed nothing)
}

func (r *report) finish(base string) {
	r.Href = base + "/syncs/" + url.PathEscape(r.StartedAt)
	r.Started = strings.Replace(strings.TrimSuffix(r.StartedAt, "Z"), "T", " ", 1)
	if i := strings.IndexByte(r.Started, '.'); i > 0 {
		r.Started = r.Started[:i]
	}
	if r.ChangeCount == 0 {
		r.ChangeCount = len(r.Changes)
	}
}

func (v *view) syncs(corp string, dry *report) Response {
	d := syncsData{Corp: corp, Base: corpHref(corp), DryRun: dry, New: v.r.Query.Get("new")}
	if err := v.withOrg(corp, func(o org.Org) error {
		h, err := o.Directory().SyncHistory(v.ctx, 0, false, "")
		if err == nil {
			err = reshape(h, &d.Reports)
		}
		return err
	}); err != nil {
		return v.fail(0, err)
	}
	for i := range d.Reports {
		d.Reports[i].finish(d.Base)
	}
	if d.New != "" { // what the sync just made changed, as a dry run shows it
		_ = v.withOrg(corp, func(o org.Org) error {
			h, err := o.Directory().SyncHistory(v.ctx, 1, true, d.New)
			var rs []report
			if err == nil && reshape(h, &rs) == nil && len(rs) > 0 {
				rs[0].finish(d.Base)
				d.Made = &rs[0]
			}
			return err
		})
	}
	d.Chart = newChart(d.Reports)
	return v.render(200, "syncs", v.page("Syncs", d, crumb{corp, d.Base}, crumb{"Syncs", ""}))
}

func (v *view) report(corp, startedAt string) Response {
	base := corpHref(corp)
	var rs []report
	if err := v.withOrg(corp, func(o org.Org) error {
		h, err := o.Directory().SyncHistory(v.ctx, 0, true, startedAt)
		if err == nil {
			err = reshape(h, &rs)
		}
		return err
	}); err != nil {
		return v.fail(0, err)
	}
	if len(rs) == 0 {
		return v.fail(404, elements.Errorf(elements.CodeNotFound, "no kept sync report of %s started at %s", corp, startedAt))
	}
	rs[0].finish(base)
	return v.render(200, "report", v.page("Sync "+rs[0].Started, rs[0], crumb{corp, base}, crumb{"Syncs", base + "/syncs"}, crumb{rs[0].Started, ""}))
}

// sync runs a sync (or a dry run, whose report is shown at once) and shows the history.
func (v *view) sync(corp string) Response {
	dry := v.r.Form.Get("dryRun") == "1"
	var rep report
	if err := v.withOrg(corp, func(o org.Org) error {
		r, err := o.Sync(v.ctx, dry)
		if err == nil {
			err = reshape(r, &rep)
		}
		return err
	}); err != nil {
		return v.fail(0, err)
	}
	if dry {
		rep.finish(corpHref(corp))
		return v.syncs(corp, &rep)
	}
	return Response{Status: 303, Location: corpHref(corp) + "/syncs?new=" + url.QueryEscape(rep.StartedAt)}
}

// ---- tasks

type taskData struct {
	Task string
	Runs []taskRun
}

func (v *view) task(name string) Response {
	if !v.hasMethod(name, "getRunHistory") {
		return v.fail(404, elements.Errorf(elements.CodeNotFound, "no task %q in this app", name))
	}
	d := taskData{Task: name}
	if err := v.call(name, "getRunHistory", nil, &d.Runs); err != nil {
		return v.fail(0, err)
	}
	return v.render(200, "task", v.page(name, d, crumb{name, ""}))
}

// ---- values

func num(x any) float64 { f, _ := x.(float64); return f }
func list(x any) []any  { l, _ := x.([]any); return l }

// text is a field's value as a line of text.
func text(x any) string {
	switch t := x.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case []any:
		var parts []string
		for _, e := range t {
			parts = append(parts, text(e))
		}
		return strings.Join(parts, ", ")
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

// ---- audit

type auditData struct {
	Corp, Base    string
	Member, Since string
	Records       []org.AuditRecord
}

// audit lists the corp's audit trail, newest first, by member and since a time.
func (v *view) audit(corp string) Response {
	d := auditData{Corp: corp, Base: corpHref(corp), Member: v.r.Query.Get("member"), Since: v.r.Query.Get("since")}
	if err := v.withOrg(corp, func(o org.Org) error {
		since, err := org.ParseSince(d.Since, time.Now())
		if err != nil {
			return elements.Errorf(elements.CodeInvalidArgument, "%v", err)
		}
		d.Records, err = o.Directory().AuditLog(org.AuditQuery{Member: d.Member, Since: since, Limit: 200})
		return err
	}); err != nil {
		return v.fail(0, err)
	}
	return v.render(200, "audit", v.page("Audit", d, crumb{corp, d.Base}, crumb{"Audit", ""}))
}
