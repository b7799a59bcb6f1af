// Package pgtest starts throwaway PostgreSQL servers for tests: a cluster made with initdb
// in a temp dir, on a free loopback port; one per test package with a database per test,
// or a server of a test's own. Tests need nothing running beforehand; with CI=true a
// missing PostgreSQL fails the test, else it skips with how to install it.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Binaries finds initdb and pg_ctl: on PATH, else in Debian's /usr/lib/postgresql/*/bin.
func Binaries() (initdb, pgCtl string, ok bool) {
	if i, err := exec.LookPath("initdb"); err == nil {
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			return i, p, true
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "pg_ctl")
		if _, err := os.Stat(i); err == nil {
			if _, err := os.Stat(p); err == nil {
				return i, p, true
			}
		}
	}
	return "", "", false
}

func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// nobody is the user a root test process runs PostgreSQL as (it refuses to run as root).
const nobody = 65534

// Start starts a server of the test's own and returns the URL of its "postgres" database.
// A test that stops, restarts or reconfigures the server needs its own; the others take a
// database of the package's one server (Database).
func Start(t testing.TB) string {
	t.Helper()
	needBinaries(t)
	url, stop, err := startServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url
}

// StartStoppable is Start with the server's stop in the test's hands too (it stops once,
// when called or when the test ends).
func StartStoppable(t testing.TB) (url string, stop func()) {
	t.Helper()
	s := StartServer(t)
	return s.URL, sync.OnceFunc(s.Close)
}

// Server is a PostgreSQL server of a test's own that the test may stop, start again and
// restart, as an operator would, on the same port and data (the URL stays good).
type Server struct {
	URL   string
	pgCtl func(args ...string) *exec.Cmd
	data  string
	dir   string
	port  int
	once  sync.Once
}

// StartServer starts a server of the test's own, removed when the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	needBinaries(t)
	s, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Stop stops the server as pg_ctl stop does (-m fast: every session is ended, the data
// kept), returning once it is down.
func (s *Server) Stop() error { return s.run("-m", "fast", "-w", "stop") }

// Start starts the stopped server again, returning once it takes connections.
func (s *Server) Start() error {
	return s.run("-l", filepath.Join(s.dir, "log"), "-w", "-t", "180", "start", "-o", s.options())
}

// Restart is pg_ctl restart (-m fast).
func (s *Server) Restart() error {
	return s.run("-l", filepath.Join(s.dir, "log"), "-m", "fast", "-w", "-t", "180", "restart", "-o", s.options())
}

// TerminateAll ends every other session of the server (pg_terminate_backend), as an
// operator or a failover does, and says how many it ended.
func (s *Server) TerminateAll(ctx context.Context) (int, error) {
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND backend_type = 'client backend') AS t`).Scan(&n)
	return n, err
}

// Close stops the server at once and removes its files (once).
func (s *Server) Close() {
	s.once.Do(func() {
		s.pgCtl("-D", s.data, "-m", "immediate", "-w", "stop").Run()
		os.RemoveAll(s.dir)
	})
}

func (s *Server) run(args ...string) error {
	if out, err := s.pgCtl(append([]string{"-D", s.data}, args...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: pg_ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (s *Server) options() string {
	return fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", s.port, s.dir)
}

// needBinaries skips the test (or, with CI=true, fails it) without PostgreSQL.
func needBinaries(t testing.TB) {
	t.Helper()
	if _, _, ok := Binaries(); !ok {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it")
		}
		t.Skip("PostgreSQL is not installed: apt-get install postgresql (the tests start their own server)")
	}
}

// shared is the package's one server, started by the first Database and stopped by Main.
var shared struct {
	mu   sync.Mutex
	url  string
	stop func()
	err  error
	n    int
}

// Database returns the URL of a new, empty database on the test package's one server,
// started on first use: one server per package, not one per test. The package's TestMain
// must end with Main, which stops it.
func Database(t testing.TB) string {
	t.Helper()
	needBinaries(t)
	shared.mu.Lock()
	if shared.url == "" && shared.err == nil {
		shared.url, shared.stop, shared.err = startServer()
	}
	base, err := shared.url, shared.err
	shared.n++
	name := fmt.Sprintf("test_%d", shared.n)
	shared.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to the package's server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	return strings.Replace(base, "/postgres?", "/"+name+"?", 1)
}

// Main runs the package's tests and stops the server Database started: a TestMain is
// func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.stop != nil {
		shared.stop()
		shared.stop, shared.url = nil, ""
	}
	return code
}

// startServer makes a cluster in a temp dir and starts it on a free loopback port.
func startServer() (url string, stop func(), err error) {
	s, err := newServer()
	if err != nil {
		return "", nil, err
	}
	return s.URL, s.Close, nil
}

// newServer makes a cluster in a temp dir and starts it on a free loopback port.
func newServer() (*Server, error) {
	initdb, pgCtl, _ := Binaries()
	dir, err := os.MkdirTemp("", "jitrt-pg-")
	if err != nil {
		return nil, err
	}
	asRoot := os.Getuid() == 0
	if asRoot {
		os.Chown(dir, nobody, nobody)
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		if asRoot {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
		return cmd
	}
	s := &Server{dir: dir, data: filepath.Join(dir, "data"), pgCtl: func(args ...string) *exec.Cmd { return command(pgCtl, args...) }}
	if out, err := command(initdb, "-D", s.data, "-U", "jitrt", "--auth=trust", "-E", "UTF8", "--no-locale").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.Close()
		return nil, err
	}
	s.URL = fmt.Sprintf("postgres://jitrt@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Connect is a connection of the test's own to the database at url, closed when the test
// ends (a test reading or damaging a schema's rows behind the store's back).
func Connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Exec runs sql on the database at url, on a connection of its own (a benchmark setting a
// schema's state between timed steps).
func Exec(t testing.TB, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}
