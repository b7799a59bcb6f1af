package api

import (
	"io"
	"net/http"
	"unsafe"

	"github.com/prometheus/common/expfmt"
)

// expfmtText is the content type of Prometheus's text format.
var expfmtText = expfmt.NewFormat(expfmt.TypeTextPlain)

// b2s views fasthttp's request bytes as a string without copying; Handle keeps none of
// them beyond the request.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// NetHTTPHandler serves the same API through net/http. jitrt serves with fasthttp; this
// exists so the two can be measured against each other with the same handler.
func (s *Server) NetHTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.opts.BodyLimit)))
		if err != nil {
			w.Header().Set("Content-Type", jsonType)
			w.WriteHeader(413)
			w.Write(errorBody("body_too_large", "the request body is over the limit"))
			return
		}
		req := &Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Host: r.Host, Auth: r.Header.Get("Authorization"), Cookie: r.Header.Get("Cookie"), UserAgent: r.UserAgent(),
			ContentType: r.Header.Get("Content-Type"), Origin: r.Header.Get("Origin"), FetchSite: r.Header.Get("Sec-Fetch-Site"),
			Marked: r.Header.Get(RequestHeader) != "", TLS: r.TLS != nil, Body: body,
			Lark: [3]string{r.Header.Get("X-Lark-Request-Timestamp"), r.Header.Get("X-Lark-Request-Nonce"), r.Header.Get("X-Lark-Signature")}}
		resp := s.Handle(r.Context(), req)
		w.Header().Set("Content-Type", resp.ContentType)
		if resp.RetryAfter != "" {
			w.Header().Set("Retry-After", resp.RetryAfter)
		}
		if resp.Location != "" {
			w.Header().Set("Location", resp.Location)
		}
		for _, c := range resp.SetCookies {
			w.Header().Add("Set-Cookie", c)
		}
		for _, h := range resp.Headers {
			w.Header().Set(h[0], h[1])
		}
		w.WriteHeader(resp.Status)
		w.Write(resp.Body)
	})
}
