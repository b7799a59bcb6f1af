package fsinner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/feishu"
	"github.com/jitrt/jitrt/feishu/callback"
	"github.com/jitrt/jitrt/org"
	"github.com/jitrt/jitrt/org/inbox"
)

// # Feishu's event push
//
// A corp with verificationToken (and, best, encryptKey) takes Feishu's v2.0 events (jitrt
// run serves them at /feishu/{fullName}/callback). A push is verified (X-Lark-Signature in
// constant time, its timestamp within 5 minutes, no replay of a seen timestamp, nonce and
// signature; the Verification Token of every event), decrypted, and stored in the org's
// event queue before it is answered (org/inbox): an event_id seen is a redelivery, stored
// once, whatever else its push says.
// The url_verification is answered with its challenge and stores nothing.

const subscriptionKeys = "verificationToken (and encryptKey)"

// followed are the events the org applies.
var followed = map[string]bool{
	callback.UserCreated: true, callback.UserUpdated: true, callback.UserDeleted: true,
	callback.DeptCreated: true, callback.DeptUpdated: true, callback.DeptDeleted: true,
}

// ReceiveCallback takes a push (its X-Lark headers and raw body): the reply Feishu needs,
// and whether its event was stored.
func (c *Corp) ReceiveCallback(ctx context.Context, timestamp, nonce, signature string, body []byte) (reply []byte, stored bool, err error) {
	start := time.Now()
	defer func() {
		result := "stored"
		switch {
		case err != nil:
			result = "refused_" + inbox.Refusal(err)
			c.El.Logger.Warn("Feishu event push refused", "reason", inbox.Refusal(err), "err", err)
		case !stored:
			result = "skipped"
		}
		c.El.Observer.Observe("callback_"+result, c.El.FullName, time.Since(start), nil)
	}()
	in, err := c.CallbackInbox(subscriptionKeys)
	if err != nil {
		return nil, false, err
	}
	if c.crypto.Encrypted() {
		if timestamp == "" || nonce == "" || signature == "" {
			return nil, false, inbox.Refused(elements.CodeUnauthenticated, "signature", "the push has no X-Lark-Signature (the app has an encryptKey)")
		}
		if err := c.crypto.Verify(timestamp, nonce, signature, body); err != nil {
			return nil, false, inbox.Refused(elements.CodeUnauthenticated, "signature", "the push's signature does not match (check encryptKey)")
		}
		if err := inbox.CheckTimestamp(timestamp, time.Now()); err != nil {
			return nil, false, err
		}
	}
	plain, err := c.crypto.Open(body)
	if err != nil {
		return nil, false, inbox.Refused(elements.CodeInvalidArgument, "decrypt", "the push cannot be read (check encryptKey): %v", err)
	}
	ev, err := c.crypto.ParseEvent(plain)
	if errors.Is(err, callback.ErrBadToken) {
		return nil, false, inbox.Refused(elements.CodeUnauthenticated, "token", "the push's token is not the verificationToken")
	}
	if err != nil {
		return nil, false, inbox.Refused(elements.CodeInvalidArgument, "event", "%v", err)
	}
	if ev.Type == callback.URLVerification {
		reply, _ = json.Marshal(map[string]string{"challenge": ev.Challenge})
		return reply, false, nil
	}
	key := ev.Header.EventID
	if c.crypto.Encrypted() {
		key = timestamp + "|" + nonce + "|" + strings.ToLower(signature)
	}
	stored, err = in.Receive(ctx, key, func() (inbox.Opened, error) {
		if ev.Header.EventType == callback.ScopeUpdated {
			c.El.Logger.Warn("Feishu says the app's contacts scope changed: run syncCorp to take the departments and members it adds or removes")
		}
		if !followed[ev.Header.EventType] {
			return inbox.Opened{Skip: true, Name: ev.Header.EventType}, nil
		}
		// Feishu resends an event (retries, internal resends) under the same event_id
		return inbox.Opened{Msg: plain, Key: "feishu:" + ev.Header.EventID, Name: ev.Header.EventType}, nil
	})
	if err != nil {
		return nil, false, err
	}
	return []byte(`{"msg":"success"}`), stored, nil
}

// DecodeEvent reads a queued Feishu event as an org event (org.EventSource).
func (c *Corp) DecodeEvent(raw string) (*org.Event, error) {
	var ev callback.Event
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		return nil, err
	}
	typ := ev.Header.EventType
	obj := ev.Event.Object
	oe := &org.Event{Name: typ, Refetch: true}
	switch typ {
	case callback.UserCreated, callback.UserUpdated, callback.UserDeleted:
		if obj.UserID == "" {
			return nil, fmt.Errorf("a Feishu %s without the member's user_id (grant the app contact:user.employee_id:readonly)", typ)
		}
		oe.Kind, oe.Create, oe.MemberID = org.MemberChanged, typ == callback.UserCreated, obj.UserID
		if typ == callback.UserDeleted {
			oe.Kind, oe.Refetch = org.MemberLeft, false
		}
	case callback.DeptCreated, callback.DeptUpdated, callback.DeptDeleted:
		if obj.OpenDepartmentID == "" {
			return nil, fmt.Errorf("a Feishu %s without its open_department_id", typ)
		}
		oe.Kind, oe.Create, oe.DeptID = org.DeptChanged, typ == callback.DeptCreated, c.remember(obj.OpenDepartmentID)
		if typ == callback.DeptDeleted {
			oe.Kind, oe.Refetch = org.DeptRemoved, false
		}
	default:
		return nil, fmt.Errorf("a Feishu event of type %q", typ)
	}
	return oe, nil
}

func (c *Corp) notInFeishu(op string, err error) error {
	switch feishu.CodeOf(err) {
	case feishu.CodeUserNotExist, feishu.CodeNoUserAuthority, feishu.CodeNoDeptAuthority, feishu.CodeDeptNotExist:
		return fmt.Errorf("%s: %w (%v)", op, org.ErrNotInPlatform, err)
	}
	return c.platformErr(op, err)
}

// FetchMember fetches one member from Feishu (users/:user_id); a resigned one is gone.
func (c *Corp) FetchMember(ctx context.Context, id string) (*org.Member, error) {
	client, err := c.feishuClient()
	if err != nil {
		return nil, err
	}
	u, err := client.GetUser(ctx, id)
	if err != nil {
		return nil, c.notInFeishu("fetch a member named by an event", err)
	}
	if u.Status != nil && (u.Status.IsResigned || u.Status.IsExited) {
		return nil, fmt.Errorf("member %s has left Feishu: %w", id, org.ErrNotInPlatform)
	}
	m, _ := c.memberOf(u, nil, 1, nil)
	return m, nil
}

// FetchDept fetches one department from Feishu (departments/:id), by the Feishu id the org
// met it with.
func (c *Corp) FetchDept(ctx context.Context, id int64) (*org.Dept, error) {
	client, err := c.feishuClient()
	if err != nil {
		return nil, err
	}
	open, ok := c.depts.Load(id)
	if !ok {
		return nil, fmt.Errorf("department %d was not met in a Feishu fetch or event of this process: %w", id, org.ErrNotInPlatform)
	}
	d, err := client.GetDepartment(ctx, open.(string))
	if err != nil {
		return nil, c.notInFeishu("fetch a department named by an event", err)
	}
	if d.OpenDepartmentID == "" {
		d.OpenDepartmentID = open.(string)
	}
	od := c.orgDept(d)
	return &od, nil
}

// FetchTag: the org keeps no Feishu tags.
func (c *Corp) FetchTag(context.Context, int64) (*org.Tag, error) {
	return nil, fmt.Errorf("the org keeps no Feishu tags: %w", org.ErrNotInPlatform)
}

func (c *Corp) callbackMethods() []elements.Method {
	return append(c.EventMethods(subscriptionKeys), elements.Method{Name: "receiveCallback",
		Doc: "a Feishu event push: verified, decrypted and its event stored; {stored, reply}",
		Params: []elements.Param{{Name: "timestamp", Kind: elements.KindString}, {Name: "nonce", Kind: elements.KindString},
			{Name: "signature", Kind: elements.KindString}, {Name: "body", Kind: elements.KindString, Required: true}},
		Call: func(ctx context.Context, a elements.Args) (any, error) {
			reply, stored, err := c.ReceiveCallback(ctx, a.String("timestamp"), a.String("nonce"), a.String("signature"), []byte(a.String("body")))
			if err != nil {
				return nil, err
			}
			return map[string]any{"stored": stored, "reply": string(reply)}, nil
		}})
}
