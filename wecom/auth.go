package wecom

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// ErrNotAMember is returned by GetUserInfo for a login code of someone who is not a member
// of the corp (WeCom answers with an openid).
var ErrNotAMember = errors.New("wecom: the login is not a member of this corp")

// Identity is who a login code belongs to (auth/getuserinfo): a member's UserID, or for
// someone who is not a member, an OpenID.
type Identity struct {
	UserID string `json:"userid"`
	// UserTicket reads the member's sensitive fields (GetUserDetail) for 30 minutes; only
	// for an in-client login with scope snsapi_privateinfo.
	UserTicket     string `json:"user_ticket,omitempty"`
	OpenID         string `json:"openid,omitempty"`
	ExternalUserID string `json:"external_userid,omitempty"`
}

// GetUserInfo is auth/getuserinfo: it exchanges a login code (from the QR login or the
// in-client OAuth redirect) for the identity it belongs to. A code is good for one
// exchange, so the call is never repeated: a wrong, used or expired code is errcode 40029,
// a redirect host the app does not trust 50001. A non-member's code returns the identity
// (with OpenID) and an error wrapping ErrNotAMember.
func (c *Client) GetUserInfo(ctx context.Context, code string) (*Identity, error) {
	type resp struct {
		baseResponse
		Identity
	}
	if code == "" || len(code) > 512 {
		return nil, fmt.Errorf("wecom auth/getuserinfo: a login code is 1 to 512 bytes, not %d", len(code))
	}
	r, err := do[resp](ctx, c, call{endpoint: "auth/getuserinfo", query: url.Values{"code": {code}}, once: true})
	if err != nil {
		return nil, err
	}
	id := &r.Identity
	switch {
	case id.UserID != "" && id.OpenID == "":
		return id, nil
	case id.UserID == "" && id.OpenID != "":
		return id, fmt.Errorf("%w (WeCom answered with an openid)", ErrNotAMember)
	}
	return nil, fmt.Errorf("%w: auth/getuserinfo answered with neither or both of userid and openid", ErrTransport)
}

// UserDetail is a member's sensitive fields (auth/getuserdetail), each present only if the
// admin enabled it for the app and the member consented.
type UserDetail struct {
	UserID  string `json:"userid"`
	Gender  string `json:"gender,omitempty"`
	Avatar  string `json:"avatar,omitempty"`
	QRCode  string `json:"qr_code,omitempty"`
	Mobile  string `json:"mobile,omitempty"`
	Email   string `json:"email,omitempty"`
	BizMail string `json:"biz_mail,omitempty"`
	Address string `json:"address,omitempty"`
}

// GetUserDetail is auth/getuserdetail: the sensitive fields a user_ticket unlocks.
func (c *Client) GetUserDetail(ctx context.Context, userTicket string) (*UserDetail, error) {
	type resp struct {
		baseResponse
		UserDetail
	}
	r, err := do[resp](ctx, c, call{endpoint: "auth/getuserdetail", post: true, body: map[string]string{"user_ticket": userTicket}, once: true})
	if err != nil {
		return nil, err
	}
	return &r.UserDetail, nil
}
