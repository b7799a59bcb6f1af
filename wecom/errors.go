package wecom

import (
	"errors"
	"fmt"
)

// WeCom error codes the client branches on (WECOM-API.md). Branch on codes, never on errmsg.
const (
	CodeBusy              = -1
	CodeInvalidSecret     = 40001
	CodeInvalidUserID     = 40003
	CodeInvalidCorpID     = 40013
	CodeInvalidToken      = 40014
	CodeInvalidParameter  = 40058
	CodeInvalidTagID      = 40068
	CodeTokenMissing      = 41001
	CodeTokenExpired      = 42001
	CodeRateLimited       = 45009
	CodeResponseTooLarge  = 45029
	CodeTooConcurrent     = 45033
	CodeAPIForbidden      = 48002
	CodeAPIForbiddenIP    = 48009
	CodeDeptNotFound      = 60003
	CodeNoPermission      = 60011
	CodeIPNotAllowed      = 60020
	CodeUserNotFound      = 60111
	CodeInvalidDepartment = 60123
	CodeInvalidOAuthCode  = 40029 // wrong, already used or expired (5 minutes) login code
	CodeUntrustedDomain   = 50001 // the login's redirect host is not a trusted domain of the app
	CodeTicketExpired     = 84014
	CodeTicketInvalid     = 84015
)

// Sentinel errors.
var (
	// ErrTransport is wrapped by errors of the connection (refused, reset, timed out, bad
	// HTTP status or body): nothing WeCom decided.
	ErrTransport = errors.New("wecom: transport error")
	// ErrNoContactSyncSecret is returned by calls that need the contact-sync secret
	// (user/list_id) when none is configured.
	ErrNoContactSyncSecret = errors.New("wecom: this call needs the contact-sync secret (contactSyncSecret), which is not configured")
)

// APIError is a non-zero errcode from WeCom.
type APIError struct {
	Endpoint string // e.g. "department/list"
	Code     int
	Msg      string // WeCom's errmsg (secrets masked)
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("wecom %s: errcode %d: %s", e.Endpoint, e.Code, e.Msg)
	if a := Advice(e.Code); a != "" {
		s += " — " + a
	}
	return s
}

// ErrorCode is the code scripts and HTTP clients see ("wecom_40001").
func (e *APIError) ErrorCode() string { return fmt.Sprintf("wecom_%d", e.Code) }

// Is matches another *APIError with the same code, so errors.Is(err, &APIError{Code: 48009}) works.
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	return ok && t.Code == e.Code && (t.Endpoint == "" || t.Endpoint == e.Endpoint)
}

// CodeOf returns the WeCom errcode in err's chain, or 0.
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
	case CodeBusy:
		return "WeCom is busy; the call was retried and can be tried again later"
	case CodeInvalidCorpID:
		return "the corpId is wrong: copy it from the admin console (我的企业 → 企业信息 → 企业ID)"
	case CodeInvalidSecret:
		return "the secret is wrong or was reset: copy the app's Secret again (应用管理 → the app → Secret) into the config (or the environment variable it names)"
	case CodeTokenMissing:
		return "the call was made without an access_token; this is a bug in the caller"
	case CodeInvalidToken, CodeTokenExpired:
		return "the access_token was refused; it was fetched again once"
	case CodeAPIForbiddenIP:
		return "WeCom forbids this API for this secret or IP (contact-sync secrets on IPs added since 2022-08-15); the sync uses the id endpoints instead"
	case CodeAPIForbidden:
		return "this secret may not call this API; user/list_id needs the contact-sync secret (管理工具 → 通讯录同步)"
	case CodeIPNotAllowed:
		return "this machine's IP is not among the app's trusted IPs: add it in the admin console (应用管理 → the app → 企业可信IP)"
	case CodeNoPermission:
		return "the member, department or tag is outside the app's visible range: widen it in the admin console (应用管理 → the app → 可见范围)"
	case CodeRateLimited:
		return "the call rate is over WeCom's limit (per corp and API: 10,000 a minute, 150,000 an hour); calls back off and are retried"
	case CodeTooConcurrent:
		return "too many concurrent calls; lower the concurrency"
	case CodeResponseTooLarge:
		return "the response is too large; fetch a smaller department"
	case CodeUserNotFound, CodeInvalidUserID:
		return "no such userid in this corp"
	case CodeInvalidOAuthCode:
		return "the login code is wrong, was used already or is over 5 minutes old: log in again (a code is good for one exchange)"
	case CodeUntrustedDomain:
		return "the login's redirect host is not a trusted domain of the app: set it in the admin console (应用管理 → the app → 网页授权及JS-SDK → 可信域名; exact host and port)"
	case CodeTicketExpired, CodeTicketInvalid:
		return "the user_ticket is expired or invalid: it lasts 30 minutes from the login"
	case CodeDeptNotFound, CodeInvalidDepartment:
		return "no such department in this corp (or outside the app's visible range)"
	}
	return ""
}

// retryable reports whether a call that failed with code may succeed if repeated.
func retryable(code int) bool {
	return code == CodeBusy || code == CodeRateLimited || code == CodeTooConcurrent
}

// tokenRefused reports the codes that mean the token must be fetched again.
func tokenRefused(code int) bool { return code == CodeInvalidToken || code == CodeTokenExpired }
