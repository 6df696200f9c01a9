//go:build linux && amd64

// Package ptrace implements platform.Platform with PTRACE_SYSEMU: every
// application address space is a stub process, forked from the Sentry
// itself, that owns no memory of its own and maps ranges of the Sentry's
// memory file; every application thread runs in a stub thread traced by the
// OS thread of its task goroutine.
//
// # Stubs
//
// At the first New, the platform maps a small stub region at a fixed address
// at the top of the user address space (above MaxUserAddress) and writes the
// stub program into it (stub_amd64.go). A dedicated, locked "stub factory"
// thread forks the first stub, the template, with a raw clone
// (stubproc.Fork); the child jumps to the stub program, which asks for
// SIGKILL when the factory thread dies, resets every signal disposition,
// closes every descriptor but the memory file, unmaps everything outside the
// stub region, stops itself once with SIGSTOP (the factory's sign that it is
// ready; the factory continues it) and parks in a pause() loop. Every other
// stub is forked remotely in the template, which is clean already, by the
// thread that needs it (spawn.go); the factory forks again only if that
// fails.
//
// # Tracing
//
// Every OS thread that calls Context.Switch for an address space gets a stub
// thread of its own in the stub process, and traces it (PTRACE_SEIZE with
// PTRACE_O_EXITKILL and PTRACE_O_TRACESYSGOOD). The stub's main thread, the
// leader, runs no application code: a thread that needs a stub thread
// seizes the idle leader for a moment, has it run a remote
// clone(CLONE_VM|CLONE_THREAD|CLONE_UNTRACED|...) whose child sets its own
// alternate signal stack (each thread has a slot in the stub region) and
// parks, detaches from the leader and seizes the child (see
// AddressSpace.newThread). ptrace binds tracer to an OS thread, so Switch
// calls runtime.LockOSThread and never unlocks: a task goroutine stays
// locked to its thread for life. Context.Release, called by the task on its
// way out, makes its stub threads exit (exit(0), one thread only: the
// thread is pointed at it and detached); if a tracer thread dies without
// that, PTRACE_O_EXITKILL kills the whole stub rather than leave a thread
// running untraced. AddressSpace.Release kills the stub process.
//
// Address space changes (MapFile, Unmap) are remote system calls run by the
// caller in its own stopped stub thread: rip is pointed at a "syscall;
// int3" trampoline in the stub region and the thread is resumed with
// PTRACE_CONT; the threads share one memory map, so every thread sees the
// change. Calls from threads that trace no stub thread of the address space
// are queued and applied by a tracer before application code runs again
// (see AddressSpace.MapFile).
//
// # Faults
//
// On x86-64 the siginfo of a SIGSEGV does not say whether the access was a
// read, a write or an instruction fetch: the hardware error code is only
// written to the signal frame (sigcontext.err). So the stub has a SIGSEGV and
// SIGBUS handler in the stub region running on an alternate stack there
// (one per thread, in its slot): on a fault the tracer lets the signal
// through once, the handler stores err and trapno at the bottom of the
// thread's alternate stack and returns to an int3 via rt_sigreturn (which
// restores every register and the FP state), and the tracer reads the two
// words with PTRACE_PEEKDATA. Application code never runs in between and the
// application never sees the signal.
//
// Two fast paths skip the probe. A write to a page the platform itself
// mapped readable but not writable (copy-on-write): a SEGV_ACCERR there, away
// from the page(s) the instruction at rip lies on, can only be a write. The
// platform records its own mappings for this (mappings.go) and does not
// trust them if a remote mmap/munmap ran while the faulting thread ran. And
// the first touch of a page the stub has no mapping for (SEGV_MAPERR) is
// reported with an empty Access, which the kernel handles as a read: on x86
// every mapping is readable, so whether the access was allowed and what gets
// mapped do not depend on it, except that a write to a page mapped
// read-only (copy-on-write) then faults again with SEGV_ACCERR, where the
// first fast path or the probe tells the write. The platform interface
// promises Execute for instruction fetches; the kernel's fault handler needs
// no more than this (see Context.classify).
//
// # Address space life cycle
//
// Only the first stub, the template, is forked from the Sentry. Every other
// stub is forked remotely in the template, traced from birth by the thread
// that asked for it, and born with its first stub thread already cloned and
// parked (spawn.go); two are kept spawned ahead, refilled by a goroutine.
// AddressSpace.Release leaves the kill and the reaping of the stub to a
// goroutine.
package ptrace

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/stubproc"
	"golang.org/x/sys/unix"
)

// ErrReleased is returned for operations on a released address space.
var ErrReleased = errors.New("ptrace: address space released")

// Platform is the ptrace platform. It is safe for concurrent use.
type Platform struct {
	memfd int
	stub  *stubRegion

	// remoteCalls counts remote system calls run in stubs.
	remoteCalls atomic.Uint64
	// fastFaults counts faults answered without the probe.
	fastFaults atomic.Uint64
	// noFastFaults turns the fault fast paths off (tests, benchmarks).
	noFastFaults bool
	// alwaysSetRegs makes Switch write every register with
	// PTRACE_SETREGS (benchmarks; see putRegs).
	alwaysSetRegs bool
	// repins counts stub threads moved to their tracer's CPU.
	repins atomic.Uint64
	// tmplMu serializes remote forks in the template stub (spawn.go).
	tmplMu sync.Mutex
	tmpl   *stubTemplate
	// pool holds stubs spawned ahead of need; poolFilling is set while
	// a goroutine refills it (spawn.go).
	pool        chan spawned
	poolFilling atomic.Bool
	// noPool turns the pool off (tests, benchmarks).
	noPool bool
	// fpSize is the size of the XSAVE area (or 512 with the FXSAVE
	// fallback), or 0 before the first attach determined it.
	fpSize atomic.Int64
}

var _ platform.Platform = (*Platform)(nil)

// New returns a ptrace platform whose address spaces map pages of the
// memory file memoryFileFD. The descriptor must stay open for the life of
// the platform; stubs keep a copy of it at the same number.
func New(memoryFileFD int) (*Platform, error) {
	if memoryFileFD < 0 {
		return nil, fmt.Errorf("ptrace: bad memory file descriptor %d", memoryFileFD)
	}
	s, err := setupStubRegion()
	if err != nil {
		return nil, err
	}
	startFactory()
	return &Platform{memfd: memoryFileFD, stub: s, pool: make(chan spawned, poolSize)}, nil
}

// Name implements platform.Platform.
func (p *Platform) Name() string { return "ptrace" }

// MinUserAddress implements platform.Platform.
func (p *Platform) MinUserAddress() uintptr { return 0x10000 }

// MaxUserAddress implements platform.Platform: the stub region starts there.
func (p *Platform) MaxUserAddress() uintptr { return p.stub.start }

// RemoteCalls returns how many remote system calls stubs have run, for
// benchmarks and tests.
func (p *Platform) RemoteCalls() uint64 { return p.remoteCalls.Load() }

// NewAddressSpace implements platform.Platform. It forks a stub from the
// template stub (spawn.go), or from the Sentry if that fails.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	pid, first, err := p.takeStub()
	if err == nil {
		as := newAddressSpace(p, pid)
		as.first = first
		as.nextSlot = 2
		return as, nil
	}
	pid, err = forkFromFactory(p.memfd)
	if err != nil {
		return nil, err
	}
	return newAddressSpace(p, pid), nil
}

// NewContext implements platform.Platform.
func (p *Platform) NewContext() (platform.Context, error) {
	return &Context{p: p}, nil
}

// The stub factory: one locked OS thread, the parent of every stub, for the
// life of the process. PR_SET_PDEATHSIG is tied to the parent thread, so
// stubs die exactly when the Sentry does.

type forkRequest struct {
	memfd int
	reply chan forkReply
}

type forkReply struct {
	pid int
	err error
}

var (
	factoryOnce sync.Once
	factoryReqs chan forkRequest
)

func startFactory() {
	factoryOnce.Do(func() {
		factoryReqs = make(chan forkRequest)
		go factoryLoop(factoryReqs)
	})
}

func factoryLoop(reqs chan forkRequest) {
	runtime.LockOSThread() // never unlocked: the thread must live forever
	probeErr := probeRseq()
	for req := range reqs {
		if probeErr != nil {
			req.reply <- forkReply{0, probeErr}
			continue
		}
		pid, err := forkOne(req.memfd)
		req.reply <- forkReply{pid, err}
	}
}

func forkFromFactory(memfd int) (int, error) {
	reply := make(chan forkReply, 1)
	factoryReqs <- forkRequest{memfd, reply}
	r := <-reply
	return r.pid, r.err
}

// forkOne forks a stub and waits until it has stopped itself, ready to be
// traced. It runs on the factory thread.
func forkOne(memfd int) (int, error) {
	pid, err := forkAt(stub.entry, memfd)
	if err != nil {
		return 0, err
	}
	// Let it go on to the park loop, where it waits to be seized.
	if err := unix.Kill(pid, unix.SIGCONT); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		wait4(pid)
		return 0, fmt.Errorf("ptrace: continue new stub %d: %w", pid, err)
	}
	return pid, nil
}

// forkAt forks a child that starts at entry and waits until it stopped
// itself with SIGSTOP.
func forkAt(entry uintptr, memfd int) (int, error) {
	r, err := stubproc.Fork(entry, 0, uintptr(memfd), 0)
	if err != nil {
		return 0, fmt.Errorf("ptrace: %w", err)
	}
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(r, &ws, wallFlag|unix.WUNTRACED, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("ptrace: wait for new stub %d: %w", r, err)
		}
		switch {
		case ws.Stopped() && ws.StopSignal() == unix.SIGSTOP:
			return r, nil
		case ws.Exited() || ws.Signaled():
			return 0, fmt.Errorf("ptrace: stub %d died during start-up (status %#x)", r, uint32(ws))
		}
	}
}

// rseqConfig is struct ptrace_rseq_configuration.
type rseqConfig struct {
	Pointer   uint64
	Size      uint32
	Signature uint32
	Flags     uint32
	_         uint32
}

// probeRseq finds the restartable sequence (rseq) registration the factory
// thread's children inherit and writes it to the stub data page, so that
// stubs unregister it before unmapping the Sentry's memory: a registered
// rseq area that is no longer mapped makes the kernel kill the stub with
// SIGSEGV at its next preemption. A pure Go binary (CGO_ENABLED=0) has no
// registration; a cgo build (glibc) has one per thread. It forks a probe
// child that stops at once and asks with PTRACE_GET_RSEQ_CONFIGURATION
// (Linux 5.13+; on older kernels nothing is unregistered). It runs on the
// factory thread.
func probeRseq() error {
	pid, err := forkAt(stub.probe, -1)
	if err != nil {
		return err
	}
	defer func() {
		unix.Kill(pid, unix.SIGKILL)
		for {
			ws, err := wait4(pid)
			if err != nil || !waitStatus(ws).stopped() {
				return
			}
		}
	}()
	if err := ptrace(unix.PTRACE_SEIZE, pid, 0, 0); err != nil {
		return fmt.Errorf("ptrace: seize rseq probe: %w", err)
	}
	if err := ptrace(unix.PTRACE_INTERRUPT, pid, 0, 0); err != nil {
		return fmt.Errorf("ptrace: interrupt rseq probe: %w", err)
	}
	if _, err := wait4(pid); err != nil {
		return fmt.Errorf("ptrace: wait for rseq probe: %w", err)
	}
	var conf rseqConfig
	if ptrace(ptraceGetRseqConfiguration, pid, unsafe.Sizeof(conf), uintptr(unsafe.Pointer(&conf))) != nil {
		return nil // old kernel: assume no registration
	}
	stub.setRseq(conf)
	return nil
}
