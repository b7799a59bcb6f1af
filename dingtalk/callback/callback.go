// Package callback is DingTalk's HTTP event push (事件订阅 · HTTP推送): the signature and
// encryption of a push (the scheme WeCom designed: msgcrypt), the JSON the push and its reply
// carry, and the contact events inside, shared by the receiving side and by the emulator
// that sends them. It imports nothing of jitrt but msgcrypt.
//
// Decisions where DINGTALK-API.md §13 says "unconfirmed":
//   - The query names: a push is read from msg_signature or signature, and from timestamp or
//     timeStamp; the emulator sends msg_signature and signature with the same value.
//   - The plaintext: both shapes are read (the observed PascalCase one, UserId/DeptId/
//     TimeStamp, and the documented mixed one, userId/deptId/timeStamp/eventId), keys matched
//     without regard to case, TimeStamp a string or a number; the emulator sends the
//     observed shape with an eventId added, which dedupes redeliveries.
//   - The owner key (receive id) is the app's AppKey: events configured in the developer
//     console, as a self-built app's are.
package callback

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jitrt/jitrt/msgcrypt"
)

// Errors of a push, beside msgcrypt's (a bad signature, a malformed or misdirected message).
var (
	// ErrBadToken: a token that is not 3 to 64 letters and digits (the console's 3–32,
	// register_call_back's 6–63).
	ErrBadToken = errors.New("dingtalk callback: the token must be 3 to 64 letters and digits")
	// ErrBadPush: a push without its signature, timestamp, nonce or {"encrypt": …} body.
	ErrBadPush = errors.New("dingtalk callback: not a push: it needs msg_signature, timestamp, nonce and a JSON body {\"encrypt\": …}")
	// ErrBadSignature, ErrBadCiphertext and ErrWrongReceiver are msgcrypt's.
	ErrBadSignature  = msgcrypt.ErrBadSignature
	ErrBadCiphertext = msgcrypt.ErrBadCiphertext
	ErrWrongReceiver = msgcrypt.ErrWrongReceiver
	ErrBadKey        = msgcrypt.ErrBadKey
)

// Success is the plaintext of every reply DingTalk accepts.
const Success = "success"

// Crypto signs, encrypts and decrypts the pushes of one app's event subscription.
type Crypto struct {
	*msgcrypt.Crypto
}

// New checks a subscription's token, aes_key and owner key (the AppKey for events set in
// the developer console) and returns its Crypto.
func New(token, aesKey, ownerKey string) (*Crypto, error) {
	if !msgcrypt.Alnum(token, 3, 64) {
		return nil, ErrBadToken
	}
	c, err := msgcrypt.New(token, aesKey, ownerKey)
	if err != nil {
		return nil, err
	}
	return &Crypto{c}, nil
}

// Envelope is the body of a push, and of its reply with the other fields.
type Envelope struct {
	MsgSignature string `json:"msg_signature,omitempty"`
	TimeStamp    string `json:"timeStamp,omitempty"`
	Nonce        string `json:"nonce,omitempty"`
	Encrypt      string `json:"encrypt"`
}

// Push is what a push carries: its signature, timestamp and nonce (query) and the
// encrypted message (body).
type Push struct {
	Signature, Timestamp, Nonce, Encrypt string
}

// ReadPush reads a push's query (msg_signature or signature, timestamp or timeStamp, nonce)
// and JSON body ({"encrypt": …}); ErrBadPush when any is missing.
func ReadPush(query url.Values, body []byte) (Push, error) {
	p := Push{Signature: first(query, "msg_signature", "signature"), Timestamp: first(query, "timestamp", "timeStamp"), Nonce: query.Get("nonce")}
	var env Envelope
	if p.Signature == "" || p.Timestamp == "" || p.Nonce == "" || json.Unmarshal(body, &env) != nil || env.Encrypt == "" {
		return Push{}, ErrBadPush
	}
	p.Encrypt = env.Encrypt
	return p, nil
}

// Open verifies a push (its query and JSON body) and returns the plaintext.
func (c *Crypto) Open(query url.Values, body []byte) ([]byte, error) {
	p, err := ReadPush(query, body)
	if err != nil {
		return nil, err
	}
	if err := c.Verify(p.Signature, p.Timestamp, p.Nonce, p.Encrypt); err != nil {
		return nil, err
	}
	return c.Decrypt(p.Encrypt)
}

func first(q url.Values, names ...string) string {
	for _, n := range names {
		if v := q.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// Reply is the JSON DingTalk needs in answer to a push: "success", encrypted and signed
// over a timestamp and nonce of the replier's own.
func (c *Crypto) Reply() ([]byte, error) {
	enc, err := c.Encrypt([]byte(Success))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	nonce := randomNonce()
	return json.Marshal(Envelope{MsgSignature: c.Sign(ts, nonce, enc), TimeStamp: ts, Nonce: nonce, Encrypt: enc})
}

// CheckReply checks a reply to a push (the emulator's side): signed over its own timestamp
// and nonce, and "success" for this owner key.
func (c *Crypto) CheckReply(body []byte) error {
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Encrypt == "" || env.MsgSignature == "" {
		return fmt.Errorf("dingtalk callback: the reply is not {msg_signature, timeStamp, nonce, encrypt}: %.200q", body)
	}
	if err := c.Verify(env.MsgSignature, env.TimeStamp, env.Nonce, env.Encrypt); err != nil {
		return err
	}
	msg, err := c.Decrypt(env.Encrypt)
	if err != nil {
		return err
	}
	if string(msg) != Success {
		return fmt.Errorf("dingtalk callback: the reply says %q, not %q (71009)", msg, Success)
	}
	return nil
}

// Seal makes a push of a plaintext (the emulator's side): its query and its body.
func (c *Crypto) Seal(msg []byte, timestamp, nonce string) (url.Values, []byte, error) {
	enc, err := c.Encrypt(msg)
	if err != nil {
		return nil, nil, err
	}
	sig := c.Sign(timestamp, nonce, enc)
	q := url.Values{"msg_signature": {sig}, "signature": {sig}, "timestamp": {timestamp}, "nonce": {nonce}}
	body, _ := json.Marshal(Envelope{Encrypt: enc})
	return q, body, nil
}

func randomNonce() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// The contact events a self-built app subscribes to (DINGTALK-API.md §10.7).
const (
	CheckURL     = "check_url"
	UserAdd      = "user_add_org"
	UserModify   = "user_modify_org"
	UserLeave    = "user_leave_org"
	UserActive   = "user_active_org"
	AdminAdd     = "org_admin_add"
	AdminRemove  = "org_admin_remove"
	DeptCreate   = "org_dept_create"
	DeptModify   = "org_dept_modify"
	DeptRemove   = "org_dept_remove"
	LabelUser    = "label_user_change"
	OrgChange    = "org_change"
	OrgRemove    = "org_remove"
	LabelConfAdd = "label_conf_add"
	LabelConfMod = "label_conf_modify"
	LabelConfDel = "label_conf_del"
)

// Event is a push's plaintext: its type and the ids it names (events carry ids only).
type Event struct {
	EventType string   `json:"EventType"`
	EventID   string   `json:"eventId,omitempty"`
	CorpID    string   `json:"CorpId,omitempty"`
	TimeStamp string   `json:"TimeStamp,omitempty"`
	UserIDs   []string `json:"UserId,omitempty"`
	DeptIDs   []int64  `json:"DeptId,omitempty"`
	OptStaff  string   `json:"OptStaffId,omitempty"`
}

// ParseEvent reads a plaintext in either shape (keys matched without regard to case;
// TimeStamp a string or a number).
func ParseEvent(msg []byte) (*Event, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(msg, &raw); err != nil {
		return nil, fmt.Errorf("dingtalk callback: the event is not a JSON object: %w", err)
	}
	get := func(name string) json.RawMessage {
		for k, v := range raw {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return nil
	}
	var e Event
	str := func(name string) string {
		v := get(name)
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		var n json.Number
		if json.Unmarshal(v, &n) == nil {
			return n.String()
		}
		return ""
	}
	e.EventType, e.EventID, e.CorpID, e.TimeStamp, e.OptStaff = str("EventType"), str("eventId"), str("CorpId"), str("TimeStamp"), str("OptStaffId")
	if e.EventType == "" {
		return nil, errors.New("dingtalk callback: the event has no EventType")
	}
	if v := get("UserId"); v != nil {
		if err := json.Unmarshal(v, &e.UserIDs); err != nil {
			return nil, fmt.Errorf("dingtalk callback: UserId is not a list of userids: %w", err)
		}
	}
	if v := get("DeptId"); v != nil {
		if err := json.Unmarshal(v, &e.DeptIDs); err != nil {
			return nil, fmt.Errorf("dingtalk callback: DeptId is not a list of department ids: %w", err)
		}
	}
	return &e, nil
}

// Marshal writes the event in the observed shape (the emulator's default).
func (e *Event) Marshal() []byte {
	b, _ := json.Marshal(e)
	return b
}
