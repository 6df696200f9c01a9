package waiter

// Blocking a system call until an object changes: Cond (a condition guarded
// by the object's lock, as pipes, eventfds and socket queues keep) and
// EntryFor (an event on the object's Queue, for objects that only notify
// one), both ending in a Sleep.
//
// A task (a Blocker) sleeps on its own host futex word and is woken
// directly by whoever makes the change; any other context (unit tests,
// kernel-internal callers) waits on a channel and its Interrupted channel.
//
// Lock order: Cond's methods run under the owner's lock and take none;
// Wakeup.Wake and Sleep.Wait are called with no lock held.

import (
	"errors"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/syserr"
)

// Context is what a wait needs of its caller: the channel that becomes
// readable when the wait must end early (a signal, a stop). vfs.Context
// and kernel.Task satisfy it.
type Context interface {
	Interrupted() <-chan struct{}
}

// ErrInterrupted is returned by Sleep.Wait when the caller was
// interrupted: the system call fails with its restart errno (EINTR where
// it has a timeout, as SO_RCVTIMEO).
var ErrInterrupted = errors.New("wait interrupted")

// Cond is the set of threads waiting for one condition on an object whose
// lock guards both the condition and the Cond (a pipe's "not empty", a
// socket queue's "has room"). The zero value is ready to use.
//
// The caller checks the condition under the lock; if it does not hold,
// Prepare under the same lock, unlock, Wait, lock and check again. Whoever
// changes the condition calls Broadcast under the lock, so no wake-up is
// lost between the check and the sleep.
type Cond struct {
	// wakers are the tasks to wake, each once (a task that stopped
	// waiting without a Broadcast stays until the next one, which wakes
	// it spuriously: harmless, and the set stays as small as the number
	// of distinct tasks that wait).
	wakers []Waker
	// ch is closed by Broadcast for the waiters that are not tasks.
	ch chan struct{}
}

// Prepare registers ctx for the next Broadcast and returns the sleep to
// take once the owner's lock is released. The owner's lock is held.
func (c *Cond) Prepare(ctx Context) Sleep {
	if b, ok := ctx.(Blocker); ok {
		for _, w := range c.wakers {
			if w == Waker(b) {
				return Sleep{b: b}
			}
		}
		c.wakers = append(c.wakers, b)
		return Sleep{b: b}
	}
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return Sleep{ch: c.ch, intr: ctx.Interrupted()}
}

// Broadcast wakes every waiter Prepare registered since the last
// Broadcast or Take. The owner's lock is held; Broadcast never blocks.
func (c *Cond) Broadcast() {
	c.Take().Wake()
}

// Take removes the waiters Prepare registered since the last Broadcast or
// Take, for the caller to wake with Wakeup.Wake once it has released the
// owner's lock. The owner's lock is held.
//
// Hot paths (a pipe's write, a socket's send) take and wake after
// unlocking: a task woken under the lock runs at once, often on another
// CPU, and finds the lock held; blocking on the owner's sync.Mutex parks
// its goroutine, which is locked to its thread, and the hand-back costs
// two more host wake-ups.
func (c *Cond) Take() Wakeup {
	var w Wakeup
	switch len(c.wakers) {
	case 0:
	case 1:
		w.first = c.wakers[0]
	default:
		w.rest = slices.Clone(c.wakers)
	}
	clear(c.wakers)
	c.wakers = c.wakers[:0]
	w.ch, c.ch = c.ch, nil
	return w
}

// Wakeup is the waiters of a Cond that Take removed.
type Wakeup struct {
	first Waker
	rest  []Waker
	ch    chan struct{}
}

// Wake wakes the waiters. It needs no lock and never blocks.
func (w Wakeup) Wake() {
	if w.first != nil {
		w.first.Wake()
	}
	for _, x := range w.rest {
		x.Wake()
	}
	if w.ch != nil {
		close(w.ch)
	}
}

// EntryFor returns an entry for mask that wakes ctx, to register on an
// object's Queue before checking its readiness, and the sleep to take if
// it is not ready. The caller unregisters the entry when done.
func EntryFor(ctx Context, mask EventMask) (*Entry, Sleep) {
	if b, ok := ctx.(Blocker); ok {
		return NewWakerEntry(mask, b), Sleep{b: b}
	}
	e, ch := NewChannelEntry(mask)
	return e, Sleep{ch: ch, intr: ctx.Interrupted()}
}

// Sleep is one prepared wait of Cond.Prepare or EntryFor.
type Sleep struct {
	b    Blocker
	ch   <-chan struct{}
	intr <-chan struct{}
}

// Wait sleeps until the wake-up it was prepared for (nil; possibly
// spurious, so the caller checks its condition again), the deadline
// (unix.ETIMEDOUT; a zero deadline never passes), or an interruption
// (ErrInterrupted, reported before a wake-up or timeout that come with
// it).
func (s Sleep) Wait(deadline time.Time) error {
	if s.b != nil {
		switch err := s.b.Block(deadline); err {
		case nil, unix.ETIMEDOUT:
			return err
		default:
			return ErrInterrupted
		}
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-s.intr:
		return ErrInterrupted
	default:
	}
	select {
	case <-s.ch:
		return nil
	case <-s.intr:
		return ErrInterrupted
	case <-timeout:
		return unix.ETIMEDOUT
	}
}

// Restartable sleeps with no deadline, for the system calls that restart
// after a signal handler (read of a pipe, an eventfd, a timerfd): nil when
// woken, syserr.ERESTARTSYS when interrupted.
func (s Sleep) Restartable() error {
	if s.Wait(time.Time{}) != nil {
		return syserr.ERESTARTSYS
	}
	return nil
}
