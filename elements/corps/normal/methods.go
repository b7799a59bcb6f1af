package normal

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/tidwall/gjson"
)

// The org engine's methods a local org offers as every corp Type does.
var orgMethods = []string{"getLocalCorpData", "getRootDept", "setUserRole", "offlineMember", "reactivateMember",
	"getUserSignature", "saveUserSignature", "setAdmin", "getAdmin", "getDeptMembers", "setDeptRole", "getDeptRole",
	"getMemberRoles", "getMember", "getDeptTree", "listMembers", "getAuditLog"}

// Methods lists the org's methods: JitAi's for corps.NormalType, then the org engine's.
func (c *Corp) Methods() []elements.Method {
	own := []elements.Method{
		{Name: "initCorp", Callable: true, Doc: "create the org: its root department (named as the element's title), its roles and the first admin of the config; again, nothing more",
			Call: func(ctx context.Context, _ elements.Args) (any, error) { return c.initCorp(ctx) }},
		{Name: "syncCorp", Callable: true, Doc: "a local org has nothing to sync: answers failed_precondition",
			Params: []elements.Param{{Name: "dryRun", Kind: elements.KindBool}},
			Call:   func(context.Context, elements.Args) (any, error) { return nil, c.noPlatform("syncCorp") }},
		{Name: "getThirdCorpData", Callable: true, Doc: "a local org has no platform: answers failed_precondition",
			Call: func(context.Context, elements.Args) (any, error) { return nil, c.noPlatform("getThirdCorpData") }},
		{Name: "bulkRegister", Callable: true, Doc: "a local org has no platform: answers failed_precondition (use addMember)",
			Params: []elements.Param{{Name: "corpData", Kind: elements.KindObject, Required: true}},
			Call:   func(context.Context, elements.Args) (any, error) { return nil, c.noPlatform("bulkRegister") }},
		{Name: "getClient", Doc: "a local org has no platform client: answers failed_precondition",
			Call: func(context.Context, elements.Args) (any, error) { return nil, c.noPlatform("getClient") }},
		{Name: "getSyncHistory", Callable: true, Doc: "a local org has no syncs: []",
			Params: []elements.Param{{Name: "limit", Kind: elements.KindNumber}, {Name: "changes", Kind: elements.KindBool}, {Name: "startedAt", Kind: elements.KindString}},
			Call:   func(context.Context, elements.Args) (any, error) { return []any{}, nil }},
		{Name: "getCorpInfo", Callable: true, Doc: "the org's configuration, never a password",
			Call: func(context.Context, elements.Args) (any, error) { return c.Info(), nil }},
		{Name: "addMember", Callable: true, Doc: "add a member to departments (and roles), with a username and password to sign in with if given: the member, never the password",
			Params: []elements.Param{str("nick", true), list("deptIdList", true), list("roleIdList", false), str("phone", false),
				str("username", false), str("password", false), str("memberId", false), str("userId", false), str("email", false)},
			Call: func(ctx context.Context, a elements.Args) (any, error) { return c.addMember(ctx, a) }},
		{Name: "createDept", Callable: true, Doc: "create a department under parentId (default the root): the department as RowData",
			Params: []elements.Param{str("name", true), anyID("parentId", false)},
			Call:   func(ctx context.Context, a elements.Args) (any, error) { return c.createDept(ctx, a) }},
		{Name: "updateDept", Callable: true, Doc: "rename a department, or move it under parentId: the department as RowData",
			Params: []elements.Param{anyID("deptId", true), str("name", true), anyID("parentId", false)},
			Call:   func(ctx context.Context, a elements.Args) (any, error) { return c.updateDept(ctx, a) }},
		{Name: "deleteDept", Callable: true, Doc: "delete a department that has no sub-department and no member",
			Params: []elements.Param{anyID("deptId", true)},
			Call:   func(ctx context.Context, a elements.Args) (any, error) { return c.deleteDept(ctx, a) }},
		{Name: "setDeptLeaderByDept", Callable: true, Doc: "set a department's leaders (部门主管), members of it: [{deptId, memberId, isLeader}] for its members",
			Params: []elements.Param{anyID("deptId", true), list("memberIdList", true)},
			Call:   func(ctx context.Context, a elements.Args) (any, error) { return c.setLeaders(ctx, a) }},
		{Name: "createRole", Callable: true, Doc: "create a role (beside the config's): the role as RowData {roleId, name, roleGroupId}",
			Params: []elements.Param{str("name", true), str("roleGroupId", false), str("roleId", false)},
			Call:   func(ctx context.Context, a elements.Args) (any, error) { return c.createRole(ctx, a) }},
		{Name: "updateUserInfo", Callable: true, Doc: "change a member's nick, phone, email, photo, gender or extendConf (updateDict)",
			Params: []elements.Param{str("memberId", true), {Name: "updateDict", Kind: elements.KindObject, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return map[string]any{}, c.updateUserInfo(ctx, a)
			}},
		{Name: "changeMemberStatus", Callable: true, Doc: "set members' status: 1 active (在职), 2 resigned (离职: offline, their sessions end)",
			Params: []elements.Param{list("memberIdList", true), {Name: "status", Kind: elements.KindNumber, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return map[string]any{}, c.changeStatus(ctx, a)
			}},
		{Name: "addDeptMember", Callable: true, Doc: "add members to a department",
			Params: []elements.Param{anyID("deptId", true), list("memberIdList", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return map[string]any{}, c.deptMembers(ctx, a, true)
			}},
		{Name: "deleteDeptMember", Callable: true, Doc: "take members out of a department (not out of their last one)",
			Params: []elements.Param{anyID("deptId", true), list("memberIdList", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return map[string]any{}, c.deptMembers(ctx, a, false)
			}},
		{Name: "addRoleMember", Callable: true, Doc: "grant a role to members directly",
			Params: []elements.Param{str("roleId", true), list("memberIdList", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return map[string]any{}, c.addRoleMember(ctx, a)
			}},
		{Name: "deleteMember", Callable: true, Doc: "delete resigned members (changeMemberStatus 2 first) with their roles, signature and password",
			Params: []elements.Param{list("memberIdList", true)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return map[string]any{}, c.deleteMembers(ctx, a)
			}},
		{Name: "setMemberPassword", Callable: true, Doc: "set a member's username (optional) and password; their sessions made with the old password end",
			Params: []elements.Param{str("memberId", true), str("password", true), str("username", false)},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return map[string]any{}, c.setMemberPassword(ctx, a)
			}},
	}
	return c.dir.AuditWrites(slices.Concat(own, c.dir.Methods(orgMethods...)))
}

// initCorp makes the org once: the root department, the declared roles, the first admin.
func (c *Corp) initCorp(ctx context.Context) (any, error) {
	made := false
	err := c.dir.Update(ctx, func(w *org.Writer) error {
		meta, ok, err := w.Meta()
		if err != nil {
			return err
		}
		if !ok {
			made = true
			meta = org.Meta{Initialized: true, RootDeptID: rootDeptID, CreatedAt: w.Now(), Path: "local"}
			if err := w.PutMeta(meta); err != nil {
				return err
			}
			if err := w.PutDept(&org.Dept{DeptID: rootDeptID, Name: c.el.Title}); err != nil {
				return err
			}
		}
		f := c.cfg.FirstMember
		if f == nil {
			return nil
		}
		if m, err := w.Member(f.MemberID); err != nil || m != nil {
			return err // the first admin was made once; what happened to them since stands
		}
		m := &org.Member{MemberID: f.MemberID, Name: f.Nick, DeptIDs: []int64{meta.RootDeptID}, MainDeptID: meta.RootDeptID,
			Ext: localExt(f.UserID, nil)}
		if err := w.PutMember(m); err != nil {
			return err
		}
		if f.Password != "" {
			if _, err := c.setPassword(w, f.MemberID, f.Username, f.Password); err != nil {
				return err
			}
		}
		return w.SetAdmins([]string{f.MemberID})
	})
	if err != nil {
		return nil, err
	}
	if made {
		c.el.Logger.Info("local org created", "root", rootDeptID)
	}
	return map[string]any{"success": true, "rootDeptId": float64(rootDeptID)}, nil
}

// extFields name a local member's own part: JitAi's userId and extendConf.
var extFields = []string{"userId", "extendConf"}

// localExt is a local member's own part.
func localExt(userID string, extend json.RawMessage) json.RawMessage {
	var b org.ExtBuilder
	b.String(userID)
	b.Raw(string(extend))
	return b.JSON()
}

// extOf reads a local member's own part.
func extOf(m *org.Member) (userID string, extend json.RawMessage) {
	f := org.ExtValues(m.Ext)
	if len(f) != len(extFields) {
		return "", nil
	}
	if f[1].Type != gjson.Null {
		extend = json.RawMessage(f[1].Raw)
	}
	return f[0].Str, extend
}

func (c *Corp) addMember(ctx context.Context, a elements.Args) (any, error) {
	depts, err := c.deptIDs(a, "deptIdList")
	if err != nil {
		return nil, err
	}
	if len(depts) == 0 {
		return nil, c.dir.BadArg("deptIdList is empty: a member is in at least one department")
	}
	var roles []string
	if _, ok := a["roleIdList"]; ok {
		if roles, err = a.Strings("roleIdList"); err != nil {
			return nil, err
		}
	}
	nick := strings.TrimSpace(a.String("nick"))
	if nick == "" {
		return nil, c.dir.BadArg("nick is empty: give the member's name")
	}
	id := a.String("memberId")
	if id == "" {
		id = "m" + randomHex(8)
	}
	username, password := a.String("username"), a.String("password")
	if username != "" && password == "" {
		return nil, c.dir.BadArg("username %q needs a password to sign in with", username)
	}
	err = c.dir.Update(ctx, func(w *org.Writer) error {
		if err := c.initialized(w); err != nil {
			return err
		}
		if err := c.dir.CheckMemberID(id); err != nil {
			return err
		}
		if old, err := w.Member(id); err != nil {
			return err
		} else if old != nil {
			return c.dir.BadArg("member %q exists already", id)
		}
		for _, d := range depts {
			if _, err := w.MustDept(d); err != nil {
				return err
			}
		}
		m := &org.Member{MemberID: id, Name: nick, Mobile: a.String("phone"), Email: a.String("email"),
			DeptIDs: depts, MainDeptID: depts[0], Ext: localExt(a.String("userId"), nil)}
		if err := w.PutMember(m); err != nil {
			return err
		}
		if len(roles) > 0 {
			if err := w.GrantRoles(id, roles); err != nil {
				return err
			}
		}
		if password != "" {
			if _, err := c.setPassword(w, id, username, password); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c.dir.Member(id)
}

// initialized refuses a write before initCorp.
func (c *Corp) initialized(w *org.Writer) error {
	if _, ok, err := w.Meta(); err != nil || !ok {
		if err == nil {
			err = c.dir.NotInitialized()
		}
		return err
	}
	return nil
}

func (c *Corp) createDept(ctx context.Context, a elements.Args) (any, error) {
	name := strings.TrimSpace(a.String("name"))
	if name == "" {
		return nil, c.dir.BadArg("name is empty: give the department's name")
	}
	parent, given, err := c.deptID(a, "parentId")
	if err != nil {
		return nil, err
	}
	var made *org.Dept
	err = c.dir.Update(ctx, func(w *org.Writer) error {
		meta, ok, err := w.Meta()
		if err != nil {
			return err
		}
		if !ok {
			return c.dir.NotInitialized()
		}
		if !given {
			parent = meta.RootDeptID
		}
		if _, err := w.MustDept(parent); err != nil {
			return err
		}
		depts, err := w.Depts()
		if err != nil {
			return err
		}
		next := int64(rootDeptID)
		for _, d := range depts {
			next = max(next, d.DeptID)
		}
		made = &org.Dept{DeptID: next + 1, Name: name, ParentID: parent}
		return w.PutDept(made)
	})
	if err != nil {
		return nil, err
	}
	return deptRow(made), nil
}

func (c *Corp) updateDept(ctx context.Context, a elements.Args) (any, error) {
	id, _, err := c.deptID(a, "deptId")
	if err != nil {
		return nil, err
	}
	parent, move, err := c.deptID(a, "parentId")
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(a.String("name"))
	if name == "" {
		return nil, c.dir.BadArg("name is empty: give the department's name")
	}
	var d *org.Dept
	err = c.dir.Update(ctx, func(w *org.Writer) error {
		if d, err = w.MustDept(id); err != nil {
			return err
		}
		d.Name = name
		if move && parent != d.ParentID {
			if d.ParentID == 0 {
				return c.dir.BadArg("department %d is the root: it cannot move", id)
			}
			if _, err := w.MustDept(parent); err != nil {
				return err
			}
			// the new parent may not be the department or one below it
			depts, err := w.Depts()
			if err != nil {
				return err
			}
			up := map[int64]int64{}
			for _, x := range depts {
				up[x.DeptID] = x.ParentID
			}
			for p, hops := parent, 0; p != 0 && hops <= len(depts); p, hops = up[p], hops+1 {
				if p == id {
					return c.dir.BadArg("department %d cannot move under %d: that is itself or one of its sub-departments", id, parent)
				}
			}
			d.ParentID = parent
		}
		return w.PutDept(d)
	})
	if err != nil {
		return nil, err
	}
	return deptRow(d), nil
}

func (c *Corp) deleteDept(ctx context.Context, a elements.Args) (any, error) {
	id, _, err := c.deptID(a, "deptId")
	if err != nil {
		return nil, err
	}
	err = c.dir.Update(ctx, func(w *org.Writer) error {
		d, err := w.MustDept(id)
		if err != nil {
			return err
		}
		if d.ParentID == 0 {
			return c.dir.BadArg("department %d is the root of the org: it cannot be deleted", id)
		}
		depts, err := w.Depts()
		if err != nil {
			return err
		}
		for _, x := range depts {
			if x.ParentID == id && x.DeptID != id {
				return c.dir.BadArg("department %d has sub-departments (%d %q first): delete or move them first", id, x.DeptID, x.Name)
			}
		}
		members, err := w.MembersIn(id)
		if err != nil {
			return err
		}
		if len(members) > 0 {
			return c.dir.BadArg("department %d has %d member(s) (%s first): move them out first (deleteDeptMember)", id, len(members), members[0])
		}
		return w.DeleteDept(id)
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"success": true}, nil
}

func (c *Corp) setLeaders(ctx context.Context, a elements.Args) (any, error) {
	id, _, err := c.deptID(a, "deptId")
	if err != nil {
		return nil, err
	}
	leaders, err := a.Strings("memberIdList")
	if err != nil {
		return nil, err
	}
	var rows []any
	err = c.dir.Update(ctx, func(w *org.Writer) error {
		d, err := w.MustDept(id)
		if err != nil {
			return err
		}
		for _, l := range leaders {
			m, err := w.MustMember(l)
			if err != nil {
				return err
			}
			if !slices.Contains(m.DeptIDs, id) {
				return c.dir.BadArg("member %q is not in department %d: add them first (addDeptMember)", l, id)
			}
		}
		members, err := w.MembersIn(id)
		if err != nil {
			return err
		}
		for _, mid := range members {
			m, err := w.Member(mid)
			if err != nil {
				return err
			}
			lead := slices.Contains(leaders, mid)
			if slices.Contains(m.LeaderDeptIDs, id) != lead {
				if lead {
					m.LeaderDeptIDs = append(m.LeaderDeptIDs, id)
				} else {
					m.LeaderDeptIDs = slices.DeleteFunc(m.LeaderDeptIDs, func(x int64) bool { return x == id })
				}
				if err := w.PutMember(m); err != nil {
					return err
				}
			}
			rows = append(rows, map[string]any{"deptId": float64(id), "memberId": mid, "isLeader": lead})
		}
		d.Leaders = slices.Clone(leaders)
		return w.PutDept(d)
	})
	if rows == nil {
		rows = []any{}
	}
	return rows, err
}

func (c *Corp) createRole(ctx context.Context, a elements.Args) (any, error) {
	name := strings.TrimSpace(a.String("name"))
	if name == "" {
		return nil, c.dir.BadArg("name is empty: give the role's name")
	}
	id := a.String("roleId")
	if id == "" {
		id = "r" + randomHex(6)
	}
	group := a.String("roleGroupId")
	err := c.dir.Update(ctx, func(w *org.Writer) error {
		if err := c.initialized(w); err != nil {
			return err
		}
		return w.CreateRole(org.Role{RoleID: id, Name: name}, group)
	})
	if err != nil {
		return nil, err
	}
	return elements.NewRowData("roleId", id, "name", name, "roleGroupId", group), nil
}

// editable are the member fields updateUserInfo changes, as JitAi names them.
var editable = []string{"nick", "phone", "email", "photo", "gender", "extendConf"}

func (c *Corp) updateUserInfo(ctx context.Context, a elements.Args) error {
	id := a.String("memberId")
	upd, _ := a["updateDict"].(map[string]any)
	for k := range upd {
		if !slices.Contains(editable, k) {
			return c.dir.BadArg("updateDict.%s cannot be changed: only %s", k, strings.Join(editable, ", "))
		}
	}
	text := func(k string) (string, bool, error) {
		v, ok := upd[k]
		if !ok {
			return "", false, nil
		}
		switch x := v.(type) {
		case string:
			return x, true, nil
		case float64:
			if k == "gender" {
				return strconv.FormatFloat(x, 'f', -1, 64), true, nil
			}
		case nil:
			return "", true, nil
		}
		return "", false, c.dir.BadArg("updateDict.%s must be a string", k)
	}
	return c.dir.Update(ctx, func(w *org.Writer) error {
		m, err := w.MustMember(id)
		if err != nil {
			return err
		}
		for _, f := range []struct {
			key string
			dst *string
		}{{"nick", &m.Name}, {"phone", &m.Mobile}, {"email", &m.Email}, {"photo", &m.Avatar}, {"gender", &m.Gender}} {
			v, ok, err := text(f.key)
			if err != nil {
				return err
			}
			if ok {
				if f.key == "nick" && strings.TrimSpace(v) == "" {
					return c.dir.BadArg("updateDict.nick is empty")
				}
				*f.dst = v
			}
		}
		if v, ok := upd["extendConf"]; ok {
			raw, err := json.Marshal(v)
			if err != nil {
				return c.dir.BadArg("updateDict.extendConf cannot be stored: %v", err)
			}
			userID, _ := extOf(m)
			m.Ext = localExt(userID, raw)
		}
		return w.PutMember(m)
	})
}

func (c *Corp) changeStatus(ctx context.Context, a elements.Args) error {
	ids, err := c.ids(a, "memberIdList")
	if err != nil {
		return err
	}
	status, _, err := a.Int("status")
	if err != nil {
		return err
	}
	return c.dir.Update(ctx, func(w *org.Writer) error {
		switch status {
		case 1:
			return w.Reactivate(ids)
		case 2:
			return w.TakeOffline(ids)
		}
		return c.dir.BadArg("status %d must be 1 (active, 在职) or 2 (resigned, 离职)", status)
	})
}

func (c *Corp) deptMembers(ctx context.Context, a elements.Args, add bool) error {
	id, _, err := c.deptID(a, "deptId")
	if err != nil {
		return err
	}
	ids, err := c.ids(a, "memberIdList")
	if err != nil {
		return err
	}
	return c.dir.Update(ctx, func(w *org.Writer) error {
		if _, err := w.MustDept(id); err != nil {
			return err
		}
		for _, mid := range ids {
			m, err := w.MustMember(mid)
			if err != nil {
				return err
			}
			in := slices.Contains(m.DeptIDs, id)
			switch {
			case add && !in:
				m.DeptIDs = append(m.DeptIDs, id)
			case !add && in:
				if len(m.DeptIDs) == 1 {
					return c.dir.BadArg("department %d is member %q's only one: add them to another first", id, mid)
				}
				m.DeptIDs = slices.DeleteFunc(m.DeptIDs, func(x int64) bool { return x == id })
				m.LeaderDeptIDs = slices.DeleteFunc(m.LeaderDeptIDs, func(x int64) bool { return x == id })
				if m.MainDeptID == id {
					m.MainDeptID = m.DeptIDs[0]
				}
			default:
				continue
			}
			if err := w.PutMember(m); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *Corp) addRoleMember(ctx context.Context, a elements.Args) error {
	ids, err := c.ids(a, "memberIdList")
	if err != nil {
		return err
	}
	role := a.String("roleId")
	return c.dir.Update(ctx, func(w *org.Writer) error {
		for _, mid := range ids {
			if _, err := w.MustMember(mid); err != nil {
				return err
			}
			if err := w.GrantRoles(mid, []string{role}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *Corp) deleteMembers(ctx context.Context, a elements.Args) error {
	ids, err := c.ids(a, "memberIdList")
	if err != nil {
		return err
	}
	return c.dir.Update(ctx, func(w *org.Writer) error {
		for _, mid := range ids {
			m, err := w.MustMember(mid)
			if err != nil {
				return err
			}
			if m.Status != org.StatusOffline {
				return c.dir.BadArg("member %q is active: set them resigned first (changeMemberStatus with status 2)", mid)
			}
			if err := w.RemoveMember(mid); err != nil {
				return err
			}
			if err := c.dropPassword(w.Tx(), mid); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *Corp) setMemberPassword(ctx context.Context, a elements.Args) error {
	id := a.String("memberId")
	err := c.dir.Update(ctx, func(w *org.Writer) error {
		if _, err := w.MustMember(id); err != nil {
			return err
		}
		_, err := c.setPassword(w, id, a.String("username"), a.String("password"))
		return err
	})
	if err == nil {
		c.el.Logger.Info("a member's password was set: their sessions made with the old one end", "member", id)
	}
	return err
}
