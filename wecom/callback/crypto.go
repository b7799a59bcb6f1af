// Package callback is WeCom's callback security — the signature and the AES-256-CBC
// encryption of callback messages (doc 91144; the scheme is msgcrypt's) — and the
// contact-change events they carry, shared by the receiving side and by the emulator that
// sends them.
package callback

import (
	"errors"

	"github.com/jitrt/jitrt/msgcrypt"
)

// Errors of the callback crypto, one per way a message is refused.
var (
	// ErrBadKey: an EncodingAESKey that is not 43 characters of base64 giving 32 bytes.
	ErrBadKey = msgcrypt.ErrBadKey
	// ErrBadToken: a Token that is not 1 to 32 letters and digits.
	ErrBadToken = errors.New("callback: the Token must be 1 to 32 letters and digits")
	// ErrBadSignature: the msg_signature does not match the message.
	ErrBadSignature = msgcrypt.ErrBadSignature
	// ErrBadCiphertext: not base64, not whole AES blocks, a bad pad or bad lengths inside.
	ErrBadCiphertext = msgcrypt.ErrBadCiphertext
	// ErrWrongReceiver: the message was encrypted for another corp (receiveid ≠ CorpID).
	ErrWrongReceiver = msgcrypt.ErrWrongReceiver
)

// Crypto signs, encrypts and decrypts the callback messages of one corp's callback config
// (msgcrypt's Verify, Sign, Decrypt, Encrypt and EncryptWith).
type Crypto struct {
	*msgcrypt.Crypto
}

// New checks a callback config (the Token, the EncodingAESKey and the CorpID the messages
// are for) and returns its Crypto.
func New(token, encodingAESKey, receiveID string) (*Crypto, error) {
	if !msgcrypt.Alnum(token, 1, 32) {
		return nil, ErrBadToken
	}
	c, err := msgcrypt.New(token, encodingAESKey, receiveID)
	if err != nil {
		return nil, err
	}
	return &Crypto{c}, nil
}

// ParseKey decodes an EncodingAESKey: 43 characters of base64 (letters and digits) plus "="
// give the 32-byte AES key.
func ParseKey(encodingAESKey string) ([]byte, error) { return msgcrypt.ParseKey(encodingAESKey) }

// Signature is msg_signature: the lowercase hex SHA-1 of token, timestamp, nonce and the
// encrypted message, sorted bytewise and joined.
func Signature(token, timestamp, nonce, encrypted string) string {
	return msgcrypt.Signature(token, timestamp, nonce, encrypted)
}
