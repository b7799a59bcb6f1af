package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitrt/jitrt/wecom/wecomsim"
)

func newWecomSimCmd() *cobra.Command {
	var opts wecomsim.Options
	var refuse, withhold bool
	var latency time.Duration
	var rate, churn int
	var cb wecomsim.Callback
	c := &cobra.Command{
		Use:   "wecom-sim",
		Short: "Serve the WeCom contacts API emulator until Ctrl-C",
		Long: `wecom-sim serves an emulator of the WeCom contacts API on a loopback port: a
deterministic generated org (the same flags give the same org) with WeCom's
endpoints, JSON and error codes. Point a corp's "apiBase" at the address it prints.

It also serves WeCom's member login pages (the QR login and the in-client OAuth
authorize URL): a page lists the members to log in as, and a pick sends the browser
back to the app's redirect URI with a single-use code that auth/getuserinfo exchanges.`,
		Example: `  jitrt wecom-sim --addr 127.0.0.1:8900 --corp-id wwdemo --secret s3cret --members 2000 --departments 120 --seed 1`,
		Args:    argsExactly(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Members < 0 || opts.Departments < 1 {
				return usageError{fmt.Errorf("--members must be ≥ 0 and --departments ≥ 1")}
			}
			opts.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			if cb.URL != "" {
				opts.Callbacks = []wecomsim.Callback{cb}
			}
			start := time.Now()
			sim, err := wecomsim.Start(opts)
			if err != nil {
				return err
			}
			defer sim.Close()
			sim.RefuseDetail(refuse)
			sim.WithholdSensitive(withhold)
			sim.SetLatency(latency)
			sim.SetRateLimit(rate)
			sim.StartChurn(churn)
			fmt.Fprintf(cmd.OutOrStdout(), "wecom-sim listening on %s (corp %s, %d members, %d departments, seed %d, ready in %s)\n",
				sim.URL(), sim.CorpID(), opts.Members, opts.Departments, opts.Seed, time.Since(start).Round(time.Millisecond))
			<-cmd.Context().Done()
			fmt.Fprintln(cmd.ErrOrStderr(), "wecom-sim: stopping; calls served:", callSummary(sim.CallCounts()))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:0", "address to listen on (port 0: a random free port)")
	f.StringVar(&opts.CorpID, "corp-id", "wwsim0000000001", "the corpid gettoken accepts")
	f.StringVar(&opts.Secret, "secret", "sim-secret", "the app secret gettoken accepts")
	f.StringVar(&opts.ContactSyncSecret, "contact-sync-secret", "", "a contact-sync secret gettoken accepts (unlocks user/list_id)")
	f.IntVar(&opts.Members, "members", 2000, "members in the generated org")
	f.IntVar(&opts.Departments, "departments", 120, "departments in the generated org")
	f.Int64Var(&opts.Seed, "seed", 1, "seed of the generated org")
	f.BoolVar(&refuse, "refuse-detail", false, "answer department/list and user/list with 48009")
	f.BoolVar(&withhold, "withhold-sensitive", false, "withhold mobile, email, avatar… as for apps created since 2022-06-20")
	f.DurationVar(&latency, "latency", 0, "delay every response")
	f.IntVar(&rate, "rate-limit", 0, "answer 45009 past this many calls a minute per endpoint (0: off)")
	f.IntVar(&churn, "churn", 0, "change the org this many times a second (members hired, moved, renamed, leaving; departments; tags)")
	f.StringVar(&cb.URL, "callback", "", "push every change of the org to this callback URL, as WeCom does (needs --callback-token and --callback-aes-key)")
	f.StringVar(&cb.Token, "callback-token", "", "the Token of the callback config")
	f.StringVar(&cb.EncodingAESKey, "callback-aes-key", "", "the EncodingAESKey of the callback config (43 characters)")
	f.BoolVar(&cb.Minimal, "callback-minimal", false, "send only ids, as WeCom's contact-sync assistant does for callbacks set up since 2022-08-15")
	f.StringSliceVar(&opts.TrustedDomains, "trusted-domain", nil, "a host (or host:port, matched exactly) member logins may be sent back to; repeat for more (default: loopback hosts on any port)")
	c.AddCommand(newWecomSimCtlCmd())
	return c
}

// newWecomSimCtlCmd changes a running emulator's org (or its event faults, or churn).
func newWecomSimCtlCmd() *cobra.Command {
	return newCtlCmd(`ctl sends one change to a running emulator (jitrt wecom-sim, or a simulated corp's
emulator: its URL is the corp's getCorpInfo().apiBase). The org changes at once and the
change is pushed to the registered callbacks as a WeCom event.

Ops and their keys (lists are comma-separated):
  add-user          userid name department [position mobile email]
  update-user       userid and any of name position mobile email biz_mail gender alias telephone address avatar
  move-user         userid department [main_department]
  rename-user       userid new_userid
  remove-user       userid
  add-department    id name parentid [order]
  rename-department id name
  move-department   id parentid
  remove-department id
  tag               tagid [add_users del_users add_parties del_parties]
  faults            [drop duplicate reorder delay minimal retries retryInterval lanes seed]
  churn             rate
  stats`, `  jitrt wecom-sim ctl http://127.0.0.1:8900 move-user userid=ZhangWei department=3
  jitrt wecom-sim ctl http://127.0.0.1:8900 add-user userid=newbie name=新人 department=2 position=实习
  jitrt wecom-sim ctl http://127.0.0.1:8900 faults drop=0.1 duplicate=0.1`, simControl)
}

// newCtlCmd is an emulator's ctl command: OP and its KEY=VALUE pairs made into a control
// request by parse, sent to the emulator at URL, its answer printed (a warning on stderr).
func newCtlCmd(long, example string, parse func(op string, pairs []string) (string, any, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "ctl URL OP [KEY=VALUE …]",
		Short:   "Change a running emulator's org, its faults or its churn",
		Long:    long,
		Example: example,
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, body, err := parse(args[1], args[2:])
			if err != nil {
				return usageError{err}
			}
			out, err := postControl(cmd.Context(), strings.TrimRight(args[0], "/")+path, body)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			var answer struct{ Warning string }
			if json.Unmarshal([]byte(out), &answer) == nil && answer.Warning != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "jitrt: warning: "+answer.Warning)
			}
			return nil
		},
	}
}

// callSummary lists the calls an emulator served, by endpoint: "gettoken 1, user/list 120".
func callSummary(calls map[string]int64) string {
	if len(calls) == 0 {
		return "none"
	}
	names := make([]string, 0, len(calls))
	for n := range calls {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, calls[n])
	}
	return strings.Join(parts, ", ")
}
