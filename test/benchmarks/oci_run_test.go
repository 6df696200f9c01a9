package benchmarks

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/test/e2e/runsctest"
)

// BenchmarkOCIRun reports the median wall time of `run` of a busybox
// bundle running /bin/true, create to delete, for runsc and (if
// installed) runc over the same bundle, and runsc's ratio to runc. The
// two runtimes alternate, so both see the same machine load. Each runtime
// keeps its state in its own --root on the same file system.
func BenchmarkOCIRun(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	runsc := runsctest.Binary(b)
	bundle := busyboxBundle(b, runsctest.StaticBusybox(b))
	runtimes := [][]string{{runsc}}
	if runc, err := exec.LookPath("runc"); err == nil {
		runtimes = append(runtimes, []string{runc})
	} else {
		b.Log("runc not installed: runsc only")
	}
	for j := range runtimes {
		// --root on the runtimes' usual file system (/run), not TempDir.
		root, err := os.MkdirTemp("/run", "bench-oci-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(root) })
		runtimes[j] = append(runtimes[j], "--root", root)
		oneRun(b, runtimes[j], bundle, "warmup") // page cache, first-use costs
	}
	ms := make([][]float64, len(runtimes))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, rt := range runtimes {
			d := oneRun(b, rt, bundle, fmt.Sprintf("b%d", i))
			ms[j] = append(ms[j], float64(d.Microseconds())/1000)
		}
	}
	b.StopTimer()
	runscMedian := median(ms[0])
	b.ReportMetric(runscMedian, "runsc-ms")
	if len(runtimes) > 1 {
		runcMedian := median(ms[1])
		b.ReportMetric(runcMedian, "runc-ms")
		b.ReportMetric(runscMedian/runcMedian, "runsc/runc")
	}
}

// oneRun runs container id from bundle with runtime argv rt and returns
// how long `run` took; it fails b unless the container exits 0.
func oneRun(b *testing.B, rt []string, bundle, id string) time.Duration {
	b.Helper()
	cmd := exec.Command(rt[0], append(append([]string(nil), rt[1:]...), "run", "--bundle", bundle, id)...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return d
}

// busyboxBundle makes an OCI bundle whose root holds only busybox (as
// /bin/busybox and /bin/true) and whose process is /bin/true without a
// terminal. Its spec is runsc spec's default, as runc spec's would be.
func busyboxBundle(b *testing.B, busybox string) string {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(bin, "true")); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(runsctest.Binary(b), "spec", "--bundle", dir).CombinedOutput(); err != nil {
		b.Fatalf("runsc spec: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "config.json")
	if data, err = os.ReadFile(cfg); err != nil {
		b.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		b.Fatal(err)
	}
	spec.Process.Terminal = false
	spec.Process.Args = []string{"/bin/true"}
	if data, err = json.Marshal(&spec); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}
