package linux

// Flushing: fsync, fdatasync, sync, syncfs, sync_file_range.

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/pipe"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

func fsync(t *kernel.Task, fd int32, dataOnly bool) (uintptr, error) {
	f, err := t.GetFile(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	return 0, f.Sync(t, dataOnly)
}

// Fsync implements fsync(2).
func Fsync(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return fsync(t, argFD(a[0]), false)
}

// Fdatasync implements fdatasync(2).
func Fdatasync(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return fsync(t, argFD(a[0]), true)
}

// Sync implements sync(2).
func Sync(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	t.Kernel().VFS.SyncAll(t)
	return 0, nil
}

// Syncfs implements syncfs(2).
func Syncfs(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	if vd := f.VirtualDentry(); vd.Ok() {
		if s, ok := vd.Dentry.Filesystem().FS.(vfs.FilesystemSyncer); ok {
			return 0, s.SyncFS(t)
		}
	}
	return 0, nil
}

// sync_file_range flags, from linux/fs.h.
const (
	syncFileRangeWaitBefore = 1
	syncFileRangeWrite      = 2
	syncFileRangeWaitAfter  = 4
)

// SyncFileRange implements sync_file_range(2). Postgres needs it to exist;
// a range is flushed by flushing the whole file.
func SyncFileRange(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	off, nbytes, flags := argInt64(a[1]), argInt64(a[2]), argUint(a[3])
	if flags&^(syncFileRangeWaitBefore|syncFileRangeWrite|syncFileRangeWaitAfter) != 0 {
		return 0, unix.EINVAL
	}
	if off < 0 || nbytes < 0 || off+nbytes < off {
		return 0, unix.EINVAL
	}
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	switch vfs.FileType(st.Mode) {
	case unix.S_IFREG, unix.S_IFBLK, unix.S_IFDIR, unix.S_IFLNK:
	default:
		return 0, unix.ESPIPE
	}
	if flags&syncFileRangeWrite == 0 {
		return 0, nil
	}
	return 0, f.Sync(t, true)
}

// Fadvise64 implements fadvise64(2): advice is checked and then ignored,
// as it only tunes caching.
func Fadvise64(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	length, advice := argInt64(a[2]), argInt(a[3])
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	if _, ok := f.Impl().(interface{ Pipe() *pipe.Pipe }); ok {
		return 0, unix.ESPIPE
	}
	if length < 0 || advice < unix.FADV_NORMAL || advice > unix.FADV_NOREUSE {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// Readahead implements readahead(2): a hint, taken for regular files open
// for reading (host files are read ahead by the host), EINVAL for others.
func Readahead(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.Flags()&unix.O_PATH != 0 || !f.IsReadable() {
		return 0, unix.EBADF
	}
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	if vfs.FileType(st.Mode) != unix.S_IFREG {
		return 0, unix.EINVAL
	}
	return 0, nil
}
