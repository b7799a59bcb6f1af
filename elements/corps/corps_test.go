package corps

import (
	"fmt"
	"strings"
	"testing"
)

func TestConfigValidation(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]any
		key  string
		want string
	}{
		{map[string]any{"apiBase": "ftp://x"}, "apiBase", "must be an http(s) URL"},
		{map[string]any{"scope": []any{1.0, "2"}}, "scope", "scope.1 must be a number, not a string"},
		{map[string]any{"scope": []any{0.0}}, "scope", "scope.0 must be a whole number from 1 to 4294967295, not 0"},
		{map[string]any{"roles": []any{map[string]any{"name": "x"}}}, "roles", `roles.0 needs the key "roleId" (string)`},
		{map[string]any{"roles": []any{map[string]any{"roleId": "a:b"}}}, "roles", `roles.0.roleId "a:b" must be 1 to 64 letters`},
		{map[string]any{"roles": []any{map[string]any{"roleId": "a"}, map[string]any{"roleId": "a"}}}, "roles", `roleId "a" is declared twice`},
		{map[string]any{"roles": []any{}}, "roles", "roles is empty"},
		{map[string]any{"simulator": map[string]any{"members": -1.0}}, "simulator", "simulator.members must be a whole number from 0 to 1000000, not -1"},
		{map[string]any{"simulator": map[string]any{"member": 1.0}}, "simulator", `simulator has no key "member" (did you mean "members"?)`},
		{map[string]any{"simulator": map[string]any{"seed": 1e20}}, "simulator", "simulator.seed must be a whole number from -2^53 to 2^53, not 1e+20"},
		{map[string]any{"corpId": "ww 1"}, "corpId", "has characters"},
	} {
		var got []string
		parseConfig(c.cfg, func(key, format string, args ...any) {
			if key == c.key || strings.HasPrefix(key, c.key+".") {
				got = append(got, sprintf(format, args...))
			}
		})
		if len(got) != 1 || !strings.Contains(got[0], c.want) {
			t.Errorf("%v: reported %q, want %q", c.cfg, got, c.want)
		}
	}
	cfg := parseConfig(map[string]any{"corpId": "ww1", "agentId": "1", "secret": "s", "apiBase": "http://127.0.0.1:9/",
		"scope": []any{3.0}, "simulator": map[string]any{"members": 10.0}}, nil)
	if cfg.APIBase != "http://127.0.0.1:9" || cfg.Scope[0] != 3 || cfg.Simulator.Members != 10 || cfg.Simulator.Departments != 20 || len(cfg.Roles) != 2 {
		t.Errorf("%+v", cfg)
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
