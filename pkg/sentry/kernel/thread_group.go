package kernel

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/waiter"
)

// SigAction is a signal's disposition as rt_sigaction(2) sets it.
type SigAction struct {
	Handler  uintptr
	Flags    uint64
	Restorer uintptr
	Mask     uint64
}

// Signal dispositions with special meaning.
const (
	SigDefault = 0
	SigIgnore  = 1
)

// NumSignals is the number of signals (1..64).
const NumSignals = 64

// ThreadGroup is a process: the tasks that share a PID, signal handlers,
// resource limits and an exit status.
type ThreadGroup struct {
	k   *Kernel
	pid int32

	// Process tree state, guarded by Kernel.treeMu.
	parent   *ThreadGroup
	children map[*ThreadGroup]struct{}
	// childEvent is notified (waiter.EventIn) when a child changes state,
	// for tasks waiting in wait4/waitid.
	childEvent waiter.Queue
	exitSignal unix.Signal
	zombie     bool
	reaped     bool
	stopReport int
	stopSignal unix.Signal
	pgid, sid  int32
	// execed is set once a child has called execve (setpgid's EACCES).
	execed bool

	mu      sync.Mutex
	tasks   map[*Task]struct{}
	actions [NumSignals]SigAction
	limits  *Limits
	exiting bool
	status  WaitStatus
	// pending holds process-directed signals.
	pending pendingSignals
	// unkillable is set for the init of the sandbox's PID namespace
	// (Linux's SIGNAL_UNKILLABLE): signals whose action is the default
	// one are discarded, except SIGKILL and SIGSTOP sent from outside the
	// sandbox or by the kernel. A fault signal clears it (guarded by mu).
	unkillable bool
	// stopped is non-nil during a group stop; it is closed when the group
	// continues.
	stopped chan struct{}
	// oomScoreAdj is /proc/[pid]/oom_score_adj, and oomScoreAdjMin the
	// lowest value it may be set to without CAP_SYS_RESOURCE: the last
	// value a task with CAP_SYS_RESOURCE set (guarded by mu; both are
	// inherited across fork).
	oomScoreAdj, oomScoreAdjMin int32
	// nice is the scheduling nice value (guarded by mu).
	nice int32
	// maxRSS is the largest resident set seen (bytes, guarded by mu);
	// childrenMaxRSS that of reaped children (guarded by Kernel.treeMu).
	maxRSS, childrenMaxRSS uint64
	// timers are the process's POSIX timers (guarded by mu).
	timers posixTimers
	// notDumpable is 1 after PR_SET_DUMPABLE 0 (guarded by mu).
	notDumpable int32
	// exited is closed when the last task of the group has exited.
	exited chan struct{}
	// exitQueue is notified (waiter.ReadableEvents) right after exited is
	// closed, for pidfds polled by other processes.
	exitQueue waiter.Queue
	// exePath is the program's path (guarded by mu).
	exePath string
	// personality is personality(2)'s value (guarded by mu).
	personality uint32
	// subreaper is PR_SET_CHILD_SUBREAPER (guarded by Kernel.treeMu).
	subreaper bool
	// exitedCPU is the CPU time of the group's exited threads.
	exitedCPU cpuTimes
	// childrenCPU is the CPU time of reaped children (guarded by treeMu).
	childrenCPU cpuTimes
	// itimers are setitimer(2)'s timers.
	itimers itimers
	// startTime is when the process was created.
	startTime time.Time
	// threadExit, when non-nil, is closed when a task of the group exits
	// (execve waits on it to de-thread).
	threadExit chan struct{}
}

// PID returns the process ID.
func (tg *ThreadGroup) PID() int32 { return tg.pid }

// Limits returns the process's resource limits.
func (tg *ThreadGroup) Limits() *Limits { return tg.limits }

// SigAction returns the disposition of sig (1..64).
func (tg *ThreadGroup) SigAction(sig int) SigAction {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.actions[sig-1]
}

// SetSigAction sets the disposition of sig and returns the old one. SIGKILL
// and SIGSTOP cannot be changed (EINVAL), as in Linux.
func (tg *ThreadGroup) SetSigAction(sig int, act SigAction) (SigAction, error) {
	if sig < 1 || sig > NumSignals {
		return SigAction{}, unix.EINVAL
	}
	if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
		return SigAction{}, unix.EINVAL
	}
	act.Mask &^= 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)
	tg.mu.Lock()
	defer tg.mu.Unlock()
	old := tg.actions[sig-1]
	tg.actions[sig-1] = act
	return old, nil
}

// exitGroup makes every task of the process exit with the given status
// (exit_group(2), or death by signal). The first caller's status wins.
func (tg *ThreadGroup) exitGroup(status WaitStatus) {
	tg.mu.Lock()
	if !tg.exiting {
		tg.exiting = true
		tg.status = status
	}
	tg.continueLocked()
	tasks := make([]*Task, 0, len(tg.tasks))
	for t := range tg.tasks {
		tasks = append(tasks, t)
	}
	tg.mu.Unlock()
	for _, t := range tasks {
		t.exiting.Store(true)
		t.Interrupt()
	}
}

// taskExited removes t; when the last task is gone the process is dead.
func (tg *ThreadGroup) taskExited(t *Task) {
	tg.mu.Lock()
	delete(tg.tasks, t)
	last := len(tg.tasks) == 0
	if last && !tg.exiting {
		// The last thread left with exit(2): that is the process's status.
		tg.exiting = true
		tg.status = t.exitStatus
	}
	if tg.threadExit != nil {
		close(tg.threadExit)
		tg.threadExit = nil
	}
	tg.mu.Unlock()
	if last {
		tg.groupExited()
	}
}

// Limits are a process's resource limits (getrlimit(2)).
type Limits struct {
	mu sync.Mutex
	l  [NumLimits]unix.Rlimit
}

// Infinity is RLIM_INFINITY.
const Infinity = ^uint64(0)

// DefaultLimits returns the limits a new sandbox's first process gets,
// matching a typical Linux host's defaults.
func DefaultLimits() *Limits {
	l := &Limits{}
	for i := range l.l {
		l.l[i] = unix.Rlimit{Cur: Infinity, Max: Infinity}
	}
	l.l[unix.RLIMIT_STACK] = unix.Rlimit{Cur: 8 << 20, Max: Infinity}
	l.l[unix.RLIMIT_CORE] = unix.Rlimit{Cur: 0, Max: Infinity}
	l.l[unix.RLIMIT_NOFILE] = unix.Rlimit{Cur: 1024, Max: 1048576}
	l.l[unix.RLIMIT_NPROC] = unix.Rlimit{Cur: 63469, Max: 63469}
	l.l[unix.RLIMIT_MEMLOCK] = unix.Rlimit{Cur: 8 << 20, Max: 8 << 20}
	l.l[unix.RLIMIT_SIGPENDING] = unix.Rlimit{Cur: 63469, Max: 63469}
	l.l[unix.RLIMIT_MSGQUEUE] = unix.Rlimit{Cur: 819200, Max: 819200}
	l.l[unix.RLIMIT_NICE] = unix.Rlimit{Cur: 0, Max: 0}
	l.l[unix.RLIMIT_RTPRIO] = unix.Rlimit{Cur: 0, Max: 0}
	return l
}

// Get returns limit r.
func (l *Limits) Get(r int) unix.Rlimit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.l[r]
}

// Set replaces limit r, returning the old value. Raising the hard limit
// needs privilege (privileged says whether the caller has CAP_SYS_RESOURCE).
func (l *Limits) Set(r int, v unix.Rlimit, privileged bool) (unix.Rlimit, error) {
	if r < 0 || r >= len(l.l) {
		return unix.Rlimit{}, unix.EINVAL
	}
	if v.Cur > v.Max {
		return unix.Rlimit{}, unix.EINVAL
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.l[r]
	if v.Max > old.Max && !privileged {
		return unix.Rlimit{}, unix.EPERM
	}
	if r == unix.RLIMIT_NOFILE && v.Max > 1048576 {
		return unix.Rlimit{}, unix.EPERM
	}
	l.l[r] = v
	return old, nil
}

// Copy returns an independent copy of the limits (fork).
func (l *Limits) Copy() *Limits {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &Limits{l: l.l}
}

// NumLimits is the number of resource limits (RLIM_NLIMITS).
const NumLimits = 16

// continueLocked ends a group stop.
func (tg *ThreadGroup) continueLocked() {
	if tg.stopped != nil {
		close(tg.stopped)
		tg.stopped = nil
	}
}

// stopLocked begins a group stop: every task of the process stops before
// running application code again, until SIGCONT or SIGKILL.
//
// It reports whether a stop began (the caller tells the parent).
func (tg *ThreadGroup) stopLocked() bool {
	if tg.stopped != nil || tg.exiting {
		return false
	}
	tg.stopped = make(chan struct{})
	for t := range tg.tasks {
		t.Interrupt()
	}
	return true
}

// Nice returns the process's nice value (-20..19).
func (tg *ThreadGroup) Nice() int32 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.nice
}

// SetNice sets the nice value.
func (tg *ThreadGroup) SetNice(n int32) {
	tg.mu.Lock()
	tg.nice = n
	tg.mu.Unlock()
}

// Personality returns the personality(2) value.
func (tg *ThreadGroup) Personality() uint32 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.personality
}

// SetPersonality sets the personality(2) value.
func (tg *ThreadGroup) SetPersonality(p uint32) {
	tg.mu.Lock()
	tg.personality = p
	tg.mu.Unlock()
}

// Dumpable returns PR_GET_DUMPABLE's value (1 unless changed).
func (tg *ThreadGroup) Dumpable() int32 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return 1 - tg.notDumpable
}

// SetDumpable sets PR_SET_DUMPABLE's value (0 or 1); execve resets it to 1.
func (tg *ThreadGroup) SetDumpable(v int32) {
	tg.mu.Lock()
	tg.notDumpable = 1 - v
	tg.mu.Unlock()
}

// noteRSS records a resident set size for getrusage's ru_maxrss.
func (tg *ThreadGroup) noteRSS(b uint64) {
	tg.mu.Lock()
	tg.maxRSS = max(tg.maxRSS, b)
	tg.mu.Unlock()
}

// MaxRSS returns the process's peak resident set in bytes, counting cur,
// the current resident set of its address space.
func (tg *ThreadGroup) MaxRSS(cur uint64) uint64 {
	tg.noteRSS(cur)
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.maxRSS
}

// ChildrenMaxRSS returns the largest peak resident set of the reaped
// children (and their descendants).
func (tg *ThreadGroup) ChildrenMaxRSS() uint64 {
	tg.k.treeMu.Lock()
	defer tg.k.treeMu.Unlock()
	return tg.childrenMaxRSS
}

// The range of oom_score_adj (OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX).
const (
	OOMScoreAdjMin = -1000
	OOMScoreAdjMax = 1000
)

// OOMScoreAdj returns the process's oom_score_adj.
func (tg *ThreadGroup) OOMScoreAdj() int32 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.oomScoreAdj
}

// SetOOMScoreAdj sets the process's oom_score_adj to v on behalf of a task
// with credentials c, as a write to /proc/[pid]/oom_score_adj does: EINVAL
// outside [OOMScoreAdjMin, OOMScoreAdjMax], and EACCES below the last value
// set with CAP_SYS_RESOURCE (initially 0) without that capability.
func (tg *ThreadGroup) SetOOMScoreAdj(c *auth.Credentials, v int32) error {
	if v < OOMScoreAdjMin || v > OOMScoreAdjMax {
		return unix.EINVAL
	}
	privileged := c.HasCapability(auth.CapSysResource)
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if v < tg.oomScoreAdjMin && !privileged {
		return unix.EACCES
	}
	tg.oomScoreAdj = v
	if privileged {
		tg.oomScoreAdjMin = v
	}
	return nil
}
