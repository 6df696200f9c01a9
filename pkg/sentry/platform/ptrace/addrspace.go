//go:build linux && amd64

package ptrace

import (
	"fmt"
	"runtime"
	"sync"

	"bufferzone.dev/pkg/sentry/platform"
	"golang.org/x/sys/unix"
)

// Lock order: Context.mu is never held while taking AddressSpace.mu, and
// AddressSpace.mu is never held while taking Context.mu. Neither is held
// across a blocking wait4.

// AddressSpace is an application address space: one stub process.
type AddressSpace struct {
	p   *Platform
	pid int

	// mu protects the fields below and the running, dead and reaped fields
	// of the stub threads.
	mu       sync.Mutex
	released bool
	// main is the stub's only thread today; tracer threads get their own
	// stub thread in a later design.
	main *stubThread
	// pending holds MapFile/Unmap calls made on threads other than the
	// tracer, for the tracer to run before application code runs again.
	pending []*remoteOp
}

var _ platform.AddressSpace = (*AddressSpace)(nil)

// stubThread is one thread of a stub process and the state its tracer keeps
// about it. Fields not guarded by AddressSpace.mu are used by the tracer
// thread only.
type stubThread struct {
	as  *AddressSpace
	tid int

	// Guarded by as.mu.
	tracer  int  // tid of the tracer OS thread; 0 before attach
	running bool // resumed by its tracer and not yet reported stopped
	dead    bool // exited, killed or failed to attach
	reaped  bool // its exit status was collected

	// Tracer thread only.
	cpu      int             // CPU the stub is pinned to, -1 if none
	baseRegs unix.PtraceRegs // valid segment state for remote calls
	fpOwner  *Context        // whose FP state is loaded in the thread
}

// remoteOp is a queued MapFile or Unmap.
type remoteOp struct {
	unmap  bool
	addr   uintptr
	offset int64
	length uintptr
	prot   int
	// done, if not nil, receives the result once the op ran.
	done chan error
}

// MapFile implements platform.AddressSpace. It maps [offset, offset+length)
// of the memory file at addr with MAP_SHARED|MAP_FIXED in the stub.
//
// On the tracer thread (the task goroutine that runs Switch) the mapping is
// made before MapFile returns. On any other thread the call is queued: if
// the stub is running application code right now, MapFile interrupts it and
// waits until the tracer made the mapping; otherwise the tracer makes it
// before the application runs again, and a failure is reported by that
// Switch. Either way the application never observes the old mapping after
// MapFile returns.
func (as *AddressSpace) MapFile(addr uintptr, offset int64, length uintptr, at platform.AccessType) error {
	if addr%pageSize != 0 || offset%pageSize != 0 || length%pageSize != 0 || length == 0 {
		return fmt.Errorf("ptrace: MapFile(%#x, %#x, %#x): unaligned or empty", addr, offset, length)
	}
	if addr < as.p.MinUserAddress() || addr+length > as.p.MaxUserAddress() || addr+length < addr {
		return fmt.Errorf("ptrace: MapFile(%#x, %#x): outside the user address range", addr, length)
	}
	return as.do(&remoteOp{addr: addr, offset: offset, length: length, prot: at.Prot()})
}

// Unmap implements platform.AddressSpace, with the same threading rules as
// MapFile.
func (as *AddressSpace) Unmap(addr, length uintptr) {
	if length == 0 {
		return
	}
	as.do(&remoteOp{unmap: true, addr: addr, length: length})
}

// do runs op now if called on the tracer thread, or queues it.
func (as *AddressSpace) do(op *remoteOp) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := gettid()
	t := as.main

	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return ErrReleased
	}
	if t.dead {
		as.mu.Unlock()
		return platform.ErrContextDead
	}
	if t.tracer == tid && !t.running {
		as.mu.Unlock()
		// Keep the order of earlier queued calls.
		if err := t.flushPending(); err != nil {
			return err
		}
		return t.runOp(op)
	}
	var wait chan error
	if t.running {
		wait = make(chan error, 1)
		op.done = wait
	}
	as.pending = append(as.pending, op)
	if t.running {
		tgkill(as.pid, t.tid, interruptSignal)
	}
	as.mu.Unlock()
	if wait == nil {
		return nil
	}
	return <-wait
}

// flushPending runs queued ops. Tracer thread only; the stub is stopped.
func (t *stubThread) flushPending() error {
	as := t.as
	as.mu.Lock()
	ops := as.pending
	as.pending = nil
	as.mu.Unlock()
	var first error
	for _, op := range ops {
		err := t.runOp(op)
		if op.done != nil {
			op.done <- err
		} else if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// failPending fails every queued op with err.
func (as *AddressSpace) failPendingLocked(err error) {
	for _, op := range as.pending {
		if op.done != nil {
			op.done <- err
		}
	}
	as.pending = nil
}

func (t *stubThread) runOp(op *remoteOp) error {
	if op.unmap {
		_, err := t.remoteSyscall(unix.SYS_MUNMAP, op.addr, op.length)
		return err
	}
	r, err := t.remoteSyscall(unix.SYS_MMAP, op.addr, op.length, uintptr(op.prot),
		unix.MAP_SHARED|unix.MAP_FIXED, uintptr(t.as.p.memfd), uintptr(op.offset))
	if err == nil && r != op.addr {
		err = fmt.Errorf("ptrace: remote mmap returned %#x, want %#x", r, op.addr)
	}
	return err
}

// remoteSyscall runs a system call in the stopped stub thread and returns
// its result. Tracer thread only. The thread's general registers are
// clobbered; Switch sets them all before resuming application code.
func (t *stubThread) remoteSyscall(nr uintptr, args ...uintptr) (uintptr, error) {
	t.as.p.remoteCalls.Add(1)
	t.pinToTracerCPU()
	var a [6]uintptr
	copy(a[:], args)
	r := t.baseRegs
	r.Rip = uint64(t.as.p.stub.trampoline)
	r.Rax = uint64(nr)
	r.Orig_rax = ^uint64(0)
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = uint64(a[0]), uint64(a[1]), uint64(a[2]), uint64(a[3]), uint64(a[4]), uint64(a[5])
	if err := setRegs(t.tid, &r); err != nil {
		return 0, t.failed("remote syscall setregs", err)
	}
	if err := ptrace(unix.PTRACE_CONT, t.tid, 0, 0); err != nil {
		return 0, t.failed("remote syscall cont", err)
	}
	for {
		ws, err := t.wait()
		if err != nil {
			return 0, err
		}
		if ws.stopSig() == int(unix.SIGTRAP) && ws.event() == 0 {
			break
		}
		// Anything else (a stale interrupt signal, a signal from outside
		// the sandbox) is suppressed.
		if err := ptrace(unix.PTRACE_CONT, t.tid, 0, 0); err != nil {
			return 0, t.failed("remote syscall cont", err)
		}
	}
	if err := getRegs(t.tid, &r); err != nil {
		return 0, t.failed("remote syscall getregs", err)
	}
	if r.Rip != uint64(t.as.p.stub.trampoline)+3 {
		return 0, fmt.Errorf("ptrace: remote syscall %d stopped at %#x, not at the trampoline", nr, r.Rip)
	}
	if ret := int64(r.Rax); ret < 0 && ret > -4096 {
		return 0, fmt.Errorf("ptrace: remote syscall %d: %w", nr, unix.Errno(-ret))
	}
	return uintptr(r.Rax), nil
}

// waitStatus is a raw wait status.
type waitStatus uint32

func (w waitStatus) stopped() bool { return w&0xff == 0x7f }

// stopSig is the stop signal (with 0x80 for syscall stops), or -1.
func (w waitStatus) stopSig() int {
	if !w.stopped() {
		return -1
	}
	return int(w>>8) & 0xff
}

// event is the PTRACE_EVENT_* of a stop.
func (w waitStatus) event() int { return int(w >> 16) }

// wait waits for the next stop of t. An exit marks t dead and returns
// ErrContextDead. Tracer thread only.
func (t *stubThread) wait() (waitStatus, error) {
	ws, err := wait4(t.tid)
	if err != nil {
		t.markDead(err == unix.ECHILD)
		return 0, fmt.Errorf("%w: wait4: %v", platform.ErrContextDead, err)
	}
	w := waitStatus(ws)
	if !w.stopped() {
		t.markDead(true)
		return 0, platform.ErrContextDead
	}
	return w, nil
}

func (t *stubThread) markDead(reaped bool) {
	as := t.as
	as.mu.Lock()
	t.dead = true
	t.running = false
	if reaped {
		t.reaped = true
	}
	as.failPendingLocked(platform.ErrContextDead)
	as.mu.Unlock()
}

// failed handles a failed ptrace request: ESRCH means the stub is gone.
func (t *stubThread) failed(what string, err error) error {
	if err == unix.ESRCH {
		t.markDead(false)
		return fmt.Errorf("%w: %s: %v", platform.ErrContextDead, what, err)
	}
	return fmt.Errorf("ptrace: %s: %w", what, err)
}

// attach makes the calling thread (tid) the tracer of t, or returns the
// thread if tid already is. It locks the caller to its thread for good.
func (as *AddressSpace) threadFor(tid int) (*stubThread, error) {
	t := as.main
	as.mu.Lock()
	switch {
	case as.released:
		as.mu.Unlock()
		return nil, ErrReleased
	case t.dead:
		as.mu.Unlock()
		return nil, platform.ErrContextDead
	case t.tracer == tid:
		as.mu.Unlock()
		return t, nil
	case t.tracer != 0:
		as.mu.Unlock()
		return nil, ErrSecondTracer
	}
	t.tracer = tid
	as.mu.Unlock()

	opts := uintptr(unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_EXITKILL)
	if err := ptrace(unix.PTRACE_SEIZE, t.tid, 0, opts); err != nil {
		t.markDead(false)
		return nil, fmt.Errorf("ptrace: seize stub %d: %w", t.tid, err)
	}
	if err := ptrace(unix.PTRACE_INTERRUPT, t.tid, 0, 0); err != nil {
		t.markDead(false)
		return nil, fmt.Errorf("ptrace: interrupt stub %d: %w", t.tid, err)
	}
	if _, err := t.wait(); err != nil {
		return nil, err
	}
	if err := getRegs(t.tid, &t.baseRegs); err != nil {
		return nil, t.failed("getregs", err)
	}
	if as.p.fpSize.Load() == 0 {
		as.p.fpSize.Store(int64(probeFPSize(t.tid)))
	}
	if err := t.flushPending(); err != nil {
		return nil, err
	}
	return t, nil
}

// Release implements platform.AddressSpace: it kills the stub and reaps it.
// Queued MapFile/Unmap calls fail with ErrReleased. It may be called from
// any goroutine, but not while a Switch on the address space runs.
func (as *AddressSpace) Release() {
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return
	}
	as.released = true
	t := as.main
	reaped := t.reaped
	t.dead = true
	t.reaped = true
	as.failPendingLocked(ErrReleased)
	as.mu.Unlock()
	if reaped {
		return
	}
	unix.Kill(as.pid, unix.SIGKILL)
	for {
		ws, err := wait4(as.pid)
		if err != nil || !waitStatus(ws).stopped() {
			return
		}
	}
}

// pinToTracerCPU pins t to the CPU the calling (tracer) thread runs on, if
// it is not pinned there already, so that the two hand off on one CPU (a
// same-CPU ptrace round trip costs a fraction of a cross-CPU one). The
// tracer itself is not pinned: if the host scheduler moves it, the stub
// follows at the next resume.
func (t *stubThread) pinToTracerCPU() {
	cpu := getcpu()
	if cpu == t.cpu {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	if unix.SchedSetaffinity(t.tid, &set) == nil {
		t.cpu = cpu
		t.as.p.repins.Add(1)
	}
}
