package benchmarks

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"bufferzone.dev/test/e2e/runsctest"
)

// buildClockLoop compiles testdata/clock_loop.c statically.
func buildClockLoop(b *testing.B) string {
	b.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		b.Skip("gcc not installed")
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", "clock_loop.c")
	out := filepath.Join(b.TempDir(), "clock_loop")
	if msg, err := exec.Command("gcc", "-O2", "-static", "-o", out, src).CombinedOutput(); err != nil {
		b.Fatalf("gcc: %v\n%s", err, msg)
	}
	return out
}

// BenchmarkClockGettime reports the mean cost of clock_gettime(CLOCK_MONOTONIC)
// natively and in the sandbox, through glibc ("libc": the vDSO) and as a raw
// system call ("syscall": what every call cost before the sandbox had a
// vDSO), in ns/call.
func BenchmarkClockGettime(b *testing.B) {
	loop := buildClockLoop(b)
	runsc := runsctest.RequireDo(b)
	for _, p := range append([]string{"native"}, runsctest.Platforms()...) {
		if p != "native" && !runsctest.Required(p) {
			continue
		}
		for _, mode := range []struct{ name, calls string }{{"libc", "1000000"}, {"syscall", "20000"}} {
			b.Run(p+"/"+mode.name, func(b *testing.B) {
				var total float64
				for i := 0; i < b.N; i++ {
					argv := []string{loop, mode.name, mode.calls}
					if p != "native" {
						argv = runsctest.DoArgv(runsc, []string{"--platform=" + p}, nil, argv)
					}
					ns, err := strconv.ParseFloat(run(b, argv), 64)
					if err != nil {
						b.Fatal(err)
					}
					total += ns
				}
				b.ReportMetric(total/float64(b.N), "ns/call")
			})
		}
	}
}
