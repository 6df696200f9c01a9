package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// sigaction is the kernel's struct sigaction for rt_sigaction(2) on x86-64.
type sigaction struct {
	Handler  uint64
	Flags    uint64
	Restorer uint64
	Mask     uint64
}

// sigsetSize is the only sigset size x86-64 accepts.
const sigsetSize = 8

// RtSigaction implements rt_sigaction(2). Dispositions are recorded;
// delivery of handled signals arrives with the signals issue.
func RtSigaction(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	sig := int(argInt(a[0]))
	if a[3] != sigsetSize {
		return 0, unix.EINVAL
	}
	if sig < 1 || sig > kernel.NumSignals {
		return 0, unix.EINVAL
	}
	tg := t.ThreadGroup()
	old := tg.SigAction(sig)
	if a[1] != 0 {
		var sa sigaction
		if err := copyInObj(t, a[1], &sa); err != nil {
			return 0, err
		}
		if _, err := tg.SetSigAction(sig, kernel.SigAction{
			Handler: uintptr(sa.Handler), Flags: sa.Flags, Restorer: uintptr(sa.Restorer), Mask: sa.Mask,
		}); err != nil {
			return 0, err
		}
	}
	if a[2] != 0 {
		out := sigaction{Handler: uint64(old.Handler), Flags: old.Flags, Restorer: uint64(old.Restorer), Mask: old.Mask}
		if err := copyOutObj(t, a[2], &out); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// RtSigprocmask implements rt_sigprocmask(2).
func RtSigprocmask(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	how := argInt(a[0])
	if a[3] != sigsetSize {
		return 0, unix.EINVAL
	}
	old := t.SignalMask()
	if a[1] != 0 {
		var set uint64
		if err := copyInObj(t, a[1], &set); err != nil {
			return 0, err
		}
		switch how {
		case unix.SIG_BLOCK:
			t.SetSignalMask(old | set)
		case unix.SIG_UNBLOCK:
			t.SetSignalMask(old &^ set)
		case unix.SIG_SETMASK:
			t.SetSignalMask(set)
		default:
			return 0, unix.EINVAL
		}
	}
	if a[2] != 0 {
		if err := copyOutObj(t, a[2], &old); err != nil {
			return 0, err
		}
	}
	return 0, nil
}
