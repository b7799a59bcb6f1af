package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/dingtalk/dingtalksim"
	"github.com/jitrt/jitrt/feishu/feishusim"
)

// newSimCmd is `jitrt sim PLATFORM`: the platforms' emulators in one place (jitrt wecom-sim
// stays as it was).
func newSimCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "sim wecom|dingtalk|feishu …",
		Short: "Serve a platform's API emulator (WeCom, DingTalk, Feishu) until Ctrl-C, or change a running one (ctl)",
		Long: `sim serves an emulator of a platform's API on a loopback port: a deterministic
generated org (the same flags give the same org) with the platform's endpoints, JSON,
paging, error codes, token lifetime, rate limits, login pages and signed event pushes.
Point a corp's API base at the address it prints, or give the corp a "simulator" and
jitrt starts one itself. "jitrt sim wecom" is "jitrt wecom-sim".`,
		Args: argsExactly(0, "a platform: wecom, dingtalk or feishu"),
	}
	wecom := newWecomSimCmd()
	wecom.Use = "wecom"
	c.AddCommand(wecom, newDingTalkSimCmd(), newFeishuSimCmd())
	return c
}

// platformSim is an emulator jitrt sim serves.
type platformSim interface {
	URL() string
	StartChurn(rate int)
	Calls() int64
	Throttled() int64
	Close() error
}

// serveSim starts an emulator (start: it, and what it serves, in words), churns it, says
// where it listens, and serves until the command's context ends (Ctrl-C).
func serveSim(cmd *cobra.Command, name string, members, depts, churn int, start func() (platformSim, string, error)) error {
	if members < 0 || depts < 1 {
		return usageError{fmt.Errorf("--members must be ≥ 0 and --departments ≥ 1")}
	}
	began := time.Now()
	sim, what, err := start()
	if err != nil {
		return err
	}
	defer sim.Close()
	sim.StartChurn(churn)
	fmt.Fprintf(cmd.OutOrStdout(), "%s listening on %s (%s, ready in %s)\n", name, sim.URL(), what, time.Since(began).Round(time.Millisecond))
	<-cmd.Context().Done()
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: stopping; %d calls served, %d refused by the rate limit\n", name, sim.Calls(), sim.Throttled())
	return nil
}

func newDingTalkSimCmd() *cobra.Command {
	var opts dingtalksim.Options
	var sub dingtalksim.Subscription
	var churn int
	c := &cobra.Command{
		Use:   "dingtalk",
		Short: "Serve the DingTalk API emulator until Ctrl-C",
		Long: `dingtalk serves an emulator of DingTalk's server API (both generations on one host:
/gettoken, /topapi/…, /v1.0/…) for a self-built app: departments and members paged by
cursor, 88-wrapped gateway errors, a token of 7200 s, 20 calls a second per API, the web
login page (/oauth2/auth: a member list to pick from) and its codes, and, with
--callback, every change of its org pushed as DingTalk's signed, encrypted HTTP events
(check_url first; retries at 10 s and 30 s). Point a corp's oapiBase and apiBase at the
address it prints.`,
		Example: `  jitrt sim dingtalk --addr 127.0.0.1:8910 --app-key dingappkey --app-secret s3cret --members 2000 --departments 120`,
		Args:    argsExactly(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveSim(cmd, "dingtalk-sim", opts.Members, opts.Departments, churn, func() (platformSim, string, error) {
				sim, err := dingtalksim.New(opts)
				if err != nil {
					return nil, "", err
				}
				if sub.URL != "" {
					if err := sim.Subscribe(sub); err != nil {
						sim.Close()
						return nil, "", err
					}
				}
				return sim, fmt.Sprintf("corp %s, app %s, %d members, %d departments, seed %d", sim.CorpID(), sim.AppKey(), opts.Members, opts.Departments, opts.Seed), nil
			})
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:0", "address to listen on (port 0: a random free port)")
	f.StringVar(&opts.AppKey, "app-key", "dingsimappkey001", "the AppKey gettoken accepts")
	f.StringVar(&opts.AppSecret, "app-secret", "sim-secret", "the AppSecret gettoken accepts")
	f.StringVar(&opts.CorpID, "corp-id", "", "the org's CorpId (default: made from the AppKey)")
	f.IntVar(&opts.Members, "members", 2000, "members in the generated org")
	f.IntVar(&opts.Departments, "departments", 120, "departments in the generated org")
	f.Int64Var(&opts.Seed, "seed", 1, "seed of the generated org")
	f.IntVar(&opts.PerSecond, "rate-limit", 20, "calls a second per API before 88/90018 (negative: none)")
	f.IntVar(&churn, "churn", 0, "change the org this many times a second (members hired, moved, leaving)")
	f.StringVar(&sub.URL, "callback", "", "push every change of the org to this URL, as DingTalk's HTTP event push (needs --callback-token and --callback-aes-key)")
	f.StringVar(&sub.Token, "callback-token", "", "the subscription's 签名 token")
	f.StringVar(&sub.AESKey, "callback-aes-key", "", "the subscription's 加密 aes_key (43 characters)")
	c.AddCommand(newCtlCmd(`ctl sends one change to a running DingTalk emulator (jitrt sim dingtalk, or a
simulated corp's: its URL is the corp's getCorpInfo().apiBase). The org changes at once
and the change is pushed as DingTalk's event (ids only).

Ops and their keys (lists are comma-separated; the first department is the main one):
  add-user          userid name department [title mobile email]
  update-user       userid and any of name title mobile email department
  remove-user       userid
  add-department    id name parentid [order]
  update-department id and any of name parentid
  remove-department id
  set-admin         userid level (1 main, 2 sub, 0 none)
  faults            [fail_endpoint fail_n fail_code expire_tokens=true rate_limit]
  churn             rate
  stats`, `  jitrt sim dingtalk ctl http://127.0.0.1:8910 add-user userid=newbie name=新人 department=1
  jitrt sim dingtalk ctl http://127.0.0.1:8910 faults fail_endpoint=topapi/v2/user/list fail_n=3 fail_code=-1`, dingtalkControl))
	return c
}

// dingtalkControl turns `ctl OP key=value …` into the DingTalk emulator's control request.
func dingtalkControl(op string, pairs []string) (string, any, error) {
	a, err := newCtlArgs(op, pairs)
	if err != nil {
		return "", nil, err
	}
	c := dingtalksim.Change{UserID: a.kv["userid"], Name: a.kv["name"], Title: a.kv["title"], Mobile: a.kv["mobile"], Email: a.kv["email"]}
	if c.Department, err = a.nums("department"); err != nil {
		return "", nil, err
	}
	if c.ID, err = a.num("id"); err != nil {
		return "", nil, err
	}
	if c.ParentID, err = a.num("parentid"); err != nil {
		return "", nil, err
	}
	if c.Order, err = a.num("order"); err != nil {
		return "", nil, err
	}
	switch op {
	case "add-user":
		err = a.need("userid", "name", "department")
	case "update-user":
		err = a.need("userid")
		c.Set = map[string]any{}
		for _, k := range []string{"name", "title", "mobile", "email"} {
			if v, ok := a.kv[k]; ok {
				c.Set[k] = v
			}
		}
	case "remove-user":
		err = a.need("userid")
	case "add-department":
		err = a.need("id", "name", "parentid")
	case "update-department", "remove-department":
		err = a.need("id")
	case "set-admin":
		err = a.need("userid", "level")
		var n int64
		if n, err = a.num("level"); err == nil {
			c.Level = int(n)
		}
	case "faults":
		f := map[string]any{"expire_tokens": a.kv["expire_tokens"] == "true"}
		if a.kv["fail_endpoint"] != "" {
			n, err := a.num("fail_n")
			if err != nil {
				return "", nil, err
			}
			f["fail"] = map[string]any{"endpoint": a.kv["fail_endpoint"], "n": max(n, 1), "code": a.kv["fail_code"]}
		}
		if a.kv["rate_limit"] != "" {
			n, err := a.num("rate_limit")
			if err != nil {
				return "", nil, err
			}
			f["per_second"] = n
		}
		return "/sim/faults", f, nil
	case "churn":
		n, err := a.num("rate")
		if err != nil {
			return "", nil, err
		}
		return "/sim/churn", map[string]any{"rate": n}, nil
	case "stats":
		return "/sim/stats", nil, nil
	default:
		return "", nil, fmt.Errorf("unknown op %q (see jitrt sim dingtalk ctl --help)", op)
	}
	if err != nil {
		return "", nil, err
	}
	c.Op = map[string]string{"add-user": "add_user", "update-user": "update_user", "remove-user": "remove_user", "add-department": "add_department",
		"update-department": "update_department", "remove-department": "remove_department", "set-admin": "set_admin"}[op]
	return "/sim/change", c, nil
}

func newFeishuSimCmd() *cobra.Command {
	var opts feishusim.Options
	var sub feishusim.Subscription
	var churn int
	c := &cobra.Command{
		Use:   "feishu",
		Short: "Serve the Feishu Open Platform emulator until Ctrl-C",
		Long: `feishu serves an emulator of Feishu's Open Platform for a custom app (/open-apis/…):
the tenant token (the same one while 30 minutes are left), departments and members paged
by page token (50 at most), Feishu's codes with its HTTP statuses, 1000 calls a minute per
API (429 with x-ogw-ratelimit-reset), the web login page and its codes, and, with
--callback, every change of its tenant pushed as a v2.0 event (url_verification first;
encrypted and signed with --encrypt-key; retries at 15 s, 5 min, 1 h, 6 h). Point a
corp's baseUrl at the address it prints.`,
		Example: `  jitrt sim feishu --addr 127.0.0.1:8920 --app-id cli_simapp --app-secret s3cret --members 2000 --departments 120`,
		Args:    argsExactly(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveSim(cmd, "feishu-sim", opts.Members, opts.Departments, churn, func() (platformSim, string, error) {
				sim, err := feishusim.New(opts)
				if err != nil {
					return nil, "", err
				}
				if sub.URL != "" {
					if err := sim.Subscribe(sub); err != nil {
						sim.Close()
						return nil, "", err
					}
				}
				return sim, fmt.Sprintf("tenant %s, app %s, %d members, %d departments, seed %d", sim.TenantKey(), sim.AppID(), opts.Members, opts.Departments, opts.Seed), nil
			})
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:0", "address to listen on (port 0: a random free port)")
	f.StringVar(&opts.AppID, "app-id", "cli_simapp00000001", "the App ID the token endpoint accepts")
	f.StringVar(&opts.AppSecret, "app-secret", "sim-secret", "the App Secret the token endpoint accepts")
	f.IntVar(&opts.Members, "members", 2000, "members in the generated tenant")
	f.IntVar(&opts.Departments, "departments", 120, "departments in the generated tenant")
	f.Int64Var(&opts.Seed, "seed", 1, "seed of the generated tenant")
	f.IntVar(&opts.PerMinute, "rate-limit", 1000, "calls a minute per API before 429 (negative: none)")
	f.IntVar(&churn, "churn", 0, "change the tenant this many times a second (members hired, moved, leaving)")
	f.StringVar(&sub.URL, "callback", "", "push every change of the tenant to this URL as Feishu's v2.0 events (needs --verification-token)")
	f.StringVar(&sub.VerificationToken, "verification-token", "", "the subscription's Verification Token")
	f.StringVar(&sub.EncryptKey, "encrypt-key", "", "the subscription's Encrypt Key (pushes encrypted and signed)")
	c.AddCommand(newCtlCmd(`ctl sends one change to a running Feishu emulator (jitrt sim feishu, or a simulated
corp's: its URL is the corp's getCorpInfo().apiBase). The tenant changes at once and the
change is pushed as Feishu's v2.0 event.

Ops and their keys (departments are open_department_ids, the root 0; lists comma-separated,
the first the primary one):
  add-user          user_id name department [job_title mobile email]
  update-user       user_id and any of name job_title mobile email department
  remove-user       user_id
  add-department    id name parent_id [order]
  update-department id and any of name parent_id
  remove-department id
  faults            [fail_endpoint fail_n fail_code revoke_tokens=true rate_limit]
  churn             rate
  stats`, `  jitrt sim feishu ctl http://127.0.0.1:8920 add-user user_id=newbie name=新人 department=0
  jitrt sim feishu ctl http://127.0.0.1:8920 faults fail_endpoint=contact/v3/users/find_by_department fail_n=2 fail_code=40003`, feishuControl))
	return c
}

// feishuControl turns `ctl OP key=value …` into the Feishu emulator's control request.
func feishuControl(op string, pairs []string) (string, any, error) {
	a, err := newCtlArgs(op, pairs)
	if err != nil {
		return "", nil, err
	}
	c := feishusim.Change{UserID: a.kv["user_id"], Name: a.kv["name"], JobTitle: a.kv["job_title"], Mobile: a.kv["mobile"],
		Email: a.kv["email"], Department: a.list("department"), ID: a.kv["id"], ParentID: a.kv["parent_id"]}
	if c.Order, err = a.num("order"); err != nil {
		return "", nil, err
	}
	switch op {
	case "add-user":
		err = a.need("user_id", "name", "department")
	case "update-user", "remove-user":
		err = a.need("user_id")
	case "add-department":
		err = a.need("id", "name", "parent_id")
	case "update-department", "remove-department":
		err = a.need("id")
	case "faults":
		f := map[string]any{"revoke_tokens": a.kv["revoke_tokens"] == "true"}
		if a.kv["fail_endpoint"] != "" {
			n, err := a.num("fail_n")
			if err != nil {
				return "", nil, err
			}
			code, err := a.num("fail_code")
			if err != nil {
				return "", nil, err
			}
			f["fail"] = map[string]any{"endpoint": a.kv["fail_endpoint"], "n": max(n, 1), "code": code}
		}
		if a.kv["rate_limit"] != "" {
			n, err := a.num("rate_limit")
			if err != nil {
				return "", nil, err
			}
			f["per_minute"] = n
		}
		return "/sim/faults", f, nil
	case "churn":
		n, err := a.num("rate")
		if err != nil {
			return "", nil, err
		}
		return "/sim/churn", map[string]any{"rate": n}, nil
	case "stats":
		return "/sim/stats", nil, nil
	default:
		return "", nil, fmt.Errorf("unknown op %q (see jitrt sim feishu ctl --help)", op)
	}
	if err != nil {
		return "", nil, err
	}
	c.Op = map[string]string{"add-user": "add_user", "update-user": "update_user", "remove-user": "remove_user", "add-department": "add_department",
		"update-department": "update_department", "remove-department": "remove_department"}[op]
	return "/sim/change", c, nil
}
