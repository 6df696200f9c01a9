//go:build linux && amd64

package systrap

import (
	"fmt"
	"sync"
	"time"

	"bufferzone.dev/pkg/sentry/platform"
	"golang.org/x/sys/unix"
)

// Lock order: Context.mu is a leaf; it is never held while taking an
// AddressSpace lock, nor across a host system call other than tgkill.

// Context runs one application thread. Switch and Idle are called by one
// goroutine at a time, from any OS thread (the platform's
// ContextsMigrate): each exchange pins the stub thread relative to the CPU
// it runs on then. Interrupt may be called from any goroutine.
type Context struct {
	p  *Platform
	id int

	// mu protects interrupted and running.
	mu sync.Mutex
	// interrupted is set by Interrupt and consumed by Switch.
	interrupted bool
	// running is the stub thread a Switch is running application code in,
	// or nil.
	running *stubThread

	// Used by the Switch goroutine only.
	//
	// threads has the context's stub thread in each address space it
	// switched to.
	threads map[*AddressSpace]*stubThread
	// fpThread is the stub thread whose current signal frame holds the
	// context's FP state, or nil if fp holds it; fp nil is the initial
	// state.
	fpThread *stubThread
	fp       []byte
	// last is the stub thread of the last Switch, or nil.
	last *stubThread
}

var _ platform.Idler = (*Context)(nil)

// Idle implements platform.Idler: the stub thread of the last Switch,
// which may be spinning for its reply, sleeps at once.
func (c *Context) Idle() {
	t := c.last
	if t == nil {
		return
	}
	// The address space may have been released since (an exec): its
	// context pages are then unmapped.
	t.as.memMu.RLock()
	if !t.as.unmapped {
		t.idle()
	}
	t.as.memMu.RUnlock()
}

var _ platform.Context = (*Context)(nil)

// Switch implements platform.Context. The segment registers cs and ss are
// those of the stub (the 64-bit user selectors); orig_rax is ignored.
func (c *Context) Switch(as platform.AddressSpace, regs *platform.Registers) (platform.Event, error) {
	a, ok := as.(*AddressSpace)
	if !ok {
		return platform.Event{}, fmt.Errorf("systrap: Switch with a foreign address space %T", as)
	}
	if c.takeInterrupt() {
		return platform.Event{Kind: platform.EventInterrupted}, nil
	}
	t, err := c.threadFor(a)
	if err != nil {
		return platform.Event{}, err
	}
	if err := a.flush(); err != nil {
		a.markDead()
		return platform.Event{}, fmt.Errorf("%w: %v", platform.ErrContextDead, err)
	}
	a.memMu.RLock()
	defer a.memMu.RUnlock()
	if a.unmapped {
		return platform.Event{}, ErrReleased
	}
	if err := a.check(); err != nil {
		return platform.Event{}, err
	}
	c.last = t
	c.loadFP(t)
	t.writeRegs(regs)

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

	for {
		err := t.exchange()
		t.interruptedAt.Store(0)
		if err != nil {
			return platform.Event{}, err
		}
		if err := t.readFrame(); err != nil {
			a.markDead()
			return platform.Event{}, fmt.Errorf("%w: %v", platform.ErrContextDead, err)
		}
		t.readRegs(regs)
		if ev, ok := c.classify(t, regs); ok {
			return ev, nil
		}
		// Not reported (a stale interrupt, a signal from outside the
		// sandbox, or an event the application forged in its context
		// page): run on, unless an interrupt is pending, so that no
		// application can keep Switch from returning.
		if c.takeInterrupt() {
			return platform.Event{Kind: platform.EventInterrupted}, nil
		}
	}
}

// threadFor returns c's stub thread in a, creating it on first use.
func (c *Context) threadFor(a *AddressSpace) (*stubThread, error) {
	if t := c.threads[a]; t != nil {
		return t, nil
	}
	for o, t := range c.threads {
		if o.check() != nil {
			if c.fpThread == t {
				c.fpThread, c.fp = nil, nil
			}
			if c.last == t {
				c.last = nil
			}
			delete(c.threads, o)
		}
	}
	t, err := a.newThread(c.id)
	if err != nil {
		return nil, err
	}
	c.threads[a] = t
	return t, nil
}

// classify turns t's event into a platform event; ok is false for events
// that are not reported (a stale interrupt, a signal sent from outside the
// sandbox), after which Switch resumes the application. Everything it reads
// is in memory the application can write.
func (c *Context) classify(t *stubThread, regs *platform.Registers) (ev platform.Event, ok bool) {
	signo := unix.Signal(le.Uint64(t.mem[ctxSigno:]))
	si := t.siginfo()
	code := int32(le.Uint32(si[8:]))
	addr := uintptr(le.Uint64(si[16:]))
	if code <= 0 {
		// Sent by kill/tgkill: our interrupt, a stale one, or a signal
		// from outside the sandbox. Never delivered.
		if signo == interruptSignal && c.takeInterrupt() {
			return platform.Event{Kind: platform.EventInterrupted}, true
		}
		return ev, false
	}
	// The instruction that raised the signal: a system call's rip is
	// past its two bytes (syscall and int 0x80 alike).
	at := uintptr(regs.Rip)
	if signo == unix.SIGSYS {
		at -= 2
	}
	if c.p.stub.contains(at) {
		// The application jumped into the stub region, which its own
		// address space does not have: what Linux does for a jump to
		// an unmapped address, whatever the stub code then did (its
		// filter let it do nothing of consequence).
		return platform.Event{
			Kind:   platform.EventFault,
			Addr:   at,
			Access: platform.AccessType{Execute: true},
			Signo:  int32(unix.SIGSEGV),
			Code:   segvMapErr,
		}, true
	}
	switch signo {
	case unix.SIGSYS:
		if arch := le.Uint32(si[28:]); arch != archOK {
			// int 0x80, or a 32-bit code segment: no 32-bit system
			// calls in the sandbox.
			return platform.Event{Kind: platform.EventSignal, Addr: addr, Signo: int32(unix.SIGSYS), Code: code}, true
		}
		// Trapped by the filter (SYS_SECCOMP): rax holds the number too,
		// but si_syscall is what the filter saw.
		regs.Orig_rax = uint64(int64(int32(le.Uint32(si[24:]))))
		regs.Rax = ^uint64(unix.ENOSYS) + 1 // -ENOSYS, as the host leaves it
		return platform.Event{Kind: platform.EventSyscall}, true
	case unix.SIGSEGV, unix.SIGBUS:
		mc := t.mem[t.uc+ucMcontext:]
		return platform.Event{
			Kind:   platform.EventFault,
			Addr:   addr,
			Access: accessFromErrorCode(le.Uint64(mc[mcTrapno:]), le.Uint64(mc[mcErr:])),
			Signo:  int32(signo),
			Code:   code,
		}, true
	case unix.SIGFPE, unix.SIGILL, unix.SIGTRAP:
		return platform.Event{Kind: platform.EventSignal, Addr: addr, Signo: int32(signo), Code: code}, true
	}
	return ev, false
}

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

// Interrupt implements platform.Context. A stub thread running
// application code gets the interrupt signal, whose handler reports it.
func (c *Context) Interrupt() {
	c.mu.Lock()
	c.interrupted = true
	if t := c.running; t != nil {
		t.interruptedAt.CompareAndSwap(0, time.Now().UnixNano())
		tgkill(t.as.pid, t.tid, interruptSignal)
	}
	c.mu.Unlock()
}

// Release implements platform.Context: each of the context's stub threads
// exits; the address spaces and their other threads live on.
func (c *Context) Release() {
	for _, t := range c.threads {
		t.exit()
	}
	c.threads = make(map[*AddressSpace]*stubThread)
	c.fpThread = nil
	c.fp = nil
	c.last = nil
}

// Registers in the signal frame.

// readFrame locates the frame of t's last event, checking that it lies in
// t's slot (the context page is writable by the application).
func (t *stubThread) readFrame() error {
	uc := int64(le.Uint64(t.mem[ctxUcontext:])) - int64(t.stubBase)
	if uc < ctxSize || uc+ucSize > slotSize {
		return fmt.Errorf("systrap: signal frame at %#x outside the thread's stack", uc)
	}
	mc := t.mem[uc+ucMcontext:]
	fp := int64(le.Uint64(mc[mcFpstate:])) - int64(t.stubBase)
	if fp < ctxSize || fp+512 > slotSize {
		return fmt.Errorf("systrap: FP state at %#x outside the thread's stack", fp)
	}
	n := int64(512)
	const fpXstateMagic1 = 0x46505853
	if le.Uint32(t.mem[fp+464:]) == fpXstateMagic1 {
		n = int64(le.Uint32(t.mem[fp+480:]))
		if n < 512 || fp+n > slotSize {
			return fmt.Errorf("systrap: FP state of %d bytes", n)
		}
	}
	t.uc, t.fpOff, t.fpLen = int(uc), int(fp), int(n)
	if t.as.p.fpSize.Load() == 0 {
		t.as.p.fpSize.Store(n)
	}
	return nil
}

// siginfo returns the last event's siginfo, or nil if it is not in the
// thread's stack.
func (t *stubThread) siginfo() []byte {
	off := int64(le.Uint64(t.mem[ctxSiginfo:])) - int64(t.stubBase)
	if off < ctxSize || off+128 > slotSize {
		return make([]byte, 128)
	}
	return t.mem[off : off+128]
}

// readRegs copies the frame's registers to regs.
// The frame is writable by the application (another of its threads can
// change it under the Sentry), so readRegs reports only what the hardware
// could hold: the flags user code can have, and the user code and stack
// selectors.
func (t *stubThread) readRegs(r *platform.Registers) {
	mc := t.mem[t.uc+ucMcontext:]
	for i, p := range []*uint64{&r.R8, &r.R9, &r.R10, &r.R11, &r.R12, &r.R13, &r.R14, &r.R15,
		&r.Rdi, &r.Rsi, &r.Rbp, &r.Rbx, &r.Rdx, &r.Rax, &r.Rcx, &r.Rsp, &r.Rip, &r.Eflags} {
		*p = le.Uint64(mc[8*i:])
	}
	r.Eflags = r.Eflags&userFlags | flagsFixed
	r.Cs = uint64(le.Uint16(mc[mcCsgsfs:]))
	if r.Cs != userCS && r.Cs != userCS32 {
		r.Cs = userCS
	}
	r.Ss = userSS
	r.Orig_rax = ^uint64(0)
	r.Fs_base = le.Uint64(t.mem[ctxFSBase:])
}

// x86-64 user selectors and flags.
const (
	userCS   = 0x33 // __USER_CS
	userCS32 = 0x23 // __USER32_CS
	userSS   = 0x2b // __USER_DS
	// userFlags are the rflags bits user code can have: CF, PF, AF, ZF,
	// SF, TF, IF, DF, OF, NT, RF, AC, ID.
	userFlags  = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x4000 | 0x10000 | 0x40000 | 0x200000
	flagsFixed = 0x2 // bit 1 is always set
)

// writeRegs copies regs into the frame, for rt_sigreturn to load. cs and
// ss stay the frame's.
func (t *stubThread) writeRegs(r *platform.Registers) {
	mc := t.mem[t.uc+ucMcontext:]
	for i, v := range []uint64{r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15,
		r.Rdi, r.Rsi, r.Rbp, r.Rbx, r.Rdx, r.Rax, r.Rcx, r.Rsp, r.Rip, r.Eflags} {
		le.PutUint64(mc[8*i:], v)
	}
	le.PutUint64(t.mem[ctxFSBase:], r.Fs_base)
}

// FP state. It lives in the signal frame of the stub thread the context
// last ran on (the kernel saved it there, and rt_sigreturn loads it from
// there); it is copied out only when the context moves to another stub
// thread. FPState, SetFPState and ResetFPState must be called from the
// goroutine that calls Switch.

// fpFrame returns the FP area of t's frame.
func (t *stubThread) fpFrame() []byte {
	return t.mem[t.fpOff : t.fpOff+t.fpLen]
}

// withFrame runs f with c's FP state's frame if it has one (and its
// address space is still mapped), and reports whether it did.
func (c *Context) withFrame(f func(fp []byte)) bool {
	t := c.fpThread
	if t == nil {
		return false
	}
	t.as.memMu.RLock()
	defer t.as.memMu.RUnlock()
	if t.as.unmapped {
		c.fpThread, c.fp = nil, nil
		return false
	}
	f(t.fpFrame())
	return true
}

// loadFP puts c's FP state in t's frame. The caller holds t.as.memMu's
// read side.
func (c *Context) loadFP(t *stubThread) {
	if c.fpThread == t {
		return
	}
	if c.fpThread != nil {
		c.withFrame(func(fp []byte) { c.fp = append([]byte(nil), fp...) })
		c.fpThread = nil
	}
	src := c.fp
	if src == nil {
		src = initFP(t.fpLen)
	}
	writeFP(t.fpFrame(), src)
	c.fpThread = t
	c.fp = nil
}

// FPState implements platform.Context.
func (c *Context) FPState() ([]byte, error) {
	var out []byte
	if c.withFrame(func(fp []byte) { out = append([]byte(nil), fp...) }) {
		return out, nil
	}
	if c.fp == nil {
		return initFP(int(c.p.fpSize.Load())), nil
	}
	return append([]byte(nil), c.fp...), nil
}

// SetFPState implements platform.Context. fp is in XSAVE layout; it may be
// shorter than the host's XSAVE area (the rest is then in its initial
// state) but must hold at least the 512-byte legacy area.
func (c *Context) SetFPState(fp []byte) error {
	if len(fp) < 512 {
		return fmt.Errorf("systrap: FP state of %d bytes, want at least 512", len(fp))
	}
	if c.withFrame(func(dst []byte) { writeFP(dst, fp) }) {
		return nil
	}
	c.fp = append([]byte(nil), fp...)
	return nil
}

// ResetFPState implements platform.Context.
func (c *Context) ResetFPState() error {
	return c.SetFPState(initFP(int(c.p.fpSize.Load())))
}

// initFP returns the initial FP state of n bytes (at least 512): FCW
// 0x37f, MXCSR 0x1f80, empty x87 stack, zero registers, and (with XSAVE)
// XSTATE_BV = x87|SSE.
func initFP(n int) []byte {
	if n < 512 {
		n = 512
	}
	fp := make([]byte, n)
	le.PutUint16(fp[0:], 0x37f)
	le.PutUint32(fp[24:], 0x1f80)
	if n >= 576 {
		le.PutUint64(fp[512:], 3)
	}
	return fp
}

// writeFP copies the FP state src into the frame's XSAVE area dst, keeping
// what rt_sigreturn checks valid: dst's software-reserved bytes (464..511:
// the XSAVE magic and sizes) are kept, the XSAVE header is reduced to
// XSTATE_BV limited to the frame's features, and MXCSR's reserved bits are
// cleared.
func writeFP(dst, src []byte) {
	copy(dst[:464], src[:464])
	mask := uint32(0xffbf)
	if m := le.Uint32(dst[28:]); m != 0 {
		mask = m
	}
	le.PutUint32(dst[24:], le.Uint32(src[24:])&mask)
	if len(dst) < 576 {
		return
	}
	features := le.Uint64(dst[472:])
	var bv uint64 = 3
	if len(src) >= 576 {
		n := copy(dst[512:], src[512:])
		clear(dst[512+n:])
		bv = le.Uint64(src[512:])
	} else {
		clear(dst[512:])
	}
	le.PutUint64(dst[512:], bv&features)
	clear(dst[520:576])
}
