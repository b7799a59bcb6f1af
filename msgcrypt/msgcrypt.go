// Package msgcrypt is the message crypto WeCom designed for its callbacks (WXBizMsgCrypt)
// and DingTalk adopted for its HTTP event push: a SHA-1 signature over the token, the
// timestamp, the nonce and the message, and AES-256-CBC with the key from a 43-character
// EncodingAESKey (aes_key), the IV its first 16 bytes, over a random prefix, the length, the
// message and the receiver's id, PKCS#7-padded to 32-byte blocks. It is a leaf the platform
// clients share (it imports nothing of jitrt); each platform checks its own token rules and
// carries the messages its own way (WeCom XML, DingTalk JSON).
package msgcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Errors of the crypto, one per way a message is refused.
var (
	// ErrBadKey: a key that is not 43 characters of base64 giving 32 bytes.
	ErrBadKey = errors.New("the AES key must be 43 characters (letters and digits) decoding to 32 bytes")
	// ErrBadSignature: the signature does not match the message.
	ErrBadSignature = errors.New("the signature does not match")
	// ErrBadCiphertext: not base64, not whole AES blocks, a bad pad or bad lengths inside.
	ErrBadCiphertext = errors.New("the encrypted message is malformed")
	// ErrWrongReceiver: the message was encrypted for another receiver.
	ErrWrongReceiver = errors.New("the message is for another receiver")
)

// blockPad is the PKCS#7 block of the scheme: 32 bytes, not AES's 16. Decrypt takes any pad
// of 1 to 32 (DingTalk's Go sample pads to 16).
const blockPad = 32

// MaxMessage bounds a decrypted message (the platforms' are a few KiB).
const MaxMessage = 1 << 20

// Crypto signs, encrypts and decrypts the messages of one callback config.
type Crypto struct {
	token     string
	key       []byte // 32 bytes
	receiveID string
}

// New returns the Crypto of a token, an EncodingAESKey and the id the messages are for
// (the platform checks the token's form).
func New(token, encodingAESKey, receiveID string) (*Crypto, error) {
	key, err := ParseKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	return &Crypto{token: token, key: key, receiveID: receiveID}, nil
}

// ReceiveID is the id the messages are for.
func (c *Crypto) ReceiveID() string { return c.receiveID }

// ParseKey decodes an EncodingAESKey: 43 characters of base64 (letters and digits) plus "="
// give the 32-byte AES key.
func ParseKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, ErrBadKey
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, ErrBadKey
	}
	return key, nil
}

// Alnum reports whether s is lo to hi ASCII letters and digits.
func Alnum(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Signature is the lowercase hex SHA-1 of token, timestamp, nonce and the encrypted
// message, sorted bytewise and joined.
func Signature(token, timestamp, nonce, encrypted string) string {
	parts := []string{token, timestamp, nonce, encrypted}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// Verify checks a signature over a message, in constant time.
func (c *Crypto) Verify(signature, timestamp, nonce, encrypted string) error {
	want := Signature(c.token, timestamp, nonce, encrypted)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(signature)), []byte(want)) != 1 {
		return ErrBadSignature
	}
	return nil
}

// Sign is the signature of an encrypted message.
func (c *Crypto) Sign(timestamp, nonce, encrypted string) string {
	return Signature(c.token, timestamp, nonce, encrypted)
}

// Decrypt opens an encrypted message (base64): it checks every length and the pad, and
// that the message is for this Crypto's receiver.
func (c *Crypto) Decrypt(encrypted string) ([]byte, error) {
	msg, receiver, err := c.Open(encrypted)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(receiver), []byte(c.receiveID)) != 1 {
		return nil, fmt.Errorf("%w (it names %q)", ErrWrongReceiver, receiver)
	}
	return msg, nil
}

// Open decrypts a message without checking its receiver, and says whom it names.
func (c *Crypto) Open(encrypted string) (msg []byte, receiver string, err error) {
	raw, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil || len(raw) == 0 || len(raw)%aes.BlockSize != 0 || len(raw) > MaxMessage+64 {
		return nil, "", ErrBadCiphertext
	}
	block, err := aes.NewCipher(c.key)
	if err != nil {
		return nil, "", ErrBadKey
	}
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(block, c.key[:aes.BlockSize]).CryptBlocks(plain, raw)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > blockPad || pad > len(plain) {
		return nil, "", ErrBadCiphertext
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, "", ErrBadCiphertext
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, "", ErrBadCiphertext
	}
	n := int(binary.BigEndian.Uint32(plain[16:20]))
	if n > len(plain)-20 || n > MaxMessage {
		return nil, "", ErrBadCiphertext
	}
	return plain[20 : 20+n], string(plain[20+n:]), nil
}

// Encrypt seals a message for the receiver: a fresh 16-byte random prefix, the length, the
// message and the receive id, padded to 32-byte blocks, AES-256-CBC, base64.
func (c *Crypto) Encrypt(msg []byte) (string, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", err
	}
	return c.EncryptWith(random, msg), nil
}

// EncryptWith is Encrypt with a given random prefix (to reproduce a known ciphertext).
func (c *Crypto) EncryptWith(random [16]byte, msg []byte) string {
	var b bytes.Buffer
	b.Write(random[:])
	binary.Write(&b, binary.BigEndian, uint32(len(msg)))
	b.Write(msg)
	b.WriteString(c.receiveID)
	pad := blockPad - b.Len()%blockPad // 1 to 32: a whole block when aligned
	b.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	block, _ := aes.NewCipher(c.key)
	out := make([]byte, b.Len())
	cipher.NewCBCEncrypter(block, c.key[:aes.BlockSize]).CryptBlocks(out, b.Bytes())
	return base64.StdEncoding.EncodeToString(out)
}
