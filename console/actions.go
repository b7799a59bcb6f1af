package console

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
)

// # Admin actions
//
// The console's forms write the org through the one call path, as an outside caller (the
// method's callable flag applies, as over HTTP), for the console's viewer (the audit trail
// names them): a member's roles, status and signature, the roles a department passes down,
// the corp's admins. A member viewer also needs a role app.json's permissions give the
// method, when they list it. Each form names the method; its fields are the method's
// parameters (a list from several fields of that name, or one with commas).

// actions are the methods the console's forms call.
var actions = map[string]bool{"setUserRole": true, "offlineMember": true, "reactivateMember": true,
	"saveUserSignature": true, "setDeptRole": true, "setAdmin": true}

// roleOpt is a declared role in a form: whether the member (or department) has it.
type roleOpt struct {
	ID, Name string
	Checked  bool
}

// declaredRoles are the corp's roles for a form, checked as has says.
func (v *view) declaredRoles(corp string, has func(id string) bool) []roleOpt {
	var info corpInfo
	if v.withOrg(corp, func(o org.Org) error { return reshape(o.Info(), &info) }) != nil {
		return nil
	}
	out := make([]roleOpt, 0, len(info.Roles))
	for _, r := range info.Roles {
		out = append(out, roleOpt{ID: r.RoleID, Name: r.Name, Checked: has(r.RoleID)})
	}
	return out
}

// act runs a form's method and goes back to the page it was on.
func (v *view) act(corp, method string) Response {
	if !actions[method] {
		return v.fail(404, elements.Errorf(elements.CodeNotFound, "the console has no action %q", method))
	}
	if v.r.Member {
		if allowed, listed := v.c.app.Permission(corp, method); listed && !slices.ContainsFunc(allowed, func(r string) bool { return slices.Contains(v.r.Roles, r) }) {
			return v.fail(403, elements.Errorf(elements.CodePermissionDenied, "%s.%s needs role %s (app.json permissions); %s holds %s",
				corp, method, strings.Join(allowed, " or "), v.r.Viewer, strings.Join(v.r.Roles, ", ")))
		}
	}
	e, err := v.c.app.Element(corp)
	if err != nil {
		return v.fail(0, err)
	}
	var m *elements.Method
	for _, x := range e.Methods() {
		if x.Name == method {
			m = &x
			break
		}
	}
	if m == nil {
		return v.fail(404, elements.Errorf(elements.CodeUnknownMethod, "%s has no method %q", corp, method))
	}
	args := map[string]any{}
	for _, p := range m.Params {
		vals, given := v.r.Form[p.Name]
		switch p.Kind {
		case elements.KindArray:
			list := []any{}
			for _, val := range vals {
				for _, part := range strings.Split(val, ",") {
					if part = strings.TrimSpace(part); part != "" {
						list = append(list, part)
					}
				}
			}
			args[p.Name] = list // none given: the empty list (a form's unchecked boxes)
		case elements.KindNumber:
			if given {
				n, err := strconv.ParseFloat(strings.TrimSpace(vals[0]), 64)
				if err != nil {
					return v.fail(400, elements.Errorf(elements.CodeInvalidArgument, "%s must be a number, not %q", p.Name, vals[0]))
				}
				args[p.Name] = n
			}
		default:
			if given {
				args[p.Name] = strings.TrimSpace(vals[0])
			}
		}
	}
	if _, err := v.c.app.Invoke(v.ctx, elements.Call{Element: corp, Method: method, Args: []any{args}, Mode: elements.ArgsNamed, Outside: true}); err != nil {
		return v.fail(0, err)
	}
	back := v.r.Form.Get("back")
	if !strings.HasPrefix(back, corpHref(corp)) || strings.Contains(back, "//") {
		back = corpHref(corp) // only ever back into this corp's pages
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	return Response{Status: 303, Location: back + sep + "done=" + url.QueryEscape(method)}
}
