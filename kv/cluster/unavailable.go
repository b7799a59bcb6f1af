package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnavailable is returned (as an *UnavailableError) when the database of a store did
// not answer or dropped the connection in the middle of an operation, and trying again on
// a new connection did not help: the operation may succeed in a moment. Nothing was
// written by it (a write is one SQL transaction).
var ErrUnavailable = errors.New("cluster: the database is unavailable")

// UnavailableError is an operation the database could not serve. Its message names
// neither the database (host, port, user) nor the schema: it reaches HTTP answers and
// scripts; the cause, with those, is in its Unwrap and in the store's log.
type UnavailableError struct {
	Op  string // what was being done ("write", "lock el:corps.C:…:write")
	Err error
}

func (e *UnavailableError) Error() string {
	return "the state's database is unavailable (" + e.Op + "): try again in a moment"
}

// Unwrap is the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// ErrorCode is "unavailable" (HTTP 503), for the runtime's error codes.
func (e *UnavailableError) ErrorCode() string { return "unavailable" }

// RetryAfterSeconds is the Retry-After of the answer.
func (e *UnavailableError) RetryAfterSeconds() int { return 2 }

// ConnectionLost says whether err is the database going away rather than refusing the
// operation: a connection dropped or refused, the server shutting down or terminating the
// backend, a network error, a deadline of the store's own (not the caller's).
func ConnectionLost(ctx context.Context, err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exceptions; 57P01-57P03: admin shutdown, crash shutdown,
		// cannot connect now
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), pgconn.SafeToRetry(err), pgconn.Timeout(err) && ctx.Err() == nil:
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe")
}

// unavailable is err as an *UnavailableError if the database went away (logged with its
// cause, secrets removed), else err.
func (c *Cluster) unavailable(ctx context.Context, op string, err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !ConnectionLost(ctx, err) || ctx.Err() != nil {
		return err
	}
	c.opts.Logger.Warn("cluster: the database is unavailable", "op", op, "database", c.opts.Where, "schema", c.opts.Schema, "err", c.opts.Redact(err))
	return &UnavailableError{Op: op, Err: err}
}
