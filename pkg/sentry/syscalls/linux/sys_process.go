package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// Clone implements clone(2) (x86-64 argument order: flags, stack,
// parent_tid, child_tid, tls).
func Clone(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	flags := uint64(a[0])
	tid, err := t.Clone(kernel.CloneArgs{
		Flags:      flags &^ 0xff,
		ExitSignal: unix.Signal(flags & 0xff),
		Stack:      a[1],
		ParentTID:  a[2],
		ChildTID:   a[3],
		TLS:        a[4],
	})
	return uintptr(tid), err
}

// Fork implements fork(2).
func Fork(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	tid, err := t.Clone(kernel.CloneArgs{ExitSignal: unix.SIGCHLD})
	return uintptr(tid), err
}

// Vfork implements vfork(2).
func Vfork(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	tid, err := t.Clone(kernel.CloneArgs{Flags: unix.CLONE_VM | unix.CLONE_VFORK, ExitSignal: unix.SIGCHLD})
	return uintptr(tid), err
}

// cloneArgs is struct clone_args of clone3(2) (version 2, 88 bytes).
type cloneArgs struct {
	Flags      uint64
	PIDFD      uint64
	ChildTID   uint64
	ParentTID  uint64
	ExitSignal uint64
	Stack      uint64
	StackSize  uint64
	TLS        uint64
	SetTID     uint64
	SetTIDSize uint64
	Cgroup     uint64
}

// Clone3 implements clone3(2).
func Clone3(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	size := a[1]
	if size < 64 || size > 4096 {
		return 0, unix.EINVAL
	}
	var ca cloneArgs
	buf := make([]byte, size)
	if _, err := t.CopyIn(a[0], buf); err != nil {
		return 0, err
	}
	// Bytes beyond what we understand must be zero (E2BIG otherwise).
	for _, b := range buf[min(size, 88):] {
		if b != 0 {
			return 0, unix.E2BIG
		}
	}
	if err := copyInObj(t, a[0], &ca); err != nil && size >= 88 {
		return 0, err
	}
	if size < 88 {
		ca.SetTID, ca.SetTIDSize, ca.Cgroup = 0, 0, 0
	}
	if ca.ExitSignal > kernel.NumSignals || ca.SetTIDSize != 0 || ca.Flags&(unix.CLONE_PIDFD|unix.CLONE_INTO_CGROUP) != 0 {
		return 0, unix.EINVAL
	}
	if (ca.Stack == 0) != (ca.StackSize == 0) {
		return 0, unix.EINVAL
	}
	stack := uintptr(0)
	if ca.Stack != 0 {
		stack = uintptr(ca.Stack + ca.StackSize)
	}
	tid, err := t.Clone(kernel.CloneArgs{
		Flags:      ca.Flags,
		ExitSignal: unix.Signal(ca.ExitSignal),
		Stack:      stack,
		ParentTID:  uintptr(ca.ParentTID),
		ChildTID:   uintptr(ca.ChildTID),
		TLS:        uintptr(ca.TLS),
	})
	return uintptr(tid), err
}

// wait options.
const (
	wNoHang     = 1
	wUntraced   = 2
	wStopped    = 2
	wExited     = 4
	wContinued  = 8
	wNoWait     = 0x1000000
	wNoThread   = 0x20000000
	wAll        = 0x40000000
	wClone      = 0x80000000
	pIDTypeAll  = 0
	pIDTypePID  = 1
	pIDTypePGID = 2
	pIDTypeFD   = 3
)

// Wait4 implements wait4(2).
func Wait4(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	pid, opts := argInt(a[0]), argUint(a[2])
	if opts&^(wNoHang|wUntraced|wContinued|wNoThread|wAll|wClone) != 0 {
		return 0, unix.EINVAL
	}
	o := kernel.WaitOptions{
		NoHang:    opts&wNoHang != 0,
		Exited:    true,
		Stopped:   opts&wUntraced != 0,
		Continued: opts&wContinued != 0,
		Clone:     opts&wClone != 0,
		All:       opts&wAll != 0,
	}
	switch {
	case pid > 0:
		o.PID = pid
	case pid == 0:
		o.PGID = t.ThreadGroup().ProcessGroup()
	case pid < -1:
		o.PGID = -pid
	}
	r, err := t.Wait(o)
	if err != nil {
		return 0, err
	}
	if r.PID == 0 {
		return 0, nil
	}
	if a[1] != 0 {
		st := int32(r.Status)
		if err := copyOutObj(t, a[1], &st); err != nil {
			return 0, err
		}
	}
	if a[3] != 0 {
		ru := unix.Rusage{Utime: durationToTimeval(r.UserTime), Stime: durationToTimeval(r.SysTime)}
		if err := copyOutObj(t, a[3], &ru); err != nil {
			return 0, err
		}
	}
	return uintptr(r.PID), nil
}

// Waitid implements waitid(2).
func Waitid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	idtype, id, opts := argInt(a[0]), argInt(a[1]), argUint(a[3])
	if opts&^(wNoHang|wStopped|wExited|wContinued|wNoWait|wNoThread|wAll|wClone) != 0 ||
		opts&(wExited|wStopped|wContinued) == 0 {
		return 0, unix.EINVAL
	}
	o := kernel.WaitOptions{
		NoHang:    opts&wNoHang != 0,
		Exited:    opts&wExited != 0,
		Stopped:   opts&wStopped != 0,
		Continued: opts&wContinued != 0,
		NoWait:    opts&wNoWait != 0,
		Clone:     opts&wClone != 0,
		All:       opts&wAll != 0,
	}
	nonblockPidfd := false
	switch idtype {
	case pIDTypeAll:
	case pIDTypePID:
		if id <= 0 {
			return 0, unix.EINVAL
		}
		o.PID = id
	case pIDTypePGID:
		if id < 0 {
			return 0, unix.EINVAL
		}
		o.PGID = id
		if id == 0 {
			o.PGID = t.ThreadGroup().ProcessGroup()
		}
	case pIDTypeFD:
		// A nonblocking pidfd makes waitid nonblocking, failing with EAGAIN
		// instead of reporting nothing.
		tg, nonblock, err := pidfdThreadGroup(t, id)
		if err != nil {
			return 0, err
		}
		o.Group, nonblockPidfd = tg, nonblock
		o.NoHang = o.NoHang || nonblock
	default:
		return 0, unix.EINVAL
	}
	r, err := t.Wait(o)
	if err != nil {
		return 0, err
	}
	if r.PID == 0 && nonblockPidfd {
		return 0, unix.EAGAIN
	}
	if a[2] != 0 {
		info := kernel.SignalInfo{}
		if r.PID != 0 {
			info.Signo = int32(unix.SIGCHLD)
			info.Code = r.Code
			info.SetPIDUID(r.PID, r.UID)
			info.SetStatus(r.SiStatus)
		}
		if _, err := t.CopyOut(a[2], kernel.SiginfoBytes(&info)); err != nil {
			return 0, err
		}
	}
	if a[4] != 0 {
		ru := unix.Rusage{Utime: durationToTimeval(r.UserTime), Stime: durationToTimeval(r.SysTime)}
		if err := copyOutObj(t, a[4], &ru); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Setsid implements setsid(2).
func Setsid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	sid, err := t.ThreadGroup().Setsid()
	return uintptr(sid), err
}

// Setpgid implements setpgid(2).
func Setpgid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.ThreadGroup().Setpgid(argInt(a[0]), argInt(a[1]))
}
