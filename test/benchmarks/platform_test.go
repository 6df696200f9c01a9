package benchmarks

import (
	"sort"
	"strconv"
	"testing"
	"time"

	"bufferzone.dev/test/e2e/runsctest"
)

// platformWorkload is one workload of BenchmarkPlatforms: argv to run, and
// whether the number to report is the program's output (ns) or the wall
// time of the whole command.
type platformWorkload struct {
	name string
	argv []string
	// wall reports the command's wall time instead of its output.
	wall bool
	unit string
}

// BenchmarkPlatforms runs each workload natively and under every platform
// in the same iteration, one after the other, so that host load touches
// all of them alike, and reports the median of each (µs, or ms for whole
// commands) and its ratio to native:
//
//	getpid         one getpid round trip (the median of 20000 timed calls)
//	openclose      open and close of /dev/null
//	pipe           a one-byte round trip between two processes
//	forkexit       fork, _exit in the child, wait in the parent
//	true           `runsc do /bin/true` against running /bin/true
//	cpu            50M rounds of arithmetic without a system call
//
//	go test ./test/benchmarks -run '^$' -bench Platforms -benchtime 10x
func BenchmarkPlatforms(b *testing.B) {
	runsc := runsctest.RequireDo(b)
	proc, pl := buildStatic(b, "proc_loop"), buildStatic(b, "platform_loop")
	var platforms []string
	for _, p := range runsctest.Platforms() {
		if runsctest.Required(p) || p == "systrap" {
			platforms = append(platforms, p)
		}
	}
	for _, w := range []platformWorkload{
		{name: "getpid", argv: []string{pl, "getpid", "20000"}, unit: "µs"},
		{name: "openclose", argv: []string{pl, "openclose", "2000"}, unit: "µs"},
		{name: "pipe", argv: []string{proc, "pipe", "2000"}, unit: "µs"},
		{name: "forkexit", argv: []string{proc, "forkexit", "100"}, unit: "µs"},
		{name: "true", argv: []string{"/bin/true"}, wall: true, unit: "ms"},
		{name: "cpu", argv: []string{pl, "cpu", "50000000"}, unit: "ms"},
	} {
		b.Run(w.name, func(b *testing.B) {
			samples := make(map[string][]float64)
			for _, p := range platforms {
				runsctest.RequirePlatform(b, p)
			}
			for i := 0; i < b.N; i++ {
				for _, p := range append([]string{"native"}, platforms...) {
					argv := w.argv
					if p != "native" {
						argv = runsctest.DoArgv(runsc, []string{"--platform=" + p}, nil, argv)
					}
					start := time.Now()
					out := run(b, argv)
					ns := float64(time.Since(start).Nanoseconds())
					if !w.wall {
						v, err := strconv.ParseFloat(out, 64)
						if err != nil {
							b.Fatalf("%v: output %q: %v", argv, out, err)
						}
						ns = v
					}
					samples[p] = append(samples[p], ns)
				}
			}
			scale := 1e3
			if w.unit == "ms" {
				scale = 1e6
			}
			native := median(samples["native"])
			b.ReportMetric(native/scale, "native-"+w.unit)
			for _, p := range platforms {
				m := median(samples[p])
				b.ReportMetric(m/scale, p+"-"+w.unit)
				b.ReportMetric(m/native, p+"/native")
			}
			if len(platforms) == 2 {
				b.ReportMetric(median(samples[platforms[0]])/median(samples[platforms[1]]),
					platforms[0]+"/"+platforms[1])
			}
		})
	}
}

// median returns the median of v (which it sorts).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}
