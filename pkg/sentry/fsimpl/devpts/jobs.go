package devpts

import (
	"sync"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/syserr"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Job control. A terminal is the controlling terminal of at most one
// session, and a session has at most one controlling terminal; the kernel
// keeps no such link, so this package does (cttys). Processes are not
// linked to the terminal one by one: every process of the session has it
// as its controlling terminal, which is what Linux gives every process
// that did not call setsid since.

// sigIgn is SIG_IGN as a handler address.
const sigIgn = 1

type sessionKey struct {
	k   *kernel.Kernel
	sid int32
}

var (
	cttyMu sync.Mutex
	// cttys maps a session to its controlling terminal.
	cttys = map[sessionKey]*Terminal{}
)

// callerOf returns the task behind ctx, if it is one.
func callerOf(ctx vfs.Context) *kernel.Task {
	t, _ := ctx.(*kernel.Task)
	return t
}

// acquireLocked makes t the controlling terminal of task's session if the
// task leads a session without one and t has no session. t.mu is held.
func (t *Terminal) acquireLocked(task *kernel.Task) bool {
	tg := task.ThreadGroup()
	sid := tg.Session()
	if t.sid != 0 || sid != tg.PID() {
		return false
	}
	key := sessionKey{task.Kernel(), sid}
	cttyMu.Lock()
	defer cttyMu.Unlock()
	if _, has := cttys[key]; has {
		return false
	}
	cttys[key] = t
	t.k, t.sid, t.fgPgrp = task.Kernel(), sid, tg.ProcessGroup()
	return true
}

// releaseSessionLocked forgets t's session. t.mu is held.
func (t *Terminal) releaseSessionLocked() {
	if t.sid == 0 {
		return
	}
	cttyMu.Lock()
	key := sessionKey{t.k, t.sid}
	if cttys[key] == t {
		delete(cttys, key)
	}
	cttyMu.Unlock()
	t.sid, t.fgPgrp = 0, 0
}

// acquireOnOpen is open(2) of the slave without O_NOCTTY: a session leader
// without a controlling terminal gets this one.
func (t *Terminal) acquireOnOpen(ctx vfs.Context) {
	task := callerOf(ctx)
	if task == nil {
		return
	}
	t.mu.Lock()
	t.acquireLocked(task)
	t.mu.Unlock()
}

// autoAcquireLocked acquires the terminal for task if AcquireOnFirstUse
// asked for it. t.mu is held.
func (t *Terminal) autoAcquireLocked(task *kernel.Task) {
	if t.autoAcquire && t.acquireLocked(task) {
		t.autoAcquire = false
	}
}

// isCttyLocked reports whether t is task's controlling terminal.
func (t *Terminal) isCttyLocked(task *kernel.Task) bool {
	return t.sid != 0 && t.k == task.Kernel() && task.ThreadGroup().Session() == t.sid
}

// checkBackground applies job control to a read (SIGTTIN) or a write or
// terminal change (SIGTTOU) by the caller: a process of the terminal's
// session outside the foreground process group gets sig (its whole
// process group does) and the call is restarted once it continues, unless
// sig is ignored or blocked: then reads fail with EIO and writes go ahead.
func (t *Terminal) checkBackground(ctx vfs.Context, sig unix.Signal) error {
	task := callerOf(ctx)
	if task == nil {
		return nil
	}
	t.mu.Lock()
	t.autoAcquireLocked(task)
	if !t.isCttyLocked(task) {
		t.mu.Unlock()
		return nil
	}
	tg := task.ThreadGroup()
	pg := tg.ProcessGroup()
	if pg == t.fgPgrp {
		t.mu.Unlock()
		return nil
	}
	k := t.k
	t.mu.Unlock()
	ignored := tg.SigAction(int(sig)).Handler == sigIgn || task.SignalMask()&(1<<(uint(sig)-1)) != 0
	if ignored {
		if sig == unix.SIGTTIN {
			return unix.EIO
		}
		return nil
	}
	signalGroup(k, pg, sig)
	return syserr.ERESTARTSYS
}

// jobIoctl answers TIOCSCTTY, TIOCNOTTY, TIOCGPGRP, TIOCSPGRP and
// TIOCGSID.
func (t *Terminal) jobIoctl(ctx vfs.Context, cmd uint32, arg uintptr, master bool) (uintptr, error) {
	task := callerOf(ctx)
	if task == nil {
		return 0, unix.ENOTTY
	}
	if cmd == unix.TIOCSPGRP {
		if err := t.checkBackground(ctx, unix.SIGTTOU); err != nil {
			return 0, err
		}
	}
	t.mu.Lock()
	t.autoAcquireLocked(task)
	switch cmd {
	case unix.TIOCSCTTY:
		defer t.mu.Unlock()
		if t.isCttyLocked(task) {
			return 0, nil
		}
		if !t.acquireLocked(task) {
			return 0, unix.EPERM
		}
		return 0, nil
	case unix.TIOCNOTTY:
		if !t.isCttyLocked(task) {
			t.mu.Unlock()
			return 0, unix.ENOTTY
		}
		tg := task.ThreadGroup()
		if tg.PID() != t.sid {
			t.mu.Unlock()
			return 0, nil
		}
		// The session leader gives the terminal up: its foreground
		// process group hangs up.
		k, pg := t.k, t.fgPgrp
		t.releaseSessionLocked()
		t.mu.Unlock()
		signalGroup(k, pg, unix.SIGHUP)
		signalGroup(k, pg, unix.SIGCONT)
		return 0, nil
	case unix.TIOCGPGRP:
		if !master && !t.isCttyLocked(task) {
			t.mu.Unlock()
			return 0, unix.ENOTTY
		}
		pg := t.fgPgrp
		t.mu.Unlock()
		return 0, copyOutU32(ctx, arg, uint32(pg))
	case unix.TIOCGSID:
		if (!master && !t.isCttyLocked(task)) || t.sid == 0 {
			t.mu.Unlock()
			return 0, unix.ENOTTY
		}
		sid := t.sid
		t.mu.Unlock()
		return 0, copyOutU32(ctx, arg, uint32(sid))
	case unix.TIOCSPGRP:
		if !t.isCttyLocked(task) {
			t.mu.Unlock()
			return 0, unix.ENOTTY
		}
		sid, k := t.sid, t.k
		t.mu.Unlock()
		v, err := copyInU32(ctx, arg)
		if err != nil {
			return 0, err
		}
		pg := int32(v)
		if pg < 0 {
			return 0, unix.EINVAL
		}
		found := false
		for _, tg := range k.ThreadGroups() {
			if tg.ProcessGroup() == pg {
				if tg.Session() != sid {
					return 0, unix.EPERM
				}
				found = true
			}
		}
		if !found {
			return 0, unix.ESRCH
		}
		t.mu.Lock()
		if t.sid == sid {
			t.fgPgrp = pg
		}
		t.mu.Unlock()
		return 0, nil
	}
	t.mu.Unlock()
	return 0, unix.ENOTTY
}

// signalGroup sends sig to every process of process group pg.
func signalGroup(k *kernel.Kernel, pg int32, sig unix.Signal) {
	if k == nil || pg <= 0 {
		return
	}
	for _, tg := range k.ThreadGroups() {
		if tg.ProcessGroup() == pg {
			tg.SendSignal(kernel.SignalInfo{Signo: int32(sig), Code: kernel.SIKernel})
		}
	}
}

// signalProcess sends sig to process pid.
func signalProcess(k *kernel.Kernel, pid int32, sig unix.Signal) {
	if k == nil || pid <= 0 {
		return
	}
	if tg := k.ThreadGroupByPID(pid); tg != nil {
		tg.SendSignal(kernel.SignalInfo{Signo: int32(sig), Code: kernel.SIKernel})
	}
}

// OpenControllingTerminal opens the caller's controlling terminal as
// open(2) of /dev/tty does: a new file of the terminal's replica side,
// whatever the caller's permissions on it. ENXIO if the caller's session
// has no controlling terminal.
func OpenControllingTerminal(ctx vfs.Context) (vfs.FileImpl, error) {
	task := callerOf(ctx)
	if task == nil {
		return nil, unix.ENXIO
	}
	cttyMu.Lock()
	t := cttys[sessionKey{task.Kernel(), task.ThreadGroup().Session()}]
	cttyMu.Unlock()
	if t == nil {
		return nil, unix.ENXIO
	}
	return t.openSlave(true)
}
