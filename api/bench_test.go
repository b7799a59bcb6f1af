package api_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"

	"github.com/jitrt/jitrt/api"
	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/runtime"
)

// pinProcess moves every thread of this process to one CPU (threads started later inherit
// it) with GOMAXPROCS 1, and returns what puts them back.
func pinProcess(cpu int) (restore func()) {
	var old, one unix.CPUSet
	unix.SchedGetaffinity(0, &old)
	one.Set(cpu)
	prev := goruntime.GOMAXPROCS(1)
	setAll := func(set *unix.CPUSet) {
		for pass := 0; pass < 2; pass++ { // a thread started during the first pass is caught by the second
			tasks, _ := os.ReadDir("/proc/self/task")
			for _, t := range tasks {
				if tid, err := strconv.Atoi(t.Name()); err == nil {
					unix.SchedSetaffinity(tid, set)
				}
			}
		}
	}
	setAll(&one)
	return func() {
		setAll(&old)
		goruntime.GOMAXPROCS(prev)
	}
}

// serverCPU is the user and system CPU time this process has used.
func serverCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAPIGetAdmin measures requests per second of a cheap read method (getAdmin)
// through the fasthttp API and through the very same handler on net/http, in one run,
// with the same keep-alive client and concurrency.
func BenchmarkAPIGetAdmin(b *testing.B) {
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "corps/B"), 0o755)
	os.WriteFile(filepath.Join(dir, "corps/B/e.json"), []byte(`{"title": "B", "type": "corps.QywxInnerType"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "corps/B/B.json"), []byte(`{"corpId": "wwb", "agentId": "1", "secret": "bench-secret", "simulator": {"members": 50, "departments": 5}}`), 0o644)
	app, err := runtime.Load(context.Background(), dir, runtime.Options{DataDir: b.TempDir(), Services: simwire.Services()})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	if _, err := app.Host().Run(context.Background(), runtime.Script{Code: `const c = app.getElement("corps.B"); c.initCorp();
		c.setAdmin(c.getLocalCorpData().userList.slice(0, 3).map(u => u.memberId))`}); err != nil {
		b.Fatal(err)
	}
	// the net/http adapter listens on a port of its own: the API answers that Host too
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv, err := api.New(app, api.Options{Addr: "127.0.0.1:0", AllowHosts: []string{ln.Addr().String()}})
	if err != nil {
		b.Fatal(err)
	}
	srv.Listen()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)

	hs := &http.Server{Handler: srv.NetHTTPHandler()}
	go hs.Serve(ln)
	defer hs.Close()

	targets := []struct{ name, addr string }{{"fasthttp", srv.Addr()}, {"net_http", ln.Addr().String()}}
	// With wrk on the machine (Debian's package), the load comes from a second process
	// written in C, which leaves the servers more of the two cores than a Go client in this
	// process does. It runs twice: one request in flight per connection, and 16 pipelined
	// (HTTP/1.1), where fasthttp answers a batch with one write and net/http with one each.
	if wrk, err := exec.LookPath("wrk"); err == nil {
		dir := b.TempDir()
		plain := filepath.Join(dir, "post.lua")
		// a POST without Content-Type: application/json is refused as one a page could send
		os.WriteFile(plain, []byte(`wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"`), 0o644)
		piped := filepath.Join(dir, "pipeline.lua")
		os.WriteFile(piped, []byte(`init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, nil) end
  req = table.concat(r)
end
request = function() return req end`), 0o644)
		_, pinnable := exec.LookPath("taskset")
		for _, mode := range []struct {
			name, script string
			pinned       bool
		}{{"wrk", plain, false}, {"wrk_pipelined16", piped, false}, {"wrk_pinned", plain, true}} {
			if mode.pinned && (pinnable != nil || goruntime.NumCPU() < 2) {
				continue
			}
			for _, c := range targets {
				b.Run(mode.name+"/"+c.name, func(b *testing.B) {
					cmd := []string{wrk, "-t1", "-c32", "-d5s", "-s", mode.script, "http://" + c.addr + "/api/elements/corps.B/getAdmin"}
					if mode.pinned {
						// one core each: wrk on CPU 0, every thread of this server on CPU 1
						restore := pinProcess(1)
						defer restore()
						cmd = append([]string{"taskset", "-c", "0"}, cmd...)
					}
					cpu0 := serverCPU()
					out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
					cpu := serverCPU() - cpu0
					if err != nil {
						b.Fatalf("%v\n%s", err, out)
					}
					m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
					if m == nil || strings.Contains(string(out), "Non-2xx") {
						b.Fatalf("wrk:\n%s", out)
					}
					rps, _ := strconv.ParseFloat(string(m[1]), 64)
					b.ReportMetric(rps, "req/s")
					// The server's own CPU per request (this process; wrk has its own): on two
					// cores shared with the load generator, the fairer measure of the server.
					b.ReportMetric(float64(cpu.Microseconds())/(rps*5), "server_cpu_us/req")
					b.ReportMetric(rps*5/cpu.Seconds(), "req/s_per_server_core")
				})
			}
		}
	} else {
		b.Log("wrk is not installed (apt-get install wrk): only the in-process Go client measures")
	}
	for _, c := range targets {
		b.Run("goclient/"+c.name, func(b *testing.B) {
			const workers = 16
			client := &fasthttp.HostClient{Addr: c.addr, MaxConns: workers}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
					defer fasthttp.ReleaseRequest(req)
					defer fasthttp.ReleaseResponse(resp)
					req.SetRequestURI("http://" + c.addr + "/api/elements/corps.B/getAdmin")
					req.Header.SetMethod("POST")
					req.Header.SetContentType("application/json")
					for next.Add(1) <= int64(b.N) {
						if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
							b.Errorf("%v %d %s", err, resp.StatusCode(), resp.Body())
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
