package auths

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/jitrt/jitrt/elements"
)

// states are the logins in progress: each state (128 random bits, in hex: WeCom's in-client
// login allows only letters and digits) is good for one return within StateTTL. They live
// in memory: a login that outlives a restart of the server starts again.
type states struct {
	mu      sync.Mutex
	pending map[string]time.Time // state → when it expires
}

// issue makes a new state.
func (s *states) issue(now time.Time) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	state := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = map[string]time.Time{}
	}
	if len(s.pending) >= 1024 {
		for k, exp := range s.pending {
			if !now.Before(exp) {
				delete(s.pending, k)
			}
		}
	}
	if len(s.pending) >= maxStates {
		return "", elements.Errorf(elements.CodeBusy, "%d logins are in progress: try again in a few minutes", len(s.pending))
	}
	s.pending[state] = now.Add(StateTTL)
	return state, nil
}

// consume reports whether state is pending and unexpired, and forgets it.
func (s *states) consume(state string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.pending[state]
	delete(s.pending, state)
	return ok && now.Before(exp)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
