package wecom_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/errgroup"

	"github.com/jitrt/jitrt/wecom"
	"github.com/jitrt/jitrt/wecom/wecomsim"
)

// The org of the whole-org benchmarks: 100,000 members in 5,000 departments.
const benchMembers, benchDepts = 100_000, 5_000

var (
	benchOnce sync.Once
	benchSrv  *wecomsim.Server
)

func benchSim(b *testing.B) *wecomsim.Server {
	benchOnce.Do(func() {
		start := time.Now()
		s, err := wecomsim.Start(wecomsim.Options{CorpID: testCorpID, Secret: testSecret, Members: benchMembers, Departments: benchDepts, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		benchSrv = s
		fmt.Printf("emulator with %d members / %d departments ready in %s\n", benchMembers, benchDepts, time.Since(start).Round(time.Millisecond))
	})
	return benchSrv
}

// BenchmarkGenerateOrg100k is the cost of generating the emulator's org.
func BenchmarkGenerateOrg100k(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if org := wecomsim.Generate(benchMembers, benchDepts, int64(i)); len(org.Users) != benchMembers {
			b.Fatal(len(org.Users))
		}
	}
}

// BenchmarkWholeOrgFetch100k fetches the whole org through the client (detail path), and,
// as the floor it is measured against, fetches and decodes the same pages with bare fasthttp
// calls at the same concurrency and no client logic.
func BenchmarkWholeOrgFetch100k(b *testing.B) {
	sim := benchSim(b)
	b.Run("client", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			// A client per fetch, as one sync is: one client doing back-to-back whole-org
			// fetches rightly waits for WeCom's per-minute limit (9,500 calls of user/list).
			cl, err := wecom.New(wecom.Config{CorpID: sim.CorpID(), Secret: testSecret, BaseURL: sim.URL()})
			if err != nil {
				b.Fatal(err)
			}
			org, err := cl.FetchOrg(context.Background(), wecom.FetchOptions{})
			if err != nil || len(org.Users) != benchMembers {
				b.Fatal(err)
			}
		}
		reportHeap(b)
	})
	b.Run("floor", func(b *testing.B) {
		hc := &fasthttp.Client{MaxConnsPerHost: 64, MaxConnWaitTimeout: 10 * time.Second}
		get := func(path string, out any) error {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(sim.URL() + "/cgi-bin/" + path)
			if err := hc.Do(req, resp); err != nil {
				return err
			}
			return json.Unmarshal(resp.Body(), out)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := get("gettoken?corpid="+sim.CorpID()+"&corpsecret="+testSecret, &tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var depts struct {
				Department []wecom.Department `json:"department"`
			}
			if err := get("department/list?access_token="+tok.AccessToken, &depts); err != nil {
				b.Fatal(err)
			}
			var mu sync.Mutex
			users := map[string]wecom.User{}
			g := errgroup.Group{}
			g.SetLimit(8)
			for _, d := range depts.Department {
				g.Go(func() error {
					var page struct {
						UserList []wecom.User `json:"userlist"`
					}
					if err := get("user/list?access_token="+tok.AccessToken+"&department_id="+strconv.FormatInt(d.ID, 10), &page); err != nil {
						return err
					}
					mu.Lock()
					for _, u := range page.UserList {
						users[u.UserID] = u
					}
					mu.Unlock()
					return nil
				})
			}
			var tags struct {
				TagList []wecom.Tag `json:"taglist"`
			}
			if err := get("tag/list?access_token="+tok.AccessToken, &tags); err != nil {
				b.Fatal(err)
			}
			for _, t := range tags.TagList {
				g.Go(func() error {
					var td wecom.TagDetail
					return get("tag/get?access_token="+tok.AccessToken+"&tagid="+strconv.FormatInt(t.TagID, 10), &td)
				})
			}
			if err := g.Wait(); err != nil || len(users) != benchMembers {
				b.Fatal(err, len(users))
			}
		}
		reportHeap(b)
	})
}

func reportHeap(b *testing.B) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMiB")
}

// BenchmarkDecodeMemberPage decodes a user/list page of 2,000 members with encoding/json
// and with goccy/go-json, which the client uses: the page decode is most of a whole-org
// fetch's own work.
func BenchmarkDecodeMemberPage(b *testing.B) {
	org := wecomsim.Generate(2000, 20, 1)
	page, _ := json.Marshal(map[string]any{"errcode": 0, "errmsg": "ok", "userlist": org.Users})
	type resp struct {
		ErrCode  int          `json:"errcode"`
		UserList []wecom.User `json:"userlist"`
	}
	for name, decode := range map[string]func([]byte, any) error{"encoding-json": json.Unmarshal, "goccy-go-json": gojson.Unmarshal} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var r resp
				if err := decode(page, &r); err != nil || len(r.UserList) != 2000 {
					b.Fatal(err)
				}
			}
		})
	}
}
