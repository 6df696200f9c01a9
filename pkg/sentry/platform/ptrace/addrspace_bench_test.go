//go:build linux && amd64

package ptrace

import (
	"sort"
	"testing"
	"time"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/apptest"
	"golang.org/x/sys/unix"
)

// BenchmarkAddressSpaceLifecycle splits BenchmarkNewAddressSpace into its
// phases, as a fork+exec+exit cycle pays them: NewAddressSpace, the first
// MapFile and Switch (which attaches the calling thread), Context.Release
// and AddressSpace.Release. Each is reported as its mean in µs.
//
// "pool" takes stubs from the pool (the default), "spawn" spawns each from
// the template on the spot.
func BenchmarkAddressSpaceLifecycle(b *testing.B) {
	b.Run("pool", func(b *testing.B) { benchLifecycle(b, false) })
	b.Run("spawn", func(b *testing.B) { benchLifecycle(b, true) })
}

func benchLifecycle(b *testing.B, noPool bool) {
	a := newTestApp(b, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	a.Plat.noPool = noPool
	var newT, mapT, switchT, ctxRelT, relT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		as, err := a.Plat.NewAddressSpace()
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := as.MapFile(apptest.CodeAddr, apptest.CodeOff, pageSize, platform.ReadExec); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		regs := apptest.InitialRegs()
		if ev, err := a.Context.Switch(as, &regs); err != nil || ev.Kind != platform.EventSyscall {
			b.Fatalf("%+v %v", ev, err)
		}
		t3 := time.Now()
		a.Context.Release()
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

// BenchmarkSetRegs compares PTRACE_SETREGS with PTRACE_POKEUSER of rax
// alone on a stopped stub thread (what a system call return changes). The
// loops run on the tracer thread (sub-benchmarks would not).
func BenchmarkSetRegs(b *testing.B) {
	a := newTestApp(b, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	regs := apptest.InitialRegs()
	a.SwitchOK(b, &regs)
	tid := a.Context.last.tid
	if err := getRegs(tid, &regs); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := setRegs(tid, &regs); err != nil {
			b.Fatal(err)
		}
	}
	set := time.Since(start)
	off := unsafe.Offsetof(regs.Rax)
	start = time.Now()
	for i := 0; i < b.N; i++ {
		if err := ptrace(unix.PTRACE_POKEUSR, tid, off, uintptr(regs.Rax)); err != nil {
			b.Fatal(err)
		}
	}
	poke := time.Since(start)
	b.ReportMetric(float64(set.Nanoseconds())/float64(b.N), "setregs-ns")
	b.ReportMetric(float64(poke.Nanoseconds())/float64(b.N), "pokeuser-ns")
}

// BenchmarkGetpidRegsAB alternates, round trip by round trip, Switch
// writing only the changed registers (the default) and writing them all
// with PTRACE_SETREGS, so that host load affects both alike.
func BenchmarkGetpidRegsAB(b *testing.B) {
	// again: mov eax, 39; syscall; jmp again
	a := newTestApp(b, apptest.Cat(apptest.MovEAX(39), apptest.Syscall, []byte{0xeb, 0xf7}))
	regs := apptest.InitialRegs()
	a.SwitchOK(b, &regs)
	lat := [2][]time.Duration{make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mode := i % 2
		a.Plat.alwaysSetRegs = mode == 1
		start := time.Now()
		regs.Rax = uint64(a.Space.pid)
		ev, err := a.Context.Switch(a.Space, &regs)
		if err != nil || ev.Kind != platform.EventSyscall {
			b.Fatalf("%+v %v", ev, err)
		}
		lat[mode] = append(lat[mode], time.Since(start))
	}
	b.StopTimer()
	for mode, name := range []string{"pokes", "setregs"} {
		l := lat[mode]
		if len(l) == 0 {
			continue
		}
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		b.ReportMetric(float64(l[len(l)/2].Nanoseconds()), name+"-p50-ns")
		var sum time.Duration
		for _, d := range l {
			sum += d
		}
		b.ReportMetric(float64(sum.Nanoseconds())/float64(len(l)), name+"-mean-ns")
	}
}
