package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// Getpid implements getpid(2).
func Getpid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return uintptr(t.ThreadGroup().PID()), nil
}

// Gettid implements gettid(2).
func Gettid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) { return uintptr(t.TID()), nil }

// Getppid implements getppid(2).
func Getppid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return uintptr(t.ThreadGroup().PPID()), nil
}

// Getuid implements getuid(2).
func Getuid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return uintptr(t.Credentials().RealUID), nil
}

// Geteuid implements geteuid(2).
func Geteuid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return uintptr(t.Credentials().EffectiveUID), nil
}

// Getgid implements getgid(2).
func Getgid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return uintptr(t.Credentials().RealGID), nil
}

// Getegid implements getegid(2).
func Getegid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return uintptr(t.Credentials().EffectiveGID), nil
}

func copyOutIDs(t *kernel.Task, addrs [3]uintptr, ids [3]uint32) error {
	for i, addr := range addrs {
		if err := copyOutObj(t, addr, &ids[i]); err != nil {
			return err
		}
	}
	return nil
}

// Getresuid implements getresuid(2).
func Getresuid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	c := t.Credentials()
	return 0, copyOutIDs(t, [3]uintptr{a[0], a[1], a[2]}, [3]uint32{c.RealUID, c.EffectiveUID, c.SavedUID})
}

// Getresgid implements getresgid(2).
func Getresgid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	c := t.Credentials()
	return 0, copyOutIDs(t, [3]uintptr{a[0], a[1], a[2]}, [3]uint32{c.RealGID, c.EffectiveGID, c.SavedGID})
}

// Getgroups implements getgroups(2).
func Getgroups(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	size := argInt(a[0])
	if size < 0 {
		return 0, unix.EINVAL
	}
	groups := t.Credentials().ExtraGIDs
	if size == 0 {
		return uintptr(len(groups)), nil
	}
	if int(size) < len(groups) {
		return 0, unix.EINVAL
	}
	for i := range groups {
		if err := copyOutObj(t, a[1]+uintptr(4*i), &groups[i]); err != nil {
			return 0, err
		}
	}
	return uintptr(len(groups)), nil
}

// Getpgrp implements getpgrp(2).
func Getpgrp(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return uintptr(t.ThreadGroup().ProcessGroup()), nil
}

// Getpgid implements getpgid(2).
func Getpgid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	tg, err := processByPID(t, argInt(a[0]))
	if err != nil {
		return 0, err
	}
	return uintptr(tg.ProcessGroup()), nil
}

// Getsid implements getsid(2).
func Getsid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	tg, err := processByPID(t, argInt(a[0]))
	if err != nil {
		return 0, err
	}
	return uintptr(tg.Session()), nil
}

// processByPID returns the caller's process for pid 0, else the process
// with that PID (ESRCH if none).
func processByPID(t *kernel.Task, pid int32) (*kernel.ThreadGroup, error) {
	if pid == 0 {
		return t.ThreadGroup(), nil
	}
	tg := t.Kernel().ThreadGroupByPID(pid)
	if pid < 0 || tg == nil {
		return nil, unix.ESRCH
	}
	return tg, nil
}
