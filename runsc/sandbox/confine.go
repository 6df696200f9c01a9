package sandbox

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/seccomp"
)

// Confine locks the calling process (the Sentry, started with
// IsolationCloneFlags) away from the host: it makes its mount namespace
// private, pivot_roots into an empty read-only tmpfs so that no host file
// is reachable by path (everything the Sentry needs is already an open FD),
// sets no_new_privs and drops every capability from all of its threads.
// The ptrace platform needs no capability: the Sentry only traces its own
// children, which it forks after this and which inherit the same (empty)
// capability sets.
func Confine() error {
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	// Any directory will do as the mount point: the tmpfs is only ever
	// visible in this process's mount namespace.
	const dir = "/tmp"
	if err := unix.Mount("runsc-root", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0555,size=4k,nr_inodes=2"); err != nil {
		return fmt.Errorf("mounting the empty root: %w", err)
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("entering the empty root: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; the
	// detaching unmount then removes it, leaving the empty tmpfs.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting the host root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("making the empty root read-only: %w", err)
	}
	return DropPrivileges()
}

// DropPrivileges sets no_new_privs and empties the bounding, ambient,
// effective, permitted and inheritable capability sets of every thread of
// the process.
//
// It needs syscall.AllThreadsSyscall, which works only in a binary built
// with CGO_ENABLED=0, as runsc is.
func DropPrivileges() error {
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0); e == unix.ENOTSUP {
		return errors.New("changing every thread's privileges needs a runsc built with CGO_ENABLED=0")
	}
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("setting no_new_privs: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 && e != unix.EINVAL {
		return fmt.Errorf("clearing ambient capabilities: %w", e)
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		_, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0, 0)
		if e != 0 && e != unix.EINVAL {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, e)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("dropping capabilities: %w", e)
	}
	return nil
}

// InSandboxRoot reports whether the process sees no host files (Confine
// has run): its root directory is empty.
func InSandboxRoot() bool {
	ents, err := os.ReadDir("/")
	return err == nil && len(ents) == 0
}

// InstallSentryFilter installs the Sentry's seccomp filter
// (seccomp.SentryFilter) when RUNSC_SECCOMP is set: "log" logs calls
// outside the list (SECCOMP_RET_LOG, for finding missing ones), anything
// else kills the Sentry on such a call. It is off by default until the
// list has been checked against the whole test suite.
func InstallSentryFilter() error {
	mode := os.Getenv("RUNSC_SECCOMP")
	if mode == "" {
		return nil
	}
	deny := uint32(seccomp.RetKillProcess)
	if mode == "log" {
		deny = seccomp.RetLog
	}
	prog, err := seccomp.SentryFilter().Program(deny)
	if err != nil {
		return fmt.Errorf("building the seccomp filter: %w", err)
	}
	return seccomp.Install(prog)
}
