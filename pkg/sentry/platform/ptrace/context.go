//go:build linux && amd64

package ptrace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform"
	"golang.org/x/sys/unix"
)

// Lock order: Context.mu is a leaf; it is never held while taking
// AddressSpace.mu nor across a host system call other than tgkill.

// Context runs one application thread. Switch must always be called from
// the same goroutine, which it locks to its OS thread for good (ptrace
// binds a tracee to its tracer thread). Interrupt may be called from any
// goroutine.
type Context struct {
	p *Platform

	// mu protects interrupted and running.
	mu sync.Mutex
	// interrupted is set by Interrupt and consumed by Switch.
	interrupted bool
	// running is the stub thread a Switch is running application code in,
	// or nil.
	running *stubThread

	// Used by the Switch goroutine only.
	//
	// fpThread is the stub thread holding this context's FP state, or nil
	// if fp holds it. fp nil means the initial state.
	fpThread *stubThread
	fp       []byte
	// threads are the stub threads Switch ran on, which Release makes
	// exit; last is the one it ran on last.
	threads []*stubThread
	last    *stubThread
	// locked is set once Switch locked the goroutine to its thread.
	locked bool
}

var _ platform.Context = (*Context)(nil)

// Switch implements platform.Context.
//
// The first Switch on an address space from an OS thread creates a stub
// thread for it and attaches the OS thread as its tracer. Before resuming,
// the stub thread is pinned to the CPU the tracer runs on, so the two hand
// off on one CPU. The segment
// registers cs and ss are forced to the 64-bit user selectors; orig_rax is
// ignored (set to -1 so the host never restarts a system call).
func (c *Context) Switch(as platform.AddressSpace, regs *platform.Registers) (platform.Event, error) {
	if !c.locked {
		// Never unlocked; see the package documentation. Once per
		// context: the lock nests, and a count of one per Switch would
		// overflow (a panic) after 2^32 of them.
		runtime.LockOSThread()
		c.locked = true
	}
	a, ok := as.(*AddressSpace)
	if !ok {
		return platform.Event{}, fmt.Errorf("ptrace: Switch with a foreign address space %T", as)
	}
	if c.takeInterrupt() {
		return platform.Event{Kind: platform.EventInterrupted}, nil
	}
	t, err := a.threadFor(gettid())
	if err != nil {
		return platform.Event{}, err
	}
	if t != c.last {
		c.remember(t)
	}
	if err := t.flushPending(); err != nil {
		return platform.Event{}, err
	}
	if err := c.loadFP(t); err != nil {
		return platform.Event{}, err
	}
	t.pinToTracerCPU()

	// Publish that we run, unless an interrupt is already pending.
	c.mu.Lock()
	if c.interrupted {
		c.interrupted = false
		c.mu.Unlock()
		return platform.Event{Kind: platform.EventInterrupted}, nil
	}
	c.running = t
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = nil
		c.mu.Unlock()
	}()

	regs.Cs = 0x33
	regs.Ss = 0x2b
	regs.Orig_rax = ^uint64(0)
	for {
		// Queued ops run first: they clobber the registers.
		if err := t.startRunning(); err != nil {
			return platform.Event{}, err
		}
		err := t.putRegs(regs)
		if err == nil {
			err = ptrace(ptraceSysemu, t.tid, 0, 0)
		}
		var ws waitStatus
		if err == nil {
			ws, err = t.wait()
		}
		t.stopRunning()
		if err != nil {
			if errors.Is(err, platform.ErrContextDead) {
				return platform.Event{}, err
			}
			return platform.Event{}, t.failed("sysemu", err)
		}
		if err := getRegs(t.tid, regs); err != nil {
			return platform.Event{}, t.failed("getregs", err)
		}
		t.regs, t.regsValid = *regs, true
		ev, report, err := c.classify(t, ws, uintptr(regs.Rip))
		if err != nil {
			return platform.Event{}, err
		}
		// Calls queued by other threads run now, whatever stopped us (after
		// classify: remote calls leave the signal-delivery-stop).
		if err := t.flushPending(); err != nil {
			return platform.Event{}, err
		}
		if report {
			return ev, nil
		}
	}
}

// classify decodes the stop ws of t, whose registers were just read. It
// returns report=false for stops that must not be reported (a stale
// interrupt, a signal sent from outside the sandbox, a group-stop): Switch
// then resumes the application. Faults are probed here, while t is still in
// the signal-delivery-stop.
func (c *Context) classify(t *stubThread, ws waitStatus, rip uintptr) (ev platform.Event, report bool, err error) {
	sig := ws.stopSig()
	if sig == syscallStopSig {
		return platform.Event{Kind: platform.EventSyscall}, true, nil
	}
	if ws.event() != 0 {
		// A group-stop or PTRACE_INTERRUPT trap: nothing to report.
		return platform.Event{Kind: platform.EventInterrupted}, c.takeInterrupt(), nil
	}
	var si siginfo
	if err := getSiginfo(t.tid, &si); err != nil {
		return ev, false, t.failed("getsiginfo", err)
	}
	if si.Code <= 0 {
		// Sent by kill/tgkill: our interrupt, a stale interrupt, or a
		// signal from outside the sandbox. Never delivered.
		return platform.Event{Kind: platform.EventInterrupted}, c.takeInterrupt(), nil
	}
	ev = platform.Event{
		Kind:  platform.EventSignal,
		Signo: si.Signo,
		Code:  si.Code,
		Addr:  uintptr(si.Addr),
	}
	if sig == int(unix.SIGSEGV) || sig == int(unix.SIGBUS) {
		ev.Kind = platform.EventFault
		if sig == int(unix.SIGSEGV) && si.Code == segvAccErr && !c.p.noFastFaults && t.knownWriteFault(ev.Addr, rip) {
			// The fast path: no probe round trip. The thread stays in
			// its signal-delivery-stop; the next Switch resumes it with
			// the signal suppressed.
			c.p.fastFaults.Add(1)
			ev.Access = platform.AccessType{Write: true}
			return ev, true, nil
		}
		if sig == int(unix.SIGSEGV) && si.Code == segvMapErr && !c.p.noFastFaults {
			// A page the stub has no mapping for: its first touch.
			// Reported with the access unknown, which the kernel
			// handles as a read (mm.HandleFault); every mapping is
			// readable on x86, so the answer is the same for a read, a
			// write or a fetch, except that a write to a page the
			// kernel then maps read-only (copy-on-write) faults again,
			// as SEGV_ACCERR, which the fast path above or the probe
			// answers. This saves the probe's round trip on every first
			// touch, the commonest fault after fork and exec.
			c.p.fastFaults.Add(1)
			return ev, true, nil
		}
		if ev.Access, err = t.probeFault(sig); err != nil {
			return ev, false, err
		}
	}
	return ev, true, nil
}

// maxPokes is how many changed registers putRegs writes one by one
// (PTRACE_POKEUSER, ~0.7 µs each here) rather than all at once
// (PTRACE_SETREGS, ~2.3 µs).
const maxPokes = 2

// putRegs makes t's registers r. Tracer thread only. A system call return
// changes rax and orig_rax, a handled fault nothing: only what differs from
// what t holds is written, unless that is more than maxPokes registers.
// Writing a register with PTRACE_POKEUSER goes through the same per-register
// path of the host (putreg) as PTRACE_SETREGS, so the result is the same.
func (t *stubThread) putRegs(r *unix.PtraceRegs) error {
	const n = int(unsafe.Sizeof(unix.PtraceRegs{}) / 8)
	if t.regsValid && !t.as.p.alwaysSetRegs {
		cur := (*[n]uint64)(unsafe.Pointer(&t.regs))
		want := (*[n]uint64)(unsafe.Pointer(r))
		var diff [maxPokes]int
		nd := 0
		for i := 0; i < n; i++ {
			if cur[i] != want[i] {
				if nd == maxPokes {
					nd = -1
					break
				}
				diff[nd] = i
				nd++
			}
		}
		if nd >= 0 {
			for _, i := range diff[:nd] {
				if err := ptrace(unix.PTRACE_POKEUSR, t.tid, uintptr(i*8), uintptr(want[i])); err != nil {
					t.regsValid = false
					return err
				}
				cur[i] = want[i]
			}
			return nil
		}
	}
	if err := setRegs(t.tid, r); err != nil {
		t.regsValid = false
		return err
	}
	t.regs, t.regsValid = *r, true
	return nil
}

// takeInterrupt consumes a pending interrupt.
func (c *Context) takeInterrupt() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.interrupted {
		return false
	}
	c.interrupted = false
	return true
}

// probeFault finds the access type of the fault t is stopped on (a
// signal-delivery-stop for sig) by letting the stub's fault handler record
// the hardware error code; see the package documentation. On return t is
// stopped at the stub's faultTrap with all other registers and the FP state
// as they were at the fault.
func (t *stubThread) probeFault(sig int) (platform.AccessType, error) {
	t.regsValid = false // it stops at faultTrap
	slot := t.as.p.stub.slotBase(t.slot)
	// A trap number no fault has: if it is still there afterwards, the
	// handler did not run.
	if err := ptrace(unix.PTRACE_POKEDATA, t.tid, slot+probeTrapOff, probeSentinel); err != nil {
		return platform.AccessType{}, t.failed("fault probe poke", err)
	}
	if err := ptrace(unix.PTRACE_CONT, t.tid, 0, uintptr(sig)); err != nil {
		return platform.AccessType{}, t.failed("fault probe cont", err)
	}
	for {
		ws, err := t.wait()
		if err != nil {
			return platform.AccessType{}, err
		}
		if ws.stopSig() == int(unix.SIGTRAP) && ws.event() == 0 {
			break
		}
		if err := ptrace(unix.PTRACE_CONT, t.tid, 0, 0); err != nil {
			return platform.AccessType{}, t.failed("fault probe cont", err)
		}
	}
	trapno, err := peekData(t.tid, slot+probeTrapOff)
	if err != nil {
		return platform.AccessType{}, t.failed("fault probe peek", err)
	}
	if trapno == probeSentinel {
		var r unix.PtraceRegs
		getRegs(t.tid, &r)
		return platform.AccessType{}, fmt.Errorf("ptrace: fault probe of thread %d (slot %d): the handler recorded nothing (stopped at %#x)", t.tid, t.slot, r.Rip)
	}
	code, err := peekData(t.tid, slot+probeErrOff)
	if err != nil {
		return platform.AccessType{}, t.failed("fault probe peek", err)
	}
	return accessFromErrorCode(trapno, code), nil
}

// probeSentinel is stored as the trap number before a fault probe.
const probeSentinel = 0xdead

// accessFromErrorCode decodes an x86 page fault error code (trap 14): bit 1
// is set for writes, bit 4 for instruction fetches. Other traps (a general
// protection fault on a non-canonical address, say) have no access type.
func accessFromErrorCode(trapno, code uint64) platform.AccessType {
	const pageFaultTrap = 14
	if trapno != pageFaultTrap {
		return platform.AccessType{}
	}
	switch {
	case code&(1<<4) != 0:
		return platform.AccessType{Execute: true}
	case code&(1<<1) != 0:
		return platform.AccessType{Write: true}
	default:
		return platform.AccessType{Read: true}
	}
}

// Interrupt implements platform.Context. If a Switch is running application
// code, the stub thread gets a SIGCHLD, which stops it (a traced thread
// stops for every signal) and is never delivered.
func (c *Context) Interrupt() {
	c.mu.Lock()
	c.interrupted = true
	if t := c.running; t != nil {
		tgkill(t.as.pid, t.tid, interruptSignal)
	}
	c.mu.Unlock()
}

// FP state. It lives in the stub thread the context last ran on (loaded on
// the first Switch there); while it lives nowhere, c.fp holds it. All of
// this runs on the context's Switch thread: FPState, SetFPState and
// ResetFPState must be called from the goroutine that calls Switch.

func (c *Context) loadFP(t *stubThread) error {
	if t.fpOwner == c {
		return nil
	}
	if c.fpThread != nil {
		if err := c.saveFP(); err != nil {
			return err
		}
	}
	if o := t.fpOwner; o != nil {
		if err := o.saveFP(); err != nil {
			return err
		}
	}
	fp := c.fp
	if fp == nil {
		fp = c.p.initFP()
	}
	if err := setFPRegs(t.tid, fp, int(c.p.fpSize.Load())); err != nil {
		return t.failed("set FP state", err)
	}
	t.fpOwner = c
	c.fpThread = t
	c.fp = nil
	return nil
}

// saveFP moves the FP state from c.fpThread into c.fp.
func (c *Context) saveFP() error {
	t := c.fpThread
	c.fpThread = nil
	t.fpOwner = nil
	if t.isDead() {
		c.fp = nil // lost with the stub; reset
		return nil
	}
	fp, err := getFPRegs(t.tid, int(c.p.fpSize.Load()))
	if err != nil {
		return t.failed("get FP state", err)
	}
	c.fp = fp
	return nil
}

func (t *stubThread) isDead() bool {
	t.as.mu.Lock()
	defer t.as.mu.Unlock()
	return t.dead
}

// residentFP returns the stub thread holding c's FP state, or nil.
func (c *Context) residentFP() (*stubThread, error) {
	t := c.fpThread
	if t == nil {
		return nil, nil
	}
	if t.isDead() {
		t.fpOwner = nil
		c.fpThread = nil
		c.fp = nil
		return nil, nil
	}
	if gettid() != t.tracer {
		return nil, errors.New("ptrace: FP state accessed off the context's Switch thread")
	}
	return t, nil
}

// FPState implements platform.Context.
func (c *Context) FPState() ([]byte, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t, err := c.residentFP()
	if err != nil {
		return nil, err
	}
	if t != nil {
		fp, err := getFPRegs(t.tid, int(c.p.fpSize.Load()))
		if err != nil {
			return nil, t.failed("get FP state", err)
		}
		return fp, nil
	}
	if c.fp == nil {
		return c.p.initFP(), nil
	}
	return append([]byte(nil), c.fp...), nil
}

// SetFPState implements platform.Context. fp is in XSAVE layout; it may be
// shorter than the host's XSAVE area (then the rest is left in its initial
// state) but must hold at least the 512-byte legacy area.
func (c *Context) SetFPState(fp []byte) error {
	if len(fp) < 512 {
		return fmt.Errorf("ptrace: FP state of %d bytes, want at least 512", len(fp))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t, err := c.residentFP()
	if err != nil {
		return err
	}
	if t != nil {
		if err := setFPRegs(t.tid, fp, int(c.p.fpSize.Load())); err != nil {
			return t.failed("set FP state", err)
		}
		return nil
	}
	c.fp = append([]byte(nil), fp...)
	return nil
}

// ResetFPState implements platform.Context.
func (c *Context) ResetFPState() error {
	return c.SetFPState(c.p.initFP())
}

// remember adds t to c.threads (and forgets threads that are gone).
func (c *Context) remember(t *stubThread) {
	c.last = t
	kept := c.threads[:0]
	found := false
	for _, o := range c.threads {
		if o == t {
			found = true
		}
		if !o.isDead() {
			kept = append(kept, o)
		}
	}
	c.threads = kept
	if !found {
		c.threads = append(c.threads, t)
	}
}

// Release implements platform.Context. Called on the context's Switch
// thread (as a task does on its way out), it makes every stub thread the
// context ran on exit, so that the thread's own exit later kills nothing
// (see newThread on PTRACE_O_EXITKILL). Called on another thread it only
// forgets them: they exit with their address space, or with their tracer
// thread, which then takes its whole stub process along.
func (c *Context) Release() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if t := c.fpThread; t != nil {
		t.fpOwner = nil
		c.fpThread = nil
	}
	tid := gettid()
	for _, t := range c.threads {
		if t.tracer == tid {
			t.exit(c)
		}
	}
	c.threads = nil
	c.last = nil
}

// initFP returns the initial FP state: FCW 0x37f, MXCSR 0x1f80, empty x87
// stack, zero registers, and (with XSAVE) XSTATE_BV = x87|SSE.
func (p *Platform) initFP() []byte {
	n := int(p.fpSize.Load())
	if n < 512 {
		n = 512
	}
	fp := make([]byte, n)
	binary.LittleEndian.PutUint16(fp[0:], 0x37f)
	binary.LittleEndian.PutUint32(fp[24:], 0x1f80)
	if n > 512 {
		binary.LittleEndian.PutUint64(fp[512:], 3)
	}
	return fp
}

// probeFPSize returns the size of tid's XSAVE area, or 512 if
// PTRACE_GETREGSET NT_X86_XSTATE is not available.
func probeFPSize(tid int) int {
	buf := make([]byte, 64<<10)
	iov := unix.Iovec{Base: &buf[0], Len: uint64(len(buf))}
	if ptrace(ptraceGetRegSet, tid, ntX86XState, uintptr(unsafe.Pointer(&iov))) != nil {
		return 512
	}
	return int(iov.Len)
}

// getFPRegs reads the FP state of tid: the XSAVE area if size > 512, else
// the FXSAVE area with PTRACE_GETFPREGS.
func getFPRegs(tid, size int) ([]byte, error) {
	if size <= 512 {
		buf := make([]byte, 512)
		return buf, ptrace(ptraceGetFPRegs, tid, 0, uintptr(unsafe.Pointer(&buf[0])))
	}
	buf := make([]byte, size)
	iov := unix.Iovec{Base: &buf[0], Len: uint64(size)}
	err := ptrace(ptraceGetRegSet, tid, ntX86XState, uintptr(unsafe.Pointer(&iov)))
	return buf[:iov.Len], err
}

// setFPRegs replaces the FP state of tid with fp (see getFPRegs).
func setFPRegs(tid int, fp []byte, size int) error {
	if size <= 512 {
		buf := make([]byte, 512)
		copy(buf, fp)
		return ptrace(ptraceSetFPRegs, tid, 0, uintptr(unsafe.Pointer(&buf[0])))
	}
	// The kernel wants a whole XSAVE area. A shorter fp leaves the rest in
	// its initial state; a legacy-only fp still carries x87 and SSE.
	buf := make([]byte, size)
	copy(buf, fp)
	if len(fp) < 576 {
		buf[512] |= 3
	}
	iov := unix.Iovec{Base: &buf[0], Len: uint64(len(buf))}
	return ptrace(ptraceSetRegSet, tid, ntX86XState, uintptr(unsafe.Pointer(&iov)))
}
