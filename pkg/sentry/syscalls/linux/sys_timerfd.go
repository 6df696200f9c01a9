package linux

import (
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/timerfd"
	"bufferzone.dev/pkg/sentry/kernel"
)

// itimerspec is struct itimerspec.
type itimerspec struct {
	Interval unix.Timespec
	Value    unix.Timespec
}

func tsDuration(ts unix.Timespec) time.Duration {
	return time.Duration(ts.Sec)*time.Second + time.Duration(ts.Nsec)
}

// TimerfdCreate implements timerfd_create(2). The alarm clocks are
// accepted as their plain counterparts: the Sentry cannot wake a
// suspended host.
func TimerfdCreate(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	id, flags := argInt(a[0]), argInt(a[1])
	switch id {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, clockBoottime, clockRealtimeAlarm, clockBoottimeAlarm:
	default:
		return 0, unix.EINVAL
	}
	if flags&^(unix.TFD_NONBLOCK|unix.TFD_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	clock := func() time.Duration {
		ts, err := clockNow(t, id)
		if err != nil {
			return 0
		}
		return tsDuration(ts)
	}
	f := timerfd.New(clock, uint32(flags))
	defer f.DecRef()
	fd, err := t.NewFD(f, flags&unix.TFD_CLOEXEC != 0)
	return uintptr(fd), err
}

// timerFile returns the timerfd at fd: EBADF if none, EINVAL if fd is
// another kind of file.
func timerFile(t *kernel.Task, fd int32) (*timerfd.TimerFD, func(), error) {
	f, err := t.GetFile(fd)
	if err != nil {
		return nil, nil, err
	}
	tf, ok := timerfd.FromFile(f)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EINVAL
	}
	return tf, f.DecRef, nil
}

// TimerfdSettime implements timerfd_settime(2).
func TimerfdSettime(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	fd, flags := argFD(a[0]), argInt(a[1])
	if flags&^(timerfd.TFD_TIMER_ABSTIME|timerfd.TFD_TIMER_CANCEL_ON_SET) != 0 {
		return 0, unix.EINVAL
	}
	var its itimerspec
	if err := copyInObj(t, a[2], &its); err != nil {
		return 0, err
	}
	if !validTimespec(its.Value) || !validTimespec(its.Interval) {
		return 0, unix.EINVAL
	}
	tf, done, err := timerFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer done()
	oldV, oldI := tf.Set(tsDuration(its.Value), tsDuration(its.Interval), flags&timerfd.TFD_TIMER_ABSTIME != 0)
	if a[3] != 0 {
		old := itimerspec{Interval: unix.NsecToTimespec(oldI.Nanoseconds()), Value: unix.NsecToTimespec(oldV.Nanoseconds())}
		if err := copyOutObj(t, a[3], &old); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// TimerfdGettime implements timerfd_gettime(2).
func TimerfdGettime(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	tf, done, err := timerFile(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer done()
	v, i := tf.Get()
	cur := itimerspec{Interval: unix.NsecToTimespec(i.Nanoseconds()), Value: unix.NsecToTimespec(v.Nanoseconds())}
	return 0, copyOutObj(t, a[1], &cur)
}
