package corps_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/pgtest"
	"github.com/jitrt/jitrt/internal/simwire"
	"github.com/jitrt/jitrt/runtime"
)

// startSimProcess builds jitrt and runs its emulator in a process of its own.
func startSimProcess(b *testing.B, members, depts int) (url string, stop func()) {
	bin := filepath.Join(b.TempDir(), "jitrt")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/jitrt/jitrt/cmd/jitrt").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "wecom-sim", "--corp-id", "wwbench", "--secret", "bench-secret",
		"--members", strconv.Itoa(members), "--departments", strconv.Itoa(depts), "--seed", "1")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		b.Fatal(err)
	}
	return strings.Fields(line)[3], func() { cmd.Process.Kill(); cmd.Wait() }
}

// peakRSS is the process's resident-set high-water mark in MiB (VmHWM). The emulator runs
// in a process of its own (jitrt wecom-sim), so this is the sync's own memory.
func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(sc.Text())[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkSync measures a first sync and a no-change re-sync of an org against the
// emulator over loopback, with the state in the state file and in PostgreSQL (a schema
// shared as jitrt run shares it: the sync leads, its write takes the cluster's lock), in
// the same run.
func BenchmarkSync(b *testing.B) {
	// PostgreSQL beside the file, where it is installed (with CI=true it must be)
	pgURL, stores := "", []string{"file"}
	if _, _, ok := pgtest.Binaries(); ok || os.Getenv("CI") == "true" {
		pgURL, stores = pgtest.Start(b), append(stores, "postgres")
	} else {
		b.Log("PostgreSQL is not installed (apt-get install postgresql): the state file only")
	}
	for _, size := range []struct{ members, depts int }{{10_000, 1_000}, {100_000, 5_000}} {
		simURL, stop := startSimProcess(b, size.members, size.depts)
		appDir := b.TempDir()
		os.MkdirAll(filepath.Join(appDir, "corps/B"), 0o755)
		os.WriteFile(filepath.Join(appDir, "corps/B/e.json"), []byte(`{"title": "B", "type": "corps.QywxInnerType"}`), 0o644)
		os.WriteFile(filepath.Join(appDir, "corps/B/B.json"), []byte(fmt.Sprintf(
			`{"corpId": "wwbench", "agentId": "1", "secret": "bench-secret", "apiBase": %q}`, simURL)), 0o644)
		schemas := 0
		for _, store := range stores {
			// where is a fresh place for a state: a data folder, or a schema
			type where struct{ data, schema string }
			fresh := func(b *testing.B) where {
				if store == "file" {
					return where{data: b.TempDir()}
				}
				schemas++
				return where{data: b.TempDir(), schema: fmt.Sprintf("bench_%d_%d", size.members, schemas)}
			}
			load := func(b *testing.B, w where) *runtime.App {
				opts := runtime.Options{DataDir: w.data, Services: simwire.Services()}
				if w.schema != "" {
					opts.Store, opts.StoreSchema = pgURL, w.schema
				}
				app, err := runtime.Load(context.Background(), appDir, opts)
				if err != nil {
					b.Fatal(err)
				}
				return app
			}
			sync := func(b *testing.B, app *runtime.App, method string, wantAdded bool) {
				res, err := app.CallJSON(context.Background(), "corps.B", method, nil)
				if err != nil {
					b.Fatal(err)
				}
				if rep, ok := res.(map[string]any); ok && (rep["added"].(float64) > 0) != wantAdded {
					b.Fatalf("report %v", rep)
				}
			}
			// timed times a sync in a freshly loaded app, loading and closing untimed
			timed := func(b *testing.B, w where, method string, wantAdded bool) {
				b.StopTimer()
				app := load(b, w)
				b.StartTimer()
				sync(b, app, method, wantAdded)
				b.StopTimer()
				app.Close()
				b.StartTimer()
			}
			name := fmt.Sprintf("members=%d/departments=%d/store=%s", size.members, size.depts, store)
			b.Run(name+"/first", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					timed(b, fresh(b), "initCorp", true)
				}
				b.ReportMetric(peakRSS(), "peakRSS_MiB")
			})
			// Each re-sync runs in a freshly loaded app, as a scheduled sync starts with an idle
			// rate limiter: back to back in one process, a 5,000-department org is rightly paced
			// by the client's limit of 9,500 user/list calls a minute. In PostgreSQL the limit
			// is the replicas' budget, kept in the schema: its minute is let pass (emptied).
			b.Run(name+"/resync", func(b *testing.B) {
				w := fresh(b)
				app := load(b, w)
				sync(b, app, "initCorp", true)
				app.Close()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if w.schema != "" {
						b.StopTimer()
						emptyBudget(b, pgURL, w.schema)
						b.StartTimer()
					}
					timed(b, w, "syncCorp", false)
				}
				b.ReportMetric(peakRSS(), "peakRSS_MiB")
			})
		}
		stop()
	}
}

// emptyBudget forgets the calls counted in schema's budget, as a minute passing would.
func emptyBudget(b *testing.B, pgURL, schema string) {
	pgtest.Exec(b, pgURL, "DELETE FROM "+pgx.Identifier{schema, "budget"}.Sanitize())
}

// BenchmarkGetMemberRoles reads the effective roles of members of a 100,000-member,
// 5,000-department org, through the app's call path, with roles granted to a department
// at each level of the tree, direct roles and admins.
func BenchmarkGetMemberRoles(b *testing.B) {
	appDir := b.TempDir()
	os.MkdirAll(filepath.Join(appDir, "corps/R"), 0o755)
	os.WriteFile(filepath.Join(appDir, "corps/R/e.json"), []byte(`{"title": "R", "type": "corps.QywxInnerType"}`), 0o644)
	os.WriteFile(filepath.Join(appDir, "corps/R/R.json"), []byte(`{"corpId": "wwroles", "agentId": "1", "secret": "s",
		"roles": [{"roleId": "admin"}, {"roleId": "member"}, {"roleId": "finance"}, {"roleId": "hr"}],
		"simulator": {"members": 100000, "departments": 5000, "seed": 4}}`), 0o644)
	app, err := runtime.Load(context.Background(), appDir, runtime.Options{DataDir: b.TempDir(), Services: simwire.Services()})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	ctx := context.Background()
	if _, err := app.CallJSON(ctx, "corps.R", "initCorp", nil); err != nil {
		b.Fatal(err)
	}
	res, err := app.Host().Run(ctx, runtime.Script{Code: `const c = app.getElement("corps.R"), d = c.getLocalCorpData();
		for (const dept of d.deptList) if (dept.deptId % 7 === 1) c.setDeptRole(dept.deptId, dept.deptId % 2 ? ["finance"] : ["hr"]);
		const ids = d.userList.map(u => u.memberId);
		for (let i = 0; i < ids.length; i += 1000) c.setUserRole(ids[i], ["member"]);
		c.setAdmin(ids.slice(0, 20));
		ids`})
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	jsonUnmarshal(res.JSON, &ids)
	held := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := app.Call(ctx, "corps.R", "getMemberRoles", elements.Args{"memberId": ids[(i*7919)%len(ids)]})
		if err != nil {
			b.Fatal(err)
		}
		held += len(r.([]any))
	}
	b.ReportMetric(float64(held)/float64(b.N), "roles/member")
}
