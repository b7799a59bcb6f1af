package wecomsim

import (
	"fmt"
	"slices"
	"time"

	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/callback"
)

// # The org changes while the emulator runs
//
// Every change below is visible to the read endpoints at once and is pushed, as WeCom
// does, as a change_contact event to each registered callback (see push.go): a member
// added, updated, moved, renamed or removed; a department added, renamed, moved or removed;
// a tag's members changed. A change that touches other records (a removed member leaves
// the direct-leader lists of others) sends their events too.

// emitUser sends the event of a member's change to every callback. Called with mu held.
func (s *Server) emitUser(changeType string, before, now *wecom.User) {
	if len(s.pushers) == 0 || (changeType == callback.UpdateUser && sameUser(before, now)) {
		return
	}
	at := time.Now().Unix()
	b, n := before, now
	if s.withhold {
		// an app that is refused the sensitive fields gets no events of them either
		if b != nil {
			b = s.served(b)
		}
		if n != nil {
			n = s.served(n)
		}
	}
	key := ""
	if b != nil {
		key = b.UserID
	} else {
		key = n.UserID
	}
	s.emit("u:"+key, func(minimal bool) *callback.Event {
		return callback.UserEvent(s.opts.CorpID, changeType, at, b, n, minimal)
	})
}

func (s *Server) emitParty(changeType string, before, now *wecom.Department) {
	if len(s.pushers) == 0 {
		return
	}
	at := time.Now().Unix()
	id := int64(0)
	if before != nil {
		id = before.ID
	} else {
		id = now.ID
	}
	s.emit(fmt.Sprint("d:", id), func(minimal bool) *callback.Event {
		return callback.PartyEvent(s.opts.CorpID, changeType, at, before, now, minimal)
	})
}

func (s *Server) emitTag(tagID int64, addUsers, delUsers []string, addParties, delParties []int64) {
	if len(s.pushers) == 0 || len(addUsers)+len(delUsers)+len(addParties)+len(delParties) == 0 {
		return
	}
	at := time.Now().Unix()
	s.emit(fmt.Sprint("t:", tagID), func(bool) *callback.Event {
		return callback.TagEvent(s.opts.CorpID, at, tagID, addUsers, delUsers, addParties, delParties)
	})
}

// changed drops the cached responses: the next read sees the change. Called with mu held.
func (s *Server) changed() {
	s.cache = map[string][]byte{}
	s.version++
}

// indexUser adds a member to its departments' sorted lists; unindexUser takes it out.
func (s *Server) indexUser(u *wecom.User) {
	for _, d := range u.Department {
		ids := s.byDept[d]
		i, found := slices.BinarySearch(ids, u.UserID)
		if !found {
			s.byDept[d] = slices.Insert(ids, i, u.UserID)
		}
	}
}

func (s *Server) unindexUser(u *wecom.User) {
	for _, d := range u.Department {
		ids := s.byDept[d]
		if i, found := slices.BinarySearch(ids, u.UserID); found {
			s.byDept[d] = slices.Delete(ids, i, i+1)
		}
	}
}

func (s *Server) indexDept(d *wecom.Department) {
	if d.ParentID == 0 {
		return
	}
	ids := s.children[d.ParentID]
	if i, found := slices.BinarySearch(ids, d.ID); !found {
		s.children[d.ParentID] = slices.Insert(ids, i, d.ID)
	}
}

func (s *Server) unindexDept(d *wecom.Department) {
	ids := s.children[d.ParentID]
	if i, found := slices.BinarySearch(ids, d.ID); found {
		s.children[d.ParentID] = slices.Delete(ids, i, i+1)
	}
}

// AddUser adds a member. Its departments must exist; Order and IsLeaderInDept default to
// zeros and MainDepartment to the first department.
func (s *Server) AddUser(u wecom.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.UserID]; ok {
		return fmt.Errorf("%w: user %q", ErrExists, u.UserID)
	}
	if !wecom.ValidUserID(u.UserID) {
		return fmt.Errorf("%w: %q is not a WeCom userid", ErrInvalid, u.UserID)
	}
	if err := s.fixUser(&u); err != nil {
		return err
	}
	c := cloneUser(u)
	s.users[u.UserID] = &c
	s.indexUser(&c)
	s.changed()
	s.emitUser(callback.CreateUser, nil, &c)
	return nil
}

// UpdateUser changes a member in place.
func (s *Server) UpdateUser(userID string, fn func(u *wecom.User)) error {
	return s.UpdateUsers([]string{userID}, fn)
}

// UpdateUsers changes several members in place at once: all or none (the first id that is
// unknown or whose change is invalid changes nothing). The userid cannot change here (see
// RenameUser).
func (s *Server) UpdateUsers(userIDs []string, fn func(u *wecom.User)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := make(map[string]*wecom.User, len(userIDs))
	var order []string
	for _, userID := range userIDs {
		u, ok := changed[userID]
		if !ok {
			if u, ok = s.users[userID]; !ok {
				return fmt.Errorf("%w: user %q", ErrNotFound, userID)
			}
			order = append(order, userID)
		}
		c := cloneUser(*u)
		fn(&c)
		if c.UserID != userID {
			return fmt.Errorf("%w: the userid cannot change here (RenameUser)", ErrInvalid)
		}
		if err := s.fixUser(&c); err != nil {
			return err
		}
		changed[userID] = &c
	}
	for _, id := range order {
		old, u := s.users[id], changed[id]
		s.unindexUser(old)
		s.users[id] = u
		s.indexUser(u)
		s.emitUser(callback.UpdateUser, old, u)
	}
	s.changed()
	return nil
}

// RenameUser changes a member's userid (WeCom lets a generated userid change once). The
// member's departments, tags and the direct-leader lists that name it follow.
func (s *Server) RenameUser(oldID, newID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[oldID]
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, oldID)
	}
	if _, taken := s.users[newID]; taken {
		return fmt.Errorf("%w: user %q", ErrExists, newID)
	}
	if !wecom.ValidUserID(newID) {
		return fmt.Errorf("%w: %q is not a WeCom userid", ErrInvalid, newID)
	}
	u := cloneUser(*old)
	u.UserID = newID
	s.unindexUser(old)
	delete(s.users, oldID)
	s.users[newID] = &u
	s.indexUser(&u)
	for _, t := range s.tags {
		for i := range t.UserList {
			if t.UserList[i].UserID == oldID {
				t.UserList[i].UserID = newID
			}
		}
	}
	for _, d := range s.depts {
		for i, l := range d.Leaders {
			if l == oldID {
				d.Leaders[i] = newID
			}
		}
	}
	s.emitUser(callback.UpdateUser, old, &u)
	s.replaceLeader(oldID, newID)
	s.changed()
	return nil
}

// replaceLeader changes (or with newID "", removes) a member in every direct-leader list,
// with an update_user of each member whose list changed. Called with mu held.
func (s *Server) replaceLeader(oldID, newID string) {
	for _, id := range sortedKeys(s.users) {
		u := s.users[id]
		if !slices.Contains(u.DirectLeader, oldID) {
			continue
		}
		c := cloneUser(*u)
		if newID == "" {
			c.DirectLeader = slices.DeleteFunc(c.DirectLeader, func(l string) bool { return l == oldID })
		} else {
			for i, l := range c.DirectLeader {
				if l == oldID {
					c.DirectLeader[i] = newID
				}
			}
		}
		if len(c.DirectLeader) == 0 {
			c.DirectLeader = nil
		}
		s.users[id] = &c
		s.emitUser(callback.UpdateUser, u, &c)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// RemoveUser deletes a member; it leaves the tags, department leaders and direct-leader
// lists that named it.
func (s *Server) RemoveUser(userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, userID)
	}
	s.unindexUser(u)
	delete(s.users, userID)
	s.emitUser(callback.DeleteUser, u, nil)
	for _, id := range sortedTagIDs(s.tags) {
		t := s.tags[id]
		n := len(t.UserList)
		t.UserList = slices.DeleteFunc(t.UserList, func(tu wecom.TagUser) bool { return tu.UserID == userID })
		if len(t.UserList) != n {
			s.emitTag(id, nil, []string{userID}, nil, nil)
		}
	}
	for _, d := range s.depts {
		d.Leaders = slices.DeleteFunc(d.Leaders, func(l string) bool { return l == userID })
	}
	s.replaceLeader(userID, "")
	s.changed()
	return nil
}

func sortedTagIDs(m map[int64]*wecom.TagDetail) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// AddDepartment adds a department under an existing parent.
func (s *Server) AddDepartment(d wecom.Department) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.ID <= 0 || d.Name == "" {
		return fmt.Errorf("%w: a department needs an id and a name", ErrInvalid)
	}
	if _, ok := s.depts[d.ID]; ok {
		return fmt.Errorf("%w: department %d", ErrExists, d.ID)
	}
	if s.depts[d.ParentID] == nil {
		return fmt.Errorf("%w: parent department %d", ErrNotFound, d.ParentID)
	}
	if d.Leaders == nil {
		d.Leaders = []string{}
	}
	s.depts[d.ID] = &d
	s.indexDept(&d)
	s.changed()
	s.emitParty(callback.CreateParty, nil, &d)
	return nil
}

// UpdateDepartment changes a department in place: its name, order or parent (not under
// itself); its id cannot change.
func (s *Server) UpdateDepartment(id int64, fn func(d *wecom.Department)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.depts[id]
	if !ok {
		return fmt.Errorf("%w: department %d", ErrNotFound, id)
	}
	c := *d
	c.Leaders = slices.Clone(d.Leaders)
	fn(&c)
	if c.ID != id || (c.ParentID != 0 && s.depts[c.ParentID] == nil) || (d.ParentID == 0) != (c.ParentID == 0) {
		return fmt.Errorf("%w: department %d: bad id or parent", ErrInvalid, id)
	}
	for p := c.ParentID; p != 0; p = s.depts[p].ParentID {
		if p == id {
			return fmt.Errorf("%w: department %d cannot move under itself", ErrInvalid, id)
		}
	}
	s.unindexDept(d)
	s.depts[id] = &c
	s.indexDept(&c)
	s.changed()
	if d.Name != c.Name || d.ParentID != c.ParentID {
		s.emitParty(callback.UpdateParty, d, &c)
	}
	return nil
}

// RemoveDepartment deletes an empty department, as WeCom allows only that.
func (s *Server) RemoveDepartment(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.depts[id]
	if d == nil {
		return fmt.Errorf("%w: department %d", ErrNotFound, id)
	}
	if len(s.byDept[id]) > 0 || len(s.children[id]) > 0 {
		return fmt.Errorf("%w: department %d", ErrNotEmpty, id)
	}
	s.unindexDept(d)
	delete(s.depts, id)
	delete(s.byDept, id)
	s.emitParty(callback.DeleteParty, d, nil)
	for _, tid := range sortedTagIDs(s.tags) {
		t := s.tags[tid]
		n := len(t.PartyList)
		t.PartyList = slices.DeleteFunc(t.PartyList, func(p int64) bool { return p == id })
		if len(t.PartyList) != n {
			s.emitTag(tid, nil, nil, nil, []int64{id})
		}
	}
	s.changed()
	return nil
}

// UpdateTag adds members and departments to a tag and takes others away.
func (s *Server) UpdateTag(tagID int64, addUsers, delUsers []string, addParties, delParties []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tags[tagID]
	if t == nil {
		return fmt.Errorf("%w: tag %d", ErrNotFound, tagID)
	}
	var au, du []string
	var ap, dp []int64
	for _, id := range addUsers {
		u := s.users[id]
		if u == nil {
			return fmt.Errorf("%w: user %q", ErrNotFound, id)
		}
		if !slices.ContainsFunc(t.UserList, func(tu wecom.TagUser) bool { return tu.UserID == id }) {
			t.UserList = append(t.UserList, wecom.TagUser{UserID: id, Name: u.Name})
			au = append(au, id)
		}
	}
	for _, id := range delUsers {
		n := len(t.UserList)
		t.UserList = slices.DeleteFunc(t.UserList, func(tu wecom.TagUser) bool { return tu.UserID == id })
		if len(t.UserList) != n {
			du = append(du, id)
		}
	}
	for _, id := range addParties {
		if s.depts[id] == nil {
			return fmt.Errorf("%w: department %d", ErrNotFound, id)
		}
		if !slices.Contains(t.PartyList, id) {
			t.PartyList = append(t.PartyList, id)
			ap = append(ap, id)
		}
	}
	for _, id := range delParties {
		n := len(t.PartyList)
		t.PartyList = slices.DeleteFunc(t.PartyList, func(p int64) bool { return p == id })
		if len(t.PartyList) != n {
			dp = append(dp, id)
		}
	}
	slices.Sort(t.PartyList)
	s.changed()
	s.emitTag(tagID, au, du, ap, dp)
	return nil
}
