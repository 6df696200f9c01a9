//go:build linux && amd64

package ptrace

import (
	"testing"
	"time"

	"bufferzone.dev/pkg/sentry/platform"
)

// BenchmarkAddressSpaceLifecycle splits BenchmarkNewAddressSpace into its
// phases, as a fork+exec+exit cycle pays them: NewAddressSpace, the first
// MapFile and Switch (which attaches the calling thread), Context.Release
// and AddressSpace.Release. Each is reported as its mean in µs.
func BenchmarkAddressSpaceLifecycle(b *testing.B) {
	a := newTestApp(b, cat(movEAX(39), opSyscall))
	var newT, mapT, switchT, ctxRelT, relT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		as, err := a.p.NewAddressSpace()
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := as.MapFile(codeAddr, codeOff, pageSize, platform.ReadExec); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		regs := initialRegs()
		if ev, err := a.ctx.Switch(as, &regs); err != nil || ev.Kind != platform.EventSyscall {
			b.Fatalf("%+v %v", ev, err)
		}
		t3 := time.Now()
		a.ctx.Release()
		t4 := time.Now()
		as.Release()
		t5 := time.Now()
		newT += t1.Sub(t0)
		mapT += t2.Sub(t1)
		switchT += t3.Sub(t2)
		ctxRelT += t4.Sub(t3)
		relT += t5.Sub(t4)
	}
	b.StopTimer()
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(us(newT), "new-µs")
	b.ReportMetric(us(mapT), "map-µs")
	b.ReportMetric(us(switchT), "switch-µs")
	b.ReportMetric(us(ctxRelT), "ctxrelease-µs")
	b.ReportMetric(us(relT), "release-µs")
}
