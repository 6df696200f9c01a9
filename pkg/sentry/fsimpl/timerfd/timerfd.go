// Package timerfd owns timer file descriptors as timerfd_create(2)
// describes them: a one-shot or periodic timer on a clock whose
// expirations accumulate until read(2) returns their count as 8 bytes. They
// are pollable: readable while at least one expiration is unread.
//
// Expirations are counted from a monotonic deadline, so a late wake-up of
// the Sentry's timer goroutine never loses periods: every read and poll
// first accounts for the time that has passed. Absolute settings on
// CLOCK_REALTIME are converted to a monotonic deadline when set; a later
// change of the realtime clock does not move them (the Sentry cannot set
// the host clock, so TFD_TIMER_CANCEL_ON_SET never fires).
//
// Lock order: TimerFD.mu > waiter.Queue.mu; the queue is notified after mu
// is released.
package timerfd

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Flags of timerfd_settime(2).
const (
	TFD_TIMER_ABSTIME       = 1
	TFD_TIMER_CANCEL_ON_SET = 2
)

// Clock reads the clock a timer runs on (the system call layer maps clock
// IDs to host clocks).
type Clock func() time.Duration

// TimerFD is a timer file's state. It implements vfs.FileImpl and
// waiter.Waitable.
type TimerFD struct {
	vfs.FileDefaults

	clock Clock
	fd    atomic.Pointer[vfs.FileDescription]
	queue waiter.Queue

	mu sync.Mutex
	// deadline is the next expiry (zero: disarmed); interval is the
	// period (zero: one-shot).
	deadline time.Time
	interval time.Duration
	// expiries is the count not yet read.
	expiries uint64
	// timer fires at deadline; gen tells its callback whether it is stale.
	timer *time.Timer
	gen   uint64
	// readable wakes blocked readers when expiries becomes non-zero.
	readable waiter.Cond
}

var (
	_ vfs.FileImpl    = (*TimerFD)(nil)
	_ waiter.Waitable = (*TimerFD)(nil)
)

// New returns a disarmed timer on clock as an open file description with
// one reference; flags may hold O_NONBLOCK.
func New(clock Clock, flags uint32) *vfs.FileDescription {
	t := &TimerFD{clock: clock}
	fd := vfs.NewFileDescription(t, vfs.VirtualDentry{}, unix.O_RDWR|flags&unix.O_NONBLOCK)
	t.fd.Store(fd)
	return fd
}

// FromFile returns the timer behind f, if f is a timerfd.
func FromFile(f *vfs.FileDescription) (*TimerFD, bool) {
	t, ok := f.Impl().(*TimerFD)
	return t, ok
}

// Seekable implements vfs.FileImpl.
func (t *TimerFD) Seekable() bool { return false }

// Stat reports an anonymous inode.
func (t *TimerFD) Stat(vfs.Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: 0o600, Nlink: 1, Blksize: 4096}, nil
}

// Release implements vfs.FileImpl: the timer stops.
func (t *TimerFD) Release() {
	t.mu.Lock()
	t.stopLocked()
	t.mu.Unlock()
}

func (t *TimerFD) stopLocked() {
	t.gen++
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

// updateLocked counts the expirations up to now and moves the deadline
// past it; it reports whether any were added.
func (t *TimerFD) updateLocked(now time.Time) bool {
	if t.deadline.IsZero() || now.Before(t.deadline) {
		return false
	}
	if t.interval == 0 {
		t.expiries++
		t.deadline = time.Time{}
		return true
	}
	n := uint64(now.Sub(t.deadline)/t.interval) + 1
	t.expiries += n
	t.deadline = t.deadline.Add(time.Duration(n) * t.interval)
	return true
}

// scheduleLocked arms the Go timer for the current deadline.
func (t *TimerFD) scheduleLocked() {
	t.stopLocked()
	if t.deadline.IsZero() {
		return
	}
	gen := t.gen
	t.timer = time.AfterFunc(time.Until(t.deadline), func() { t.fire(gen) })
}

// fire runs on the timer goroutine at a deadline.
func (t *TimerFD) fire(gen uint64) {
	t.mu.Lock()
	if gen != t.gen {
		t.mu.Unlock()
		return
	}
	t.advanceLocked(time.Now())
	pending := t.expiries > 0
	t.scheduleLocked()
	t.mu.Unlock()
	if pending {
		t.queue.Notify(waiter.ReadableEvents)
	}
}

// advanceLocked accounts for expirations up to now and wakes blocked
// readers; it reports whether any were added, in which case the caller
// notifies the queue once mu is released.
func (t *TimerFD) advanceLocked(now time.Time) bool {
	added := t.updateLocked(now)
	if added {
		t.readable.Broadcast()
	}
	return added
}

// Get returns the time until the next expiry (0: disarmed) and the
// interval, as timerfd_gettime(2).
func (t *TimerFD) Get() (value, interval time.Duration) {
	now := time.Now()
	t.mu.Lock()
	added := t.advanceLocked(now)
	value, interval = t.remainingLocked(now), t.interval
	t.mu.Unlock()
	if added {
		t.queue.Notify(waiter.ReadableEvents)
	}
	return value, interval
}

// remainingLocked is the time from now to the deadline (0: disarmed).
func (t *TimerFD) remainingLocked(now time.Time) time.Duration {
	if t.deadline.IsZero() {
		return 0
	}
	return max(t.deadline.Sub(now), 1)
}

// Set arms (value > 0) or disarms (value == 0) the timer as
// timerfd_settime(2) does, clearing unread expirations, and returns the
// previous setting. With abs, value is a time on the timer's clock; a time
// already past expires at once.
func (t *TimerFD) Set(value, interval time.Duration, abs bool) (oldValue, oldInterval time.Duration) {
	now := time.Now()
	t.mu.Lock()
	t.updateLocked(now)
	oldValue, oldInterval = t.remainingLocked(now), t.interval
	t.expiries = 0
	t.interval = interval
	switch {
	case value == 0:
		// A zero it_value disarms, even with TFD_TIMER_ABSTIME.
		t.deadline = time.Time{}
	case abs:
		t.deadline = now.Add(value - t.clock())
	default:
		t.deadline = now.Add(value)
	}
	added := t.advanceLocked(now)
	t.scheduleLocked()
	t.mu.Unlock()
	if added {
		t.queue.Notify(waiter.ReadableEvents)
	}
	return oldValue, oldInterval
}

// Read implements read(2): p must hold 8 bytes; it receives the number of
// expirations since the last read or settime, blocking until there is one.
func (t *TimerFD) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	if len(p) < 8 {
		return 0, unix.EINVAL
	}
	t.mu.Lock()
	for {
		if t.advanceLocked(time.Now()) {
			defer t.queue.Notify(waiter.ReadableEvents)
		}
		if t.expiries > 0 {
			break
		}
		if t.fd.Load().Flags()&unix.O_NONBLOCK != 0 {
			t.mu.Unlock()
			return 0, unix.EAGAIN
		}
		sleep := t.readable.Prepare(ctx)
		t.mu.Unlock()
		if err := sleep.Restartable(); err != nil {
			return 0, err
		}
		t.mu.Lock()
	}
	n := t.expiries
	t.expiries = 0
	t.mu.Unlock()
	binary.NativeEndian.PutUint64(p, n)
	return 8, nil
}

// Write implements write(2): timerfds are not writable.
func (t *TimerFD) Write(vfs.Context, []byte, int64) (int, error) { return 0, unix.EINVAL }

// Readiness implements waiter.Waitable.
func (t *TimerFD) Readiness(mask waiter.EventMask) waiter.EventMask {
	t.mu.Lock()
	// No notification from here: Readiness runs under pollers' locks.
	// The timer goroutine notifies for any expiry counted early here.
	t.advanceLocked(time.Now())
	ready := t.expiries > 0
	t.mu.Unlock()
	if ready {
		return mask & waiter.ReadableEvents
	}
	return 0
}

// EventRegister implements waiter.Waitable.
func (t *TimerFD) EventRegister(e *waiter.Entry) { t.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (t *TimerFD) EventUnregister(e *waiter.Entry) { t.queue.EventUnregister(e) }
