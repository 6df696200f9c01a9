//go:build linux && amd64

package apptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bufferzone.dev/pkg/sentry/platform"
	"golang.org/x/sys/unix"
)

// si_code values of SIGSEGV.
const (
	segvMapErr = 1 // no mapping at the address
	segvAccErr = 2 // a mapping that forbids the access
)

// Target describes a platform to the conformance suite.
type Target struct {
	// New returns a platform over a memory file, as NewApp wants it.
	New NewPlatform
	// StubPID returns the host pid of an address space's stub process.
	StubPID func(as platform.AddressSpace) int
	// Settle stops p from spawning stubs in the background (its pool of
	// spare stubs) and waits for what it is spawning, so that the test's
	// children can be counted.
	Settle func(p platform.Platform)
	// StubFDs is how many descriptors a stub process holds.
	StubFDs int
	// MaxStubVMAs bounds the stub's mappings at and above MaxUserAddress:
	// its code and data region, and [vsyscall].
	MaxStubVMAs int
	// CheckStub, if set, makes the platform's own checks of a stub that
	// has run a system call, in the StubIsClean subtest.
	CheckStub func(t *testing.T, a *App)
	// FaultModes are the ways p can be set to handle faults; the fault
	// tests run under each. None means one, the default.
	FaultModes []FaultMode
}

// FaultMode is one way of handling faults.
type FaultMode struct {
	// Name names the mode in subtest names.
	Name string
	// Set puts p in the mode.
	Set func(p platform.Platform)
	// MapErrAccessUnknown says a fault on a page the stub has no mapping
	// for (SEGV_MAPERR) is reported with Access zero: the kernel takes it
	// as a read, and a write that still fails faults again with the
	// access known.
	MapErrAccessUnknown bool
}

// RunConformance runs the behaviour every platform must show as subtests
// of t: what the Sentry's kernel relies on, whatever the mechanism.
func RunConformance(t *testing.T, tg Target) {
	modes := tg.FaultModes
	if len(modes) == 0 {
		modes = []FaultMode{{}}
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, tg Target)
	}{
		{"SyscallArgsAndReturn", testSyscallArgsAndReturn},
		{"EveryRegister", testEveryRegister},
		{"GarbageStackPointer", testGarbageStackPointer},
		{"SharedMemory", testSharedMemory},
		{"Signals", testSignals},
		{"InterruptSpinning", testInterruptSpinning},
		{"InterruptNoLostWakeup", testInterruptNoLostWakeup},
		{"FPState", testFPState},
		{"MapFromOtherThread", testMapFromOtherThread},
		{"StubIsClean", testStubIsClean},
		{"StubKilledFromOutside", testStubKilledFromOutside},
		{"ReleaseLeavesNothing", testReleaseLeavesNothing},
		{"Threads", testThreads},
		{"MapWhileThreadsRun", testMapWhileThreadsRun},
		{"NewThreadFPState", testNewThreadFPState},
		{"ThreadInterrupt", testThreadInterrupt},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, tg) })
	}
	for _, m := range modes {
		suffix := ""
		if m.Name != "" {
			suffix = "/" + m.Name
		}
		t.Run("Faults"+suffix, func(t *testing.T) { testFaults(t, tg, m) })
		t.Run("FaultThenMap"+suffix, func(t *testing.T) { testFaultThenMap(t, tg, m) })
		t.Run("ThreadsFaultProbe"+suffix, func(t *testing.T) { testThreadsFaultProbe(t, tg, m) })
	}
}

// watchdogTimeout is how long a test may run its application before the
// watchdog kills the stub: a Switch that never returns (a lost interrupt)
// then fails the test instead of hanging it.
const watchdogTimeout = time.Minute

// newApp is NewApp on tg's platform, in fault mode m, with a watchdog.
func newApp(t *testing.T, tg Target, m FaultMode, code []byte) *App {
	t.Helper()
	a := NewApp(t, tg.New, code)
	if m.Set != nil {
		m.Set(a.P)
	}
	var mu sync.Mutex
	ended := false
	timer := time.AfterFunc(watchdogTimeout, func() {
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			t.Errorf("still running after %v: killing the stub", watchdogTimeout)
			unix.Kill(tg.StubPID(a.AS), unix.SIGKILL)
		}
	})
	t.Cleanup(func() {
		mu.Lock()
		ended = true
		mu.Unlock()
		timer.Stop()
	})
	return a
}

func testSyscallArgsAndReturn(t *testing.T, tg Target) {
	a := newApp(t, tg, FaultMode{}, Cat(MovEDI(1), MovESI(2), MovEDX(3), MovEAX(39), Syscall, Int3))
	regs := InitialRegs()
	ev := a.SwitchOK(t, &regs)
	if ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 || regs.Rdi != 1 || regs.Rsi != 2 || regs.Rdx != 3 {
		t.Fatalf("got %+v orig_rax=%d rdi=%d rsi=%d rdx=%d, want syscall 39(1,2,3)", ev, regs.Orig_rax, regs.Rdi, regs.Rsi, regs.Rdx)
	}
	if want := uint64(CodeAddr + 22); regs.Rip != want {
		t.Errorf("rip = %#x, want %#x", regs.Rip, want)
	}
	regs.Rax = 777
	ev = a.SwitchOK(t, &regs)
	if ev.Kind != platform.EventSignal || ev.Signo != int32(unix.SIGTRAP) {
		t.Fatalf("got %+v, want SIGTRAP", ev)
	}
	if regs.Rax != 777 {
		t.Errorf("rax = %d after syscall return, want 777", regs.Rax)
	}
}

// testEveryRegister: the second of two system calls shows every register
// as the Sentry set them after the first.
func testEveryRegister(t *testing.T, tg Target) {
	a := newApp(t, tg, FaultMode{}, Cat(Syscall, Syscall))
	regs := InitialRegs()
	a.SwitchOK(t, &regs)
	gprs := func(r *platform.Registers) []*uint64 {
		return []*uint64{&r.R8, &r.R9, &r.R10, &r.R12, &r.R13, &r.R14, &r.R15, &r.Rdi, &r.Rsi, &r.Rbp, &r.Rbx, &r.Rdx}
	}
	want := regs
	for i, p := range gprs(&want) {
		*p = 0x1111111111111111 * uint64(i+1)
	}
	want.Rax = 39
	want.Fs_base = 0x12345000
	regs = want
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	wantRegs := gprs(&want)
	for i, p := range gprs(&regs) {
		if *p != *wantRegs[i] {
			t.Errorf("register %d = %#x, want %#x", i, *p, *wantRegs[i])
		}
	}
	if regs.Orig_rax != 39 || regs.Fs_base != want.Fs_base || regs.Rsp != want.Rsp {
		t.Errorf("orig_rax %d fs %#x rsp %#x", regs.Orig_rax, regs.Fs_base, regs.Rsp)
	}
}

// testGarbageStackPointer: the platform needs nothing of the application's
// stack to report a system call, whether the application or the Sentry
// set the stack pointer, even into the platform's own region.
func testGarbageStackPointer(t *testing.T, tg Target) {
	// xor rsp, rsp; then at CodeAddr+3: mov eax, 39; syscall
	a := newApp(t, tg, FaultMode{}, Cat([]byte{0x48, 0x31, 0xe4}, MovEAX(39), Syscall))
	regs := InitialRegs()
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 || regs.Rsp != 0 {
		t.Fatalf("got %+v orig_rax %d rsp %#x, want getpid with rsp 0", ev, regs.Orig_rax, regs.Rsp)
	}
	maxUser := uint64(a.P.MaxUserAddress())
	for _, sp := range []uint64{0, 1, ^uint64(0), 1 << 63, maxUser, maxUser + PageSize + 8} {
		regs := InitialRegs()
		regs.Rip, regs.Rsp = CodeAddr+3, sp
		if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 || regs.Rsp != sp {
			t.Errorf("rsp %#x: got %+v orig_rax %d rsp %#x", sp, ev, regs.Orig_rax, regs.Rsp)
		}
	}
}

func testSharedMemory(t *testing.T, tg Target) {
	// mov edi, DataAddr; mov esi, 0x1234567; mov [rdi], rsi; mov rax, [rdi+8]; syscall
	a := newApp(t, tg, FaultMode{}, Cat(MovEDI(DataAddr), MovESI(0x1234567), Store, Load8, Syscall, Int3))
	binary.LittleEndian.PutUint64(a.Mem[DataOff+8:], 0xabcdef)
	regs := InitialRegs()
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if got := binary.LittleEndian.Uint64(a.Mem[DataOff:]); got != 0x1234567 {
		t.Errorf("Sentry sees %#x, want 0x1234567", got)
	}
	if regs.Orig_rax != 0xabcdef {
		t.Errorf("application read %#x, want 0xabcdef", regs.Orig_rax)
	}
}

func testFaults(t *testing.T, tg Target, m FaultMode) {
	for _, tc := range []struct {
		name   string
		code   []byte
		addr   uintptr
		access platform.AccessType
		code2  int32
	}{
		{"unmapped write", Cat(MovEDI(HoleAddr), Store), HoleAddr, platform.AccessType{Write: true}, segvMapErr},
		{"unmapped read", Cat(MovEDI(HoleAddr+8), Load), HoleAddr + 8, platform.AccessType{Read: true}, segvMapErr},
		{"read-only write", Cat(MovEDI(ROAddr+16), Store), ROAddr + 16, platform.AccessType{Write: true}, segvAccErr},
		{"exec non-exec", Cat(MovEDI(DataAddr+0x100), JmpRDI), DataAddr + 0x100, platform.AccessType{Execute: true}, segvAccErr},
		{"exec unmapped", Cat(MovEDI(HoleAddr), JmpRDI), HoleAddr, platform.AccessType{Execute: true}, segvMapErr},
		// Readable, not writable, but at rip: not a write.
		{"exec read-only", Cat(MovEDI(ROAddr+0x10), JmpRDI), ROAddr + 0x10, platform.AccessType{Execute: true}, segvAccErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, tg, m, tc.code)
			want := tc.access
			if m.MapErrAccessUnknown && tc.code2 == segvMapErr {
				want = platform.AccessType{}
			}
			regs := InitialRegs()
			ev := a.SwitchOK(t, &regs)
			if ev.Kind != platform.EventFault || ev.Addr != tc.addr || ev.Access != want || ev.Signo != int32(unix.SIGSEGV) || ev.Code != tc.code2 {
				t.Fatalf("got %+v, want fault at %#x access %+v code %d", ev, tc.addr, want, tc.code2)
			}
			// The registers are those at the faulting instruction (or
			// its target), and the fault repeats.
			rip, rdi := regs.Rip, regs.Rdi
			wantRIP := uint64(CodeAddr + 5)
			if tc.access.Execute {
				wantRIP = uint64(tc.addr)
			}
			if rip != wantRIP || rdi != uint64(tc.addr) {
				t.Errorf("rip %#x rdi %#x at the fault, want %#x and %#x", rip, rdi, wantRIP, tc.addr)
			}
			ev2 := a.SwitchOK(t, &regs)
			if ev2 != ev || regs.Rip != rip || regs.Rdi != rdi {
				t.Fatalf("second run: %+v rip %#x rdi %#x, want %+v rip %#x rdi %#x", ev2, regs.Rip, regs.Rdi, ev, rip, rdi)
			}
		})
	}
}

func testFaultThenMap(t *testing.T, tg Target, m FaultMode) {
	// mov edi, HoleAddr; mov esi, 42; mov [rdi], rsi; syscall
	a := newApp(t, tg, m, Cat(MovEDI(HoleAddr), MovESI(42), Store, Syscall))
	want := platform.AccessType{Write: true}
	if m.MapErrAccessUnknown {
		want = platform.AccessType{}
	}
	regs := InitialRegs()
	ev := a.SwitchOK(t, &regs)
	if ev.Kind != platform.EventFault || ev.Addr != HoleAddr || ev.Code != segvMapErr || ev.Access != want {
		t.Fatalf("got %+v, want a fault at %#x with access %+v", ev, HoleAddr, want)
	}
	if err := a.AS.MapFile(HoleAddr, ExtraOff, PageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if got := binary.LittleEndian.Uint64(a.Mem[ExtraOff:]); got != 42 {
		t.Errorf("memory file holds %d, want 42", got)
	}
	a.AS.Unmap(HoleAddr, PageSize)
	regs.Rip = CodeAddr
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventFault || ev.Addr != HoleAddr {
		t.Fatalf("after Unmap: %+v, want a fault at %#x", ev, HoleAddr)
	}
}

func testSignals(t *testing.T, tg Target) {
	for _, tc := range []struct {
		name string
		code []byte
		sig  unix.Signal
	}{
		{"divide by zero", DivZero, unix.SIGFPE},
		{"int3", Int3, unix.SIGTRAP},
		{"ud2", []byte{0x0f, 0x0b}, unix.SIGILL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, tg, FaultMode{}, tc.code)
			regs := InitialRegs()
			if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSignal || ev.Signo != int32(tc.sig) {
				t.Fatalf("got %+v, want signal %d", ev, tc.sig)
			}
		})
	}
}

func testInterruptSpinning(t *testing.T, tg Target) {
	a := newApp(t, tg, FaultMode{}, SpinCode)
	regs := InitialRegs()
	var sent time.Time
	ev, err := a.SwitchSpinning(&regs, func() { sent = time.Now(); a.Ctx.Interrupt() })
	lat := time.Since(sent)
	if err != nil || ev.Kind != platform.EventInterrupted {
		t.Fatalf("got %+v %v, want interrupted", ev, err)
	}
	if regs.Rip != SpinRIP {
		t.Errorf("rip = %#x, want %#x", regs.Rip, SpinRIP)
	}
	t.Logf("interrupt latency %v", lat)
	if lat > time.Second { // generous: the VM is shared and loaded
		t.Errorf("interrupt took %v", lat)
	}
	// An interrupt with no Switch running makes the next Switch return.
	a.Ctx.Interrupt()
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventInterrupted {
		t.Fatalf("got %+v, want interrupted", ev)
	}
	// And the application runs on afterwards, until interrupted again.
	binary.LittleEndian.PutUint64(a.Mem[DataOff+markOff:], 0)
	regs.Rip = CodeAddr
	if ev, err := a.SwitchSpinning(&regs, a.Ctx.Interrupt); err != nil || ev.Kind != platform.EventInterrupted || regs.Rip != SpinRIP {
		t.Fatalf("got %+v %v at rip %#x, want interrupted at %#x", ev, err, regs.Rip, SpinRIP)
	}
}

// testInterruptNoLostWakeup races Interrupt against a system call loop at
// many delays: every Interrupt must end a Switch loop.
func testInterruptNoLostWakeup(t *testing.T, tg Target) {
	// again: mov eax, 39; syscall; jmp again
	a := newApp(t, tg, FaultMode{}, Cat(MovEAX(39), Syscall, []byte{0xeb, 0xf7}))
	regs := InitialRegs()
	for i := 0; i < 300; i++ {
		delay := time.Duration(i%30) * 5 * time.Microsecond
		go func() {
			time.Sleep(delay) // varies the race, synchronises nothing
			a.Ctx.Interrupt()
		}()
		deadline := time.Now().Add(5 * time.Second)
		for {
			ev := a.SwitchOK(t, &regs)
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

func testFPState(t *testing.T, tg Target) {
	const xmm0, xmm1 = 160, 176 // in the FXSAVE area
	// movq rsi, xmm0; movq xmm1, rdi; syscall
	a := newApp(t, tg, FaultMode{}, Cat(Xmm0RSI, RDIXmm1, Syscall, Int3))
	fp, err := a.Ctx.FPState()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FP state size %d", len(fp))
	if cw := binary.LittleEndian.Uint16(fp); cw != 0x37f {
		t.Errorf("initial FCW %#x, want 0x37f", cw)
	}
	binary.LittleEndian.PutUint64(fp[xmm0:], 0x1122334455667788)
	if err := a.Ctx.SetFPState(fp); err != nil {
		t.Fatal(err)
	}
	run := func(rdi uint64) uint64 {
		t.Helper()
		regs := InitialRegs()
		regs.Rdi = rdi
		if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
			t.Fatalf("got %+v", ev)
		}
		return regs.Rsi
	}
	if got := run(0x5555666677778888); got != 0x1122334455667788 {
		t.Errorf("application saw xmm0 = %#x", got)
	}
	if fp, err = a.Ctx.FPState(); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(fp[xmm1:]); got != 0x5555666677778888 {
		t.Errorf("FPState xmm1 = %#x, want 0x5555666677778888", got)
	}
	// Set again after the application ran.
	binary.LittleEndian.PutUint64(fp[xmm0:], 42)
	if err := a.Ctx.SetFPState(fp); err != nil {
		t.Fatal(err)
	}
	if got := run(1); got != 42 {
		t.Errorf("application saw xmm0 = %#x after SetFPState, want 42", got)
	}
	if err := a.Ctx.ResetFPState(); err != nil {
		t.Fatal(err)
	}
	if fp, err = a.Ctx.FPState(); err != nil {
		t.Fatal(err)
	}
	if cw, got := binary.LittleEndian.Uint16(fp), binary.LittleEndian.Uint64(fp[xmm1:]); cw != 0x37f || got != 0 {
		t.Errorf("after ResetFPState FCW %#x xmm1 %#x, want 0x37f and 0", cw, got)
	}
	if got := run(2); got != 0 {
		t.Errorf("application saw xmm0 = %#x after ResetFPState", got)
	}
}

// testMapFromOtherThread maps pages from a goroutine other than the one
// running the context: while the application runs, and while it is
// stopped.
func testMapFromOtherThread(t *testing.T, tg Target) {
	a := newApp(t, tg, FaultMode{}, SpinCode)
	regs := InitialRegs()
	var mapErr error
	ev, err := a.SwitchSpinning(&regs, func() {
		mapErr = a.AS.MapFile(HoleAddr, ExtraOff, PageSize, platform.ReadWrite)
		a.Ctx.Interrupt()
	})
	if err != nil || ev.Kind != platform.EventInterrupted {
		t.Fatalf("got %+v %v, want interrupted", ev, err)
	}
	if mapErr != nil {
		t.Fatal(mapErr)
	}
	copy(a.Mem[CodeOff:], Cat(MovEDI(HoleAddr), MovESI(7), Store, Syscall))
	regs = InitialRegs()
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if got := a.Mem[ExtraOff]; got != 7 {
		t.Errorf("page holds %d, want 7", got)
	}
	// Mapped while the application is stopped: in place when it runs.
	done := make(chan error)
	go func() { done <- a.AS.MapFile(HoleAddr+PageSize, ExtraOff, PageSize, platform.ReadWrite) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	copy(a.Mem[CodeOff:], Cat(MovEDI(HoleAddr+PageSize+8), MovESI(9), Store, Syscall))
	regs = InitialRegs()
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	if got := a.Mem[ExtraOff+8]; got != 9 {
		t.Errorf("page holds %d, want 9", got)
	}
}

// testStubIsClean: a stub keeps nothing of the Sentry: below
// MaxUserAddress exactly the application's mappings, above it only the
// platform's own region; only the descriptors it needs.
func testStubIsClean(t *testing.T, tg Target) {
	a := newApp(t, tg, FaultMode{}, Cat(MovEAX(39), Syscall))
	regs := InitialRegs()
	a.SwitchOK(t, &regs)
	pid := tg.StubPID(a.AS)
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	app := []string{
		fmt.Sprintf("%08x-%08x", CodeAddr, CodeAddr+PageSize),
		fmt.Sprintf("%08x-%08x", DataAddr, ROAddr),
		fmt.Sprintf("%08x-%08x", ROAddr, ROAddr+PageSize),
		fmt.Sprintf("%08x-%08x", StacksAddr, StacksAddr+64*PageSize),
	}
	above := 0
	for _, l := range strings.Split(strings.TrimSpace(string(maps)), "\n") {
		t.Log(l)
		rng := strings.Fields(l)[0]
		lo, err := strconv.ParseUint(strings.SplitN(rng, "-", 2)[0], 16, 64)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if lo >= uint64(a.P.MaxUserAddress()) {
			above++
		} else if !slices.Contains(app, rng) {
			t.Errorf("the stub has a mapping the application did not make: %s", l)
		}
	}
	if above > tg.MaxStubVMAs {
		t.Errorf("the stub has %d mappings above the application's, want at most %d", above, tg.MaxStubVMAs)
	}
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil || len(fds) != tg.StubFDs {
		t.Errorf("the stub has %d descriptors (%v), want %d", len(fds), err, tg.StubFDs)
	}
	if tg.CheckStub != nil {
		tg.CheckStub(t, a)
	}
}

// testStubKilledFromOutside: a stub killed by someone else ends the
// context, for good.
func testStubKilledFromOutside(t *testing.T, tg Target) {
	a := newApp(t, tg, FaultMode{}, SpinCode)
	regs := InitialRegs()
	var killErr error
	_, err := a.SwitchSpinning(&regs, func() { killErr = unix.Kill(tg.StubPID(a.AS), unix.SIGKILL) })
	if killErr != nil {
		t.Fatal(killErr)
	}
	for i := 0; i < 2; i++ {
		if !errors.Is(err, platform.ErrContextDead) {
			t.Fatalf("Switch %d: got %v, want ErrContextDead", i, err)
		}
		_, err = a.Ctx.Switch(a.AS, &regs)
	}
}

// testReleaseLeavesNothing creates, runs (or not) and releases 1000
// address spaces (100 with -short); afterwards every stub is gone and
// reaped. The address spaces that run have three threads: one of a
// context that moves from address space to address space (as a task does
// across execve), one released before the address space and one after.
func testReleaseLeavesNothing(t *testing.T, tg Target) {
	fd, mem := NewMemFile(t)
	copy(mem[CodeOff:], ThreadLoop)
	p := tg.New(t, fd)
	// The platform may start processes that live as long as it does (a
	// template to fork stubs from) with its first address space.
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	as.Release()
	tg.Settle(p)
	before := Children(t)
	mover, err := p.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer mover.Release()
	n := 1000
	if testing.Short() {
		n = 100
	}
	var pids []int
	start := time.Now()
	for i := 0; i < n; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		pids = append(pids, tg.StubPID(as))
		if i%2 == 1 { // never run
			as.Release()
			continue
		}
		if err := as.MapFile(CodeAddr, CodeOff, PageSize, platform.ReadExec); err != nil {
			t.Fatal(err)
		}
		if err := as.MapFile(StacksAddr, StacksOff, 3*PageSize, platform.ReadWrite); err != nil {
			t.Fatal(err)
		}
		c1, _ := p.NewContext()
		c2, _ := p.NewContext()
		for j, c := range []platform.Context{mover, c1, c2} {
			regs := ThreadRegs(j, ProgLoop)
			if ev, err := c.Switch(as, &regs); err != nil || ev.Kind != platform.EventSyscall {
				t.Fatalf("cycle %d thread %d: %+v %v", i, j, ev, err)
			}
		}
		c1.Release()
		as.Release()
		c2.Release()
	}
	t.Logf("%d create/run/release cycles in %v", n, time.Since(start))
	tg.Settle(p)
	// Release may leave the reaping to a goroutine.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []int
		for _, pid := range pids {
			if err := unix.Kill(pid, 0); err != unix.ESRCH {
				left = append(left, pid)
			}
		}
		var extra []int
		for _, pid := range Children(t) {
			if !slices.Contains(before, pid) {
				extra = append(extra, pid)
			}
		}
		if len(left) == 0 && len(extra) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stubs still there: %v; new children: %v", left, extra)
		}
		time.Sleep(time.Millisecond)
	}
}

// testThreads runs 8 threads in one address space at once, each in its
// own stub thread with its own stack page, and checks every system call
// event. A thread that runs no application code maps a page while they
// run. Half the contexts are released as their threads finish, at
// different times, while the others run on; their stub threads go, and
// the others still run afterwards. Finally the address space is released
// with contexts still holding threads.
func testThreads(t *testing.T, tg Target) {
	const n = 8
	a := newApp(t, tg, FaultMode{}, ThreadsCode())
	pid := tg.StubPID(a.AS)
	release := make(chan struct{})
	defer close(release)
	counted, runOn := make(chan struct{}), make(chan struct{})
	var started, ran, ranOn sync.WaitGroup
	errs := make(chan string, 2*n)
	for i := 0; i < n; i++ {
		started.Add(1)
		ran.Add(1)
		ranOn.Add(1)
		a.OnThread(t, false, release, func(ctx platform.Context) {
			defer ranOn.Done()
			regs := ThreadRegs(i, ProgLoop)
			regs.Rdi = uint64(i) << 32
			iters := 200 + 100*i // the threads end at different times
			k := 0
			for ; k < iters; k++ {
				ev, err := ctx.Switch(a.AS, &regs)
				if k == 0 {
					started.Done()
					<-counted
				}
				if err != nil || ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 || regs.Rsi != regs.Rdi {
					errs <- fmt.Sprintf("thread %d iteration %d: %+v %v orig_rax=%d rsi=%#x rdi=%#x rip=%#x", i, k, ev, err, regs.Orig_rax, regs.Rsi, regs.Rdi, regs.Rip)
					break
				}
				if got := binary.LittleEndian.Uint64(a.Mem[StacksOff+i*PageSize+64:]); got != regs.Rdi {
					errs <- fmt.Sprintf("thread %d: stack page holds %#x, want %#x", i, got, regs.Rdi)
					break
				}
				regs.Rdi++
			}
			if i%2 == 0 {
				ctx.Release()
			}
			ran.Done()
			<-runOn
			if i%2 == 1 && k == iters {
				if ev, err := ctx.Switch(a.AS, &regs); err != nil || ev.Kind != platform.EventSyscall || regs.Rsi != regs.Rdi {
					errs <- fmt.Sprintf("thread %d after half were released: %+v %v", i, ev, err)
				}
			}
		})
	}
	started.Wait()
	if got := Tasks(pid); got != n+1 {
		t.Errorf("stub has %d threads, want %d", got, n+1)
	}
	close(counted)
	if err := a.AS.MapFile(HoleAddr, ExtraOff, PageSize, platform.ReadWrite); err != nil {
		t.Errorf("MapFile while threads run: %v", err)
	}
	ran.Wait()
	if want := 1 + n/2; WaitTasks(pid, want) != want {
		t.Errorf("after releasing half the contexts the stub has %d threads, want %d", Tasks(pid), want)
	}
	close(runOn)
	ranOn.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	a.Release()
	deadline := time.Now().Add(5 * time.Second)
	for unix.Kill(pid, 0) != unix.ESRCH {
		if time.Now().After(deadline) {
			t.Fatalf("stub %d still exists after Release", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// testMapWhileThreadsRun maps a page over and over from a thread that
// runs no application code while 4 threads run system call loops: no
// thread may see anything but its own system calls.
func testMapWhileThreadsRun(t *testing.T, tg Target) {
	const n = 4
	a := newApp(t, tg, FaultMode{}, ThreadsCode())
	release := make(chan struct{})
	defer close(release)
	var stop atomic.Bool
	var started sync.WaitGroup
	var dones []<-chan struct{}
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		started.Add(1)
		dones = append(dones, a.OnThread(t, true, release, func(ctx platform.Context) {
			regs := ThreadRegs(i, ProgLoop)
			for k := 0; !stop.Load(); k++ {
				ev, err := ctx.Switch(a.AS, &regs)
				if k == 0 {
					started.Done()
				}
				if err != nil || ev.Kind != platform.EventSyscall || regs.Rip != CodeAddr+uint64(len(ThreadLoop))-2 {
					errs <- fmt.Sprintf("thread %d iteration %d: %+v %v rip=%#x", i, k, ev, err, regs.Rip)
					stop.Store(true)
					return
				}
			}
		}))
	}
	started.Wait()
	for k := 0; k < 1000 && !stop.Load(); k++ {
		if err := a.AS.MapFile(HoleAddr, ExtraOff, PageSize, platform.ReadWrite); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	for _, d := range dones {
		<-d
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// testThreadsFaultProbe faults in many threads at once: each sees its own
// fault.
func testThreadsFaultProbe(t *testing.T, tg Target, m FaultMode) {
	const n = 6
	a := newApp(t, tg, m, ThreadsCode())
	release := make(chan struct{})
	defer close(release)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		a.OnThread(t, true, release, func(ctx platform.Context) {
			defer wg.Done()
			prog, want, addr := uint64(ProgWriteRO), platform.AccessType{Write: true}, uintptr(ROAddr)
			if i%2 == 1 {
				prog, want, addr = ProgExecData, platform.AccessType{Execute: true}, DataAddr
			}
			for k := 0; k < 200; k++ {
				regs := ThreadRegs(i, prog)
				ev, err := ctx.Switch(a.AS, &regs)
				if err != nil || ev.Kind != platform.EventFault || ev.Access != want || ev.Addr != addr {
					errs <- fmt.Sprintf("thread %d iteration %d: %+v %v rip=%#x", i, k, ev, err, regs.Rip)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// testNewThreadFPState: a context's FP state set before its first Switch
// reaches its new stub thread.
func testNewThreadFPState(t *testing.T, tg Target) {
	a := newApp(t, tg, FaultMode{}, ThreadsCode())
	regs := ThreadRegs(0, ProgLoop)
	a.SwitchOK(t, &regs)
	fp, err := a.Ctx.FPState()
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(fp[160:], 0x5566778899aabbcc) // xmm0
	if len(fp) > 512 {
		fp[512] |= 2 // XSTATE_BV: SSE state present
	}
	release := make(chan struct{})
	defer close(release)
	var got uint64
	<-a.OnThread(t, true, release, func(ctx platform.Context) {
		if err = ctx.SetFPState(fp); err != nil {
			return
		}
		r := ThreadRegs(1, ProgReadXmm0)
		if _, err = ctx.Switch(a.AS, &r); err == nil {
			got = r.Rsi
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != 0x5566778899aabbcc {
		t.Errorf("new thread saw xmm0 = %#x", got)
	}
}

// testThreadInterrupt interrupts one spinning thread while another keeps
// making system calls.
func testThreadInterrupt(t *testing.T, tg Target) {
	a := newApp(t, tg, FaultMode{}, ThreadsCode())
	release := make(chan struct{})
	defer close(release)
	spinning := make(chan platform.Context, 1)
	var spinEv platform.Event
	var spinErr error
	spinDone := a.OnThread(t, true, release, func(ctx platform.Context) {
		spinning <- ctx
		r := ThreadRegs(0, ProgSpin)
		spinEv, spinErr = ctx.Switch(a.AS, &r)
	})
	ctx := <-spinning
	regs := ThreadRegs(1, ProgLoop)
	for i := 0; i < 100; i++ {
		if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
			t.Fatalf("got %+v", ev)
		}
	}
	ctx.Interrupt()
	<-spinDone
	if spinErr != nil || spinEv.Kind != platform.EventInterrupted {
		t.Fatalf("spinning thread: %+v %v", spinEv, spinErr)
	}
}
