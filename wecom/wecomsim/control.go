package wecomsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/jitrt/jitrt/wecom"
)

// # Control endpoints
//
// The emulator is changed while it runs through JSON endpoints under /sim/ (loopback, as
// the emulator itself; jitrt wecom-sim ctl sends them):
//
//	POST /sim/change     {"op": "add_user", "user": {userid, name, department: [..], …}}
//	                     {"op": "update_user", "userid": "x", "set": {name, position, mobile, …}}
//	                     {"op": "move_user", "userid": "x", "department": [3], "main_department": 3}
//	                     {"op": "rename_user", "userid": "x", "new_userid": "y"}
//	                     {"op": "remove_user", "userid": "x"}
//	                     {"op": "add_department", "department": {id, name, parentid, order}}
//	                     {"op": "rename_department", "id": 5, "name": "…"}
//	                     {"op": "move_department", "id": 5, "parentid": 2}
//	                     {"op": "remove_department", "id": 5}
//	                     {"op": "tag", "tagid": 1, "add_users": [], "del_users": [], "add_parties": [], "del_parties": []}
//	POST /sim/callbacks  {"url", "token", "encodingAESKey", "minimal"}
//	POST /sim/faults     {"drop", "duplicate", "reorder", "delay": "50ms", "minimal", "retries", "retryInterval", "lanes", "seed"}
//	POST /sim/churn      {"rate": 200}
//	GET  /sim/stats      the deliveries so far

// NoCallbackWarning is what a change answers when no callback is registered: made in the
// emulator's org, and sent to no one.
const NoCallbackWarning = "no callback registered: the change is made in the emulator's org, and no event is sent (a corp run with the emulator registers its callback; else POST /sim/callbacks, or give the corp callbackToken and encodingAESKey)"

// Change is one change of the org, as POST /sim/change takes it.
type Change struct {
	Op             string            `json:"op"`
	User           *wecom.User       `json:"user,omitempty"`
	UserID         string            `json:"userid,omitempty"`
	NewUserID      string            `json:"new_userid,omitempty"`
	Set            map[string]string `json:"set,omitempty"`
	Department     json.RawMessage   `json:"department,omitempty"` // ids (move_user) or a department (add_department)
	MainDepartment int64             `json:"main_department,omitempty"`
	ID             int64             `json:"id,omitempty"`
	Name           string            `json:"name,omitempty"`
	ParentID       int64             `json:"parentid,omitempty"`
	TagID          int64             `json:"tagid,omitempty"`
	AddUsers       []string          `json:"add_users,omitempty"`
	DelUsers       []string          `json:"del_users,omitempty"`
	AddParties     []int64           `json:"add_parties,omitempty"`
	DelParties     []int64           `json:"del_parties,omitempty"`
}

// Apply makes the change.
func (s *Server) Apply(c Change) error {
	switch c.Op {
	case "add_user":
		if c.User == nil {
			return fmt.Errorf("%w: add_user needs \"user\"", ErrInvalid)
		}
		return s.AddUser(*c.User)
	case "update_user":
		var bad error
		err := s.UpdateUser(c.UserID, func(u *wecom.User) {
			for k, v := range c.Set {
				if dst := settable(u)[k]; dst != nil {
					*dst = v
				} else {
					bad = fmt.Errorf("%w: update_user cannot set %q (name, position, mobile, email, biz_mail, gender, alias, telephone, address, avatar)", ErrInvalid, k)
				}
			}
		})
		return errors.Join(bad, err)
	case "move_user":
		var ids []int64
		if err := json.Unmarshal(c.Department, &ids); err != nil || len(ids) == 0 {
			return fmt.Errorf("%w: move_user needs \"department\": [ids]", ErrInvalid)
		}
		return s.UpdateUser(c.UserID, func(u *wecom.User) {
			u.Department, u.Order, u.IsLeaderInDept, u.MainDepartment = ids, nil, nil, c.MainDepartment
		})
	case "rename_user":
		return s.RenameUser(c.UserID, c.NewUserID)
	case "remove_user":
		return s.RemoveUser(c.UserID)
	case "add_department":
		var d wecom.Department
		if err := json.Unmarshal(c.Department, &d); err != nil {
			return fmt.Errorf("%w: add_department needs \"department\": {id, name, parentid}", ErrInvalid)
		}
		return s.AddDepartment(d)
	case "rename_department":
		return s.UpdateDepartment(c.ID, func(d *wecom.Department) { d.Name = c.Name })
	case "move_department":
		return s.UpdateDepartment(c.ID, func(d *wecom.Department) { d.ParentID = c.ParentID })
	case "remove_department":
		return s.RemoveDepartment(c.ID)
	case "tag":
		return s.UpdateTag(c.TagID, c.AddUsers, c.DelUsers, c.AddParties, c.DelParties)
	}
	return fmt.Errorf("%w: unknown op %q (add_user, update_user, move_user, rename_user, remove_user, add_department, rename_department, move_department, remove_department, tag)", ErrInvalid, c.Op)
}

// settable are the member fields update_user sets, by their WeCom names.
func settable(u *wecom.User) map[string]*string {
	return map[string]*string{"name": &u.Name, "position": &u.Position, "mobile": &u.Mobile, "email": &u.Email,
		"biz_mail": &u.BizMail, "gender": &u.Gender, "alias": &u.Alias, "telephone": &u.Telephone, "address": &u.Address, "avatar": &u.Avatar}
}

// control serves /sim/.
func (s *Server) control(ctx *fasthttp.RequestCtx, path string) {
	ctx.SetContentType("application/json; charset=utf-8")
	fail := func(status int, err error) {
		ctx.SetStatusCode(status)
		b, _ := json.Marshal(map[string]string{"error": err.Error()})
		ctx.SetBody(b)
	}
	ok := func(v any) {
		b, _ := json.Marshal(v)
		ctx.SetBody(b)
	}
	if path == "/sim/stats" {
		ok(map[string]any{"push": s.PushStats(), "pending": s.pending.Load(), "calls": s.CallCounts(), "held": s.heldCounts()})
		return
	}
	if !ctx.IsPost() {
		fail(fasthttp.StatusMethodNotAllowed, errors.New("use POST"))
		return
	}
	body := ctx.PostBody()
	switch path {
	case "/sim/change":
		var c Change
		if err := json.Unmarshal(body, &c); err != nil {
			fail(400, fmt.Errorf("the body is not a change: %v", err))
			return
		}
		if err := s.Apply(c); err != nil {
			status := 400
			if errors.Is(err, ErrNotFound) {
				status = 404
			} else if errors.Is(err, ErrExists) || errors.Is(err, ErrNotEmpty) {
				status = 409
			}
			fail(status, err)
			return
		}
		s.mu.Lock()
		callbacks := len(s.pushers)
		s.mu.Unlock()
		if callbacks == 0 {
			// the change is the emulator's org's; no one is told of it
			ok(map[string]any{"ok": true, "callbacks": 0, "warning": NoCallbackWarning})
			return
		}
		ok(map[string]any{"ok": true, "callbacks": callbacks})
	case "/sim/callbacks":
		var cb struct {
			URL, Token, EncodingAESKey string
			Minimal                    bool
		}
		if err := json.Unmarshal(body, &cb); err != nil {
			fail(400, err)
			return
		}
		if err := s.AddCallback(Callback{URL: cb.URL, Token: cb.Token, EncodingAESKey: cb.EncodingAESKey, Minimal: cb.Minimal}); err != nil {
			fail(400, err)
			return
		}
		ok(map[string]any{"ok": true})
	case "/sim/faults":
		var f struct {
			EventFaults
			Delay         string `json:"delay"`
			RetryInterval string `json:"retryInterval"`
		}
		if err := json.Unmarshal(body, &f); err != nil {
			fail(400, err)
			return
		}
		for _, d := range []struct {
			s   string
			dst *time.Duration
		}{{f.Delay, &f.EventFaults.Delay}, {f.RetryInterval, &f.EventFaults.RetryInterval}} {
			if d.s != "" {
				v, err := time.ParseDuration(d.s)
				if err != nil {
					fail(400, err)
					return
				}
				*d.dst = v
			}
		}
		s.SetEventFaults(f.EventFaults)
		ok(map[string]any{"ok": true})
	case "/sim/hold":
		var h struct {
			Endpoint string `json:"endpoint"`
			Hold     bool   `json:"hold"`
		}
		if err := json.Unmarshal(body, &h); err != nil || h.Endpoint == "" {
			fail(400, errors.New(`the body is {"endpoint": "department/list", "hold": true (false releases)}`))
			return
		}
		if h.Hold {
			s.Hold(h.Endpoint)
		} else {
			s.release(h.Endpoint)
		}
		ok(map[string]any{"ok": true})
	case "/sim/churn":
		var c struct {
			Rate int `json:"rate"`
		}
		if err := json.Unmarshal(body, &c); err != nil || c.Rate < 0 || c.Rate > 100_000 {
			fail(400, errors.New(`the body is {"rate": changes a second (0 stops)}`))
			return
		}
		s.StartChurn(c.Rate)
		ok(map[string]any{"ok": true})
	default:
		fail(404, fmt.Errorf("no control %s", path))
	}
}
