package linux

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/pipe"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/vfs"
)

// validOpenFlags are the flags openat(2) accepts; others are ignored by
// Linux except in openat2, which rejects them.
const validOpenFlags = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC |
	unix.O_APPEND | unix.O_NONBLOCK | unix.O_DSYNC | unix.O_ASYNC | unix.O_DIRECT | unix.O_LARGEFILE |
	unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NOATIME | unix.O_CLOEXEC | unix.O_SYNC | unix.O_PATH | unix.O_TMPFILE

func openAt(t *kernel.Task, dirfd int32, pathAddr uintptr, flags uint32, mode uint32) (uintptr, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	flags &= validOpenFlags
	if flags&unix.O_TMPFILE == unix.O_TMPFILE {
		return 0, unix.EOPNOTSUPP
	}
	r, err := t.Resolution(dirfd, path, flags&unix.O_NOFOLLOW == 0, false)
	if err != nil {
		return 0, err
	}
	mode = mode &^ t.FSContext().Umask()
	f, err := t.Kernel().VFS.OpenAt(t, r, flags|unix.O_LARGEFILE, mode)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	fd, err := t.NewFD(f, flags&unix.O_CLOEXEC != 0)
	return uintptr(fd), err
}

// Openat implements openat(2).
func Openat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return openAt(t, argFD(a[0]), a[1], argUint(a[2]), argUint(a[3]))
}

// Open implements open(2).
func Open(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return openAt(t, kernel.AtFDCWD, a[0], argUint(a[1]), argUint(a[2]))
}

// Creat implements creat(2).
func Creat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return openAt(t, kernel.AtFDCWD, a[0], unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, argUint(a[1]))
}

// Close implements close(2).
func Close(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.FDTable().Remove(argFD(a[0]))
}

// CloseRange implements close_range(2).
func CloseRange(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	first, last, flags := argUint(a[0]), argUint(a[1]), argUint(a[2])
	if first > last || flags&^(unix.CLOSE_RANGE_CLOEXEC|unix.CLOSE_RANGE_UNSHARE) != 0 {
		return 0, unix.EINVAL
	}
	t.FDTable().CloseRange(first, last, flags&unix.CLOSE_RANGE_CLOEXEC != 0)
	return 0, nil
}

// Dup implements dup(2).
func Dup(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	fd, err := t.NewFD(f, false)
	return uintptr(fd), err
}

// Dup2 implements dup2(2).
func Dup2(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	oldfd, newfd := argFD(a[0]), argFD(a[1])
	f, err := t.GetFile(oldfd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if oldfd == newfd {
		return uintptr(newfd), nil
	}
	return uintptr(newfd), t.SetFD(newfd, f, false)
}

// Dup3 implements dup3(2).
func Dup3(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	oldfd, newfd, flags := argFD(a[0]), argFD(a[1]), argUint(a[2])
	if flags&^unix.O_CLOEXEC != 0 || oldfd == newfd {
		return 0, unix.EINVAL
	}
	f, err := t.GetFile(oldfd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return uintptr(newfd), t.SetFD(newfd, f, flags&unix.O_CLOEXEC != 0)
}

// Fcntl implements fcntl(2): descriptor and status flags, duplication,
// pipe sizes, and record locks (sys_lock.go).
func Fcntl(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	fd, cmd := argFD(a[0]), argInt(a[1])
	f, cloexec, err := t.FDTable().Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	switch cmd {
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC:
		min := argInt(a[2])
		if min < 0 {
			return 0, unix.EINVAL
		}
		nfd, err := t.NewFDFrom(min, f, cmd == unix.F_DUPFD_CLOEXEC)
		return uintptr(nfd), err
	case unix.F_GETFD:
		if cloexec {
			return unix.FD_CLOEXEC, nil
		}
		return 0, nil
	case unix.F_SETFD:
		return 0, t.FDTable().SetCloseOnExec(fd, argUint(a[2])&unix.FD_CLOEXEC != 0)
	case unix.F_GETFL:
		return uintptr(f.Flags()), nil
	case unix.F_SETFL:
		f.SetStatusFlags(argUint(a[2]))
		return 0, nil
	case unix.F_GETOWN, unix.F_GETSIG:
		return 0, nil
	case unix.F_GETLK, unix.F_SETLK, unix.F_SETLKW, fOFDGetlk, fOFDSetlk, fOFDSetlkw:
		return fcntlLock(t, f, cmd, a[2])
	case unix.F_GETPIPE_SZ, unix.F_SETPIPE_SZ:
		pf, ok := f.Impl().(*pipe.File)
		if !ok {
			return 0, unix.EBADF
		}
		if cmd == unix.F_GETPIPE_SZ {
			return uintptr(pf.Pipe().Capacity()), nil
		}
		size := argInt64(a[2])
		if size < 0 || size > 1<<31 {
			// Beyond what any pipe can be, even for root.
			return 0, unix.EINVAL
		}
		n, err := pf.Pipe().SetCapacity(uint64(size))
		return uintptr(n), err
	}
	return 0, unix.EINVAL
}

// Ioctl implements ioctl(2): FIONCLEX/FIOCLEX here, the rest by the file.
func Ioctl(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	fd, cmd := argFD(a[0]), argUint(a[1])
	f, err := t.GetFile(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	switch cmd {
	case fioclex:
		return 0, t.FDTable().SetCloseOnExec(fd, true)
	case fionclex:
		return 0, t.FDTable().SetCloseOnExec(fd, false)
	case fionbio:
		var v int32
		if err := copyInObj(t, a[2], &v); err != nil {
			return 0, err
		}
		fl := f.Flags() &^ unix.O_NONBLOCK
		if v != 0 {
			fl |= unix.O_NONBLOCK
		}
		f.SetStatusFlags(fl)
		return 0, nil
	}
	return f.Ioctl(t, cmd, a[2])
}

// Getcwd implements getcwd(2).
func Getcwd(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	fs := t.FSContext()
	path := t.Kernel().VFS.PathName(fs.Root(), fs.Cwd())
	b := append([]byte(path), 0)
	if uint64(len(b)) > uint64(a[1]) {
		return 0, unix.ERANGE
	}
	if _, err := t.CopyOut(a[0], b); err != nil {
		return 0, err
	}
	return uintptr(len(b)), nil
}

func checkDirSearchable(t *kernel.Task, vd vfs.VirtualDentry) error {
	st, err := vd.Dentry.Inode().Stat(t)
	if err != nil {
		return err
	}
	if vfs.FileType(st.Mode) != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	if !t.Credentials().CanAccess(uint32(st.Mode), st.Uid, st.Gid, auth.MayExecute, true) {
		return unix.EACCES
	}
	return nil
}

// Chdir implements chdir(2).
func Chdir(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	path, err := copyInPath(t, a[0])
	if err != nil {
		return 0, err
	}
	r, err := t.Resolution(kernel.AtFDCWD, path, true, false)
	if err != nil {
		return 0, err
	}
	vd, err := t.Kernel().VFS.GetDentry(t, r)
	if err != nil {
		return 0, err
	}
	if err := checkDirSearchable(t, vd); err != nil {
		return 0, err
	}
	t.FSContext().SetCwd(vd)
	return 0, nil
}

// Fchdir implements fchdir(2).
func Fchdir(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	vd := f.VirtualDentry()
	if !vd.Ok() {
		return 0, unix.ENOTDIR
	}
	if err := checkDirSearchable(t, vd); err != nil {
		return 0, err
	}
	t.FSContext().SetCwd(vd)
	return 0, nil
}

func accessAt(t *kernel.Task, dirfd int32, pathAddr uintptr, mode uint32, flags uint32) (uintptr, error) {
	if mode&^7 != 0 || flags&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	vd, err := t.LookupAt(dirfd, path, flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	if mode == unix.F_OK {
		return 0, nil
	}
	st, err := vd.Dentry.Inode().Stat(t)
	if err != nil {
		return 0, err
	}
	creds := t.Credentials()
	if flags&unix.AT_EACCESS == 0 {
		// access(2) checks with the real IDs.
		c := *creds
		c.FSUID, c.FSGID = creds.RealUID, creds.RealGID
		if creds.RealUID != 0 {
			c.Effective = 0
		}
		creds = &c
	}
	ft := vfs.FileType(st.Mode)
	if !creds.CanAccess(uint32(st.Mode), st.Uid, st.Gid, mode, ft == unix.S_IFDIR) {
		return 0, unix.EACCES
	}
	if mode&unix.W_OK != 0 && vd.Mount.ReadOnly && (ft == unix.S_IFREG || ft == unix.S_IFDIR || ft == unix.S_IFLNK) {
		return 0, unix.EROFS
	}
	return 0, nil
}

// Access implements access(2).
func Access(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return accessAt(t, kernel.AtFDCWD, a[0], argUint(a[1]), 0)
}

// Faccessat implements faccessat(2) (which has no flags argument).
func Faccessat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return accessAt(t, argFD(a[0]), a[1], argUint(a[2]), 0)
}

// Faccessat2 implements faccessat2(2).
func Faccessat2(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return accessAt(t, argFD(a[0]), a[1], argUint(a[2]), argUint(a[3]))
}

func readlinkAt(t *kernel.Task, dirfd int32, pathAddr, buf uintptr, size int32) (uintptr, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	if size <= 0 {
		return 0, unix.EINVAL
	}
	// An empty path names dirfd itself (an O_PATH descriptor of a symlink).
	vd, err := t.LookupAt(dirfd, path, false, true)
	if err != nil {
		return 0, err
	}
	target, err := vd.Dentry.Inode().Readlink(t)
	if err != nil {
		return 0, err
	}
	b := []byte(target)
	if len(b) > int(size) {
		b = b[:size]
	}
	n, err := t.CopyOut(buf, b)
	if err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

// Readlink implements readlink(2).
func Readlink(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return readlinkAt(t, kernel.AtFDCWD, a[0], a[1], argInt(a[2]))
}

// Readlinkat implements readlinkat(2).
func Readlinkat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return readlinkAt(t, argFD(a[0]), a[1], a[2], argInt(a[3]))
}

// getdents writes linux_dirent64 (or the old linux_dirent for getdents)
// records into the buffer.
func getdents(t *kernel.Task, a kernel.SyscallArgs, dirent64 bool) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	size := argUint(a[2])
	buf := make([]byte, 0, min(size, 1<<16))
	tooSmall := false
	err = f.IterDirents(t, func(d vfs.Dirent) bool {
		var rec []byte
		if dirent64 {
			// ino u64, off s64, reclen u16, type u8, name, NUL; 8-aligned.
			reclen := (19 + len(d.Name) + 1 + 7) &^ 7
			rec = make([]byte, reclen)
			binary.LittleEndian.PutUint64(rec[0:], d.Ino)
			binary.LittleEndian.PutUint64(rec[8:], uint64(d.NextOff))
			binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
			rec[18] = d.Type
			copy(rec[19:], d.Name)
		} else {
			// ino ulong, off ulong, reclen u16, name, NUL, pad, type (last byte).
			reclen := (18 + len(d.Name) + 2 + 7) &^ 7
			rec = make([]byte, reclen)
			binary.LittleEndian.PutUint64(rec[0:], d.Ino)
			binary.LittleEndian.PutUint64(rec[8:], uint64(d.NextOff))
			binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
			copy(rec[18:], d.Name)
			rec[reclen-1] = d.Type
		}
		if uint32(len(buf)+len(rec)) > size {
			tooSmall = len(buf) == 0
			return false
		}
		buf = append(buf, rec...)
		return true
	})
	if err != nil {
		return 0, err
	}
	if tooSmall {
		return 0, unix.EINVAL
	}
	n, err := t.CopyOut(a[1], buf)
	if err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

// Getdents64 implements getdents64(2).
func Getdents64(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) { return getdents(t, a, true) }

// Getdents implements the old getdents(2).
func Getdents(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) { return getdents(t, a, false) }

// Umask implements umask(2).
func Umask(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return uintptr(t.FSContext().SwapUmask(argUint(a[0]))), nil
}
