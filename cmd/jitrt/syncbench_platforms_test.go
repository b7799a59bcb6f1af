package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkPlatformSyncAsAUserRunsIt is the DingTalk and Feishu part of make bench-sync: a
// first sync and a no-change re-sync of 100,000 members in 5,000 departments
// (JITRT_BENCH_MEMBERS, JITRT_BENCH_DEPTS), each a fresh jitrt exec against the platform's
// emulator (jitrt sim, a process of its own), beside the plain fetch floor of the same run,
// median of three. The emulators run without their rate limits and the corps do not pace
// (rateLimit -1): the wire is the floor, so the ratio measures jitrt. (With the limits on,
// DingTalk's 20 calls a second and Feishu's 1000 a minute per API are the floor: minutes
// for 5,000 departments, whatever the client.)
func BenchmarkPlatformSyncAsAUserRunsIt(b *testing.B) {
	members, depts := 100_000, 5_000
	if v, err := strconv.Atoi(os.Getenv("JITRT_BENCH_MEMBERS")); err == nil {
		members = v
	}
	if v, err := strconv.Atoi(os.Getenv("JITRT_BENCH_DEPTS")); err == nil {
		depts = v
	}
	bin := buildJitrt(b)
	for _, p := range []struct {
		name   string
		sim    []string
		config func(base string) string
		typ    string
		floor  func(b *testing.B, base string) time.Duration
	}{
		{"DingTalk", []string{"sim", "dingtalk", "--app-key", "dingperfkey", "--app-secret", "perf-secret", "--rate-limit", "-1"},
			func(base string) string {
				return fmt.Sprintf(`{"authConfig": {"corpId": "dingperf", "agentId": "1", "appKey": "dingperfkey", "appSecret": "perf-secret"}, "oapiBase": %q, "apiBase": %q, "rateLimit": -1}`, base, base)
			}, "corps.DDInnerType", dingtalkFloor},
		{"Feishu", []string{"sim", "feishu", "--app-id", "cli_perf", "--app-secret", "perf-secret", "--rate-limit", "-1"},
			func(base string) string {
				return fmt.Sprintf(`{"appId": "cli_perf", "appSecret": "perf-secret", "baseUrl": %q, "rateLimit": -1}`, base)
			}, "corps.FSInnerType", feishuFloor},
	} {
		base := startPlatformSim(b, bin, append(p.sim, "--members", strconv.Itoa(members), "--departments", strconv.Itoa(depts))...)
		app := filepath.Join(b.TempDir(), "app")
		for rel, content := range map[string]string{
			"app.json":       `{"name": "perf"}`,
			"corps/P/e.json": fmt.Sprintf(`{"title": "P", "type": %q}`, p.typ),
			"corps/P/P.json": p.config(base),
		} {
			os.MkdirAll(filepath.Dir(filepath.Join(app, rel)), 0o755)
			os.WriteFile(filepath.Join(app, rel), []byte(content), 0o644)
		}
		p.floor(b, base) // warm the emulator
		var firsts, resyncs []float64
		for run := 1; run <= 3; run++ {
			data := filepath.Join(b.TempDir(), "data")
			state := filepath.Join(data, "state.db")
			floor := p.floor(b, base)
			t1, m1, _ := step(b, bin, "exec", app, "--data", data, "-e", `app.getElement("corps.P").initCorp(); app.getElement("corps.P").corpData.activeMembers`)
			before, _ := os.ReadFile(state)
			t2, m2, changes := step(b, bin, "exec", app, "--data", data, "-e", `const r = app.getElement("corps.P").syncCorp(); r.added + r.updated + r.offlined`)
			after, _ := os.ReadFile(state)
			written := "0 bytes written"
			if !bytes.Equal(before, after) {
				written = fmt.Sprintf("%d bytes written", len(after)-len(before))
			}
			fmt.Printf("%s run %d: floor %.2fs | first sync %.2fs (%.2fx) %.0f MiB | no-change re-sync %.2fs (%.2fx) %.0f MiB, %s changes, %s\n",
				p.name, run, floor.Seconds(), t1.Seconds(), t1.Seconds()/floor.Seconds(), float64(m1)/(1<<20),
				t2.Seconds(), t2.Seconds()/floor.Seconds(), float64(m2)/(1<<20), changes, written)
			firsts = append(firsts, t1.Seconds()/floor.Seconds())
			resyncs = append(resyncs, t2.Seconds()/floor.Seconds())
		}
		slices.Sort(firsts)
		slices.Sort(resyncs)
		fmt.Printf("%s median of %d runs: first sync %.2fx the floor, no-change re-sync %.2fx\n", p.name, len(firsts), firsts[1], resyncs[1])
		b.ReportMetric(firsts[1], strings.ToLower(p.name)+"-first/floor")
		b.ReportMetric(resyncs[1], strings.ToLower(p.name)+"-resync/floor")
	}
}

// startPlatformSim starts jitrt sim … and returns its URL.
func startPlatformSim(b *testing.B, bin string, args ...string) string {
	cmd := exec.Command(bin, args...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if i := strings.Index(sc.Text(), "http://127.0.0.1:"); i >= 0 {
			go io.Copy(io.Discard, out)
			return strings.Fields(sc.Text()[i:])[0]
		}
	}
	b.Fatalf("jitrt %v did not start", args)
	return ""
}

// platformGet is a plain GET (or POST with a JSON body) decoding the answer into v.
func platformGet(b *testing.B, c *http.Client, method, u, bearer string, body any, v any) {
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, u, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	r, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		b.Fatal(err)
	}
}

// floorFetch walks a tree a level at a time with 8 workers, then reads every department's
// members with 8 workers: the plainest whole-org fetch, stdlib HTTP and JSON.
func floorFetch(roots []string, children func(id string) []string, members func(id string) int) int {
	var all []string
	level := roots
	for len(level) > 0 {
		all = append(all, level...)
		var next []string
		var mu sync.Mutex
		work := make(chan string)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range work {
					ch := children(id)
					mu.Lock()
					next = append(next, ch...)
					mu.Unlock()
				}
			}()
		}
		for _, id := range level {
			work <- id
		}
		close(work)
		wg.Wait()
		level = next
	}
	var n int
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				k := members(id)
				mu.Lock()
				n += k
				mu.Unlock()
			}
		}()
	}
	for _, id := range all {
		work <- id
	}
	close(work)
	wg.Wait()
	return n
}

// dingtalkFloor: gettoken, listsub and department/get per department, v2/user/list pages.
func dingtalkFloor(b *testing.B, base string) time.Duration {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	start := time.Now()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	platformGet(b, c, "GET", base+"/gettoken?appkey=dingperfkey&appsecret=perf-secret", "", nil, &tok)
	post := func(path string, body, v any) {
		platformGet(b, c, "POST", base+path+"?access_token="+tok.AccessToken, "", body, v)
	}
	n := floorFetch([]string{"1"}, func(id string) []string {
		var detail, sub struct {
			Result json.RawMessage `json:"result"`
		}
		post("/topapi/v2/department/get", map[string]any{"dept_id": json.Number(id)}, &detail)
		post("/topapi/v2/department/listsub", map[string]any{"dept_id": json.Number(id)}, &sub)
		var list []struct {
			DeptID int64 `json:"dept_id"`
		}
		json.Unmarshal(sub.Result, &list)
		out := make([]string, len(list))
		for i, d := range list {
			out[i] = strconv.FormatInt(d.DeptID, 10)
		}
		return out
	}, func(id string) int {
		n := 0
		for cursor := int64(0); ; {
			var page struct {
				Result struct {
					HasMore    bool  `json:"has_more"`
					NextCursor int64 `json:"next_cursor"`
					List       []struct {
						UserID     string  `json:"userid"`
						Name       string  `json:"name"`
						DeptIDList []int64 `json:"dept_id_list"`
					} `json:"list"`
				} `json:"result"`
			}
			post("/topapi/v2/user/list", map[string]any{"dept_id": json.Number(id), "cursor": cursor, "size": 100}, &page)
			n += len(page.Result.List)
			if !page.Result.HasMore {
				return n
			}
			cursor = page.Result.NextCursor
		}
	})
	if n == 0 {
		b.Fatal("the DingTalk floor fetched no member")
	}
	return time.Since(start)
}

// feishuFloor: the tenant token, children pages per department, find_by_department pages.
func feishuFloor(b *testing.B, base string) time.Duration {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	start := time.Now()
	var tok struct {
		Token string `json:"tenant_access_token"`
	}
	platformGet(b, c, "POST", base+"/open-apis/auth/v3/tenant_access_token/internal", "", map[string]string{"app_id": "cli_perf", "app_secret": "perf-secret"}, &tok)
	type page struct {
		Data struct {
			HasMore   bool            `json:"has_more"`
			PageToken string          `json:"page_token"`
			Items     json.RawMessage `json:"items"`
		} `json:"data"`
	}
	each := func(u string, fn func(items json.RawMessage)) {
		for token := ""; ; {
			q := url.Values{"page_size": {"50"}, "user_id_type": {"user_id"}, "department_id_type": {"open_department_id"}}
			if token != "" {
				q.Set("page_token", token)
			}
			var p page
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			platformGet(b, c, "GET", u+sep+q.Encode(), tok.Token, nil, &p)
			fn(p.Data.Items)
			if !p.Data.HasMore {
				return
			}
			token = p.Data.PageToken
		}
	}
	n := floorFetch([]string{"0"}, func(id string) []string {
		var out []string
		each(base+"/open-apis/contact/v3/departments/"+id+"/children", func(items json.RawMessage) {
			var ds []struct {
				ID string `json:"open_department_id"`
			}
			json.Unmarshal(items, &ds)
			for _, d := range ds {
				out = append(out, d.ID)
			}
		})
		return out
	}, func(id string) int {
		n := 0
		each(base+"/open-apis/contact/v3/users/find_by_department?department_id="+url.QueryEscape(id), func(items json.RawMessage) {
			var us []struct {
				UserID string   `json:"user_id"`
				Name   string   `json:"name"`
				Depts  []string `json:"department_ids"`
			}
			json.Unmarshal(items, &us)
			n += len(us)
		})
		return n
	})
	if n == 0 {
		b.Fatal("the Feishu floor fetched no member")
	}
	return time.Since(start)
}
