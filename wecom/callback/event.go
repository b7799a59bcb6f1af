package callback

import (
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jitrt/jitrt/wecom"
)

// The ChangeTypes of a contact-change event (Event=change_contact).
const (
	CreateUser  = "create_user"
	UpdateUser  = "update_user"
	DeleteUser  = "delete_user"
	CreateParty = "create_party"
	UpdateParty = "update_party"
	DeleteParty = "delete_party"
	UpdateTag   = "update_tag"
)

// ErrNotContactEvent is returned by ParseEvent for a callback that is not a contact change
// (a message, another event): it is acknowledged and not applied.
var ErrNotContactEvent = errors.New("callback: not a contact-change event")

// Envelope is the body of a callback POST: the encrypted message.
type Envelope struct {
	XMLName    xml.Name `xml:"xml"`
	ToUserName Text     `xml:"ToUserName"`
	AgentID    *Text    `xml:"AgentID,omitempty"`
	Encrypt    Text     `xml:"Encrypt"`
}

// Text is an XML element's text, written as CDATA and read as CDATA or bare text (WeCom
// sends both). A nil *Text is an element that is not there: in an update_user, a field
// that did not change.
type Text struct {
	V string `xml:",cdata"`
}

// T makes a present Text.
func T(s string) *Text { return &Text{V: s} }

// TInt makes a present Text of a number.
func TInt(n int64) *Text { return &Text{V: strconv.FormatInt(n, 10)} }

func (t *Text) str() string {
	if t == nil {
		return ""
	}
	return strings.TrimSpace(t.V)
}

// Event is a decrypted contact-change event. Its fields are those of every ChangeType
// (WECOM-AUTH-EVENTS.md §3); each is nil when the event does not carry it.
type Event struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   *Text    `xml:"ToUserName"`
	FromUserName *Text    `xml:"FromUserName"`
	CreateTime   *Text    `xml:"CreateTime"`
	MsgType      *Text    `xml:"MsgType"`
	Event        *Text    `xml:"Event"`
	ChangeType   *Text    `xml:"ChangeType"`

	// members
	UserID         *Text       `xml:"UserID,omitempty"`
	NewUserID      *Text       `xml:"NewUserID,omitempty"`
	Name           *Text       `xml:"Name,omitempty"`
	Department     *Text       `xml:"Department,omitempty"`
	MainDepartment *Text       `xml:"MainDepartment,omitempty"`
	IsLeaderInDept *Text       `xml:"IsLeaderInDept,omitempty"`
	DirectLeader   *Text       `xml:"DirectLeader,omitempty"`
	Position       *Text       `xml:"Position,omitempty"`
	Mobile         *Text       `xml:"Mobile,omitempty"`
	Gender         *Text       `xml:"Gender,omitempty"`
	Email          *Text       `xml:"Email,omitempty"`
	BizMail        *Text       `xml:"BizMail,omitempty"`
	Status         *Text       `xml:"Status,omitempty"`
	Avatar         *Text       `xml:"Avatar,omitempty"`
	Alias          *Text       `xml:"Alias,omitempty"`
	Telephone      *Text       `xml:"Telephone,omitempty"`
	Address        *Text       `xml:"Address,omitempty"`
	ExtAttr        *ExtAttrXML `xml:"ExtAttr,omitempty"`

	// departments (Name above is also a department's)
	ID       *Text `xml:"Id,omitempty"`
	ParentID *Text `xml:"ParentId,omitempty"`
	Order    *Text `xml:"Order,omitempty"`

	// tags
	TagID         *Text `xml:"TagId,omitempty"`
	AddUserItems  *Text `xml:"AddUserItems,omitempty"`
	DelUserItems  *Text `xml:"DelUserItems,omitempty"`
	AddPartyItems *Text `xml:"AddPartyItems,omitempty"`
	DelPartyItems *Text `xml:"DelPartyItems,omitempty"`
}

// ExtAttrXML is a member's extended attributes as events carry them.
type ExtAttrXML struct {
	Items []ExtAttrItemXML `xml:"Item"`
}

// ExtAttrItemXML is one extended attribute: Type 0 text, 1 web.
type ExtAttrItemXML struct {
	Name *Text `xml:"Name"`
	Type *Text `xml:"Type"`
	Text *struct {
		Value *Text `xml:"Value"`
	} `xml:"Text,omitempty"`
	Web *struct {
		Title *Text `xml:"Title"`
		URL   *Text `xml:"Url"`
	} `xml:"Web,omitempty"`
}

// ParseEvent reads a decrypted callback message. A message that is not a contact change is
// ErrNotContactEvent; a contact change that lacks the id its ChangeType needs is an error.
func ParseEvent(msg []byte) (*Event, error) {
	var e Event
	if err := xml.Unmarshal(msg, &e); err != nil {
		return nil, fmt.Errorf("callback: the message is not XML: %w", err)
	}
	if e.Event.str() != "change_contact" {
		return &e, fmt.Errorf("%w (MsgType %q, Event %q)", ErrNotContactEvent, e.MsgType.str(), e.Event.str())
	}
	switch e.Kind() {
	case CreateUser, UpdateUser, DeleteUser:
		if !wecom.ValidUserID(e.UserID.str()) {
			return nil, fmt.Errorf("callback: %s without a valid UserID (%q)", e.Kind(), e.UserID.str())
		}
		if e.NewUserID != nil && !wecom.ValidUserID(e.NewUserID.str()) {
			return nil, fmt.Errorf("callback: NewUserID %q is not a WeCom userid", e.NewUserID.str())
		}
	case CreateParty, UpdateParty, DeleteParty:
		if id, err := e.DeptID(); err != nil || id < 1 {
			return nil, fmt.Errorf("callback: %s without a department Id", e.Kind())
		}
	case UpdateTag:
		if _, err := strconv.ParseInt(e.TagID.str(), 10, 64); err != nil {
			return nil, fmt.Errorf("callback: update_tag without a TagId")
		}
	default:
		return nil, fmt.Errorf("callback: unknown ChangeType %q", e.Kind())
	}
	return &e, nil
}

// Marshal writes the event as WeCom does (strings as CDATA).
func (e *Event) Marshal() []byte {
	b, _ := xml.Marshal(e)
	return b
}

// Kind is the ChangeType.
func (e *Event) Kind() string { return e.ChangeType.str() }

// User is the event's member id (UserID).
func (e *Event) User() string { return e.UserID.str() }

// NewUser is the member's new id of a rename ("" if none).
func (e *Event) NewUser() string { return e.NewUserID.str() }

// DeptID is the department id of a party event.
func (e *Event) DeptID() (int64, error) { return strconv.ParseInt(e.ID.str(), 10, 64) }

// Tag is the tag id of an update_tag.
func (e *Event) Tag() int64 { n, _ := strconv.ParseInt(e.TagID.str(), 10, 64); return n }

// Departments are the member's departments, when the event carries them.
func (e *Event) Departments() ([]int64, bool) {
	if e.Department == nil {
		return nil, false
	}
	return ints(e.Department.str()), true
}

// TagItems are the members and departments an update_tag adds and removes.
func (e *Event) TagItems() (addUsers, delUsers []string, addParties, delParties []int64) {
	return list(e.AddUserItems.str()), list(e.DelUserItems.str()), ints(e.AddPartyItems.str()), ints(e.DelPartyItems.str())
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func ints(s string) []int64 {
	var out []int64
	for _, p := range list(s) {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// UserFields reports whether the event carries more of a member than its id and
// departments (WeCom's contact-sync assistant set up since 2022-08-15 sends only those).
func (e *Event) UserFields() bool {
	return e.Name != nil || e.Position != nil || e.MainDepartment != nil || e.Status != nil || e.Mobile != nil ||
		e.Email != nil || e.Gender != nil || e.Alias != nil || e.DirectLeader != nil || e.IsLeaderInDept != nil ||
		e.Telephone != nil || e.Address != nil || e.Avatar != nil || e.BizMail != nil || e.ExtAttr != nil
}

// ApplyTo changes u by the member fields the event carries (the others stay as they are);
// the userid is not touched (see NewUser).
func (e *Event) ApplyTo(u *wecom.User) {
	set := func(t *Text, dst *string) {
		if t != nil {
			*dst = t.V
		}
	}
	set(e.Name, &u.Name)
	set(e.Position, &u.Position)
	set(e.Mobile, &u.Mobile)
	set(e.Gender, &u.Gender)
	set(e.Email, &u.Email)
	set(e.BizMail, &u.BizMail)
	set(e.Avatar, &u.Avatar)
	set(e.Alias, &u.Alias)
	set(e.Telephone, &u.Telephone)
	set(e.Address, &u.Address)
	if d, ok := e.Departments(); ok {
		if !slices.Equal(d, u.Department) {
			u.Order = nil
		}
		u.Department = d
		if e.IsLeaderInDept == nil && len(u.IsLeaderInDept) != len(d) {
			u.IsLeaderInDept = make([]int, len(d))
		}
	}
	if e.IsLeaderInDept != nil {
		u.IsLeaderInDept = nil
		for _, n := range ints(e.IsLeaderInDept.str()) {
			u.IsLeaderInDept = append(u.IsLeaderInDept, int(n))
		}
	}
	if e.MainDepartment != nil {
		u.MainDepartment, _ = strconv.ParseInt(e.MainDepartment.str(), 10, 64)
	}
	if e.DirectLeader != nil {
		u.DirectLeader = list(e.DirectLeader.str())
	}
	if e.Status != nil {
		u.Status, _ = strconv.Atoi(e.Status.str())
	}
	if e.ExtAttr != nil {
		u.ExtAttr = nil // none: WeCom leaves extattr out
		if len(e.ExtAttr.Items) > 0 {
			u.ExtAttr = e.ExtAttr.toWeCom()
		}
	}
}

func (x *ExtAttrXML) toWeCom() *wecom.ExtAttr {
	out := &wecom.ExtAttr{Attrs: []wecom.ExtAttrItem{}}
	for _, it := range x.Items {
		typ, _ := strconv.Atoi(it.Type.str())
		item := wecom.ExtAttrItem{Type: typ, Name: it.Name.str()}
		switch {
		case typ == 1 && it.Web != nil:
			item.Web = &wecom.ExtWeb{Title: it.Web.Title.str(), URL: it.Web.URL.str()}
		case it.Text != nil:
			item.Text = &wecom.ExtText{Value: it.Text.Value.str()}
		}
		out.Attrs = append(out.Attrs, item)
	}
	return out
}

func extAttrXML(a *wecom.ExtAttr) *ExtAttrXML {
	x := &ExtAttrXML{}
	if a == nil {
		return x
	}
	for _, it := range a.Attrs {
		item := ExtAttrItemXML{Name: T(it.Name), Type: TInt(int64(it.Type))}
		switch {
		case it.Web != nil:
			item.Web = &struct {
				Title *Text `xml:"Title"`
				URL   *Text `xml:"Url"`
			}{T(it.Web.Title), T(it.Web.URL)}
		case it.Text != nil:
			item.Text = &struct {
				Value *Text `xml:"Value"`
			}{T(it.Text.Value)}
		default:
			continue // WeCom's events carry text and web attributes
		}
		x.Items = append(x.Items, item)
	}
	return x
}

func header(corpID, changeType string, at int64) Event {
	return Event{ToUserName: T(corpID), FromUserName: T("sys"), CreateTime: TInt(at), MsgType: T("event"),
		Event: T("change_contact"), ChangeType: T(changeType)}
}

func joinInts[T int | int64](l []T) string {
	parts := make([]string, len(l))
	for i, v := range l {
		parts[i] = strconv.FormatInt(int64(v), 10)
	}
	return strings.Join(parts, ",")
}

// UserEvent is the event of a member's change: create_user with every field of now,
// update_user with the fields that differ from before (and NewUserID for a rename), or
// delete_user. minimal writes only UserID and Department, as WeCom's contact-sync assistant
// does for callbacks set up since 2022-08-15.
func UserEvent(corpID, changeType string, at int64, before, now *wecom.User, minimal bool) *Event {
	e := header(corpID, changeType, at)
	switch changeType {
	case DeleteUser:
		e.UserID = T(before.UserID)
		return &e
	case CreateUser:
		before = &wecom.User{}
		e.UserID = T(now.UserID)
	default:
		e.UserID = T(before.UserID)
		if before.UserID != now.UserID {
			e.NewUserID = T(now.UserID)
		}
	}
	changed := func(a, b string) *Text {
		if changeType == CreateUser || a != b {
			return T(b)
		}
		return nil
	}
	if !slices.Equal(before.Department, now.Department) || changeType == CreateUser {
		e.Department = T(joinInts(now.Department))
	}
	if minimal {
		if changeType == UpdateUser && e.Department == nil {
			e.Department = T(joinInts(now.Department))
		}
		return &e
	}
	e.Name = changed(before.Name, now.Name)
	e.Position = changed(before.Position, now.Position)
	e.Mobile = changed(before.Mobile, now.Mobile)
	e.Gender = changed(before.Gender, now.Gender)
	e.Email = changed(before.Email, now.Email)
	e.BizMail = changed(before.BizMail, now.BizMail)
	e.Avatar = changed(before.Avatar, now.Avatar)
	e.Alias = changed(before.Alias, now.Alias)
	e.Telephone = changed(before.Telephone, now.Telephone)
	e.Address = changed(before.Address, now.Address)
	e.MainDepartment = changed(strconv.FormatInt(before.MainDepartment, 10), strconv.FormatInt(now.MainDepartment, 10))
	e.IsLeaderInDept = changed(joinInts(before.IsLeaderInDept), joinInts(now.IsLeaderInDept))
	e.DirectLeader = changed(strings.Join(before.DirectLeader, ","), strings.Join(now.DirectLeader, ","))
	e.Status = changed(strconv.Itoa(before.Status), strconv.Itoa(now.Status))
	bx, nx := extAttrXML(before.ExtAttr), extAttrXML(now.ExtAttr)
	if (changeType == CreateUser && len(nx.Items) > 0) || (changeType != CreateUser && string(mustXML(bx)) != string(mustXML(nx))) {
		e.ExtAttr = nx
	}
	return &e
}

func mustXML(v any) []byte {
	b, _ := xml.Marshal(v)
	return b
}

// PartyEvent is the event of a department's change: create_party with every field,
// update_party with the name and parent that changed, delete_party. minimal writes only Id
// and ParentId (and sends an update_party only if the parent changed).
func PartyEvent(corpID, changeType string, at int64, before, now *wecom.Department, minimal bool) *Event {
	e := header(corpID, changeType, at)
	switch changeType {
	case DeleteParty:
		e.ID = TInt(before.ID)
		return &e
	case CreateParty:
		e.ID, e.ParentID = TInt(now.ID), TInt(now.ParentID)
		if !minimal {
			e.Name, e.Order = T(now.Name), TInt(now.Order)
		}
		return &e
	}
	e.ID = TInt(now.ID)
	if before.ParentID != now.ParentID {
		e.ParentID = TInt(now.ParentID)
	}
	if !minimal && before.Name != now.Name {
		e.Name = T(now.Name)
	}
	if minimal && e.ParentID == nil {
		return nil // the assistant's update_party is only for a new parent
	}
	return &e
}

// TagEvent is an update_tag of the members and departments added to and removed from a tag.
func TagEvent(corpID string, at int64, tagID int64, addUsers, delUsers []string, addParties, delParties []int64) *Event {
	e := header(corpID, UpdateTag, at)
	e.TagID = TInt(tagID)
	if len(addUsers) > 0 {
		e.AddUserItems = T(strings.Join(addUsers, ","))
	}
	if len(delUsers) > 0 {
		e.DelUserItems = T(strings.Join(delUsers, ","))
	}
	if len(addParties) > 0 {
		e.AddPartyItems = T(joinInts(addParties))
	}
	if len(delParties) > 0 {
		e.DelPartyItems = T(joinInts(delParties))
	}
	return &e
}

// fieldLimits are WeCom's caps on what a member or department field holds (user/create,
// department/create: userid 1–64 bytes, name and alias 1–64 UTF-8 characters, position
// 0–128 characters, email 6–64 bytes, telephone 32 bytes, address 128 characters, a
// department's name 1–64 characters); an event over them did not come from WeCom as
// documented. chars counts characters, else bytes.
var fieldLimits = []struct {
	name  string
	get   func(*Event) *Text
	max   int
	chars bool
}{
	{"UserID", func(e *Event) *Text { return e.UserID }, 64, false},
	{"NewUserID", func(e *Event) *Text { return e.NewUserID }, 64, false},
	{"Name", func(e *Event) *Text { return e.Name }, 64, true},
	{"Alias", func(e *Event) *Text { return e.Alias }, 64, true},
	{"Position", func(e *Event) *Text { return e.Position }, 128, true},
	{"Mobile", func(e *Event) *Text { return e.Mobile }, 32, false},
	{"Email", func(e *Event) *Text { return e.Email }, 64, false},
	{"BizMail", func(e *Event) *Text { return e.BizMail }, 64, false},
	{"Telephone", func(e *Event) *Text { return e.Telephone }, 32, false},
	{"Address", func(e *Event) *Text { return e.Address }, 128, true},
	{"Avatar", func(e *Event) *Text { return e.Avatar }, 1024, false},
	{"Gender", func(e *Event) *Text { return e.Gender }, 8, false},
	{"Status", func(e *Event) *Text { return e.Status }, 8, false},
	{"Department", func(e *Event) *Text { return e.Department }, 100 * 21, false}, // ≤ 100 ids
	{"MainDepartment", func(e *Event) *Text { return e.MainDepartment }, 20, false},
	{"IsLeaderInDept", func(e *Event) *Text { return e.IsLeaderInDept }, 100 * 2, false},
	{"DirectLeader", func(e *Event) *Text { return e.DirectLeader }, 5 * 65, false}, // ≤ 5 userids
	{"Id", func(e *Event) *Text { return e.ID }, 20, false},
	{"ParentId", func(e *Event) *Text { return e.ParentID }, 20, false},
	{"Order", func(e *Event) *Text { return e.Order }, 20, false},
}

// Oversized names the first field of the event over WeCom's cap on it, with its length
// and the cap ("" when every field is within its cap).
func (e *Event) Oversized() string {
	for _, f := range fieldLimits {
		t := f.get(e)
		if t == nil {
			continue
		}
		n, unit := len(t.V), "bytes"
		if f.chars {
			n, unit = utf8.RuneCountInString(t.V), "characters"
		}
		if n > f.max {
			return fmt.Sprintf("%s is %d %s, over WeCom's %d", f.name, n, unit, f.max)
		}
	}
	return ""
}
