//go:build linux && amd64

// Package systrap implements platform.Platform with seccomp traps and
// shared memory: every application address space is a stub process, forked
// from the Sentry, whose application threads run under seccomp filters that
// answer each system call made outside the stub's own code with
// SECCOMP_RET_TRAP. The stub's signal handler reports the SIGSYS (and
// SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP) to the Sentry through a context
// page shared by the stub thread and the Sentry, and returns to the
// application with the registers the Sentry wrote. No ptrace at all: not
// in the fast path, not for setup.
//
// # Stubs
//
// At the first New, the platform maps the stub region at a fixed address
// above MaxUserAddress and writes the stub program into it (stub_amd64.go,
// assembled with the internal asm package); the code and data pages are
// read-only from then on. A locked "stub factory" thread forks, with a raw
// clone (stubproc.Fork), one template stub per platform, which forks every
// other stub (with CLONE_PARENT, so they are the Sentry's children): a fork
// of the Sentry itself copies its page tables and leaves its private pages
// copy-on-write, which fork and exec in the sandbox would pay for. Each
// stub starts with the memory file, its address space's context file (a
// memfd of its own, which the Sentry maps too) and its end of its channel
// (a SOCK_SEQPACKET socket pair). The stub, running only stub code: asks for SIGKILL when
// the factory thread dies; resets every signal disposition and installs
// the stub handler for the trapped signals (on an alternate stack, every
// signal blocked); maps the context file's first page read-only as the
// request page and the rest over the region's context area; keeps only
// the memory file and the channel open; unmaps everything outside the stub
// region; installs the base seccomp filter; and becomes the mapper. Two
// stubs are kept ready ahead of need (the pool); Release kills a stub and
// leaves the reaping to a goroutine. MapFile queues its mmap: the queue
// goes to the mapper in one request with the next Unmap, thread creation,
// or Switch into the address space, so that an exec or a fork, which map
// dozens of ranges, pay one round trip.
//
// # Who may do what
//
// A stub has two kinds of threads, and seccomp filters are per thread:
//
//   - The mapper (the main thread) runs nothing but stub code, with every
//     signal blocked, no stack, and its state in registers. It reads
//     requests (lists of system calls: mmap and munmap for MapFile and
//     Unmap, recvmsg and mmap for MapHostFile, clone for new threads)
//     from the request page, which the application cannot write, runs
//     them and reports each completion as one packet on the channel, whose
//     length (1, or 1+errno) is its result. Only the mapper's descriptor
//     table holds the channel, the memory file and the host files it was
//     sent, and nothing it acts on is writable by the application (but
//     recvmsg's header, see MapHostFile), so the application can neither
//     make it do anything nor forge its answers.
//   - Application threads, cloned by the mapper without CLONE_FILES, close
//     every descriptor they inherited and add a second filter before they
//     run application code: from the stub code it allows rt_sigreturn,
//     futex (FUTEX_WAIT and FUTEX_WAKE), arch_prctl(ARCH_SET_FS) and exit,
//     and nothing else; everything else traps, from anywhere. A thread's
//     system call gets the strictest answer of all its filters, so an
//     application that jumps into the stub code can make those four calls,
//     which act on its own thread only, and nothing else: no mapping, no
//     descriptor, no signal to another thread. The Sentry reports a trap
//     from the stub code as the SIGSEGV of a jump to an unmapped address.
//
// The context pages and signal stacks must be writable by the application
// (the kernel writes the signal frame there), so everything the Sentry
// reads from them is untrusted input: frame and siginfo positions are
// checked against the slot, the FP state is sanitized before rt_sigreturn
// loads it, segment registers and flags are the kernel's to validate
// (rt_sigreturn forces user selectors and masks rflags), events that are
// not well formed are not reported, and a Switch returns whenever an
// interrupt is pending. An application that breaks the hand-off (it blocks
// the interrupt signal with an rt_sigreturn of its own, moves its signal
// stack, or keeps a thread from exiting) gets its stub killed when the
// Sentry notices (ignoresInterrupt, exitDeadline): the task then dies
// with SIGKILL, as after any stub death. A Sentry thread waiting for its
// stub thread sleeps with no timeout; a watchdog goroutine, running while
// any thread waits, checks every 50 ms that the waiters' stubs are alive
// and answer interrupts, and wakes the waiter of one that is not. 32-bit system calls (int 0x80)
// trap with a foreign audit arch and are reported as SIGSYS.
//
// # The context page and the signal frame
//
// Each application thread has a slot in the context area: its context
// page (state word, futex flags, fs base) followed by its alternate signal
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
// A thread state word drives the hand-off: the stub thread writes
// stateEvent (a signal is described); the Sentry writes stateRun (return
// to the application) or stateExit (Context.Release).
//
// # Threads
//
// Every Context gets its own application thread in each address space it
// switches to, cloned by the mapper (CLONE_VM|CLONE_THREAD|... and
// CLONE_CHILD_SETTID/CLEARTID on the thread's tid word); the child sets its
// alternate stack, closes its descriptors, unblocks signals, installs its
// filter and executes int3, whose SIGTRAP is its first event. Its tid is
// read from /proc (the tid word is writable by the application). The
// mapper is pinned to the CPU of the Sentry thread that sends it a request,
// so that the wake and the completion are same-CPU wakes.
// Context.Release makes its stub threads exit(0) (and waits for the tid
// word to clear); AddressSpace.Release kills and reaps the process.
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
// machine) switch it to block mode. A stub thread found asleep in spin mode
// (the Sentry took longer than the stub's budget, or its task slept) is
// woken where it is and the exchange is judged as any other: a stub thread
// woken on a busy CPU often answers within the budget. A spin cut short
// because too many threads spin or the Sentry thread moved is not judged.
// A task that sleeps in the Sentry first tells its context (Idle), which
// zeroes its stub thread's spin budget: a stub thread spinning for a reply
// that will be long in coming stops at once and leaves its CPU to another
// stub. Task goroutines are not locked to OS threads under this platform
// (ContextsMigrate), so a task that wakes another and then sleeps usually
// hands its OS thread over to it without a host wake-up; the Sentry's side
// of a pipe ping-pong then runs on one CPU and both stubs on the other.
// The Sentry runs, and its stubs are forked, with the host scheduling
// policy SCHED_BATCH (runsc starts it so; see sandbox.Options.SchedBatch):
// a woken thread then never preempts the running one. The Go runtime wakes
// an idle thread to look for work at each goroutine wake-up; on the CPU of
// the running Sentry thread that thread preempted it, found nothing and
// slept, twice per exchange in a ping-pong; and a stub woken on the CPU
// where another spins preempted it. In block mode the round trip is timed,
// and after probeAfter exchanges (32 at first), if the round trips were
// short and no other thread spins, the pair tries spinning again: the
// probe's first exchange wakes the stub thread on the other CPU and is not
// judged (a cross-CPU wake of a sleeping thread alone costs more than the
// budget; judging it made every probe fail, and a pair that once fell
// back never spun again: getpid's median was 10–14 µs in runs where that
// happened early); two misses among the next eight end the probe and
// double probeAfter (up to 16384), eight hits in a row reset it. With one
// usable CPU it never spins. The stub thread spins after an event only if
// the Sentry's recent handling time fit in the budget (ctxStubSpin = 0
// makes it sleep at once).
//
// Measured with BenchmarkGetpidRoundTrip (one Switch per getpid) on the
// reference VM with an idle second CPU: median 3.7–3.9 µs in most runs
// (4.4–6.1 µs in some), p90 ~5 µs; with a single usable CPU (block mode
// only) 12.4 µs against ptrace's 19 µs. In runsc (BenchmarkPlatforms:
// the median of 20000 timed getpid calls, a Sentry system call path
// included) 4.6–4.9 µs against ptrace's 19–21 µs on a quiet machine, and
// 4.8 µs against 19.4 µs at load average 4. What the round trip is made
// of (perf): the stub thread's SIGSYS delivery, signal frame and
// rt_sigreturn (XSAVE to and from the frame, three seccomp filters) take
// most of it; the Sentry's share is ~1 µs. Two lessons are in the policy
// above: judging a probe by its first exchange (a cross-CPU wake of a
// sleeping thread, 70–170 µs here) made every probe fail, and time.Now
// (two vDSO clock reads, 40–75 ns each in this VM) five times per
// exchange cost ~0.3 µs, hence the TSC. On a loaded machine (load average
// 8–16) the pair blocks and a round trip takes 13 µs against ptrace's
// 16–20 µs; unbounded probing there once made `runsc do /bin/true` take
// 0.2–1.2 s (a stub moved to the other, busy, CPU waited there for tens
// of milliseconds), hence the backoff. A pipe ping-pong (4 exchanges and
// 2 Sentry wake-ups per round trip) blocked at every exchange, bound by the
// host's wake-up latency and on par with ptrace (0.8–1.1× its time), until
// unlocked task goroutines, Idle and judging woken stubs by their answer
// let it spin: 73 µs against ptrace's 85 µs (medians of 7 alternating
// runs); SCHED_BATCH then took it to 50–60 µs against ptrace's 74–83 µs
// (under ptrace SCHED_BATCH is slower: 95 against 84 µs). The cost is
// paid by threads that could run side by side: two threads bouncing a
// futex whose waits often find the word changed ran as two blocking pairs,
// one per CPU, in 27–35 µs per round trip, and spun as one chain in 51–60
// µs (ptrace 37–44 µs); a futex wake-up now yields the waker's thread to
// the woken task (kernel.Task.YieldToWoken), which brings them to 43–50
// µs. Blocking everywhere would give them 25 µs and a pipe ping-pong 87
// µs; a platform-wide switch that tried both modes in turn and kept the
// one with more exchanges per second could not tell them apart (the futex
// pair makes as many exchanges per second either way), so the per-pair
// policy above stands.
//
// # Host files
//
// Private mappings of files the Gofer serves map the host file itself
// (platform.HostFileMapper) until the application writes a page, which mm
// then copies into the memory file. A program's text is then the host's
// page cache: an exec of busybox no longer copies 1.7 MiB into fresh
// memory file pages, and 100 fork+exec of it in one sandbox take 520 ms
// instead of 990. The mapper receives each file's descriptor once per stub
// (SCM_RIGHTS on its channel; at most maxHostFiles) and maps it
// MAP_PRIVATE, never writable, which the Sentry's filter (inherited by the
// stub) enforces too. The price: pages of a file shared by the host and
// several sandboxes (a shared image layer's libc) are the same physical
// pages in all of them, as with runc, which lets one observe another's use
// of them through the CPU caches (Flush+Reload); private copies did not.
//
// # Known gaps
//
// Filters the Sentry itself installs are inherited by stubs and can
// outrank SECCOMP_RET_TRAP (RUNSC_SECCOMP). Application writes to fs with
// WRFSBASE are not seen by the Sentry.
package systrap

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/stubproc"
	"golang.org/x/sys/unix"
)

// ErrReleased is returned for operations on a released address space.
var ErrReleased = errors.New("systrap: address space released")

// Platform is the systrap platform. It is safe for concurrent use.
type Platform struct {
	memfd int
	stub  *stubRegion

	// nextContext numbers Contexts (the key of their stub threads).
	nextContext atomic.Int64
	// requests counts requests (mmap, munmap, clone) run by mappers.
	requests atomic.Uint64
	// repins counts stub thread affinity changes.
	repins atomic.Uint64
	// fpSize is the size of the XSAVE area in signal frames, or 0 before
	// the first frame was seen.
	fpSize atomic.Int64
	// pool holds ready stubs; poolFilling is set while a goroutine
	// refills it; noPool turns it off (tests).
	pool        chan *AddressSpace
	poolFilling atomic.Bool
	noPool      bool
	// reaping counts address spaces whose stubs are being reaped.
	reaping sync.WaitGroup

	// tmplOnce starts the template (see Warm and spawn). tmplMu
	// serializes the use of the template; tmplSock is the Sentry's end of
	// its socket, or -1 if there is none (it is not started yet, could not
	// be started, or died: stubs are then forked by the factory).
	tmplOnce sync.Once
	tmplMu   sync.Mutex
	tmplSock int
	tmplPid  int
	tmplBuf  []byte

	// sleepMu protects sleepers, the stub threads whose Sentry threads
	// sleep in blockWait, and watching, set while watchSleepers runs.
	sleepMu  sync.Mutex
	sleepers map[*stubThread]struct{}
	watching bool
}

var _ platform.Platform = (*Platform)(nil)

// New returns a systrap platform whose address spaces map pages of the
// memory file memoryFileFD. The descriptor must stay open for the life of
// the platform; stubs keep a copy of it at the same number. New forks no
// host process: the template stub is forked by Warm or by the first
// NewAddressSpace.
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
	p := &Platform{memfd: memoryFileFD, stub: s, pool: make(chan *AddressSpace, poolSize), tmplSock: -1,
		sleepers: make(map[*stubThread]struct{})}
	return p, nil
}

// Warm implements platform.Warmer: it forks the template stub and starts
// filling the pool of ready stubs, so that the first address space need
// not wait for either.
func (p *Platform) Warm() {
	p.tmplOnce.Do(p.startTemplate)
	if !p.noPool {
		p.refill()
	}
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

// poolSize is how many ready stubs the platform keeps forked ahead of
// need: forking one (from the Sentry, whose page tables the fork copies)
// and waiting for its mapper takes milliseconds, which fork and exec in
// the sandbox would otherwise wait for.
const poolSize = 2

// NewAddressSpace implements platform.Platform. It takes a ready stub from
// the pool, or forks one and waits until it is ready; either way a
// goroutine refills the pool.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	if !p.noPool {
		defer p.refill()
		select {
		case as := <-p.pool:
			return as, nil
		default:
		}
	}
	return newAddressSpace(p)
}

// refill starts a goroutine that fills the pool, unless one runs.
func (p *Platform) refill() {
	if !p.poolFilling.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer p.poolFilling.Store(false)
		p.fillPool()
	}()
}

// fillPool forks stubs until the pool is full or a fork fails.
func (p *Platform) fillPool() {
	for len(p.pool) < cap(p.pool) {
		as, err := newAddressSpace(p)
		if err != nil {
			return
		}
		if err := as.cloneSpare(); err != nil {
			as.Release()
			return
		}
		select {
		case p.pool <- as:
		default:
			as.Release()
			return
		}
	}
}

// NewContext implements platform.Platform.
func (p *Platform) NewContext() (platform.Context, error) {
	return &Context{p: p, id: int(p.nextContext.Add(1)), threads: make(map[*AddressSpace]*stubThread)}, nil
}

var _ platform.MigratingContexts = (*Platform)(nil)

// ContextsMigrate implements platform.MigratingContexts: a Context may be
// switched from any OS thread.
func (p *Platform) ContextsMigrate() bool { return true }

// The stub factory: one locked OS thread, the parent of every stub, for the
// life of the process. PR_SET_PDEATHSIG is tied to the parent thread, so
// stubs die exactly when the Sentry does.

type forkRequest struct {
	pipe, memfd, ctxfd int
	entry              uintptr
	reply              chan forkReply
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
		pid, err := stubproc.Fork(req.entry, uintptr(req.pipe), uintptr(req.memfd), uintptr(req.ctxfd))
		if err != nil {
			err = fmt.Errorf("systrap: %w", err)
		}
		req.reply <- forkReply{pid, err}
	}
}

// forkFromFactory forks a child of the Sentry that starts at entry in the
// stub region with r12 = pipe, r13 = memfd and r14 = ctxfd (see
// stubProgram).
func forkFromFactory(pipe, memfd, ctxfd int, entry uintptr) (int, error) {
	reply := make(chan forkReply, 1)
	factoryReqs <- forkRequest{pipe, memfd, ctxfd, entry, reply}
	r := <-reply
	return r.pid, r.err
}

// startTemplate forks the template stub (see "template" in stubProgram),
// the parent of every later stub. Without it stubs are forked from the
// Sentry.
func (p *Platform) startTemplate() {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	pid, err := forkFromFactory(0, p.memfd, fds[1], stub.template)
	unix.Close(fds[1])
	if err != nil {
		unix.Close(fds[0])
		return
	}
	p.tmplSock, p.tmplPid, p.tmplBuf = fds[0], pid, make([]byte, 8)
}

// spawn has the template fork a stub that starts with the completion
// pipe's write end, the memory file and the context file, and returns its
// pid. It fails if there is no template.
func (p *Platform) spawn(pipe, ctxfd int) (int, error) {
	p.tmplOnce.Do(p.startTemplate)
	p.tmplMu.Lock()
	defer p.tmplMu.Unlock()
	if p.tmplSock < 0 {
		return 0, errors.New("systrap: no template stub")
	}
	err := unix.Sendmsg(p.tmplSock, []byte{0}, unix.UnixRights(ctxfd, pipe), nil, unix.MSG_NOSIGNAL)
	var n int
	if err == nil {
		n, err = unix.Read(p.tmplSock, p.tmplBuf)
	}
	if err == nil && n != len(p.tmplBuf) {
		err = fmt.Errorf("reply of %d bytes", n)
	}
	if err != nil {
		// The template is gone: stop using it, and reap it.
		unix.Close(p.tmplSock)
		p.tmplSock = -1
		unix.Kill(p.tmplPid, unix.SIGKILL)
		p.reaping.Add(1)
		go func(pid int) {
			defer p.reaping.Done()
			var ws unix.WaitStatus
			for {
				if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
					return
				}
			}
		}(p.tmplPid)
		return 0, fmt.Errorf("systrap: template stub: %w", err)
	}
	pid := int64(le.Uint64(p.tmplBuf))
	if pid <= 0 {
		return 0, fmt.Errorf("systrap: template stub: fork: %w", unix.Errno(-pid))
	}
	return int(pid), nil
}
