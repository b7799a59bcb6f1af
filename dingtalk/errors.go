package dingtalk

import (
	"errors"
	"fmt"
	"strconv"
)

// DingTalk error codes the client branches on (DINGTALK-API.md §1.3, §2.3, §3; branch on
// codes, never on errmsg). On /topapi/* a gateway failure comes as errcode 88 with a string
// sub_code; the effective code (APIError.Code) is the sub_code then, else the errcode.
const (
	CodeBusy             = "-1"
	CodeWrapped          = "88" // the gateway's wrapper; never an effective code
	CodeUnknownAPI       = "22"
	CodeInvalidSecret    = "40001"
	CodeInvalidToken     = "40014"
	CodeTokenBlank       = "40000"
	CodeTokenExpired     = "42001"
	CodeMissingParameter = "40035"
	CodeBadCredentials   = "40096" // wrong appkey or appsecret on gettoken
	CodeAuthCode         = "40078" // a 免登 code missing, expired, used or of another kind
	CodeNoPermission     = "60011"
	CodeDeptNotFound     = "60003"
	CodeUserNotFound     = "60121"
	CodeInvalidUserID    = "33012"
	CodeUserOutOfScope   = "50002"
	CodeDeptOutOfScope   = "50004"
	CodeInvalidParameter = "400002"
	CodeQPSLimit         = "90018" // per app and API: 20 calls a second
	CodeAPILimit         = "90002" // one API across every tenant
	CodeMonthlyQuota     = "90020"
	// the new API (api.dingtalk.com) answers HTTP 4xx/5xx with a string code
	CodeInvalidAuthentication = "InvalidAuthentication"
	CodeUserTokenExpired      = "accesstoken.expired"
	CodeInvalidCode           = "invalidCode"
	CodeInvalidClient         = "invalidClientIdOrSecret"
	CodeNewQPSLimit           = "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"
	CodeUserNotFoundNew       = "invalidParameter.user.notFound"
)

// Sentinel errors.
var (
	// ErrTransport is wrapped by errors of the connection (refused, reset, timed out, a bad
	// HTTP status or body): nothing DingTalk decided.
	ErrTransport = errors.New("dingtalk: transport error")
)

// APIError is a failure DingTalk answered: a non-zero errcode of the old API, or an HTTP
// error of the new one.
type APIError struct {
	Endpoint string // "topapi/v2/user/get", "v1.0/oauth2/userAccessToken"
	// Code is the effective code: the sub_code of an errcode 88, else the errcode, or the
	// new API's code.
	Code      string
	Msg       string // DingTalk's message (secrets masked)
	RequestID string
	Status    int // the HTTP status of a new-API error (0 for the old API's 200 answers)
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("dingtalk %s: errcode %s: %s", e.Endpoint, e.Code, e.Msg)
	if e.RequestID != "" {
		s += " (request_id " + e.RequestID + ")"
	}
	if a := Advice(e.Code); a != "" {
		s += " — " + a
	}
	return s
}

// ErrorCode is the code scripts and HTTP clients see ("dingtalk_60121").
func (e *APIError) ErrorCode() string { return "dingtalk_" + e.Code }

// Is matches another *APIError with the same code (and endpoint, if it names one).
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	return ok && t.Code == e.Code && (t.Endpoint == "" || t.Endpoint == e.Endpoint)
}

// CodeOf returns the effective DingTalk code in err's chain, or "".
func CodeOf(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// Advice says what an admin should do about the codes met in practice.
func Advice(code string) string {
	switch code {
	case CodeBadCredentials, CodeInvalidSecret, CodeInvalidClient:
		return "check appKey and appSecret (开发配置 → 凭证与基础信息: Client ID / Client Secret)"
	case CodeNoPermission:
		return "grant the app the permission DingTalk names (权限管理: 通讯录部门信息读权限, 成员信息读权限…)"
	case CodeUserOutOfScope, CodeDeptOutOfScope:
		return "the member or department is outside the app's contacts scope (权限管理 → 通讯录权限 → 授权范围)"
	case CodeQPSLimit, CodeAPILimit, CodeNewQPSLimit:
		return "DingTalk's rate limit (20 calls a second per app and API): calls were spaced and retried"
	case CodeMonthlyQuota:
		return "the org's monthly API quota is spent"
	}
	return ""
}

// effectiveCode is the code of an old-API answer.
func effectiveCode(errcode int64, subCode string) string {
	if errcode == 88 && subCode != "" {
		return subCode
	}
	return strconv.FormatInt(errcode, 10)
}

// tokenRefused reports whether a code means the app token is bad: fetch a new one, once.
func tokenRefused(code string) bool {
	switch code {
	case CodeInvalidToken, CodeTokenExpired, CodeInvalidSecret, CodeTokenBlank, CodeInvalidAuthentication:
		return true
	}
	return false
}

// retryable reports whether a call that got code may be repeated.
func retryable(code string) bool {
	switch code {
	case CodeBusy, CodeQPSLimit, CodeAPILimit, CodeNewQPSLimit:
		return true
	}
	return false
}

// rateLimited reports whether code is a rate limit (retried after a longer wait).
func rateLimited(code string) bool {
	return code == CodeQPSLimit || code == CodeAPILimit || code == CodeNewQPSLimit
}
