package api

import (
	"mime"
	"net"
	"net/url"
	"slices"
	"strings"
)

// # Requests from browsers are who they say
//
// A page of another site can make a browser send requests to this server: a form, an
// image, a fetch with mode "no-cors", all without reading the answer; and a DNS name the
// attacker controls can be pointed at 127.0.0.1 after the page loaded (DNS rebinding), so
// that the page is "same origin" with the server. Without a token (a loopback server) the
// browser's reach would be the server's. So:
//
//   - Host must be one the server serves: its listen address, the loopback names of a
//     loopback listener, --public-url's host, the hosts of --allow-host, and any IP literal
//     for a listener on every interface. A rebinding page sends its own name: refused.
//   - A request that changes state (any method but GET, HEAD and OPTIONS) must carry a
//     signal a cross-site page cannot send without CORS, which the server never grants: a
//     JSON Content-Type, an Authorization header, or the header X-Jitrt-Request. The
//     console's forms carry a CSRF token bound to the session instead, and WeCom's
//     callbacks a signature.
//   - An Origin (or Sec-Fetch-Site) that says the request comes from another site is
//     refused for a request that changes state.

// RequestHeader is the header a script of a page sends with a request that changes state
// when its body is not JSON (e.g. fetch("/auth/logout", {method: "POST", headers:
// {"X-Jitrt-Request": "1"}})).
const RequestHeader = "X-Jitrt-Request"

// hosts is what Host a server answers.
type hosts struct {
	exact   []string // host:port, lower case
	anyIP   bool     // a listener on every interface: any IP literal
	origins []string // the origins (scheme://host[:port]) of the public URL
}

// newHosts is what a server listening on addr answers, with the public URL and the extra
// hosts allowed.
func newHosts(addr, publicURL string, allow []string) hosts {
	var h hosts
	host, port, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	h.anyIP = host == "" || (ip != nil && ip.IsUnspecified())
	loopback := h.anyIP || isLoopback(host)
	if !loopback {
		h.exact = append(h.exact, strings.ToLower(net.JoinHostPort(host, port)))
	}
	if loopback {
		for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
			h.exact = append(h.exact, net.JoinHostPort(name, port))
		}
	}
	if u, err := url.Parse(publicURL); err == nil && u.Host != "" {
		h.exact = append(h.exact, withPort(strings.ToLower(u.Host), u.Scheme))
		h.origins = append(h.origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	for _, a := range allow {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(strings.Trim(a, "[]"), port) // a name alone: on the listener's port
		}
		h.exact = append(h.exact, a)
	}
	return h
}

// withPort is host with the default port of scheme when it has none.
func withPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// serves reports whether the server answers requests for Host host.
func (h hosts) serves(host string, tls bool) bool {
	if host == "" {
		return false // HTTP/1.1 requires it; a client that sends none is no browser of ours
	}
	full := withPort(strings.ToLower(host), schemeOf(tls))
	if slices.Contains(h.exact, full) {
		return true
	}
	if h.anyIP {
		name, _, err := net.SplitHostPort(full)
		return err == nil && net.ParseIP(name) != nil
	}
	return false
}

// sameOrigin reports whether origin is the server's own, reached at Host host.
func (h hosts) sameOrigin(origin, host string, tls bool) bool {
	origin = strings.ToLower(origin)
	if slices.Contains(h.origins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" (a sandboxed frame, a file) included
	}
	return withPort(u.Host, u.Scheme) == withPort(strings.ToLower(host), schemeOf(tls))
}

// schemeOf is the scheme of a request served over TLS or not.
func schemeOf(tls bool) string {
	if tls {
		return "https"
	}
	return "http"
}

// changesState reports whether a request of method may change state.
func changesState(method string) bool {
	return method != "GET" && method != "HEAD" && method != "OPTIONS"
}

// jsonBody reports whether a Content-Type is JSON (application/json, or +json).
func jsonBody(contentType string) bool {
	if contentType == "application/json" || strings.HasPrefix(contentType, "application/json;") {
		return true // the common case, without parsing
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// browserCheck refuses a request a page of another site, or a rebound DNS name, made: ""
// when it may go on, else why not (the answer is a 403 with that message).
func (s *Server) browserCheck(r *Request) string {
	if !s.hosts.serves(r.Host, r.TLS) {
		return "this server does not answer for Host " + quote(r.Host) + ": it answers for " + s.hostList() +
			" (jitrt run --public-url or --allow-host adds a name)"
	}
	if !changesState(r.Method) {
		return ""
	}
	if r.Origin != "" && !s.hosts.sameOrigin(r.Origin, r.Host, r.TLS) {
		return "a request from another site (Origin " + quote(r.Origin) + ") may not change anything here"
	}
	if r.FetchSite == "cross-site" || r.FetchSite == "same-site" {
		return "a request from another site (Sec-Fetch-Site: " + r.FetchSite + ") may not change anything here"
	}
	if isConsolePath(r.Path) || platformCallback(r.Path) != "" || isSignIn(r) {
		return "" // the console's forms carry a CSRF token; a platform's callbacks a signature; a sign-in form its state
	}
	if r.Auth != "" || r.Marked || jsonBody(r.ContentType) {
		return ""
	}
	return "a request that changes state needs Content-Type: application/json (or the header " + RequestHeader +
		", or Authorization): a page of another site cannot send one"
}

func (s *Server) hostList() string {
	list := slices.Clone(s.hosts.exact)
	if s.hosts.anyIP {
		list = append(list, "any IP address")
	}
	return strings.Join(list, ", ")
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
