// Package auths provides the login element auths.loginTypes.QywxInnerType (企业微信自建扫码登录):
// the members of a corp log in with WeCom — the QR login or the in-client OAuth — and hold
// sessions whose roles follow the org.
package auths

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/org"
)

// MetaID and TypeID are the registered IDs.
const (
	MetaID = "auths.loginTypes.Meta"
	TypeID = "auths.loginTypes.QywxInnerType"
)

// isOrg reports whether an instance is an org whose members may log in: any corp Type,
// or an app Type on one.
func isOrg(inst elements.Instance) bool {
	_, ok := inst.(org.Org)
	return ok
}

// Defaults and bounds.
const (
	DefaultSessionTTL = 8 * time.Hour
	DefaultLanding    = "/me"
	minSessionTTL     = time.Minute
	maxSessionTTL     = 30 * 24 * time.Hour
)

// configFile is a login element's config file (<Name>.json): the one description of its
// keys, from which the loader's checks, the masking of secrets and the JSON Schema are
// derived. parseConfig turns it into a Config.
type configFile struct {
	CorpID      string `json:"corpId" jitrt:"required" example:"ww1234567890abcdef" doc:"WeCom corp ID (企业ID) of the corp whose members log in"`
	CorpSecret  string `json:"corpSecret" jitrt:"required,secret" doc:"the self-built app's Secret; put it in the environment: \"${WECOM_SECRET}\""`
	AgentID     string `json:"agentId" jitrt:"required" example:"1000002" doc:"the self-built app's AgentId"`
	RedirectURI string `json:"redirectUri" doc:"where WeCom sends the login back: this element's /auth/<fullName>/callback as users reach it (default: on the address jitrt run serves)"`
	Corp        string `json:"corp" doc:"fullName of the org whose members log in: any corp Type (default: the app's one org with this corpId)"`
	APIBase     string `json:"apiBase" doc:"WeCom API base URL (default: the corp's, its emulator's for a simulated corp)"`
	Simulator   any    `json:"simulator" jitrt:"kinds=boolean|object" doc:"log in on the corp's built-in WeCom emulator (true, or the corp's simulator object)"`
	SessionTTL  any    `json:"sessionTtl" jitrt:"kinds=string|number" doc:"how long a session lasts: \"8h\" (default), \"30m\", or seconds"`
	Landing     string `json:"landing" doc:"the app path a browser lands on after logging in (default /me)"`
	OAuthScope  string `json:"oauthScope" jitrt:"enum=snsapi_base|snsapi_privateinfo" doc:"scope of the in-client login: snsapi_base (default) or snsapi_privateinfo"`
}

// Config is a login element's validated config.
type Config struct {
	CorpID, CorpSecret, AgentID string
	RedirectURI                 string // "" for the default
	Corp                        string // "" for the default
	APIBase                     string // "" for the corp's
	Simulator                   bool
	SessionTTL                  time.Duration
	Landing                     string
	OAuthScope                  string
}

// parseConfig reads a config that passed the schema; problems go to report (nil when the
// config is known to be valid).
func parseConfig(raw map[string]any, report func(key, format string, args ...any)) Config {
	if report == nil {
		report = func(string, string, ...any) {}
	}
	var f configFile
	elements.Decode(raw, &f, report)
	c := Config{CorpID: f.CorpID, CorpSecret: f.CorpSecret, AgentID: f.AgentID, Corp: f.Corp,
		SessionTTL: DefaultSessionTTL, Landing: DefaultLanding, OAuthScope: "snsapi_base"}
	if strings.ContainsAny(c.CorpID, " \t/?&#") || c.CorpID == "" {
		report("corpId", "corpId %q is not a WeCom corp ID (such as ww1234567890abcdef)", c.CorpID)
	}
	if strings.ContainsAny(c.AgentID, " \t/?&#") || c.AgentID == "" {
		report("agentId", "agentId %q is not a WeCom AgentId (such as 1000002)", c.AgentID)
	}
	c.RedirectURI = parseRedirect(f.RedirectURI, report)
	if s := f.APIBase; s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report("apiBase", "apiBase %q must be an http(s) URL such as https://qyapi.weixin.qq.com", s)
		}
		c.APIBase = strings.TrimRight(s, "/")
	}
	c.Simulator = parseSimulator(f.Simulator, report)
	if c.Simulator && c.APIBase != "" {
		report("simulator", "simulator and apiBase name two WeCom servers: keep one")
	}
	c.SessionTTL = parseTTL(f.SessionTTL, report)
	c.Landing = parseLanding(f.Landing, report)
	if f.OAuthScope != "" {
		c.OAuthScope = f.OAuthScope
	}
	return c
}

// parseRedirect checks a login's redirectUri: an absolute http(s) URL with no fragment
// ("" for the default).
func parseRedirect(s string, report func(key, format string, args ...any)) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		report("redirectUri", "redirectUri %q must be an absolute http(s) URL with no #fragment, such as https://app.example.com/auth/<fullName>/callback", s)
	}
	return s
}

// parseSimulator reads a login's simulator key: true, or the corp's simulator object.
func parseSimulator(v any, report func(key, format string, args ...any)) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case map[string]any:
		return true // the corp's emulator serves the login; its size is the corp's
	default:
		report("simulator", "simulator must be true or the corp's simulator object, not %v", v)
		return false
	}
}

// localPath reports whether s is a path on this server (not another host's: "//x", "/\x").
func localPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && !strings.ContainsAny(s, "\r\n\t ")
}

func validate(el *elements.Element, r elements.Reporter) {
	parseConfig(el.Config, r.Errorf)
}

// checkRefs checks that the corp the login names (or the default one) is there.
func checkRefs(el *elements.Element, app elements.Refs, r elements.Reporter) {
	cfg := parseConfig(el.Config, nil)
	if _, err := findCorp(cfg, app.ElementsWhere(isOrg)); err != nil {
		key := "corp"
		if cfg.Corp == "" {
			key = "corpId"
		}
		r.Errorf(key, "%v", err)
	}
}

// findCorp is the corp whose members log in: the one config names, or the app's one corp
// with the same corpId.
func findCorp(cfg Config, corps []*elements.Element) (string, error) {
	names := make([]string, len(corps))
	for i, c := range corps {
		names[i] = c.FullName
	}
	list := strings.Join(names, ", ")
	if list == "" {
		list = "none"
	}
	if cfg.Corp != "" {
		for _, c := range corps {
			if c.FullName == cfg.Corp {
				if id, _ := c.Config["corpId"].(string); id != "" && id != cfg.CorpID {
					return "", fmt.Errorf("corp %s has corpId %q, not this login's %q", cfg.Corp, id, cfg.CorpID)
				}
				return c.FullName, nil
			}
		}
		return "", fmt.Errorf("corp %q is not an org of the app (a corps Type element; the app's: %s)", cfg.Corp, list)
	}
	var match []string
	for _, c := range corps {
		if id, _ := c.Config["corpId"].(string); id == cfg.CorpID {
			match = append(match, c.FullName)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("no org of the app has corpId %q (the app's orgs: %s): add one, or name it in \"corp\"", cfg.CorpID, list)
	}
	return "", fmt.Errorf("orgs %s all have corpId %q: name the one whose members log in in \"corp\"", strings.Join(match, ", "), cfg.CorpID)
}

// parseTTL reads a sessionTtl ("8h", or seconds; DefaultSessionTTL when absent).
func parseTTL(v0 any, report func(key, format string, args ...any)) time.Duration {
	ttl := DefaultSessionTTL
	switch v := v0.(type) {
	case nil:
	case string:
		d, err := time.ParseDuration(v)
		if err != nil {
			report("sessionTtl", "sessionTtl %q is not a duration such as \"8h\" or \"30m\"", v)
			break
		}
		ttl = d
	case float64:
		if v != math.Trunc(v) || v > maxSessionTTL.Seconds() {
			report("sessionTtl", "sessionTtl %v must be whole seconds up to %d", v, int64(maxSessionTTL.Seconds()))
			break
		}
		ttl = time.Duration(v) * time.Second
	default:
		report("sessionTtl", "sessionTtl must be a duration such as \"8h\" or a number of seconds, not %v", v)
	}
	if ttl < minSessionTTL || ttl > maxSessionTTL {
		report("sessionTtl", "sessionTtl %s must be from %s to %s", ttl, minSessionTTL, maxSessionTTL)
	}
	return ttl
}

// parseLanding reads a landing path (DefaultLanding when absent).
func parseLanding(s string, report func(key, format string, args ...any)) string {
	if s == "" {
		return DefaultLanding
	}
	if !localPath(s) {
		report("landing", "landing %q must be a path of this app such as /me (starting with one /)", s)
	}
	return s
}
