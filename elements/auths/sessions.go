package auths

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/org"
)

// sessions are the members' sessions of one login element in the store: made when a member
// logs in (by WeCom or by password), read on every request that carries one, ended by
// logout, by the member going offline or leaving, or by a change of their password.
type sessions struct {
	el   *elements.Element
	keys keys
	ttl  time.Duration
	// corp is the org the login's members are in.
	corp func() (string, error)

	stop chan struct{} // closes the session sweeper (jitrt run)
	done chan struct{}
}

// startSweeper sweeps expired sessions away in the background (jitrt run).
func (ss *sessions) startSweeper() {
	ss.stop, ss.done = make(chan struct{}), make(chan struct{})
	go ss.sweep()
}

// stopSweeper stops it.
func (ss *sessions) stopSweeper() {
	if ss.stop != nil {
		close(ss.stop)
		<-ss.done
		ss.stop = nil
	}
}

func (ss *sessions) sweep() {
	defer close(ss.done)
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ss.stop:
			return
		case <-t.C:
			func() {
				defer func() {
					if r := recover(); r != nil {
						ss.el.App.Recovered(ss.el.FullName+" session sweep", r)
					}
				}()
				if n, err := ss.dropExpired(time.Now()); err != nil {
					ss.el.Logger.Warn("sweeping expired sessions failed", "err", err)
				} else if n > 0 {
					ss.el.Logger.Debug("expired sessions swept", "sessions", n)
				}
			}()
		}
	}
}

// memberSession is the member and roles of memberID, if the member may hold a session:
// in the corp's local org and active there.
func (ss *sessions) memberSession(ctx context.Context, corp, memberID, mark string) (*Session, error) {
	o, release, err := org.Of(ss.el.App, corp)
	if err != nil {
		return nil, err
	}
	defer release()
	if mark != "" {
		// a session made by password: it ends when the password changes
		cur := ""
		if p, ok := o.(org.Passwords); ok {
			if cur, err = p.PasswordMark(memberID); err != nil {
				return nil, err
			}
		}
		if cur != mark {
			return nil, errPasswordChanged
		}
	}
	dir := o.Directory()
	m, err := dir.Member(memberID)
	if elements.CodeOf(err) == elements.CodeNotFound {
		return nil, &elements.Error{Code: elements.CodeNotFound, Err: err,
			Message: fmt.Sprintf("member %q is not in the local org of %s: sync it first (syncCorp)", memberID, corp)}
	}
	if err != nil {
		return nil, err
	}
	if status := fieldOf(m, "status"); status != "active" {
		return nil, elements.Errorf(elements.CodePermissionDenied, "member %q is %s in %s and may not log in", memberID, status, corp)
	}
	if id := fieldOf(m, "memberId"); id != "" {
		memberID = id // WeCom may have given the member a new userid since
	}
	roles, err := dir.MemberRoles(memberID)
	if err != nil {
		return nil, err
	}
	rs := make([]any, len(roles))
	for i, r := range roles {
		from := make([]any, len(r.From))
		for j, f := range r.From {
			from[j] = f
		}
		rs[i] = map[string]any{"roleId": r.RoleID, "name": r.Name, "from": from}
	}
	return &Session{MemberID: memberID, Member: m, Roles: rs, Corp: corp, Mark: mark}, nil
}

// errPasswordChanged ends a session made with a password the member has changed since.
var errPasswordChanged = elements.Errorf(elements.CodeUnauthenticated, "the session ended: the member's password changed since it began; log in again")

// fieldOf reads a string field of a member as the corp returns it.
func fieldOf(m any, key string) string {
	switch v := m.(type) {
	case elements.Record:
		f, _ := v.Field(key)
		s, _ := f.(string)
		return s
	case map[string]any:
		s, _ := v[key].(string)
		return s
	}
	return ""
}

// Session returns the live session of token: not expired, and its member still active in
// the corp (a member taken offline loses their sessions at once), with their roles as of now.
func (ss *sessions) Session(ctx context.Context, token string) (*Session, error) {
	rec, ok, err := ss.readSession(token)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if !ok || !now.Before(rec.ExpiresAt) {
		if ok {
			ss.deleteSessions(rec.MemberID, []string{hashToken(token)})
		}
		return nil, elements.Errorf(elements.CodeUnauthenticated, "no live session: log in again")
	}
	s, err := ss.memberSession(ctx, rec.Corp, rec.MemberID, rec.Mark)
	if err == errPasswordChanged {
		ss.deleteSessions(rec.MemberID, []string{hashToken(token)}) // this one; the member's new ones stand
		return nil, err
	}
	if code := elements.CodeOf(err); code == elements.CodePermissionDenied || code == elements.CodeNotFound {
		// the member went offline or left: every session of theirs ends now
		ss.endMemberSessions(rec.MemberID)
		return nil, &elements.Error{Code: elements.CodeUnauthenticated, Err: err, Message: "the session ended: " + err.Error()}
	}
	if err != nil {
		return nil, err
	}
	s.ExpiresAt = rec.ExpiresAt
	if s.MemberID != rec.MemberID {
		ss.moveSession(token, rec, s.MemberID) // the member's userid changed: the session follows
	}
	return s, nil
}

// moveSession keeps a session under its member's new userid.
func (ss *sessions) moveSession(token string, rec sessionRec, newID string) {
	hash := hashToken(token)
	oldID := rec.MemberID
	rec.MemberID = newID
	err := ss.el.Store.Update(func(tx *kv.Tx) error {
		if _, err := tx.Delete(ss.keys.memberSession(oldID, hash)); err != nil {
			return err
		}
		if err := tx.SetJSON(ss.keys.session(hash), rec); err != nil {
			return err
		}
		return tx.Set(ss.keys.memberSession(newID, hash), "")
	})
	if err != nil {
		ss.el.Logger.Warn("moving a session to the member's new userid failed", "err", err)
	}
}

// MemberSessions lists a member's sessions live at now, newest first.
func (ss *sessions) MemberSessions(memberID string, now time.Time) ([]any, error) {
	var recs []sessionRec
	err := ss.el.Store.View(func(tx *kv.Tx) error {
		return tx.Scan(ss.keys.memberSessions(memberID), func(key, _ string) bool {
			var rec sessionRec
			if tx.GetJSON(ss.keys.session(strings.TrimPrefix(key, ss.keys.memberSessions(memberID))), &rec) == nil && now.Before(rec.ExpiresAt) {
				recs = append(recs, rec)
			}
			return true
		})
	})
	if err != nil {
		return nil, fmt.Errorf("login %s: read the sessions of %q: %w", ss.el.FullName, memberID, err)
	}
	if slices.ContainsFunc(recs, func(r sessionRec) bool { return r.Mark != "" }) {
		cur := ss.passwordMark(memberID)
		recs = slices.DeleteFunc(recs, func(r sessionRec) bool { return r.Mark != "" && r.Mark != cur })
	}
	slices.SortFunc(recs, func(a, b sessionRec) int { return b.CreatedAt.Compare(a.CreatedAt) })
	out := make([]any, 0, len(recs))
	for _, r := range recs {
		out = append(out, map[string]any{"createdAt": r.CreatedAt.Format(time.RFC3339), "expiresAt": r.ExpiresAt.Format(time.RFC3339)})
	}
	return out, nil
}

// Logout ends the session of token (nothing happens for a token with none).
func (ss *sessions) Logout(token string) error {
	rec, ok, err := ss.readSession(token)
	if err != nil || !ok {
		return err
	}
	return ss.deleteSessions(rec.MemberID, []string{hashToken(token)})
}

// keys of a login's state, under el:<fullName>:
//
//	session:<sha256 of token>        a session: {memberId, corp, createdAt, expiresAt}
//	msession:<memberId>:<sha256>     the sessions of a member (to end them together)
type keys struct{ prefix string }

func (k keys) session(hash string) string { return k.prefix + "session:" + hash }

func (k keys) sessions() string { return k.prefix + "session:" }

func (k keys) memberSession(m, hash string) string { return k.prefix + "msession:" + m + ":" + hash }

func (k keys) memberSessions(m string) string { return k.prefix + "msession:" + m + ":" }

type sessionRec struct {
	MemberID string `json:"memberId"`
	Corp     string `json:"corp"`
	// Mark is the password mark of a session made by password (org.Passwords): the
	// session ends when the password changes.
	Mark      string    `json:"mark,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// hashToken is what the store keeps of a token: its SHA-256, so that the state file holds
// nothing a browser could present.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (ss *sessions) readSession(token string) (sessionRec, bool, error) {
	var rec sessionRec
	if len(token) < 16 || len(token) > 256 {
		return rec, false, nil
	}
	err := ss.el.Store.View(func(tx *kv.Tx) error { return tx.GetJSON(ss.keys.session(hashToken(token)), &rec) })
	if errors.Is(err, kv.ErrNotFound) {
		return rec, false, nil
	}
	return rec, err == nil, err
}

// newSession stores a session for s (256 random bits) and returns its token; the member's
// expired sessions go in the same write.
func (ss *sessions) newSession(s *Session, now time.Time) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	hash := hashToken(token)
	s.ExpiresAt = now.Add(ss.ttl)
	rec := sessionRec{MemberID: s.MemberID, Corp: s.Corp, Mark: s.Mark, CreatedAt: now.UTC(), ExpiresAt: s.ExpiresAt.UTC()}
	err := ss.el.Store.Update(func(tx *kv.Tx) error {
		var expired []string
		tx.Scan(ss.keys.memberSessions(s.MemberID), func(key, _ string) bool {
			h := strings.TrimPrefix(key, ss.keys.memberSessions(s.MemberID))
			var old sessionRec
			if tx.GetJSON(ss.keys.session(h), &old) != nil || !now.Before(old.ExpiresAt) {
				expired = append(expired, h)
			}
			return true
		})
		for _, h := range expired {
			tx.Delete(ss.keys.session(h))
			tx.Delete(ss.keys.memberSession(s.MemberID, h))
		}
		if err := tx.SetJSON(ss.keys.session(hash), rec); err != nil {
			return err
		}
		return tx.Set(ss.keys.memberSession(s.MemberID, hash), "")
	})
	if err != nil {
		return "", fmt.Errorf("login %s: keep the session: %w", ss.el.FullName, err)
	}
	return token, nil
}

func (ss *sessions) deleteSessions(memberID string, hashes []string) error {
	return ss.el.Store.Update(func(tx *kv.Tx) error {
		for _, h := range hashes {
			if _, err := tx.Delete(ss.keys.session(h)); err != nil {
				return err
			}
			if _, err := tx.Delete(ss.keys.memberSession(memberID, h)); err != nil {
				return err
			}
		}
		return nil
	})
}

// endMemberSessions ends every session of a member.
func (ss *sessions) endMemberSessions(memberID string) {
	var hashes []string
	ss.el.Store.View(func(tx *kv.Tx) error {
		return tx.Scan(ss.keys.memberSessions(memberID), func(key, _ string) bool {
			hashes = append(hashes, strings.TrimPrefix(key, ss.keys.memberSessions(memberID)))
			return true
		})
	})
	if len(hashes) > 0 {
		if err := ss.deleteSessions(memberID, hashes); err != nil {
			ss.el.Logger.Warn("ending the sessions of a member failed", "member", memberID, "err", err)
			return
		}
		ss.el.Logger.Info("sessions ended: the member may no longer log in", "member", memberID, "sessions", len(hashes))
	}
}

// dropExpired deletes the sessions past their expiry; it returns how many.
func (ss *sessions) dropExpired(now time.Time) (int, error) {
	type gone struct{ member, hash string }
	var expired []gone
	ss.el.Store.View(func(tx *kv.Tx) error {
		return tx.Scan(ss.keys.sessions(), func(key, v string) bool {
			var rec sessionRec
			if err := jsonUnmarshal(v, &rec); err != nil || !now.Before(rec.ExpiresAt) {
				expired = append(expired, gone{rec.MemberID, strings.TrimPrefix(key, ss.keys.sessions())})
			}
			return true
		})
	})
	if len(expired) == 0 {
		return 0, nil
	}
	err := ss.el.Store.Update(func(tx *kv.Tx) error {
		for _, g := range expired {
			tx.Delete(ss.keys.session(g.hash))
			tx.Delete(ss.keys.memberSession(g.member, g.hash))
		}
		return nil
	})
	return len(expired), err
}

// passwordMark is a member's current password mark in the login's org ("" if none).
func (ss *sessions) passwordMark(memberID string) string {
	corp, err := ss.corp()
	if err != nil {
		return ""
	}
	o, release, err := org.Of(ss.el.App, corp)
	if err != nil {
		return ""
	}
	defer release()
	if p, ok := o.(org.Passwords); ok {
		mark, _ := p.PasswordMark(memberID)
		return mark
	}
	return ""
}

// sessionMethods are the methods every member login has beside its own getLoginConfig and
// getLoginCode: a session's reading and end, a member's sessions, the corp.
func sessionMethods(ss *sessions, corp func() (string, error)) []elements.Method {
	return []elements.Method{
		{Name: "getSession", Callable: true, Doc: "the live session of a token: {member, roles, expiresAt}",
			Params: []elements.Param{{Name: "token", Kind: elements.KindString, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				s, err := ss.Session(ctx, a.String("token"))
				if err != nil {
					return nil, err
				}
				return s.value(false), nil
			}},
		{Name: "logout", Callable: true, Doc: "end the session of a token",
			Params: []elements.Param{{Name: "token", Kind: elements.KindString, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				return map[string]any{}, ss.Logout(a.String("token"))
			}},
		{Name: "getMemberSessions", Callable: true, Doc: "a member's live sessions, newest first: [{createdAt, expiresAt}] (never a token)",
			Params: []elements.Param{{Name: "memberId", Kind: elements.KindString, Required: true}},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				return ss.MemberSessions(a.String("memberId"), time.Now())
			}},
		{Name: "getCorp", Callable: true, Doc: "fullName of the corp whose members log in",
			Call: func(context.Context, elements.Args) (any, error) { return corp() }},
	}
}
