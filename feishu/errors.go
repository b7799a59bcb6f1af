package feishu

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/time/rate"
)

// Feishu codes the client branches on (FEISHU-API.md §3; branch on codes, never on msg).
const (
	CodeInvalidParam       = 10003 // the token endpoint: unknown or malformed app_id
	CodeAppSecretInvalid   = 10014 // the token endpoint: a wrong secret (observed)
	CodeWrongSecret        = 10015 // the token endpoint: a wrong secret (documented)
	CodeRateLimited        = 99991400
	CodeTokenMissing       = 99991661
	CodeTenantTokenInvalid = 99991663
	CodeAppTokenInvalid    = 99991664
	CodeTokenMalformed     = 99991671
	CodeNoScope            = 99991672
	CodeTokenExpired       = 99991677
	CodeFieldValidation    = 99992402
	CodeInternal           = 40003
	CodeNoDeptAuthority    = 40004
	CodeDeptNotExist       = 40015
	CodeNoUserAuthority    = 41050
	CodeUserNotExist       = 41012 // an unknown user_id (emulator's choice: unconfirmed)
	CodeBigDeptRecursion   = 43010
	CodeCodeNotFound       = 20003 // a login code invalid or used
	CodeCodeExpired        = 20004
	CodeCodeUsed           = 20065
	CodeUserTokenInvalid   = 20005
	CodeServerError        = 20050
	CodeRedirectMismatch   = 20071
)

// ErrTransport is wrapped by errors of the connection: nothing Feishu decided.
var ErrTransport = errors.New("feishu: transport error")

// APIError is a non-zero code from Feishu.
type APIError struct {
	Endpoint string
	Code     int
	Msg      string
	Status   int    // the HTTP status it came with
	LogID    string // for a support ticket
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("feishu %s: code %d: %s", e.Endpoint, e.Code, e.Msg)
	if e.LogID != "" {
		s += " (log_id " + e.LogID + ")"
	}
	if a := Advice(e.Code); a != "" {
		s += " — " + a
	}
	return s
}

// ErrorCode is the code scripts and HTTP clients see ("feishu_40004").
func (e *APIError) ErrorCode() string { return fmt.Sprintf("feishu_%d", e.Code) }

// CodeOf returns the Feishu code in err's chain, or 0.
func CodeOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

// Advice says what an admin should do about the codes met in practice.
func Advice(code int) string {
	switch code {
	case CodeInvalidParam, CodeAppSecretInvalid, CodeWrongSecret:
		return "check appId and appSecret (凭证与基础信息)"
	case CodeNoScope:
		return "grant the app the scopes Feishu names and publish a version (权限管理)"
	case CodeNoDeptAuthority, CodeNoUserAuthority:
		return "the department or member is outside the app's contacts scope (通讯录权限范围; publish a version after changing it)"
	case CodeRateLimited:
		return "Feishu's rate limit (1000 calls a minute per API): calls were spaced and retried"
	}
	return ""
}

func tokenRefused(code int) bool {
	switch code {
	case CodeTenantTokenInvalid, CodeAppTokenInvalid, CodeTokenMalformed, CodeTokenExpired:
		return true
	}
	return false
}

func retryable(code int) bool {
	return code == CodeRateLimited || code == CodeInternal || code == CodeServerError
}

// DefaultPerMinute is Feishu's limit of the contacts APIs: 1000 calls a minute (and 50 a
// second) per API, app and tenant.
const DefaultPerMinute = 1000

// Limiter paces calls per API.
type Limiter interface {
	Wait(ctx context.Context, endpoint string) error
}

// RateLimiter keeps a smooth bucket per API (golang.org/x/time/rate, burst 1): 1000 a
// minute is 16.7 a second, under the 50 a second too.
type RateLimiter struct {
	perMinute float64
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
}

// NewRateLimiter limits each API to perMinute calls (≤ 0: no limit).
func NewRateLimiter(perMinute float64) *RateLimiter {
	return &RateLimiter{perMinute: perMinute, buckets: map[string]*rate.Limiter{}}
}

// Wait waits for endpoint's bucket (the token endpoint is not paced).
func (l *RateLimiter) Wait(ctx context.Context, endpoint string) error {
	if l.perMinute <= 0 || endpoint == "auth/v3/tenant_access_token/internal" {
		return ctx.Err()
	}
	l.mu.Lock()
	b := l.buckets[endpoint]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.perMinute/60), 1)
		l.buckets[endpoint] = b
	}
	l.mu.Unlock()
	return b.Wait(ctx)
}
