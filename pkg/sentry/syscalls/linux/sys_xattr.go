package linux

// Extended attribute system calls: getxattr, setxattr, listxattr and
// removexattr, each by path (following symlinks), by path without following
// (l*) and by descriptor (f*). Argument limits follow fs/xattr.c; the
// checks on names, namespaces and permissions are vfs's.

import (
	"errors"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

// xattrTarget names the file an xattr call works on: a path, or an fd.
type xattrTarget int

const (
	xattrFollow   xattrTarget = iota // getxattr: a path, symlinks followed
	xattrNoFollow                    // lgetxattr: the symlink itself
	xattrFD                          // fgetxattr: an open file
)

// xattrFile resolves the first argument of an xattr call. An fd for a file
// with no place in the tree (a pipe, a socket) yields an empty dentry.
func xattrFile(t *kernel.Task, how xattrTarget, arg uintptr) (vfs.VirtualDentry, error) {
	if how == xattrFD {
		return fileTarget(t, argFD(arg))
	}
	return attrTarget(t, kernel.AtFDCWD, arg, how == xattrFollow, false)
}

// copyInXattrName copies an attribute name: ERANGE if it is empty or
// longer than XATTR_NAME_MAX, as strncpy_from_user into a 256-byte buffer.
func copyInXattrName(t *kernel.Task, addr uintptr) (string, error) {
	name, err := t.CopyInString(addr, vfs.XattrNameMax+1)
	if errors.Is(err, unix.ENAMETOOLONG) || err == nil && name == "" {
		return "", unix.ERANGE
	}
	return name, err
}

func getxattr(t *kernel.Task, how xattrTarget, a kernel.SyscallArgs) (uintptr, error) {
	vd, err := xattrFile(t, how, a[0])
	if err != nil {
		return 0, err
	}
	name, err := copyInXattrName(t, a[1])
	if err != nil {
		return 0, err
	}
	valueAddr, size := a[2], uint64(a[3])
	if !vd.Ok() {
		return 0, unix.EOPNOTSUPP
	}
	v, err := t.Kernel().VFS.GetXattr(t, vd, name)
	if err != nil {
		return 0, err
	}
	return copyOutXattr(t, valueAddr, size, vfs.XattrSizeMax, v)
}

// copyOutXattr answers a getxattr or listxattr whose result is b, for a
// buffer of size bytes at addr (size 0 asks for the length; sizes beyond
// limit count as limit): ERANGE if b does not fit.
func copyOutXattr(t *kernel.Task, addr uintptr, size, limit uint64, b []byte) (uintptr, error) {
	if size == 0 {
		return uintptr(len(b)), nil
	}
	if uint64(len(b)) > min(size, limit) {
		return 0, unix.ERANGE
	}
	if len(b) == 0 {
		return 0, nil
	}
	if n, err := t.CopyOut(addr, b); err != nil || n != len(b) {
		return 0, unix.EFAULT
	}
	return uintptr(len(b)), nil
}

func setxattr(t *kernel.Task, how xattrTarget, a kernel.SyscallArgs) (uintptr, error) {
	// Linux copies the name and value in before it looks the file up.
	name, err := copyInXattrName(t, a[1])
	if err != nil {
		return 0, err
	}
	valueAddr, size, flags := a[2], uint64(a[3]), argUint(a[4])
	if flags&^(vfs.XattrCreate|vfs.XattrReplace) != 0 {
		return 0, unix.EINVAL
	}
	if size > vfs.XattrSizeMax {
		return 0, unix.E2BIG
	}
	value := make([]byte, size)
	if size > 0 {
		if n, err := t.CopyIn(valueAddr, value); err != nil || n != len(value) {
			return 0, unix.EFAULT
		}
	}
	vd, err := xattrFile(t, how, a[0])
	if err != nil {
		return 0, err
	}
	if !vd.Ok() {
		return 0, unix.EOPNOTSUPP
	}
	return 0, t.Kernel().VFS.SetXattr(t, vd, name, value, flags)
}

func listxattr(t *kernel.Task, how xattrTarget, a kernel.SyscallArgs) (uintptr, error) {
	vd, err := xattrFile(t, how, a[0])
	if err != nil {
		return 0, err
	}
	listAddr, size := a[1], uint64(a[2])
	if !vd.Ok() {
		return 0, nil
	}
	names, err := t.Kernel().VFS.ListXattrs(t, vd)
	if err != nil {
		return 0, err
	}
	var buf []byte
	for _, n := range names {
		buf = append(buf, n...)
		buf = append(buf, 0)
	}
	if len(buf) > vfs.XattrListMax {
		return 0, unix.E2BIG
	}
	return copyOutXattr(t, listAddr, size, vfs.XattrListMax, buf)
}

func removexattr(t *kernel.Task, how xattrTarget, a kernel.SyscallArgs) (uintptr, error) {
	name, err := copyInXattrName(t, a[1])
	if err != nil {
		return 0, err
	}
	vd, err := xattrFile(t, how, a[0])
	if err != nil {
		return 0, err
	}
	if !vd.Ok() {
		return 0, unix.EOPNOTSUPP
	}
	return 0, t.Kernel().VFS.RemoveXattr(t, vd, name)
}

// xattrCall makes the system call that runs fn on the file how names.
func xattrCall(fn func(*kernel.Task, xattrTarget, kernel.SyscallArgs) (uintptr, error), how xattrTarget) kernel.SyscallFn {
	return func(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) { return fn(t, how, a) }
}

// The xattr system calls.
var (
	// Getxattr implements getxattr(2).
	Getxattr = xattrCall(getxattr, xattrFollow)
	// Lgetxattr implements lgetxattr(2).
	Lgetxattr = xattrCall(getxattr, xattrNoFollow)
	// Fgetxattr implements fgetxattr(2).
	Fgetxattr = xattrCall(getxattr, xattrFD)
	// Setxattr implements setxattr(2).
	Setxattr = xattrCall(setxattr, xattrFollow)
	// Lsetxattr implements lsetxattr(2).
	Lsetxattr = xattrCall(setxattr, xattrNoFollow)
	// Fsetxattr implements fsetxattr(2).
	Fsetxattr = xattrCall(setxattr, xattrFD)
	// Listxattr implements listxattr(2).
	Listxattr = xattrCall(listxattr, xattrFollow)
	// Llistxattr implements llistxattr(2).
	Llistxattr = xattrCall(listxattr, xattrNoFollow)
	// Flistxattr implements flistxattr(2).
	Flistxattr = xattrCall(listxattr, xattrFD)
	// Removexattr implements removexattr(2).
	Removexattr = xattrCall(removexattr, xattrFollow)
	// Lremovexattr implements lremovexattr(2).
	Lremovexattr = xattrCall(removexattr, xattrNoFollow)
	// Fremovexattr implements fremovexattr(2).
	Fremovexattr = xattrCall(removexattr, xattrFD)
)
