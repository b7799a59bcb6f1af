package api

import (
	"bytes"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/jitrt/jitrt/runtime"
)

// Metrics are the app's Prometheus metrics: HTTP requests, syncs and task runs (through
// elements.Observer), reloads, and JS runs.
type Metrics struct {
	reg *prometheus.Registry
	// byRoute is route+code → *routeMetrics, so that a request resolves no labels: a map
	// replaced whole under byRouteMu when a pair first comes (a few dozen pairs in a
	// process's life), read without a lock or an interface hash by every request
	byRoute   atomic.Pointer[map[routeKey]*routeMetrics]
	byRouteMu sync.Mutex
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	observed  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	reloads   *prometheus.CounterVec
	counts    *prometheus.CounterVec
}

// NewMetrics makes the metrics; pass it as the app's Observer and to the Server.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitrt_http_requests_total",
		Help: "HTTP API requests by route and status code."}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jitrt_http_request_duration_seconds",
		Help: "HTTP API request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"route"})
	m.observed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitrt_element_operations_total",
		Help: "Element operations (sync, task_run, task_skipped) by element and result."}, []string{"op", "element", "result"})
	m.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jitrt_element_operation_duration_seconds",
		Help: "Duration of element operations (sync, task_run).", Buckets: prometheus.ExponentialBuckets(0.01, 3, 10)}, []string{"op", "element"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitrt_reloads_total",
		Help: "Hot reloads by kind (add, reload, remove, error, app, scripts)."}, []string{"kind"})
	m.counts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitrt_element_counts_total",
		Help: "Counts kept by elements (sync_drift: changes a sync repaired that change events had missed)."}, []string{"name", "element"})
	m.reg.MustRegister(m.requests, m.latency, m.observed, m.durations, m.reloads, m.counts,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Observe records an element operation (elements.Observer).
func (m *Metrics) Observe(op, element string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.observed.WithLabelValues(op, element, result).Inc()
	if took > 0 {
		m.durations.WithLabelValues(op, element).Observe(took.Seconds())
	}
}

// Count adds to a count an element keeps (elements.Counter).
func (m *Metrics) Count(name, element string, n int) {
	m.counts.WithLabelValues(name, element).Add(float64(n))
}

// Reload records a hot reload (for runtime.WatchOptions.OnReload).
func (m *Metrics) Reload(ev runtime.ReloadEvent) { m.reloads.WithLabelValues(ev.Kind).Inc() }

// AttachFolderCheck exports jitrt_app_folder_differs: 1 while another replica on the same
// database runs an app folder that differs from this one's (differs is asked at each scrape).
func (m *Metrics) AttachFolderCheck(differs func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jitrt_app_folder_differs",
		Help: "1 while another replica sharing the database runs an app folder that differs from this replica's (see the log's warning), else 0."},
		func() float64 {
			if differs() {
				return 1
			}
			return 0
		}))
}

// AttachApp exports the app's JS run counters.
func (m *Metrics) AttachApp(app *runtime.App) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jitrt_js_runs_total", Help: "JavaScript runs."},
			func() float64 { r, _ := app.Host().Stats(); return float64(r) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jitrt_js_timeouts_total", Help: "JavaScript runs stopped at their time limit."},
			func() float64 { _, t := app.Host().Stats(); return float64(t) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jitrt_panics_total",
			Help: "Panics recovered (in a method, a script, a task, a reload, the watcher or an HTTP request); each was an error for its caller, and the process went on."},
			func() float64 { return float64(app.Panics()) }),
		leadership{app},
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jitrt_behind_checks_total",
			Help: "Requests for which this replica asked the database whether another had committed since (once per authorized request, with replicas on one database)."},
			func() float64 { return float64(app.Store().BehindChecks().Asked) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jitrt_behind_catch_ups_total",
			Help: "CatchUpIfBehind checks that found another replica's commits and caught up."},
			func() float64 { return float64(app.Store().BehindChecks().CaughtUp) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jitrt_behind_check_failures_total",
			Help: "CatchUpIfBehind checks the database did not answer (the request was served from memory, with X-Jitrt-Stale)."},
			func() float64 { return float64(app.Store().BehindChecks().Failed) }),
	)
}

// leadership exports, for each thing this process leads or follows among the processes that
// share the app's store (a corp's sync: "sync:corps.X"), whether it leads it now and how
// many of its callers wait for a leader now, and how often it led or shared another's result.
type leadership struct{ app *runtime.App }

var (
	leaderDesc = prometheus.NewDesc("jitrt_leader",
		"1 while this process leads the named work (sync:ELEMENT: a corp's sync) among the processes that share the app's store, else 0.", []string{"name"}, nil)
	waitingDesc = prometheus.NewDesc("jitrt_lead_waiting",
		"Callers in this process waiting now for the named work's leader (of this process or another) to share its result.", []string{"name"}, nil)
	leadsDesc = prometheus.NewDesc("jitrt_leads_total",
		"Runs of the named work this process led (role led) or waited for and shared (role followed).", []string{"name", "role"}, nil)
)

func (l leadership) Describe(ch chan<- *prometheus.Desc) {
	ch <- leaderDesc
	ch <- waitingDesc
	ch <- leadsDesc
}

func (l leadership) Collect(ch chan<- prometheus.Metric) {
	for _, ls := range l.app.Store().Leadership() {
		held := 0.0
		if ls.Holding {
			held = 1
		}
		ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, held, ls.Name)
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(ls.Waiting), ls.Name)
		ch <- prometheus.MustNewConstMetric(leadsDesc, prometheus.CounterValue, float64(ls.Led), ls.Name, "led")
		ch <- prometheus.MustNewConstMetric(leadsDesc, prometheus.CounterValue, float64(ls.Followed), ls.Name, "followed")
	}
}

type routeMetrics struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

type routeKey struct {
	route string
	code  int
}

func (m *Metrics) request(route string, code int, took time.Duration) {
	r := m.routeMetrics(routeKey{route, code})
	r.count.Inc()
	r.latency.Observe(took.Seconds())
}

func (m *Metrics) routeMetrics(k routeKey) *routeMetrics {
	if byRoute := m.byRoute.Load(); byRoute != nil {
		if r := (*byRoute)[k]; r != nil {
			return r
		}
	}
	m.byRouteMu.Lock()
	defer m.byRouteMu.Unlock()
	var old map[routeKey]*routeMetrics
	if p := m.byRoute.Load(); p != nil {
		if r := (*p)[k]; r != nil {
			return r
		}
		old = *p
	}
	r := &routeMetrics{count: m.requests.WithLabelValues(k.route, codeLabel(k.code)), latency: m.latency.WithLabelValues(k.route)}
	next := make(map[routeKey]*routeMetrics, len(old)+1)
	maps.Copy(next, old)
	next[k] = r
	m.byRoute.Store(&next)
	return r
}

func codeLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 400:
		return "400"
	case 401:
		return "401"
	case 404:
		return "404"
	case 409:
		return "409"
	case 413:
		return "413"
	case 500:
		return "500"
	}
	b := []byte{byte('0' + code/100), byte('0' + code/10%10), byte('0' + code%10)}
	return string(b)
}

// text renders the metrics in Prometheus's text format.
func (m *Metrics) text() ([]byte, error) {
	mfs, err := m.reg.Gather()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
