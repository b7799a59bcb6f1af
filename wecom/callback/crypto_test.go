package callback

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/wecom"
)

// The official sample's vectors (sbzhu/weworkapi_golang sample.go, WECOM-AUTH-EVENTS.md §2.4).
const (
	sampleToken  = "QDG6eK"
	sampleCorpID = "wx5823bf96d3bd56c7"
	sampleKey    = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

	getTimestamp = "1409659589"
	getNonce     = "263014780"
	getEchostr   = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
	getSig       = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"

	postTimestamp = "1409659813"
	postNonce     = "1372623149"
	postEncrypt   = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
	postSig       = "477715d11cdb4164915debcba66cb864d751f3e6"
)

func sample(t *testing.T) *Crypto {
	t.Helper()
	c, err := New(sampleToken, sampleKey, sampleCorpID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTheOfficialVectors(t *testing.T) {
	key, err := ParseKey(sampleKey)
	if err != nil || hex.EncodeToString(key) != "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760" {
		t.Fatalf("key %x %v", key, err)
	}
	c := sample(t)

	// URL verification (GET): echostr arrives percent-encoded and is decoded exactly once
	q, _ := url.ParseQuery("echostr=" + url.QueryEscape(getEchostr))
	echostr := q.Get("echostr")
	if got := Signature(sampleToken, getTimestamp, getNonce, echostr); got != getSig {
		t.Fatalf("GET signature %s, want %s", got, getSig)
	}
	if err := c.Verify(getSig, getTimestamp, getNonce, echostr); err != nil {
		t.Fatal(err)
	}
	msg, err := c.Decrypt(echostr)
	if err != nil || string(msg) != "1616140317555161061" {
		t.Fatalf("echostr decrypts to %q %v", msg, err)
	}
	// the random prefix and the pad the sample used give back the very same ciphertext
	raw, _ := base64.StdEncoding.DecodeString(echostr)
	if len(raw) != 64 {
		t.Fatalf("ciphertext %d bytes", len(raw))
	}
	var random [16]byte
	plain := decryptRaw(t, key, raw)
	copy(random[:], plain[:16])
	// the sample's random prefix is 16 ASCII characters
	if string(plain[:16]) != "c41b64491c2468d0" || plain[len(plain)-1] != 7 || string(plain[16:20]) != "\x00\x00\x00\x13" {
		t.Fatalf("prefix %q, length %x, pad %d", plain[:16], plain[16:20], plain[len(plain)-1])
	}
	if got := c.EncryptWith(random, msg); got != getEchostr {
		t.Fatalf("re-encryption:\n got  %s\n want %s", got, getEchostr)
	}

	// a message (POST)
	if got := Signature(sampleToken, postTimestamp, postNonce, postEncrypt); got != postSig {
		t.Fatalf("POST signature %s, want %s", got, postSig)
	}
	msg, err = c.Decrypt(postEncrypt)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>", "<FromUserName><![CDATA[mycreate]]></FromUserName>",
		"<CreateTime>1409659813</CreateTime>", "<Content><![CDATA[hello]]></Content>", "<MsgId>4561255354251345929</MsgId>", "<AgentID>218</AgentID>"} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("the message lacks %s:\n%s", want, msg)
		}
	}
	if len(msg) != 284 {
		t.Errorf("message length %d, want 284", len(msg))
	}
	raw, _ = base64.StdEncoding.DecodeString(postEncrypt)
	plain = decryptRaw(t, key, raw)
	if len(raw) != 352 || plain[len(plain)-1] != 30 {
		t.Fatalf("POST: %d bytes, pad %d (a 16-byte unpadder would refuse it)", len(raw), plain[len(plain)-1])
	}
	if string(plain[:16]) != "0960688932c47ef1" {
		t.Fatalf("POST prefix %q", plain[:16])
	}
	copy(random[:], plain[:16])
	if got := c.EncryptWith(random, msg); got != postEncrypt {
		t.Fatal("the POST message does not re-encrypt to itself")
	}
}

// decryptRaw is AES-CBC without unpadding, to look at the sample's prefix and pad.
func decryptRaw(t *testing.T, key, raw []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(raw))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(out, raw)
	return out
}

func TestRoundTripsAndRefusals(t *testing.T) {
	c := sample(t)
	for _, n := range []int{0, 1, 11, 12, 13, 31, 32, 33, 100, 4096} {
		msg := []byte(strings.Repeat("事", n/3) + strings.Repeat("x", n%3))
		enc, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := c.Encrypt(msg)
		if again == enc {
			t.Fatal("two encryptions of one message are the same: the prefix is not random")
		}
		got, err := c.Decrypt(enc)
		if err != nil || string(got) != string(msg) {
			t.Fatalf("round trip of %d bytes: %q %v", len(msg), got, err)
		}
		raw, _ := base64.StdEncoding.DecodeString(enc)
		if len(raw)%32 != 0 {
			t.Fatalf("%d bytes are not whole 32-byte pad blocks", len(raw))
		}
	}
	enc, _ := c.Encrypt([]byte("hello"))
	other, _ := New(sampleToken, sampleKey, "wwanothercorp")
	if _, err := other.Decrypt(enc); !errors.Is(err, ErrWrongReceiver) {
		t.Fatalf("another corp's message: %v", err)
	}
	raw, _ := base64.StdEncoding.DecodeString(enc)
	for name, bad := range map[string]string{
		"not base64":         "!!!",
		"empty":              "",
		"not whole blocks":   base64.StdEncoding.EncodeToString(raw[:len(raw)-3]),
		"one block":          base64.StdEncoding.EncodeToString(raw[:16]),
		"a flipped last bit": base64.StdEncoding.EncodeToString(append(append([]byte{}, raw[:len(raw)-1]...), raw[len(raw)-1]^1)),
		"another key":        mustEncrypt(t, "hello", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
	} {
		if _, err := c.Decrypt(bad); err == nil {
			t.Errorf("%s: decrypted", name)
		}
	}
	if err := c.Verify(strings.Repeat("0", 40), "1", "2", enc); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a wrong signature: %v", err)
	}
	if err := c.Verify(strings.ToUpper(c.Sign("1", "2", enc)), "1", "2", enc); err != nil {
		t.Fatalf("an upper-case signature: %v", err)
	}
	for _, k := range []string{"short", sampleKey + "A", strings.Repeat("=", 43)} {
		if _, err := New(sampleToken, k, sampleCorpID); !errors.Is(err, ErrBadKey) {
			t.Errorf("key %q: %v", k, err)
		}
	}
	for _, tok := range []string{"", "has space", strings.Repeat("a", 33)} {
		if _, err := New(tok, sampleKey, sampleCorpID); !errors.Is(err, ErrBadToken) {
			t.Errorf("token %q: %v", tok, err)
		}
	}
}

func mustEncrypt(t *testing.T, msg, key string) string {
	c, err := New(sampleToken, key, sampleCorpID)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := c.Encrypt([]byte(msg))
	return enc
}

// FuzzDecrypt: no input makes Decrypt panic or hand back more than it holds.
func FuzzDecrypt(f *testing.F) {
	f.Add(getEchostr)
	f.Add(postEncrypt)
	f.Add("")
	c, err := New(sampleToken, sampleKey, sampleCorpID)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		msg, err := c.Decrypt(s)
		if err == nil && len(msg) > len(s) {
			t.Fatalf("%d bytes out of %d", len(msg), len(s))
		}
	})
}

func TestEventsReadBareOrCDATAAndRoundTrip(t *testing.T) {
	// as the docs show it: a mix of CDATA and bare values
	raw := `<xml><ToUserName><![CDATA[wwcorp]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>
<CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event>
<ChangeType>update_user</ChangeType><UserID><![CDATA[zhangsan]]></UserID><NewUserID><![CDATA[zhangsan001]]></NewUserID>
<Department><![CDATA[1,2,3]]></Department><MainDepartment>1</MainDepartment><IsLeaderInDept><![CDATA[1,0,0]]></IsLeaderInDept>
<Position><![CDATA[产品经理]]></Position><Status>1</Status>
<ExtAttr><Item><Name><![CDATA[爱好]]></Name><Type>0</Type><Text><Value><![CDATA[旅游]]></Value></Text></Item>
<Item><Name><![CDATA[卡号]]></Name><Type>1</Type><Web><Title><![CDATA[企业微信]]></Title><Url><![CDATA[https://work.weixin.qq.com]]></Url></Web></Item></ExtAttr>
</xml>`
	e, err := ParseEvent([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	u := wecom.User{UserID: "zhangsan", Name: "张三", Mobile: "13800000000", Department: []int64{1}}
	e.ApplyTo(&u)
	if e.Kind() != UpdateUser || e.User() != "zhangsan" || e.NewUser() != "zhangsan001" || u.Name != "张三" || u.Mobile != "13800000000" ||
		u.Position != "产品经理" || u.MainDepartment != 1 || fmt.Sprint(u.Department, u.IsLeaderInDept) != "[1 2 3] [1 0 0]" ||
		u.Status != 1 || len(u.ExtAttr.Attrs) != 2 || u.ExtAttr.Attrs[1].Web.URL != "https://work.weixin.qq.com" {
		t.Fatalf("%+v", u)
	}
	// an event made from a change reads back to the same change
	before := u
	now := u
	now.Name, now.Department, now.MainDepartment = "张三丰", []int64{3}, 3
	ev := UserEvent("wwcorp", UpdateUser, 1, &before, &now, false)
	back, err := ParseEvent(ev.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if back.Mobile != nil || back.Position != nil || back.Name.V != "张三丰" {
		t.Fatalf("an update carries unchanged fields: %s", ev.Marshal())
	}
	got := before
	back.ApplyTo(&got)
	if got.Name != now.Name || got.MainDepartment != 3 || fmt.Sprint(got.Department) != "[3]" {
		t.Fatalf("applied: %+v", got)
	}
	if !strings.Contains(string(ev.Marshal()), "<Name><![CDATA[张三丰]]></Name>") {
		t.Fatalf("strings are not CDATA: %s", ev.Marshal())
	}
	// minimal: UserID and Department only
	min := UserEvent("wwcorp", UpdateUser, 1, &before, &now, true)
	if min.Name != nil || min.Department == nil || min.UserFields() {
		t.Fatalf("minimal: %s", min.Marshal())
	}
	for _, bad := range []string{
		`<xml><MsgType>text</MsgType><Content>hi</Content></xml>`,
		`<xml><Event>change_contact</Event><ChangeType>update_user</ChangeType><UserID>../x</UserID></xml>`,
		`<xml><Event>change_contact</Event><ChangeType>create_party</ChangeType></xml>`,
		`<xml><Event>change_contact</Event><ChangeType>explode</ChangeType></xml>`,
		`not xml`,
	} {
		if _, err := ParseEvent([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", bad)
		}
	}
}
