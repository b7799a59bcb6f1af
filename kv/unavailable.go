package kv

import (
	"context"
	"errors"

	"github.com/jitrt/jitrt/kv/cluster"
)

// ErrUnavailable is returned (as an *UnavailableError) when the database of a store did
// not answer or dropped the connection in the middle of an operation, and trying again on
// a new connection did not help: the operation may succeed in a moment. Nothing was
// written by it (a write is one SQL transaction).
var ErrUnavailable = cluster.ErrUnavailable

// UnavailableError is an operation the database could not serve (cluster.UnavailableError):
// its message names neither the database nor the schema.
type UnavailableError = cluster.UnavailableError

// connectionLost says whether err is the database going away rather than refusing the
// operation.
func connectionLost(ctx context.Context, err error) bool { return cluster.ConnectionLost(ctx, err) }

// unavailable is err as an *UnavailableError if the database went away (logged with its
// cause, the URL's password masked), else err.
func (pg *pgStore) unavailable(ctx context.Context, op string, err error) error {
	if errors.Is(err, ErrUnavailable) || !connectionLost(ctx, err) || ctx.Err() != nil {
		return err
	}
	if pg.log != nil {
		pg.log.Warn("kv: the database is unavailable", "op", op, "database", pg.where, "schema", pg.schema, "err", redactErr(err, pg.url))
	}
	return &UnavailableError{Op: op, Err: err}
}
