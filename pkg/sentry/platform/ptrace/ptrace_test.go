//go:build linux && amd64

package ptrace

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/apptest"
)

// testApp is an apptest.App on the ptrace platform, with its parts
// typed.
type testApp = apptest.Typed[*Platform, *AddressSpace, *Context]

// newPlatform is the platform under test: ptrace's, with its pool of
// spare stubs and fault fast paths on.
func newPlatform(t testing.TB, memfd int) platform.Platform {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for ptrace in this environment")
	}
	p, err := New(memfd)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestApp(t testing.TB, code []byte) *testApp {
	t.Helper()
	return apptest.NewTyped[*Platform, *AddressSpace, *Context](t, newPlatform, code)
}

// TestConformance runs the behaviour every platform shares.
func TestConformance(t *testing.T) {
	apptest.RunConformance(t, apptest.Target{
		New:     newPlatform,
		StubPID: func(as platform.AddressSpace) int { return as.(*AddressSpace).pid },
		Settle: func(p platform.Platform) {
			pp := p.(*Platform)
			pp.noPool = true
			for pp.poolFilling.Load() {
				time.Sleep(time.Millisecond)
			}
		},
		StubFDs:     1, // the memory file
		MaxStubVMAs: 4, // the stub's code, data and stacks; [vsyscall]
		CheckStub: func(t *testing.T, a *apptest.App) {
			// No rseq area survives (it would point into unmapped
			// memory).
			var conf rseqConfig
			pid := a.AS.(*AddressSpace).pid
			if err := ptrace(ptraceGetRseqConfiguration, pid, unsafe.Sizeof(conf), uintptr(unsafe.Pointer(&conf))); err == nil && conf.Pointer != 0 {
				t.Errorf("stub still has rseq registered: %+v", conf)
			}
		},
		FaultModes: []apptest.FaultMode{
			{Name: "fast", Set: func(p platform.Platform) { p.(*Platform).noFastFaults = false }, MapErrAccessUnknown: true},
			{Name: "probe", Set: func(p platform.Platform) { p.(*Platform).noFastFaults = true }},
		},
	})
}

// TestFastWriteFault checks that a write to a page the platform mapped
// read-only is answered without the probe, and that the fault repeats
// until the page is remapped writable.
func TestFastWriteFault(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEDI(apptest.ROAddr+8), apptest.MovESI(5), apptest.Store, apptest.Syscall))
	regs := apptest.InitialRegs()
	for i := 0; i < 2; i++ {
		ev := a.SwitchOK(t, &regs)
		if ev.Kind != platform.EventFault || ev.Access != (platform.AccessType{Write: true}) || ev.Addr != apptest.ROAddr+8 {
			t.Fatalf("got %+v", ev)
		}
	}
	if n := a.Plat.fastFaults.Load(); n != 2 {
		t.Errorf("%d fast faults, want 2", n)
	}
	if err := a.Space.MapFile(apptest.ROAddr, apptest.ROOff, pageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if a.Mem[apptest.ROOff+8] != 5 {
		t.Errorf("page holds %d", a.Mem[apptest.ROOff+8])
	}
}

// TestTracerExitKillsStub checks that a stub dies with its tracer thread.
func TestTracerExitKillsStub(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	done := make(chan struct{})
	go func() {
		regs := apptest.InitialRegs()
		a.Context.Switch(a.Space, &regs)
		close(done) // goroutine exits locked: its thread goes away
	}()
	<-done
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(a.Space.pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stub still alive after its tracer exited: %s", b)
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkGetpidRoundTrip(b *testing.B) {
	// again: mov eax, 39; syscall; jmp again
	a := newTestApp(b, apptest.Cat(apptest.MovEAX(39), apptest.Syscall, []byte{0xeb, 0xf7}))
	regs := apptest.InitialRegs()
	a.SwitchOK(b, &regs)
	lat := make([]time.Duration, 0, b.N)
	repins := a.Plat.repins.Load()
	defer func() { b.ReportMetric(float64(a.Plat.repins.Load()-repins)/float64(b.N), "repins/op") }()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		regs.Rax = uint64(a.Space.pid)
		ev, err := a.Context.Switch(a.Space, &regs)
		if err != nil || ev.Kind != platform.EventSyscall {
			b.Fatalf("%+v %v", ev, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*9/10].Nanoseconds()), "p90-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkRemoteMap(b *testing.B) {
	a := newTestApp(b, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	regs := apptest.InitialRegs()
	a.SwitchOK(b, &regs)
	calls := a.Plat.RemoteCalls()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.Space.MapFile(apptest.HoleAddr, apptest.ExtraOff, pageSize, platform.ReadWrite); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(a.Plat.RemoteCalls()-calls)/float64(b.N), "remote-calls/op")
}

func BenchmarkFault(b *testing.B) {
	// mov edi, apptest.HoleAddr; mov [rdi], rsi
	a := newTestApp(b, apptest.Cat(apptest.MovEDI(apptest.HoleAddr), apptest.Store))
	regs := apptest.InitialRegs()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		ev, err := a.Context.Switch(a.Space, &regs)
		if err != nil || ev.Kind != platform.EventFault {
			b.Fatalf("%+v %v", ev, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkFaultReadOnlyWrite measures a write fault on a page the
// platform mapped read-only (the copy-on-write case), answered by the fast
// path, against the same fault with the probe (BenchmarkFault measures an
// unmapped page, which always probes).
func BenchmarkFaultReadOnlyWrite(b *testing.B) {
	for _, fast := range []bool{true, false} {
		name := "fast"
		if !fast {
			name = "probe"
		}
		b.Run(name, func(b *testing.B) {
			a := newTestApp(b, apptest.Cat(apptest.MovEDI(apptest.ROAddr), apptest.Store))
			a.Plat.noFastFaults = !fast
			regs := apptest.InitialRegs()
			lat := make([]time.Duration, 0, b.N)
			fastBefore := a.Plat.fastFaults.Load()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				ev, err := a.Context.Switch(a.Space, &regs)
				if err != nil || ev.Kind != platform.EventFault || !ev.Access.Write {
					b.Fatalf("%+v %v", ev, err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(float64(a.Plat.fastFaults.Load()-fastBefore)/float64(b.N), "fast/op")
			reportPercentiles(b, lat)
		})
	}
}

// BenchmarkGetRegs measures PTRACE_GETREGS on a stopped stub, the per-stop
// register fetch of Switch.
func BenchmarkGetRegs(b *testing.B) {
	a := newTestApp(b, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	regs := apptest.InitialRegs()
	a.SwitchOK(b, &regs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := getRegs(a.Context.last.tid, &regs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStubDisassembly checks the hand-assembled stub against objdump.
func TestStubDisassembly(t *testing.T) {
	code, labels := stubProgram(0x7f0000000000, 1234)
	text := apptest.Disassemble(t, code)
	for _, want := range []string{
		"movabs rax,0x9d",                 // prctl
		"mov    rax,QWORD PTR [rdx+0xc0]", // sigcontext.err
		"mov    rcx,QWORD PTR [rdx+0x10]", // uc_stack.ss_sp
		"mov    QWORD PTR [rdx+0xa8],rax", // sigcontext.rip
		"mov    QWORD PTR [rcx+0x0],rax",  // store err in the slot
	} {
		if !strings.Contains(text, want) {
			t.Errorf("disassembly lacks %q:\n%s", want, text)
		}
	}
	tramp := fmt.Sprintf("%x:\t0f 05", labels["trampoline"])
	if !strings.Contains(text, tramp) {
		t.Errorf("no syscall at trampoline offset %#x", labels["trampoline"])
	}
}

// BenchmarkNewAddressSpace measures forking a stub, mapping one page and the
// first Switch on it (attaching the calling thread), then Release: the
// platform's share of fork+exec.
func BenchmarkNewAddressSpace(b *testing.B) {
	a := newTestApp(b, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	for i := 0; i < b.N; i++ {
		as, err := a.Plat.NewAddressSpace()
		if err != nil {
			b.Fatal(err)
		}
		if err := as.MapFile(apptest.CodeAddr, apptest.CodeOff, pageSize, platform.ReadExec); err != nil {
			b.Fatal(err)
		}
		regs := apptest.InitialRegs()
		if ev, err := a.Context.Switch(as, &regs); err != nil || ev.Kind != platform.EventSyscall {
			b.Fatalf("%+v %v", ev, err)
		}
		a.Context.Release()
		as.Release()
	}
}
