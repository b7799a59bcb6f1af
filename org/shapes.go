package org

// TreeDept is a department as getDeptTree answers it.
type TreeDept struct {
	DeptID   int64  `json:"deptId"`
	Name     string `json:"name"`
	ParentID int64  `json:"parentId"`
	// Members are the active members directly in it; Total the distinct active members in
	// it and below.
	Members        int        `json:"members"`
	Total          int        `json:"total"`
	SubDepartments int        `json:"subDepartments"`
	Children       []TreeDept `json:"children"` // nil below the depth asked for
}

// MemberRow is a row of listMembers.
type MemberRow struct {
	MemberID   string `json:"memberId"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Position   string `json:"position"`
	MainDeptID int64  `json:"mainDeptId"`
	// MainDeptName is the main department's name ("" when it is not in the org).
	MainDeptName string  `json:"mainDeptName"`
	DeptIDs      []int64 `json:"deptIds"`
	// Leader says whether the member leads the department listed (nil with no department).
	Leader *bool `json:"leader"`
}

// MemberPage is what listMembers answers: a page of members and how many the query selects.
type MemberPage struct {
	Total   int         `json:"total"`
	Members []MemberRow `json:"members"`
}
