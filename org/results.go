package org

import (
	"github.com/jitrt/jitrt/elements"
)

// What some methods return, as Go types with the JSON names scripts see: tools describe a
// method's result from these (elements.Method.Result; jitrt types writes them as
// TypeScript).

// Signature is what getUserSignature returns.
type Signature struct {
	MemberID  string `json:"memberId"`
	Signature string `json:"signature" doc:"the image URL, \"\" when none is saved"`
}

// DeptMember is a row of getDeptMembers.
type DeptMember struct {
	MemberID   string `json:"memberId"`
	Name       string `json:"name"`
	MainDeptID int64  `json:"mainDeptId"`
}

// DeptRoles is what getDeptRole returns.
type DeptRoles struct {
	DeptID     int64    `json:"deptId"`
	RoleIDList []string `json:"roleIdList"`
}

// methodResults are the results of the methods that declare one.
var methodResults = map[string]any{
	"syncCorp":         SyncReport{},
	"getSyncHistory":   []SyncReport{},
	"getDeptTree":      TreeDept{},
	"listMembers":      MemberPage{},
	"getRootDept":      (*elements.RowData)(nil),
	"getAdmin":         []string{},
	"getMemberRoles":   []EffectiveRole{},
	"getUserSignature": Signature{},
	"getDeptMembers":   []DeptMember{},
	"getDeptRole":      DeptRoles{},
}
