package linux

import (
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/futex"
)

// futex operations and flags (futex(2)).
const (
	futexWait          = 0
	futexWake          = 1
	futexRequeue       = 3
	futexCmpRequeue    = 4
	futexWakeOp        = 5
	futexLockPI        = 6
	futexUnlockPI      = 7
	futexTrylockPI     = 8
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexWaitRequeuePI = 11
	futexCmpRequeuePI  = 12
	futexLockPI2       = 13
	futexPrivateFlag   = 128
	futexClockRealtime = 256
	futexCmdMask       = ^(futexPrivateFlag | futexClockRealtime)
)

// Futex implements futex(2). Priority-inheritance operations are not
// implemented (ENOSYS), as on kernels built without CONFIG_FUTEX_PI.
func Futex(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	addr, op, val := a[0], argInt(a[1]), argUint(a[2])
	cmd := op & futexCmdMask
	private := op&futexPrivateFlag != 0
	if addr%4 != 0 {
		return 0, unix.EINVAL
	}
	if op&futexClockRealtime != 0 && cmd != futexWait && cmd != futexWaitBitset && cmd != futexWaitRequeuePI && cmd != futexLockPI2 {
		return 0, unix.ENOSYS
	}
	m := t.Kernel().Futexes
	key := func(addr uintptr) (futex.Key, error) { return t.FutexKey(addr, private) }
	switch cmd {
	case futexWait, futexWaitBitset:
		bitset := uint32(futex.BitsetMatchAny)
		if cmd == futexWaitBitset {
			bitset = argUint(a[5])
			if bitset == 0 {
				return 0, unix.EINVAL
			}
		}
		var deadline time.Time
		if a[3] != 0 {
			var ts unix.Timespec
			if err := copyInObj(t, a[3], &ts); err != nil {
				return 0, err
			}
			if !validTimespec(ts) {
				return 0, unix.EINVAL
			}
			d := time.Duration(ts.Nano())
			if cmd == futexWaitBitset {
				// Absolute on CLOCK_MONOTONIC, or CLOCK_REALTIME.
				clock := int32(unix.CLOCK_MONOTONIC)
				if op&futexClockRealtime != 0 {
					clock = unix.CLOCK_REALTIME
				}
				now, err := clockNow(t, clock)
				if err != nil {
					return 0, err
				}
				d -= time.Duration(now.Nano())
			}
			deadline = time.Now().Add(d)
		}
		k, err := key(addr)
		if err != nil {
			return 0, err
		}
		mm := t.MemoryManager()
		err = m.Wait(t, k, bitset, func() (bool, error) {
			cur, err := mm.LoadUint32(addr)
			return cur == val, err
		}, deadline)
		if err == kernel.ERESTARTSYS && cmd == futexWait && a[3] != 0 {
			// A relative timeout must not restart from scratch.
			return 0, unix.EINTR
		}
		return 0, err
	case futexWake, futexWakeBitset:
		bitset := uint32(futex.BitsetMatchAny)
		if cmd == futexWakeBitset {
			bitset = argUint(a[5])
			if bitset == 0 {
				return 0, unix.EINVAL
			}
		}
		k, err := key(addr)
		if err != nil {
			return 0, err
		}
		n := m.Wake(k, int(val), bitset)
		if n > 0 {
			t.YieldToWoken()
		}
		return uintptr(n), nil
	case futexRequeue, futexCmpRequeue:
		if a[4]%4 != 0 {
			return 0, unix.EINVAL
		}
		nRequeue := int(int32(a[3]))
		if int32(val) < 0 || nRequeue < 0 {
			return 0, unix.EINVAL
		}
		from, err := key(addr)
		if err != nil {
			return 0, err
		}
		to, err := key(a[4])
		if err != nil {
			return 0, err
		}
		if cmd == futexRequeue {
			return uintptr(m.Requeue(from, to, int(val), nRequeue)), nil
		}
		mm := t.MemoryManager()
		n, err := m.CmpRequeue(from, to, int(val), nRequeue, func() (bool, error) {
			cur, err := mm.LoadUint32(addr)
			return cur == argUint(a[5]), err
		})
		return uintptr(n), err
	case futexWakeOp:
		if a[4]%4 != 0 {
			return 0, unix.EINVAL
		}
		wop, err := futex.DecodeWakeOp(argUint(a[5]))
		if err != nil {
			return 0, err
		}
		k1, err := key(addr)
		if err != nil {
			return 0, err
		}
		k2, err := key(a[4])
		if err != nil {
			return 0, err
		}
		mm := t.MemoryManager()
		addr2 := a[4]
		n, err := m.WakeOp(k1, k2, int(val), int(int32(a[3])), wop, func(modify func(uint32) uint32) (uint32, error) {
			for {
				old, err := mm.LoadUint32(addr2)
				if err != nil {
					return 0, err
				}
				prev, err := mm.CompareAndSwapUint32(addr2, old, modify(old))
				if err != nil {
					return 0, err
				}
				if prev == old {
					return old, nil
				}
			}
		})
		if n > 0 {
			t.YieldToWoken()
		}
		return uintptr(n), err
	case futexLockPI, futexUnlockPI, futexTrylockPI, futexWaitRequeuePI, futexCmpRequeuePI, futexLockPI2:
		return 0, unix.ENOSYS
	}
	return 0, unix.ENOSYS
}
