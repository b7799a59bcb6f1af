package api_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/jitrt/jitrt/api"
	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/runtime"
)

// loadClientEnv names, for the test binary run again as a load generator, the address and
// the number of requests (TestLoadClient).
const loadClientEnv = "JITRT_LOAD_CLIENT"

// loadClientCPUEnv, when set, is the CPU the load generator keeps to.
const loadClientCPUEnv = "JITRT_LOAD_CLIENT_CPU"

// TestLoadClient is a load generator in a process of its own (BenchmarkGetAdminBesideBareFasthttp
// runs this binary again with loadClientEnv): 16 keep-alive connections POSTing the path
// until N requests are answered 200. Skipped otherwise.
func TestLoadClient(t *testing.T) {
	spec := os.Getenv(loadClientEnv)
	if spec == "" {
		t.Skip("the benchmark's load generator")
	}
	addr, rest, _ := strings.Cut(spec, " ")
	path, nStr, _ := strings.Cut(rest, " ")
	n, _ := strconv.ParseInt(nStr, 10, 64)
	if cpu := os.Getenv(loadClientCPUEnv); cpu != "" {
		c, _ := strconv.Atoi(cpu)
		defer pinProcess(c)()
	}
	const workers = 16
	client := &fasthttp.HostClient{Addr: addr, MaxConns: workers}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + addr + path)
			req.Header.SetMethod("POST")
			req.Header.SetContentType("application/json")
			for next.Add(1) <= n {
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					t.Errorf("%v %d %s", err, resp.StatusCode(), resp.Body())
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkGetAdminBesideBareFasthttp is the server's CPU per request of a cheap read
// (getAdmin through the HTTP API: routing, the call path, the method, JSON) beside a bare
// fasthttp handler that writes the very same bytes (status, headers, body) on a server set
// as the API's, both in this
// process, driven by the same load generator in a process of its own (so this process's
// CPU is the servers' alone), in one run, three rounds each, interleaved.
func BenchmarkGetAdminBesideBareFasthttp(b *testing.B) {
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
	srv, err := api.New(app, api.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	srv.Listen()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	const path = "/api/elements/corps.B/getAdmin"

	// the API's answer, byte for byte, for the bare handler to write
	var status int
	var body []byte
	var headers [][2]string
	{
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + srv.Addr() + path)
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		if err := fasthttp.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("getAdmin: %v %d", err, resp.StatusCode())
		}
		status, body = resp.StatusCode(), append([]byte(nil), resp.Body()...)
		for k, v := range resp.Header.All() {
			switch string(k) {
			case "Date", "Server", "Content-Length", "Connection":
				continue
			}
			headers = append(headers, [2]string{string(k), string(v)})
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	// the API's server settings (timeouts, no Server and Date headers): the handler is what
	// differs
	bare := &fasthttp.Server{ReadTimeout: 30 * time.Second, WriteTimeout: 10 * time.Minute, IdleTimeout: 2 * time.Minute,
		NoDefaultServerHeader: true, NoDefaultDate: true, DisableHeaderNamesNormalizing: true, Handler: func(c *fasthttp.RequestCtx) {
			c.SetStatusCode(status)
			for _, h := range headers {
				c.Response.Header.Set(h[0], h[1])
			}
			c.SetBody(body)
		}}
	go bare.Serve(ln)
	defer bare.Shutdown()

	// With two CPUs or more, the servers keep to CPU 1 and the load generator to CPU 0: on
	// two cores shared freely, where the scheduler puts the two processes moves a server's
	// CPU a request by a third from run to run, more than the handlers differ.
	var clientEnv []string
	if goruntime.NumCPU() >= 2 {
		defer pinProcess(1)()
		clientEnv = []string{loadClientCPUEnv + "=0"}
	}
	const n = 200_000
	load := func(addr string) time.Duration {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLoadClient$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", loadClientEnv, addr, path, n))
		cmd.Env = append(cmd.Env, clientEnv...)
		cpu0 := serverCPU()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("the load generator: %v\n%s", err, out)
		}
		return serverCPU() - cpu0
	}
	load(srv.Addr()) // warm both up
	load(ln.Addr().String())
	var apiPer, barePer []float64
	for range 3 {
		apiPer = append(apiPer, float64(load(srv.Addr()).Nanoseconds())/n/1000)
		barePer = append(barePer, float64(load(ln.Addr().String()).Nanoseconds())/n/1000)
	}
	med := func(v []float64) float64 {
		s := append([]float64(nil), v...)
		for i := range s {
			for j := i + 1; j < len(s); j++ {
				if s[j] < s[i] {
					s[i], s[j] = s[j], s[i]
				}
			}
		}
		return s[len(s)/2]
	}
	fmt.Printf("getAdmin over the API: %.1f µs of server CPU a request (%v); a bare fasthttp handler writing the same %d bytes: %.1f µs (%v); %.2fx\n",
		med(apiPer), apiPer, len(body), med(barePer), barePer, med(apiPer)/med(barePer))
	b.ReportMetric(med(apiPer), "api_server_cpu_us/req")
	b.ReportMetric(med(barePer), "bare_server_cpu_us/req")
	b.ReportMetric(med(apiPer)/med(barePer), "api/bare")
}
