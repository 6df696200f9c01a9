package runtimes

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"bufferzone.dev/test/e2e/runsctest"
)

// pgStart initializes a cluster in /tmp/pgdata and starts the server with
// its Unix socket in /tmp and TCP on 127.0.0.1; on failure it prints the
// logs to stderr. The image's dash runs it, as the postgres user.
const pgStart = `set -e
cd /tmp
trap 'echo "--- initdb.log"; cat /tmp/initdb.log; echo "--- pg.log"; cat /tmp/pg.log' EXIT
: > /tmp/pg.log
initdb -D /tmp/pgdata -N -A trust -U postgres > /tmp/initdb.log 2>&1
echo initdb ok
pg_ctl -D /tmp/pgdata -l /tmp/pg.log -o "-k /tmp -c listen_addresses=127.0.0.1" -w -t 60 start > /dev/null
echo started
psql -h /tmp -At -c 'select 1' postgres
psql -h 127.0.0.1 -At -c 'select 2' postgres
`

// pgStop stops the server and disarms pgStart's trap.
const pgStop = `pg_ctl -D /tmp/pgdata -w -t 60 stop > /dev/null
echo stopped
trap - EXIT
`

// pgbenchScript is the whole pgbench run: a bench database at scale 1, then
// pgbench for the given seconds with 4 clients and 2 threads over the Unix
// socket and then over TCP.
func pgbenchScript(seconds int) string {
	return pgStart + fmt.Sprintf(`createdb -h /tmp bench
pgbench -h /tmp -i -s 1 -q bench > /tmp/init.log 2>&1 || { cat /tmp/init.log >&2; exit 1; }
echo pgbench-init ok
echo "--- unix"
pgbench -h /tmp -c 4 -j 2 -T %[1]d bench
echo "--- tcp"
pgbench -h 127.0.0.1 -c 4 -j 2 -T %[1]d bench
`, seconds) + pgStop
}

// TestPostgresSmoke is the short check that CI runs: initdb, pg_ctl start,
// psql over the Unix socket and TCP, pg_ctl stop, as the postgres user.
func TestPostgresSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Postgres smoke test takes about 30 s per platform")
	}
	img := RequireImage(t, "postgres")
	for _, p := range platforms() {
		t.Run(p, func(t *testing.T) {
			got := Compare(t, "postgres/smoke", p, Run{Image: img, User: img.UID(t, "postgres"),
				Argv: []string{"/bin/sh", "-c", pgStart + pgStop}, Timeout: 3 * time.Minute})
			if got.Status == 0 && !strings.Contains(string(got.Stdout), "\n1\n2\nstopped") {
				t.Errorf("unexpected output:\n%s", got.Stdout)
			}
		})
	}
}

// TestPostgresInitdbConfig compares the settings initdb chooses by probing
// the system (the image has no grep or sed: the shell filters).
func TestPostgresInitdbConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: initdb takes several seconds per platform")
	}
	img := RequireImage(t, "postgres")
	script := `cd /tmp && initdb -D /tmp/pgdata -N -A trust -U postgres > /dev/null
while read -r l; do
  case "$l" in dynamic_shared_memory_type*|shared_buffers*|max_connections*|max_wal_size*|timezone*|lc_messages*) echo "$l";; esac
done < /tmp/pgdata/postgresql.conf`
	for _, p := range platforms() {
		t.Run(p, func(t *testing.T) {
			Compare(t, "postgres/initdb-config", p, Run{Image: img, User: img.UID(t, "postgres"),
				Argv: []string{"/bin/sh", "-c", script}, Timeout: 3 * time.Minute})
		})
	}
}

// pgbenchResult is what one pgbench run printed.
type pgbenchResult struct {
	tps       float64
	processed int
	failed    int
}

var (
	tpsRE       = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	processedRE = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
	failedRE    = regexp.MustCompile(`number of failed transactions: ([0-9]+)`)
)

// parsePgbench returns the unix and tcp results from pgbenchScript's output.
func parsePgbench(out string) (unix, tcp pgbenchResult, err error) {
	_, after, ok := strings.Cut(out, "--- unix\n")
	if !ok {
		return unix, tcp, fmt.Errorf("no unix run in output")
	}
	u, tc, ok := strings.Cut(after, "--- tcp\n")
	if !ok {
		return unix, tcp, fmt.Errorf("no tcp run in output")
	}
	parse := func(s string) (pgbenchResult, error) {
		var r pgbenchResult
		m := tpsRE.FindStringSubmatch(s)
		p := processedRE.FindStringSubmatch(s)
		f := failedRE.FindStringSubmatch(s)
		if m == nil || p == nil {
			return r, fmt.Errorf("no tps or transaction count in %q", s)
		}
		r.tps, _ = strconv.ParseFloat(m[1], 64)
		r.processed, _ = strconv.Atoi(p[1])
		if f != nil {
			r.failed, _ = strconv.Atoi(f[1])
		}
		return r, nil
	}
	if unix, err = parse(u); err != nil {
		return
	}
	tcp, err = parse(tc)
	return
}

// pgbenchSeconds is how long each pgbench run lasts: $BZ_PGBENCH_SECONDS,
// 10 by default.
func pgbenchSeconds() int {
	if n, err := strconv.Atoi(os.Getenv("BZ_PGBENCH_SECONDS")); err == nil && n > 0 {
		return n
	}
	return 10
}

// TestPostgresPgbench runs the whole pgbench workload natively and in the
// sandbox (BZ_RUNTIMES=1 only: over a minute per platform). Both must
// finish with transactions processed and none failed; throughput is logged
// (BenchmarkPgbench reports it as a metric).
func TestPostgresPgbench(t *testing.T) {
	if !Enabled() {
		t.Skip("set BZ_RUNTIMES=1 to run pgbench (over a minute per platform)")
	}
	img := RequireImage(t, "postgres")
	secs := pgbenchSeconds()
	run := Run{Image: img, User: img.UID(t, "postgres"), Argv: []string{"/bin/sh", "-c", pgbenchScript(secs)},
		Timeout: time.Duration(3*secs)*time.Second + 90*time.Second}
	native := run.Native(t)
	nu, nt, err := parsePgbench(string(native.Stdout))
	if native.Status != 0 || err != nil {
		t.Fatalf("pgbench natively: %v (%v)", err, native)
	}
	t.Logf("native: unix %.0f tps, tcp %.0f tps", nu.tps, nt.tps)
	for _, p := range platforms() {
		t.Run(p, func(t *testing.T) {
			logDir := t.TempDir()
			got := run.Sandbox(t, p, logDir)
			if u := Unimplemented(logDir); len(u) > 0 {
				t.Logf("unimplemented system calls: %s", strings.Join(u, " "))
			}
			su, st, err := parsePgbench(string(got.Stdout))
			ok := got.Status == 0 && err == nil && su.processed > 0 && st.processed > 0 && su.failed == 0 && st.failed == 0
			known, isKnown := knownFor("postgres/pgbench", p)
			switch {
			case ok && isKnown:
				// The hang is a race: a pass is not yet a fix.
				t.Logf("postgres/pgbench passed on %s despite KnownFailures (%s): unix %.0f tps, tcp %.0f tps",
					p, known.Reason, su.tps, st.tps)
			case ok:
				t.Logf("%s: unix %.0f tps (%.2f of native), tcp %.0f tps (%.2f of native)", p,
					su.tps, su.tps/nu.tps, st.tps, st.tps/nt.tps)
			case isKnown:
				t.Skipf("known failure: %s\n%v", known.Reason, got)
			default:
				t.Errorf("pgbench in the sandbox: %v (%v)", err, got)
			}
		})
	}
}

// BenchmarkPgbench reports pgbench's throughput (-c 4 -j 2, scale 1, for
// BZ_PGBENCH_SECONDS, 10 by default) over the Unix socket and over TCP
// loopback, natively (chroot) and in the sandbox on each platform:
//
//	sudo go test ./test/runtimes -run '^$' -bench Pgbench -benchtime 1x
func BenchmarkPgbench(b *testing.B) {
	img := RequireImage(b, "postgres")
	secs := pgbenchSeconds()
	run := Run{Image: img, User: img.UID(b, "postgres"), Argv: []string{"/bin/sh", "-c", pgbenchScript(secs)},
		Timeout: time.Duration(2*secs)*time.Second + 5*time.Minute}
	for _, p := range append([]string{"native"}, platforms()...) {
		b.Run(p, func(b *testing.B) {
			var unixTPS, tcpTPS float64
			for i := 0; i < b.N; i++ {
				var r runsctest.Result
				if p == "native" {
					r = run.Native(b)
				} else {
					r = run.Sandbox(b, p, b.TempDir())
				}
				u, tc, err := parsePgbench(string(r.Stdout))
				if r.Status != 0 || err != nil {
					b.Fatalf("pgbench: %v (%v)", err, r)
				}
				unixTPS += u.tps
				tcpTPS += tc.tps
			}
			b.ReportMetric(unixTPS/float64(b.N), "tps-unix")
			b.ReportMetric(tcpTPS/float64(b.N), "tps-tcp")
		})
	}
}
