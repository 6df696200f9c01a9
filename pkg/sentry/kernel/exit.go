package kernel

import (
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/waiter"
)

// The process tree: each ThreadGroup has a parent and children, guarded by
// Kernel.treeMu (which comes before ThreadGroup.mu in the lock order).

// forkGroup creates the thread group of a new process whose only task is
// nt, as a child of tg (or of tg's parent with CLONE_PARENT).
func (tg *ThreadGroup) forkGroup(nt *Task, shareSighand bool, exitSignal unix.Signal, sameParent bool) *ThreadGroup {
	k := tg.k
	ng := &ThreadGroup{
		k:          k,
		pid:        nt.tid,
		tasks:      map[*Task]struct{}{nt: {}},
		limits:     tg.limits.Copy(),
		exitSignal: exitSignal,
		children:   make(map[*ThreadGroup]struct{}),
		startTime:  time.Now(),
		exited:     make(chan struct{}),
	}
	tg.mu.Lock()
	ng.actions = tg.actions
	ng.nice = tg.nice
	ng.oomScoreAdj, ng.oomScoreAdjMin = tg.oomScoreAdj, tg.oomScoreAdjMin
	ng.personality = tg.personality
	ng.exePath = tg.exePath
	tg.mu.Unlock()
	k.treeMu.Lock()
	ng.pgid, ng.sid = tg.pgid, tg.sid
	parent := tg
	if sameParent && tg.parent != nil {
		parent = tg.parent
	}
	ng.parent = parent
	parent.children[ng] = struct{}{}
	k.treeMu.Unlock()
	return ng
}

// PPID returns the parent's process ID (0 for the sandbox's first process).
func (tg *ThreadGroup) PPID() int32 {
	tg.k.treeMu.Lock()
	defer tg.k.treeMu.Unlock()
	if tg.parent == nil {
		return 0
	}
	return tg.parent.pid
}

// notifyChildEventLocked wakes tasks of tg waiting in wait4/waitid.
func (tg *ThreadGroup) notifyChildEventLocked() {
	tg.childEvent.Notify(waiter.EventIn)
}

// childSignalInfo builds the SIGCHLD siginfo for a child's state change.
func childSignalInfo(child *ThreadGroup, code int32, status int32, sig unix.Signal) SignalInfo {
	info := SignalInfo{Signo: int32(sig), Code: code}
	info.SetPIDUID(child.pid, 0)
	info.SetStatus(status)
	return info
}

// groupExited runs when the last task of tg has exited: tg becomes a
// zombie for its parent to reap, its children go to init, and the parent
// hears about it.
func (tg *ThreadGroup) groupExited() {
	k := tg.k
	tg.stopAllTimers()
	k.treeMu.Lock()
	tg.zombie = true
	// Orphans go to the nearest living subreaper ancestor, else init.
	reaper := k.initTG
	for a := tg.parent; a != nil; a = a.parent {
		if a.subreaper && !a.zombie {
			reaper = a
			break
		}
	}
	for c := range tg.children {
		if reaper == nil || reaper == tg {
			c.parent = nil
			continue
		}
		c.parent = reaper
		reaper.children[c] = struct{}{}
		if c.zombie {
			reaper.notifyChildEventLocked()
		}
		c.sendParentDeathSignal()
	}
	tg.children = nil
	parent := tg.parent
	if parent != nil {
		parent.mu.Lock()
		act := parent.actions[unix.SIGCHLD-1]
		parent.mu.Unlock()
		autoReap := act.Handler == SigIgnore || act.Flags&saNoCldWait != 0
		if tg.exitSignal != 0 {
			code, status := int32(CldExited), int32(tg.status>>8&0xff)
			if sig := tg.status & 0x7f; sig != 0 {
				code, status = CldKilled, int32(sig)
				if tg.status&0x80 != 0 {
					code = CldDumped
				}
			}
			parent.SendSignal(childSignalInfo(tg, code, status, tg.exitSignal))
		}
		if autoReap {
			delete(parent.children, tg)
			tg.reapLocked()
		}
		parent.notifyChildEventLocked()
	}
	isInit := tg == k.initTG
	close(tg.exited)
	k.treeMu.Unlock()
	tg.exitQueue.Notify(waiter.ReadableEvents)
	if isInit {
		// Like the init of a PID namespace: its death kills everyone else.
		for _, other := range k.ThreadGroups() {
			if other != tg {
				other.exitGroup(Signaled(unix.SIGKILL, false))
			}
		}
		k.exitStatus = tg.status
		close(k.exited)
	}
}

// reapLocked forgets a zombie: its PID becomes free, and its CPU time
// (with its own children's) is charged to its parent.
func (tg *ThreadGroup) reapLocked() {
	tg.reaped = true
	tg.itimers.mu.Lock()
	if tg.itimers.realTimer != nil {
		tg.itimers.realTimer.Stop()
		tg.itimers.realTimer = nil
	}
	tg.itimers.mu.Unlock()
	if p := tg.parent; p != nil {
		tg.mu.Lock()
		own, rss := tg.exitedCPU, tg.maxRSS
		tg.mu.Unlock()
		p.childrenCPU = p.childrenCPU.add(own).add(tg.childrenCPU)
		p.childrenMaxRSS = max(p.childrenMaxRSS, rss, tg.childrenMaxRSS)
	}
	tg.k.mu.Lock()
	if t, ok := tg.k.tasks[tg.pid]; ok && t.tg == tg {
		delete(tg.k.tasks, tg.pid)
	}
	tg.k.mu.Unlock()
}

// notifyStopLocked tells tg's parent that tg stopped or continued
// (WUNTRACED/WCONTINUED and SIGCHLD unless SA_NOCLDSTOP).
func (tg *ThreadGroup) notifyStop(continued bool, sig unix.Signal) {
	k := tg.k
	k.treeMu.Lock()
	defer k.treeMu.Unlock()
	if continued {
		tg.stopReport = stopReportContinued
	} else {
		tg.stopReport = stopReportStopped
		tg.stopSignal = sig
	}
	parent := tg.parent
	if parent == nil {
		return
	}
	parent.mu.Lock()
	act := parent.actions[unix.SIGCHLD-1]
	parent.mu.Unlock()
	if act.Flags&saNoCldStop == 0 {
		code, status := int32(CldStopped), int32(sig)
		if continued {
			code, status = CldContinued, int32(unix.SIGCONT)
		}
		parent.SendSignal(childSignalInfo(tg, code, status, unix.SIGCHLD))
	}
	parent.notifyChildEventLocked()
}

// Stop report states for wait's WUNTRACED and WCONTINUED.
const (
	stopReportNone = iota
	stopReportStopped
	stopReportContinued
)

// sa_flags for SIGCHLD.
const (
	saNoCldStop = 1
	saNoCldWait = 2
)

// WaitOptions are wait4/waitid's options.
type WaitOptions struct {
	// Which children: PID > 0 one process; PGID > 0 a process group;
	// neither: any child.
	PID, PGID int32
	// Group, if set, is the one child to wait for (waitid's P_PIDFD).
	Group     *ThreadGroup
	NoHang    bool // WNOHANG
	Exited    bool // WEXITED (always for wait4)
	Stopped   bool // WUNTRACED / WSTOPPED
	Continued bool // WCONTINUED
	NoWait    bool // WNOWAIT: leave the child waitable
	// Clone selects children by exit signal: WCLONE only non-SIGCHLD,
	// WALL any; neither: only SIGCHLD children.
	Clone, All bool
}

// WaitResult describes the child a wait found.
type WaitResult struct {
	PID    int32
	UID    uint32
	Status WaitStatus
	// Code is the si_code for waitid (CLD_*), Signo/Value its si_status.
	Code     int32
	SiStatus int32
	// UserTime and SysTime are the CPU time of a reaped child and of its
	// own reaped children (wait4's rusage).
	UserTime, SysTime time.Duration
}

// Wait waits for a child's state change (wait4, waitid). With NoHang and
// nothing to report it returns a zero WaitResult and no error.
func (t *Task) Wait(o WaitOptions) (WaitResult, error) {
	tg := t.tg
	k := t.k
	// Registered before the first scan that may block, so that a change
	// after that scan wakes the task.
	var e *waiter.Entry
	defer func() {
		if e != nil {
			tg.childEvent.EventUnregister(e)
		}
	}()
	for {
		k.treeMu.Lock()
		any := false
		for c := range tg.children {
			if (o.PID > 0 && c.pid != o.PID) || (o.Group != nil && c != o.Group) {
				continue
			}
			if o.PGID > 0 && c.pgid != o.PGID {
				continue
			}
			if !o.All && (c.exitSignal == unix.SIGCHLD) == o.Clone {
				continue
			}
			any = true
			if c.zombie && o.Exited {
				c.mu.Lock()
				cpu := c.exitedCPU.add(c.childrenCPU)
				c.mu.Unlock()
				r := WaitResult{PID: c.pid, Status: c.status, UserTime: cpu.User, SysTime: cpu.Sys}
				r.Code, r.SiStatus = CldExited, int32(c.status>>8&0xff)
				if sig := c.status & 0x7f; sig != 0 {
					r.Code, r.SiStatus = CldKilled, int32(sig)
					if c.status&0x80 != 0 {
						r.Code = CldDumped
					}
				}
				if !o.NoWait {
					delete(tg.children, c)
					c.reapLocked()
				}
				k.treeMu.Unlock()
				return r, nil
			}
			if c.stopReport == stopReportStopped && o.Stopped {
				r := WaitResult{PID: c.pid, Status: WaitStatus(0x7f | int(c.stopSignal)<<8), Code: CldStopped, SiStatus: int32(c.stopSignal)}
				if !o.NoWait {
					c.stopReport = stopReportNone
				}
				k.treeMu.Unlock()
				return r, nil
			}
			if c.stopReport == stopReportContinued && o.Continued {
				r := WaitResult{PID: c.pid, Status: 0xffff, Code: CldContinued, SiStatus: int32(unix.SIGCONT)}
				if !o.NoWait {
					c.stopReport = stopReportNone
				}
				k.treeMu.Unlock()
				return r, nil
			}
		}
		k.treeMu.Unlock()
		if !any {
			return WaitResult{}, unix.ECHILD
		}
		if o.NoHang {
			return WaitResult{}, nil
		}
		if e == nil {
			e = waiter.NewWakerEntry(waiter.EventIn, t)
			tg.childEvent.EventRegister(e)
			continue
		}
		if t.Block(time.Time{}) == ErrInterrupted && (t.hasDeliverableSignal() || t.exiting.Load()) {
			return WaitResult{}, ERESTARTSYS
		}
	}
}

// sendParentDeathSignal sends PR_SET_PDEATHSIG's signal to the threads of
// tg that asked for one, because their parent died.
func (tg *ThreadGroup) sendParentDeathSignal() {
	tg.mu.Lock()
	var targets []*Task
	for t := range tg.tasks {
		if t.pdeathSig.Load() != 0 {
			targets = append(targets, t)
		}
	}
	tg.mu.Unlock()
	for _, t := range targets {
		t.SendSignal(SignalInfo{Signo: t.pdeathSig.Load(), Code: SIUser})
	}
}

// SetChildSubreaper sets or clears PR_SET_CHILD_SUBREAPER.
func (tg *ThreadGroup) SetChildSubreaper(v bool) {
	tg.k.treeMu.Lock()
	tg.subreaper = v
	tg.k.treeMu.Unlock()
}

// ChildSubreaper reports PR_GET_CHILD_SUBREAPER.
func (tg *ThreadGroup) ChildSubreaper() bool {
	tg.k.treeMu.Lock()
	defer tg.k.treeMu.Unlock()
	return tg.subreaper
}
