package benchmarks

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"bufferzone.dev/test/e2e/runsctest"
)

// buildStatic compiles testdata/NAME.c statically (with extra gcc flags)
// and returns the program's path.
func buildStatic(b *testing.B, name string, flags ...string) string {
	b.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		b.Skip("gcc not installed")
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", name+".c")
	out := filepath.Join(b.TempDir(), name)
	args := append([]string{"-O2", "-static"}, flags...)
	if msg, err := exec.Command("gcc", append(args, "-o", out, src)...).CombinedOutput(); err != nil {
		b.Fatalf("gcc: %v\n%s", err, msg)
	}
	return out
}

// buildProcLoop compiles testdata/proc_loop.c statically.
func buildProcLoop(b *testing.B) string { return buildStatic(b, "proc_loop") }

// benchProcLoop runs `proc_loop mode n`; see benchLoop.
func benchProcLoop(b *testing.B, mode, n, unit string) {
	benchLoop(b, buildProcLoop(b), mode, n, unit)
}

// benchLoop runs `prog mode n` on each required platform and, in the same
// iteration, natively, so that the ratio compares runs made under the same
// host load. prog prints nanoseconds per loop iteration; benchLoop reports
// the mean in unit ("ms" or "µs"), natively and in the sandbox, and their
// ratio.
func benchLoop(b *testing.B, prog, mode, n, unit string) {
	runsc := runsctest.RequireDo(b)
	scale := 1e6 // ns per ms
	if unit == "µs" {
		scale = 1e3
	}
	measure := func(b *testing.B, argv []string) float64 {
		ns, err := strconv.ParseFloat(run(b, argv), 64)
		if err != nil {
			b.Fatal(err)
		}
		return ns / scale
	}
	for _, p := range runsctest.Platforms() {
		if !runsctest.Required(p) {
			continue
		}
		b.Run(p, func(b *testing.B) {
			var native, sandbox float64
			for i := 0; i < b.N; i++ {
				argv := []string{prog, mode, n}
				native += measure(b, argv)
				sandbox += measure(b, runsctest.DoArgv(runsc, []string{"--platform=" + p}, nil, argv))
			}
			native /= float64(b.N)
			sandbox /= float64(b.N)
			b.ReportMetric(native, "native-"+unit)
			b.ReportMetric(sandbox, unit)
			b.ReportMetric(sandbox/native, "ratio")
		})
	}
}

// BenchmarkForkExecWait reports one fork of a static program whose child
// execs /bin/true, waited for by the parent (a shell running a command).
func BenchmarkForkExecWait(b *testing.B) { benchProcLoop(b, "forkexec", "100", "ms") }

// BenchmarkForkExitWait reports one fork whose child exits at once, waited
// for by the parent: fork and exit without exec.
func BenchmarkForkExitWait(b *testing.B) { benchProcLoop(b, "forkexit", "200", "ms") }

// BenchmarkPipeWake reports a one-byte round trip between two processes
// over two pipes, each side blocking in read.
func BenchmarkPipeWake(b *testing.B) { benchProcLoop(b, "pipe", "2000", "µs") }

// BenchmarkEpollWake reports the same round trip with the first process
// blocking in epoll_wait before each read.
func BenchmarkEpollWake(b *testing.B) { benchProcLoop(b, "epoll", "2000", "µs") }
