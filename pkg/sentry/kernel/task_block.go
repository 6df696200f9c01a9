package kernel

// Task sleep and wake-up.
//
// A task that waits in the Sentry (futex, poll, select, epoll_wait,
// nanosleep, rt_sigtimedwait, pause, wait4/waitid, a vfork parent, and
// through waiter.Cond and waiter.EntryFor pipes, sockets, eventfd, timerfd,
// signalfd, inotify, host files and terminals) sleeps on a futex word of its own,
// Task.sleepState, with a host FUTEX_WAIT; whoever wakes it (an event it
// registered for, Interrupt) stores to that word and, if the task sleeps or
// is about to, FUTEX_WAKEs that one word.
//
// Why not a Go channel: under ptrace a task goroutine is locked to its OS
// thread for life (the platform traces the application thread from it). A
// locked goroutine
// parked on a channel is made runnable on the waker's P; some M must then
// pick it up and hand its P to the locked thread, which sleeps in the
// runtime: two host thread wake-ups in series and two P hand-offs, 50–80 µs
// on a VM where a cross-CPU wake-up costs 70–170 µs. The futex word makes it
// one host wake-up of exactly the thread that sleeps.
//
// Under a platform whose contexts migrate (platform.MigratingContexts:
// systrap) task goroutines are not locked, and the channel is the better
// wait: the task parks on Task.wakeCh (step 3 below receives from it,
// with a timer for a deadline; Wake sends a token where it would
// FUTEX_WAKE). A woken task is made runnable on the waker's P, and a waker
// that then sleeps itself (a pipe or socket ping-pong) hands its OS thread
// to it with no host wake-up at all. A pipe ping-pong between two
// processes under systrap went from 87 to 73 µs (median of 7 alternating
// runs; ptrace 85 µs). The protocol is the same: a token sent to a task
// that is not asleep any more stays in the channel and makes its next
// sleep return at once, spuriously, as a late FUTEX_WAKE cannot.
//
// Before it sleeps, a task tells its platform context (platform.Idler), so
// that a systrap stub thread spinning for the reply stops and leaves its
// CPU to others.
//
// # Protocol
//
// sleepState holds one of:
//
//	sleepRunning  no wake-up pending
//	sleepAsleep   the task is in FUTEX_WAIT on the word, or about to be
//	sleepWoken    a wake-up is pending (set by Wake, consumed by the task)
//
// Wake (any goroutine): old := Swap(sleepWoken); if old == sleepAsleep, then
// FUTEX_WAKE(word, 1).
//
// The task (sleep):
//
//  1. CAS(sleepWoken → sleepRunning) succeeds: a wake-up was pending; done.
//  2. CAS(sleepRunning → sleepAsleep) fails: a Wake stored sleepWoken since
//     step 1 (the task itself is the only writer of the other values); go
//     to 1.
//  3. FUTEX_WAIT(word, sleepAsleep, time left).
//  4. CAS(sleepAsleep → sleepRunning) succeeds: nobody woke the task (the
//     host call timed out, or returned early for a host signal): time out,
//     or go to 1. It fails only because a Wake stored sleepWoken: go to 1,
//     which consumes it.
//
// No wake-up is lost. A Wake before the CAS of step 2 makes it fail and step
// 1 sees it. A Wake after it sees sleepAsleep and calls FUTEX_WAKE: if the
// task is already queued in the host futex it is woken; if it has not yet
// entered FUTEX_WAIT, the host compares the word with sleepAsleep only after
// queueing the task, in the same futex hash bucket lock the waker takes, so
// the host sees sleepWoken and FUTEX_WAIT returns at once (EAGAIN). Host
// FUTEX_WAKEs that arrive when the task no longer sleeps (it left after a
// timeout, a host signal or a Wake it found in step 1) find no waiter and do
// nothing; they cannot be banked by the host for a later sleep.
//
// Memory ordering: every access to sleepState is a sync/atomic operation,
// which the Go memory model makes sequentially consistent; so whatever a
// waker wrote before its Swap (the event it reports: data in a pipe, a
// futex waiter marked woken) happens before the task's CAS that observes
// sleepWoken, and the task's check of its condition after waking sees it.
// The host side orders the word's value check in FUTEX_WAIT against
// FUTEX_WAKE itself (both take the futex hash bucket lock).
//
// A wake-up may be spurious: a Wake meant for an earlier wait (an event that
// fired just as that wait ended, an Interrupt while the task ran) leaves
// sleepWoken pending, and the next sleep returns at once. Every caller
// therefore waits in a loop: register for the event, check the condition,
// sleep, check again. Registering before the check is what makes the check
// race-free: an event after the registration Wakes the task.
//
// Interrupt sends its token on Task.interrupt first and Wakes second, so a
// task that wakes up sees the token (Block checks it before and after every
// sleep).
//
// # The Go scheduler
//
// FUTEX_WAIT is entered as the runtime's blocking system calls are
// (entersyscallblock): the thread gives its P up at once, as a goroutine
// that parks does, so other goroutines run while the task sleeps, and on
// waking it takes any idle P (exitsyscall). With the plain syscall entry
// (syscall.Syscall6) a sleeping task kept its P until sysmon took it back,
// and goroutines woken through channels (waits not converted to Block yet)
// waited for that: a pipe/epoll ping-pong with one side on each kind of
// wait went from 283 to 335 µs, where this entry made it 197 µs. FUTEX_WAKE
// never blocks and is a raw system call.
//
// Lock order: sleepState is not a lock; Wake takes none and never blocks, so
// it may be called with any lock held.

import (
	"errors"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Values of Task.sleepState; see the protocol above.
const (
	sleepRunning uint32 = iota
	sleepAsleep
	sleepWoken
)

// Host futex operations (linux/futex.h): FUTEX_WAIT and FUTEX_WAKE with
// FUTEX_PRIVATE_FLAG, the word being private to the Sentry.
const (
	hostFutexWaitPrivate = 0 | 128
	hostFutexWakePrivate = 1 | 128
)

// ErrInterrupted is returned by Block when the task was interrupted (a
// signal, a stop, an exit): the caller fails with its restart errno.
var ErrInterrupted = errors.New("task interrupted")

var _ waiter.Blocker = (*Task)(nil)

// Wake ends the task's current or next sleep in Block. Any goroutine may
// call it, with any lock held: it never blocks.
func (t *Task) Wake() {
	if t.sleepState.Load() == sleepWoken {
		// Already pending, so the swap would change nothing. The load is
		// ordered before the task's CAS that consumes the pending
		// wake-up, and so is what the caller published before it.
		return
	}
	if t.sleepState.Swap(sleepWoken) == sleepAsleep {
		if t.wakeCh != nil {
			select {
			case t.wakeCh <- struct{}{}:
			default: // a token is pending already
			}
			return
		}
		futexWake(&t.sleepState)
	}
}

// YieldToWoken lets tasks the caller just woke through a futex run now, on
// the caller's OS thread, while the caller goes on from another (only
// where task goroutines are unlocked; elsewhere it does nothing).
//
// A futex wake-up is rarely a hand-off: the waker released a lock or
// signalled a condition and goes on, and Linux runs the woken thread at
// once, on an idle CPU. A woken task goroutine is made runnable on the
// waker's P, where it would wait until the waker blocks: two threads
// bouncing a futex, whose waits often find the word changed when they run
// side by side, ran as one chain, 55–63 µs per round trip, and with the
// yield 43–50 µs (ptrace 37–44 µs); two processes sharing a futex went from
// 57–63 to 38–47 µs. Pipe and socket wake-ups do not yield: their waker
// usually blocks next, waiting for the reply, as Linux's synchronous
// wake-ups assume, and running the woken task in its place is cheapest.
func (t *Task) YieldToWoken() {
	if t.wakeCh != nil {
		runtime.Gosched()
	}
}

// newWakeChan returns a new task's wakeCh: nil if task goroutines are
// locked to their threads.
func (k *Kernel) newWakeChan() chan struct{} {
	if m, ok := k.Platform.(platform.MigratingContexts); ok && m.ContextsMigrate() {
		return make(chan struct{}, 1)
	}
	return nil
}

// Block puts the task to sleep until Wake is called (nil), the deadline
// passes (unix.ETIMEDOUT; a zero deadline never passes), or the task is
// interrupted (ErrInterrupted). A nil return may be spurious: the caller
// checks its condition again and calls Block again if it still does not
// hold. An interruption is reported once (its token is consumed), and before
// a timeout or a wake-up that arrive with it. Only the task goroutine may
// call it.
func (t *Task) Block(deadline time.Time) error {
	if t.takeInterrupt() {
		// The interruption's own wake-up, or one for the wait the
		// caller now abandons: neither must end a later sleep.
		t.sleepState.CompareAndSwap(sleepWoken, sleepRunning)
		return ErrInterrupted
	}
	woken := t.sleep(deadline)
	if t.takeInterrupt() {
		return ErrInterrupted
	}
	if !woken {
		return unix.ETIMEDOUT
	}
	return nil
}

// takeInterrupt consumes a pending interrupt token.
func (t *Task) takeInterrupt() bool {
	select {
	case <-t.interrupt:
		return true
	default:
		return false
	}
}

// sleep waits on sleepState until a Wake (true) or the deadline (false).
func (t *Task) sleep(deadline time.Time) bool {
	idled := false
	for {
		if t.sleepState.CompareAndSwap(sleepWoken, sleepRunning) {
			return true
		}
		var timeout *unix.Timespec
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return false
			}
			ts := unix.NsecToTimespec(left.Nanoseconds())
			timeout = &ts
		}
		if !t.sleepState.CompareAndSwap(sleepRunning, sleepAsleep) {
			continue
		}
		if !idled {
			idled = true
			if id, ok := t.pctx.(platform.Idler); ok {
				id.Idle()
			}
		}
		if t.wakeCh != nil {
			t.park(deadline)
		} else {
			futexWait(&t.sleepState, sleepAsleep, timeout)
		}
		if t.sleepState.CompareAndSwap(sleepAsleep, sleepRunning) && !deadline.IsZero() && !time.Now().Before(deadline) {
			return false
		}
		// Woken (step 1 consumes it), or back early from the host call:
		// sleep again.
	}
}

// park waits for a token on wakeCh until the deadline (zero: none). A
// token that arrives just as the deadline passes stays in the channel and
// ends the next sleep early (spuriously), as the protocol allows.
func (t *Task) park(deadline time.Time) {
	if deadline.IsZero() {
		<-t.wakeCh
		return
	}
	if t.sleepTimer == nil {
		t.sleepTimer = time.NewTimer(time.Until(deadline))
	} else {
		t.sleepTimer.Reset(time.Until(deadline))
	}
	select {
	case <-t.wakeCh:
	case <-t.sleepTimer.C:
	}
	t.sleepTimer.Stop()
}

// futexWait is a host FUTEX_WAIT_PRIVATE on word while it holds val, for at
// most timeout (nil: no limit), in the runtime's blocking system call state.
// Every outcome (woken, EAGAIN, EINTR, ETIMEDOUT) is left to the caller's
// recheck of the word. Between entersyscallblock and exitsyscall nothing
// may grow the stack: the function and what it calls are nosplit.
//
//go:nosplit
//go:norace
func futexWait(word *atomic.Uint32, val uint32, timeout *unix.Timespec) {
	entersyscallblock()
	syscall.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), hostFutexWaitPrivate,
		uintptr(val), uintptr(unsafe.Pointer(timeout)), 0, 0)
	exitsyscall()
}

// entersyscallblock and exitsyscall bracket a blocking system call for the
// Go scheduler (the runtime exports them for this by linkname).
//
//go:linkname entersyscallblock runtime.entersyscallblock
func entersyscallblock()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()

// futexWake is a host FUTEX_WAKE_PRIVATE of one waiter on word.
func futexWake(word *atomic.Uint32) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), hostFutexWakePrivate,
		1, 0, 0, 0)
}
