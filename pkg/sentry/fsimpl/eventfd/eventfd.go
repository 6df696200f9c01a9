// Package eventfd owns eventfd objects as eventfd(2) describes them: a
// 64-bit counter that write(2) adds to and read(2) takes (all of it, or one
// at a time with EFD_SEMAPHORE), blocking or failing with EAGAIN when the
// counter is zero on read or would pass 0xfffffffffffffffe on write. They
// are pollable: readable while the counter is non-zero, writable while
// at least 1 can be added.
//
// Lock order: EventFD.mu > waiter.Queue.mu; the queue is notified after mu
// is released.
package eventfd

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Flags of eventfd2(2).
const (
	EFD_SEMAPHORE = 1
	EFD_CLOEXEC   = unix.O_CLOEXEC
	EFD_NONBLOCK  = unix.O_NONBLOCK
)

// MaxCounter is the largest value the counter can hold.
const MaxCounter = ^uint64(0) - 1

// EventFD is an eventfd's state. It implements vfs.FileImpl and
// waiter.Waitable.
type EventFD struct {
	vfs.FileDefaults

	semaphore bool
	fd        atomic.Pointer[vfs.FileDescription]
	queue     waiter.Queue

	mu  sync.Mutex
	val uint64
	// readable and writable wake blocked readers and writers when the
	// counter rises or falls.
	readable waiter.Cond
	writable waiter.Cond
}

var (
	_ vfs.FileImpl    = (*EventFD)(nil)
	_ waiter.Waitable = (*EventFD)(nil)
)

// New returns an eventfd with counter initval as an open file description
// with one reference; flags are eventfd2's (EFD_CLOEXEC is the caller's
// business).
func New(initval uint64, flags uint32) *vfs.FileDescription {
	e := &EventFD{val: initval, semaphore: flags&EFD_SEMAPHORE != 0}
	fd := vfs.NewFileDescription(e, vfs.VirtualDentry{}, unix.O_RDWR|flags&unix.O_NONBLOCK)
	e.fd.Store(fd)
	return fd
}

func (e *EventFD) nonblocking() bool { return e.fd.Load().Flags()&unix.O_NONBLOCK != 0 }

// Seekable implements vfs.FileImpl.
func (e *EventFD) Seekable() bool { return false }

// Stat reports an anonymous inode.
func (e *EventFD) Stat(vfs.Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: 0o600, Nlink: 1, Blksize: 4096}, nil
}

// Read implements read(2): p must hold 8 bytes; it receives the counter
// (or 1 in semaphore mode) in host byte order.
func (e *EventFD) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	if len(p) < 8 {
		return 0, unix.EINVAL
	}
	e.mu.Lock()
	for e.val == 0 {
		if e.nonblocking() {
			e.mu.Unlock()
			return 0, unix.EAGAIN
		}
		sleep := e.readable.Prepare(ctx)
		e.mu.Unlock()
		if err := sleep.Restartable(); err != nil {
			return 0, err
		}
		e.mu.Lock()
	}
	v := e.val
	if e.semaphore {
		v = 1
	}
	e.val -= v
	e.writable.Broadcast()
	e.mu.Unlock()
	binary.NativeEndian.PutUint64(p, v)
	e.queue.Notify(waiter.WritableEvents)
	return 8, nil
}

// Write implements write(2): p must hold 8 bytes, a value other than
// 2^64-1 to add to the counter.
func (e *EventFD) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	if len(p) < 8 {
		return 0, unix.EINVAL
	}
	v := binary.NativeEndian.Uint64(p)
	if v == ^uint64(0) {
		return 0, unix.EINVAL
	}
	if err := e.Signal(ctx, v, !e.nonblocking()); err != nil {
		return 0, err
	}
	return 8, nil
}

// Signal adds v to the counter, blocking while it would overflow if block
// is set (else EAGAIN). Kernel-side notifiers may use it.
func (e *EventFD) Signal(ctx vfs.Context, v uint64, block bool) error {
	e.mu.Lock()
	for MaxCounter-e.val < v {
		if !block {
			e.mu.Unlock()
			return unix.EAGAIN
		}
		sleep := e.writable.Prepare(ctx)
		e.mu.Unlock()
		if err := sleep.Restartable(); err != nil {
			return err
		}
		e.mu.Lock()
	}
	e.val += v
	if v > 0 {
		e.readable.Broadcast()
	}
	e.mu.Unlock()
	if v > 0 {
		e.queue.Notify(waiter.ReadableEvents)
	}
	return nil
}

// Readiness implements waiter.Waitable.
func (e *EventFD) Readiness(mask waiter.EventMask) waiter.EventMask {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ev waiter.EventMask
	if e.val > 0 {
		ev |= waiter.ReadableEvents
	}
	if e.val < MaxCounter {
		ev |= waiter.WritableEvents
	}
	return ev & mask
}

// EventRegister implements waiter.Waitable.
func (e *EventFD) EventRegister(w *waiter.Entry) { e.queue.EventRegister(w) }

// EventUnregister implements waiter.Waitable.
func (e *EventFD) EventUnregister(w *waiter.Entry) { e.queue.EventUnregister(w) }
