package auths

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"
)

// states are the logins in progress. A state is signed rather than remembered: 64 bits at
// random, when it expires, and an HMAC of both under a key made from the login's secret
// (in hex: WeCom's in-client login allows only letters and digits). So every process of
// the app that knows the secret — replicas behind one load balancer — accepts the states
// of the others, and a restart loses no login in progress. A process accepts a state once
// (the API binds it to the browser with a cookie as well).
type states struct {
	once sync.Once
	key  []byte

	mu   sync.Mutex
	used map[string]time.Time // nonces of the states accepted here → when they expire
}

const (
	stateNonce = 8
	stateMAC   = 16
	stateLen   = stateNonce + 8 + stateMAC
)

// init makes the signing key from the secret (a key of this process alone when there is
// none: states then work only here).
func (s *states) init(secret string) {
	s.once.Do(func() {
		if secret == "" {
			s.key = make([]byte, 32)
			rand.Read(s.key)
			return
		}
		sum := sha256.Sum256([]byte("jitrt login state\x00" + secret))
		s.key = sum[:]
	})
}

func (s *states) mac(b []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(b[:stateNonce+8])
	return m.Sum(nil)[:stateMAC]
}

// issue makes a new state, good until now+StateTTL.
func (s *states) issue(now time.Time) (string, error) {
	b := make([]byte, stateLen)
	if _, err := rand.Read(b[:stateNonce]); err != nil {
		return "", err
	}
	binary.BigEndian.PutUint64(b[stateNonce:], uint64(now.Add(StateTTL).Unix()))
	copy(b[stateNonce+8:], s.mac(b))
	return hex.EncodeToString(b), nil
}

// consume reports whether state is one of ours, unexpired and not accepted here before.
func (s *states) consume(state string, now time.Time) bool {
	b, err := hex.DecodeString(state)
	if err != nil || len(b) != stateLen || subtle.ConstantTimeCompare(b[stateNonce+8:], s.mac(b)) != 1 {
		return false
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[stateNonce:])), 0)
	if !now.Before(exp) {
		return false
	}
	// the key is a copy: state may be a view of a request's buffer, reused after it
	key := string(b[:stateNonce])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used == nil {
		s.used = map[string]time.Time{}
	}
	if _, ok := s.used[key]; ok {
		return false
	}
	if len(s.used) >= maxStates {
		for k, e := range s.used {
			if !now.Before(e) {
				delete(s.used, k)
			}
		}
	}
	if len(s.used) < maxStates {
		s.used[key] = exp
	}
	return true
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
