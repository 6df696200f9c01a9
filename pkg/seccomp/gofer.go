package seccomp

import "golang.org/x/sys/unix"

// GoferFilter is what the Gofer (runsc gofer) may ask of the host while it
// serves a root over 9P: the Go runtime's needs, 9P on its socket
// (recvmsg/sendmsg, with FDs donated as SCM_RIGHTS), and the
// descriptor-relative file calls of package fsgofer (openat, fstatat,
// getdents64, readlinkat, fstatfs, fcntl's OFD locks, getxattr and listxattr,
// and, unless readOnly, mkdirat, symlinkat, mknodat, linkat, renameat,
// unlinkat, fchownat, fchmod, ftruncate, utimensat, fsync, setxattr and
// removexattr). It creates no socket and runs nothing.
//
// With readOnly, openat may not ask for write access, creation or
// truncation.
func GoferFilter(readOnly bool) Filter {
	f := goRuntimeFilter()
	f.Allow(
		unix.SYS_RECVMSG, unix.SYS_SENDMSG, unix.SYS_SHUTDOWN, unix.SYS_GETSOCKOPT, unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME,
		unix.SYS_PREAD64, unix.SYS_LSEEK, unix.SYS_GETDENTS64, unix.SYS_READLINKAT,
		unix.SYS_FSTATFS, unix.SYS_FSYNC, unix.SYS_FDATASYNC,
		// user.* extended attributes, by /proc/self/fd path or descriptor.
		unix.SYS_GETXATTR, unix.SYS_FGETXATTR, unix.SYS_LISTXATTR, unix.SYS_FLISTXATTR,
	)
	f.AllowIf(unix.SYS_NEWFSTATAT,
		Rule{{Index: 3, Value: unix.AT_SYMLINK_NOFOLLOW}},
		Rule{{Index: 3, Value: unix.AT_EMPTY_PATH | unix.AT_SYMLINK_NOFOLLOW}},
		Rule{{Index: 3, Value: unix.AT_EMPTY_PATH}},
	)
	// Tlock/Tgetlock: open file description locks on opened host files
	// (read locks work through a read-only root too).
	f.AllowIf(unix.SYS_FCNTL,
		Rule{{Index: 1, Value: unix.F_OFD_SETLK}},
		Rule{{Index: 1, Value: unix.F_OFD_GETLK}},
	)
	if readOnly {
		f.AllowIf(unix.SYS_OPENAT, Rule{{Index: 2, Mask: unix.O_ACCMODE | unix.O_CREAT | unix.O_TRUNC, Value: unix.O_RDONLY}})
		return f
	}
	f.Allow(
		unix.SYS_OPENAT, unix.SYS_PWRITE64, unix.SYS_MKDIRAT, unix.SYS_SYMLINKAT, unix.SYS_MKNODAT,
		unix.SYS_LINKAT, unix.SYS_RENAMEAT, unix.SYS_RENAMEAT2, unix.SYS_UNLINKAT, unix.SYS_FCHOWNAT,
		unix.SYS_FCHMOD, unix.SYS_FTRUNCATE, unix.SYS_UTIMENSAT, unix.SYS_FALLOCATE,
		unix.SYS_SETXATTR, unix.SYS_FSETXATTR, unix.SYS_REMOVEXATTR, unix.SYS_FREMOVEXATTR,
	)
	return f
}
