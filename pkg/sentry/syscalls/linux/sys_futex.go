package linux

import (
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// futex operations and flags.
const (
	futexWait          = 0
	futexWake          = 1
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexPrivateFlag   = 128
	futexClockRealtime = 256
	futexCmdMask       = ^(futexPrivateFlag | futexClockRealtime)
)

// Futex implements futex(2) for a single-threaded process: a wait checks
// the value and sleeps until its timeout or an interruption (no other
// thread exists to wake it); a wake finds no waiters. Shared waiting
// between threads and processes arrives with the processes issue.
func Futex(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	addr, op, val := a[0], argInt(a[1]), argUint(a[2])
	cmd := op & futexCmdMask
	switch cmd {
	case futexWait, futexWaitBitset:
		if addr%4 != 0 {
			return 0, unix.EINVAL
		}
		if cmd == futexWaitBitset && argUint(a[5]) == 0 {
			return 0, unix.EINVAL
		}
		var cur uint32
		if err := copyInObj(t, addr, &cur); err != nil {
			return 0, err
		}
		if cur != val {
			return 0, unix.EAGAIN
		}
		var d time.Duration = -1
		if a[3] != 0 {
			var ts unix.Timespec
			if err := copyInObj(t, a[3], &ts); err != nil {
				return 0, err
			}
			if !validTimespec(ts) {
				return 0, unix.EINVAL
			}
			d = time.Duration(ts.Sec)*time.Second + time.Duration(ts.Nsec)
			if cmd == futexWaitBitset {
				// The timeout is absolute on the chosen clock.
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
			if d <= 0 {
				return 0, unix.ETIMEDOUT
			}
		}
		if d < 0 {
			<-t.Interrupted()
			return 0, kernel.ERESTARTSYS
		}
		if _, err := sleepFor(t, d); err != nil {
			return 0, kernel.ERESTARTSYS
		}
		return 0, unix.ETIMEDOUT
	case futexWake, futexWakeBitset:
		if addr%4 != 0 {
			return 0, unix.EINVAL
		}
		if cmd == futexWakeBitset && argUint(a[5]) == 0 {
			return 0, unix.EINVAL
		}
		return 0, nil
	}
	return 0, unix.ENOSYS
}
