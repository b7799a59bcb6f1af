package ddinner

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jitrt/jitrt/dingtalk"
	"github.com/jitrt/jitrt/dingtalk/callback"
	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/org/inbox"
)

// # DingTalk's event push
//
// A corp with callbackToken and aesKey takes DingTalk's HTTP event push (jitrt run serves
// it at /dingtalk/{fullName}/callback). A push is verified (signature in constant time,
// timestamp within 5 minutes, no replay of a seen timestamp, nonce and signature),
// decrypted (the owner key must be the AppKey), split into one event per member or
// department it names, and stored in the org's event queue before the encrypted "success"
// is answered (org/inbox). The engine applies the queue in order, fetching each member and
// department named (DingTalk's events carry ids only).

// followed are the events the org applies; the others (check_url, admins, roles, the org's
// own) are answered and not stored.
var followed = map[string]bool{
	callback.UserAdd: true, callback.UserModify: true, callback.UserActive: true, callback.UserLeave: true,
	callback.DeptCreate: true, callback.DeptModify: true, callback.DeptRemove: true,
}

func (c *Corp) callbackInbox() (*inbox.Inbox, error) {
	return c.CallbackInbox("callbackToken and aesKey")
}

// ReceiveCallback takes a push (its query and JSON body): verified, decrypted, its events
// stored, and the reply DingTalk needs returned (stored reports false for check_url, a
// duplicate, a replay or an event the org does not follow).
func (c *Corp) ReceiveCallback(ctx context.Context, query url.Values, body []byte) (reply []byte, stored bool, err error) {
	start := time.Now()
	defer func() {
		result := "stored"
		switch {
		case err != nil:
			result = "refused_" + inbox.Refusal(err)
			c.El.Logger.Warn("DingTalk event push refused", "reason", inbox.Refusal(err), "err", err)
		case !stored:
			result = "skipped"
		}
		c.El.Observer.Observe("callback_"+result, c.El.FullName, time.Since(start), nil)
	}()
	in, err := c.callbackInbox()
	if err != nil {
		return nil, false, err
	}
	push, err := callback.ReadPush(query, body)
	if err != nil {
		return nil, false, inbox.Refused(elements.CodeInvalidArgument, "body", "not a DingTalk push: it needs msg_signature, timestamp, nonce and a JSON body {\"encrypt\": …}")
	}
	sig, ts, nonce := push.Signature, push.Timestamp, push.Nonce
	if err := c.crypto.Verify(sig, ts, nonce, push.Encrypt); err != nil {
		return nil, false, inbox.Refused(elements.CodeUnauthenticated, "signature", "the push's signature does not match (check callbackToken)")
	}
	if err := inbox.CheckTimestamp(ts, time.Now()); err != nil {
		return nil, false, err
	}
	stored, err = in.Receive(ctx, ts+"|"+nonce+"|"+strings.ToLower(sig), func() (inbox.Opened, error) {
		msg, err := c.crypto.Decrypt(push.Encrypt)
		if errors.Is(err, callback.ErrWrongReceiver) {
			return inbox.Opened{}, inbox.Refused(elements.CodePermissionDenied, "corp", "the push is for another app (%v)", err)
		}
		if err != nil {
			return inbox.Opened{}, inbox.Refused(elements.CodeInvalidArgument, "decrypt", "the push cannot be decrypted (check aesKey): %v", err)
		}
		ev, err := callback.ParseEvent(msg)
		if err != nil {
			return inbox.Opened{}, inbox.Refused(elements.CodeInvalidArgument, "event", "%v", err)
		}
		if !followed[ev.EventType] {
			return inbox.Opened{Skip: true, Name: ev.EventType}, nil
		}
		return inbox.Opened{Msgs: split(ev), Name: ev.EventType}, nil
	})
	if err != nil {
		return nil, false, err
	}
	reply, err = c.crypto.Reply()
	return reply, stored, err
}

// split makes an event naming several members or departments into one event each, in
// order (the queue applies one member or department per event).
func split(ev *callback.Event) [][]byte {
	var out [][]byte
	for _, u := range ev.UserIDs {
		one := *ev
		one.UserIDs, one.DeptIDs = []string{u}, nil
		out = append(out, one.Marshal())
	}
	for _, d := range ev.DeptIDs {
		one := *ev
		one.UserIDs, one.DeptIDs = nil, []int64{d}
		out = append(out, one.Marshal())
	}
	return out
}

// DecodeEvent reads a queued DingTalk event as an org event (org.EventSource).
func (c *Corp) DecodeEvent(raw string) (*org.Event, error) {
	ev, err := callback.ParseEvent([]byte(raw))
	if err != nil {
		return nil, err
	}
	oe := &org.Event{Name: ev.EventType, Refetch: true}
	switch ev.EventType {
	case callback.UserAdd, callback.UserModify, callback.UserActive:
		if len(ev.UserIDs) != 1 {
			return nil, fmt.Errorf("a DingTalk %s naming %d members", ev.EventType, len(ev.UserIDs))
		}
		oe.Kind, oe.Create, oe.MemberID = org.MemberChanged, ev.EventType == callback.UserAdd, ev.UserIDs[0]
	case callback.UserLeave:
		if len(ev.UserIDs) != 1 {
			return nil, fmt.Errorf("a DingTalk %s naming %d members", ev.EventType, len(ev.UserIDs))
		}
		oe.Kind, oe.MemberID, oe.Refetch = org.MemberLeft, ev.UserIDs[0], false
	case callback.DeptCreate, callback.DeptModify, callback.DeptRemove:
		if len(ev.DeptIDs) != 1 {
			return nil, fmt.Errorf("a DingTalk %s naming %d departments", ev.EventType, len(ev.DeptIDs))
		}
		oe.Kind, oe.Create, oe.DeptID = org.DeptChanged, ev.EventType == callback.DeptCreate, ev.DeptIDs[0]
		if ev.EventType == callback.DeptRemove {
			oe.Kind, oe.Refetch = org.DeptRemoved, false
		}
	default:
		return nil, fmt.Errorf("a DingTalk event of type %q", ev.EventType)
	}
	return oe, nil
}

// notInDingTalk is err as org.ErrNotInPlatform when DingTalk has no such object or does
// not let the app see it.
func (c *Corp) notInDingTalk(op string, err error) error {
	switch dingtalk.CodeOf(err) {
	case dingtalk.CodeUserNotFound, dingtalk.CodeInvalidUserID, dingtalk.CodeDeptNotFound,
		dingtalk.CodeUserOutOfScope, dingtalk.CodeDeptOutOfScope:
		return fmt.Errorf("%s: %w (%v)", op, org.ErrNotInPlatform, err)
	}
	return c.platformErr(op, err)
}

// FetchMember fetches one member from DingTalk (v2/user/get) with all their departments.
func (c *Corp) FetchMember(ctx context.Context, id string) (*org.Member, error) {
	client, err := c.dingtalkClient()
	if err != nil {
		return nil, err
	}
	u, err := client.GetUser(ctx, id)
	if err != nil {
		return nil, c.notInDingTalk("fetch a member named by an event", err)
	}
	m, _ := memberOf(u, nil, 0, nil)
	return m, nil
}

// FetchDept fetches one department from DingTalk (v2/department/get).
func (c *Corp) FetchDept(ctx context.Context, id int64) (*org.Dept, error) {
	client, err := c.dingtalkClient()
	if err != nil {
		return nil, err
	}
	d, err := client.GetDepartment(ctx, id)
	if err != nil {
		return nil, c.notInDingTalk("fetch a department named by an event", err)
	}
	d.DeptID = id
	od := orgDept(d)
	return &od, nil
}

// FetchTag: DingTalk's org has no tags the org keeps.
func (c *Corp) FetchTag(context.Context, int64) (*org.Tag, error) {
	return nil, fmt.Errorf("DingTalk has no tags: %w", org.ErrNotInPlatform)
}

// callbackMethods are the corp's event methods: receiveCallback is not Callable (jitrt
// run's callback route reaches it from inside; the signature check is its guard).
func (c *Corp) callbackMethods() []elements.Method {
	return append(c.EventMethods("callbackToken and aesKey"), []elements.Method{
		{Name: "receiveCallback", Doc: "a DingTalk event push: verified, decrypted and its events stored; {stored, reply}",
			Params: []elements.Param{{Name: "query", Kind: elements.KindString, Required: true}, {Name: "body", Kind: elements.KindString, Required: true}},
			Call: func(ctx context.Context, a elements.Args) (any, error) {
				q, err := url.ParseQuery(a.String("query"))
				if err != nil {
					return nil, inbox.Refused(elements.CodeInvalidArgument, "query", "the push's query cannot be read")
				}
				reply, stored, err := c.ReceiveCallback(ctx, q, []byte(a.String("body")))
				if err != nil {
					return nil, err
				}
				return map[string]any{"stored": stored, "reply": string(reply)}, nil
			}},
	}...)
}
