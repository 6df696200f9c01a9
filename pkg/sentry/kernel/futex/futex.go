// Package futex is the futex(2) engine: queues of waiters keyed by futex
// word, and the wait, wake, requeue and wake-op operations on them, plus the
// robust-list walk a thread's exit performs (robust futexes, see
// set_robust_list(2)).
//
// The package knows nothing of tasks or address spaces. The caller resolves
// a user address to a Key (a private key from the address space and virtual
// address, or a shared key from the backing object and offset, as mm
// resolves it) and passes callbacks for every access to the futex word, so
// the value check and the wake-op's read-modify-write happen under this
// package's locks without it touching memory itself.
//
// Priority-inheritance operations (FUTEX_LOCK_PI, FUTEX_UNLOCK_PI,
// FUTEX_TRYLOCK_PI, FUTEX_WAIT_REQUEUE_PI, FUTEX_CMP_REQUEUE_PI, FUTEX_LOCK_PI2)
// are not implemented; the system call layer returns ENOSYS for them.
//
// A waiting task sleeps in its Context's Block; a waker dequeues it, marks
// it woken and calls its Context's Wake, all under the bucket lock, so a
// waiter that finds itself still queued after Block returns (a timeout, an
// interruption) and dequeues itself under that lock knows no wake was meant
// for it.
//
// Lock order: bucket.mu (two buckets: lower index first). Callbacks passed
// to Wait, CmpRequeue and WakeOp run with bucket locks held and must not call
// back into the Manager; Context.Wake is called with them held.
package futex

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/syserr"
)

// BitsetMatchAny is FUTEX_BITSET_MATCH_ANY: the bitset FUTEX_WAIT and
// FUTEX_WAKE use, matching every waiter.
const BitsetMatchAny = 0xffffffff

// Context is the task a blocking futex operation sleeps in.
type Context interface {
	// Block sleeps until Wake is called (nil, possibly spuriously), the
	// deadline passes (unix.ETIMEDOUT; a zero deadline never passes), or
	// the wait must end with ERESTARTSYS (any other error: a signal, a
	// stop, an exit).
	Block(deadline time.Time) error
	// Wake ends the current or next Block. Wakers call it with bucket
	// locks held: it must not block or take locks.
	Wake()
}

// Key identifies one futex word. Two operations meet on the same futex iff
// their keys are equal. Build keys with PrivateKey and SharedKey.
type Key struct {
	shared bool
	// obj is the address space (private) or backing object (shared).
	obj any
	// off is the virtual address (private) or offset in obj (shared).
	off uint64
}

// PrivateKey is the key of a FUTEX_PRIVATE_FLAG futex, or of a futex in a
// private mapping: as identifies the address space (any comparable value,
// typically its *mm.MemoryManager) and addr is the word's virtual address.
func PrivateKey(as any, addr uint64) Key { return Key{obj: as, off: addr} }

// SharedKey is the key of a futex in shared memory: obj identifies the
// backing object (any comparable value: the memory file, a file's
// mappable) and off is the word's byte offset in it (page offset plus
// offset within the page), so every process mapping the page meets there.
func SharedKey(obj any, off uint64) Key { return Key{shared: true, obj: obj, off: off} }

// Shared reports whether k is a shared key.
func (k Key) Shared() bool { return k.shared }

// Offset returns the virtual address (private keys) or the offset in the
// backing object (shared keys).
func (k Key) Offset() uint64 { return k.off }

// waiter is one blocked Wait.
type waiter struct {
	// prev, next, key and queued are protected by the mutex of the bucket
	// b points to. b is written only with both the old and the new bucket
	// locked, so holding the lock of the bucket b loaded confirms it.
	prev, next *waiter
	key        Key
	queued     bool
	b          atomic.Pointer[bucket]
	bitset     uint32
	// ctx is the sleeping task.
	ctx Context
	// woken is set, with the bucket locked, when the waiter is woken and
	// dequeued, before ctx.Wake.
	woken atomic.Bool
}

// bucket is one hash chain of waiters, in FIFO order.
type bucket struct {
	mu         sync.Mutex
	head, tail *waiter
}

func (b *bucket) pushLocked(w *waiter) {
	w.b.Store(b)
	w.queued = true
	w.prev, w.next = b.tail, nil
	if b.tail != nil {
		b.tail.next = w
	} else {
		b.head = w
	}
	b.tail = w
}

func (b *bucket) removeLocked(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		b.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		b.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
}

// wakeLocked dequeues and wakes w.
func (b *bucket) wakeLocked(w *waiter) {
	b.removeLocked(w)
	w.woken.Store(true)
	w.ctx.Wake()
}

// wakeMatchingLocked wakes up to n waiters on key whose bitset intersects
// bitset (at least one, as Linux does for n <= 0).
func (b *bucket) wakeMatchingLocked(key Key, n int, bitset uint32) int {
	woken := 0
	for w := b.head; w != nil; {
		next := w.next
		if w.key == key && w.bitset&bitset != 0 {
			b.wakeLocked(w)
			woken++
			if woken >= n {
				break
			}
		}
		w = next
	}
	return woken
}

const numBuckets = 256

// Manager holds every futex waiter of one kernel. The zero value is not
// usable; use NewManager.
type Manager struct {
	seed    maphash.Seed
	buckets [numBuckets]bucket
}

// NewManager returns an empty Manager.
func NewManager() *Manager { return &Manager{seed: maphash.MakeSeed()} }

func (m *Manager) bucketIndex(k Key) int {
	return int(maphash.Comparable(m.seed, k) % numBuckets)
}

func (m *Manager) bucket(k Key) *bucket { return &m.buckets[m.bucketIndex(k)] }

// lockTwo locks the buckets of a and b in lock order and returns them; they
// may be the same bucket, locked once.
func (m *Manager) lockTwo(a, b Key) (*bucket, *bucket) {
	ia, ib := m.bucketIndex(a), m.bucketIndex(b)
	ba, bb := &m.buckets[ia], &m.buckets[ib]
	switch {
	case ia == ib:
		ba.mu.Lock()
	case ia < ib:
		ba.mu.Lock()
		bb.mu.Lock()
	default:
		bb.mu.Lock()
		ba.mu.Lock()
	}
	return ba, bb
}

func unlockTwo(a, b *bucket) {
	a.mu.Unlock()
	if b != a {
		b.mu.Unlock()
	}
}

// Wait is FUTEX_WAIT and FUTEX_WAIT_BITSET. It queues the caller on key
// with bitset, then calls check with the queue locked; check reports whether
// the futex word still holds the expected value (false gives EAGAIN) or
// fails (its error, typically EFAULT, is returned). Because the caller is
// queued before the check and wakers take the same lock, a wake that follows
// a change of the word is never lost.
//
// Wait then blocks until a Wake, Requeue or WakeOp wakes it (nil), the
// deadline passes (ETIMEDOUT; a zero deadline never passes), or ctx is
// interrupted (syserr.ERESTARTSYS). A wake that races with a timeout or an
// interruption wins: Wait returns nil and the wake is not lost.
//
// bitset 0 gives EINVAL. The deadline is a time.Time: the system call layer
// converts a CLOCK_MONOTONIC timespec to time.Now().Add(remaining) and a
// CLOCK_REALTIME one to time.Unix(sec, nsec). The wait is measured on Go's
// monotonic clock from the moment it starts, so a step of the wall clock
// during a CLOCK_REALTIME wait does not move its expiry (Linux would).
func (m *Manager) Wait(ctx Context, key Key, bitset uint32, check func() (bool, error), deadline time.Time) error {
	if bitset == 0 {
		return unix.EINVAL
	}
	w := &waiter{key: key, bitset: bitset, ctx: ctx}
	b := m.bucket(key)
	b.mu.Lock()
	b.pushLocked(w)
	ok, err := check()
	if err == nil && !ok {
		err = unix.EAGAIN
	}
	if err != nil {
		b.removeLocked(w)
		b.mu.Unlock()
		return err
	}
	b.mu.Unlock()

	for !w.woken.Load() {
		switch err := ctx.Block(deadline); err {
		case nil:
			// Woken, or spuriously: the flag tells.
		case unix.ETIMEDOUT:
			return m.cancel(w, unix.ETIMEDOUT)
		default:
			return m.cancel(w, syserr.ERESTARTSYS)
		}
	}
	return nil
}

// cancel dequeues w after a timeout or interruption and returns err, or nil
// if w was woken first.
func (m *Manager) cancel(w *waiter, err error) error {
	b := lockWaiter(w)
	defer b.mu.Unlock()
	if !w.queued {
		return nil
	}
	b.removeLocked(w)
	return err
}

// lockWaiter locks and returns the bucket w is (or was last) queued on; a
// requeue may move w until that bucket's lock is held.
func lockWaiter(w *waiter) *bucket {
	for {
		b := w.b.Load()
		b.mu.Lock()
		if w.b.Load() == b {
			return b
		}
		b.mu.Unlock()
	}
}

// Wake is FUTEX_WAKE and FUTEX_WAKE_BITSET: it wakes up to n waiters on key
// whose bitset intersects bitset, oldest first, and returns how many it
// woke. Like Linux, n <= 0 still wakes one. bitset 0 wakes nobody (the
// system call layer returns EINVAL for it first).
func (m *Manager) Wake(key Key, n int, bitset uint32) int {
	if bitset == 0 {
		return 0
	}
	b := m.bucket(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wakeMatchingLocked(key, n, bitset)
}

// Requeue is FUTEX_REQUEUE: it wakes up to nWake waiters on from and moves
// up to nRequeue of the rest, oldest first, to wait on to instead. It
// returns the number woken plus the number requeued, which is what Linux's
// FUTEX_REQUEUE and FUTEX_CMP_REQUEUE return. Negative counts count as 0
// (the system call layer returns EINVAL for them first).
func (m *Manager) Requeue(from, to Key, nWake, nRequeue int) int {
	n, _ := m.CmpRequeue(from, to, nWake, nRequeue, nil)
	return n
}

// CmpRequeue is FUTEX_CMP_REQUEUE: Requeue, but first check (if not nil)
// is called with both queues locked and must report that the word at from
// still holds the expected value; if not, nothing moves and the error is
// EAGAIN (or check's own error).
func (m *Manager) CmpRequeue(from, to Key, nWake, nRequeue int, check func() (bool, error)) (int, error) {
	bf, bt := m.lockTwo(from, to)
	defer unlockTwo(bf, bt)
	if check != nil {
		ok, err := check()
		if err == nil && !ok {
			err = unix.EAGAIN
		}
		if err != nil {
			return 0, err
		}
	}
	woken := 0
	var move []*waiter
	for w := bf.head; w != nil && (woken < nWake || len(move) < nRequeue); {
		next := w.next
		if w.key == from {
			if woken < nWake {
				bf.wakeLocked(w)
				woken++
			} else {
				move = append(move, w)
			}
		}
		w = next
	}
	// Move after the walk, so a waiter requeued onto the same bucket is
	// not met again.
	for _, w := range move {
		bf.removeLocked(w)
		w.key = to
		bt.pushLocked(w)
	}
	return woken + len(move), nil
}
