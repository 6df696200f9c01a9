//go:build linux && amd64

package systrap

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/apptest"
	"golang.org/x/sys/unix"
)

// testApp is a tiny application: code at apptest.CodeAddr (r-x), a data/stack page
// at apptest.DataAddr (rw-), a read-only page at apptest.ROAddr and stack pages for
// threads at apptest.StacksAddr, all in a memfd.
type testApp struct {
	p   *Platform
	as  *AddressSpace
	ctx *Context
	mem []byte
}

func newTestApp(t testing.TB, code []byte) *testApp {
	t.Helper()
	fd, mem := apptest.NewMemFile(t)
	copy(mem[apptest.CodeOff:], code)
	p, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	p.noPool = true // see TestPool
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(as.Release)
	ctx, _ := p.NewContext()
	a := &testApp{p: p, as: as.(*AddressSpace), ctx: ctx.(*Context), mem: mem}
	for _, m := range []struct {
		addr   uintptr
		off    int64
		length uintptr
		at     platform.AccessType
	}{
		{apptest.CodeAddr, apptest.CodeOff, pageSize, platform.ReadExec},
		{apptest.DataAddr, apptest.DataOff, pageSize, platform.ReadWrite},
		{apptest.ROAddr, apptest.ROOff, pageSize, platform.Read},
		{apptest.StacksAddr, apptest.StacksOff, 64 * pageSize, platform.ReadWrite},
	} {
		if err := as.MapFile(m.addr, m.off, m.length, m.at); err != nil {
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

func TestEveryRegister(t *testing.T) {
	// syscall; syscall: the second event shows every register as the
	// Sentry set them after the first.
	a := newTestApp(t, apptest.Cat(apptest.Syscall, apptest.Syscall))
	regs := apptest.InitialRegs()
	a.switchOK(t, &regs)
	want := regs
	vals := []*uint64{&want.R8, &want.R9, &want.R10, &want.R12, &want.R13, &want.R14, &want.R15,
		&want.Rdi, &want.Rsi, &want.Rbp, &want.Rbx, &want.Rdx}
	for i, p := range vals {
		*p = 0x1111111111111111 * uint64(i+1)
	}
	want.Rax = 39
	want.Fs_base = 0x12345000
	regs = want
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v", ev)
	}
	for i, p := range vals {
		got := []uint64{regs.R8, regs.R9, regs.R10, regs.R12, regs.R13, regs.R14, regs.R15,
			regs.Rdi, regs.Rsi, regs.Rbp, regs.Rbx, regs.Rdx}[i]
		if got != *p {
			t.Errorf("register %d = %#x, want %#x", i, got, *p)
		}
	}
	if regs.Orig_rax != 39 || regs.Fs_base != want.Fs_base || regs.Rsp != want.Rsp {
		t.Errorf("orig_rax %d fs %#x rsp %#x", regs.Orig_rax, regs.Fs_base, regs.Rsp)
	}
}

func TestSharedMemory(t *testing.T) {
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, tc.code)
			regs := apptest.InitialRegs()
			ev := a.switchOK(t, &regs)
			if ev.Kind != platform.EventFault || ev.Addr != tc.addr || ev.Access != tc.access || ev.Signo != int32(unix.SIGSEGV) || ev.Code != tc.code2 {
				t.Fatalf("got %+v, want fault at %#x access %+v code %d", ev, tc.addr, tc.access, tc.code2)
			}
			rip := regs.Rip
			ev = a.switchOK(t, &regs)
			if ev.Kind != platform.EventFault || regs.Rip != rip {
				t.Fatalf("second run: %+v rip %#x (was %#x)", ev, regs.Rip, rip)
			}
		})
	}
}

func TestFaultThenMap(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEDI(apptest.HoleAddr), apptest.MovESI(42), apptest.Store, apptest.Syscall))
	regs := apptest.InitialRegs()
	ev := a.switchOK(t, &regs)
	if ev.Kind != platform.EventFault || !ev.Access.Write {
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
	a.as.Unmap(apptest.HoleAddr, pageSize)
	regs.Rip = apptest.CodeAddr
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventFault {
		t.Fatalf("after Unmap: %+v", ev)
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
	go func() {
		time.Sleep(20 * time.Millisecond)
		a.ctx.Interrupt()
	}()
	start := time.Now()
	ev := a.switchOK(t, &regs)
	if ev.Kind != platform.EventInterrupted {
		t.Fatalf("got %+v, want interrupted", ev)
	}
	if regs.Rip != apptest.CodeAddr {
		t.Errorf("rip = %#x, want %#x", regs.Rip, apptest.CodeAddr)
	}
	t.Logf("interrupted after %v", time.Since(start))
	// An interrupt with no Switch running makes the next Switch return.
	a.ctx.Interrupt()
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventInterrupted {
		t.Fatalf("got %+v, want interrupted", ev)
	}
	// And the application runs on afterwards.
	go func() {
		time.Sleep(5 * time.Millisecond)
		a.ctx.Interrupt()
	}()
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventInterrupted {
		t.Fatalf("got %+v, want interrupted", ev)
	}
}

func TestFPState(t *testing.T) {
	// movq rsi, xmm0; movq xmm1, rdi; syscall
	a := newTestApp(t, apptest.Cat(apptest.Xmm0RSI, apptest.RDIXmm1, apptest.Syscall, apptest.Syscall))
	regs := apptest.InitialRegs()
	regs.Rdi = 0x5555666677778888
	fp, err := a.ctx.FPState()
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(fp[160:], 0x1122334455667788) // xmm0
	if err := a.ctx.SetFPState(fp); err != nil {
		t.Fatal(err)
	}
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
	if got := binary.LittleEndian.Uint64(fp[176:]); got != 0x5555666677778888 {
		t.Errorf("FPState xmm1 = %#x", got)
	}
	// Set while resident in the frame.
	binary.LittleEndian.PutUint64(fp[160:], 42)
	a.ctx.SetFPState(fp)
	regs.Rip = apptest.CodeAddr
	a.switchOK(t, &regs)
	if regs.Rsi != 42 {
		t.Errorf("application saw xmm0 = %#x after SetFPState, want 42", regs.Rsi)
	}
	if err := a.ctx.ResetFPState(); err != nil {
		t.Fatal(err)
	}
	regs.Rip = apptest.CodeAddr
	a.switchOK(t, &regs)
	if regs.Rsi != 0 {
		t.Errorf("xmm0 = %#x after reset", regs.Rsi)
	}
}

func TestThreads(t *testing.T) {
	const n = 8
	a := newTestApp(t, apptest.ThreadLoop)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	ctxs := make([]*Context, n)
	for i := 0; i < n; i++ {
		c, _ := a.p.NewContext()
		ctxs[i] = c.(*Context)
	}
	release := make(chan struct{})
	var done sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		done.Add(1)
		go func(i int) {
			defer done.Done()
			runtime.LockOSThread()
			c := ctxs[i]
			regs := platform.Registers{Rip: apptest.CodeAddr, Rsp: apptest.StacksAddr + uint64(i)*pageSize + 64, Eflags: 0x202, Rdi: uint64(1000 + i)}
			for j := 0; j < 200; j++ {
				ev, err := c.Switch(a.as, &regs)
				if err != nil || ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 || regs.Rsi != uint64(1000+i) {
					errs <- "thread " + strconv.Itoa(i) + ": bad event"
					break
				}
			}
			wg.Done()
			<-release
			if i%2 == 0 {
				c.Release()
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := apptest.Tasks(a.as.pid); got != n+1 {
		t.Errorf("stub has %d threads, want %d", got, n+1)
	}
	close(release)
	done.Wait()
	if got := apptest.Tasks(a.as.pid); got != n/2+1 {
		t.Errorf("after releasing half the contexts the stub has %d threads, want %d", got, n/2+1)
	}
	// The remaining contexts still run.
	regs := platform.Registers{Rip: apptest.CodeAddr, Rsp: apptest.StacksAddr + 64 + pageSize, Eflags: 0x202, Rdi: 7}
	if ev, err := ctxs[1].Switch(a.as, &regs); err != nil || ev.Kind != platform.EventSyscall {
		t.Fatalf("after partial release: %+v %v", ev, err)
	}
}

func TestReleaseLeavesNothing(t *testing.T) {
	fd, mem := apptest.NewMemFile(t)
	copy(mem[apptest.CodeOff:], apptest.ThreadLoop)
	p, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	p.noPool = true
	before := len(apptest.Children(t))
	var pids []int
	n := 1000
	if testing.Short() {
		n = 100
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		pids = append(pids, as.(*AddressSpace).pid)
		if err := as.MapFile(apptest.CodeAddr, apptest.CodeOff, pageSize, platform.ReadExec); err != nil {
			t.Fatal(err)
		}
		if err := as.MapFile(apptest.StacksAddr, apptest.StacksOff, pageSize, platform.ReadWrite); err != nil {
			t.Fatal(err)
		}
		c1, _ := p.NewContext()
		c2, _ := p.NewContext()
		for _, c := range []platform.Context{c1, c2} {
			regs := platform.Registers{Rip: apptest.CodeAddr, Rsp: apptest.StacksAddr + 64, Eflags: 0x202}
			if ev, err := c.Switch(as, &regs); err != nil || ev.Kind != platform.EventSyscall {
				t.Fatalf("cycle %d: %+v %v", i, ev, err)
			}
		}
		c1.Release()
		as.Release()
		c2.Release()
	}
	t.Logf("%d create/run/release cycles in %v", n, time.Since(start))
	p.reaping.Wait()
	if after := apptest.Children(t); len(after) != before {
		t.Errorf("%d child processes before, %v after", before, after)
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, 0); err != unix.ESRCH {
			t.Fatalf("stub %d is still there (%v)", pid, err)
		}
	}
}

// TestPool takes address spaces from a full pool of ready stubs; they
// work like fresh ones.
func TestPool(t *testing.T) {
	fd, mem := apptest.NewMemFile(t)
	copy(mem[apptest.CodeOff:], apptest.ThreadLoop)
	p, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	p.noPool = true // no refills behind the test's back
	p.fillPool()
	if len(p.pool) != poolSize {
		t.Fatalf("pool holds %d stubs, want %d", len(p.pool), poolSize)
	}
	p.noPool = false
	for i := 0; i < poolSize; i++ {
		p.poolFilling.Store(true) // keep refill from starting
		as, err := p.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		if err := as.MapFile(apptest.CodeAddr, apptest.CodeOff, pageSize, platform.ReadExec); err != nil {
			t.Fatal(err)
		}
		if err := as.MapFile(apptest.StacksAddr, apptest.StacksOff, pageSize, platform.ReadWrite); err != nil {
			t.Fatal(err)
		}
		c, _ := p.NewContext()
		regs := platform.Registers{Rip: apptest.CodeAddr, Rsp: apptest.StacksAddr + 64, Eflags: 0x202}
		if ev, err := c.Switch(as, &regs); err != nil || ev.Kind != platform.EventSyscall {
			t.Fatalf("stub %d from the pool: %+v %v", i, ev, err)
		}
		c.Release()
		as.Release()
	}
	if len(p.pool) != 0 {
		t.Errorf("pool holds %d stubs after %d taken", len(p.pool), poolSize)
	}
	p.reaping.Wait()
}

// TestQueuedMappings: mappings are queued and sent with the next Switch,
// all in one request.
func TestQueuedMappings(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEDI(apptest.HoleAddr), apptest.Load, apptest.Syscall))
	regs := apptest.InitialRegs()
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventFault {
		t.Fatalf("got %+v, want a fault at the hole", ev)
	}
	r0 := a.p.Requests()
	for i := uintptr(0); i < 16; i++ {
		if err := a.as.MapFile(apptest.HoleAddr+i*pageSize, apptest.ExtraOff, pageSize, platform.Read); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.p.Requests() - r0; n != 0 {
		t.Fatalf("%d requests before the Switch, want 0", n)
	}
	regs.Rip = apptest.CodeAddr
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v after mapping the hole", ev)
	}
	if n := a.p.Requests() - r0; n != 1 {
		t.Errorf("%d requests for 16 queued mappings, want 1", n)
	}
	// A queued mapping that fails makes that Switch fail.
	if err := a.as.MapFile(apptest.HoleAddr, int64(apptest.MemSize)*1024, pageSize, platform.Read); err != nil {
		t.Fatal(err)
	}
	a.as.queued[len(a.as.queued)-1].args[4] = 1 << 20 // no such descriptor
	regs.Rip = apptest.CodeAddr
	if _, err := a.ctx.Switch(a.as, &regs); !errors.Is(err, platform.ErrContextDead) {
		t.Errorf("Switch with a failing queued mapping: %v, want ErrContextDead", err)
	}
}

func TestStubKilledFromOutside(t *testing.T) {
	a := newTestApp(t, apptest.JmpSelf)
	regs := apptest.InitialRegs()
	go func() {
		time.Sleep(10 * time.Millisecond)
		unix.Kill(a.as.pid, unix.SIGKILL)
	}()
	_, err := a.ctx.Switch(a.as, &regs)
	if err == nil {
		t.Fatal("Switch on a killed stub succeeded")
	}
}

func TestStubIsClean(t *testing.T) {
	a := newTestApp(t, apptest.Syscall)
	regs := apptest.InitialRegs()
	a.switchOK(t, &regs)
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(a.as.pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(maps)), "\n") {
		f := strings.Fields(l)
		var lo uint64
		if _, err := fmtSscanf(f[0], &lo); err != nil {
			t.Fatal(err)
		}
		if lo < uint64(a.p.MaxUserAddress()) && lo >= 0x10000000 {
			t.Errorf("stub keeps a Sentry mapping: %s", l)
		}
	}
	fds, _ := os.ReadDir("/proc/" + strconv.Itoa(a.as.pid) + "/fd")
	if len(fds) != 2 {
		t.Errorf("the mapper has %d descriptors, want 2 (the memory file and the pipe)", len(fds))
	}
	th := a.ctx.threads[a.as]
	fds, err = os.ReadDir("/proc/" + strconv.Itoa(a.as.pid) + "/task/" + strconv.Itoa(th.tid) + "/fd")
	if err != nil || len(fds) != 0 {
		t.Errorf("the application thread has descriptors %v (%v), want none", fds, err)
	}
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(a.as.pid) + "/status")
	if !strings.Contains(string(status), "Seccomp:\t2") {
		t.Errorf("stub has no seccomp filter")
	}
}

func fmtSscanf(rng string, lo *uint64) (int, error) {
	v, err := strconv.ParseUint(strings.SplitN(rng, "-", 2)[0], 16, 64)
	*lo = v
	return 1, err
}

func TestBadInputOwnGarbageStack(t *testing.T) {
	// mov rsp, -1... is not needed: the handler runs on its own stack.
	a := newTestApp(t, apptest.Cat([]byte{0x48, 0x31, 0xe4}, apptest.Syscall)) // xor rsp, rsp; syscall
	regs := apptest.InitialRegs()
	if ev := a.switchOK(t, &regs); ev.Kind != platform.EventSyscall || regs.Rsp != 0 {
		t.Fatalf("got %+v rsp %#x", ev, regs.Rsp)
	}
}

func TestStubDisassembly(t *testing.T) {
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Skip("no objdump")
	}
	code, _ := stubProgram(0x7e0000000000, 1)
	f := filepath.Join(t.TempDir(), "stub.bin")
	os.WriteFile(f, code, 0o644)
	out, err := exec.Command("objdump", "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel", f).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "(bad)") {
		t.Errorf("objdump cannot decode the stub:\n%s", out)
	}
	t.Logf("%d bytes", len(code))
}

func BenchmarkGetpidRoundTrip(b *testing.B) {
	// again: mov eax, 39; syscall; jmp again
	a := newTestApp(b, apptest.Cat(apptest.MovEAX(39), apptest.Syscall, []byte{0xeb, 0xf7}))
	regs := apptest.InitialRegs()
	for i := 0; i < 200; i++ {
		a.switchOK(b, &regs)
	}
	d := make([]time.Duration, 0, b.N)
	h0, m0, bl0, w0 := statSpinHits.Load(), statSpinMisses.Load(), statBlocks.Load(), statWakes.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		ev, err := a.ctx.Switch(a.as, &regs)
		d = append(d, time.Since(start))
		if err != nil || ev.Kind != platform.EventSyscall {
			b.Fatalf("%+v %v", ev, err)
		}
	}
	b.StopTimer()
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1000, "median-µs")
	b.ReportMetric(float64(d[len(d)*9/10].Nanoseconds())/1000, "p90-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds())/1000, "p99-µs")
	n := float64(b.N)
	var slow time.Duration
	for _, x := range d {
		if x > time.Millisecond {
			slow += x
		}
	}
	b.ReportMetric(float64(d[len(d)-1].Nanoseconds())/1000, "max-µs")
	b.ReportMetric(float64(statTimeouts.Load()), "timeouts")
	b.ReportMetric(float64(slow.Milliseconds()), "ms-in-over-1ms")
	b.ReportMetric(float64(statSpinHits.Load()-h0)/n, "spinhits/op")
	b.ReportMetric(float64(statSpinMisses.Load()-m0)/n, "spinmisses/op")
	b.ReportMetric(float64(statBlocks.Load()-bl0)/n, "blocks/op")
	b.ReportMetric(float64(statWakes.Load()-w0)/n, "wakes/op")
}

// TestTemplate: stubs are forked by the template, yet are the Sentry's
// apptest.Children (CLONE_PARENT), and the template survives them.
func TestTemplate(t *testing.T) {
	fd, _ := apptest.NewMemFile(t)
	p, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	p.noPool = true
	if p.tmplSock < 0 {
		t.Fatal("no template")
	}
	for i := 0; i < 3; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		pid := as.(*AddressSpace).pid
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		// pid (comm) state ppid ...: comm has no spaces here.
		if f := strings.Fields(string(stat)); len(f) < 4 || f[3] != strconv.Itoa(os.Getpid()) {
			t.Errorf("stub %d: stat %q, want the test as its parent", pid, stat)
		}
		as.Release()
	}
	if p.tmplSock < 0 {
		t.Error("the template was given up")
	}
	if err := unix.Kill(p.tmplPid, 0); err != nil {
		t.Errorf("template: %v", err)
	}
	p.reaping.Wait()
}

// TestTemplateDeath: when the template dies, stubs are forked by the
// factory, and the template is reaped.
func TestTemplateDeath(t *testing.T) {
	fd, mem := apptest.NewMemFile(t)
	copy(mem[apptest.CodeOff:], apptest.ThreadLoop)
	p, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	p.noPool = true
	tmpl := p.tmplPid
	if err := unix.Kill(tmpl, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			t.Fatalf("NewAddressSpace after the template died: %v", err)
		}
		if err := as.MapFile(apptest.CodeAddr, apptest.CodeOff, pageSize, platform.ReadExec); err != nil {
			t.Fatal(err)
		}
		if err := as.MapFile(apptest.StacksAddr, apptest.StacksOff, pageSize, platform.ReadWrite); err != nil {
			t.Fatal(err)
		}
		c, _ := p.NewContext()
		regs := platform.Registers{Rip: apptest.CodeAddr, Rsp: apptest.StacksAddr + 64, Eflags: 0x202}
		if ev, err := c.Switch(as, &regs); err != nil || ev.Kind != platform.EventSyscall {
			t.Fatalf("%+v %v", ev, err)
		}
		c.Release()
		as.Release()
	}
	if p.tmplSock != -1 {
		t.Error("the dead template is still used")
	}
	p.reaping.Wait()
	if err := unix.Kill(tmpl, 0); err != unix.ESRCH {
		t.Errorf("template %d not reaped: %v", tmpl, err)
	}
}
