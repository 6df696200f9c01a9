package linux

import (
	"encoding/binary"
	"time"

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

// RtSigreturn implements rt_sigreturn(2).
func RtSigreturn(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.SignalReturn()
}

// stackT is stack_t.
type stackT struct {
	Addr  uint64
	Flags int32
	_     int32
	Size  uint64
}

// minSigStackSize is MINSIGSTKSZ on x86-64.
const minSigStackSize = 2048

// Sigaltstack implements sigaltstack(2).
func Sigaltstack(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	old := t.SignalStack()
	if a[0] != 0 {
		var ss stackT
		if err := copyInObj(t, a[0], &ss); err != nil {
			return 0, err
		}
		mode := ss.Flags & 0x7fffffff // SS_AUTODISARM (bit 31) is a flag
		if mode != 0 && mode != ssDisable && mode != ssOnStack {
			return 0, unix.EINVAL
		}
		if mode != ssDisable && ss.Size < minSigStackSize {
			return 0, unix.ENOMEM
		}
		if err := t.SetSignalStack(kernel.SignalStack{Addr: uintptr(ss.Addr), Flags: ss.Flags &^ ssOnStack, Size: ss.Size}); err != nil {
			return 0, err
		}
	}
	if a[1] != 0 {
		out := stackT{Addr: uint64(old.Addr), Flags: old.Flags, Size: old.Size}
		if err := copyOutObj(t, a[1], &out); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func userSignal(t *kernel.Task, sig unix.Signal, code int32) kernel.SignalInfo {
	info := kernel.SignalInfo{Signo: int32(sig), Code: code}
	info.SetPIDUID(t.ThreadGroup().PID(), t.Credentials().RealUID)
	return info
}

// mayKill reports whether t may signal a process owned by target
// (kill(2)'s permission rule).
func mayKill(t *kernel.Task, target *kernel.Task) bool {
	c, tc := t.Credentials(), target.Credentials()
	if c.HasCapability(5) { // CAP_KILL
		return true
	}
	return c.RealUID == tc.RealUID || c.RealUID == tc.SavedUID || c.EffectiveUID == tc.RealUID || c.EffectiveUID == tc.SavedUID
}

// Kill implements kill(2).
func Kill(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	pid, sig := argInt(a[0]), unix.Signal(argInt(a[1]))
	if sig < 0 || sig > kernel.NumSignals {
		return 0, unix.EINVAL
	}
	k := t.Kernel()
	var targets []*kernel.ThreadGroup
	switch {
	case pid > 0:
		tg := k.ThreadGroupByPID(pid)
		if tg == nil {
			return 0, unix.ESRCH
		}
		targets = append(targets, tg)
	case pid == -1:
		for _, tg := range k.ThreadGroups() {
			if tg.PID() != 1 && tg != t.ThreadGroup() {
				targets = append(targets, tg)
			}
		}
		if len(targets) == 0 {
			return 0, unix.ESRCH
		}
	default:
		pgid := -pid
		if pid == 0 {
			pgid = t.ThreadGroup().ProcessGroup()
		}
		for _, tg := range k.ThreadGroups() {
			if tg.ProcessGroup() == pgid {
				targets = append(targets, tg)
			}
		}
		if len(targets) == 0 {
			return 0, unix.ESRCH
		}
	}
	sent := false
	for _, tg := range targets {
		leader := k.TaskByTID(tg.PID())
		if leader != nil && !mayKill(t, leader) {
			continue
		}
		sent = true
		if sig != 0 {
			tg.SendSignal(userSignal(t, sig, kernel.SIUser))
		}
	}
	if !sent {
		return 0, unix.EPERM
	}
	return 0, nil
}

func tgkill(t *kernel.Task, tgid, tid int32, sig unix.Signal) error {
	if sig < 0 || sig > kernel.NumSignals || tid <= 0 {
		return unix.EINVAL
	}
	target := t.Kernel().TaskByTID(tid)
	if target == nil || (tgid > 0 && target.ThreadGroup().PID() != tgid) {
		return unix.ESRCH
	}
	if !mayKill(t, target) {
		return unix.EPERM
	}
	if sig != 0 {
		target.SendSignal(userSignal(t, sig, kernel.SITkill))
	}
	return nil
}

// Tkill implements tkill(2).
func Tkill(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, tgkill(t, 0, argInt(a[0]), unix.Signal(argInt(a[1])))
}

// Tgkill implements tgkill(2).
func Tgkill(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if argInt(a[0]) <= 0 {
		return 0, unix.EINVAL
	}
	return 0, tgkill(t, argInt(a[0]), argInt(a[1]), unix.Signal(argInt(a[2])))
}

// copyInSigInfo reads a siginfo_t from user memory at addr.
func copyInSigInfo(t *kernel.Task, addr uintptr) (kernel.SignalInfo, error) {
	var raw [128]byte
	if _, err := t.CopyIn(addr, raw[:]); err != nil {
		return kernel.SignalInfo{}, err
	}
	le := binary.LittleEndian
	info := kernel.SignalInfo{
		Signo: int32(le.Uint32(raw[0:])),
		Errno: int32(le.Uint32(raw[4:])),
		Code:  int32(le.Uint32(raw[8:])),
	}
	copy(info.Fields[:], raw[16:])
	return info, nil
}

func sigqueue(t *kernel.Task, tgid, tid int32, sig unix.Signal, infoAddr uintptr) error {
	if sig <= 0 || sig > kernel.NumSignals {
		return unix.EINVAL
	}
	info, err := copyInSigInfo(t, infoAddr)
	if err != nil {
		return err
	}
	info.Signo = int32(sig)
	// Applications may not pretend to be the kernel (or tkill).
	if (info.Code >= 0 || info.Code == kernel.SITkill) && (tgid != t.ThreadGroup().PID()) {
		return unix.EPERM
	}
	if tid == 0 {
		tg := t.Kernel().ThreadGroupByPID(tgid)
		if tg == nil {
			return unix.ESRCH
		}
		tg.SendSignal(info)
		return nil
	}
	target := t.Kernel().TaskByTID(tid)
	if target == nil || target.ThreadGroup().PID() != tgid {
		return unix.ESRCH
	}
	target.SendSignal(info)
	return nil
}

// RtSigqueueinfo implements rt_sigqueueinfo(2).
func RtSigqueueinfo(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, sigqueue(t, argInt(a[0]), 0, unix.Signal(argInt(a[1])), a[2])
}

// RtTgsigqueueinfo implements rt_tgsigqueueinfo(2).
func RtTgsigqueueinfo(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, sigqueue(t, argInt(a[0]), argInt(a[1]), unix.Signal(argInt(a[2])), a[3])
}

// RtSigpending implements rt_sigpending(2).
func RtSigpending(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if a[1] > sigsetSize {
		return 0, unix.EINVAL
	}
	set := t.PendingSignals() & t.SignalMask()
	b := []byte{byte(set), byte(set >> 8), byte(set >> 16), byte(set >> 24), byte(set >> 32), byte(set >> 40), byte(set >> 48), byte(set >> 56)}
	_, err := t.CopyOut(a[0], b[:a[1]])
	return 0, err
}

// RtSigsuspend implements rt_sigsuspend(2).
func RtSigsuspend(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if a[1] != sigsetSize {
		return 0, unix.EINVAL
	}
	var mask uint64
	if err := copyInObj(t, a[0], &mask); err != nil {
		return 0, err
	}
	t.SetSavedSignalMask(t.SignalMask())
	t.SetSignalMask(mask)
	return 0, t.Suspend()
}

// Pause implements pause(2).
func Pause(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.Suspend()
}

// RtSigtimedwait implements rt_sigtimedwait(2).
func RtSigtimedwait(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if a[3] != sigsetSize {
		return 0, unix.EINVAL
	}
	var set uint64
	if err := copyInObj(t, a[0], &set); err != nil {
		return 0, err
	}
	set &^= 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)
	var deadline time.Time
	if a[2] != 0 {
		var ts unix.Timespec
		if err := copyInObj(t, a[2], &ts); err != nil {
			return 0, err
		}
		if !validTimespec(ts) {
			return 0, unix.EINVAL
		}
		deadline = time.Now().Add(time.Duration(ts.Nano()))
	}
	info, err := t.WaitForSignal(set, deadline)
	if err != nil {
		if err == kernel.ERESTARTNOHAND {
			return 0, unix.EINTR
		}
		return 0, err
	}
	if a[1] != 0 {
		if _, err := t.CopyOut(a[1], kernel.SiginfoBytes(&info)); err != nil {
			return 0, err
		}
	}
	return uintptr(info.Signo), nil
}

// RestartSyscall implements restart_syscall(2).
func RestartSyscall(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return t.RestartSyscall()
}
