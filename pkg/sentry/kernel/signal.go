package kernel

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/waiter"
)

// SignalInfo is a siginfo_t (128 bytes) as the application sees it.
type SignalInfo struct {
	Signo int32
	Errno int32
	Code  int32
	_     int32
	// Fields is the union that follows; its layout depends on Signo and
	// Code. The setters below fill the common shapes.
	Fields [112]byte
}

// si_code values.
const (
	SIUser       = 0
	SIKernel     = 0x80
	SIQueue      = -1
	SITimer      = -2
	SITkill      = -6
	SegvMapErr   = 1
	SegvAccErr   = 2
	CldExited    = 1
	CldKilled    = 2
	CldDumped    = 3
	CldTrapped   = 4
	CldStopped   = 5
	CldContinued = 6
)

// SetPIDUID sets si_pid and si_uid (kill, sigqueue, SIGCHLD).
func (s *SignalInfo) SetPIDUID(pid int32, uid uint32) {
	binary.LittleEndian.PutUint32(s.Fields[0:], uint32(pid))
	binary.LittleEndian.PutUint32(s.Fields[4:], uid)
}

// PID returns si_pid.
func (s *SignalInfo) PID() int32 { return int32(binary.LittleEndian.Uint32(s.Fields[0:])) }

// SetAddr sets si_addr (faults).
func (s *SignalInfo) SetAddr(addr uintptr) { binary.LittleEndian.PutUint64(s.Fields[0:], uint64(addr)) }

// Addr returns si_addr.
func (s *SignalInfo) Addr() uintptr { return uintptr(binary.LittleEndian.Uint64(s.Fields[0:])) }

// SetStatus sets si_status (SIGCHLD).
func (s *SignalInfo) SetStatus(status int32) {
	binary.LittleEndian.PutUint32(s.Fields[8:], uint32(status))
}

// Status returns si_status.
func (s *SignalInfo) Status() int32 { return int32(binary.LittleEndian.Uint32(s.Fields[8:])) }

// SetValue sets si_value (sigqueue, timers).
func (s *SignalInfo) SetValue(v uint64) { binary.LittleEndian.PutUint64(s.Fields[8:], v) }

// sigBit is the mask bit of sig.
func sigBit(sig unix.Signal) uint64 { return 1 << (uint(sig) - 1) }

// isRealtime reports whether sig is a real-time signal (queued, not merged).
func isRealtime(sig unix.Signal) bool { return sig >= 32 }

// pendingSignals is a set of pending signals with their siginfo: standard
// signals are pending at most once; real-time signals queue.
type pendingSignals struct {
	mask  uint64
	queue [NumSignals][]SignalInfo
}

// enqueue adds info; a standard signal already pending is dropped.
func (p *pendingSignals) enqueue(info SignalInfo) bool {
	sig := unix.Signal(info.Signo)
	if !isRealtime(sig) && p.mask&sigBit(sig) != 0 {
		return false
	}
	p.queue[sig-1] = append(p.queue[sig-1], info)
	p.mask |= sigBit(sig)
	return true
}

// dequeue removes the lowest-numbered pending signal not in blocked, with
// synchronous fault signals first as Linux does.
func (p *pendingSignals) dequeue(blocked uint64) (SignalInfo, bool) {
	avail := p.mask &^ blocked
	if avail == 0 {
		return SignalInfo{}, false
	}
	const syncMask = 1<<(unix.SIGSEGV-1) | 1<<(unix.SIGBUS-1) | 1<<(unix.SIGILL-1) |
		1<<(unix.SIGTRAP-1) | 1<<(unix.SIGFPE-1) | 1<<(unix.SIGSYS-1)
	pick := avail
	if avail&syncMask != 0 {
		pick = avail & syncMask
	}
	var sig unix.Signal
	for i := 0; i < NumSignals; i++ {
		if pick&(1<<uint(i)) != 0 {
			sig = unix.Signal(i + 1)
			break
		}
	}
	return p.take(sig), true
}

// take removes one queued instance of sig.
func (p *pendingSignals) take(sig unix.Signal) SignalInfo {
	q := p.queue[sig-1]
	info := q[0]
	q = q[1:]
	if len(q) == 0 {
		q = nil
		p.mask &^= sigBit(sig)
	}
	p.queue[sig-1] = q
	return info
}

// discard drops every pending instance of sig.
func (p *pendingSignals) discard(sig unix.Signal) {
	p.queue[sig-1] = nil
	p.mask &^= sigBit(sig)
}

// Default actions.
type defaultAction int

const (
	actTerminate defaultAction = iota
	actCore
	actIgnore
	actStop
	actContinue
)

func defaultActionOf(sig unix.Signal) defaultAction {
	switch sig {
	case unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP, unix.SIGABRT, unix.SIGBUS, unix.SIGFPE,
		unix.SIGSEGV, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGSYS:
		return actCore
	case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH:
		return actIgnore
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return actStop
	case unix.SIGCONT:
		return actContinue
	}
	return actTerminate
}

// SendSignal queues a signal directed at this thread (tkill, tgkill,
// faults) by a task of the sandbox or the kernel, and wakes the thread if
// it can take it.
func (t *Task) SendSignal(info SignalInfo) {
	tg := t.tg
	tg.mu.Lock()
	queue, continued := tg.prepareSignalLocked(info, info.Code == SIKernel)
	if !queue {
		tg.mu.Unlock()
		if continued {
			tg.notifyStop(true, unix.SIGCONT)
		}
		return
	}
	t.pending.enqueue(info)
	wake := sigBit(unix.Signal(info.Signo))&^t.sigMask.Load() != 0
	tg.mu.Unlock()
	t.signalQueue.Notify(waiter.EventIn)
	if continued {
		tg.notifyStop(true, unix.SIGCONT)
	}
	if wake {
		t.Interrupt()
	}
}

// SendSignal queues a process-directed signal (kill) sent by a task of the
// sandbox or by the kernel (info.Code SIKernel), and wakes a thread that
// does not block it.
func (tg *ThreadGroup) SendSignal(info SignalInfo) {
	tg.sendSignal(info, info.Code == SIKernel)
}

// SendSignalFromHost queues a process-directed signal sent from outside
// the sandbox (runsc kill, a signal the host sent to the Sentry): as a
// signal from an ancestor PID namespace, it may stop or kill the
// sandbox's init, which ignores the same signal sent from inside.
func (tg *ThreadGroup) SendSignalFromHost(info SignalInfo) {
	tg.sendSignal(info, true)
}

// sendSignal queues a process-directed signal; force says it comes from
// outside the sandbox or from the kernel (Linux's force argument).
func (tg *ThreadGroup) sendSignal(info SignalInfo, force bool) {
	tg.mu.Lock()
	queue, continued := tg.prepareSignalLocked(info, force)
	if continued {
		defer tg.notifyStop(true, unix.SIGCONT)
	}
	if !queue {
		tg.mu.Unlock()
		return
	}
	tg.pending.enqueue(info)
	var target *Task
	bit := sigBit(unix.Signal(info.Signo))
	for t := range tg.tasks {
		if bit&^t.sigMask.Load() != 0 {
			target = t
			break
		}
	}
	tg.mu.Unlock()
	tg.notifySignalWaiters()
	if target != nil {
		target.Interrupt()
	}
}

// prepareSignalLocked applies what happens at generation time: stop and
// continue signals cancel each other, SIGKILL continues a stopped process,
// and signals whose disposition is to ignore them are discarded (for the
// sandbox's init, also those left to their default action; force lets
// SIGKILL and SIGSTOP through, see unkillable). It reports whether the
// signal should be queued, and whether it continued a stopped process (the
// caller tells the parent, without tg.mu held).
func (tg *ThreadGroup) prepareSignalLocked(info SignalInfo, force bool) (queue, continued bool) {
	sig := unix.Signal(info.Signo)
	if tg.exiting {
		return false, false
	}
	switch defaultActionOf(sig) {
	case actStop:
		tg.discardLocked(unix.SIGCONT)
	case actContinue:
		for _, s := range []unix.Signal{unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU} {
			tg.discardLocked(s)
		}
		continued = tg.stopped != nil
		tg.continueLocked()
	}
	// A blocked signal is never discarded as ignored: its handler may
	// change before it is unblocked, and sigwait/signalfd may take it.
	// (SIGKILL and SIGSTOP cannot be blocked.)
	if tg.blockedByAnyLocked(sig) {
		return true, continued
	}
	act := tg.actions[sig-1]
	if act.Handler == SigDefault && tg.unkillable && !(force && kernelOnly(sig)) {
		return false, continued
	}
	if sig == unix.SIGKILL {
		tg.continueLocked()
		return true, continued
	}
	if act.Handler == SigIgnore || (act.Handler == SigDefault && defaultActionOf(sig) == actIgnore) {
		return false, continued
	}
	if act.Handler == SigDefault && defaultActionOf(sig) == actContinue {
		return false, continued
	}
	return true, continued
}

// kernelOnly reports whether sig is SIGKILL or SIGSTOP, the signals no
// process can catch, block or ignore.
func kernelOnly(sig unix.Signal) bool { return sig == unix.SIGKILL || sig == unix.SIGSTOP }

// blockedByAnyLocked reports whether a task of tg blocks sig.
func (tg *ThreadGroup) blockedByAnyLocked(sig unix.Signal) bool {
	bit := sigBit(sig)
	for t := range tg.tasks {
		if t.sigMask.Load()&bit != 0 {
			return true
		}
	}
	return false
}

// discardLocked drops pending sig everywhere in the group.
func (tg *ThreadGroup) discardLocked(sig unix.Signal) {
	tg.pending.discard(sig)
	for t := range tg.tasks {
		t.pending.discard(sig)
	}
}

// PendingSignals returns the signals pending for t (its own and its
// process's).
func (t *Task) PendingSignals() uint64 {
	t.tg.mu.Lock()
	defer t.tg.mu.Unlock()
	return t.pending.mask | t.tg.pending.mask
}

// hasDeliverableSignal reports whether a signal is pending and unblocked.
func (t *Task) hasDeliverableSignal() bool {
	t.tg.mu.Lock()
	defer t.tg.mu.Unlock()
	return (t.pending.mask|t.tg.pending.mask)&^t.sigMask.Load() != 0
}

// dequeueSignal takes the next deliverable signal, the thread's own first.
func (t *Task) dequeueSignal(blocked uint64) (SignalInfo, bool) {
	t.tg.mu.Lock()
	defer t.tg.mu.Unlock()
	if info, ok := t.pending.dequeue(blocked); ok {
		return info, true
	}
	return t.tg.pending.dequeue(blocked)
}

// forceSignal delivers a synchronous signal raised by the application's
// own instruction (a fault, a trap): if it is blocked or ignored, its
// default action is restored first, so it cannot be lost (Linux's
// force_sig_info).
func (t *Task) forceSignal(sig unix.Signal, code int32, addr uintptr) {
	if sig == 0 {
		sig = unix.SIGSEGV
	}
	tg := t.tg
	tg.mu.Lock()
	act := &tg.actions[sig-1]
	if act.Handler == SigIgnore || t.sigMask.Load()&sigBit(sig) != 0 {
		act.Handler = SigDefault
		t.sigMask.Store(t.sigMask.Load() &^ sigBit(sig))
	}
	if act.Handler == SigDefault {
		// Even the sandbox's init dies of a fault it does not handle.
		tg.unkillable = false
	}
	info := SignalInfo{Signo: int32(sig), Code: code}
	info.SetAddr(addr)
	t.pending.enqueue(info)
	tg.mu.Unlock()
}

// ThreadGroups returns every live process.
func (k *Kernel) ThreadGroups() []*ThreadGroup {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := make(map[*ThreadGroup]bool)
	var out []*ThreadGroup
	for _, t := range k.tasks {
		if !seen[t.tg] {
			seen[t.tg] = true
			out = append(out, t.tg)
		}
	}
	return out
}

// ThreadGroupByPID returns the live process with the given PID, or nil.
func (k *Kernel) ThreadGroupByPID(pid int32) *ThreadGroup {
	t := k.TaskByTID(pid)
	if t == nil || t.tg.pid != pid {
		return nil
	}
	return t.tg
}

// WaitForSignal blocks until a signal in set is pending for t or the
// deadline (zero: none) passes, and dequeues it (rt_sigtimedwait).
// The signals in set must be blocked by the caller.
func (t *Task) WaitForSignal(set uint64, deadline time.Time) (SignalInfo, error) {
	// Blocked signals do not interrupt the task; the signal queue says when
	// one arrives.
	e := waiter.NewWakerEntry(waiter.EventIn, t)
	t.signalQueue.EventRegister(e)
	defer t.signalQueue.EventUnregister(e)
	for {
		if info, ok := t.dequeueSignal(^set); ok {
			return info, nil
		}
		if t.hasDeliverableSignal() {
			return SignalInfo{}, ERESTARTNOHAND
		}
		if err := t.Block(deadline); err == unix.ETIMEDOUT {
			return SignalInfo{}, unix.EAGAIN
		}
		if t.exiting.Load() {
			return SignalInfo{}, ERESTARTNOHAND
		}
	}
}

// Suspend blocks until a signal is deliverable (pause, rt_sigsuspend).
func (t *Task) Suspend() error {
	for !t.hasDeliverableSignal() && !t.exiting.Load() {
		// Only an interruption ends the sleep; any return rechecks.
		t.Block(time.Time{})
	}
	return ERESTARTNOHAND
}

// SignalQueue is notified (with waiter.EventIn) whenever a signal is
// queued for the task or its process; signalfd waits on it.
func (t *Task) SignalQueue() *waiter.Queue { return &t.signalQueue }

// DequeueSignalIn takes a pending signal that is in set (the thread's
// own first, then the process's), for signalfd reads.
func (t *Task) DequeueSignalIn(set uint64) (SignalInfo, bool) {
	return t.dequeueSignal(^set)
}

// PendingIn reports whether a signal in set is pending for t.
func (t *Task) PendingIn(set uint64) bool {
	return t.PendingSignals()&set != 0
}

// notifySignalWaiters tells signalfd waiters of tg's tasks that a signal
// arrived.
func (tg *ThreadGroup) notifySignalWaiters() {
	tg.mu.Lock()
	tasks := make([]*Task, 0, len(tg.tasks))
	for t := range tg.tasks {
		tasks = append(tasks, t)
	}
	tg.mu.Unlock()
	for _, t := range tasks {
		t.signalQueue.Notify(waiter.EventIn)
	}
}
