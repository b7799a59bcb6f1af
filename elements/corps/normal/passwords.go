package normal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/org"
)

// # Passwords
//
// A member of a local org may have a username and a password to sign in with
// (auths.loginTypes.PasswordType). The org keeps, under its prefix:
//
//	cred:<memberId>        {memberId, username, hash, mark, changedAt}
//	username:<username>    the memberId of a username (lower case: usernames are unique
//	                       whatever their case)
//
// The hash is argon2id (RFC 9106) in the PHC string format, with OWASP's minimum cost
// (19 MiB, 2 passes, 1 lane): a few tens of milliseconds, so that a guess costs an attacker
// as much and a 2-core server stays responsive. The mark is random and changes with the
// password: a session records the mark it was made under, and one made under an older mark
// has ended. Neither the password nor the hash ever leaves this file: no method returns
// them, no log line or error holds them.

// argon2id's cost (OWASP Password Storage Cheat Sheet, the first of its equal choices).
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password rules.
const (
	minPassword = 8
	maxPassword = 128
	maxUsername = 64
)

type credRec struct {
	MemberID  string `json:"memberId"`
	Username  string `json:"username"`
	Hash      string `json:"hash"`
	Mark      string `json:"mark"`
	ChangedAt string `json:"changedAt"`
}

func credKey(k org.Keys, memberID string) string { return k.Prefix() + "cred:" + org.Esc(memberID) }

func usernameKey(k org.Keys, name string) string {
	return k.Prefix() + "username:" + org.Esc(strings.ToLower(name))
}

func validPasswordLength(p string) bool {
	n := utf8.RuneCountInString(p)
	return n >= minPassword && n <= maxPassword
}

func passwordRule() string { return fmt.Sprintf("%d to %d characters", minPassword, maxPassword) }
func usernameRule() string { return fmt.Sprintf("1 to %d letters, digits and _-.@", maxUsername) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func b64(b []byte) string            { return base64.RawStdEncoding.EncodeToString(b) }
func unb64(s string) ([]byte, error) { return base64.RawStdEncoding.DecodeString(s) }

// validUsername says whether a username may be used: 1 to 64 letters, digits and _-.@.
func validUsername(name string) bool {
	if name == "" || len(name) > maxUsername {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_-.@", c)) {
			return false
		}
	}
	return true
}

// hashPassword is the PHC string of argon2id over password with a fresh salt.
func hashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64(salt), b64(key))
}

// verifyPassword reports whether password is the one hash was made from, in time that does
// not depend on where they differ.
func verifyPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var mem uint32
	var passes uint32
	var lanes uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &passes, &lanes); err != nil || mem == 0 || mem > 1<<20 || passes == 0 || passes > 10 || lanes == 0 {
		return false
	}
	salt, err1 := unb64(parts[4])
	want, err2 := unb64(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, passes, mem, lanes, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is what a sign-in with an unknown username checks its password against, so
// that it takes as long as one with a known username.
var dummyHash = sync.OnceValue(func() string { return hashPassword(randomHex(16)) })

// setPassword writes a member's username and password in the transaction (the username
// unchanged when ""); it returns the new mark.
func (c *Corp) setPassword(w *org.Writer, memberID, username, password string) (string, error) {
	if !validPasswordLength(password) {
		return "", c.dir.BadArg("a password must be %s", passwordRule())
	}
	tx, k := w.Tx(), c.dir.Keys()
	var old credRec
	hadOld := tx.GetJSON(credKey(k, memberID), &old) == nil
	if username == "" {
		username = old.Username
	}
	if username == "" {
		username = memberID
	}
	if !validUsername(username) {
		return "", c.dir.BadArg("username %q must be %s", username, usernameRule())
	}
	if owner, err := tx.Get(usernameKey(k, username)); err == nil && owner != memberID {
		return "", c.dir.BadArg("username %q is taken by another member", username)
	}
	if hadOld && !strings.EqualFold(old.Username, username) {
		if _, err := tx.Delete(usernameKey(k, old.Username)); err != nil {
			return "", err
		}
	}
	rec := credRec{MemberID: memberID, Username: username, Hash: hashPassword(password), Mark: randomHex(16), ChangedAt: w.Now()}
	if err := tx.SetJSON(credKey(k, memberID), rec); err != nil {
		return "", err
	}
	if err := tx.Set(usernameKey(k, username), memberID); err != nil {
		return "", err
	}
	return rec.Mark, nil
}

// dropPassword deletes a member's username and password in the transaction.
func (c *Corp) dropPassword(tx *kv.Tx, memberID string) error {
	k := c.dir.Keys()
	var old credRec
	if tx.GetJSON(credKey(k, memberID), &old) != nil {
		return nil
	}
	if _, err := tx.Delete(usernameKey(k, old.Username)); err != nil {
		return err
	}
	_, err := tx.Delete(credKey(k, memberID))
	return err
}

// SignIn is the member whose username and password these are (org.Passwords). The member
// must be active.
func (c *Corp) SignIn(ctx context.Context, username, password string) (string, string, error) {
	if err := c.dir.RequireInit(); err != nil {
		return "", "", err
	}
	var rec credRec
	found := false
	if validUsername(username) && len(password) <= 4*maxPassword {
		err := c.el.Store.View(func(tx *kv.Tx) error {
			id, err := tx.Get(usernameKey(c.dir.Keys(), username))
			if err != nil {
				return nil
			}
			found = tx.GetJSON(credKey(c.dir.Keys(), id), &rec) == nil
			return nil
		})
		if err != nil {
			return "", "", err
		}
	}
	hash := rec.Hash
	if !found {
		hash = dummyHash()
	}
	ok, err := c.verify(ctx, hash, password)
	if err != nil {
		return "", "", err
	}
	if !ok || !found {
		return "", "", org.ErrWrongPassword
	}
	return rec.MemberID, rec.Mark, nil
}

// maxHashWaiters is how many password checks of an org may wait for a hashing slot; more
// are answered "busy" at once.
const maxHashWaiters = 64

// verify is verifyPassword in one of the org's hashing slots. An argon2 check holds 19 MiB
// and a core for a tenth of a second: without a bound, a flood of sign-ins (right or
// wrong, known usernames or not) would take the process's memory and every core. At most
// cap(c.slots) checks run at once and maxHashWaiters wait for one (as long as their
// caller does); beyond, the check is refused as busy (503 with Retry-After).
func (c *Corp) verify(ctx context.Context, hash, password string) (bool, error) {
	select {
	case c.slots <- struct{}{}:
	default:
		if c.waiters.Add(1) > maxHashWaiters {
			c.waiters.Add(-1)
			return false, errBusy
		}
		select {
		case c.slots <- struct{}{}:
			c.waiters.Add(-1)
		case <-ctx.Done():
			c.waiters.Add(-1)
			return false, errBusy
		}
	}
	defer func() { <-c.slots }()
	return verifyPassword(hash, password), nil
}

// busyError is a password check refused because too many are under way.
type busyError struct{}

func (busyError) Error() string {
	return "too many sign-ins are being checked at once: try again in a moment"
}

// ErrorCode is unavailable (HTTP 503).
func (busyError) ErrorCode() string { return elements.CodeUnavailable }

// RetryAfterSeconds is the Retry-After header's wait.
func (busyError) RetryAfterSeconds() int { return 1 }

var errBusy error = busyError{}

// PasswordMark is a member's current password mark (org.Passwords).
func (c *Corp) PasswordMark(memberID string) (string, error) {
	raw, err := c.el.Store.Get(credKey(c.dir.Keys(), memberID))
	if errors.Is(err, kv.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var rec credRec
	if err := jsonUnmarshal(raw, &rec); err != nil {
		return "", err
	}
	return rec.Mark, nil
}

// ChangePassword sets a member's password after checking the old one (org.Passwords).
func (c *Corp) ChangePassword(ctx context.Context, memberID, oldPassword, newPassword string) (string, error) {
	// the old password is checked before the org's lock is taken (a check takes a tenth of
	// a second), and the password it was checked against is still the one under the lock
	wrong := &elements.Error{Code: elements.CodeUnauthenticated, Err: org.ErrWrongPassword, Message: "the old password is wrong"}
	var checked credRec
	if raw, err := c.el.Store.Get(credKey(c.dir.Keys(), memberID)); err != nil || jsonUnmarshal(raw, &checked) != nil {
		return "", wrong
	}
	if ok, err := c.verify(ctx, checked.Hash, oldPassword); err != nil {
		return "", err
	} else if !ok {
		return "", wrong
	}
	var mark string
	err := c.dir.Update(ctx, func(w *org.Writer) error {
		var rec credRec
		if w.Tx().GetJSON(credKey(c.dir.Keys(), memberID), &rec) != nil || rec.Hash != checked.Hash {
			return wrong // changed meanwhile: the old password given is not the one it has now
		}
		var err error
		mark, err = c.setPassword(w, memberID, "", newPassword)
		return err
	})
	if err == nil {
		c.el.Logger.Info("a member changed their password: their other sessions end", "member", memberID)
	}
	return mark, err
}
