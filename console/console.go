// Package console serves the web console of a running app: server-rendered pages of its
// elements, its corps' orgs, sync history and tasks, with a little progressive JavaScript.
//
// Every page reads through the app's one call path (runtime.App.Invoke) with the methods
// any caller has (getDeptTree, listMembers, getMember, getSyncHistory, syncCorp, …), so the
// console knows no concrete Type: a corp is an element with getDeptTree, a task one with
// getRunHistory, a login one with getMemberSessions. Who may see it is the caller's
// business (package api checks the token or an admin's session); the console guards its
// buttons with a CSRF token and escapes every string through html/template.
//
//	GET  /console                              elements (live), corps, tasks
//	GET  /console/elements                     the elements' rows (what the live page fetches)
//	GET  /console/corps/{corp}                 the org tree and a search box
//	GET  /console/corps/{corp}/dept/{id}       a department: sub-departments and members
//	                                           (?fragment=1: only those, for an expanding tree)
//	GET  /console/corps/{corp}/members         search: ?q=, ?status=, ?dept=, ?offset=
//	GET  /console/corps/{corp}/members/{id}    a member's page
//	GET  /console/corps/{corp}/syncs           the sync history as a chart and a list
//	GET  /console/corps/{corp}/syncs/{start}   one report with its changes by name
//	POST /console/corps/{corp}/sync            sync now (dryRun=1: a dry run, shown at once)
//	POST /console/corps/{corp}/act/{method}    an admin action: the method's parameters as fields
//	GET  /console/corps/{corp}/audit           the audit trail (member=, since=)
//	GET  /console/tasks/{task}                 a task's runs
//	GET  /console/static/{file}                the stylesheet and the script
package console

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/runtime"
)

//go:embed assets
var assets embed.FS

// Prefix is where the console is served.
const Prefix = "/console"

// Request is what the console reads of an HTTP request.
type Request struct {
	Method, Path string
	Query        url.Values
	Form         url.Values // a POST's form fields
	Cookie       string     // the Cookie header
	TLS          bool
	// Viewer says who is looking ("the API token", "member ZhangWei (admin)"); Member
	// whether it is a member's session, and Roles the roles it holds (an action a member
	// takes needs a role app.json's permissions give the method, when they list it).
	Viewer string
	Member bool
	Roles  []string
	// CSRF is the token the console's forms carry and a POST must send back: the server
	// binds it to the viewer's session (an HMAC of it), so a cookie another site plants
	// does not make one.
	CSRF string
}

// Response is a page, a fragment, a redirect or a file.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
	Location    string
	SetCookies  []string
}

const htmlType = "text/html; charset=utf-8"

// Console renders the pages of one app.
type Console struct {
	app     *runtime.App
	timeout func() time.Duration
	log     *slog.Logger
	pages   *template.Template
}

// New makes the console of app; each page's calls together get timeout() (read at the
// request, so that an edit of the app's limits applies).
func New(app *runtime.App, timeout func() time.Duration, log *slog.Logger) *Console {
	return &Console{app: app, timeout: timeout, log: log, pages: pages()}
}

// Serve answers a request to a path under Prefix. A page that fails says why in the page
// (with the code's status); it never shows a secret (the app's redactor masks the body).
func (c *Console) Serve(ctx context.Context, r *Request) Response {
	ctx, cancel := context.WithTimeout(elements.WithoutQueue(ctx), c.timeout())
	defer cancel()
	rest := strings.TrimPrefix(strings.TrimPrefix(r.Path, Prefix), "/")
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if rest == "" {
		parts = nil
	}
	v := &view{c: c, r: r, ctx: ctx}
	v.csrf = r.CSRF
	if r.Method == "POST" {
		sent := r.Form.Get("csrf")
		if sent == "" || r.CSRF == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(r.CSRF)) != 1 {
			return v.fail(403, errors.New("the form's CSRF token is not this session's: reload the page and try again"))
		}
	} else if r.Method != "GET" && r.Method != "HEAD" {
		return v.fail(405, errors.New("use GET, or POST from the console's buttons"))
	}
	return v.route(parts)
}

// view is one request being answered.
type view struct {
	c    *Console
	r    *Request
	ctx  context.Context
	csrf string
}

func (v *view) route(p []string) Response {
	post := v.r.Method == "POST"
	switch {
	case len(p) == 0 && !post:
		return v.home()
	case len(p) == 1 && p[0] == "elements" && !post:
		return v.elementRows()
	case len(p) == 2 && p[0] == "static" && !post:
		return static(p[1])
	case len(p) == 2 && p[0] == "tasks" && !post:
		return v.task(p[1])
	case len(p) >= 2 && p[0] == "corps":
		corp := p[1]
		if !v.isCorp(corp) {
			return v.fail(404, elements.Errorf(elements.CodeNotFound, "no corp %q in this app", corp))
		}
		switch {
		case len(p) == 2 && !post:
			return v.corp(corp)
		case len(p) == 4 && p[2] == "dept" && !post:
			return v.dept(corp, p[3])
		case len(p) == 3 && p[2] == "members" && !post:
			return v.search(corp)
		case len(p) == 4 && p[2] == "members" && !post:
			return v.member(corp, p[3])
		case len(p) == 3 && p[2] == "syncs" && !post:
			return v.syncs(corp, nil)
		case len(p) == 4 && p[2] == "syncs" && !post:
			return v.report(corp, p[3])
		case len(p) == 3 && p[2] == "sync" && post:
			return v.sync(corp)
		case len(p) == 4 && p[2] == "act" && post:
			return v.act(corp, p[3])
		case len(p) == 3 && p[2] == "audit" && !post:
			return v.audit(corp)
		}
	}
	if post {
		return v.fail(405, errors.New("nothing to post here"))
	}
	return v.fail(404, elements.Errorf(elements.CodeNotFound, "no console page at %s", v.r.Path))
}

// call invokes a method with its arguments by name and decodes the result into out.
func (v *view) call(element, method string, args map[string]any, out any) error {
	// the arguments as a script would pass them (numbers as float64)
	var named map[string]any
	if b, err := json.Marshal(args); err != nil {
		return err
	} else if err := json.Unmarshal(b, &named); err != nil || named == nil {
		named = map[string]any{}
	}
	res, err := v.c.app.Invoke(v.ctx, elements.Call{Element: element, Method: method, Args: []any{named}, Mode: elements.ArgsNamed})
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// hasMethod reports whether the element has the callable method.
func (v *view) hasMethod(name, method string) bool {
	e, err := v.c.app.Element(name)
	if err != nil {
		return false
	}
	m := e.Method(method)
	return m != nil && m.Callable
}

// isCorp reports whether an element is an org (any corp Type, or an app Type on one).
func (v *view) isCorp(name string) bool { return org.Is(v.c.app, name) }

// withOrg runs fn with the org a corp element is, held while fn runs.
func (v *view) withOrg(name string, fn func(org.Org) error) error {
	o, release, err := org.Of(v.c.app, name)
	if err != nil {
		return err
	}
	defer release()
	return fn(o)
}

// reshape decodes a JSON-shaped value into the page's own type.
func reshape(v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// render executes a page template; a fragment is the page's "body" alone.
func (v *view) render(status int, name string, data any) Response {
	var b bytes.Buffer
	if err := v.c.pages.ExecuteTemplate(&b, name, data); err != nil {
		v.c.log.Error("console: render", "page", name, "err", err)
		return Response{Status: 500, ContentType: "text/plain; charset=utf-8", Body: []byte("the page could not be rendered: " + err.Error())}
	}
	body := b.Bytes()
	if red := v.c.app.Redactor(); red.Contains(string(body)) {
		body = []byte(red.String(string(body)))
	}
	return Response{Status: status, ContentType: htmlType, Body: body}
}

// fail is an error page with the status given, or the status of the error's code.
func (v *view) fail(status int, err error) Response {
	if status == 0 {
		status = elements.HTTPStatus(elements.CodeOf(err))
	}
	if status >= 500 {
		v.c.log.Error("console page failed", "path", v.r.Path, "err", err)
	}
	return v.render(status, "error", v.page("Error", errorData{Status: status, Message: err.Error(), Code: elements.CodeOf(err)}))
}

type errorData struct {
	Status        int
	Message, Code string
}

// static serves the console's stylesheet and script.
func static(name string) Response {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil || strings.HasSuffix(name, ".html") {
		return Response{Status: 404, ContentType: "text/plain; charset=utf-8", Body: []byte("no such file")}
	}
	ct := "text/css; charset=utf-8"
	if strings.HasSuffix(name, ".js") {
		ct = "text/javascript; charset=utf-8"
	}
	return Response{Status: 200, ContentType: ct, Body: b}
}

// pages are the console's templates, parsed when a console is first made (not as every
// jitrt command starts: 2 ms of an exec's 50).
var pages = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		"join":   strings.Join,
		"isTrue": func(b *bool) bool { return b != nil && *b },
		// pageOf is a member list for the memberTable template.
		"pageOf": func(base string, p memberPage) deptView { return deptView{Base: base, Members: p} },
		"csrfOf": func(csrf, base string) map[string]string { return map[string]string{"CSRF": csrf, "Base": base} },
		"when":   when,
	}).ParseFS(assets, "assets/pages.html"))
})

// when is a time as the pages show it: to the second, in UTC, which the page's script
// turns into the viewer's own zone; the time in full (ISO 8601) in a tooltip.
func when(iso string) template.HTML {
	t, err := time.Parse(time.RFC3339Nano, iso)
	if err != nil {
		return template.HTML(template.HTMLEscapeString(iso))
	}
	full := template.HTMLEscapeString(t.UTC().Format(time.RFC3339Nano))
	return template.HTML(`<time datetime="` + full + `" title="` + full + `">` + t.UTC().Format("2006-01-02 15:04:05") + ` UTC</time>`)
}

// LoginPage asks for the API token, or offers the app's member logins; message says why
// the last try failed. logins are {fullName, title, loginUrl}.
func (c *Console) LoginPage(status int, message string, logins []map[string]any, next string) Response {
	v := &view{c: c, r: &Request{}}
	return v.render(status, "login", page{Title: "Log in", Data: map[string]any{"Message": message, "Logins": logins, "Next": next}})
}
