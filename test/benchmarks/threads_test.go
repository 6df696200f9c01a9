package benchmarks

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"bufferzone.dev/test/e2e/runsctest"
)

// buildThreads compiles testdata/threads.c statically.
func buildThreads(b *testing.B) string {
	b.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		b.Skip("gcc not installed")
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", "threads.c")
	out := filepath.Join(b.TempDir(), "threads")
	if msg, err := exec.Command("gcc", "-O2", "-static", "-pthread", "-o", out, src).CombinedOutput(); err != nil {
		b.Fatalf("gcc: %v\n%s", err, msg)
	}
	return out
}

// benchThreads runs the threads program in mode with n iterations,
// natively and on each required platform, and reports ns per iteration.
func benchThreads(b *testing.B, mode, n, metric string) {
	prog := buildThreads(b)
	runsc := runsctest.RequireDo(b)
	for _, p := range append([]string{"native"}, runsctest.Platforms()...) {
		if p != "native" && !runsctest.Required(p) {
			continue
		}
		b.Run(p, func(b *testing.B) {
			var total float64
			for i := 0; i < b.N; i++ {
				argv := []string{prog, mode, n}
				if p != "native" {
					argv = runsctest.DoArgv(runsc, []string{"--platform=" + p}, nil, argv)
				}
				ns, err := strconv.ParseFloat(run(b, argv), 64)
				if err != nil {
					b.Fatal(err)
				}
				total += ns
			}
			b.ReportMetric(total/float64(b.N), metric)
		})
	}
}

// BenchmarkThreadCreateJoin reports pthread_create+pthread_join cost.
func BenchmarkThreadCreateJoin(b *testing.B) { benchThreads(b, "create", "200", "ns/create+join") }

// BenchmarkFutexPingPong reports a futex round trip between two threads.
func BenchmarkFutexPingPong(b *testing.B) { benchThreads(b, "pingpong", "2000", "ns/roundtrip") }
