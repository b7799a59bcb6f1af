package corps

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/callback"
)

// # WeCom's change events in the org's terms
//
// The org's engine applies the queued events (org/events.go); this file is WeCom's side
// of it (org.EventSource): a queued callback (its decrypted XML) decoded into an org.Event,
// and the single objects an event only names (user/get, department/get, tag/get).

// startApplier starts the inbox's committer and the engine's applier (jitrt run).
func (c *Corp) startApplier() {
	c.inbox.Start()
	c.stopEvents = c.engine.StartEvents(c.inbox.Wake())
}

// stopApplier stops both (queued events stay in the store for the next instance).
func (c *Corp) stopApplier() {
	if c.stopEvents == nil {
		return
	}
	c.inbox.Stop()
	c.stopEvents()
}

// DecodeEvent reads a queued WeCom callback as an org event (org.EventSource).
func (c *Corp) DecodeEvent(raw string) (*org.Event, error) {
	ev, err := callback.ParseEvent([]byte(raw))
	if err != nil {
		return nil, err
	}
	oe := &org.Event{Name: ev.Kind(), Oversized: ev.Oversized()}
	switch ev.Kind() {
	case callback.CreateUser, callback.UpdateUser:
		oe.Kind, oe.Create = org.MemberChanged, ev.Kind() == callback.CreateUser
		oe.MemberID, oe.NewMemberID = ev.User(), ev.NewUser()
		oe.Whole = ev.UserFields()
		oe.Depts, oe.DeptsNamed = ev.Departments()
		oe.Patch = func(base *org.Member) *org.Member {
			u := toWeCom(base)
			ev.ApplyTo(u)
			return weComMember(u)
		}
	case callback.DeleteUser:
		oe.Kind, oe.MemberID = org.MemberLeft, ev.User()
	case callback.CreateParty, callback.UpdateParty:
		oe.Kind, oe.Create = org.DeptChanged, ev.Kind() == callback.CreateParty
		oe.DeptID, _ = ev.DeptID()
		if ev.Name != nil {
			oe.DeptName = &ev.Name.V
		}
		if ev.ParentID != nil {
			p, _ := strconv.ParseInt(strings.TrimSpace(ev.ParentID.V), 10, 64)
			oe.DeptParent = &p
		}
		if ev.Order != nil {
			o, _ := strconv.ParseInt(strings.TrimSpace(ev.Order.V), 10, 64)
			oe.DeptOrder = &o
		}
	case callback.DeleteParty:
		oe.Kind = org.DeptRemoved
		oe.DeptID, _ = ev.DeptID()
	case callback.UpdateTag:
		oe.Kind, oe.TagID = org.TagChanged, ev.Tag()
		oe.TagAddMembers, oe.TagDelMembers, oe.TagAddDepts, oe.TagDelDepts = ev.TagItems()
	default:
		return nil, fmt.Errorf("a WeCom change event of kind %q", ev.Kind())
	}
	return oe, nil
}

// notInWeCom is err as org.ErrNotInPlatform when WeCom says it has no such object or does
// not let the app see it; else as the corp reports WeCom's errors.
func (c *Corp) notInWeCom(op string, err error) error {
	switch wecom.CodeOf(err) {
	case wecom.CodeUserNotFound, wecom.CodeInvalidUserID, wecom.CodeDeptNotFound,
		wecom.CodeInvalidDepartment, wecom.CodeInvalidTagID, wecom.CodeNoPermission:
		return fmt.Errorf("%s: %w (%v)", op, org.ErrNotInPlatform, err)
	}
	return c.wecomErr(op, err)
}

// FetchMember fetches one member from WeCom (user/get) with all their departments.
func (c *Corp) FetchMember(ctx context.Context, id string) (*org.Member, error) {
	client, err := c.wecomClient()
	if err != nil {
		return nil, err
	}
	u, err := client.GetUser(ctx, id)
	if err != nil {
		return nil, c.notInWeCom("fetch a member named by an event", err)
	}
	return weComMember(u), nil
}

// FetchDept fetches one department from WeCom (department/get).
func (c *Corp) FetchDept(ctx context.Context, id int64) (*org.Dept, error) {
	client, err := c.wecomClient()
	if err != nil {
		return nil, err
	}
	d, err := client.GetDepartment(ctx, id)
	if err != nil {
		return nil, c.notInWeCom("fetch a department named by an event", err)
	}
	return &orgDepts([]wecom.Department{*d})[0], nil
}

// FetchTag fetches one tag with its members and departments from WeCom (tag/get).
func (c *Corp) FetchTag(ctx context.Context, id int64) (*org.Tag, error) {
	client, err := c.wecomClient()
	if err != nil {
		return nil, err
	}
	t, err := client.GetTag(ctx, id)
	if err != nil {
		return nil, c.notInWeCom("fetch a tag named by an event", err)
	}
	tag := &org.Tag{TagID: id, Name: t.TagName, DeptIDs: t.PartyList}
	for _, tu := range t.UserList {
		tag.MemberIDs = append(tag.MemberIDs, tu.UserID)
	}
	return tag, nil
}
