package kernel

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// POSIX interval timers (timer_create(2)) on the wall and monotonic
// clocks. CPU-time clocks are not supported (EINVAL).

// sigevent notify values.
const (
	SigevSignal   = 0
	SigevNone     = 1
	SigevThread   = 2
	SigevThreadID = 4
)

// PosixTimer is one timer of a process.
type PosixTimer struct {
	tg     *ThreadGroup
	id     int32
	clock  int32
	notify int32
	signo  unix.Signal
	value  uint64
	target *Task // SIGEV_THREAD_ID

	mu       sync.Mutex
	timer    *time.Timer
	deadline time.Time
	interval time.Duration
	gen      uint64
	overrun  int32
}

// posixTimers is a process's table of timers (guarded by ThreadGroup.mu).
type posixTimers struct {
	byID map[int32]*PosixTimer
	next int32
}

// TimerCreateArgs are timer_create's decoded arguments.
type TimerCreateArgs struct {
	Clock  int32
	Notify int32
	Signo  unix.Signal
	Value  uint64
	// TargetTID is the thread for SIGEV_THREAD_ID.
	TargetTID int32
}

// TimerCreate implements timer_create(2) and returns the new timer's ID.
func (t *Task) TimerCreate(a TimerCreateArgs) (int32, error) {
	switch a.Clock {
	case unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC, unix.CLOCK_BOOTTIME, 8, 9: // *_ALARM
	default:
		return 0, unix.EINVAL
	}
	pt := &PosixTimer{tg: t.tg, clock: a.Clock, notify: a.Notify, signo: a.Signo, value: a.Value}
	switch a.Notify &^ SigevThreadID {
	case SigevNone:
	case SigevSignal, SigevThread:
		if a.Signo <= 0 || a.Signo > NumSignals {
			return 0, unix.EINVAL
		}
	default:
		return 0, unix.EINVAL
	}
	if a.Notify&SigevThreadID != 0 {
		target := t.k.TaskByTID(a.TargetTID)
		if target == nil || target.tg != t.tg {
			return 0, unix.EINVAL
		}
		pt.target = target
	}
	tg := t.tg
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.timers.byID == nil {
		tg.timers.byID = make(map[int32]*PosixTimer)
	}
	for {
		id := tg.timers.next
		tg.timers.next++
		if tg.timers.next < 0 {
			tg.timers.next = 0
		}
		if _, taken := tg.timers.byID[id]; !taken {
			pt.id = id
			break
		}
	}
	if a.Notify == SigevSignal || a.Notify == SigevThread {
		// Without an explicit value the timer's ID is the si_value.
		if a.Value == 0 {
			pt.value = uint64(pt.id)
		}
	}
	tg.timers.byID[pt.id] = pt
	return pt.id, nil
}

// timerByID returns a timer of t's process.
func (t *Task) timerByID(id int32) (*PosixTimer, error) {
	t.tg.mu.Lock()
	defer t.tg.mu.Unlock()
	pt, ok := t.tg.timers.byID[id]
	if !ok {
		return nil, unix.EINVAL
	}
	return pt, nil
}

// TimerDelete implements timer_delete(2).
func (t *Task) TimerDelete(id int32) error {
	t.tg.mu.Lock()
	pt, ok := t.tg.timers.byID[id]
	delete(t.tg.timers.byID, id)
	t.tg.mu.Unlock()
	if !ok {
		return unix.EINVAL
	}
	pt.mu.Lock()
	pt.stopLocked()
	pt.mu.Unlock()
	return nil
}

// stopAllTimers disarms every timer of the process (exit, exec).
func (tg *ThreadGroup) stopAllTimers() {
	tg.mu.Lock()
	timers := tg.timers.byID
	tg.timers.byID = nil
	tg.mu.Unlock()
	for _, pt := range timers {
		pt.mu.Lock()
		pt.stopLocked()
		pt.mu.Unlock()
	}
}

func (pt *PosixTimer) stopLocked() {
	if pt.timer != nil {
		pt.timer.Stop()
		pt.timer = nil
	}
	pt.gen++
}

// now reads the timer's clock.
func (pt *PosixTimer) now() time.Time {
	if pt.clock == unix.CLOCK_REALTIME || pt.clock == 8 {
		return time.Now()
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Unix(0, ts.Nano())
}

// TimerGet implements timer_gettime(2).
func (t *Task) TimerGet(id int32) (ITimerValue, error) {
	pt, err := t.timerByID(id)
	if err != nil {
		return ITimerValue{}, err
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.timer == nil {
		return ITimerValue{Interval: pt.interval}, nil
	}
	left := time.Until(pt.deadline)
	if left <= 0 {
		left = 1
	}
	return ITimerValue{Value: left, Interval: pt.interval}, nil
}

// TimerSet implements timer_settime(2): value is relative, or absolute on
// the timer's clock when abs is set (as nanoseconds since the clock's
// epoch). It returns the old setting.
func (t *Task) TimerSet(id int32, value, interval time.Duration, abs bool) (ITimerValue, error) {
	old, err := t.TimerGet(id)
	if err != nil {
		return old, err
	}
	pt, err := t.timerByID(id)
	if err != nil {
		return old, err
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.stopLocked()
	pt.interval = interval
	pt.overrun = 0
	if value == 0 {
		return old, nil
	}
	d := value
	if abs {
		d = time.Duration(value.Nanoseconds() - pt.now().UnixNano())
	}
	pt.deadline = time.Now().Add(d)
	gen := pt.gen
	pt.timer = time.AfterFunc(max(d, 0), func() { pt.fire(gen) })
	return old, nil
}

// TimerOverrun implements timer_getoverrun(2).
func (t *Task) TimerOverrun(id int32) (int32, error) {
	pt, err := t.timerByID(id)
	if err != nil {
		return 0, err
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.overrun, nil
}

// fire delivers the timer's notification and re-arms a periodic timer.
func (pt *PosixTimer) fire(gen uint64) {
	pt.mu.Lock()
	if gen != pt.gen || pt.timer == nil {
		pt.mu.Unlock()
		return
	}
	if pt.interval > 0 {
		pt.deadline = pt.deadline.Add(pt.interval)
		// Expirations missed while the Sentry was busy are overruns.
		for time.Until(pt.deadline) < 0 {
			pt.deadline = pt.deadline.Add(pt.interval)
			pt.overrun++
		}
		pt.timer = time.AfterFunc(time.Until(pt.deadline), func() { pt.fire(gen) })
	} else {
		pt.timer = nil
	}
	notify, signo, value, target, id := pt.notify, pt.signo, pt.value, pt.target, pt.id
	pt.mu.Unlock()
	if notify == SigevNone {
		return
	}
	info := SignalInfo{Signo: int32(signo), Code: SITimer}
	// _timer: si_tid (the timer ID), si_overrun, si_sigval.
	le := func(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
	le(info.Fields[0:], uint32(id))
	info.SetValue(value)
	if target != nil {
		target.SendSignal(info)
		return
	}
	pt.tg.SendSignal(info)
}
