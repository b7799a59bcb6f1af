package feishusim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
)

// # The control API (jitrt sim feishu ctl)
//
// POST /sim/change {"op": …} changes the tenant (each change pushed as Feishu pushes it);
// POST /sim/faults sets failures, the rate limit or revokes the tokens; POST /sim/churn
// changes the tenant rate times a second; GET /sim/stats counts calls and pushes.

// Change is one change of the tenant, as the control API takes it.
type Change struct {
	Op         string   `json:"op"` // add_user, update_user, remove_user, add_department, update_department, remove_department
	UserID     string   `json:"user_id,omitempty"`
	Name       string   `json:"name,omitempty"`
	JobTitle   string   `json:"job_title,omitempty"`
	Mobile     string   `json:"mobile,omitempty"`
	Email      string   `json:"email,omitempty"`
	Department []string `json:"department,omitempty"`
	ID         string   `json:"id,omitempty"`
	ParentID   string   `json:"parent_id,omitempty"`
	Order      int64    `json:"order,omitempty"`
}

// Apply makes a change of the control API.
func (s *Server) Apply(c Change) error {
	switch c.Op {
	case "add_user":
		return s.AddUser(User{UserID: c.UserID, Name: c.Name, JobTitle: c.JobTitle, Mobile: c.Mobile, Email: c.Email, Depts: c.Department})
	case "update_user":
		return s.UpdateUser(c.UserID, func(u *User) {
			if c.Name != "" {
				u.Name = c.Name
			}
			if c.JobTitle != "" {
				u.JobTitle = c.JobTitle
			}
			if c.Mobile != "" {
				u.Mobile = c.Mobile
			}
			if c.Email != "" {
				u.Email = c.Email
			}
			if len(c.Department) > 0 {
				u.Depts = c.Department
			}
		})
	case "remove_user":
		return s.RemoveUser(c.UserID)
	case "add_department":
		return s.AddDepartment(Department{OpenID: c.ID, Name: c.Name, ParentID: c.ParentID, Order: c.Order})
	case "update_department":
		return s.UpdateDepartment(c.ID, func(d *Department) {
			if c.Name != "" {
				d.Name = c.Name
			}
			if c.ParentID != "" {
				d.ParentID = c.ParentID
			}
		})
	case "remove_department":
		return s.RemoveDepartment(c.ID)
	}
	return fmt.Errorf("feishusim: no change %q (add_user, update_user, remove_user, add_department, update_department, remove_department)", c.Op)
}

// StartChurn changes the tenant rate times a second (members hired, moved, leaving) until
// StopChurn or Close; 0 stops it.
func (s *Server) StartChurn(rate int) {
	s.churn.Start(rate, func(k int, rng *rand.Rand) {
		users, depts := s.Users(), s.Departments()
		if len(users) == 0 || len(depts) == 0 {
			return
		}
		d := depts[rng.IntN(len(depts))].OpenID
		switch rng.IntN(3) {
		case 0:
			s.AddUser(User{UserID: fmt.Sprintf("churn%06d", k), Name: fmt.Sprintf("新人%d", k), Depts: []string{d}})
		case 1:
			s.UpdateUser(users[rng.IntN(len(users))].UserID, func(u *User) { u.Depts = []string{d}; u.JobTitle = fmt.Sprintf("职位%d", k) })
		case 2:
			s.RemoveUser(users[rng.IntN(len(users))].UserID)
		}
	})
}

// StopChurn stops the churn.
func (s *Server) StopChurn() { s.churn.Stop() }

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	bad := func(err error) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": err.Error()})
	}
	switch strings.TrimPrefix(r.URL.Path, "/sim/") {
	case "change":
		var c Change
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			bad(fmt.Errorf("the change is not JSON: %w", err))
			return
		}
		if err := s.Apply(c); err != nil {
			bad(err)
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
		var f struct {
			Fail *struct {
				Endpoint string `json:"endpoint"`
				N        int    `json:"n"`
				Code     int    `json:"code"`
			} `json:"fail"`
			RevokeTokens bool `json:"revoke_tokens"`
			PerMinute    int  `json:"per_minute"`
		}
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			bad(fmt.Errorf("the faults are not JSON: %w", err))
			return
		}
		if f.Fail != nil {
			s.FailNext(f.Fail.Endpoint, max(f.Fail.N, 1), f.Fail.Code)
		}
		if f.RevokeTokens {
			s.RevokeTokens()
		}
		if f.PerMinute != 0 {
			s.SetPerMinute(f.PerMinute)
		}
	case "churn":
		var c struct {
			Rate int `json:"rate"`
		}
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			bad(fmt.Errorf("the churn is not JSON: %w", err))
			return
		}
		s.StartChurn(c.Rate)
	case "stats":
		writeJSON(w, 200, map[string]any{"ok": true, "calls": s.Calls(), "throttled": s.Throttled(), "tokenCalls": s.TokenCalls(),
			"members": len(s.Users()), "departments": len(s.Departments()), "pushes": s.PushStats()})
		return
	default:
		http.NotFound(w, r)
		return
	}
	writeJSON(w, 200, map[string]any{"ok": true})
}
