package sandbox

import (
	"fmt"
	"os"
	"syscall"

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

// goferTmpfsFlags are the mount flags of the Gofer's own root and /proc.
const goferTmpfsFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// GoferMount is a host path a confined Gofer serves besides its root: the
// source of one bind mount of the container.
type GoferMount struct {
	// Source is the host directory or regular file.
	Source string
	// ReadOnly refuses every change to it.
	ReadOnly bool
}

// GoferMountDir is where a confined Gofer finds its mounts: the i-th is at
// GoferMountDir/i.
const GoferMountDir = "/mnt"

// ConfineGofer locks the calling process (the Gofer, started with
// GoferCloneFlags) into root, the tree it serves, and mounts, the bind
// mount sources it serves besides. In its own mount namespace it builds a
// new root, an empty tmpfs holding
//
//	/root  a recursive bind of root (read-only throughout when readOnly;
//	       nosuid and nodev always)
//	/mnt/i a recursive bind of mounts[i].Source likewise (a file for a
//	       file source)
//	/proc  a proc of its own PID namespace, read-only, with only the
//	       process directories (subset=pid): fsgofer reopens files
//	       through /proc/self/fd
//
// pivot_roots into it and detaches the host's root, so that no host file
// outside root and the mounts can be named even by a compromised Gofer. It
// then sets no_new_privs, keeps only the capabilities file serving needs
// (CAP_DAC_READ_SEARCH when everything is read-only; CAP_CHOWN,
// CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID and CAP_MKNOD as well when any
// tree is writable) and installs the Gofer's seccomp filter
// (seccomp.GoferFilter; RUNSC_SECCOMP applies as for the Sentry). It
// returns the served tree's new path, GoferRoot, and the mounts' new paths.
func ConfineGofer(root string, readOnly bool, mounts []GoferMount) (string, []string, error) {
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return "", nil, fmt.Errorf("making mounts private: %w", err)
	}
	// Take detached copies of the trees first: the tmpfs below is mounted
	// on a host path, which may lie inside root (root may be "/") or hold
	// a mount's source.
	tree, _, err := cloneTree(root, readOnly)
	if err != nil {
		return "", nil, err
	}
	defer unix.Close(tree)
	allReadOnly := readOnly
	mountTrees := make([]int, len(mounts))
	mountIsDir := make([]bool, len(mounts))
	paths := make([]string, len(mounts))
	for i, m := range mounts {
		t, isDir, err := cloneTree(m.Source, m.ReadOnly)
		if err != nil {
			return "", nil, err
		}
		defer unix.Close(t)
		mountTrees[i], mountIsDir[i] = t, isDir
		paths[i] = fmt.Sprintf("%s/%d", GoferMountDir, i)
		allReadOnly = allReadOnly && m.ReadOnly
	}
	const dir = "/tmp"
	opts := fmt.Sprintf("mode=0755,size=16k,nr_inodes=%d", 8+len(mounts))
	if err := unix.Mount("runsc-gofer", dir, "tmpfs", goferTmpfsFlags, opts); err != nil {
		return "", nil, fmt.Errorf("mounting the gofer's root: %w", err)
	}
	for _, d := range []string{dir + GoferRoot, dir + "/proc", dir + GoferMountDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", nil, err
		}
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, dir+GoferRoot, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return "", nil, fmt.Errorf("attaching the served tree: %w", err)
	}
	for i, t := range mountTrees {
		at := dir + paths[i]
		if mountIsDir[i] {
			err = os.Mkdir(at, 0o755)
		} else {
			var f *os.File
			if f, err = os.OpenFile(at, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
		if err != nil {
			return "", nil, err
		}
		if err := unix.MoveMount(t, "", unix.AT_FDCWD, at, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return "", nil, fmt.Errorf("attaching mount source %s: %w", mounts[i].Source, err)
		}
	}
	if err := unix.Mount("proc", dir+"/proc", "proc", goferTmpfsFlags|unix.MS_RDONLY, "subset=pid"); err != nil {
		return "", nil, fmt.Errorf("mounting /proc: %w", err)
	}
	if err := unix.Chdir(dir); err != nil {
		return "", nil, err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return "", nil, fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return "", nil, fmt.Errorf("unmounting the host root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return "", nil, err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|goferTmpfsFlags, ""); err != nil {
		return "", nil, fmt.Errorf("making the gofer's root read-only: %w", err)
	}
	readOnly = allReadOnly
	caps := goferCapsWritable
	if readOnly {
		caps = goferCapsReadOnly
	}
	if err := limitPrivileges(caps); err != nil {
		return "", nil, err
	}
	if deny, ok := seccompDeny(); ok {
		prog, err := seccomp.GoferFilter(readOnly).Program(deny)
		if err != nil {
			return "", nil, fmt.Errorf("building the gofer's seccomp filter: %w", err)
		}
		if err := seccomp.Install(prog); err != nil {
			return "", nil, err
		}
	}
	return GoferRoot, paths, nil
}

// cloneTree returns a detached recursive bind of path (open_tree), nosuid
// and nodev, read-only throughout when readOnly, and whether path is a
// directory.
func cloneTree(path string, readOnly bool) (int, bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return -1, false, fmt.Errorf("mount source %s: %w", path, err)
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, false, fmt.Errorf("cloning the mount tree of %s: %w", path, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if readOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		unix.Close(tree)
		return -1, false, fmt.Errorf("restricting the served tree %s: %w", path, err)
	}
	return tree, st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}
