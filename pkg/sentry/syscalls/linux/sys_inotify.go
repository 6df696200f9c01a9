package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/inotify"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/vfs"
)

// allInotifyBits are the mask bits inotify_add_watch(2) knows.
const allInotifyBits = unix.IN_ALL_EVENTS | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK |
	unix.IN_MASK_ADD | unix.IN_MASK_CREATE | unix.IN_ISDIR | unix.IN_ONESHOT

func inotifyInit(t *kernel.Task, flags uint32) (uintptr, error) {
	if flags&^(unix.IN_NONBLOCK|unix.IN_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	f := inotify.New(flags & unix.IN_NONBLOCK)
	defer f.DecRef()
	fd, err := t.NewFD(f, flags&unix.IN_CLOEXEC != 0)
	return uintptr(fd), err
}

// InotifyInit implements inotify_init(2).
func InotifyInit(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return inotifyInit(t, 0)
}

// InotifyInit1 implements inotify_init1(2).
func InotifyInit1(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return inotifyInit(t, argUint(a[0]))
}

// inotifyFile returns the inotify instance at fd (EBADF if fd is not
// open, EINVAL if it is not an inotify instance).
func inotifyFile(t *kernel.Task, fd int32) (*vfs.FileDescription, *inotify.Instance, error) {
	f, err := t.GetFile(fd)
	if err != nil {
		return nil, nil, err
	}
	in, ok := f.Impl().(*inotify.Instance)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EINVAL
	}
	return f, in, nil
}

// InotifyAddWatch implements inotify_add_watch(2).
func InotifyAddWatch(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	mask := argUint(a[2])
	if mask&allInotifyBits == 0 || mask&unix.IN_ALL_EVENTS == 0 {
		return 0, unix.EINVAL
	}
	if mask&unix.IN_MASK_ADD != 0 && mask&unix.IN_MASK_CREATE != 0 {
		return 0, unix.EINVAL
	}
	f, in, err := inotifyFile(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	path, err := copyInPath(t, a[1])
	if err != nil {
		return 0, err
	}
	vd, err := t.LookupAt(kernel.AtFDCWD, path, mask&unix.IN_DONT_FOLLOW == 0, false)
	if err != nil {
		return 0, err
	}
	st, err := vd.Dentry.Inode().Stat(t)
	if err != nil {
		return 0, err
	}
	isDir := vfs.FileType(st.Mode) == unix.S_IFDIR
	if mask&unix.IN_ONLYDIR != 0 && !isDir {
		return 0, unix.ENOTDIR
	}
	if !t.Credentials().CanAccess(uint32(st.Mode), st.Uid, st.Gid, auth.MayRead, isDir) {
		return 0, unix.EACCES
	}
	wd, err := in.AddWatch(vd.Dentry, mask)
	return uintptr(wd), err
}

// InotifyRmWatch implements inotify_rm_watch(2).
func InotifyRmWatch(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, in, err := inotifyFile(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, in.RmWatch(argInt(a[1]))
}
