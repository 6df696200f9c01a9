//go:build linux && amd64

package ptrace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/apptest"
	"golang.org/x/sys/unix"
)

// testApp is a tiny application: code at apptest.CodeAddr (r-x), a data/stack page
// at apptest.DataAddr (rw-) and a read-only page at apptest.ROAddr, all in a memfd.
type testApp struct {
	p   *Platform
	as  *AddressSpace
	ctx *Context
	mem []byte
}

func newTestApp(t testing.TB, code []byte) *testApp {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for ptrace in this environment")
	}
	fd, err := unix.MemfdCreate("ptrace-test", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Ftruncate(fd, apptest.MemSize); err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(fd, 0, apptest.MemSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	copy(mem[apptest.CodeOff:], code)
	p, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(as.Release)
	ctx, _ := p.NewContext()
	a := &testApp{p: p, as: as.(*AddressSpace), ctx: ctx.(*Context), mem: mem}
	for _, m := range []struct {
		addr uintptr
		off  int64
		at   platform.AccessType
	}{
		{apptest.CodeAddr, apptest.CodeOff, platform.ReadExec},
		{apptest.DataAddr, apptest.DataOff, platform.ReadWrite},
		{apptest.ROAddr, apptest.ROOff, platform.Read},
	} {
		if err := as.MapFile(m.addr, m.off, pageSize, m.at); err != nil {
			t.Fatalf("MapFile(%#x): %v", m.addr, err)
		}
	}
	return a
}

func (a *testApp) switchOK(t testing.TB, regs *platform.Registers) platform.Event {
	t.Helper()
	ev, err := a.ctx.Switch(a.as, regs)
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	return ev
}

func TestSyscallArgsAndReturn(t *testing.T) {
	code := apptest.Cat(apptest.MovEDI(1), apptest.MovESI(2), apptest.MovEDX(3), apptest.MovEAX(39), apptest.Syscall, apptest.Int3)
	a := newTestApp(t, code)
	regs := apptest.InitialRegs()
	ev := a.switchOK(t, &regs)
	if ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 || regs.Rdi != 1 || regs.Rsi != 2 || regs.Rdx != 3 {
		t.Fatalf("got %+v orig_rax=%d rdi=%d rsi=%d rdx=%d, want syscall 39(1,2,3)", ev, regs.Orig_rax, regs.Rdi, regs.Rsi, regs.Rdx)
	}
	if want := uint64(apptest.CodeAddr + 22); regs.Rip != want {
		t.Errorf("rip = %#x, want %#x", regs.Rip, want)
	}
	regs.Rax = 777
	ev = a.switchOK(t, &regs)
	if ev.Kind != platform.EventSignal || ev.Signo != int32(unix.SIGTRAP) {
		t.Fatalf("got %+v, want SIGTRAP", ev)
	}
	if regs.Rax != 777 {
		t.Errorf("rax = %d after syscall return, want 777", regs.Rax)
	}
}

func TestSharedMemory(t *testing.T) {
	// mov edi, apptest.DataAddr; mov esi, 0x1234567; mov [rdi], rsi; mov rax, [rdi+8]; syscall
	code := apptest.Cat(apptest.MovEDI(apptest.DataAddr), apptest.MovESI(0x1234567), apptest.Store, apptest.Load8, apptest.Syscall, apptest.Int3)
	a := newTestApp(t, code)
	binary.LittleEndian.PutUint64(a.mem[apptest.DataOff+8:], 0xabcdef)
	regs := apptest.InitialRegs()
	ev := a.switchOK(t, &regs)
	if ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if got := binary.LittleEndian.Uint64(a.mem[apptest.DataOff:]); got != 0x1234567 {
		t.Errorf("Sentry sees %#x, want 0x1234567", got)
	}
	if regs.Orig_rax != 0xabcdef {
		t.Errorf("application read %#x, want 0xabcdef", regs.Orig_rax)
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   []byte
		addr   uintptr
		access platform.AccessType
		code2  int32
	}{
		{"unmapped write", apptest.Cat(apptest.MovEDI(apptest.HoleAddr), apptest.Store), apptest.HoleAddr, platform.AccessType{Write: true}, 1},
		{"unmapped read", apptest.Cat(apptest.MovEDI(apptest.HoleAddr+8), apptest.Load), apptest.HoleAddr + 8, platform.AccessType{Read: true}, 1},
		{"read-only write", apptest.Cat(apptest.MovEDI(apptest.ROAddr+16), apptest.Store), apptest.ROAddr + 16, platform.AccessType{Write: true}, 2},
		{"exec non-exec", apptest.Cat(apptest.MovEDI(apptest.DataAddr+0x100), apptest.JmpRDI), apptest.DataAddr + 0x100, platform.AccessType{Execute: true}, 2},
		{"exec unmapped", apptest.Cat(apptest.MovEDI(apptest.HoleAddr), apptest.JmpRDI), apptest.HoleAddr, platform.AccessType{Execute: true}, 1},
		// Readable, not writable, but at rip: the fast path must not
		// call it a write.
		{"exec read-only", apptest.Cat(apptest.MovEDI(apptest.ROAddr+0x10), apptest.JmpRDI), apptest.ROAddr + 0x10, platform.AccessType{Execute: true}, 2},
	} {
		for _, probe := range []bool{false, true} {
			name := tc.name
			want := tc.access
			if probe {
				name += "/probe"
			} else if tc.code2 == segvMapErr {
				// First touch: reported unknown (see classify).
				want = platform.AccessType{}
			}
			t.Run(name, func(t *testing.T) {
				a := newTestApp(t, tc.code)
				a.p.noFastFaults = probe
				regs := apptest.InitialRegs()
				ev := a.switchOK(t, &regs)
				if ev.Kind != platform.EventFault || ev.Addr != tc.addr || ev.Access != want || ev.Signo != int32(unix.SIGSEGV) || ev.Code != tc.code2 {
					t.Fatalf("got %+v, want fault at %#x access %+v code %d", ev, tc.addr, want, tc.code2)
				}
				// The registers are those at the faulting instruction,
				// and the fault is repeatable.
				rip := regs.Rip
				ev = a.switchOK(t, &regs)
				if ev.Kind != platform.EventFault || regs.Rip != rip || regs.Rdi != uint64(tc.addr) && tc.access.Execute == false {
					t.Fatalf("second run: %+v rip %#x (was %#x)", ev, regs.Rip, rip)
				}
			})
		}
	}
}

// TestFastWriteFault checks that a write to a page the platform mapped
// read-only is answered without the probe, and that the fault repeats
// until the page is remapped writable.
func TestFastWriteFault(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEDI(apptest.ROAddr+8), apptest.MovESI(5), apptest.Store, apptest.Syscall))
	regs := apptest.InitialRegs()
	for i := 0; i < 2; i++ {
		ev := a.switchOK(t, &regs)
		if ev.Kind != platform.EventFault || ev.Access != (platform.AccessType{Write: true}) || ev.Addr != apptest.ROAddr+8 {
			t.Fatalf("got %+v", ev)
		}
	}
	if n := a.p.fastFaults.Load(); n != 2 {
		t.Errorf("%d fast faults, want 2", n)
	}
	if err := a.as.MapFile(apptest.ROAddr, apptest.ROOff, pageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if a.mem[apptest.ROOff+8] != 5 {
		t.Errorf("page holds %d", a.mem[apptest.ROOff+8])
	}
}

func TestFaultThenMap(t *testing.T) {
	// mov edi, apptest.HoleAddr; mov esi, 42; mov [rdi], rsi; syscall
	a := newTestApp(t, apptest.Cat(apptest.MovEDI(apptest.HoleAddr), apptest.MovESI(42), apptest.Store, apptest.Syscall))
	regs := apptest.InitialRegs()
	ev := a.switchOK(t, &regs)
	if ev.Kind != platform.EventFault || ev.Addr != apptest.HoleAddr || ev.Code != segvMapErr {
		t.Fatalf("got %+v", ev)
	}
	if err := a.as.MapFile(apptest.HoleAddr, apptest.ExtraOff, pageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	ev = a.switchOK(t, &regs)
	if ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if got := binary.LittleEndian.Uint64(a.mem[apptest.ExtraOff:]); got != 42 {
		t.Errorf("memory file holds %d, want 42", got)
	}
}

func TestSignals(t *testing.T) {
	for _, tc := range []struct {
		name string
		code []byte
		sig  unix.Signal
	}{
		{"divide by zero", apptest.DivZero, unix.SIGFPE},
		{"int3", apptest.Int3, unix.SIGTRAP},
		{"ud2", []byte{0x0f, 0x0b}, unix.SIGILL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, tc.code)
			regs := apptest.InitialRegs()
			ev := a.switchOK(t, &regs)
			if ev.Kind != platform.EventSignal || ev.Signo != int32(tc.sig) {
				t.Fatalf("got %+v, want signal %d", ev, tc.sig)
			}
		})
	}
}

func TestInterruptSpinning(t *testing.T) {
	a := newTestApp(t, apptest.JmpSelf)
	regs := apptest.InitialRegs()
	var sent time.Time
	go func() {
		time.Sleep(50 * time.Millisecond)
		sent = time.Now()
		a.ctx.Interrupt()
	}()
	ev := a.switchOK(t, &regs)
	lat := time.Since(sent)
	if ev.Kind != platform.EventInterrupted {
		t.Fatalf("got %+v, want interrupted", ev)
	}
	if regs.Rip != apptest.CodeAddr {
		t.Errorf("rip = %#x, want %#x", regs.Rip, apptest.CodeAddr)
	}
	t.Logf("interrupt latency %v", lat)
	if lat > time.Second { // generous: the VM is shared and loaded
		t.Errorf("interrupt took %v", lat)
	}
	// A pending interrupt makes the next Switch return at once.
	a.ctx.Interrupt()
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventInterrupted {
		t.Fatalf("got %+v, want interrupted", ev)
	}
}

// TestInterruptNoLostWakeup races Interrupt against a syscall loop: every
// Interrupt must end a Switch loop.
func TestInterruptNoLostWakeup(t *testing.T) {
	// again: mov eax, 39; syscall; jmp again
	code := apptest.Cat(apptest.MovEAX(39), apptest.Syscall, []byte{0xeb, 0xf7})
	a := newTestApp(t, code)
	regs := apptest.InitialRegs()
	for i := 0; i < 300; i++ {
		delay := time.Duration(i%30) * 5 * time.Microsecond
		go func() {
			time.Sleep(delay)
			a.ctx.Interrupt()
		}()
		deadline := time.Now().Add(5 * time.Second)
		for {
			ev := a.switchOK(t, &regs)
			if ev.Kind == platform.EventInterrupted {
				break
			}
			if ev.Kind != platform.EventSyscall {
				t.Fatalf("iteration %d: got %+v", i, ev)
			}
			if time.Now().After(deadline) {
				t.Fatalf("iteration %d: interrupt lost", i)
			}
		}
	}
}

func TestFPState(t *testing.T) {
	// movq rsi, xmm0; movq xmm1, rdi; syscall
	a := newTestApp(t, apptest.Cat(apptest.Xmm0RSI, apptest.RDIXmm1, apptest.Syscall, apptest.Int3))
	fp, err := a.ctx.FPState()
	if err != nil {
		t.Fatal(err)
	}
	if cw := binary.LittleEndian.Uint16(fp); cw != 0x37f {
		t.Errorf("initial FCW %#x", cw)
	}
	const xmm0 = 160
	binary.LittleEndian.PutUint64(fp[xmm0:], 0x1122334455667788)
	if err := a.ctx.SetFPState(fp); err != nil {
		t.Fatal(err)
	}
	regs := apptest.InitialRegs()
	regs.Rdi = 0xfeedface
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if regs.Rsi != 0x1122334455667788 {
		t.Errorf("application saw xmm0 = %#x", regs.Rsi)
	}
	fp, err = a.ctx.FPState()
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(fp[xmm0+16:]); got != 0xfeedface {
		t.Errorf("xmm1 = %#x, want 0xfeedface", got)
	}
	if err := a.ctx.ResetFPState(); err != nil {
		t.Fatal(err)
	}
	fp, _ = a.ctx.FPState()
	if got := binary.LittleEndian.Uint64(fp[xmm0+16:]); got != 0 {
		t.Errorf("xmm1 = %#x after reset", got)
	}
	t.Logf("FP state size %d", len(fp))
}

func TestMapFromOtherThread(t *testing.T) {
	a := newTestApp(t, apptest.JmpSelf)
	regs := apptest.InitialRegs()
	done := make(chan error)
	go func() {
		time.Sleep(20 * time.Millisecond)
		err := a.as.MapFile(apptest.HoleAddr, apptest.ExtraOff, pageSize, platform.ReadWrite)
		a.ctx.Interrupt()
		done <- err
	}()
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventInterrupted {
		t.Fatalf("got %+v", ev)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Now run code that writes the new page.
	copy(a.mem[apptest.CodeOff:], apptest.Cat(apptest.MovEDI(apptest.HoleAddr), apptest.MovESI(7), apptest.Store, apptest.Syscall))
	regs = apptest.InitialRegs()
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if got := a.mem[apptest.ExtraOff]; got != 7 {
		t.Errorf("page holds %d", got)
	}
	// Queued while the stub is stopped: applied before it runs again.
	go func() {
		done <- a.as.MapFile(apptest.HoleAddr+pageSize, apptest.ExtraOff, pageSize, platform.ReadWrite)
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	copy(a.mem[apptest.CodeOff:], apptest.Cat(apptest.MovEDI(apptest.HoleAddr+pageSize+8), apptest.MovESI(9), apptest.Store, apptest.Syscall))
	regs = apptest.InitialRegs()
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if got := a.mem[apptest.ExtraOff+8]; got != 9 {
		t.Errorf("page holds %d", got)
	}
}

func TestStubIsClean(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	regs := apptest.InitialRegs()
	a.switchOK(t, &regs)
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(a.as.pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(maps)), "\n")
	// code, data, ro, the stub region (2 or 3 VMAs), and [vsyscall].
	for _, l := range lines {
		t.Log(l)
	}
	if len(lines) > 7 {
		t.Errorf("stub has %d mappings", len(lines))
	}
	// No rseq area survives (it would point into unmapped memory).
	var conf rseqConfig
	if err := ptrace(ptraceGetRseqConfiguration, a.as.pid, unsafe.Sizeof(conf), uintptr(unsafe.Pointer(&conf))); err == nil && conf.Pointer != 0 {
		t.Errorf("stub still has rseq registered: %+v", conf)
	}
	fds, _ := os.ReadDir("/proc/" + strconv.Itoa(a.as.pid) + "/fd")
	if len(fds) != 1 {
		t.Errorf("stub has %d fds, want 1 (the memory file)", len(fds))
	}
}

func TestStubKilledFromOutside(t *testing.T) {
	a := newTestApp(t, apptest.JmpSelf)
	regs := apptest.InitialRegs()
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Kill(a.as.pid, unix.SIGKILL)
	}()
	if _, err := a.ctx.Switch(a.as, &regs); !errors.Is(err, platform.ErrContextDead) {
		t.Fatalf("got %v, want ErrContextDead", err)
	}
	if _, err := a.ctx.Switch(a.as, &regs); !errors.Is(err, platform.ErrContextDead) {
		t.Fatalf("got %v, want ErrContextDead", err)
	}
}

func TestReleaseLeavesNoProcess(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	a.as.Release()
	// Count without the stubs the pool holds (and is making).
	a.p.noPool = true
	for a.p.poolFilling.Load() {
		time.Sleep(time.Millisecond)
	}
	before := len(apptest.Children(t))
	for i := 0; i < 200; i++ {
		as, err := a.p.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 { // half of them traced and run
			if err := as.MapFile(apptest.CodeAddr, apptest.CodeOff, pageSize, platform.ReadExec); err != nil {
				t.Fatal(err)
			}
			regs := apptest.InitialRegs()
			if ev, err := a.ctx.Switch(as, &regs); err != nil || ev.Kind != platform.EventSyscall {
				t.Fatalf("%+v %v", ev, err)
			}
		}
		as.Release()
	}
	// Release leaves the reaping to a goroutine: give it time.
	deadline := time.Now().Add(5 * time.Second)
	for {
		kids := apptest.Children(t)
		if len(kids) <= before {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("leftover apptest.Children: %v", kids)
			break
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReleaseOnThreadExit checks that a stub dies with its tracer thread.
func TestTracerExitKillsStub(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	done := make(chan struct{})
	go func() {
		regs := apptest.InitialRegs()
		a.ctx.Switch(a.as, &regs)
		close(done) // goroutine exits locked: its thread goes away
	}()
	<-done
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(a.as.pid) + "/stat")
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
	a.switchOK(b, &regs)
	lat := make([]time.Duration, 0, b.N)
	repins := a.p.repins.Load()
	defer func() { b.ReportMetric(float64(a.p.repins.Load()-repins)/float64(b.N), "repins/op") }()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		regs.Rax = uint64(a.as.pid)
		ev, err := a.ctx.Switch(a.as, &regs)
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
	a.switchOK(b, &regs)
	calls := a.p.RemoteCalls()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.as.MapFile(apptest.HoleAddr, apptest.ExtraOff, pageSize, platform.ReadWrite); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(a.p.RemoteCalls()-calls)/float64(b.N), "remote-calls/op")
}

func BenchmarkFault(b *testing.B) {
	// mov edi, apptest.HoleAddr; mov [rdi], rsi
	a := newTestApp(b, apptest.Cat(apptest.MovEDI(apptest.HoleAddr), apptest.Store))
	regs := apptest.InitialRegs()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		ev, err := a.ctx.Switch(a.as, &regs)
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
			a.p.noFastFaults = !fast
			regs := apptest.InitialRegs()
			lat := make([]time.Duration, 0, b.N)
			fastBefore := a.p.fastFaults.Load()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				ev, err := a.ctx.Switch(a.as, &regs)
				if err != nil || ev.Kind != platform.EventFault || !ev.Access.Write {
					b.Fatalf("%+v %v", ev, err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(float64(a.p.fastFaults.Load()-fastBefore)/float64(b.N), "fast/op")
			reportPercentiles(b, lat)
		})
	}
}

// BenchmarkGetRegs measures PTRACE_GETREGS on a stopped stub, the per-stop
// register fetch of Switch.
func BenchmarkGetRegs(b *testing.B) {
	a := newTestApp(b, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	regs := apptest.InitialRegs()
	a.switchOK(b, &regs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := getRegs(a.ctx.last.tid, &regs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStubDisassembly checks the hand-assembled stub against objdump.
func TestStubDisassembly(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("no objdump")
	}
	code, labels := stubProgram(0x7f0000000000, 1234)
	f := filepath.Join(t.TempDir(), "stub.bin")
	if err := os.WriteFile(f, code, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdump, "-D", "-b", "binary", "-mi386:x86-64", "-M", "intel", f).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "(bad)") {
		t.Errorf("undecodable instruction:\n%s", text)
	}
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
		as, err := a.p.NewAddressSpace()
		if err != nil {
			b.Fatal(err)
		}
		if err := as.MapFile(apptest.CodeAddr, apptest.CodeOff, pageSize, platform.ReadExec); err != nil {
			b.Fatal(err)
		}
		regs := apptest.InitialRegs()
		if ev, err := a.ctx.Switch(as, &regs); err != nil || ev.Kind != platform.EventSyscall {
			b.Fatalf("%+v %v", ev, err)
		}
		a.ctx.Release()
		as.Release()
	}
}
