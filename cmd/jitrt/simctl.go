package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ctlArgs are the KEY=VALUE pairs of a ctl op, read as its keys need them.
type ctlArgs struct {
	op string
	kv map[string]string
}

func newCtlArgs(op string, pairs []string) (ctlArgs, error) {
	a := ctlArgs{op: op, kv: map[string]string{}}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return a, fmt.Errorf("%q is not KEY=VALUE", p)
		}
		a.kv[k] = v
	}
	return a, nil
}

// need says which of keys the op lacks.
func (a ctlArgs) need(keys ...string) error {
	for _, k := range keys {
		if a.kv[k] == "" {
			return fmt.Errorf("%s needs %s=…", a.op, k)
		}
	}
	return nil
}

// num is a whole number (0 when absent).
func (a ctlArgs) num(k string) (int64, error) {
	if a.kv[k] == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(a.kv[k], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a whole number", k, a.kv[k])
	}
	return n, nil
}

// nums is a comma-separated list of whole numbers.
func (a ctlArgs) nums(k string) ([]int64, error) {
	var out []int64
	for _, p := range strings.Split(a.kv[k], ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a whole number", k, p)
		}
		out = append(out, n)
	}
	return out, nil
}

// list is a comma-separated list.
func (a ctlArgs) list(k string) []string {
	var out []string
	for _, p := range strings.Split(a.kv[k], ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// simControl turns `ctl OP key=value …` into the WeCom emulator's control request.
func simControl(op string, pairs []string) (path string, body any, err error) {
	a, err := newCtlArgs(op, pairs)
	if err != nil {
		return "", nil, err
	}
	kv, need, num, nums, list := a.kv, a.need, a.num, a.nums, a.list
	change := map[string]any{}
	switch op {
	case "add-user":
		if err := need("userid", "name", "department"); err != nil {
			return "", nil, err
		}
		depts, err := nums("department")
		if err != nil {
			return "", nil, err
		}
		change = map[string]any{"op": "add_user", "user": map[string]any{"userid": kv["userid"], "name": kv["name"], "department": depts,
			"position": kv["position"], "mobile": kv["mobile"], "email": kv["email"]}}
	case "update-user":
		if err := need("userid"); err != nil {
			return "", nil, err
		}
		set := map[string]string{}
		for k, v := range kv {
			if k != "userid" {
				set[k] = v
			}
		}
		change = map[string]any{"op": "update_user", "userid": kv["userid"], "set": set}
	case "move-user":
		if err := need("userid", "department"); err != nil {
			return "", nil, err
		}
		depts, err := nums("department")
		if err != nil {
			return "", nil, err
		}
		main, err := num("main_department")
		if err != nil {
			return "", nil, err
		}
		change = map[string]any{"op": "move_user", "userid": kv["userid"], "department": depts, "main_department": main}
	case "rename-user":
		if err := need("userid", "new_userid"); err != nil {
			return "", nil, err
		}
		change = map[string]any{"op": "rename_user", "userid": kv["userid"], "new_userid": kv["new_userid"]}
	case "remove-user":
		if err := need("userid"); err != nil {
			return "", nil, err
		}
		change = map[string]any{"op": "remove_user", "userid": kv["userid"]}
	case "add-department":
		if err := need("id", "name", "parentid"); err != nil {
			return "", nil, err
		}
		id, err1 := num("id")
		parent, err2 := num("parentid")
		order, err3 := num("order")
		for _, err := range []error{err1, err2, err3} {
			if err != nil {
				return "", nil, err
			}
		}
		change = map[string]any{"op": "add_department", "department": map[string]any{"id": id, "name": kv["name"], "parentid": parent, "order": order}}
	case "rename-department", "move-department", "remove-department":
		keys := map[string][]string{"rename-department": {"id", "name"}, "move-department": {"id", "parentid"}, "remove-department": {"id"}}[op]
		if err := need(keys...); err != nil {
			return "", nil, err
		}
		id, err1 := num("id")
		parent, err2 := num("parentid")
		if err1 != nil || err2 != nil {
			return "", nil, fmt.Errorf("id and parentid are whole numbers")
		}
		change = map[string]any{"op": strings.ReplaceAll(op, "-", "_"), "id": id, "name": kv["name"], "parentid": parent}
	case "tag":
		if err := need("tagid"); err != nil {
			return "", nil, err
		}
		id, err := num("tagid")
		if err != nil {
			return "", nil, err
		}
		ap, err1 := nums("add_parties")
		dp, err2 := nums("del_parties")
		if err1 != nil || err2 != nil {
			return "", nil, fmt.Errorf("add_parties and del_parties are department ids")
		}
		change = map[string]any{"op": "tag", "tagid": id, "add_users": list("add_users"), "del_users": list("del_users"), "add_parties": ap, "del_parties": dp}
	case "faults":
		f := map[string]any{}
		for k, v := range kv {
			switch k {
			case "drop", "duplicate", "reorder":
				p, err := strconv.ParseFloat(v, 64)
				if err != nil || p < 0 || p > 1 {
					return "", nil, fmt.Errorf("%s=%q is not a probability from 0 to 1", k, v)
				}
				f[k] = p
			case "minimal":
				f[k] = v == "true" || v == "1"
			case "retries", "lanes", "seed":
				n, err := strconv.Atoi(v)
				if err != nil {
					return "", nil, fmt.Errorf("%s=%q is not a whole number", k, v)
				}
				f[k] = n
			case "delay", "retryInterval":
				if _, err := time.ParseDuration(v); err != nil {
					return "", nil, fmt.Errorf("%s=%q is not a duration such as 50ms", k, v)
				}
				f[k] = v
			default:
				return "", nil, fmt.Errorf("faults has no key %q", k)
			}
		}
		return "/sim/faults", f, nil
	case "churn":
		rate, err := num("rate")
		if err != nil {
			return "", nil, err
		}
		return "/sim/churn", map[string]any{"rate": rate}, nil
	case "stats":
		return "/sim/stats", nil, nil
	default:
		return "", nil, fmt.Errorf("unknown op %q (see jitrt wecom-sim ctl --help)", op)
	}
	return "/sim/change", change, nil
}

// postControl sends a control request (a GET without a body) and returns the answer.
func postControl(ctx context.Context, url string, body any) (string, error) {
	method, rd := "GET", io.Reader(nil)
	if body != nil {
		b, _ := json.Marshal(body)
		method, rd = "POST", bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("the emulator at %s: %w", url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("the emulator refused: %s", strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}
