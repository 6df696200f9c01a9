package linux

import (
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// sigevent is struct sigevent on x86-64 (64 bytes): value, signo, notify,
// then the union whose first int is the target thread for SIGEV_THREAD_ID.
type sigevent struct {
	Value  uint64
	Signo  int32
	Notify int32
	TID    int32
	_      [44]byte
}

// TimerCreate implements timer_create(2).
func TimerCreate(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	args := kernel.TimerCreateArgs{Clock: argInt(a[0]), Notify: kernel.SigevSignal, Signo: unix.SIGALRM}
	if a[1] != 0 {
		var ev sigevent
		if err := copyInObj(t, a[1], &ev); err != nil {
			return 0, err
		}
		args.Notify, args.Signo, args.Value, args.TargetTID = ev.Notify, unix.Signal(ev.Signo), ev.Value, ev.TID
	}
	id, err := t.TimerCreate(args)
	if err != nil {
		return 0, err
	}
	if err := copyOutObj(t, a[2], &id); err != nil {
		t.TimerDelete(id)
		return 0, err
	}
	return 0, nil
}

func specToDuration(ts unix.Timespec) time.Duration { return time.Duration(ts.Nano()) }

// TimerSettime implements timer_settime(2).
func TimerSettime(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	id, flags := argInt(a[0]), argInt(a[1])
	var in itimerspec
	if err := copyInObj(t, a[2], &in); err != nil {
		return 0, err
	}
	if !validTimespec(in.Value) || !validTimespec(in.Interval) {
		return 0, unix.EINVAL
	}
	old, err := t.TimerSet(id, specToDuration(in.Value), specToDuration(in.Interval), flags&unix.TIMER_ABSTIME != 0)
	if err != nil {
		return 0, err
	}
	if a[3] != 0 {
		out := itimerspec{Interval: unix.NsecToTimespec(old.Interval.Nanoseconds()), Value: unix.NsecToTimespec(old.Value.Nanoseconds())}
		return 0, copyOutObj(t, a[3], &out)
	}
	return 0, nil
}

// TimerGettime implements timer_gettime(2).
func TimerGettime(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	v, err := t.TimerGet(argInt(a[0]))
	if err != nil {
		return 0, err
	}
	out := itimerspec{Interval: unix.NsecToTimespec(v.Interval.Nanoseconds()), Value: unix.NsecToTimespec(v.Value.Nanoseconds())}
	return 0, copyOutObj(t, a[1], &out)
}

// TimerGetoverrun implements timer_getoverrun(2).
func TimerGetoverrun(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	n, err := t.TimerOverrun(argInt(a[0]))
	return uintptr(n), err
}

// TimerDelete implements timer_delete(2).
func TimerDelete(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.TimerDelete(argInt(a[0]))
}
