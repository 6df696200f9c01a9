package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// Extended attributes are not supported by the sandbox's file systems yet:
// the xattr calls answer as Linux does for a file system without xattr
// support, after checking that the file exists.

func xattrPath(t *kernel.Task, pathAddr uintptr, follow bool) error {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return err
	}
	_, err = t.LookupAt(kernel.AtFDCWD, path, follow, false)
	return err
}

func xattrFD(t *kernel.Task, fd int32) error {
	f, err := t.GetFile(fd)
	if err != nil {
		return err
	}
	f.DecRef()
	return nil
}

// Getxattr implements getxattr(2) and Lgetxattr lgetxattr(2).
func Getxattr(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if err := xattrPath(t, a[0], true); err != nil {
		return 0, err
	}
	return 0, unix.EOPNOTSUPP
}

// Lgetxattr implements lgetxattr(2).
func Lgetxattr(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if err := xattrPath(t, a[0], false); err != nil {
		return 0, err
	}
	return 0, unix.EOPNOTSUPP
}

// Fgetxattr implements fgetxattr(2).
func Fgetxattr(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if err := xattrFD(t, argFD(a[0])); err != nil {
		return 0, err
	}
	return 0, unix.EOPNOTSUPP
}
