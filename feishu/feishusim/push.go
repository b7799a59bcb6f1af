package feishusim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jitrt/jitrt/feishu/callback"
	"github.com/jitrt/jitrt/internal/simkit"
)

// Subscription is an app's event subscription over HTTP: where, its Verification Token,
// and its Encrypt Key ("" for clear, unsigned pushes).
type Subscription struct {
	URL string
	// URLFunc, when URL is empty, gives the URL at each push (a server not listening yet:
	// its url_verification comes before the first event instead of at once).
	URLFunc                       func() string
	VerificationToken, EncryptKey string
	// RetryIntervals are the waits before the retries of a push that failed (Feishu's 15 s,
	// 5 min, 1 h, 6 h when nil); after the last the event is dropped (counted Parked).
	RetryIntervals []time.Duration
	// Timeout is how long an answer may take (3 s when 0).
	Timeout time.Duration
}

// PushStats count the pushes.
type PushStats = simkit.PushStats

// pusher is a Subscription at work: its crypto and client, whether the url_verification
// was answered, and its queue.
type pusher struct {
	sub      Subscription
	crypto   *callback.Crypto
	client   *http.Client
	verified bool // touched by the queue's goroutine only (and Subscribe before it starts)
	queue    *simkit.Pusher
}

// Subscribe sets the app's event subscription: with a URL it sends the url_verification at
// once and needs its challenge back (else the subscription is refused, as Feishu's console
// says "Challenge code not returned"); then every change of the tenant is pushed, in order,
// with retries.
func (s *Server) Subscribe(sub Subscription) error {
	if sub.URL == "" && sub.URLFunc == nil {
		return fmt.Errorf("feishusim: a subscription needs a URL")
	}
	if sub.RetryIntervals == nil {
		sub.RetryIntervals = []time.Duration{15 * time.Second, 5 * time.Minute, time.Hour, 6 * time.Hour}
	}
	if sub.Timeout <= 0 {
		sub.Timeout = 3 * time.Second
	}
	p := &pusher{sub: sub, crypto: callback.New(sub.VerificationToken, sub.EncryptKey), client: &http.Client{Timeout: sub.Timeout}}
	if sub.URL != "" {
		if err := p.verify(context.Background()); err != nil {
			return fmt.Errorf("feishusim: the callback did not return the challenge: %w", err)
		}
	}
	p.queue = simkit.NewPusher(p.deliver, sub.RetryIntervals)
	s.mu.Lock()
	old := s.push
	s.push = p
	s.mu.Unlock()
	if old != nil {
		old.queue.Stop()
	}
	return nil
}

func (s *Server) subscription() *pusher {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.push
}

// PushStats are the subscription's counts.
func (s *Server) PushStats() PushStats {
	if p := s.subscription(); p != nil {
		return p.queue.Stats()
	}
	return PushStats{}
}

// WaitPushed waits until every event so far was delivered or dropped (false at timeout).
func (s *Server) WaitPushed(timeout time.Duration) bool {
	if p := s.subscription(); p != nil {
		return p.queue.WaitIdle(timeout)
	}
	return true
}

// emit queues a v2.0 event.
func (s *Server) emit(typ string, object, old any) {
	p := s.subscription()
	if p == nil {
		return
	}
	ev := map[string]any{"object": object}
	if old != nil {
		ev["old_object"] = old
	}
	b, _ := json.Marshal(map[string]any{"schema": "2.0", "header": map[string]any{"event_id": randomHex(16), "event_type": typ,
		"create_time": strconv.FormatInt(time.Now().UnixMilli(), 10), "token": p.sub.VerificationToken, "app_id": s.opts.AppID,
		"tenant_key": s.opts.TenantKey}, "event": ev})
	p.queue.Push(b)
}

// verify sends the url_verification and checks the challenge comes back.
func (p *pusher) verify(ctx context.Context) error {
	challenge := randomHex(12)
	plain, _ := json.Marshal(map[string]string{"challenge": challenge, "token": p.sub.VerificationToken, "type": callback.URLVerification})
	reply, err := p.send(ctx, plain)
	if err != nil {
		return err
	}
	var r struct {
		Challenge string `json:"challenge"`
	}
	if json.Unmarshal(reply, &r) != nil || r.Challenge != challenge {
		return fmt.Errorf("the answer %.200q is not {\"challenge\": %q}", reply, challenge)
	}
	p.verified = true
	return nil
}

func (p *pusher) deliver(ctx context.Context, msg []byte) error {
	if !p.verified {
		if err := p.verify(ctx); err != nil {
			return fmt.Errorf("url_verification: %w", err)
		}
	}
	_, err := p.send(ctx, msg)
	return err
}

// send pushes a plaintext (encrypted and signed with an Encrypt Key) and returns the answer
// of an HTTP 200.
func (p *pusher) send(ctx context.Context, plain []byte) ([]byte, error) {
	body, headers, err := p.crypto.Seal(plain, strconv.FormatInt(time.Now().Unix(), 10), randomHex(8))
	if err != nil {
		return nil, err
	}
	to := p.sub.URL
	if to == "" {
		to = p.sub.URLFunc()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, reply)
	}
	return reply, nil
}

// ---- the tenant's changes, each pushed as Feishu pushes it ----

// userEvent is a member as an event's object has it (ids as open ids but user_id).
func (s *Server) userEvent(u *User) map[string]any {
	m := s.userJSON(u)
	if u.Leader != "" {
		m["leader_user_id"] = s.openID(u.Leader)
	}
	return m
}

// deptEvent is a department as an event's object has it (order a number).
func (s *Server) deptEvent(d *Department) map[string]any {
	m := s.deptJSON(d)
	m["order"] = d.Order
	delete(m, "member_count")
	if d.Leader != "" {
		m["leader_user_id"] = s.openID(d.Leader)
	}
	return m
}

// AddUser adds a member (its departments must exist; the first is the primary one).
func (s *Server) AddUser(u User) error {
	s.mu.Lock()
	if _, dup := s.users[u.UserID]; dup || u.UserID == "" {
		s.mu.Unlock()
		return fmt.Errorf("feishusim: user_id %q is empty or taken", u.UserID)
	}
	if len(u.Depts) == 0 {
		u.Depts = []string{"0"}
	}
	for _, d := range u.Depts {
		if s.depts[d] == nil {
			s.mu.Unlock()
			return fmt.Errorf("feishusim: no department %s", d)
		}
	}
	u.OpenID = s.openID(u.UserID)
	if u.UnionID == "" {
		u.UnionID = "on_" + hash("union", s.opts.TenantKey, u.UserID)[:32]
	}
	nu := u
	nu.Depts = slices.Clone(u.Depts)
	s.users[u.UserID] = &nu
	s.reindex()
	obj := s.userEvent(&nu)
	s.mu.Unlock()
	s.emit(callback.UserCreated, obj, nil)
	return nil
}

// UpdateUser changes a member; the event's old_object holds the fields that changed.
func (s *Server) UpdateUser(id string, fn func(u *User)) error {
	s.mu.Lock()
	u, ok := s.users[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("feishusim: no member %q", id)
	}
	before := s.userEvent(u)
	c := *u
	c.Depts = slices.Clone(u.Depts)
	fn(&c)
	c.UserID, c.OpenID = id, u.OpenID
	s.users[id] = &c
	s.reindex()
	after := s.userEvent(&c)
	s.mu.Unlock()
	old := map[string]any{}
	for k, v := range before {
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(after[k])
		if !bytes.Equal(a, b) {
			old[k] = v
		}
	}
	s.emit(callback.UserUpdated, after, old)
	return nil
}

// RemoveUser resigns a member: gone from every list.
func (s *Server) RemoveUser(id string) error {
	s.mu.Lock()
	u, ok := s.users[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("feishusim: no member %q", id)
	}
	delete(s.users, id)
	for _, d := range s.depts {
		if d.Leader == id {
			d.Leader = ""
		}
	}
	s.reindex()
	s.mu.Unlock()
	s.emit(callback.UserDeleted, map[string]any{"user_id": id, "open_id": u.OpenID, "union_id": u.UnionID, "name": u.Name,
		"status": map[string]any{"is_resigned": true, "is_activated": true}},
		map[string]any{"open_id": u.OpenID, "department_ids": u.Depts})
	return nil
}

// AddDepartment adds a department under an existing one.
func (s *Server) AddDepartment(d Department) error {
	s.mu.Lock()
	if d.OpenID == "" {
		d.OpenID = "od-" + randomHex(16)
	}
	if s.depts[d.OpenID] != nil || s.depts[d.ParentID] == nil {
		s.mu.Unlock()
		return fmt.Errorf("feishusim: department %s is taken or its parent %q does not exist", d.OpenID, d.ParentID)
	}
	nd := d
	s.depts[d.OpenID] = &nd
	s.reindex()
	obj := s.deptEvent(&nd)
	s.mu.Unlock()
	s.emit(callback.DeptCreated, obj, nil)
	return nil
}

// UpdateDepartment changes a department (a rename, a move, its leader).
func (s *Server) UpdateDepartment(id string, fn func(d *Department)) error {
	s.mu.Lock()
	d := s.depts[id]
	if d == nil {
		s.mu.Unlock()
		return fmt.Errorf("feishusim: no department %s", id)
	}
	before := s.deptEvent(d)
	c := *d
	fn(&c)
	c.OpenID = id
	if id != "0" && (s.depts[c.ParentID] == nil || c.ParentID == id) {
		s.mu.Unlock()
		return fmt.Errorf("feishusim: department %s cannot move under %q", id, c.ParentID)
	}
	s.depts[id] = &c
	s.reindex()
	after := s.deptEvent(&c)
	s.mu.Unlock()
	s.emit(callback.DeptUpdated, after, before)
	return nil
}

// RemoveDepartment deletes a department with no members and no sub-departments.
func (s *Server) RemoveDepartment(id string) error {
	s.mu.Lock()
	d := s.depts[id]
	if d == nil || id == "0" || len(s.members[id]) > 0 || len(s.children[id]) > 0 {
		s.mu.Unlock()
		return fmt.Errorf("feishusim: department %s cannot be removed (unknown, the root, or not empty)", id)
	}
	delete(s.depts, id)
	s.reindex()
	obj := s.deptEvent(d)
	s.mu.Unlock()
	obj["status"] = map[string]any{"is_deleted": true}
	s.emit(callback.DeptDeleted, obj, map[string]any{"open_department_id": id, "status": map[string]any{"is_deleted": false}})
	return nil
}
