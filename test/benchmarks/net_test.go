package benchmarks

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"bufferzone.dev/test/e2e/runsctest"
)

// networks are the --network modes the network benchmarks compare.
var networks = []string{"none", "sandbox", "host"}

// buildNetLoop compiles testdata/net_loop.c statically.
func buildNetLoop(b *testing.B) string {
	b.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		b.Skip("gcc not installed")
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", "net_loop.c")
	out := filepath.Join(b.TempDir(), "net_loop")
	if msg, err := exec.Command("gcc", "-O2", "-static", "-o", out, src).CombinedOutput(); err != nil {
		b.Fatalf("gcc: %v\n%s", err, msg)
	}
	return out
}

// benchNetLoop runs `net_loop mode n` natively and, in the same iteration,
// in the sandbox with each network mode on each required platform, and
// reports the mean per iteration in µs both ways and the ratio
// sandbox/native. With chunk set (streams of 64 KiB writes) it also
// reports MB/s and the sandbox's throughput as a fraction of native.
func benchNetLoop(b *testing.B, mode, n string, chunk bool) {
	prog := buildNetLoop(b)
	runsc := runsctest.RequireDo(b)
	measure := func(b *testing.B, argv []string) float64 {
		ns, err := strconv.ParseFloat(run(b, argv), 64)
		if err != nil {
			b.Fatal(err)
		}
		return ns / 1e3
	}
	for _, p := range runsctest.Platforms() {
		if !runsctest.Required(p) {
			continue
		}
		for _, network := range networks {
			b.Run(p+"/"+network, func(b *testing.B) {
				var native, sandbox float64
				for i := 0; i < b.N; i++ {
					argv := []string{prog, mode, n}
					native += measure(b, argv)
					global := []string{"--platform=" + p, "--network=" + network}
					sandbox += measure(b, runsctest.DoArgv(runsc, global, nil, argv))
				}
				native /= float64(b.N)
				sandbox /= float64(b.N)
				b.ReportMetric(native, "native-µs")
				b.ReportMetric(sandbox, "µs")
				b.ReportMetric(sandbox/native, "ratio")
				if chunk {
					const mb = 64 << 10 / 1e6
					b.ReportMetric(mb/(sandbox/1e6), "MB/s")
					b.ReportMetric(mb/(native/1e6), "native-MB/s")
					b.ReportMetric(native/sandbox, "of-native")
				}
			})
		}
	}
}

// BenchmarkUnixPingPong reports a one-byte round trip between two
// processes over a Unix stream socketpair.
func BenchmarkUnixPingPong(b *testing.B) { benchNetLoop(b, "unixpp", "2000", false) }

// BenchmarkPipeStream reports 64 KiB writes through a pipe to another
// process (per 64 KiB, and MB/s).
func BenchmarkPipeStream(b *testing.B) { benchNetLoop(b, "pipestream", "2000", true) }

// BenchmarkUnixStream reports 64 KiB writes over a Unix stream socketpair.
func BenchmarkUnixStream(b *testing.B) { benchNetLoop(b, "unixstream", "2000", true) }

// BenchmarkTCPStream reports 64 KiB writes over a TCP connection on
// 127.0.0.1 between two processes (the target is 30% of native MB/s).
func BenchmarkTCPStream(b *testing.B) { benchNetLoop(b, "tcpstream", "2000", true) }

// BenchmarkTCPConnect reports connect, accept and close of both ends on
// 127.0.0.1 (per connection).
func BenchmarkTCPConnect(b *testing.B) { benchNetLoop(b, "tcpconn", "300", false) }
