package sandbox

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/seccomp"
)

// GoferCloneFlags are the namespaces the Gofer is started in: a mount
// namespace (for its pivot_root into the served tree), a PID namespace
// (its /proc then shows only itself), and IPC, UTS and network namespaces
// (it needs none of the host's).
const GoferCloneFlags = syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC |
	syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET

// GoferRoot is where the served tree is found in a confined Gofer.
const GoferRoot = "/root"

// Capabilities the Gofer keeps (linux/capability.h numbers).
const (
	capChown        = 0
	capDacOverride  = 1
	capDacReadSrch  = 2
	capFowner       = 3
	capFsetid       = 4
	capMknod        = 27
	capsReadOnly    = 1 << capDacReadSrch
	capsWritable    = capsReadOnly | 1<<capChown | 1<<capDacOverride | 1<<capFowner | 1<<capFsetid | 1<<capMknod
	goferTmpfsFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
)

// ConfineGofer locks the calling process (the Gofer, started with
// GoferCloneFlags) into root, the tree it serves. In its own mount
// namespace it builds a new root, an empty tmpfs holding
//
//	/root  a recursive bind of root (read-only throughout when readOnly;
//	       nosuid and nodev always)
//	/proc  a proc of its own PID namespace, read-only, with only the
//	       process directories (subset=pid): fsgofer reopens files
//	       through /proc/self/fd
//
// pivot_roots into it and detaches the host's root, so that no host file
// outside root can be named even by a compromised Gofer. It then sets
// no_new_privs, keeps only the capabilities file serving needs
// (CAP_DAC_READ_SEARCH read-only; CAP_CHOWN, CAP_DAC_OVERRIDE,
// CAP_FOWNER, CAP_FSETID and CAP_MKNOD as well for a writable tree) and
// installs the Gofer's seccomp filter (seccomp.GoferFilter; RUNSC_SECCOMP
// applies as for the Sentry). It returns the served tree's new path,
// GoferRoot.
func ConfineGofer(root string, readOnly bool) (string, error) {
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return "", fmt.Errorf("making mounts private: %w", err)
	}
	// Take a detached copy of the tree first: the tmpfs below is mounted
	// on a host path, which may lie inside root (root may be "/").
	tree, err := unix.OpenTree(unix.AT_FDCWD, root, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return "", fmt.Errorf("cloning the mount tree of %s: %w", root, err)
	}
	defer unix.Close(tree)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if readOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return "", fmt.Errorf("restricting the served tree: %w", err)
	}
	const dir = "/tmp"
	if err := unix.Mount("runsc-gofer", dir, "tmpfs", goferTmpfsFlags, "mode=0755,size=16k,nr_inodes=8"); err != nil {
		return "", fmt.Errorf("mounting the gofer's root: %w", err)
	}
	for _, d := range []string{dir + GoferRoot, dir + "/proc"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, dir+GoferRoot, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return "", fmt.Errorf("attaching the served tree: %w", err)
	}
	if err := unix.Mount("proc", dir+"/proc", "proc", goferTmpfsFlags|unix.MS_RDONLY, "subset=pid"); err != nil {
		return "", fmt.Errorf("mounting /proc: %w", err)
	}
	if err := unix.Chdir(dir); err != nil {
		return "", err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return "", fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return "", fmt.Errorf("unmounting the host root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return "", err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|goferTmpfsFlags, ""); err != nil {
		return "", fmt.Errorf("making the gofer's root read-only: %w", err)
	}
	caps := uint32(capsWritable)
	if readOnly {
		caps = capsReadOnly
	}
	if err := keepCapabilities(caps); err != nil {
		return "", err
	}
	if deny, ok := seccompDeny(); ok {
		prog, err := seccomp.GoferFilter(readOnly).Program(deny)
		if err != nil {
			return "", fmt.Errorf("building the gofer's seccomp filter: %w", err)
		}
		if err := seccomp.Install(prog); err != nil {
			return "", err
		}
	}
	return GoferRoot, nil
}

// keepCapabilities sets no_new_privs and reduces every thread's bounding,
// effective and permitted sets to caps (capabilities 0..31), with empty
// inheritable and ambient sets.
func keepCapabilities(caps uint32) error {
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("setting no_new_privs: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 && e != unix.EINVAL {
		return fmt.Errorf("clearing ambient capabilities: %w", e)
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if c < 32 && caps&(1<<c) != 0 {
			continue
		}
		_, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0, 0)
		if e != 0 && e != unix.EINVAL {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, e)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{{Effective: caps, Permitted: caps}}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("reducing capabilities: %w", e)
	}
	return nil
}
