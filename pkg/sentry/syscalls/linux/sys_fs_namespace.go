package linux

// System calls that add, remove and rename names: mkdir, mknod, symlink,
// link, unlink, rmdir and rename, with their *at forms. The checks Linux
// makes live in vfs; these only decode arguments.

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

// resolveArg copies in a path argument and returns where it resolves from.
func resolveArg(t *kernel.Task, dirfd int32, pathAddr uintptr, follow bool) (vfs.Resolution, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return vfs.Resolution{}, err
	}
	return t.Resolution(dirfd, path, follow, false)
}

func mkdirAt(t *kernel.Task, dirfd int32, pathAddr uintptr, mode uint32) (uintptr, error) {
	r, err := resolveArg(t, dirfd, pathAddr, false)
	if err != nil {
		return 0, err
	}
	mode = mode & 0o7777 &^ t.FSContext().Umask()
	return 0, t.Kernel().VFS.MkdirAt(t, r, mode)
}

// Mkdir implements mkdir(2).
func Mkdir(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return mkdirAt(t, kernel.AtFDCWD, a[0], argUint(a[1]))
}

// Mkdirat implements mkdirat(2).
func Mkdirat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return mkdirAt(t, argFD(a[0]), a[1], argUint(a[2]))
}

func mknodAt(t *kernel.Task, dirfd int32, pathAddr uintptr, mode uint32, dev uint32) (uintptr, error) {
	r, err := resolveArg(t, dirfd, pathAddr, false)
	if err != nil {
		return 0, err
	}
	mode = mode&unix.S_IFMT | mode&0o7777&^t.FSContext().Umask()
	return 0, t.Kernel().VFS.MknodAt(t, r, mode, uint64(dev))
}

// Mknod implements mknod(2).
func Mknod(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return mknodAt(t, kernel.AtFDCWD, a[0], argUint(a[1]), argUint(a[2]))
}

// Mknodat implements mknodat(2).
func Mknodat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return mknodAt(t, argFD(a[0]), a[1], argUint(a[2]), argUint(a[3]))
}

func symlinkAt(t *kernel.Task, targetAddr uintptr, dirfd int32, pathAddr uintptr) (uintptr, error) {
	target, err := copyInPath(t, targetAddr)
	if err != nil {
		return 0, err
	}
	r, err := resolveArg(t, dirfd, pathAddr, false)
	if err != nil {
		return 0, err
	}
	return 0, t.Kernel().VFS.SymlinkAt(t, r, target)
}

// Symlink implements symlink(2).
func Symlink(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return symlinkAt(t, a[0], kernel.AtFDCWD, a[1])
}

// Symlinkat implements symlinkat(2).
func Symlinkat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return symlinkAt(t, a[0], argFD(a[1]), a[2])
}

func linkAt(t *kernel.Task, olddirfd int32, oldAddr uintptr, newdirfd int32, newAddr uintptr, flags uint32) (uintptr, error) {
	if flags&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	oldPath, err := copyInPath(t, oldAddr)
	if err != nil {
		return 0, err
	}
	emptyOK := flags&unix.AT_EMPTY_PATH != 0
	if emptyOK && oldPath == "" && !t.Credentials().HasCapability(capDACReadSearch) {
		// Linking an open file by descriptor needs CAP_DAC_READ_SEARCH.
		return 0, unix.ENOENT
	}
	old, err := t.LookupAt(olddirfd, oldPath, flags&unix.AT_SYMLINK_FOLLOW != 0, emptyOK)
	if err != nil {
		return 0, err
	}
	r, err := resolveArg(t, newdirfd, newAddr, false)
	if err != nil {
		return 0, err
	}
	return 0, t.Kernel().VFS.LinkAt(t, old, r)
}

// capDACReadSearch is CAP_DAC_READ_SEARCH.
const capDACReadSearch = 2

// Link implements link(2).
func Link(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return linkAt(t, kernel.AtFDCWD, a[0], kernel.AtFDCWD, a[1], 0)
}

// Linkat implements linkat(2).
func Linkat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return linkAt(t, argFD(a[0]), a[1], argFD(a[2]), a[3], argUint(a[4]))
}

func unlinkAt(t *kernel.Task, dirfd int32, pathAddr uintptr, flags uint32) (uintptr, error) {
	if flags&^unix.AT_REMOVEDIR != 0 {
		return 0, unix.EINVAL
	}
	r, err := resolveArg(t, dirfd, pathAddr, false)
	if err != nil {
		return 0, err
	}
	if flags&unix.AT_REMOVEDIR != 0 {
		return 0, t.Kernel().VFS.RmdirAt(t, r)
	}
	return 0, t.Kernel().VFS.UnlinkAt(t, r)
}

// Unlink implements unlink(2).
func Unlink(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return unlinkAt(t, kernel.AtFDCWD, a[0], 0)
}

// Unlinkat implements unlinkat(2).
func Unlinkat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return unlinkAt(t, argFD(a[0]), a[1], argUint(a[2]))
}

// Rmdir implements rmdir(2).
func Rmdir(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return unlinkAt(t, kernel.AtFDCWD, a[0], unix.AT_REMOVEDIR)
}

func renameAt(t *kernel.Task, olddirfd int32, oldAddr uintptr, newdirfd int32, newAddr uintptr, flags uint32) (uintptr, error) {
	oldR, err := resolveArg(t, olddirfd, oldAddr, false)
	if err != nil {
		return 0, err
	}
	newR, err := resolveArg(t, newdirfd, newAddr, false)
	if err != nil {
		return 0, err
	}
	return 0, t.Kernel().VFS.RenameAt(t, oldR, newR, flags)
}

// Rename implements rename(2).
func Rename(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return renameAt(t, kernel.AtFDCWD, a[0], kernel.AtFDCWD, a[1], 0)
}

// Renameat implements renameat(2).
func Renameat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return renameAt(t, argFD(a[0]), a[1], argFD(a[2]), a[3], 0)
}

// Renameat2 implements renameat2(2).
func Renameat2(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return renameAt(t, argFD(a[0]), a[1], argFD(a[2]), a[3], argUint(a[4]))
}
