package api

import (
	"context"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
)

// # Platforms' event pushes
//
// /wecom/{fullName}/callback (wecom.go), /dingtalk/… and /feishu/{fullName}/callback are a corp's
// event URLs. They need no token — the signature over each push, which the corp checks, is
// their guard — and reach the corp's receiveCallback method, which only the app's own side
// may call. A push is answered 200 (with the reply the platform needs) only once its events
// are stored; a refused one is 4xx with nothing stored.

// platformCallback is the platform whose event URL path is ("" for another path).
func platformCallback(path string) string {
	if !strings.HasSuffix(path, "/callback") {
		return ""
	}
	for _, p := range []string{"wecom", "dingtalk", "feishu"} {
		if strings.HasPrefix(path, "/"+p+"/") {
			return p
		}
	}
	return ""
}

// feishuCallback takes Feishu's event push: the X-Lark headers and the raw body go to the
// corp, whose answer (the url_verification's challenge, or {"msg": "success"}) is the reply.
// Feishu waits 1 s for the url_verification and 3 s for an event before it retries.
func (s *Server) feishuCallback(ctx context.Context, r *Request) Response {
	return s.pushCallback(ctx, r, "feishu", 3*time.Second,
		map[string]any{"timestamp": r.Lark[0], "nonce": r.Lark[1], "signature": r.Lark[2], "body": string(r.Body)})
}

// dingtalkCallback takes DingTalk's HTTP event push: the query and the JSON body go to the
// corp, whose encrypted "success" is the answer. DingTalk waits 1.5 s for check_url and a
// few seconds for an event before it retries.
func (s *Server) dingtalkCallback(ctx context.Context, r *Request) Response {
	return s.pushCallback(ctx, r, "dingtalk", 5*time.Second, map[string]any{"query": r.Query, "body": string(r.Body)})
}

// pushCallback hands a platform's POSTed push to the corp's receiveCallback, within limit,
// and answers its reply.
func (s *Server) pushCallback(ctx context.Context, r *Request, platform string, limit time.Duration, args map[string]any) Response {
	if r.Method != "POST" {
		return methodNotAllowed("POST")
	}
	name := strings.TrimSuffix(strings.TrimPrefix(r.Path, "/"+platform+"/"), "/callback")
	ctx, cancel := context.WithTimeout(ctx, min(limit, s.timeout()))
	defer cancel()
	res, err := s.app.Invoke(ctx, elements.Call{Element: name, Method: "receiveCallback", Mode: elements.ArgsNamed, Args: []any{args}})
	if err != nil {
		return s.fail(err)
	}
	m, _ := res.(map[string]any)
	reply, _ := m["reply"].(string)
	return Response{Status: 200, ContentType: jsonType, Body: []byte(reply)}
}
