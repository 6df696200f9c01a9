package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// PidfdOpen implements pidfd_open(2). The pidfd refers to the process
// whose thread-group leader is pid; it is always close-on-exec.
func PidfdOpen(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	pid, flags := argInt(a[0]), argUint(a[1])
	if flags&^unix.O_NONBLOCK != 0 || pid <= 0 {
		return 0, unix.EINVAL
	}
	target := t.Kernel().TaskByTID(pid)
	if target == nil {
		return 0, unix.ESRCH
	}
	tg := target.ThreadGroup()
	if tg.PID() != pid {
		// A thread other than the leader (PIDFD_THREAD is not supported).
		return 0, unix.EINVAL
	}
	f := kernel.NewPIDFD(tg, flags)
	defer f.DecRef()
	fd, err := t.NewFD(f, true)
	return uintptr(fd), err
}

// pidfdThreadGroup returns the process that pidfd refers to and whether
// the pidfd is nonblocking: EBADF if fd is not open or not a pidfd.
func pidfdThreadGroup(t *kernel.Task, fd int32) (*kernel.ThreadGroup, bool, error) {
	f, err := t.GetFile(fd)
	if err != nil {
		return nil, false, err
	}
	defer f.DecRef()
	p, ok := f.Impl().(*kernel.PIDFD)
	if !ok {
		return nil, false, unix.EBADF
	}
	return p.ThreadGroup(), f.Flags()&unix.O_NONBLOCK != 0, nil
}

// PidfdSendSignal implements pidfd_send_signal(2): kill(2) through a pidfd
// when info is NULL, rt_sigqueueinfo(2) otherwise. None of the flags
// (PIDFD_SIGNAL_THREAD and others) are supported.
func PidfdSendSignal(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	sig, infoAddr, flags := unix.Signal(argInt(a[1])), a[2], argUint(a[3])
	if flags != 0 || sig < 0 || sig > kernel.NumSignals {
		return 0, unix.EINVAL
	}
	tg, _, err := pidfdThreadGroup(t, argInt(a[0]))
	if err != nil {
		return 0, err
	}
	info := userSignal(t, sig, kernel.SIUser)
	if infoAddr != 0 {
		if info, err = copyInSigInfo(t, infoAddr); err != nil {
			return 0, err
		}
		if info.Signo != int32(sig) {
			return 0, unix.EINVAL
		}
		// Applications may not pretend to be the kernel (or tkill) to
		// another process.
		if tg != t.ThreadGroup() && (info.Code >= 0 || info.Code == kernel.SITkill) {
			return 0, unix.EPERM
		}
	}
	if tg.Reaped() {
		return 0, unix.ESRCH
	}
	if leader := t.Kernel().TaskByTID(tg.PID()); leader != nil && leader.ThreadGroup() == tg && !mayKill(t, leader) {
		return 0, unix.EPERM
	}
	if sig != 0 {
		tg.SendSignal(info)
	}
	return 0, nil
}

// capSysPtrace is CAP_SYS_PTRACE.
const capSysPtrace = 19

// mayAttach reports whether t may take target's files: ptrace's attach
// check on real credentials (PTRACE_MODE_ATTACH_REALCREDS): the same
// process, CAP_SYS_PTRACE, or a dumpable process whose user and group IDs
// all equal the caller's real ones.
func mayAttach(t, target *kernel.Task) bool {
	if t.ThreadGroup() == target.ThreadGroup() {
		return true
	}
	c, tc := t.Credentials(), target.Credentials()
	if c.HasCapability(capSysPtrace) {
		return true
	}
	return target.ThreadGroup().Dumpable() != 0 &&
		c.RealUID == tc.RealUID && c.RealUID == tc.EffectiveUID && c.RealUID == tc.SavedUID &&
		c.RealGID == tc.RealGID && c.RealGID == tc.EffectiveGID && c.RealGID == tc.SavedGID
}

// PidfdGetfd implements pidfd_getfd(2): a close-on-exec duplicate, in the
// caller, of descriptor targetfd of the pidfd's process.
func PidfdGetfd(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	targetFD, flags := argInt(a[1]), argUint(a[2])
	if flags != 0 {
		return 0, unix.EINVAL
	}
	tg, _, err := pidfdThreadGroup(t, argInt(a[0]))
	if err != nil {
		return 0, err
	}
	// The leader's descriptor table, while the leader lives.
	var leader *kernel.Task
	for _, task := range tg.Tasks() {
		if task.TID() == tg.PID() {
			leader = task
		}
	}
	if leader == nil {
		return 0, unix.ESRCH
	}
	if !mayAttach(t, leader) {
		return 0, unix.EPERM
	}
	f, _, err := leader.FDTable().Get(targetFD)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	fd, err := t.NewFD(f, true)
	return uintptr(fd), err
}
