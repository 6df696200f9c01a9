package kernel

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	_ "unsafe" // go:linkname

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/kernel/futex"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Task is one application thread. Its goroutine runs the loop that switches
// to application code and handles what comes back; everything a system call
// handler needs is reached through the Task.
type Task struct {
	k    *Kernel
	tid  int32
	tg   *ThreadGroup
	pctx platform.Context

	// regs is the application's register state, owned by the task goroutine.
	regs platform.Registers

	// interrupt receives a value when a blocking wait must end.
	interrupt chan struct{}
	// sleepState is the word the task sleeps on in Block (task_block.go):
	// with a host futex wait, or on wakeCh if that is not nil.
	sleepState atomic.Uint32
	// wakeCh is set if the task goroutine is not locked to an OS thread
	// (platform.MigratingContexts): Wake sends on it.
	wakeCh chan struct{}
	// sleepTimer times Block's deadlines on wakeCh (task goroutine only;
	// created on first use).
	sleepTimer *time.Timer

	mu      sync.Mutex
	mm      *mm.MemoryManager
	fdTable *FDTable
	fs      *FSContext
	name    string

	creds atomic.Pointer[auth.Credentials]

	// sigMask is the blocked signal set (bit N-1 for signal N).
	sigMask atomic.Uint64
	// signalQueue is notified when a signal is queued (signalfd).
	signalQueue waiter.Queue
	// pending holds signals directed at this thread; guarded by tg.mu.
	pending pendingSignals
	// altStack is the sigaltstack(2) setting (task goroutine only).
	altStack SignalStack
	// restartErr is the restart errno of the system call just
	// interrupted, until signal handling decides to restart it or fail it
	// with EINTR (task goroutine only).
	restartErr error
	// savedMask is the mask to restore after a handler when a call such
	// as rt_sigsuspend replaced it temporarily (task goroutine only).
	savedMask    uint64
	hasSavedMask bool
	// restartBlock continues a call interrupted with
	// ERESTART_RESTARTBLOCK (restart_syscall(2)).
	restartBlock func(t *Task) (uintptr, error)

	clearChildTID uintptr
	robustList    uintptr
	robustLen     uintptr

	// cpu is the task's accumulated CPU time, guarded by cpuMu.
	cpuMu sync.Mutex
	cpu   cpuTimes
	// startTime is when the task was created.
	startTime time.Time

	// exiting is set once the task must stop running application code.
	exiting atomic.Bool
	// pdeathSig is PR_SET_PDEATHSIG's signal (0: none).
	pdeathSig atomic.Int32
	// noNewPrivs is PR_SET_NO_NEW_PRIVS.
	noNewPrivs atomic.Bool
	// exitStatus is the status of an exit(2) of this thread alone.
	exitStatus WaitStatus
	// vforkParent, if not nil, sleeps until this vfork child execs or
	// exits, which sets vforkDone and wakes it (task goroutine only).
	vforkParent *Task
	vforkDone   *atomic.Bool
}

// Kernel returns the task's kernel.
func (t *Task) Kernel() *Kernel { return t.k }

// TID returns the task's thread ID.
func (t *Task) TID() int32 { return t.tid }

// ThreadGroup returns the task's thread group (process).
func (t *Task) ThreadGroup() *ThreadGroup { return t.tg }

// Regs returns the task's registers. Only the task goroutine may use them.
func (t *Task) Regs() *platform.Registers { return &t.regs }

// MemoryManager returns the task's address space.
func (t *Task) MemoryManager() *mm.MemoryManager {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mm
}

// FDTable returns the task's file descriptor table.
func (t *Task) FDTable() *FDTable { return t.fdTable }

// FSContext returns the task's root, working directory and umask.
func (t *Task) FSContext() *FSContext { return t.fs }

// Credentials returns the task's credentials.
func (t *Task) Credentials() *auth.Credentials { return t.creds.Load() }

// SetCredentials replaces the task's credentials.
func (t *Task) SetCredentials(c *auth.Credentials) { t.creds.Store(c) }

// Name returns the task's command name (comm).
func (t *Task) Name() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.name
}

// SetName sets the task's command name, truncated as Linux does to 15 bytes.
func (t *Task) SetName(name string) {
	if len(name) > 15 {
		name = name[:15]
	}
	t.mu.Lock()
	t.name = name
	t.mu.Unlock()
}

// SignalMask returns the blocked signal set.
func (t *Task) SignalMask() uint64 { return t.sigMask.Load() }

// SetSignalMask sets the blocked signal set; SIGKILL and SIGSTOP can never
// be blocked.
func (t *Task) SetSignalMask(m uint64) {
	m &^= 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)
	t.sigMask.Store(m)
}

// SetClearChildTID records set_tid_address(2)'s address.
func (t *Task) SetClearChildTID(addr uintptr) { t.clearChildTID = addr }

// SetRobustList records set_robust_list(2)'s list head.
func (t *Task) SetRobustList(head, length uintptr) { t.robustList, t.robustLen = head, length }

// RobustList returns the robust futex list head and length.
func (t *Task) RobustList() (uintptr, uintptr) { return t.robustList, t.robustLen }

// CopyIn copies from the task's memory.
func (t *Task) CopyIn(addr uintptr, dst []byte) (int, error) {
	return t.MemoryManager().CopyIn(addr, dst)
}

// CopyOut copies to the task's memory.
func (t *Task) CopyOut(addr uintptr, src []byte) (int, error) {
	return t.MemoryManager().CopyOut(addr, src)
}

// CopyInString copies a NUL-terminated string of at most maxLen bytes.
func (t *Task) CopyInString(addr uintptr, maxLen int) (string, error) {
	return t.MemoryManager().CopyInString(addr, maxLen)
}

// Interrupted returns the channel a blocking operation selects on to learn
// that it must stop (EINTR or restart).
func (t *Task) Interrupted() <-chan struct{} { return t.interrupt }

// Interrupt wakes the task from whatever it is doing: a blocking wait in the
// Sentry returns, application code stops at the next opportunity.
func (t *Task) Interrupt() {
	select {
	case t.interrupt <- struct{}{}:
	default:
	}
	// After the token: a task woken from Block finds it.
	t.Wake()
	t.pctx.Interrupt()
}

// Debugf logs a message about the task.
func (t *Task) Debugf(format string, args ...any) {
	t.k.Logf("[%d] "+format, append([]any{t.tid}, args...)...)
}

// errExitTask is returned by handlers of system calls after which the task
// runs no more application code.
var errExitTask = errors.New("task exiting")

// ErrNoReturn is returned by a system call handler that has set the task's
// registers itself (execve, rt_sigreturn): the return value is not written.
var ErrNoReturn = errors.New("system call does not return a value")

// start begins running the task on its own goroutine.
func (t *Task) start() {
	go t.run()
}

// run is the task goroutine: switch to the application, handle the event,
// repeat, until the task exits.
func (t *Task) run() {
	// The ptrace platform requires every Switch of a task to come from one
	// OS thread; a task keeps its thread for life, and the thread is
	// discarded with it. Platforms whose contexts migrate leave the
	// goroutine free.
	if t.wakeCh == nil {
		runtime.LockOSThread()
	}
	// CPU time: a Switch is user time, the rest system time, read from
	// the monotonic clock alone (time.Now reads two clocks, and this loop
	// runs once per system call).
	last := nanotime()
	for {
		t.handleSignals()
		if t.exiting.Load() {
			break
		}
		as := t.MemoryManager().AddressSpace()
		switchStart := nanotime()
		ev, err := t.pctx.Switch(as, &t.regs)
		now := nanotime()
		t.account(time.Duration(now-switchStart), time.Duration(switchStart-last))
		last = now
		if err != nil {
			t.Debugf("platform: %v", err)
			t.tg.exitGroup(Signaled(unix.SIGKILL, false))
			break
		}
		switch ev.Kind {
		case platform.EventSyscall:
			t.doSyscall()
		case platform.EventFault:
			if ev.Signo == int32(unix.SIGBUS) {
				// The host has no page behind a mapped one: a host
				// file mapped directly shrank outside the Sentry's
				// view, or the memory file could not grow. Mapping
				// the page again would fault again; Linux gives
				// SIGBUS.
				t.forceSignal(unix.SIGBUS, ev.Code, ev.Addr)
				break
			}
			if err := t.MemoryManager().HandleFault(ev.Addr, ev.Access); err != nil {
				sig, code := unix.SIGSEGV, int32(SegvMapErr)
				var fe *mm.FaultError
				if errors.As(err, &fe) {
					sig, code = unix.Signal(fe.Signo), fe.Code
				} else {
					t.Debugf("fault at %#x: %v", ev.Addr, err)
				}
				t.forceSignal(sig, code, ev.Addr)
			}
		case platform.EventSignal:
			t.forceSignal(unix.Signal(ev.Signo), ev.Code, ev.Addr)
		case platform.EventInterrupted:
			// Drain a stale wakeup; exits and signals are checked by the loop.
			select {
			case <-t.interrupt:
			default:
			}
		}
	}
	t.account(0, time.Duration(nanotime()-last))
	t.exit()
}

// nanotime is the runtime's monotonic clock, in ns.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// exit releases the task's resources once its goroutine stops running
// application code.
func (t *Task) exit() {
	if t.clearChildTID != 0 {
		var zero [4]byte
		if _, err := t.CopyOut(t.clearChildTID, zero[:]); err == nil {
			t.k.Futexes.Wake(t.futexKey(t.clearChildTID), 1, futex.BitsetMatchAny)
		}
	}
	t.exitRobustList()
	t.fdTable.DecRef()
	t.fs.DecRef()
	t.pctx.Release()
	t.mu.Lock()
	m := t.mm
	t.mm = nil
	t.mu.Unlock()
	if m != nil {
		t.tg.noteRSS(m.ResidentBytes())
		m.DecUsers()
	}
	t.releaseVfork()
	if t.tid != t.tg.pid {
		// A leader's PID stays taken until its process is reaped.
		t.k.mu.Lock()
		delete(t.k.tasks, t.tid)
		t.k.mu.Unlock()
	}
	t.tg.mu.Lock()
	t.tg.exitedCPU = t.tg.exitedCPU.add(t.cpu)
	t.tg.mu.Unlock()
	t.tg.taskExited(t)
}

// FSContext is a task's root directory, working directory and umask,
// shared by CLONE_FS.
type FSContext struct {
	refs  atomic.Int64
	mu    sync.Mutex
	root  vfs.VirtualDentry
	cwd   vfs.VirtualDentry
	umask uint32
}

// NewFSContext returns a context with one reference.
func NewFSContext(root, cwd vfs.VirtualDentry, umask uint32) *FSContext {
	f := &FSContext{root: root, cwd: cwd, umask: umask}
	f.refs.Store(1)
	return f
}

// DecRef drops a reference.
func (f *FSContext) DecRef() { f.refs.Add(-1) }

// Root returns the root directory.
func (f *FSContext) Root() vfs.VirtualDentry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.root
}

// Cwd returns the working directory.
func (f *FSContext) Cwd() vfs.VirtualDentry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cwd
}

// SetCwd changes the working directory.
func (f *FSContext) SetCwd(vd vfs.VirtualDentry) {
	f.mu.Lock()
	f.cwd = vd
	f.mu.Unlock()
}

// SetRoot changes the root directory (chroot(2)).
func (f *FSContext) SetRoot(vd vfs.VirtualDentry) {
	f.mu.Lock()
	f.root = vd
	f.mu.Unlock()
}

// Umask returns the file mode creation mask.
func (f *FSContext) Umask() uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.umask
}

// SwapUmask sets the umask and returns the old one.
func (f *FSContext) SwapUmask(m uint32) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.umask
	f.umask = m & 0o777
	return old
}

// releaseVfork wakes a vfork parent waiting for this task.
func (t *Task) releaseVfork() {
	if t.vforkParent != nil {
		t.vforkDone.Store(true)
		t.vforkParent.Wake()
		t.vforkParent, t.vforkDone = nil, nil
	}
}

// SetParentDeathSignal sets PR_SET_PDEATHSIG.
func (t *Task) SetParentDeathSignal(sig int32) { t.pdeathSig.Store(sig) }

// ParentDeathSignal returns PR_SET_PDEATHSIG's signal.
func (t *Task) ParentDeathSignal() int32 { return t.pdeathSig.Load() }

// SetNoNewPrivs sets PR_SET_NO_NEW_PRIVS (it can never be cleared).
func (t *Task) SetNoNewPrivs() { t.noNewPrivs.Store(true) }

// NoNewPrivs reports PR_GET_NO_NEW_PRIVS.
func (t *Task) NoNewPrivs() bool { return t.noNewPrivs.Load() }
