package elements

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrUnknownType is returned when an element names a Type nobody registered.
	ErrUnknownType = errors.New("unknown type")
	// ErrUnknownElement is returned when no element has the requested fullName.
	ErrUnknownElement = errors.New("unknown element")
	// ErrUnknownMethod is returned when an element has no method of that name.
	ErrUnknownMethod = errors.New("unknown method")
	// ErrElementFailed is returned when an element exists but failed to load.
	ErrElementFailed = errors.New("element failed to load")
	// ErrInvalidArgument is returned for a missing, surplus or mistyped method argument.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound is returned when a method is asked for a record (member, role…) that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTimeout is returned when a run or call ran past its time limit.
	ErrTimeout = errors.New("timed out")
	// ErrBusy is returned to a caller that cannot wait when every place to run is taken.
	ErrBusy = errors.New("busy")
	// ErrResourceExhausted is returned when a run went past a limit of memory or depth.
	ErrResourceExhausted = errors.New("resource exhausted")
)

// Error codes carried to scripts (as the `code` of a JS Error) and to HTTP clients.
const (
	CodeInvalidArgument = "invalid_argument"
	CodeNotFound        = "not_found"
	CodeUnknownElement  = "unknown_element"
	CodeUnknownMethod   = "unknown_method"
	CodeElementFailed   = "element_failed"
	CodeTimeout         = "timeout"
	// CodeUnavailable: a service the call needs (the platform, the state's database) did
	// not answer; the call may work in a moment (HTTP 503 with Retry-After).
	CodeUnavailable = "unavailable"
	// CodeBusy: every place to run is taken; the caller may try again shortly (HTTP 503).
	CodeBusy = "busy"
	// CodeResourceExhausted: the run went past its memory or call-depth limit.
	CodeResourceExhausted = "resource_exhausted"
	CodeInternal          = "internal"
	CodeScript            = "script_error"
	// CodeFailedPrecondition: the call needs a state the element is not in (initCorp first).
	CodeFailedPrecondition = "failed_precondition"
	// CodeUnauthenticated: no valid login or session (a wrong login code, an expired
	// session) (HTTP 401).
	CodeUnauthenticated = "unauthenticated"
	// CodePermissionDenied: the caller is known but may not do this (a member without the
	// role a method needs, a non-member logging in) (HTTP 403).
	CodePermissionDenied = "permission_denied"
	// CodeTooManyAttempts: the caller tried too often (an account locked after wrong
	// passwords); the error says when to try again (HTTP 429 with Retry-After).
	CodeTooManyAttempts = "too_many_attempts"
)

// Error is an error with a stable code. Methods return it (or wrap a sentinel above, which
// CodeOf maps) so that scripts and HTTP clients can branch on the code, not the message.
type Error struct {
	Code    string
	Message string
	Err     error // the cause, if any
}

// Error returns the message; the cause is reached with errors.Unwrap, not repeated here.
func (e *Error) Error() string {
	if e.Message == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a code and a formatted message; %w wraps as usual.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// CodeOf returns the code of err: the code of the first *Error in its chain, else the code
// of a sentinel it wraps, else CodeInternal. A nil error has no code.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	var c interface{ ErrorCode() string }
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	switch {
	case errors.Is(err, ErrInvalidArgument):
		return CodeInvalidArgument
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrUnknownElement):
		return CodeUnknownElement
	case errors.Is(err, ErrUnknownMethod):
		return CodeUnknownMethod
	case errors.Is(err, ErrElementFailed):
		return CodeElementFailed
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	case errors.Is(err, ErrBusy):
		return CodeBusy
	case errors.Is(err, ErrResourceExhausted):
		return CodeResourceExhausted
	}
	return CodeInternal
}

// HTTPStatus is the HTTP status that answers an error of the code (500 for an unknown one).
func HTTPStatus(code string) int {
	switch code {
	case CodeInvalidArgument:
		return 400
	case CodeUnknownElement, CodeUnknownMethod, CodeNotFound:
		return 404
	case CodeElementFailed, CodeFailedPrecondition:
		return 409
	case CodeTimeout:
		return 504
	case CodeBusy, CodeUnavailable:
		return 503 // with Retry-After: the call may work in a moment
	case CodeResourceExhausted:
		return 507 // the call needed more memory or depth than a run may have
	case CodeUnauthenticated:
		return 401
	case CodePermissionDenied:
		return 403
	case CodeTooManyAttempts:
		return 429
	}
	return 500
}
