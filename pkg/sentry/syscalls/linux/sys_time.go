package linux

import (
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// Clock IDs beyond those x/sys/unix names.
const (
	clockMonotonicRaw    = 4
	clockRealtimeCoarse  = 5
	clockMonotonicCoarse = 6
	clockBoottime        = 7
	clockRealtimeAlarm   = 8
	clockBoottimeAlarm   = 9
	clockTAI             = 11
)

// clockNow reads a clock. CPU-time clocks report the time the task or
// process spent running application code and in the Sentry on its behalf.
func clockNow(t *kernel.Task, id int32) (unix.Timespec, error) {
	var host int32
	switch id {
	case unix.CLOCK_REALTIME, clockRealtimeCoarse, clockRealtimeAlarm, clockTAI:
		host = unix.CLOCK_REALTIME
	case unix.CLOCK_MONOTONIC, clockMonotonicCoarse, clockMonotonicRaw:
		host = unix.CLOCK_MONOTONIC
	case clockBoottime, clockBoottimeAlarm:
		host = clockBoottime
	case unix.CLOCK_PROCESS_CPUTIME_ID:
		u, s := t.ThreadGroup().CPUTime()
		return unix.NsecToTimespec((u + s).Nanoseconds()), nil
	case unix.CLOCK_THREAD_CPUTIME_ID:
		u, s := t.CPUTime()
		return unix.NsecToTimespec((u + s).Nanoseconds()), nil
	default:
		if id < 0 {
			return cpuClockNow(t, id)
		}
		return unix.Timespec{}, unix.EINVAL
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(host, &ts); err != nil {
		return ts, err
	}
	return ts, nil
}

// ClockGettime implements clock_gettime(2).
func ClockGettime(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	ts, err := clockNow(t, argInt(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, copyOutObj(t, a[1], &ts)
}

// ClockGetres implements clock_getres(2).
func ClockGetres(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	id := argInt(a[0])
	if _, err := clockNow(t, id); err != nil {
		return 0, err
	}
	if a[1] == 0 {
		return 0, nil
	}
	ts := unix.Timespec{Nsec: 1}
	if id == clockRealtimeCoarse || id == clockMonotonicCoarse {
		ts.Nsec = 4000000
	}
	return 0, copyOutObj(t, a[1], &ts)
}

// Gettimeofday implements gettimeofday(2).
func Gettimeofday(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if a[0] != 0 {
		now := time.Now()
		tv := unix.Timeval{Sec: now.Unix(), Usec: int64(now.Nanosecond() / 1000)}
		if err := copyOutObj(t, a[0], &tv); err != nil {
			return 0, err
		}
	}
	if a[1] != 0 {
		var tz [2]int32 // UTC: minuteswest 0, dsttime 0.
		if err := copyOutObj(t, a[1], &tz); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Time implements time(2).
func Time(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	now := time.Now().Unix()
	if a[0] != 0 {
		if err := copyOutObj(t, a[0], &now); err != nil {
			return 0, err
		}
	}
	return uintptr(now), nil
}

func validTimespec(ts unix.Timespec) bool {
	return ts.Sec >= 0 && ts.Nsec >= 0 && ts.Nsec < 1e9
}

// sleepUntil blocks until the deadline on the given host clock, or until the
// task is interrupted (then it returns the remaining time and EINTR).
func sleepFor(t *kernel.Task, d time.Duration) (time.Duration, error) {
	if d <= 0 {
		return 0, nil
	}
	end := time.Now().Add(d)
	for {
		switch err := t.Block(end); err {
		case nil:
			// Nothing wakes a sleep but the deadline or an
			// interruption: a stale wake-up; sleep on.
		case unix.ETIMEDOUT:
			return 0, nil
		default:
			return max(time.Until(end), 0), unix.EINTR
		}
	}
}

// Nanosleep implements nanosleep(2).
func Nanosleep(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	var ts unix.Timespec
	if err := copyInObj(t, a[0], &ts); err != nil {
		return 0, err
	}
	if !validTimespec(ts) {
		return 0, unix.EINVAL
	}
	return sleepRelative(t, time.Duration(ts.Sec)*time.Second+time.Duration(ts.Nsec), a[1])
}

// sleepRelative sleeps for d. Interrupted, it writes the time left to
// remAddr and returns ERESTART_RESTARTBLOCK: if no handler runs (or one
// with SA_RESTART… Linux restarts nanosleep only without a handler) the
// sleep continues for the time that was left; otherwise the caller sees
// EINTR.
func sleepRelative(t *kernel.Task, d time.Duration, remAddr uintptr) (uintptr, error) {
	deadline := time.Now().Add(d)
	left, err := sleepFor(t, d)
	if err == nil {
		return 0, nil
	}
	if remAddr != 0 {
		rem := unix.NsecToTimespec(left.Nanoseconds())
		if err := copyOutObj(t, remAddr, &rem); err != nil {
			return 0, err
		}
	}
	t.SetRestartBlock(func(t *kernel.Task) (uintptr, error) {
		return sleepRelative(t, time.Until(deadline), remAddr)
	})
	return 0, kernel.ERESTART_RESTARTBLOCK
}

// ClockNanosleep implements clock_nanosleep(2).
func ClockNanosleep(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	id, flags := argInt(a[0]), argInt(a[1])
	switch id {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, clockBoottime, clockTAI, clockRealtimeAlarm, clockBoottimeAlarm:
	case unix.CLOCK_THREAD_CPUTIME_ID:
		return 0, unix.EINVAL
	case unix.CLOCK_PROCESS_CPUTIME_ID:
		return 0, unix.EOPNOTSUPP
	default:
		return 0, unix.EINVAL
	}
	var ts unix.Timespec
	if err := copyInObj(t, a[2], &ts); err != nil {
		return 0, err
	}
	if !validTimespec(ts) {
		return 0, unix.EINVAL
	}
	d := time.Duration(ts.Sec)*time.Second + time.Duration(ts.Nsec)
	if flags&unix.TIMER_ABSTIME != 0 {
		now, err := clockNow(t, id)
		if err != nil {
			return 0, err
		}
		d -= time.Duration(now.Nano())
		if _, err := sleepFor(t, d); err != nil {
			// An absolute sleep simply restarts with the same deadline.
			return 0, kernel.ERESTARTNOHAND
		}
		return 0, nil
	}
	return sleepRelative(t, d, a[3])
}

// cpuClockNow reads a dynamic CPU-time clock (clock_getcpuclockid,
// pthread_getcpuclockid): the ID encodes ~pid << 3, a per-thread bit (4)
// and the kind (0 PROF: user+system, 1 VIRT: user, 2 SCHED: user+system).
func cpuClockNow(t *kernel.Task, id int32) (unix.Timespec, error) {
	kind, perThread := id&3, id&4 != 0
	if kind == 3 {
		return unix.Timespec{}, unix.EINVAL
	}
	pid := ^(id >> 3)
	var u, s time.Duration
	if perThread {
		target := t
		if pid != 0 {
			target = t.Kernel().TaskByTID(pid)
			if target == nil || target.ThreadGroup() != t.ThreadGroup() {
				return unix.Timespec{}, unix.EINVAL
			}
		}
		u, s = target.CPUTime()
	} else {
		tg, err := processByPID(t, pid)
		if err != nil {
			return unix.Timespec{}, unix.EINVAL
		}
		u, s = tg.CPUTime()
	}
	if kind == 1 {
		s = 0
	}
	return unix.NsecToTimespec((u + s).Nanoseconds()), nil
}
