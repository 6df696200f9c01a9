package kernel

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/abi/sysno"
)

// handleSignals runs between application events on the task goroutine: it
// waits out a group stop, delivers pending signals (running their default
// action or setting up a handler frame), and finishes an interrupted
// system call by restarting it or failing it with EINTR.
func (t *Task) handleSignals() {
	for !t.exiting.Load() {
		t.tg.mu.Lock()
		stopped := t.tg.stopped
		t.tg.mu.Unlock()
		if stopped != nil {
			t.waitStopped(stopped)
			continue
		}
		info, ok := t.dequeueSignal(t.sigMask.Load())
		if !ok {
			break
		}
		sig := unix.Signal(info.Signo)
		act := t.tg.SigAction(int(sig))
		switch act.Handler {
		case SigIgnore:
			continue
		case SigDefault:
			if !kernelOnly(sig) && t.tg.isUnkillable() {
				// The sandbox's init takes no default action but
				// SIGKILL's and SIGSTOP's (signals it had blocked when
				// they were sent end here).
				continue
			}
			switch defaultActionOf(sig) {
			case actIgnore, actContinue:
				continue
			case actStop:
				t.tg.mu.Lock()
				started := t.tg.stopLocked()
				t.tg.mu.Unlock()
				if started {
					t.tg.notifyStop(false, sig)
				}
				continue
			case actCore:
				// The sandbox writes no core files; like Linux, the status
				// says a dump happened only when RLIMIT_CORE allowed one.
				t.tg.exitGroup(Signaled(sig, t.tg.limits.Get(unix.RLIMIT_CORE).Cur > 0))
				return
			default:
				t.tg.exitGroup(Signaled(sig, false))
				return
			}
		}
		t.deliverHandler(info, act)
		return
	}
	t.finishRestart(false, 0)
}

// waitStopped blocks the task while its process is stopped.
func (t *Task) waitStopped(stopped chan struct{}) {
	select {
	case <-stopped:
	case <-t.interrupt:
		// SIGKILL or exit: the loop rechecks.
	}
}

// finishRestart resolves an interrupted system call: handler says whether
// a signal handler is about to run (with flags its sa_flags).
func (t *Task) finishRestart(handler bool, flags uint64) {
	err := t.restartErr
	if err == nil {
		return
	}
	t.restartErr = nil
	restart := true
	if handler {
		switch err {
		case ERESTARTNOHAND, ERESTART_RESTARTBLOCK:
			restart = false
		case ERESTARTSYS:
			restart = flags&saRestart != 0
		}
	}
	if !restart {
		t.regs.Rax = negErrno(unix.EINTR)
		t.restartBlock = nil
		return
	}
	t.regs.Rip -= 2 // back over the syscall instruction
	if err == ERESTART_RESTARTBLOCK {
		t.regs.Rax = sysno.RestartSyscall
	} else {
		t.regs.Rax = t.regs.Orig_rax
	}
}

// deliverHandler runs a signal's handler: resolve the interrupted call,
// build the frame, and block the handler's mask.
func (t *Task) deliverHandler(info SignalInfo, act SigAction) {
	sig := unix.Signal(info.Signo)
	t.finishRestart(true, act.Flags)
	oldMask := t.sigMask.Load()
	if t.hasSavedMask {
		oldMask = t.savedMask
		t.hasSavedMask = false
	}
	if err := t.setupSignalFrame(info, act, oldMask); err != nil {
		// The stack is unusable: Linux kills with SIGSEGV.
		t.Debugf("signal %v: cannot set up frame: %v", sig, err)
		t.tg.exitGroup(Signaled(unix.SIGSEGV, true))
		return
	}
	newMask := oldMask | act.Mask
	if act.Flags&saNoDefer == 0 {
		newMask |= sigBit(sig)
	}
	t.SetSignalMask(newMask)
	if act.Flags&saResetHand != 0 {
		t.tg.mu.Lock()
		t.tg.actions[sig-1] = SigAction{}
		t.tg.mu.Unlock()
	}
}

// SetSavedSignalMask makes mask the one restored after the next handler
// (rt_sigsuspend, pselect, ppoll): the caller has installed a temporary
// mask.
func (t *Task) SetSavedSignalMask(mask uint64) {
	t.savedMask = mask
	t.hasSavedMask = true
}

// RestoreSavedSignalMask puts back a saved mask if no handler consumed it.
func (t *Task) RestoreSavedSignalMask() {
	if t.hasSavedMask {
		t.SetSignalMask(t.savedMask)
		t.hasSavedMask = false
	}
}

// SetRestartBlock records how restart_syscall(2) continues an interrupted
// call that returns ERESTART_RESTARTBLOCK.
func (t *Task) SetRestartBlock(f func(t *Task) (uintptr, error)) { t.restartBlock = f }

// RestartSyscall runs the recorded restart block (restart_syscall(2)).
func (t *Task) RestartSyscall() (uintptr, error) {
	f := t.restartBlock
	t.restartBlock = nil
	if f == nil {
		return 0, unix.EINTR
	}
	return f(t)
}

// isUnkillable reports whether tg is the sandbox's init and has not taken
// a fault it does not handle.
func (tg *ThreadGroup) isUnkillable() bool {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.unkillable
}
