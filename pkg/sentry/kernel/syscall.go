package kernel

import (
	"errors"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/syserr"
)

// SyscallArgs are a system call's six argument registers
// (rdi, rsi, rdx, r10, r8, r9).
type SyscallArgs [6]uintptr

// SyscallFn implements one system call. It returns the value for rax, or an
// error: a unix.Errno is returned to the application as -errno.
type SyscallFn func(t *Task, args SyscallArgs) (uintptr, error)

// Syscall is one entry of the system call table.
type Syscall struct {
	Name string
	// Fn implements the call; nil means unimplemented (ENOSYS, logged once).
	Fn SyscallFn
}

// SyscallTable maps x86-64 system call numbers to their implementations.
type SyscallTable struct {
	Calls map[uintptr]Syscall
	// Name names a system call number that has no entry (for logs).
	Name func(sysno uintptr) string
}

// SyscallTracer observes system calls (--strace). Enter's result is passed
// to the matching Exit.
type SyscallTracer interface {
	Enter(t *Task, sysno uintptr, args SyscallArgs) any
	Exit(t *Task, sysno uintptr, args SyscallArgs, ret uintptr, err error, state any)
}

// Linux's internal restart errnos: never seen by applications, they make a
// system call interrupted by a signal restart or fail with EINTR.
const (
	ERESTARTSYS           = unix.Errno(512)
	ERESTARTNOINTR        = unix.Errno(513)
	ERESTARTNOHAND        = unix.Errno(514)
	ERESTART_RESTARTBLOCK = unix.Errno(516)
)

// doSyscall handles a system call stop: decode, trace, dispatch, return.
func (t *Task) doSyscall() {
	sysno := uintptr(t.regs.Orig_rax)
	args := SyscallArgs{
		uintptr(t.regs.Rdi), uintptr(t.regs.Rsi), uintptr(t.regs.Rdx),
		uintptr(t.regs.R10), uintptr(t.regs.R8), uintptr(t.regs.R9),
	}
	var state any
	if t.k.tracer != nil {
		state = t.k.tracer.Enter(t, sysno, args)
	}
	ret, err := t.executeSyscall(sysno, args)
	if t.k.tracer != nil {
		t.k.tracer.Exit(t, sysno, args, ret, err, state)
	}
	switch {
	case err == nil:
		t.regs.Rax = uint64(ret)
	case errors.Is(err, ErrNoReturn), errors.Is(err, errExitTask):
	default:
		var errno unix.Errno
		if !errors.As(err, &errno) {
			t.Debugf("system call %d: unexpected error %v; returning EIO", sysno, err)
			errno = unix.EIO
		}
		t.regs.Rax = uint64(-int64(errno))
		if syserr.IsRestart(errno) {
			// Signal handling decides: restart or EINTR.
			t.restartErr = errno
			t.regs.Rax = negErrno(unix.EINTR)
		}
	}
}

func (t *Task) executeSyscall(sysno uintptr, args SyscallArgs) (uintptr, error) {
	sc, ok := t.k.syscalls.Calls[sysno]
	if !ok || sc.Fn == nil {
		name := sc.Name
		if name == "" && t.k.syscalls.Name != nil {
			name = t.k.syscalls.Name(sysno)
		}
		t.k.warnUnimplemented(sysno, name)
		return 0, unix.ENOSYS
	}
	return sc.Fn(t, args)
}

// ExitGroup ends the task's process with the given exit code (exit_group).
func (t *Task) ExitGroup(code int) error {
	t.tg.exitGroup(Exited(code))
	return errExitTask
}

// ExitThread ends the calling thread (exit(2)). With a single thread it ends
// the process.
func (t *Task) ExitThread(code int) error {
	t.tg.mu.Lock()
	only := len(t.tg.tasks) == 1
	t.tg.mu.Unlock()
	if only {
		return t.ExitGroup(code)
	}
	t.exitStatus = Exited(code)
	t.exiting.Store(true)
	return errExitTask
}

// negErrno is the rax value of a system call failing with e.
func negErrno(e unix.Errno) uint64 { return uint64(-int64(e)) }
