package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitrt/jitrt/internal/pgtest"
	"github.com/jitrt/jitrt/internal/testwait"
)

// Three replicas, six writers and two readers over HTTP while the database goes away as it
// does for an operator: every backend terminated (twice), pg_ctl restart, the server
// stopped for 20 s. No write that answered 200 is lost; nothing answers 500; a write sent
// and answered while the server is stopped is 503 with Retry-After and the code
// "unavailable"; reads are served all along; no body names the database's host, port, user
// or schema; every replica takes writes again once the server is back (how soon is logged:
// a figure, not a guarantee of the machine).
func TestReplicasRideOutDatabaseOutages(t *testing.T) {
	if testing.Short() {
		t.Skip("a PostgreSQL server of its own, stopped and restarted under three replicas: make test-slow")
	}
	db := pgtest.StartServer(t)
	app := writeTree(t, storeApp)
	if code, _, errs := jitrt(t, "call", app, "corps.C", "initCorp", "--store", db.URL, "--data", t.TempDir()); code != 0 {
		t.Fatal(errs)
	}
	bin := buildJitrt(t)
	var replicas []*server
	for range 3 {
		r := startServerArgs(t, bin, app, t.TempDir(), "--store", db.URL)
		defer r.stop(t)
		replicas = append(replicas, r)
	}
	members := replicas[0].memberIDs(t, 6)
	u, _ := neturl.Parse(db.URL)
	leaks := []string{u.Hostname(), ":" + u.Port(), u.User.Username() + "@", "postgres://", "jitrt_store"}

	const writers, readers = 6, 2
	var stopped atomic.Bool // the server is down: set once Stop returned, cleared before Start
	var (
		mu        sync.Mutex
		confirmed [writers]int       // the last write that answered 200
		attempted [writers]int       // the last write sent
		okAt      [writers]time.Time // when the last 200 was sent
		answers   = map[string]int{}
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	post := func(r *server, method, args string) (int, http.Header, string, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", r.base+"/api/elements/corps.C/"+method, strings.NewReader(args))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b), nil
	}
	leaked := func(what, body string) {
		for _, l := range leaks {
			if strings.Contains(body, l) {
				t.Errorf("%s: the answer names %q: %s", what, l, body)
			}
		}
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, member := replicas[w%3], members[w]
			for n := 1; ctx.Err() == nil; n++ {
				mu.Lock()
				attempted[w] = n
				mu.Unlock()
				downBefore, sent := stopped.Load(), time.Now()
				status, header, body, err := post(r, "saveUserSignature", fmt.Sprintf(`[%q, "https://sig.example/%d/%d.png"]`, member, w, n))
				downAfter := stopped.Load()
				if ctx.Err() != nil {
					return
				}
				what := fmt.Sprintf("writer %d, write %d", w, n)
				if err != nil {
					t.Errorf("%s: %v", what, err)
					return
				}
				leaked(what, body)
				mu.Lock()
				answers[strconv.Itoa(status)]++
				if status == 200 {
					confirmed[w], okAt[w] = n, sent
				}
				mu.Unlock()
				switch {
				case status == 200 && !(downBefore && downAfter):
				case status == 503:
					if s, _ := strconv.Atoi(header.Get("Retry-After")); s < 1 || !strings.Contains(body, `"unavailable"`) {
						t.Errorf("%s: 503 without Retry-After or the code unavailable (Retry-After %q): %s", what, header.Get("Retry-After"), body)
					}
					time.Sleep(100 * time.Millisecond) // as a client told to come back does, sooner
				default:
					t.Errorf("%s (sent and answered while the database was %s): %d %s", what, map[bool]string{true: "stopped", false: "up or changing"}[downBefore && downAfter], status, body)
				}
			}
		}()
	}
	var reads atomic.Int64
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(i), 7))
			for ctx.Err() == nil {
				r, member := replicas[rnd.IntN(3)], members[rnd.IntN(writers)]
				status, _, body, err := post(r, "getUserSignature", fmt.Sprintf(`[%q]`, member))
				if ctx.Err() != nil {
					return
				}
				if err != nil || status != 200 {
					t.Errorf("reader %d: %d %s %v", i, status, body, err)
					return
				}
				leaked(fmt.Sprintf("reader %d", i), body)
				reads.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	// everyWriterWrites waits until every writer has had a write sent after since answer 200,
	// and returns how long each replica took to (the slowest of its writers)
	everyWriterWrites := func(what string, since time.Time) [3]time.Duration {
		testwait.For(t, "every writer to write again "+what, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for w := range writers {
				if !okAt[w].After(since) {
					return false
				}
			}
			return true
		})
		var took [3]time.Duration
		mu.Lock()
		defer mu.Unlock()
		for w := range writers {
			took[w%3] = max(took[w%3], okAt[w].Sub(since))
		}
		return took
	}
	everyWriterWrites("at the start", time.Now())
	for round := range 2 {
		n, err := db.TerminateAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		took := everyWriterWrites(fmt.Sprintf("after every backend was terminated (round %d)", round+1), time.Now())
		t.Logf("terminated %d backends (round %d): every replica wrote again within %v", n, round+1, took)
	}
	if err := db.Restart(); err != nil {
		t.Fatal(err)
	}
	took := everyWriterWrites("after pg_ctl restart", time.Now())
	t.Logf("pg_ctl restart: every replica wrote again within %v of the server's return", took)

	if err := db.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped.Store(true)
	mu.Lock()
	before503 := answers["503"]
	mu.Unlock()
	time.Sleep(20 * time.Second)
	stopped.Store(false)
	if err := db.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	mu.Lock()
	during := answers["503"] - before503
	mu.Unlock()
	if during == 0 {
		t.Errorf("no write answered 503 while the database was stopped for 20 s")
	}
	took = everyWriterWrites("after the database was stopped for 20 s", back)
	t.Logf("stopped 20 s: %d writes answered 503; every replica wrote again within %v of the server's return", during, took)
	cancel()
	wg.Wait()
	if t.Failed() {
		return
	}

	// no confirmed write lost: each replica reads, for each writer, its last confirmed
	// write or a later one it sent (a write whose answer was lost may have been made), once
	// its answer no longer says it may be behind (X-Jitrt-Stale: the replica catches up as
	// its connections come back; a lost write never comes, and the wait ends at the hang
	// deadline)
	ctx = context.Background()
	for i, r := range replicas {
		for w := range writers {
			var last string
			testwait.For(t, fmt.Sprintf("replica %d to read writer %d's last confirmed write, not stale", i, w), func() bool {
				status, header, body, err := post(r, "getUserSignature", fmt.Sprintf(`[%q]`, members[w]))
				if err != nil || status != 200 {
					t.Fatalf("replica %d: %d %s %v", i, status, body, err)
				}
				var sig struct {
					Data struct {
						Signature string `json:"signature"`
					} `json:"data"`
				}
				json.Unmarshal([]byte(body), &sig)
				last = sig.Data.Signature
				var gotW, gotN int
				fmt.Sscanf(last, "https://sig.example/%d/%d.png", &gotW, &gotN)
				return header.Get("X-Jitrt-Stale") == "" && gotW == w && gotN >= confirmed[w] && gotN <= attempted[w]
			})
			t.Logf("replica %d reads writer %d's %s (confirmed %d, sent %d)", i, w, last, confirmed[w], attempted[w])
		}
	}
	b, _ := json.Marshal(answers)
	t.Logf("answers to writes: %s; %d reads, all 200", b, reads.Load())
}
