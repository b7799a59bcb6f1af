package corps

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org/inbox"
	"github.com/jitrt/jitrt/wecom/callback"
)

// # Receiving WeCom's change events
//
// A corp with callbackToken and encodingAESKey takes WeCom's contact-change callbacks
// (jitrt run serves them at /wecom/{fullName}/callback). A POST is verified (signature in
// constant time, timestamp within 5 minutes, no replay of a seen timestamp, nonce and
// signature), decrypted (the receive id must be the corpId), and its event stored in the
// org's event queue before the answer (org/inbox) — so an event WeCom was told was
// received is never lost; a second delivery of the same plaintext is not stored again. The
// org's engine then applies the queue in order (org/events.go; eventsource.go decodes
// WeCom's events).

// CallbackWindow is how far a callback's timestamp may be from now.
const CallbackWindow = inbox.Window

func (c *Corp) callbackInbox() (*inbox.Inbox, error) {
	if c.inbox == nil {
		return nil, elements.Errorf(elements.CodeFailedPrecondition,
			"corp %s takes no WeCom callbacks: set callbackToken and encodingAESKey in %s", c.el.FullName, c.el.ConfigPath)
	}
	return c.inbox, nil
}

// VerifyCallback answers WeCom's URL verification (GET): the signature over echostr is
// checked, echostr decrypted, and its plaintext returned, to be answered bare.
func (c *Corp) VerifyCallback(signature, timestamp, nonce, echostr string) (string, error) {
	if _, err := c.callbackInbox(); err != nil {
		return "", err
	}
	if err := c.crypto.Verify(signature, timestamp, nonce, echostr); err != nil {
		return "", inbox.Refused(elements.CodeUnauthenticated, "signature", "the callback's signature does not match (check callbackToken)")
	}
	if err := inbox.CheckTimestamp(timestamp, time.Now()); err != nil {
		return "", err
	}
	msg, err := c.crypto.Decrypt(echostr)
	if err != nil {
		return "", decryptError(err)
	}
	return string(msg), nil
}

func decryptError(err error) error {
	if errors.Is(err, callback.ErrWrongReceiver) {
		return inbox.Refused(elements.CodePermissionDenied, "corp", "the callback is for another corp (%v)", err)
	}
	return inbox.Refused(elements.CodeInvalidArgument, "decrypt", "the callback cannot be decrypted (check encodingAESKey): %v", err)
}

// ReceiveCallback takes a callback POST: verified, decrypted, and its event stored before
// it returns (stored reports false for a duplicate, a replay, or a callback that is not a
// contact change, none of which is stored).
func (c *Corp) ReceiveCallback(ctx context.Context, signature, timestamp, nonce string, body []byte) (stored bool, err error) {
	start := time.Now()
	defer func() {
		result := "stored"
		switch {
		case err != nil:
			result = "refused_" + inbox.Refusal(err)
			c.el.Logger.Warn("WeCom callback refused", "reason", inbox.Refusal(err), "err", err)
		case !stored:
			result = "skipped"
		}
		c.el.Observer.Observe("callback_"+result, c.el.FullName, time.Since(start), nil)
	}()
	in, err := c.callbackInbox()
	if err != nil {
		return false, err
	}
	var env callback.Envelope
	if err := xml.Unmarshal(body, &env); err != nil || env.Encrypt.V == "" {
		return false, inbox.Refused(elements.CodeInvalidArgument, "body", "the callback's body is not WeCom's <xml><Encrypt>…</Encrypt></xml>")
	}
	enc := strings.TrimSpace(env.Encrypt.V)
	if err := c.crypto.Verify(signature, timestamp, nonce, enc); err != nil {
		return false, inbox.Refused(elements.CodeUnauthenticated, "signature", "the callback's signature does not match (check callbackToken)")
	}
	if err := inbox.CheckTimestamp(timestamp, time.Now()); err != nil {
		return false, err
	}
	stored, err = in.Receive(ctx, timestamp+"|"+nonce+"|"+strings.ToLower(signature), func() (inbox.Opened, error) {
		msg, err := c.crypto.Decrypt(enc)
		if err != nil {
			return inbox.Opened{}, decryptError(err)
		}
		ev, err := callback.ParseEvent(msg)
		if errors.Is(err, callback.ErrNotContactEvent) {
			return inbox.Opened{Skip: true, Name: "not a contact change"}, nil
		}
		if err != nil {
			return inbox.Opened{}, inbox.Refused(elements.CodeInvalidArgument, "event", "%v", err)
		}
		return inbox.Opened{Msg: msg, Name: ev.Kind()}, nil
	})
	if err != nil && inbox.Refusal(err) == "" && elements.CodeOf(err) != elements.CodeUnavailable {
		err = fmt.Errorf("corp %s: %w", c.el.FullName, err)
	}
	return stored, err
}

// callbackMethods are the corp's callback methods: not Callable (jitrt run's callback route
// reaches them from inside; the signature check is their guard).
func (c *Corp) callbackMethods() []elements.Method {
	return []elements.Method{
		{Name: "verifyCallback", Doc: "WeCom's callback URL verification: the decrypted echostr",
			Params: []elements.Param{str("msgSignature"), str("timestamp"), str("nonce"), str("echostr")},
			Call: func(_ context.Context, a elements.Args) (any, error) {
				return c.VerifyCallback(a.String("msgSignature"), a.String("timestamp"), a.String("nonce"), a.String("echostr"))
			}},
		{Name: "getSetAsideEvents", Callable: true, Doc: "the WeCom events that failed again and again and were set aside, newest first: [{seq, kind, id, error, attempts, at}]",
			Call: func(context.Context, elements.Args) (any, error) { return c.engine.SetAsideEvents() }},
		{Name: "applyEvents", Callable: true, Doc: "apply the WeCom change events received and not yet applied, now: {applied}",
			Call: func(ctx context.Context, _ elements.Args) (any, error) {
				if _, err := c.callbackInbox(); err != nil {
					return nil, err
				}
				n, err := c.engine.ApplyQueued(ctx)
				return map[string]any{"applied": float64(n)}, err
			}},
		{Name: "receiveCallback", Doc: "a WeCom callback POST: verified, decrypted and its event stored; {stored}",
			Params: []elements.Param{str("msgSignature"), str("timestamp"), str("nonce"), str("body")},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				stored, err := c.ReceiveCallback(ctx, a.String("msgSignature"), a.String("timestamp"), a.String("nonce"), []byte(a.String("body")))
				if err != nil {
					return nil, err
				}
				return map[string]any{"stored": stored}, nil
			}},
	}
}
