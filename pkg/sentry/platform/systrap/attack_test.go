//go:build linux && amd64

package systrap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/apptest"
	"golang.org/x/sys/unix"
)

// Each test here is an attack an application can make on its own stub
// with nothing but its registers and memory. Each must fail with what
// Linux would show the application (a fault, a signal, the death of the
// process), the stub must do nothing the application asked of it, and the
// Sentry must go on.

// stubSyscallSites returns every address in the stub code where the bytes
// 0f 05 (syscall) lie, at instruction boundaries or not.
func stubSyscallSites(p *Platform) []uintptr {
	code := unsafe.Slice((*byte)(unsafe.Add(nil, p.stub.start)), pageSize)
	var sites []uintptr
	for i := 0; i+1 < len(code); i++ {
		if code[i] == 0x0f && code[i+1] == 0x05 {
			sites = append(sites, p.stub.start+uintptr(i))
		}
	}
	return sites
}

// stubMaps returns the stub's /proc maps.
func stubMaps(t testing.TB, pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestJumpIntoStubCode jumps to every syscall instruction in the stub code
// with every dangerous system call set up (mmap of the memory file over a
// free range, mprotect and munmap of the stub region, mremap, clone,
// write to the pipe, signal handlers and masks, a new filter, kill). Each
// must be a SIGSEGV-like fault at the stub address, with nothing done.
func TestJumpIntoStubCode(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	sites := stubSyscallSites(a.Plat)
	if len(sites) < 10 {
		t.Fatalf("found only %d syscall sites in the stub code", len(sites))
	}
	const target = 0x800000 // free in the test app
	stubRegs := func(nr uint64) [6]uint64 {
		switch nr {
		case unix.SYS_MMAP:
			return [6]uint64{target, pageSize, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_SHARED | unix.MAP_FIXED, uint64(a.Plat.memfd), 0}
		case unix.SYS_MPROTECT:
			return [6]uint64{uint64(a.Plat.stub.start), pageSize * 3, unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC}
		case unix.SYS_MUNMAP:
			return [6]uint64{uint64(a.Plat.stub.start), stubSize}
		case unix.SYS_MREMAP:
			return [6]uint64{uint64(a.Plat.stub.start) + reqPageOff, pageSize, pageSize, 3 /* MAYMOVE|FIXED */, target}
		case unix.SYS_WRITE:
			return [6]uint64{uint64(a.Plat.memfd) + 1, uint64(a.Plat.stub.start), 1}
		case unix.SYS_CLONE:
			return [6]uint64{cloneFlags | unix.CLONE_FILES}
		case unix.SYS_RT_SIGACTION:
			return [6]uint64{uint64(unix.SIGSYS), 0, 0, 8}
		case unix.SYS_RT_SIGPROCMASK:
			return [6]uint64{unix.SIG_SETMASK, uint64(a.Plat.stub.start) + pageSize + dataHandlerAction + 24, 0, 8}
		case unix.SYS_FUTEX:
			return [6]uint64{uint64(a.Plat.stub.start) + reqPageOff, 4 /* FUTEX_CMP_REQUEUE */, 1, 1, apptest.DataAddr}
		case unix.SYS_ARCH_PRCTL:
			return [6]uint64{0x1001 /* ARCH_SET_GS */, 0}
		}
		return [6]uint64{}
	}
	dangerous := []uint64{unix.SYS_MMAP, unix.SYS_MPROTECT, unix.SYS_MUNMAP, unix.SYS_MREMAP,
		unix.SYS_CLONE, unix.SYS_WRITE, unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPROCMASK,
		unix.SYS_SIGALTSTACK, sysCloseRange, sysSeccomp, unix.SYS_PRCTL, unix.SYS_KILL,
		unix.SYS_TGKILL, unix.SYS_EXIT_GROUP, unix.SYS_DUP3, unix.SYS_PTRACE, unix.SYS_FUTEX,
		unix.SYS_ARCH_PRCTL, unix.SYS_OPENAT}
	if err := a.Space.flush(); err != nil {
		t.Fatal(err)
	}
	before := stubMaps(t, a.Space.pid)
	for _, site := range sites {
		for _, nr := range dangerous {
			args := stubRegs(nr)
			regs := apptest.InitialRegs()
			regs.Rip = uint64(site)
			regs.Rax = nr
			regs.Rdi, regs.Rsi, regs.Rdx, regs.R10, regs.R8, regs.R9 = args[0], args[1], args[2], args[3], args[4], args[5]
			ev, err := a.Context.Switch(a.Space, &regs)
			if err != nil {
				t.Fatalf("syscall %d at %#x: Switch: %v", nr, site, err)
			}
			if ev.Kind != platform.EventFault || !ev.Access.Execute || !a.Plat.stub.contains(ev.Addr) || ev.Signo != int32(unix.SIGSEGV) {
				t.Fatalf("syscall %d at %#x: got %+v, want an execute fault in the stub region", nr, site, ev)
			}
		}
	}
	if after := stubMaps(t, a.Space.pid); after != before {
		t.Errorf("stub mappings changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if n := apptest.Tasks(a.Space.pid); n != 2 {
		t.Errorf("stub has %d threads, want 2", n)
	}
	// The application and the mapper carry on.
	regs := apptest.InitialRegs()
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 {
		t.Fatalf("afterwards: %+v", ev)
	}
	if err := a.Space.MapFile(target, apptest.ExtraOff, pageSize, platform.ReadWrite); err != nil {
		t.Fatalf("MapFile afterwards: %v", err)
	}
}

// TestStubRegionProtected: the application can neither write the stub's
// code, data and request pages nor execute its context pages.
func TestStubRegionProtected(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.Store, apptest.Syscall))
	first := apptest.InitialRegs()
	first.Rip = apptest.CodeAddr + uint64(len(apptest.Store))
	a.SwitchOK(t, &first)
	th := a.Context.threads[a.Space]
	for _, tc := range []struct {
		name   string
		addr   uintptr
		access platform.AccessType
	}{
		{"write code", a.Plat.stub.start + codeStart, platform.AccessType{Write: true}},
		{"write data", a.Plat.stub.start + pageSize + dataAppFprog, platform.AccessType{Write: true}},
		{"write request page", a.Plat.stub.start + reqPageOff + reqOps, platform.AccessType{Write: true}},
	} {
		regs := apptest.InitialRegs()
		regs.Rdi, regs.Rsi = uint64(tc.addr), 0xdead
		ev := a.SwitchOK(t, &regs)
		if ev.Kind != platform.EventFault || ev.Addr != tc.addr || ev.Access != tc.access {
			t.Errorf("%s: got %+v, want a fault at %#x", tc.name, ev, tc.addr)
		}
	}
	// Executing the context page: a fault at the stub address.
	regs := apptest.InitialRegs()
	regs.Rip = uint64(th.stubBase)
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventFault || !ev.Access.Execute {
		t.Errorf("exec context page: got %+v", ev)
	}
	if binary.LittleEndian.Uint32(a.Mem[apptest.CodeOff:]) != binary.LittleEndian.Uint32(apptest.Cat(apptest.Store, apptest.Syscall)) {
		t.Error("test code changed")
	}
}

// TestSyscallAtStubEdge: a syscall instruction in the last two bytes of
// the application's highest page has its return address at the first
// byte of the stub region. The filters must take it for the
// application's.
func TestSyscallAtStubEdge(t *testing.T) {
	a := newTestApp(t, nil)
	top := a.Plat.MaxUserAddress() - pageSize
	code := apptest.Cat(apptest.MovEAX(39), apptest.Syscall)
	copy(a.Mem[apptest.ExtraOff+pageSize-len(code):], code)
	if err := a.Space.MapFile(top, apptest.ExtraOff, pageSize, platform.ReadExec); err != nil {
		t.Fatal(err)
	}
	regs := apptest.InitialRegs()
	regs.Rip = uint64(top) + pageSize - uint64(len(code))
	ev := a.SwitchOK(t, &regs)
	if ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 || regs.Rip != uint64(a.Plat.MaxUserAddress()) {
		t.Fatalf("got %+v orig_rax %d rip %#x, want getpid trapped with rip at the stub region", ev, regs.Orig_rax, regs.Rip)
	}
}

// TestInt80: a 32-bit system call (int 0x80) is not an x86-64 system
// call: the application gets SIGSYS.
func TestInt80(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEAX(20), []byte{0xcd, 0x80}))
	regs := apptest.InitialRegs()
	ev := a.SwitchOK(t, &regs)
	if ev.Kind != platform.EventSignal || ev.Signo != int32(unix.SIGSYS) {
		t.Fatalf("got %+v, want SIGSYS", ev)
	}
}

// TestGarbageStackPointer: the handler runs on its own stack whatever the
// application's stack pointer is.
func TestGarbageStackPointer(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	for _, sp := range []uint64{0, 1, ^uint64(0), 0x8000_0000_0000_0000, uint64(a.Plat.stub.start) + pageSize,
		uint64(a.Plat.stub.ctxArea()) + slotSize/2, uint64(a.Plat.stub.ctxArea()) + ctxSize} {
		regs := apptest.InitialRegs()
		regs.Rsp = sp
		if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 || regs.Rsp != sp {
			t.Errorf("rsp %#x: got %+v orig_rax %d rsp %#x", sp, ev, regs.Orig_rax, regs.Rsp)
		}
	}
}

// TestOverwriteContextPages: one application thread fills another's
// whole slot (context page and signal stack) with garbage while that one
// waits in its handler. The victim's Switch returns (an event or an
// error); the Sentry, the writer and the mapper go on.
func TestOverwriteContextPages(t *testing.T) {
	// mov rax, -1; mov ecx, slotSize/8; rep stosq; mov eax, 39; syscall
	code := apptest.Cat([]byte{0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff}, apptest.Le32(0xb9, slotSize/8),
		[]byte{0xf3, 0x48, 0xab}, apptest.MovEAX(39), apptest.Syscall)
	a := newTestApp(t, code)
	victim, _ := a.Plat.NewContext()
	vregs := apptest.InitialRegs()
	vregs.Rip = apptest.CodeAddr + uint64(len(code)) - 7 // mov eax, 39; syscall
	if ev, err := victim.Switch(a.Space, &vregs); err != nil || ev.Kind != platform.EventSyscall {
		t.Fatalf("victim: %+v %v", ev, err)
	}
	vt := victim.(*Context).threads[a.Space]
	regs := apptest.InitialRegs()
	regs.Rdi = uint64(vt.stubBase)
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("writer: %+v", ev)
	}
	if !bytes.Equal(vt.mem[ctxEnd:ctxEnd+8], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
		t.Fatal("the victim's slot was not overwritten")
	}
	done := make(chan error, 1)
	go func() {
		_, err := victim.Switch(a.Space, &vregs)
		done <- err
	}()
	select {
	case err := <-done:
		t.Logf("victim's Switch: %v", err)
	case <-time.After(10 * time.Second):
		victim.Interrupt()
		select {
		case err := <-done:
			t.Logf("victim's Switch after Interrupt: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("victim's Switch does not return")
		}
	}
	if a.Space.check() == nil {
		regs = apptest.InitialRegs()
		regs.Rip = vregs.Rip
		if ev, err := a.Context.Switch(a.Space, &regs); err != nil || ev.Kind != platform.EventSyscall {
			t.Errorf("writer afterwards: %+v %v", ev, err)
		}
		if err := a.Space.MapFile(0x800000, apptest.ExtraOff, pageSize, platform.ReadWrite); err != nil {
			t.Errorf("MapFile afterwards: %v", err)
		}
	}
}

// restorerSite returns the address of the syscall instruction of the
// handler's restorer (rt_sigreturn).
func restorerSite(p *Platform) uintptr {
	_, labels := stubProgram(p.stub.start, uint64(os.Getpid()))
	return p.stub.start + uintptr(labels["restorer"]) + 10 // after mov rax, imm64
}

// writeSigframe writes a ucontext at off in the memory file for an
// rt_sigreturn of the application's own: every register zero but rip,
// rsp and eflags, cs/ss the 64-bit user selectors, the alternate stack
// ss and the signal mask mask.
func writeSigframe(mem []byte, off int, rip, rsp uint64, ss [3]uint64, mask uint64) {
	uc := mem[off : off+ucSize]
	clear(uc)
	le.PutUint64(uc[ucStackSP:], ss[0])
	le.PutUint64(uc[ucStackSP+8:], ss[1])
	le.PutUint64(uc[ucStackSP+16:], ss[2])
	mc := uc[ucMcontext:]
	le.PutUint64(mc[15*8:], rsp)
	le.PutUint64(mc[16*8:], rip)
	le.PutUint64(mc[17*8:], 0x202)
	le.PutUint16(mc[mcCsgsfs:], 0x33)
	le.PutUint16(mc[mcCsgsfs+6:], 0x2b)
	le.PutUint64(uc[ucSize-8:], mask)
}

// TestOwnSigreturn: the application makes the rt_sigreturn its filter
// allows from the stub code, with frames of its own: one that blocks every
// signal and spins (it can then never be interrupted, so its stub must
// die when the Sentry interrupts it), one that blocks every signal and
// makes a system call (the host kills the stub with SIGSYS), and one that
// disables the alternate signal stack (the next signal cannot be handled).
// Each Switch returns ErrContextDead; the Sentry goes on.
func TestOwnSigreturn(t *testing.T) {
	const frameOff = 0x800
	spin := uint64(apptest.CodeAddr)
	sys := uint64(apptest.CodeAddr + 2)
	for _, tc := range []struct {
		name      string
		rip       uint64
		mask      uint64
		noStack   bool
		interrupt bool
	}{
		{"block all and spin", spin, ^uint64(0), false, true},
		{"block all and syscall", sys, ^uint64(0), false, false},
		{"no signal stack", sys, 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, apptest.Cat(apptest.JmpSelf, apptest.MovEAX(39), apptest.Syscall))
			th := a.Context.threads[a.Space]
			if th == nil {
				regs := apptest.InitialRegs()
				regs.Rip = sys
				a.SwitchOK(t, &regs)
				th = a.Context.threads[a.Space]
			}
			ss := [3]uint64{uint64(th.stubBase) + ctxSize, 0, slotSize - ctxSize}
			if tc.noStack {
				ss = [3]uint64{0, 2 /* SS_DISABLE */, 0}
			}
			writeSigframe(a.Mem, apptest.DataOff+frameOff, tc.rip, apptest.DataAddr+0x400, ss, tc.mask)
			regs := apptest.InitialRegs()
			regs.Rip = uint64(restorerSite(a.Plat))
			regs.Rax = unix.SYS_RT_SIGRETURN
			regs.Rsp = apptest.DataAddr + frameOff
			if tc.interrupt {
				go func() {
					time.Sleep(20 * time.Millisecond)
					a.Context.Interrupt()
				}()
			}
			start := time.Now()
			ev, err := a.Context.Switch(a.Space, &regs)
			if !errors.Is(err, platform.ErrContextDead) {
				t.Fatalf("got %+v %v, want ErrContextDead", ev, err)
			}
			t.Logf("%v after %v", err, time.Since(start))
		})
	}
}

// signalBlocked reports whether thread tid of process pid blocks sig, from
// the SigBlk line of its /proc status.
func signalBlocked(pid, tid int, sig unix.Signal) (bool, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigBlk:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0, err
		}
	}
	return false, errors.New("no SigBlk line")
}

// TestStubSignalMask checks what ignoresInterrupt relies on: a thread
// running application code never blocks the interrupt signal, and has
// the stub's filter and its own.
func TestStubSignalMask(t *testing.T) {
	a := newTestApp(t, apptest.JmpSelf)
	regs := apptest.InitialRegs()
	done := make(chan struct{})
	go func() {
		a.Context.Switch(a.Space, &regs)
		close(done)
	}()
	var th *stubThread
	for th == nil {
		a.Context.mu.Lock()
		th = a.Context.running
		a.Context.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	blocked, err := signalBlocked(a.Space.pid, th.tid, interruptSignal)
	if err != nil || blocked {
		t.Errorf("signalBlocked = %v, %v; want false", blocked, err)
	}
	a.Context.Interrupt()
	<-done
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(a.Space.pid) + "/task/" + strconv.Itoa(th.tid) + "/status")
	if !strings.Contains(string(status), "Seccomp_filters:\t2") {
		t.Errorf("application thread does not have two filters:\n%s", status)
	}
}

// TestForgedFrame: registers read from a frame the application garbled
// are ones the hardware could hold.
func TestForgedFrame(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEAX(39), apptest.Syscall))
	regs := apptest.InitialRegs()
	a.SwitchOK(t, &regs)
	th := a.Context.threads[a.Space]
	mc := th.mem[th.uc+ucMcontext:]
	for _, tc := range []struct {
		cs, ss uint16
		flags  uint64
	}{
		{0xffff, 0xffff, ^uint64(0)},
		{0x10, 0x18, 0},
		{userCS32, userSS, 0x202},
	} {
		le.PutUint64(mc[17*8:], tc.flags)
		le.PutUint16(mc[mcCsgsfs:], tc.cs)
		le.PutUint16(mc[mcCsgsfs+6:], tc.ss)
		var r platform.Registers
		th.readRegs(&r)
		if r.Eflags&^userFlags != flagsFixed || (r.Cs != userCS && r.Cs != userCS32) || r.Ss != userSS {
			t.Errorf("frame cs %#x ss %#x flags %#x: read cs %#x ss %#x flags %#x", tc.cs, tc.ss, tc.flags, r.Cs, r.Ss, r.Eflags)
		}
	}
}
