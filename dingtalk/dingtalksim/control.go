package dingtalksim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"

	"golang.org/x/time/rate"
)

// # The control API (jitrt sim dingtalk ctl)
//
// POST /sim/change {"op": …} changes the org (each change pushed as DingTalk pushes it);
// POST /sim/faults sets failures, the rate limit or expires the token; POST /sim/churn
// changes the org rate times a second; GET /sim/stats counts calls and pushes. DingTalk has
// no such paths: they are the emulator's own, on loopback.

// Change is one change of the org, as the control API takes it.
type Change struct {
	Op         string         `json:"op"` // add_user, update_user, remove_user, add_department, update_department, remove_department, set_admin
	UserID     string         `json:"userid,omitempty"`
	Name       string         `json:"name,omitempty"`
	Title      string         `json:"title,omitempty"`
	Mobile     string         `json:"mobile,omitempty"`
	Email      string         `json:"email,omitempty"`
	Department []int64        `json:"department,omitempty"`
	ID         int64          `json:"id,omitempty"`
	ParentID   int64          `json:"parentid,omitempty"`
	Order      int64          `json:"order,omitempty"`
	Level      int            `json:"level,omitempty"`
	Set        map[string]any `json:"set,omitempty"`
}

// Apply makes a change of the control API.
func (s *Server) Apply(c Change) error {
	switch c.Op {
	case "add_user":
		return s.AddUser(User{UserID: c.UserID, Name: c.Name, Title: c.Title, Mobile: c.Mobile, Email: c.Email, Depts: c.Department, Active: true})
	case "update_user":
		return s.UpdateUser(c.UserID, func(u *User) {
			for k, v := range c.Set {
				str, _ := v.(string)
				switch k {
				case "name":
					u.Name = str
				case "title", "position":
					u.Title = str
				case "mobile":
					u.Mobile = str
				case "email":
					u.Email = str
				}
			}
			if len(c.Department) > 0 {
				u.Depts, u.Orders, u.Leader = c.Department, nil, nil
			}
		})
	case "remove_user":
		return s.RemoveUser(c.UserID)
	case "add_department":
		return s.AddDepartment(Department{ID: c.ID, Name: c.Name, ParentID: c.ParentID, Order: c.Order})
	case "update_department":
		return s.UpdateDepartment(c.ID, func(d *Department) {
			if c.Name != "" {
				d.Name = c.Name
			}
			if c.ParentID != 0 {
				d.ParentID = c.ParentID
			}
		})
	case "remove_department":
		return s.RemoveDepartment(c.ID)
	case "set_admin":
		return s.SetAdmin(c.UserID, c.Level)
	}
	return fmt.Errorf("dingtalksim: no change %q (add_user, update_user, remove_user, add_department, update_department, remove_department, set_admin)", c.Op)
}

// Faults are the failures the control API sets.
type Faults struct {
	// Fail makes the next N calls of Endpoint answer Code.
	Fail *struct {
		Endpoint string `json:"endpoint"`
		N        int    `json:"n"`
		Code     string `json:"code"`
	} `json:"fail,omitempty"`
	// ExpireTokens ends the app token's life now.
	ExpireTokens bool `json:"expire_tokens,omitempty"`
	// PerSecond sets the limit per API (negative: none).
	PerSecond int `json:"per_second,omitempty"`
}

// SetPerSecond sets the limit per API from now on (negative: none).
func (s *Server) SetPerSecond(n int) {
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	s.opts.PerSecond = n
	s.limits = map[string]*rate.Limiter{}
}

// StartChurn changes the org rate times a second (members hired, moved, leaving) until
// StopChurn or Close; 0 stops it.
func (s *Server) StartChurn(rate int) {
	s.churn.Start(rate, func(k int, rng *rand.Rand) {
		users, depts := s.Users(), s.Departments()
		if len(users) == 0 || len(depts) == 0 {
			return
		}
		d := depts[rng.IntN(len(depts))].ID
		switch rng.IntN(4) {
		case 0:
			s.AddUser(User{UserID: fmt.Sprintf("churn%06d", k), Name: fmt.Sprintf("新人%d", k), Depts: []int64{d}, Title: "工程师", Active: true})
		case 1:
			s.UpdateUser(users[rng.IntN(len(users))].UserID, func(u *User) { u.Depts, u.Orders, u.Leader = []int64{d}, nil, nil })
		case 2:
			s.UpdateUser(users[rng.IntN(len(users))].UserID, func(u *User) { u.Title = fmt.Sprintf("职位%d", k) })
		case 3:
			if u := users[rng.IntN(len(users))]; s.Admins()[u.UserID] == 0 {
				s.RemoveUser(u.UserID)
			}
		}
	})
}

// StopChurn stops the churn.
func (s *Server) StopChurn() { s.churn.Stop() }

// control serves /sim/*.
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": err.Error()})
	}
	switch strings.TrimPrefix(r.URL.Path, "/sim/") {
	case "change":
		var c Change
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			fail(fmt.Errorf("the change is not JSON: %w", err))
			return
		}
		if err := s.Apply(c); err != nil {
			fail(err)
			return
		}
		s.mu.RLock()
		subscribed := s.push != nil
		s.mu.RUnlock()
		if !subscribed {
			writeJSON(w, 200, map[string]any{"ok": true, "warning": "no event subscription: the change is not pushed (start the emulator with a callback)"})
			return
		}
	case "faults":
		var f Faults
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			fail(fmt.Errorf("the faults are not JSON: %w", err))
			return
		}
		if f.Fail != nil {
			s.FailNext(f.Fail.Endpoint, f.Fail.N, f.Fail.Code)
		}
		if f.ExpireTokens {
			s.ExpireTokens()
		}
		if f.PerSecond != 0 {
			s.SetPerSecond(f.PerSecond)
		}
	case "churn":
		var c struct {
			Rate int `json:"rate"`
		}
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			fail(fmt.Errorf("the churn is not JSON: %w", err))
			return
		}
		s.StartChurn(c.Rate)
	case "stats":
		writeJSON(w, 200, map[string]any{"ok": true, "calls": s.Calls(), "throttled": s.Throttled(), "tokenFetches": s.TokenFetches(),
			"members": len(s.Users()), "departments": len(s.Departments()), "pushes": s.PushStats()})
		return
	default:
		http.NotFound(w, r)
		return
	}
	writeJSON(w, 200, map[string]any{"ok": true})
}
