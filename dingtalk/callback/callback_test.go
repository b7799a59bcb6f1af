package callback

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// The vectors of DINGTALK-API.md §10.6: V1 from DingTalk's crypto documentation (调试工具),
// V2 from its event FAQ (常见问题: the expected reply), V3 from the official Go sample
// (open-dingtalk DingTalkCrypto.go main), V4 made for the reference with a fixed random
// prefix and checked there with openssl.
func TestOfficialVectors(t *testing.T) {
	// V1: a push, signature and plaintext
	v1, err := New("123456", "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij", "suite4xxxxxxxxxxxxxxx")
	if err != nil {
		t.Fatal(err)
	}
	const v1Enc = "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ=="
	q := url.Values{"signature": {"5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0"}, "timestamp": {"1445827045067"}, "nonce": {"nEXhMP4r"}}
	msg, err := v1.Open(q, []byte(`{"encrypt":"`+v1Enc+`"}`))
	if err != nil || string(msg) != `{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}` {
		t.Fatalf("V1: %s %v", msg, err)
	}
	// V2 and V3: replies, "success" for the owner key
	for _, v := range []struct{ token, key, owner, sig, ts, nonce, enc string }{
		{"123456", "1234567890123456789012345678901234567890123", "dingsnotzck6pm5veliw", "9a95a004dd16f5c307e849b994173f76aa26e5eb", "1614767836", "A7Co0cJLMzIDtMMI",
			"YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA=="},
		{"tokenxxxx", "o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus", "dingxxxxxx", "f36f4ba5337d426c7d4bca0dbcb06b3ddc1388fc", "1605695694141", "WelUQl6bCqcBa2fM",
			"X1VSe9cTJUMZu60d3kyLYTrBq5578ZRJtteU94wG0Q4Uk6E/wQYeJRIC0/UFW5Wkya1Ihz9oXAdLlyC9TRaqsQ=="},
	} {
		c, err := New(v.token, v.key, v.owner)
		if err != nil {
			t.Fatal(err)
		}
		reply := `{"msg_signature":"` + v.sig + `","timeStamp":"` + v.ts + `","nonce":"` + v.nonce + `","encrypt":"` + v.enc + `"}`
		if err := c.CheckReply([]byte(reply)); err != nil {
			t.Errorf("%s: %v", v.owner, err)
		}
	}
	// V4: an event, check_url and a reply, byte for byte with the fixed random prefixes
	v4, _ := New("emuToken123", "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij", "dingappkey0001")
	var r1, r2 [16]byte
	copy(r1[:], "0123456789abcdef")
	copy(r2[:], "fedcba9876543210")
	for _, v := range []struct {
		random                   [16]byte
		msg, ts, nonce, enc, sig string
	}{
		{r1, `{"EventType":"user_add_org","TimeStamp":"1700000000000","CorpId":"dingcorp0001","UserId":["u001"],"OptStaffId":"manager1"}`, "1700000000123", "nonce12345",
			"HcA0QDKRG/U9FnFvX30Rg0AuARvrbdFueIHsQMx0vYZ1sNd1MLbkPpVdcZeo11tatYybQA80h+RBvrlp9YFKB5iQ+FHloMLLUMsCUiQKtLafjfd+iX7w4M+oMLqFgwZ7yJvftIDFtsQnVAKAvQ3NUKdd+byzD6hAGzKk+NRyWjkv46vVD6i4Z7hDDQNDavv5ne39EHNyubCFHRTVB4PqKg==",
			"de673e7c39e6ae561064385369ada2a0460a3bf6"},
		{r1, `{"EventType":"check_url"}`, "1700000000123", "nonce12345",
			"HcA0QDKRG/U9FnFvX30Rg3cmHeq0C2cGbcAKqeLm0GR3PgT+O4U/IdQpmL45HaxvApjh/eaQr5zbaEAfHy7MMw==", "25b3c74201531361fc3e661572e5552727da43b0"},
		{r2, "success", "1700000000999", "replyNonce1",
			"B+N5/9IoV0UVcnIy5lrOKFgq2gUBC5UoehQuiiaElvwRsEZIWv+E1j0di1I0DU/dIcqWF93jAxEjGOj/sWRyqw==", "b24a7452f4ddf5ff6fc2c0143883714d22e16e48"},
	} {
		if enc := v4.EncryptWith(v.random, []byte(v.msg)); enc != v.enc {
			t.Errorf("V4 %.30s: encrypt\n%s\nwant\n%s", v.msg, enc, v.enc)
		}
		if sig := v4.Sign(v.ts, v.nonce, v.enc); sig != v.sig {
			t.Errorf("V4 %.30s: signature %s, want %s", v.msg, sig, v.sig)
		}
	}
	e, err := ParseEvent([]byte(`{"EventType":"user_add_org","TimeStamp":"1700000000000","CorpId":"dingcorp0001","UserId":["u001"],"OptStaffId":"manager1"}`))
	if err != nil || e.EventType != UserAdd || len(e.UserIDs) != 1 || e.UserIDs[0] != "u001" || e.TimeStamp != "1700000000000" || e.OptStaff != "manager1" {
		t.Fatalf("V4's event: %+v %v", e, err)
	}
}

// independentSeal is a second implementation of the push, from the reference's text alone
// (§10.3), sharing no code with msgcrypt: what it seals, Open reads, and the reverse.
func independentSeal(token, aesKey, owner, msg, ts, nonce string, random []byte) (sig, enc string) {
	key, _ := base64.StdEncoding.DecodeString(aesKey + "=")
	buf := append([]byte{}, random...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(msg)))
	buf = append(buf, msg...)
	buf = append(buf, owner...)
	pad := 32 - len(buf)%32
	for range pad {
		buf = append(buf, byte(pad))
	}
	block, _ := aes.NewCipher(key)
	out := make([]byte, len(buf))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, buf)
	enc = base64.StdEncoding.EncodeToString(out)
	parts := []string{token, ts, nonce, enc}
	sort.Strings(parts)
	h := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(h[:]), enc
}

func independentOpen(aesKey, enc string) (msg, owner string) {
	key, _ := base64.StdEncoding.DecodeString(aesKey + "=")
	raw, _ := base64.StdEncoding.DecodeString(enc)
	block, _ := aes.NewCipher(key)
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, raw)
	plain = plain[:len(plain)-int(plain[len(plain)-1])]
	n := binary.BigEndian.Uint32(plain[16:20])
	return string(plain[20 : 20+n]), string(plain[20+n:])
}

func TestRoundTripsWithAnIndependentImplementation(t *testing.T) {
	const token, key, owner = "tok3n", "o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus", "dingappkey42"
	c, err := New(token, key, owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{`{"EventType":"check_url"}`, `{"EventType":"org_dept_remove","DeptId":[97393190,97393189],"TimeStamp":1547555546471}`, strings.Repeat("部门", 300)} {
		sig, enc := independentSeal(token, key, owner, msg, "1700000000123", "n0nce", []byte("ABCDEFGHIJKLMNOP"))
		got, err := c.Open(url.Values{"msg_signature": {sig}, "timeStamp": {"1700000000123"}, "nonce": {"n0nce"}}, []byte(`{"encrypt":"`+enc+`"}`))
		if err != nil || string(got) != msg {
			t.Fatalf("independent → Open: %q %v", got, err)
		}
		q, body, err := c.Seal([]byte(msg), "1700000000456", "other")
		if err != nil {
			t.Fatal(err)
		}
		var env Envelope
		if err := jsonUnmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		if back, who := independentOpen(key, env.Encrypt); back != msg || who != owner {
			t.Fatalf("Seal → independent: %q for %q", back, who)
		}
		if q.Get("msg_signature") != q.Get("signature") || q.Get("msg_signature") == "" {
			t.Fatalf("the push's query: %v", q)
		}
	}
	// a reply the independent side makes, checked; one for another app, refused
	sig, enc := independentSeal(token, key, owner, Success, "1", "2", []byte("ABCDEFGHIJKLMNOP"))
	if err := c.CheckReply([]byte(`{"msg_signature":"` + sig + `","timeStamp":"1","nonce":"2","encrypt":"` + enc + `"}`)); err != nil {
		t.Fatal(err)
	}
	sig, enc = independentSeal(token, key, "dingotherapp", Success, "1", "2", []byte("ABCDEFGHIJKLMNOP"))
	if err := c.CheckReply([]byte(`{"msg_signature":"` + sig + `","timeStamp":"1","nonce":"2","encrypt":"` + enc + `"}`)); !errors.Is(err, ErrWrongReceiver) {
		t.Fatalf("a reply for another app: %v", err)
	}
	// our own reply, read by the independent side
	reply, err := c.Reply()
	if err != nil {
		t.Fatal(err)
	}
	var env Envelope
	jsonUnmarshal(reply, &env)
	if msg, who := independentOpen(key, env.Encrypt); msg != Success || who != owner || c.CheckReply(reply) != nil {
		t.Fatalf("our reply: %q for %q", msg, who)
	}
}

// A push refused: a wrong signature, a missing field, a config that cannot be.
func TestBadPushesAreRefused(t *testing.T) {
	c, _ := New("tok3n", "o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus", "dingappkey42")
	q, body, _ := c.Seal([]byte(`{"EventType":"check_url"}`), "1", "2")
	q.Set("msg_signature", strings.Repeat("0", 40))
	q.Del("signature")
	if _, err := c.Open(q, body); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a wrong signature: %v", err)
	}
	if _, err := c.Open(url.Values{"timestamp": {"1"}, "nonce": {"2"}}, body); !errors.Is(err, ErrBadPush) {
		t.Fatalf("no signature: %v", err)
	}
	if _, err := New("ab", "o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus", "x"); !errors.Is(err, ErrBadToken) {
		t.Fatalf("a 2-character token: %v", err)
	}
	if _, err := New("abc", "short", "x"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("a short key: %v", err)
	}
	// the documented shape, camelCase with a numeric timeStamp
	e, err := ParseEvent([]byte(`{"EventType":"user_modify_org","EventTime":1663143335567,"CorpId":"ding1","eventId":"c7c7","timeStamp":1685501863357,"userId":["015x"]}`))
	if err != nil || e.EventID != "c7c7" || e.TimeStamp != "1685501863357" || len(e.UserIDs) != 1 {
		t.Fatalf("the documented shape: %+v %v", e, err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
