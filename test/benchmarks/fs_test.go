package benchmarks

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"bufferzone.dev/test/e2e/runsctest"
)

// File system benchmarks (program testdata/fs_loop.c), each iteration run
// natively and in the sandbox back to back on every required platform, so
// that host load affects both sides alike; the means over iterations are
// reported, with the ratio sandbox/native (for MB/s, above 1 is faster):
//
//   - BenchmarkOpenClose: open+close of a root file system file (a lower
//     file of the default overlay, served by the Gofer); median µs, and
//     as "floor-µs" two system calls that do nothing in the same sandbox
//     (under ptrace the traps cost most of the open+close).
//   - BenchmarkStatCached: stat of a path already looked up (the dentry
//     cache answers; no Gofer round trip); median µs.
//   - BenchmarkSeqRead: one sequential read of a 256 MiB host file through
//     the root file system, in 1 MiB reads; MB/s (the file is in the
//     host's page cache for both runs).
//   - BenchmarkWriteFsync: 256 MiB written in 1 MiB writes to a new file
//     in a bind-mounted host directory, then fsync; MB/s.

// fsBenchMiB is the size of the read and write benchmarks' files.
const fsBenchMiB = 256

// buildFSLoop compiles testdata/fs_loop.c statically.
func buildFSLoop(b *testing.B) string { return buildStatic(b, "fs_loop") }

// fsCase is one benchmark: the argv to run natively and, given the
// platform, in the sandbox; and how to turn the program's number (ns) into
// the metric reported.
type fsCase struct {
	native  []string
	sandbox func(runsc, platform string) []string
	metric  func(ns float64) float64
	unit    string
	// floor, if set, is a program measuring in the same unit what the
	// sandbox cannot go below (its system call cost), reported as
	// "floor-UNIT" beside the sandbox's number.
	floor []string
}

func benchFS(b *testing.B, c fsCase) {
	runsc := runsctest.RequireDo(b)
	measure := func(b *testing.B, argv []string) float64 {
		ns, err := strconv.ParseFloat(run(b, argv), 64)
		if err != nil {
			b.Fatal(err)
		}
		return c.metric(ns)
	}
	for _, p := range runsctest.Platforms() {
		if !runsctest.Required(p) {
			continue
		}
		b.Run(p, func(b *testing.B) {
			var native, sandbox, floor float64
			for i := 0; i < b.N; i++ {
				native += measure(b, c.native)
				sandbox += measure(b, c.sandbox(runsc, p))
				if c.floor != nil {
					floor += measure(b, doArgv(runsc, p, nil, c.floor...))
				}
			}
			native /= float64(b.N)
			sandbox /= float64(b.N)
			b.ReportMetric(native, "native-"+c.unit)
			b.ReportMetric(sandbox, c.unit)
			b.ReportMetric(sandbox/native, "ratio")
			if c.floor != nil {
				b.ReportMetric(floor/float64(b.N), "floor-"+c.unit)
			}
		})
	}
}

func medianUS(ns float64) float64 { return ns / 1e3 }

func throughputMBs(ns float64) float64 { return fsBenchMiB * (1 << 20) / 1e6 / (ns / 1e9) }

// rootfsFile returns a file of the host's root that the sandbox sees
// through its root file system (runsc do's root is the host's).
func rootfsFile(b *testing.B) string {
	for _, p := range []string{"/etc/passwd", "/etc/hostname", "/etc/os-release"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	b.Skip("no /etc/passwd, /etc/hostname or /etc/os-release on the host")
	return ""
}

func doArgv(runsc, platform string, doFlags []string, argv ...string) []string {
	return runsctest.DoArgv(runsc, []string{"--platform=" + platform}, doFlags, argv)
}

// BenchmarkOpenClose reports the median open+close of a root file system
// file in µs, natively and in the sandbox.
func BenchmarkOpenClose(b *testing.B) {
	prog, f := buildFSLoop(b), rootfsFile(b)
	benchFS(b, fsCase{
		native:  []string{prog, "openclose", f, "5000"},
		sandbox: func(r, p string) []string { return doArgv(r, p, nil, prog, "openclose", f, "5000") },
		metric:  medianUS, unit: "µs",
		floor: []string{prog, "twocalls", "-", "5000"},
	})
}

// BenchmarkStatCached reports the median stat of a looked-up path in µs.
func BenchmarkStatCached(b *testing.B) {
	prog, f := buildFSLoop(b), rootfsFile(b)
	benchFS(b, fsCase{
		native:  []string{prog, "stat", f, "5000"},
		sandbox: func(r, p string) []string { return doArgv(r, p, nil, prog, "stat", f, "5000") },
		metric:  medianUS, unit: "µs",
	})
}

// BenchmarkSeqRead reports the throughput of reading a 256 MiB host file
// through the root file system, in MB/s.
func BenchmarkSeqRead(b *testing.B) {
	prog := buildFSLoop(b)
	dir := runsctest.SharedDir(b)
	f := filepath.Join(dir, "big")
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i)
	}
	w, err := os.Create(f)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < fsBenchMiB; i++ {
		if _, err := w.Write(data); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	benchFS(b, fsCase{
		native:  []string{prog, "read", f},
		sandbox: func(r, p string) []string { return doArgv(r, p, nil, prog, "read", f) },
		metric:  throughputMBs, unit: "MB/s",
	})
}

// BenchmarkWriteFsync reports the throughput of writing 256 MiB to a
// bind-mounted host directory and fsyncing it, in MB/s.
func BenchmarkWriteFsync(b *testing.B) {
	prog := buildFSLoop(b)
	dir := runsctest.SharedDir(b)
	mib := strconv.Itoa(fsBenchMiB)
	benchFS(b, fsCase{
		native: []string{prog, "writefsync", filepath.Join(dir, "out"), mib},
		sandbox: func(r, p string) []string {
			return doArgv(r, p, []string{"--volume", dir + ":/mnt/vol"}, prog, "writefsync", "/mnt/vol/out", mib)
		},
		metric: throughputMBs, unit: "MB/s",
	})
}
