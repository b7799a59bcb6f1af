// Package callback is Feishu's (飞书) event subscription over HTTP (v2.0 events): the
// Encrypt Key's AES-256-CBC (the key the SHA-256 of the Encrypt Key, a random IV in front
// of the ciphertext), the X-Lark-Signature over the timestamp, the nonce, the key and the
// raw body, the url_verification challenge, the Verification Token, and the contact events
// inside, shared by the receiving side and by the emulator that sends them. It imports
// nothing of jitrt.
//
// Decisions where FEISHU-API.md says "unconfirmed": with an Encrypt Key every push but
// the url_verification carries the three X-Lark headers, and a push without them is
// refused; the timestamp is unix seconds (checked by the receiver's window); the token of
// every event is checked, as the Python SDK does.
package callback

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Errors of a push.
var (
	// ErrBadSignature: the X-Lark-Signature does not match.
	ErrBadSignature = errors.New("feishu callback: the signature does not match")
	// ErrBadToken: the payload's token is not the Verification Token.
	ErrBadToken = errors.New("feishu callback: the verification token does not match")
	// ErrBadCiphertext: not base64, shorter than an IV and a block, or a bad pad.
	ErrBadCiphertext = errors.New("feishu callback: the encrypted body is malformed")
	// ErrNotEvent: the plaintext is neither a url_verification nor a v2.0 event.
	ErrNotEvent = errors.New("feishu callback: not a Feishu event")
)

// Crypto verifies, decrypts and makes the pushes of one app's event subscription.
type Crypto struct {
	verificationToken string
	encryptKey        string // "" when the app set none: bodies are plaintext, unsigned
	key               []byte // SHA-256 of encryptKey
}

// New returns the Crypto of a subscription's Verification Token and Encrypt Key (empty
// when the app sets none).
func New(verificationToken, encryptKey string) *Crypto {
	c := &Crypto{verificationToken: verificationToken, encryptKey: encryptKey}
	if encryptKey != "" {
		k := sha256.Sum256([]byte(encryptKey))
		c.key = k[:]
	}
	return c
}

// Signature is X-Lark-Signature: the lowercase hex SHA-256 of timestamp, nonce, the
// Encrypt Key and the raw body, concatenated.
func Signature(timestamp, nonce, encryptKey string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(timestamp))
	h.Write([]byte(nonce))
	h.Write([]byte(encryptKey))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Verify checks a push's signature (in constant time) when the app has an Encrypt Key.
func (c *Crypto) Verify(timestamp, nonce, signature string, body []byte) error {
	if c.encryptKey == "" {
		return nil
	}
	want := Signature(timestamp, nonce, c.encryptKey, body)
	if subtle.ConstantTimeCompare([]byte(signature), []byte(want)) != 1 {
		return ErrBadSignature
	}
	return nil
}

// Encrypted reports whether the app has an Encrypt Key.
func (c *Crypto) Encrypted() bool { return c.encryptKey != "" }

// Decrypt opens an "encrypt" value: base64 of the IV and the AES-256-CBC ciphertext.
func (c *Crypto) Decrypt(encrypted string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil || len(raw) < 2*aes.BlockSize || len(raw)%aes.BlockSize != 0 || c.key == nil {
		return nil, ErrBadCiphertext
	}
	block, _ := aes.NewCipher(c.key)
	plain := make([]byte, len(raw)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, raw[:aes.BlockSize]).CryptBlocks(plain, raw[aes.BlockSize:])
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, ErrBadCiphertext
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, ErrBadCiphertext
		}
	}
	return plain[:len(plain)-pad], nil
}

// Encrypt seals a plaintext with a fresh random IV.
func (c *Crypto) Encrypt(plain []byte) (string, error) {
	var iv [aes.BlockSize]byte
	if _, err := rand.Read(iv[:]); err != nil {
		return "", err
	}
	return c.EncryptWith(iv, plain), nil
}

// EncryptWith is Encrypt with a given IV (to reproduce a known ciphertext).
func (c *Crypto) EncryptWith(iv [aes.BlockSize]byte, plain []byte) string {
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, _ := aes.NewCipher(c.key)
	out := make([]byte, aes.BlockSize+len(buf))
	copy(out, iv[:])
	cipher.NewCBCEncrypter(block, iv[:]).CryptBlocks(out[aes.BlockSize:], buf)
	return base64.StdEncoding.EncodeToString(out)
}

// Open reads a push's body (its signature checked before): the plaintext, decrypted when
// it came encrypted (a push arrives encrypted only when the app has an Encrypt Key).
func (c *Crypto) Open(body []byte) ([]byte, error) {
	var env struct {
		Encrypt *string `json:"encrypt"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: the body is not JSON", ErrNotEvent)
	}
	if env.Encrypt == nil {
		if c.encryptKey != "" {
			return nil, fmt.Errorf("%w: the app has an Encrypt Key but the push came in clear", ErrBadCiphertext)
		}
		return body, nil
	}
	if c.encryptKey == "" {
		return nil, fmt.Errorf("%w: the push is encrypted but no encryptKey is set", ErrBadCiphertext)
	}
	return c.Decrypt(*env.Encrypt)
}

// Seal makes a push's body of a plaintext (encrypted when the app has an Encrypt Key) and
// its three headers.
func (c *Crypto) Seal(plain []byte, timestamp, nonce string) (body []byte, headers map[string]string, err error) {
	body = plain
	if c.encryptKey != "" {
		enc, err := c.Encrypt(plain)
		if err != nil {
			return nil, nil, err
		}
		body, _ = json.Marshal(map[string]string{"encrypt": enc})
	}
	headers = map[string]string{"X-Lark-Request-Timestamp": timestamp, "X-Lark-Request-Nonce": nonce}
	if c.encryptKey != "" {
		headers["X-Lark-Signature"] = Signature(timestamp, nonce, c.encryptKey, body)
	}
	return body, headers, nil
}

// The contact events (v2.0) an org follows.
const (
	URLVerification = "url_verification"
	UserCreated     = "contact.user.created_v3"
	UserUpdated     = "contact.user.updated_v3"
	UserDeleted     = "contact.user.deleted_v3"
	DeptCreated     = "contact.department.created_v3"
	DeptUpdated     = "contact.department.updated_v3"
	DeptDeleted     = "contact.department.deleted_v3"
	ScopeUpdated    = "contact.scope.updated_v3"
)

// Header is a v2.0 event's header.
type Header struct {
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	CreateTime string `json:"create_time"`
	Token      string `json:"token"`
	AppID      string `json:"app_id"`
	TenantKey  string `json:"tenant_key"`
}

// Object is what a contact event's object and old_object say of a member or department
// (the ids the org keys them by, and the rest as it came).
type Object struct {
	UserID           string          `json:"user_id,omitempty"`
	OpenID           string          `json:"open_id,omitempty"`
	UnionID          string          `json:"union_id,omitempty"`
	Name             string          `json:"name,omitempty"`
	OpenDepartmentID string          `json:"open_department_id,omitempty"`
	DepartmentID     string          `json:"department_id,omitempty"`
	Extra            json.RawMessage `json:"-"`
}

// Event is a v2.0 event, or a url_verification (Type and Challenge).
type Event struct {
	Schema string `json:"schema,omitempty"`
	Header Header `json:"header"`
	Event  struct {
		Object    Object  `json:"object"`
		OldObject *Object `json:"old_object,omitempty"`
	} `json:"event"`
	// the url_verification's
	Type      string `json:"type,omitempty"`
	Challenge string `json:"challenge,omitempty"`
	Token     string `json:"token,omitempty"`
}

// ParseEvent reads a plaintext and checks its Verification Token.
func (c *Crypto) ParseEvent(plain []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(plain, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotEvent, err)
	}
	token := e.Header.Token
	switch {
	case e.Type == URLVerification:
		token = e.Token
	case e.Schema != "2.0" || e.Header.EventType == "":
		return nil, fmt.Errorf("%w: no schema 2.0 header (subscribe to the v2.0 events)", ErrNotEvent)
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(c.verificationToken)) != 1 {
		return nil, ErrBadToken
	}
	return &e, nil
}

// Marshal writes the event.
func (e *Event) Marshal() []byte {
	b, _ := json.Marshal(e)
	return b
}
