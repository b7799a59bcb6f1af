package elements

import (
	"io"
	"sync"
)

// # What the instances of an element share across reloads
//
// An edit of an element builds a new instance; some of what the old one started belongs to
// the element, not to the instance: a corp's built-in emulator keeps its port and its org
// (and what was changed in it) when the corp's title or roles change. AcquireKept hands the
// new instance the one the old one used, when it serves the same thing (key), and closes it
// when the last instance using it lets go.

// kept are the values of one element and kind, by key.
type kept struct {
	mu   sync.Mutex
	byID map[string]*keptValue
}

type keptValue struct {
	v    io.Closer
	refs int
}

// AcquireKept is the value of element fullName and kind that serves key: the one an earlier
// instance started, or a new one from start. release lets go of it (the last closes it).
func AcquireKept[T io.Closer](app AppHandle, kind, fullName, key string, start func() (T, error)) (v T, release func() error, err error) {
	all := app.Shared(kind+":"+fullName, func() any { return &kept{byID: map[string]*keptValue{}} }).(*kept)
	all.mu.Lock()
	defer all.mu.Unlock()
	s := all.byID[key]
	if s == nil {
		started, err := start()
		if err != nil {
			return v, nil, err
		}
		s = &keptValue{v: started}
		all.byID[key] = s
	}
	s.refs++
	var once sync.Once
	return s.v.(T), func() (err error) {
		once.Do(func() {
			all.mu.Lock()
			defer all.mu.Unlock()
			if s.refs--; s.refs == 0 {
				delete(all.byID, key)
				err = s.v.Close()
			}
		})
		return err
	}, nil
}
