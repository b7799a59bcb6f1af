package dingtalksim

import (
	"fmt"
	"slices"

	"github.com/jitrt/jitrt/dingtalk/callback"
)

// The changes of the org, each pushed as DingTalk pushes it (DINGTALK-API.md §10.7): ids
// only, an added member followed by a modify of the same member, a move as a modify.

// AddUser adds a member (its departments must exist; the first is the main one).
func (s *Server) AddUser(u User) error {
	s.mu.Lock()
	if _, dup := s.users[u.UserID]; dup || u.UserID == "" {
		s.mu.Unlock()
		return fmt.Errorf("dingtalksim: userid %q is empty or taken", u.UserID)
	}
	if len(u.Depts) == 0 {
		u.Depts = []int64{1}
	}
	for _, d := range u.Depts {
		if s.depts[d] == nil {
			s.mu.Unlock()
			return fmt.Errorf("dingtalksim: no department %d", d)
		}
	}
	for len(u.Orders) < len(u.Depts) {
		u.Orders = append(u.Orders, 0)
	}
	for len(u.Leader) < len(u.Depts) {
		u.Leader = append(u.Leader, false)
	}
	if u.UnionID == "" {
		u.UnionID = unionID(s.opts.AppKey, u.UserID)
	}
	nu := cloneUser(&u)
	s.users[u.UserID] = &nu
	s.reindex()
	s.mu.Unlock()
	s.emit(callback.UserAdd, []string{u.UserID}, nil)
	s.emit(callback.UserModify, []string{u.UserID}, nil)
	return nil
}

// UpdateUser changes a member (fn gets it to change; a move changes Depts).
func (s *Server) UpdateUser(id string, fn func(u *User)) error {
	s.mu.Lock()
	u, ok := s.users[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("dingtalksim: no member %q", id)
	}
	c := cloneUser(u)
	fn(&c)
	c.UserID = id
	for len(c.Orders) < len(c.Depts) {
		c.Orders = append(c.Orders, 0)
	}
	for len(c.Leader) < len(c.Depts) {
		c.Leader = append(c.Leader, false)
	}
	s.users[id] = &c
	s.reindex()
	s.mu.Unlock()
	s.emit(callback.UserModify, []string{id}, nil)
	return nil
}

// RemoveUser deletes a member (DingTalk keeps no leavers: it is gone from every read).
func (s *Server) RemoveUser(id string) error {
	s.mu.Lock()
	if _, ok := s.users[id]; !ok {
		s.mu.Unlock()
		return fmt.Errorf("dingtalksim: no member %q", id)
	}
	delete(s.users, id)
	delete(s.admins, id)
	for _, d := range s.depts {
		d.Managers = slices.DeleteFunc(d.Managers, func(m string) bool { return m == id })
	}
	s.reindex()
	s.mu.Unlock()
	s.emit(callback.UserLeave, []string{id}, nil)
	return nil
}

// AddDepartment adds a department under an existing one.
func (s *Server) AddDepartment(d Department) error {
	s.mu.Lock()
	if s.depts[d.ID] != nil || d.ID <= 1 || s.depts[d.ParentID] == nil {
		s.mu.Unlock()
		return fmt.Errorf("dingtalksim: department %d is taken or its parent %d does not exist", d.ID, d.ParentID)
	}
	nd := d
	nd.Managers = slices.Clone(d.Managers)
	s.depts[d.ID] = &nd
	s.reindex()
	s.mu.Unlock()
	s.emit(callback.DeptCreate, nil, []int64{d.ID})
	return nil
}

// UpdateDepartment changes a department (a rename, a move, its managers).
func (s *Server) UpdateDepartment(id int64, fn func(d *Department)) error {
	s.mu.Lock()
	d := s.depts[id]
	if d == nil {
		s.mu.Unlock()
		return fmt.Errorf("dingtalksim: no department %d", id)
	}
	c := *d
	c.Managers = slices.Clone(d.Managers)
	fn(&c)
	c.ID = id
	if id != 1 && (s.depts[c.ParentID] == nil || c.ParentID == id) {
		s.mu.Unlock()
		return fmt.Errorf("dingtalksim: department %d cannot move under %d", id, c.ParentID)
	}
	s.depts[id] = &c
	s.reindex()
	s.mu.Unlock()
	s.emit(callback.DeptModify, nil, []int64{id})
	return nil
}

// RemoveDepartment deletes a department without members, with its sub-departments (one
// event naming them all, as DingTalk cascades).
func (s *Server) RemoveDepartment(id int64) error {
	s.mu.Lock()
	if s.depts[id] == nil || id == 1 {
		s.mu.Unlock()
		return fmt.Errorf("dingtalksim: no department %d to remove", id)
	}
	var gone []int64
	var walk func(int64)
	walk = func(x int64) {
		for _, c := range s.children[x] {
			walk(c)
		}
		gone = append(gone, x)
	}
	walk(id)
	for _, g := range gone {
		if len(s.members[g]) > 0 {
			s.mu.Unlock()
			return fmt.Errorf("dingtalksim: department %d has members: DingTalk removes no such department", g)
		}
	}
	for _, g := range gone {
		delete(s.depts, g)
	}
	s.reindex()
	s.mu.Unlock()
	s.emit(callback.DeptRemove, nil, gone)
	return nil
}

// SetAdmin makes a member an administrator (level 1 main, 2 sub) or, level 0, not one.
func (s *Server) SetAdmin(id string, level int) error {
	s.mu.Lock()
	if _, ok := s.users[id]; !ok {
		s.mu.Unlock()
		return fmt.Errorf("dingtalksim: no member %q", id)
	}
	was := s.admins[id]
	if level == 0 {
		delete(s.admins, id)
	} else {
		s.admins[id] = level
	}
	s.mu.Unlock()
	switch {
	case was == 0 && level > 0:
		s.emit(callback.AdminAdd, []string{id}, nil)
	case was > 0 && level == 0:
		s.emit(callback.AdminRemove, []string{id}, nil)
	}
	return nil
}
