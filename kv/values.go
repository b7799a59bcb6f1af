package kv

import (
	"context"
	"errors"
	"time"
)

// Values is a store seen as plain keys and values that keep across restarts: what a WeCom
// client keeps its access token and fetch path in (it satisfies wecom.Store). A value says
// itself when it expires, so no time to live is kept.
type Values struct{ Store *Store }

// Load returns the value of key and whether there is one.
func (v Values) Load(_ context.Context, key string) (string, bool, error) {
	val, err := v.Store.Get(key)
	if errors.Is(err, ErrNotFound) {
		return "", false, nil
	}
	return val, err == nil, err
}

// Save writes the value of key.
func (v Values) Save(_ context.Context, key, value string, _ time.Duration) error {
	return v.Store.Set(key, value)
}
