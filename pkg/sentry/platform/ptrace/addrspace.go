//go:build linux && amd64

package ptrace

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/stubproc"
	"golang.org/x/sys/unix"
)

// Lock order:
//
//	AddressSpace.leaderMu
//	  AddressSpace.flushMu
//	    AddressSpace.mu
//
// Context.mu is a leaf (context.go): it is never held while taking
// AddressSpace.mu, nor the other way round. AddressSpace.mu is never held
// across a blocking wait4; leaderMu is (it only serializes the threads
// that clone from the leader, see cloneThread).

// AddressSpace is an application address space: one stub process.
//
// Its threads: the leader (the forked stub's main thread) never runs
// application code. It waits in the stub's park loop, untraced, and a
// tracer thread that needs a stub thread of its own seizes it for a moment
// to run a remote clone, then lets it go (cloneThread). Each tracer thread
// (one per task goroutine) then traces its own stub thread, which it
// releases with a remote exit when its Context is released.
//
// Why not a dedicated control goroutine that keeps the leader traced and
// serves clone requests? It costs an OS thread per address space and a
// cross-thread hand-off per request (a cross-CPU wake-up is ~100 µs on the
// reference VM), and it buys nothing for the common path: MapFile and
// Unmap run on the caller's own stub thread. Seizing the idle leader is
// done by the thread that needs the clone, on its own CPU, and costs a
// seize, an interrupt stop, the clone and a detach (see
// BenchmarkNewThread). Calls from threads that trace no stub thread of
// this address space (fork setting up a child, tests) still use the queue
// described at MapFile.
type AddressSpace struct {
	p   *Platform
	pid int

	// leaderMu serializes tracing of the leader: one thread at a time
	// seizes it to clone a thread (cloneThread).
	leaderMu sync.Mutex
	// leader is the stub's main thread. Its tracer field is the thread
	// that holds leaderMu and has seized it, if any.
	leader *stubThread

	// flushMu is held while queued ops are taken from pending and run, so
	// that no thread resumes application code while another still applies
	// an op it took from the queue (startRunning).
	flushMu sync.Mutex

	// mu protects the fields below and the running, dead and reaped fields
	// of the stub threads.
	mu       sync.Mutex
	released bool
	// dead is set once the stub process is known to have died.
	dead bool
	// threads maps a tracer thread's tid to the stub thread it traces.
	threads map[int]*stubThread
	// running counts threads resumed by their tracers and not yet stopped.
	running int
	// freeSlots and nextSlot allocate stub region slots (stub_amd64.go);
	// slot 0 is the leader's.
	freeSlots []int
	nextSlot  int
	// first is the tid of a parked stub thread in slot 1 that no tracer
	// has taken yet (made with the stub, see spawnStub), or 0.
	first int
	// pending holds MapFile/Unmap calls made on threads that trace no
	// stopped stub thread of this address space, for the next tracer to
	// run before any application code runs again.
	pending []*remoteOp
	// unreaped are stub threads that left threads without being reaped;
	// Release reaps them (the leader is reported only after every other
	// thread is gone).
	unreaped []int
	// maps is what runOp mapped (the fault fast path). mapGen counts
	// starts and ends of remote mmap/munmap calls and mapBusy those in
	// progress, so a fault can tell whether maps is what it saw.
	maps    mappings
	mapGen  uint64
	mapBusy int
}

var _ platform.AddressSpace = (*AddressSpace)(nil)

func newAddressSpace(p *Platform, pid int) *AddressSpace {
	as := &AddressSpace{p: p, pid: pid, threads: make(map[int]*stubThread), nextSlot: 1}
	as.leader = &stubThread{as: as, tid: pid, slot: 0, cpu: -1}
	return as
}

// stubThread is one thread of a stub process and the state its tracer keeps
// about it. Fields not guarded by AddressSpace.mu are used by the tracer
// thread only.
type stubThread struct {
	as   *AddressSpace
	tid  int
	slot int // its slot in the stub region: alternate stack, probe results

	// Guarded by as.mu.
	tracer  int  // tid of the tracer OS thread; 0 before attach
	running bool // resumed by its tracer and not yet reported stopped
	dead    bool // exited, killed, released or failed to attach
	reaped  bool // its exit status was collected

	// Tracer thread only.
	cpu      int             // CPU the stub is pinned to, -1 if none
	baseRegs unix.PtraceRegs // valid segment state for remote calls
	fpOwner  *Context        // whose FP state is loaded in the thread
	// regs are the general registers the thread holds, if regsValid:
	// what Switch last read or wrote (see putRegs).
	regs      unix.PtraceRegs
	regsValid bool

	// runGen is as.mapGen when the thread was last resumed with no
	// remote mmap/munmap in progress, or noGen. Guarded by as.mu.
	runGen uint64
}

// noGen is a runGen that matches no mapGen.
const noGen = ^uint64(0)

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

// do runs op now if the caller traces a stopped stub thread of as (every
// thread of a stub shares its memory map, so one thread's mmap is
// everyone's), or queues it: if some stub thread runs application code,
// that one is interrupted and do waits until its tracer ran the op;
// otherwise the op waits in the queue, which every tracer empties before
// resuming application code.
func (as *AddressSpace) do(op *remoteOp) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := gettid()

	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return ErrReleased
	}
	if as.dead {
		as.mu.Unlock()
		return platform.ErrContextDead
	}
	if t := as.threads[tid]; t != nil && !t.dead && !t.running {
		as.mu.Unlock()
		// Keep the order of earlier queued calls.
		if err := t.flushPending(); err != nil {
			return err
		}
		return t.runOp(op)
	}
	var wait chan error
	if as.running > 0 {
		wait = make(chan error, 1)
		op.done = wait
	}
	as.pending = append(as.pending, op)
	if as.running > 0 {
		for _, t := range as.threads {
			if t.running {
				tgkill(as.pid, t.tid, interruptSignal)
				break
			}
		}
	}
	as.mu.Unlock()
	if wait == nil {
		return nil
	}
	return <-wait
}

// startRunning marks t running, after running the queued ops if there are
// any: the check and the mark are one step under as.mu, so an op queued
// without waiting is never missed by a thread about to resume. Tracer
// thread only.
func (t *stubThread) startRunning() error {
	as := t.as
	as.flushMu.Lock()
	defer as.flushMu.Unlock()
	for {
		as.mu.Lock()
		switch {
		case as.released:
			as.mu.Unlock()
			return ErrReleased
		case t.dead:
			as.mu.Unlock()
			return platform.ErrContextDead
		case len(as.pending) == 0:
			t.setRunningLocked(true)
			t.runGen = as.mapGen
			if as.mapBusy > 0 {
				t.runGen = noGen
			}
			as.mu.Unlock()
			return nil
		}
		as.mu.Unlock()
		if err := t.flushPendingLocked(); err != nil {
			return err
		}
	}
}

func (t *stubThread) setRunningLocked(r bool) {
	if t.running == r {
		return
	}
	t.running = r
	if r {
		t.as.running++
	} else {
		t.as.running--
	}
}

func (t *stubThread) stopRunning() {
	t.as.mu.Lock()
	t.setRunningLocked(false)
	t.as.mu.Unlock()
}

// flushPending runs queued ops. Tracer thread only; the stub is stopped.
func (t *stubThread) flushPending() error {
	t.as.flushMu.Lock()
	defer t.as.flushMu.Unlock()
	return t.flushPendingLocked()
}

// flushPendingLocked is flushPending with as.flushMu held.
func (t *stubThread) flushPendingLocked() error {
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
	as := t.as
	as.mu.Lock()
	as.mapGen++
	as.mapBusy++
	as.mu.Unlock()
	var err error
	if op.unmap {
		_, err = t.remoteSyscall(unix.SYS_MUNMAP, op.addr, op.length)
	} else {
		var r uintptr
		r, err = t.remoteSyscall(unix.SYS_MMAP, op.addr, op.length, uintptr(op.prot),
			unix.MAP_SHARED|unix.MAP_FIXED, uintptr(as.p.memfd), uintptr(op.offset))
		if err == nil && r != op.addr {
			err = fmt.Errorf("ptrace: remote mmap returned %#x, want %#x", r, op.addr)
		}
	}
	as.mu.Lock()
	if op.unmap || err != nil {
		// A failed mmap may have left anything there: forget the range.
		as.maps = as.maps.punch(op.addr, op.addr+op.length)
	} else {
		as.maps = as.maps.set(op.addr, op.addr+op.length, op.prot)
	}
	as.mapGen++
	as.mapBusy--
	as.mu.Unlock()
	return err
}

// knownWriteFault reports whether a SEGV_ACCERR fault at addr, taken by t
// with rip, must be a write, from what the platform mapped: the page is
// mapped readable and not writable, so a read cannot fault, and the address
// is not where the instruction at rip could be fetched from. It answers
// false (probe instead) when a remote mmap/munmap ran while t ran, since
// the fault may have seen the mapping before it.
func (t *stubThread) knownWriteFault(addr, rip uintptr) bool {
	const maxInsn = 15
	if addr+pageSize > rip&^(pageSize-1) && addr < (rip+maxInsn+pageSize-1)&^(pageSize-1) {
		return false // on a page the instruction may span
	}
	as := t.as
	as.mu.Lock()
	defer as.mu.Unlock()
	if t.runGen != as.mapGen {
		return false
	}
	prot, ok := as.maps.protAt(addr)
	return ok && prot&unix.PROT_READ != 0 && prot&unix.PROT_WRITE == 0
}

// remoteSyscall runs a system call in the stopped stub thread and returns
// its result. Tracer thread only. The thread's general registers are
// clobbered; Switch sets them all before resuming application code.
func (t *stubThread) remoteSyscall(nr uintptr, args ...uintptr) (uintptr, error) {
	tr := t.as.p.stub.trampoline
	return t.remoteCall(tr, tr+3, nil, nr, args...)
}

// remoteCall runs the system call nr at rip (a syscall instruction followed,
// for the caller's side, by an int3 that leaves rip at trap). setup, if not
// nil, sets more registers.
func (t *stubThread) remoteCall(rip, trap uintptr, setup func(*unix.PtraceRegs), nr uintptr, args ...uintptr) (uintptr, error) {
	t.as.p.remoteCalls.Add(1)
	t.regsValid = false
	t.pinToTracerCPU()
	var a [6]uintptr
	copy(a[:], args)
	r := t.baseRegs
	r.Rip = uint64(rip)
	r.Rax = uint64(nr)
	r.Orig_rax = ^uint64(0)
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = uint64(a[0]), uint64(a[1]), uint64(a[2]), uint64(a[3]), uint64(a[4]), uint64(a[5])
	if setup != nil {
		setup(&r)
	}
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
	if r.Rip != uint64(trap) {
		return 0, fmt.Errorf("ptrace: remote syscall %d stopped at %#x, not at %#x", nr, r.Rip, trap)
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
	t.setRunningLocked(false)
	if reaped {
		t.reaped = true
	}
	if t == as.leader {
		as.dead = true
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

// threadFor returns the stub thread the calling thread (tid) traces in as,
// creating and attaching one if it has none. The caller must be locked to
// its thread for good.
func (as *AddressSpace) threadFor(tid int) (*stubThread, error) {
	as.mu.Lock()
	switch {
	case as.released:
		as.mu.Unlock()
		return nil, ErrReleased
	case as.dead:
		as.mu.Unlock()
		return nil, platform.ErrContextDead
	}
	if t := as.threads[tid]; t != nil {
		dead := t.dead
		as.mu.Unlock()
		if dead {
			return nil, platform.ErrContextDead
		}
		return t, nil
	}
	if first := as.first; first != 0 {
		as.first = 0
		as.mu.Unlock()
		return as.attachThread(tid, first, 1)
	}
	slot := -1
	if n := len(as.freeSlots); n > 0 {
		slot = as.freeSlots[n-1]
		as.freeSlots = as.freeSlots[:n-1]
	} else if as.nextSlot < maxSlots {
		slot = as.nextSlot
		as.nextSlot++
	}
	as.mu.Unlock()
	if slot < 0 {
		return nil, fmt.Errorf("ptrace: address space has %d threads already", maxSlots-1)
	}
	return as.newThread(tid, slot)
}

// freeSlot returns slot to the free list.
func (as *AddressSpace) freeSlot(slot int) {
	as.mu.Lock()
	as.freeSlots = append(as.freeSlots, slot)
	as.mu.Unlock()
}

// cloneFlags make a stub thread: a thread of the stub's group sharing
// everything, which no tracer of the leader inherits.
const cloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_UNTRACED

// newThread clones a stub thread in slot and attaches the calling thread
// (tracer) to it: PTRACE_SEIZE with PTRACE_O_EXITKILL and
// PTRACE_O_TRACESYSGOOD, then PTRACE_INTERRUPT, which stops it in its park
// loop.
//
// PTRACE_O_EXITKILL is kept: if a tracer thread dies without releasing its
// stub thread, the stub thread must not go on running application code
// untraced, and the SIGKILL that prevents it takes the whole stub process
// (every thread of the address space) with it. Context.Release makes the
// stub thread exit first, so an orderly task exit kills nothing else.
func (as *AddressSpace) newThread(tracer, slot int) (*stubThread, error) {
	tid, err := as.cloneThread(slot)
	if err != nil {
		as.freeSlot(slot)
		return nil, err
	}
	return as.attachThread(tracer, tid, slot)
}

// attachThread attaches tracer to tid, a parked, untraced stub thread in
// slot (see newThread).
func (as *AddressSpace) attachThread(tracer, tid, slot int) (*stubThread, error) {
	t := &stubThread{as: as, tid: tid, slot: slot, tracer: tracer, cpu: -1}
	as.mu.Lock()
	if as.released {
		// The clone dies with the stub; untraced, it is reaped by the
		// host.
		as.mu.Unlock()
		return nil, ErrReleased
	}
	as.threads[tracer] = t
	as.mu.Unlock()

	opts := uintptr(unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_EXITKILL)
	if err := ptrace(unix.PTRACE_SEIZE, tid, 0, opts); err != nil {
		t.markDead(false)
		return nil, fmt.Errorf("ptrace: seize stub thread %d: %w", tid, err)
	}
	if err := t.interruptStop(); err != nil {
		return nil, err
	}
	if err := getRegs(tid, &t.baseRegs); err != nil {
		return nil, t.failed("getregs", err)
	}
	if as.p.fpSize.Load() == 0 {
		as.p.fpSize.Store(int64(probeFPSize(tid)))
	}
	// Caught before it reached the park loop: it may not have set its
	// alternate signal stack yet; do it for it.
	stub := as.p.stub
	if rip := uintptr(t.baseRegs.Rip); rip < stub.park || rip > stub.parkEnd {
		if _, err := t.remoteSyscall(unix.SYS_SIGALTSTACK, stub.slotStackT(slot), 0); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// interruptStop stops t, which the caller just seized, with
// PTRACE_INTERRUPT; signal stops on the way are suppressed. t is pinned to
// the caller's CPU first: t sleeps (parked), so the interrupt then wakes
// it on this CPU and its stop wakes the caller there, instead of two
// cross-CPU wake-ups (~100 µs each here) when t was left pinned to another
// CPU (the template by the last thread that forked from it, a new stub's
// threads by the thread that made the stub).
func (t *stubThread) interruptStop() error {
	t.pinToTracerCPU()
	if err := ptrace(unix.PTRACE_INTERRUPT, t.tid, 0, 0); err != nil {
		return t.failed("interrupt", err)
	}
	for {
		ws, err := t.wait()
		if err != nil {
			return err
		}
		if ws.event() != 0 {
			return nil
		}
		if err := ptrace(unix.PTRACE_CONT, t.tid, 0, 0); err != nil {
			return t.failed("cont", err)
		}
	}
}

// cloneThread seizes the leader, has it clone a thread that starts in
// slot's park loop with slot's alternate signal stack, parks the leader
// again and detaches from it. It returns the new thread's tid. Only the
// calling thread traces the leader meanwhile (leaderMu).
func (as *AddressSpace) cloneThread(slot int) (int, error) {
	as.leaderMu.Lock()
	defer as.leaderMu.Unlock()
	l := as.leader
	l.tracer = gettid()
	if err := ptrace(unix.PTRACE_SEIZE, l.tid, 0, 0); err != nil {
		return 0, l.failed("seize stub leader", err)
	}
	if err := l.interruptStop(); err != nil {
		return 0, err
	}
	if l.baseRegs.Cs == 0 {
		if err := getRegs(l.tid, &l.baseRegs); err != nil {
			return 0, l.failed("getregs", err)
		}
	}
	stub := as.p.stub
	tid, cerr := l.remoteCall(stub.cloneTramp, stub.cloneTrap, func(r *unix.PtraceRegs) {
		r.Rbx = uint64(stub.slotStackT(slot))
	}, unix.SYS_CLONE, cloneFlags, stub.slotBase(slot)+cloneStackOff, 0, 0, 0)
	// Back to the park loop, untraced.
	if err := l.parkAndDetach(); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return int(tid), nil
}

// exit makes t exit (exit(0): one thread, not the group) and frees its
// slot. c is the releasing context: another context whose FP state lives
// in t gets it saved first. Tracer thread only.
//
// t is pointed at the remote syscall trampoline with exit's registers and
// detached (PTRACE_DETACH also drops a signal it is stopped for): from then
// on it executes nothing but that syscall instruction, untraced, and the
// host reaps it. Waiting for the exit instead would cost a wake-up of the
// stub thread and of its tracer (~140 µs here versus a few µs). The slot can
// be reused at once: the exiting thread never touches its alternate stack.
func (t *stubThread) exit(c *Context) {
	as := t.as
	as.mu.Lock()
	if t.dead || t.running || as.released {
		as.mu.Unlock()
		return
	}
	if as.threads[t.tracer] == t {
		delete(as.threads, t.tracer)
	}
	as.mu.Unlock()
	if o := t.fpOwner; o != nil && o != c {
		o.saveFP()
	}
	r := t.baseRegs
	r.Rip = uint64(as.p.stub.trampoline)
	r.Rax = unix.SYS_EXIT
	r.Rdi = 0
	r.Orig_rax = ^uint64(0)
	err := setRegs(t.tid, &r)
	if err == nil {
		err = ptrace(unix.PTRACE_DETACH, t.tid, 0, 0)
	}
	as.mu.Lock()
	t.dead = true
	if err != nil {
		// Still traced (and probably dying): Release reaps it. Its
		// slot is not reused.
		as.unreaped = append(as.unreaped, t.tid)
	} else {
		t.reaped = true
		as.freeSlots = append(as.freeSlots, t.slot)
	}
	as.mu.Unlock()
}

// Release implements platform.AddressSpace: it kills the stub process and
// has a background goroutine reap every thread of it. Queued MapFile/Unmap
// calls fail with ErrReleased. It may be called from any goroutine (any
// thread of the Sentry may reap a tracee of another), but not while a
// Switch on the address space runs.
//
// Neither the kill nor the reaping is waited for (see reapStub): the host
// tears a killed process down in its own context (unmapping a stub's
// touched pages costs ~100 µs here), and an exiting task, whose parent's
// wait4 waits for this, has no reason to wait for it. The stub runs no
// application code after Release, killed or not: every thread of it is
// either stopped by its tracer, parked or exiting, and no tracer resumes it.
func (as *AddressSpace) Release() {
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return
	}
	as.released = true
	as.dead = true
	var reap []int
	for _, t := range as.threads {
		if !t.reaped {
			reap = append(reap, t.tid)
		}
		t.dead = true
		t.reaped = true
		t.setRunningLocked(false)
	}
	reap = append(reap, as.unreaped...)
	as.unreaped = nil
	l := as.leader
	leaderReaped := l.reaped
	l.dead = true
	l.reaped = true
	as.failPendingLocked(ErrReleased)
	as.mu.Unlock()
	if leaderReaped {
		return
	}
	go reapStub(as.pid, reap)
}

// reapStub kills the stub pid, reaps its traced threads tids, then its
// leader. The kill is made here too, not by Release: SIGKILL wakes the
// stub's threads, which are pinned to the CPU of their tracers, often the
// caller's, and the host tears the process down in their context, so the
// caller would be preempted by the teardown (~100 µs here) before its next
// step (an exiting task's is to wake its parent's wait4).
func reapStub(pid int, tids []int) {
	unix.Kill(pid, unix.SIGKILL)
	reapAll(tids)
	// The leader is reported once every other thread is gone, and it is
	// untraced: its report wakes this wait (see reapAll).
	for {
		ws, err := wait4(pid)
		if err != nil || !waitStatus(ws).stopped() {
			return
		}
	}
}

// reapAll collects the exit status of each of tids (traced threads of a
// killed stub) with WNOHANG, backing off while some are still alive. It
// must not block in wait4: a traced thread whose tracer thread exits
// meanwhile is released by the host without waking its waiters.
func reapAll(tids []int) {
	delay := 20 * time.Microsecond
	for len(tids) > 0 {
		left := tids[:0]
		for _, tid := range tids {
			var ws unix.WaitStatus
			r, err := unix.Wait4(tid, &ws, wallFlag|unix.WNOHANG, nil)
			switch {
			case err == unix.EINTR, err == nil && r == 0:
				left = append(left, tid) // still alive
			case err == nil && waitStatus(ws).stopped():
				left = append(left, tid) // a last stop before SIGKILL landed
			}
		}
		tids = left
		if len(tids) > 0 {
			time.Sleep(delay)
			if delay < 10*time.Millisecond {
				delay *= 2
			}
		}
	}
}

// pinToTracerCPU pins t to the CPU the calling (tracer) thread runs on, if
// it is not pinned there already, so that the two hand off on one CPU (a
// same-CPU ptrace round trip costs a fraction of a cross-CPU one). The
// tracer itself is not pinned: if the host scheduler moves it, the stub
// follows at the next resume.
func (t *stubThread) pinToTracerCPU() {
	cpu := stubproc.CurrentCPU()
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
