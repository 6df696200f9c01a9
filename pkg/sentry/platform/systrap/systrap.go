//go:build linux && amd64

// Package systrap implements platform.Platform with seccomp traps and
// shared memory: every application address space is a stub process, forked
// from the Sentry, whose threads run application code under a seccomp
// filter that answers each system call made outside the stub's own code
// with SECCOMP_RET_TRAP. The stub's signal handler reports the SIGSYS (and
// SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP) to the Sentry through a context
// page shared by the stub thread and the Sentry, and returns to the
// application with the registers the Sentry wrote. No ptrace at all: not
// in the fast path, not for setup.
//
// # Stubs
//
// At the first New, the platform maps the stub region at a fixed address
// above MaxUserAddress and writes the stub program into it (stub_amd64.go,
// assembled by asm_amd64.go). A locked "stub factory" thread forks stubs
// with a raw clone (fork_amd64.s), handing the child the memory file and
// the address space's context file (a memfd of its own, which the Sentry
// maps too). The child, running only stub code: asks for SIGKILL when the
// factory thread dies; resets every signal disposition and installs the
// stub handler for the trapped signals (on an alternate stack, every signal
// blocked); maps the context file over the region's context area; closes
// every descriptor but the memory file; unmaps everything outside the stub
// region; installs the seccomp filter (stubFilter: system calls from the
// stub code page are allowed if they are among the dozen the stub makes,
// any other from there kills the stub, everything else traps); and raises
// the interrupt signal on itself, which makes the handler post its first
// event: the Sentry's sign that the stub is ready.
//
// # The context page and the signal frame
//
// Each stub thread has a slot in the context area: its context page (state
// word, futex flags, request fields) followed by its alternate signal
// stack. Because the handler runs on that stack, the kernel's signal frame
// (ucontext: every general register, err/trapno/cr2 of a fault, and the
// XSAVE area) is in memory the Sentry maps. The handler only records where
// the frame is and waits; the Sentry reads the registers out of the frame,
// writes the new ones in, and the handler returns through rt_sigreturn,
// which loads them (and the FP state) in one step. The FP state is copied
// only when the Sentry changes it or the context moves to another stub
// thread. The fs base is not in the frame: the Sentry puts it in the page
// and the handler calls arch_prctl when it changed.
//
// A thread state word drives everything: the stub thread writes stateEvent
// (a signal is described, or a request is done); the Sentry writes stateRun
// (return to the application), stateSyscall (run this system call: mmap
// and munmap for MapFile and Unmap, exit for Context.Release) or stateClone
// (clone a new stub thread, see below).
//
// # Threads
//
// The leader (the forked process's main thread, slot 0) runs no
// application code: it serves clone requests and MapFile/Unmap calls from
// Sentry threads that have no idle stub thread of their own in the address
// space. Every Context gets its own stub thread in each address space it
// switches to, cloned by the leader (CLONE_VM|CLONE_THREAD|... and
// CLONE_CHILD_SETTID/CLEARTID on the thread's tid word); the child sets its
// alternate stack, unblocks signals and raises its first event. A Sentry
// thread's MapFile/Unmap run in its own idle stub thread (no hand-off to the
// leader, which may sleep on another CPU). Context.Release makes its stub
// threads exit(0) (and waits for the tid word to clear); AddressSpace.Release
// kills and reaps the process.
//
// Interrupt sends the stub thread the interrupt signal (SIGUSR2) with
// tgkill: a thread running application code traps at once and its handler
// reports it; one waiting in the handler has it blocked and reports it,
// as a spurious event Switch swallows, the next time it returns to the
// application.
//
// # Hand-off policy
//
// Measured on the 2-CPU reference VM: a futex wake of a thread sleeping on
// the other (idle) CPU costs 70–170 µs (the vCPU must be woken); the same
// hand-off with both threads on one CPU ~16 µs; spinning on a shared cache
// line across CPUs ~4 µs per round trip; the SIGSYS and rt_sigreturn
// themselves ~3 µs. So a Switch and its stub thread hand off in one of two
// modes, chosen per exchange from recent history (handoff.go):
//
//   - spin: the stub thread is pinned away from the Sentry thread's CPU;
//     each side spins (PAUSE) on the state word for up to spinBudget
//     (20 µs) before it sleeps on the futex. At most NumCPU-1 Sentry threads
//     spin at a time (spinners), and a Sentry thread stops spinning if it
//     finds itself on the CPU the stub may use.
//   - block: the stub thread is pinned to the Sentry thread's CPU (as the
//     ptrace platform does) and both sides sleep on the futex at once, so
//     every wake is a same-CPU wake.
//
// A pair spins while the application comes back within the budget; two
// misses in the last eight exchanges (a long-running application, a busy
// machine) switch it to block mode; a stub thread found asleep is moved to
// the Sentry's CPU before it is woken (never a cross-CPU wake) and that
// exchange blocks. In block mode the round trip is timed, and after
// probeAfter exchanges (32 at first), if the round trips were short and no
// other thread spins, the pair tries spinning again; a probe that misses
// doubles probeAfter (up to 16384), eight hits in a row reset it. With one
// usable CPU it never spins. The stub thread spins after an event only if
// the Sentry's recent handling time fit in the budget (ctxStubSpin = 0
// makes it sleep at once).
//
// Measured with BenchmarkGetpidRoundTrip (one Switch per getpid) on the
// reference VM while it was shared with other work (load average ~16 on 2
// CPUs): spin mode median 4.2–6.7 µs (p90 12–16 µs) before probe backoff
// existed; with backoff on that loaded machine the probes fail and the pair
// blocks: median 13 µs against ptrace's 15.6–19.7 µs measured alongside.
// The backoff exists because on the loaded machine unbounded probing made
// `runsc do /bin/true` take 0.2–1.2 s (a stub moved to the other, busy, CPU
// waited there for tens to hundreds of milliseconds); with it, 110–147 ms
// against ptrace's 90–189 ms in the same minutes.
//
// # Known gaps
//
// The context page and the alternate stack are writable by the
// application (they must be, for the kernel to write the frame), and an
// application that jumps into the stub code page can make the dozen
// system calls the filter allows from there (mmap of the memory file
// included). A stack pointer aimed into the stub region makes the frame
// land where the application chose, in its own address space. Filters the
// Sentry itself installs are inherited by stubs and can outrank
// SECCOMP_RET_TRAP (RUNSC_SECCOMP). Application writes to fs with WRFSBASE
// are not seen by the Sentry.
package systrap

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"bufferzone.dev/pkg/sentry/platform"
	"golang.org/x/sys/unix"
)

// ErrReleased is returned for operations on a released address space.
var ErrReleased = errors.New("systrap: address space released")

// Platform is the systrap platform. It is safe for concurrent use.
type Platform struct {
	memfd int
	stub  *stubRegion

	// requests counts requests (mmap, munmap, clone, exit) run by stubs.
	requests atomic.Uint64
	// repins counts stub thread affinity changes.
	repins atomic.Uint64
	// fpSize is the size of the XSAVE area in signal frames, or 0 before
	// the first frame was seen.
	fpSize atomic.Int64
}

var _ platform.Platform = (*Platform)(nil)

// New returns a systrap platform whose address spaces map pages of the
// memory file memoryFileFD. The descriptor must stay open for the life of
// the platform; stubs keep a copy of it at the same number.
func New(memoryFileFD int) (*Platform, error) {
	if memoryFileFD < 0 {
		return nil, fmt.Errorf("systrap: bad memory file descriptor %d", memoryFileFD)
	}
	s, err := setupStubRegion()
	if err != nil {
		return nil, err
	}
	initHandoff()
	startFactory()
	return &Platform{memfd: memoryFileFD, stub: s}, nil
}

// Name implements platform.Platform.
func (p *Platform) Name() string { return "systrap" }

// MinUserAddress implements platform.Platform.
func (p *Platform) MinUserAddress() uintptr { return 0x10000 }

// MaxUserAddress implements platform.Platform: the stub region starts there.
func (p *Platform) MaxUserAddress() uintptr { return p.stub.start }

// Requests returns how many requests stubs have run, for tests and
// benchmarks.
func (p *Platform) Requests() uint64 { return p.requests.Load() }

// NewAddressSpace implements platform.Platform. It forks a stub and waits
// until it is ready.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	return newAddressSpace(p)
}

// NewContext implements platform.Platform.
func (p *Platform) NewContext() (platform.Context, error) {
	return &Context{p: p, threads: make(map[*AddressSpace]*stubThread)}, nil
}

// The stub factory: one locked OS thread, the parent of every stub, for the
// life of the process. PR_SET_PDEATHSIG is tied to the parent thread, so
// stubs die exactly when the Sentry does.

type forkRequest struct {
	memfd, ctxfd int
	reply        chan forkReply
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

// factoryLoop forks stubs. Stubs do not unregister an rseq area: the
// runsc binary is built without cgo, so no thread has one (glibc registers
// one per thread in cgo builds; see the ptrace platform's probeRseq if that
// ever changes).
func factoryLoop(reqs chan forkRequest) {
	runtime.LockOSThread() // never unlocked: the thread must live forever
	for req := range reqs {
		all := ^uint64(0)
		var old uint64
		r := int(forkStub(stub.entry, uintptr(req.memfd), uintptr(req.ctxfd), &all, &old))
		if r < 0 {
			req.reply <- forkReply{0, fmt.Errorf("systrap: fork stub: %w", unix.Errno(-r))}
			continue
		}
		req.reply <- forkReply{r, nil}
	}
}

func forkFromFactory(memfd, ctxfd int) (int, error) {
	reply := make(chan forkReply, 1)
	factoryReqs <- forkRequest{memfd, ctxfd, reply}
	r := <-reply
	return r.pid, r.err
}
