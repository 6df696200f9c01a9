// Package waiter is how objects that can become ready (pipes, sockets,
// eventfds, epoll sets) tell the tasks and watchers waiting on them: an
// object holds a Queue; a waiter registers an Entry for the events it
// cares about and is notified, without holding the object's locks, when
// any of them may have happened.
//
// Lock order: Queue.mu is a leaf lock; callbacks run without it held.
package waiter

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// EventMask is a set of poll events (POLLIN, POLLOUT, …, as in poll(2)).
type EventMask uint32

// Events.
const (
	EventIn     EventMask = unix.POLLIN
	EventPri    EventMask = unix.POLLPRI
	EventOut    EventMask = unix.POLLOUT
	EventErr    EventMask = unix.POLLERR
	EventHUp    EventMask = unix.POLLHUP
	EventRdNorm EventMask = 0x40
	EventWrNorm EventMask = 0x100
	EventRdHUp  EventMask = 0x2000
	// AlwaysReported are reported whether or not they were asked for.
	AlwaysReported = EventErr | EventHUp
	// ReadableEvents and WritableEvents are the usual groups.
	ReadableEvents = EventIn | EventRdNorm
	WritableEvents = EventOut | EventWrNorm
)

// Waitable is an object whose readiness can be polled and waited on.
type Waitable interface {
	// Readiness returns which of mask's events are ready now.
	Readiness(mask EventMask) EventMask
	// EventRegister and EventUnregister add and remove e.
	EventRegister(e *Entry)
	EventUnregister(e *Entry)
}

// Entry is one waiter's registration: Notify is called with the events
// that happened, if they intersect Mask.
type Entry struct {
	Mask     EventMask
	Callback func(EventMask)
}

// Waker is a sleeping thread an entry wakes: a task sleeping in Block
// (kernel.Task). Wake must not block; notifiers may hold locks.
type Waker interface {
	Wake()
}

// Blocker is a thread that sleeps until a Waker call wakes it: a task
// (kernel.Task, which is also the vfs.Context of its system calls, so file
// implementations reach it with a type assertion).
type Blocker interface {
	Waker
	// Block sleeps until Wake is called (nil; possibly spuriously, so
	// callers check their condition again), the deadline passes
	// (unix.ETIMEDOUT; a zero deadline never passes), or the thread is
	// interrupted (any other error: the caller fails with its restart
	// errno).
	Block(deadline time.Time) error
}

// NewWakerEntry returns an entry for mask that wakes w. Blocking in a task
// this way (register the entry, check the condition, Block, check again)
// wakes the task's thread directly; a channel entry makes the Go scheduler
// hand the wake-up to the task's locked thread, which costs a second host
// thread wake-up (about 50 µs more per wake-up, measured on ptrace).
func NewWakerEntry(mask EventMask, w Waker) *Entry {
	return &Entry{Mask: mask, Callback: func(EventMask) { w.Wake() }}
}

// NewChannelEntry returns an entry for mask that signals the returned
// channel (buffered, never blocking the notifier).
func NewChannelEntry(mask EventMask) (*Entry, <-chan struct{}) {
	ch := make(chan struct{}, 1)
	return &Entry{Mask: mask, Callback: func(EventMask) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}}, ch
}

// Queue is the set of entries waiting on one object. The zero value is
// ready to use.
type Queue struct {
	mu      sync.Mutex
	entries map[*Entry]struct{}
}

// EventRegister adds e.
func (q *Queue) EventRegister(e *Entry) {
	q.mu.Lock()
	if q.entries == nil {
		q.entries = make(map[*Entry]struct{})
	}
	q.entries[e] = struct{}{}
	q.mu.Unlock()
}

// EventUnregister removes e.
func (q *Queue) EventUnregister(e *Entry) {
	q.mu.Lock()
	delete(q.entries, e)
	q.mu.Unlock()
}

// Notify calls every entry interested in any of events.
func (q *Queue) Notify(events EventMask) {
	q.mu.Lock()
	var call []*Entry
	for e := range q.entries {
		if e.Mask&events != 0 || events&AlwaysReported != 0 {
			call = append(call, e)
		}
	}
	q.mu.Unlock()
	for _, e := range call {
		e.Callback(events)
	}
}

// Empty reports whether no entry is registered.
func (q *Queue) Empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries) == 0
}
