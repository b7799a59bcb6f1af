package api

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
)

// # WeCom callbacks
//
// GET and POST /wecom/{fullName}/callback are a corp's callback URL (接收事件服务器): WeCom
// verifies it with a GET (the decrypted echostr is answered bare) and posts its
// contact-change events to it. They need no token — the signature over each message, which
// the corp checks, is their guard — and they reach the corp's verifyCallback and
// receiveCallback methods, which only the app's own side may call. A POST is answered 200
// only once its event is stored; a refused one is 4xx with nothing stored.

func (s *Server) wecomCallback(ctx context.Context, r *Request) Response {
	name := strings.TrimSuffix(strings.TrimPrefix(r.Path, "/wecom/"), "/callback")
	q, err := url.ParseQuery(r.Query)
	if err != nil {
		return Response{Status: 400, ContentType: jsonType, Body: errorBody(elements.CodeInvalidArgument, "the query cannot be read")}
	}
	args := map[string]any{"msgSignature": q.Get("msg_signature"), "timestamp": q.Get("timestamp"), "nonce": q.Get("nonce")}
	call := func(method string) (any, error) {
		// WeCom waits 1 s for a verification and 5 s for an event before it gives up
		limit := 5 * time.Second
		if r.Method == "GET" {
			limit = time.Second
		}
		ctx, cancel := context.WithTimeout(ctx, min(limit, s.timeout()))
		defer cancel()
		// not Outside: these methods are the app's own side of WeCom's callbacks
		return s.app.Invoke(ctx, elements.Call{Element: name, Method: method, Args: []any{args}, Mode: elements.ArgsNamed})
	}
	switch r.Method {
	case "GET":
		args["echostr"] = q.Get("echostr")
		res, err := call("verifyCallback")
		if err != nil {
			return s.fail(err)
		}
		plain, _ := res.(string)
		return Response{Status: 200, ContentType: "text/plain; charset=utf-8", Body: []byte(plain)}
	case "POST":
		args["body"] = string(r.Body)
		if _, err := call("receiveCallback"); err != nil {
			return s.fail(err)
		}
		return Response{Status: 200, ContentType: "text/plain; charset=utf-8"}
	}
	return methodNotAllowed("GET or POST")
}
