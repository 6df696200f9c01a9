package sandbox

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/seccomp"
)

// ConfineRoot takes the host's file system away from the calling process
// (the Sentry, started with IsolationCloneFlags): it makes its mount
// namespace private and pivot_roots into an empty read-only tmpfs, so that
// no host file is reachable by path (everything the Sentry needs is
// already an open FD). DropPrivileges then finishes the confinement: the
// Sentry keeps its capabilities in between only for what it does with no
// path (taking its network namespace's interfaces).
func ConfineRoot() error {
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
	return nil
}

// DropPrivileges sets no_new_privs and empties the bounding, ambient,
// effective, permitted and inheritable capability sets of every thread of
// the process (see limitPrivileges). The ptrace platform needs no
// capability: the Sentry only traces its own children, which it forks
// after this and which inherit the same (empty) capability sets.
func DropPrivileges() error {
	return limitPrivileges(0)
}

// InSandboxRoot reports whether the process sees no host files (Confine
// has run): its root directory is empty.
func InSandboxRoot() bool {
	ents, err := os.ReadDir("/")
	return err == nil && len(ents) == 0
}

// InstallSentryFilter installs the Sentry's seccomp filter for the named
// platform (seccomp.SentryFilter). It is on by default; RUNSC_SECCOMP
// changes what a call outside the list does: "log" lets it through and
// logs it (SECCOMP_RET_LOG: an audit line in the host's kernel log, with
// the call's number only), "trap" refuses it with SIGSYS, which the Go
// runtime reports as a crash with the call's arguments and stack (the
// reliable way to find a missing call or flag set), "off" installs no
// filter (a debugging aid).
// Otherwise the Sentry is killed on such a call. The filter also allows
// extra (what the network stack needs: see boot.NetworkFilter).
func InstallSentryFilter(platform string, extra seccomp.Filter) error {
	deny, ok := seccompDeny()
	if !ok {
		return nil
	}
	if platform == seccomp.PlatformSystrap && deny == seccomp.RetKillProcess {
		// systrap's stubs inherit this filter, and a kill here would win
		// over their own filter's trap of every application call. A trap
		// refuses the call just the same; in the Sentry the Go runtime
		// turns the SIGSYS into a crash with a stack trace.
		deny = seccomp.RetTrap
	}
	preloadLazyFiles()
	f := seccomp.SentryFilter(platform)
	f.Merge(extra)
	prog, err := f.Program(deny)
	if err != nil {
		return fmt.Errorf("building the seccomp filter: %w", err)
	}
	return seccomp.Install(prog)
}

// seccompDeny returns the action for calls outside a filter as
// RUNSC_SECCOMP says, and false when no filter is to be installed.
func seccompDeny() (uint32, bool) {
	switch os.Getenv("RUNSC_SECCOMP") {
	case "off", "0":
		return 0, false
	case "log":
		return seccomp.RetLog, true
	case "trap":
		return seccomp.RetTrap, true
	}
	return seccomp.RetKillProcess, true
}

// preloadLazyFiles makes the Go standard library read now the host files
// it would otherwise open on first use, once no open is allowed: the local
// time zone (/etc/localtime, for time.Local).
func preloadLazyFiles() {
	_, _ = time.Now().Local().Zone()
}
