package kernel

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CPU time accounting: a task's user time is the time it spends running
// application code (inside Context.Switch), its system time the time the
// Sentry spends handling its events. They feed getrusage, times,
// /proc/[pid]/stat and the ITIMER_VIRTUAL/ITIMER_PROF timers.

// cpuTimes is a pair of accumulated CPU times.
type cpuTimes struct {
	User, Sys time.Duration
}

func (c cpuTimes) add(o cpuTimes) cpuTimes { return cpuTimes{c.User + o.User, c.Sys + o.Sys} }

// account adds user and system time to the task's times and runs the
// process's CPU-time interval timers down by them.
func (t *Task) account(user, sys time.Duration) {
	t.cpuMu.Lock()
	t.cpu.User += user
	t.cpu.Sys += sys
	t.cpuMu.Unlock()
	t.tg.itimers.chargeCPU(t.tg, user, sys)
}

// CPUTime returns the task's user and system time.
func (t *Task) CPUTime() (user, sys time.Duration) {
	t.cpuMu.Lock()
	defer t.cpuMu.Unlock()
	return t.cpu.User, t.cpu.Sys
}

// CPUTime returns the process's user and system time: its live threads'
// and those of threads that have exited.
func (tg *ThreadGroup) CPUTime() (user, sys time.Duration) {
	tg.mu.Lock()
	total := tg.exitedCPU
	tasks := make([]*Task, 0, len(tg.tasks))
	for t := range tg.tasks {
		tasks = append(tasks, t)
	}
	tg.mu.Unlock()
	for _, t := range tasks {
		u, s := t.CPUTime()
		total = total.add(cpuTimes{u, s})
	}
	return total.User, total.Sys
}

// ChildrenCPUTime returns the CPU time of the process's reaped children
// (RUSAGE_CHILDREN, times' cutime/cstime).
func (tg *ThreadGroup) ChildrenCPUTime() (user, sys time.Duration) {
	tg.k.treeMu.Lock()
	defer tg.k.treeMu.Unlock()
	return tg.childrenCPU.User, tg.childrenCPU.Sys
}

// Interval timer kinds (setitimer(2)).
const (
	ITimerReal    = 0
	ITimerVirtual = 1
	ITimerProf    = 2
)

// itimers are a process's three interval timers.
type itimers struct {
	mu sync.Mutex
	// real: wall clock, SIGALRM.
	realTimer    *time.Timer
	realDeadline time.Time
	realInterval time.Duration
	realGen      uint64
	// virtual (user time, SIGVTALRM) and prof (user+system, SIGPROF):
	// the CPU time left until expiry, 0 when disarmed.
	virtLeft, virtInterval time.Duration
	profLeft, profInterval time.Duration
}

// ITimerValue is an interval timer's remaining time and reload interval.
type ITimerValue struct {
	Value, Interval time.Duration
}

// GetITimer returns a timer's current value.
func (tg *ThreadGroup) GetITimer(which int) (ITimerValue, error) {
	it := &tg.itimers
	it.mu.Lock()
	defer it.mu.Unlock()
	switch which {
	case ITimerReal:
		if it.realTimer == nil {
			return ITimerValue{}, nil
		}
		left := time.Until(it.realDeadline)
		if left <= 0 {
			left = time.Microsecond // expired, signal on its way
		}
		return ITimerValue{left, it.realInterval}, nil
	case ITimerVirtual:
		return ITimerValue{it.virtLeft, it.virtInterval}, nil
	case ITimerProf:
		return ITimerValue{it.profLeft, it.profInterval}, nil
	}
	return ITimerValue{}, unix.EINVAL
}

// SetITimer arms (or with a zero value disarms) a timer and returns its old
// value (setitimer(2), alarm(2)).
func (tg *ThreadGroup) SetITimer(which int, v ITimerValue) (ITimerValue, error) {
	old, err := tg.GetITimer(which)
	if err != nil {
		return old, err
	}
	it := &tg.itimers
	it.mu.Lock()
	defer it.mu.Unlock()
	switch which {
	case ITimerReal:
		if it.realTimer != nil {
			it.realTimer.Stop()
			it.realTimer = nil
		}
		it.realGen++
		if v.Value > 0 {
			it.realDeadline = time.Now().Add(v.Value)
			it.realInterval = v.Interval
			gen := it.realGen
			it.realTimer = time.AfterFunc(v.Value, func() { tg.realTimerFired(gen) })
		}
	case ITimerVirtual:
		it.virtLeft, it.virtInterval = v.Value, v.Interval
	case ITimerProf:
		it.profLeft, it.profInterval = v.Value, v.Interval
	}
	return old, nil
}

// realTimerFired sends SIGALRM and re-arms a periodic ITIMER_REAL.
func (tg *ThreadGroup) realTimerFired(gen uint64) {
	it := &tg.itimers
	it.mu.Lock()
	if gen != it.realGen || it.realTimer == nil {
		it.mu.Unlock()
		return
	}
	if it.realInterval > 0 {
		it.realDeadline = it.realDeadline.Add(it.realInterval)
		d := time.Until(it.realDeadline)
		it.realTimer = time.AfterFunc(max(d, 0), func() { tg.realTimerFired(gen) })
	} else {
		it.realTimer = nil
	}
	it.mu.Unlock()
	tg.SendSignal(SignalInfo{Signo: int32(unix.SIGALRM), Code: SIKernel})
}

// chargeCPU runs the CPU-time timers down: ITIMER_VIRTUAL by user time,
// ITIMER_PROF by both.
func (it *itimers) chargeCPU(tg *ThreadGroup, user, sys time.Duration) {
	it.mu.Lock()
	if it.virtLeft == 0 && it.profLeft == 0 {
		it.mu.Unlock()
		return
	}
	var fire []unix.Signal
	if it.virtLeft > 0 && user > 0 {
		if it.virtLeft -= user; it.virtLeft <= 0 {
			fire = append(fire, unix.SIGVTALRM)
			it.virtLeft = it.virtInterval
		}
	}
	if it.profLeft > 0 && user+sys > 0 {
		if it.profLeft -= user + sys; it.profLeft <= 0 {
			fire = append(fire, unix.SIGPROF)
			it.profLeft = it.profInterval
		}
	}
	it.mu.Unlock()
	for _, sig := range fire {
		tg.SendSignal(SignalInfo{Signo: int32(sig), Code: SIKernel})
	}
}
