package linux

import (
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

func timevalToDuration(tv unix.Timeval) time.Duration {
	return time.Duration(tv.Sec)*time.Second + time.Duration(tv.Usec)*time.Microsecond
}

func durationToTimeval(d time.Duration) unix.Timeval {
	// Round up to a microsecond so an armed timer never reads as zero.
	us := (d + time.Microsecond - 1) / time.Microsecond
	return unix.Timeval{Sec: int64(us / 1e6), Usec: int64(us % 1e6)}
}

type itimerval struct {
	Interval, Value unix.Timeval
}

// Getitimer implements getitimer(2).
func Getitimer(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	v, err := t.ThreadGroup().GetITimer(int(argInt(a[0])))
	if err != nil {
		return 0, err
	}
	out := itimerval{Interval: durationToTimeval(v.Interval), Value: durationToTimeval(v.Value)}
	return 0, copyOutObj(t, a[1], &out)
}

// Setitimer implements setitimer(2).
func Setitimer(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	var in itimerval
	if a[1] != 0 {
		if err := copyInObj(t, a[1], &in); err != nil {
			return 0, err
		}
	}
	for _, tv := range []unix.Timeval{in.Interval, in.Value} {
		if tv.Sec < 0 || tv.Usec < 0 || tv.Usec >= 1e6 {
			return 0, unix.EINVAL
		}
	}
	old, err := t.ThreadGroup().SetITimer(int(argInt(a[0])), kernel.ITimerValue{
		Value: timevalToDuration(in.Value), Interval: timevalToDuration(in.Interval),
	})
	if err != nil {
		return 0, err
	}
	if a[2] != 0 {
		out := itimerval{Interval: durationToTimeval(old.Interval), Value: durationToTimeval(old.Value)}
		return 0, copyOutObj(t, a[2], &out)
	}
	return 0, nil
}

// Alarm implements alarm(2).
func Alarm(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	old, err := t.ThreadGroup().SetITimer(kernel.ITimerReal, kernel.ITimerValue{Value: time.Duration(argUint(a[0])) * time.Second})
	if err != nil {
		return 0, err
	}
	// Remaining seconds, rounded to the nearest (at least 1 if armed).
	secs := (old.Value + time.Second/2) / time.Second
	if old.Value > 0 && secs == 0 {
		secs = 1
	}
	return uintptr(secs), nil
}

// clockTicks is USER_HZ.
const clockTicks = 100

func toTicks(d time.Duration) int64 { return int64(d / (time.Second / clockTicks)) }

// Times implements times(2).
func Times(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if a[0] != 0 {
		u, s := t.ThreadGroup().CPUTime()
		cu, cs := t.ThreadGroup().ChildrenCPUTime()
		tms := [4]int64{toTicks(u), toTicks(s), toTicks(cu), toTicks(cs)}
		if err := copyOutObj(t, a[0], &tms); err != nil {
			return 0, err
		}
	}
	return uintptr(toTicks(time.Since(t.Kernel().BootTime()))), nil
}

// Getrusage implements getrusage(2). CPU times and the peak resident set
// are accounted; the other fields are zero.
func Getrusage(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	var u, s time.Duration
	var rss uint64
	switch argInt(a[0]) {
	case unix.RUSAGE_SELF:
		u, s = t.ThreadGroup().CPUTime()
		rss = t.ThreadGroup().MaxRSS(t.MemoryManager().ResidentBytes())
	case unix.RUSAGE_THREAD:
		u, s = t.CPUTime()
		rss = t.ThreadGroup().MaxRSS(t.MemoryManager().ResidentBytes())
	case unix.RUSAGE_CHILDREN:
		u, s = t.ThreadGroup().ChildrenCPUTime()
		rss = t.ThreadGroup().ChildrenMaxRSS()
	default:
		return 0, unix.EINVAL
	}
	ru := unix.Rusage{Utime: durationToTimeval(u), Stime: durationToTimeval(s), Maxrss: int64(rss / 1024)}
	return 0, copyOutObj(t, a[1], &ru)
}
