package callback

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// The vectors of FEISHU-API.md §10.8: A from Feishu's "接收事件 / Receive events" page (its
// samples in six languages), B and C from the official Go SDK's tests
// (larksuite/oapi-sdk-go event/dispatcher/dispatcher_test.go: TestDecryptEvent,
// TestVerifySignOk), D made for the reference with a fixed IV and checked in Go and Python.
func TestOfficialVectors(t *testing.T) {
	a := New("", "test key")
	if k := sha256.Sum256([]byte("test key")); hex.EncodeToString(k[:]) != "fa2bdca424f01f01ffb48df93acc35d439c7fd331a1a7fba6ac2fd83aa9ab31a" {
		t.Fatal("vector A's key")
	}
	if plain, err := a.Decrypt("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="); err != nil || string(plain) != "hello world" {
		t.Fatalf("vector A: %q %v", plain, err)
	}
	const bEnc = "bZ3L7yh6m3Fkuffl4g+3uGjIHnhOm5fVZbKVuyT8t7tcd5ABMYm8l28/X900ZL3knZ7n+sCREu/H2WnIzft0amC7+xWqNH8o25IU63N4BnZWfHh+4hyG76QPd19vkw2bPJCx9aqxK8Nz+xqFNbk0RdgyWhmgd30jSxHtcQXAllkI7FMpGpOCteJad3bLXPDBQIV/xkCtKICCS7Z63gakpxZCLaRZ3qCXP1fapHh+LBIupxenrU6ysc7I3nHmjmKie41IiWwS5puG4zQHhVbq6KWLcgWm/3NBZOPQy53ucMu75SXA55I7jarVLZXWUcqBGrcgE3vouWbtwgZuzmoTQl0GSh5VYSVvpW992BuGxUWj0XjPYdICJm6Cr7xouNXwMcdb7N8caVdkdSZeEnswG19qSyDoQhklwzNGW0yiaayulBqJNjfge/G5V3401c2XaIuAeEIo+QQ4RSNpRGfnHkbu/j55FGQAGWjpuBNaIwZbaUoVP3NkGP+vM5rpEDe3sL2GN+Xsd+g9yBs7FqdMV8mXTGgLjCqjrPrke5/km76Q3Pe6KPs2YexMRG4MkSx3xUTzZnNn7zIzShPcjeSwBd2pxk6ht5N+fzueZdxl6Oo="
	const bPlain = `{"schema":"2.0","header":{"event_id":"f7984f25108f8137722bb63cee927e66","event_type":"contact.user.created_v3","app_id":"cli_xxxxxxxx","tenant_key":"xxxxxxx","create_time":"1603977298000000","token":"v"},"event":{"object":{"open_id":"ou_7dab8a3d3cdcc9da365777c7ad535d62","union_id":"on_576833b917gda3d939b9a3c2d53e72c8","user_id":"e33ggbyz","name":"张三","employee_no":"employee_no"}},"challenge":"1212","type":"url_verification"}`
	b := New("v", "1212121212")
	plain, err := b.Decrypt(bEnc)
	if err != nil || string(plain) != bPlain {
		t.Fatalf("vector B: %q %v", plain, err)
	}
	if sig := Signature("timestamp", "nonce", "1212121212", []byte(bPlain)); sig != "4dca085198cb3216defc5b65b0668c1328b038a22dbadf2bc6c4fdc3d32bbc45" {
		t.Fatalf("vector C: %s", sig)
	}
	var iv [16]byte
	for i := range iv {
		iv[i] = byte(i)
	}
	d := New("xxxxxx", "test key")
	const dEnc = "AAECAwQFBgcICQoLDA0ODw9mLTIAZS9jAmGTQ1wAhHp7T0KSqa6xlIO2zHinxKSs1K4/7o0J6jqt9tlbOFlHae7/cvXLvNi4ZpCEt5KzcrL1tjJXRzgeOikjXBgef8ne"
	if enc := d.EncryptWith(iv, []byte(`{"challenge":"ajls384kdjxxxx","token":"xxxxxx","type":"url_verification"}`)); enc != dEnc {
		t.Fatalf("vector D: %s", enc)
	}
	if enc := d.EncryptWith(iv, []byte("hello world")); enc != "AAECAwQFBgcICQoLDA0ODx9boKUoUEfLsblbVEKm75s=" {
		t.Fatalf("vector D, hello world: %s", enc)
	}
	body := []byte(`{"encrypt":"` + dEnc + `"}`)
	if err := d.Verify("1700000000", "abc123", "f6bb43150047f6c0754f5c3aa6e34b43b305d43a6431eccd09df292e700cb13a", body); err != nil {
		t.Fatalf("vector D's signature: %v", err)
	}
	if err := d.Verify("1700000000", "abc123", "69c61fa99760d59824d588297c0036194769fb54331682c9cbcd93e85b9a8aad", []byte(`{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}`)); err != nil {
		t.Fatalf("vector D's second signature: %v", err)
	}
	msg, err := d.Open(body)
	if err != nil {
		t.Fatal(err)
	}
	e, err := d.ParseEvent(msg)
	if err != nil || e.Type != URLVerification || e.Challenge != "ajls384kdjxxxx" {
		t.Fatalf("vector D's challenge: %+v %v", e, err)
	}
}

// independentEncrypt is a second implementation of the scheme, from the reference's text
// alone (§10.4), sharing no code with the package.
func independentEncrypt(key string, iv []byte, plain string) string {
	k := sha256.Sum256([]byte(key))
	p := []byte(plain)
	pad := 16 - len(p)%16
	for range pad {
		p = append(p, byte(pad))
	}
	block, _ := aes.NewCipher(k[:])
	out := make([]byte, len(p))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, p)
	return base64.StdEncoding.EncodeToString(append(append([]byte{}, iv...), out...))
}

func independentDecrypt(key, enc string) string {
	k := sha256.Sum256([]byte(key))
	raw, _ := base64.StdEncoding.DecodeString(enc)
	block, _ := aes.NewCipher(k[:])
	out := make([]byte, len(raw)-16)
	cipher.NewCBCDecrypter(block, raw[:16]).CryptBlocks(out, raw[16:])
	return string(out[:len(out)-int(out[len(out)-1])])
}

func TestRoundTripsWithAnIndependentImplementation(t *testing.T) {
	c := New("vtoken", "an encrypt key")
	for _, msg := range []string{`{"schema":"2.0"}`, strings.Repeat("部门", 100), "0123456789abcdef"} {
		enc := independentEncrypt("an encrypt key", []byte("IVIVIVIVIVIVIVIV"), msg)
		if got, err := c.Decrypt(enc); err != nil || string(got) != msg {
			t.Fatalf("independent → Decrypt: %q %v", got, err)
		}
		mine, err := c.Encrypt([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if back := independentDecrypt("an encrypt key", mine); back != msg {
			t.Fatalf("Encrypt → independent: %q", back)
		}
	}
	// a push sealed here verifies and opens; a body changed after signing does not verify
	plain := []byte(`{"schema":"2.0","header":{"event_id":"e1","event_type":"contact.user.deleted_v3","token":"vtoken"},"event":{"object":{"user_id":"u1"}}}`)
	body, h, err := c.Seal(plain, "1700000000", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(h["X-Lark-Request-Timestamp"], h["X-Lark-Request-Nonce"], h["X-Lark-Signature"], body); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(h["X-Lark-Request-Timestamp"], h["X-Lark-Request-Nonce"], h["X-Lark-Signature"], append(body, ' ')); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a changed body: %v", err)
	}
	got, err := c.Open(body)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.ParseEvent(got)
	if err != nil || e.Header.EventType != UserDeleted || e.Event.Object.UserID != "u1" {
		t.Fatalf("the event: %+v %v", e, err)
	}
	// another app's token is refused; a clear push to an app with a key is refused
	if _, err := New("other", "an encrypt key").ParseEvent(got); !errors.Is(err, ErrBadToken) {
		t.Fatalf("another token: %v", err)
	}
	if _, err := c.Open(plain); !errors.Is(err, ErrBadCiphertext) {
		t.Fatalf("a clear push to an app with a key: %v", err)
	}
}
