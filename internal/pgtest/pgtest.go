// Package pgtest starts a throwaway PostgreSQL server for tests: a cluster made with initdb
// in a temp dir, on a free loopback port, stopped when the test ends. Tests need nothing
// running beforehand; with CI=true a missing PostgreSQL fails the test, else it skips with
// how to install it.
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
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

// Start starts a server for the test and returns the URL of its "postgres" database.
func Start(t testing.TB) string {
	t.Helper()
	initdb, pgCtl, ok := Binaries()
	if !ok {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it")
		}
		t.Skip("PostgreSQL is not installed: apt-get install postgresql (the tests start their own server)")
	}
	dir, err := os.MkdirTemp("", "jitrt-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	asRoot := os.Getuid() == 0
	if asRoot {
		os.Chown(dir, nobody, nobody)
	}
	run := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		if asRoot {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
		}
	}
	data := filepath.Join(dir, "data")
	run(initdb, "-D", data, "-U", "jitrt", "--auth=trust", "-E", "UTF8", "--no-locale")
	port := freePort(t)
	run(pgCtl, "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "30", "start",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=100", port, dir))
	t.Cleanup(func() {
		cmd := exec.Command(pgCtl, "-D", data, "-m", "immediate", "-w", "stop")
		if asRoot {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
		cmd.Run()
	})
	return fmt.Sprintf("postgres://jitrt@127.0.0.1:%d/postgres?sslmode=disable", port)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
