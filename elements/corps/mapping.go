package corps

import (
	"encoding/json"
	"slices"

	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/wecom"
)

// # WeCom's member in the org, and back
//
// This file is the one place where a WeCom member becomes an org member and back. The org
// keeps the neutral fields; what only WeCom knows goes into the record's provider part
// (org.Member.Ext) as weComExt.

// weComExt is WeCom's part of a member record, its fields in the order of org.LegacyExt
// (the order the org's upgrade of a record written before the org engine keeps them, so an
// upgraded org re-syncs without a write).
type weComExt struct {
	BizMail          string
	ThumbAvatar      string
	QRCode           string
	Address          string
	Alias            string
	ExternalPosition string
	ExtAttr          *wecom.ExtAttr
	Status           int
}

// encode writes the part as the org stores it.
func (x *weComExt) encode() json.RawMessage {
	var attr []byte
	if x.ExtAttr != nil {
		attr, _ = json.Marshal(x.ExtAttr)
	}
	var b org.ExtBuilder
	n := len(x.BizMail) + len(x.ThumbAvatar) + len(x.QRCode) + len(x.Address) + len(x.Alias) + len(x.ExternalPosition) + len(attr)
	b.Grow(n + n/8 + 48)
	b.String(x.BizMail)
	b.String(x.ThumbAvatar)
	b.String(x.QRCode)
	b.String(x.Address)
	b.String(x.Alias)
	b.String(x.ExternalPosition)
	b.RawBytes(attr)
	b.Int(int64(x.Status))
	return b.JSON()
}

// extOf reads WeCom's part of a member (zero if it has none).
func extOf(m *org.Member) weComExt {
	var x weComExt
	f := org.ExtValues(m.Ext)
	if len(f) != len(org.LegacyExt) {
		return x
	}
	x.BizMail, x.ThumbAvatar, x.QRCode, x.Address, x.Alias, x.ExternalPosition = f[0].Str, f[1].Str, f[2].Str, f[3].Str, f[4].Str, f[5].Str
	if f[6].IsObject() {
		x.ExtAttr = &wecom.ExtAttr{}
		json.Unmarshal([]byte(f[6].Raw), x.ExtAttr)
	}
	x.Status = int(f[7].Int())
	return x
}

// weComProfile is what the org knows of WeCom.
var weComProfile = org.Profile{
	Platform:      "WeCom",
	MemberIDName:  "WeCom userid",
	ValidMemberID: wecom.ValidUserID,
	MemberIDRule:  wecom.UserIDRule,
	MaxDeptID:     wecom.MaxDeptID,
	ExtFields:     org.LegacyExt,
	Aliases:       []org.Alias{{Name: "wecomUserId", Of: "memberId"}},
	KeepWithheld:  keepWithheldTail,
}

// memberFromWeCom builds a member from WeCom's member, keeping only departments the local
// org has. dropped reports whether some were left out.
func memberFromWeCom(u *wecom.User, known map[int64]bool, root int64) (*org.Member, bool) {
	rec := &org.Member{}
	dropped := fillMember(rec, u, known, root)
	return rec, dropped
}

// fillMember is memberFromWeCom into a member of the caller's (a sync's, on its stack: one
// object fewer a member).
func fillMember(rec *org.Member, u *wecom.User, known map[int64]bool, root int64) (dropped bool) {
	*rec = org.Member{
		MemberID: u.UserID, Name: u.Name, Position: u.Position, Mobile: u.Mobile, Email: u.Email, Avatar: u.Avatar,
		Gender: u.Gender, Telephone: u.Telephone, EnglishName: u.EnglishName, DirectLeader: u.DirectLeader,
		DeptIDs: make([]int64, 0, len(u.Department)),
	}
	x := weComExt{BizMail: u.BizMail, ThumbAvatar: u.ThumbAvatar, QRCode: u.QRCode, Address: u.Address, Alias: u.Alias,
		ExternalPosition: u.ExternalPosition, ExtAttr: u.ExtAttr, Status: u.Status}
	rec.Ext = x.encode()
	for i, d := range u.Department {
		if !known[d] {
			dropped = true
			continue
		}
		rec.DeptIDs = append(rec.DeptIDs, d)
		if i < len(u.IsLeaderInDept) && u.IsLeaderInDept[i] == 1 {
			rec.LeaderDeptIDs = append(rec.LeaderDeptIDs, d)
		}
	}
	switch {
	case known[u.MainDepartment] && slices.Contains(rec.DeptIDs, u.MainDepartment):
		rec.MainDeptID = u.MainDepartment
	case len(rec.DeptIDs) > 0:
		rec.MainDeptID = rec.DeptIDs[0]
	default:
		rec.DeptIDs = []int64{root}
		rec.MainDeptID = root
	}
	return dropped
}

// weComMember is WeCom's member (as user/get or an event leaves it) as an org member with
// all its departments (the org keeps those it has); a member WeCom gives no status is
// active (1).
func weComMember(u *wecom.User) *org.Member {
	if u.Status == 0 {
		u.Status = 1
	}
	all := make(map[int64]bool, len(u.Department))
	for _, d := range u.Department {
		all[d] = true
	}
	m, _ := memberFromWeCom(u, all, 0)
	return m
}

// toWeCom is a stored member as WeCom's member, for an event to change.
func toWeCom(m *org.Member) *wecom.User {
	x := extOf(m)
	u := &wecom.User{UserID: m.MemberID, Name: m.Name, Department: slices.Clone(m.DeptIDs), Position: m.Position,
		Mobile: m.Mobile, Gender: m.Gender, Email: m.Email, BizMail: x.BizMail, DirectLeader: slices.Clone(m.DirectLeader),
		Avatar: m.Avatar, ThumbAvatar: x.ThumbAvatar, Telephone: m.Telephone, Alias: x.Alias, Address: x.Address,
		MainDepartment: m.MainDeptID, ExtAttr: x.ExtAttr, Status: x.Status, QRCode: x.QRCode,
		ExternalPosition: x.ExternalPosition, EnglishName: m.EnglishName}
	u.IsLeaderInDept = make([]int, len(u.Department))
	for i, d := range u.Department {
		if slices.Contains(m.LeaderDeptIDs, d) {
			u.IsLeaderInDept[i] = 1
		}
	}
	return u
}

// keepWithheldTail is a fetched record tail with the stored values of the fields WeCom
// withheld: a withheld field is unknown, not cleared.
func keepWithheldTail(tail, oldRaw string, withheld map[string]bool) string {
	rec, err1 := org.DecodeMember(`["","","","","","",` + tail)
	old, err2 := org.DecodeMember(oldRaw)
	if err1 != nil || err2 != nil {
		return tail
	}
	x, ox := extOf(rec), extOf(old)
	for _, f := range []struct {
		name     string
		dst, src *string
	}{
		{"mobile", &rec.Mobile, &old.Mobile}, {"email", &rec.Email, &old.Email}, {"biz_mail", &x.BizMail, &ox.BizMail},
		{"avatar", &rec.Avatar, &old.Avatar}, {"thumb_avatar", &x.ThumbAvatar, &ox.ThumbAvatar},
		{"gender", &rec.Gender, &old.Gender}, {"qr_code", &x.QRCode, &ox.QRCode}, {"address", &x.Address, &ox.Address},
	} {
		if withheld[f.name] {
			*f.dst = *f.src
		}
	}
	rec.Ext = x.encode()
	return org.EncodeTail(rec)
}

// fetchedMember is WeCom's member as the org's sync compares it.
func fetchedMember(u *wecom.User, known map[int64]bool, root int64) org.FetchedMember {
	var rec org.Member
	dropped := fillMember(&rec, u, known, root)
	return org.MakeFetched(&rec, dropped)
}

// orgDepts are WeCom's departments as the org's.
func orgDepts(depts []wecom.Department) []org.Dept {
	out := make([]org.Dept, len(depts))
	for i, d := range depts {
		out[i] = org.Dept{DeptID: d.ID, Name: d.Name, NameEn: d.NameEn, ParentID: d.ParentID, Order: d.Order, Leaders: d.Leaders}
	}
	return out
}

// fetched is a WeCom org, its members made into record tails, as the org diffs it.
func fetched(wo *wecom.Org, members []org.FetchedMember) *org.Fetched {
	f := &org.Fetched{Depts: orgDepts(wo.Departments), Members: members, Withheld: wo.Withheld, Path: wo.Path}
	for _, t := range wo.Tags {
		tag := org.Tag{TagID: t.TagID, Name: t.TagName, MemberIDs: make([]string, 0, len(t.UserList)), DeptIDs: t.PartyList}
		for _, tu := range t.UserList {
			tag.MemberIDs = append(tag.MemberIDs, tu.UserID)
		}
		f.Tags = append(f.Tags, tag)
	}
	return f
}
