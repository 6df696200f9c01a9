package linux

// System calls that change file attributes: chmod, chown, utimes and
// friends, truncate, fallocate. Permission rules live in vfs.SetAttrAt.

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

// attrTarget finds the file an attribute call names: a path relative to
// dirfd, or with AT_EMPTY_PATH and an empty path, dirfd itself.
func attrTarget(t *kernel.Task, dirfd int32, pathAddr uintptr, follow, emptyOK bool) (vfs.VirtualDentry, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	return t.LookupAt(dirfd, path, follow, emptyOK)
}

// fileTarget returns the place in the tree of the open file fd; O_PATH
// descriptors fail with EBADF.
func fileTarget(t *kernel.Task, fd int32) (vfs.VirtualDentry, error) {
	f, err := t.GetFile(fd)
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	defer f.DecRef()
	if f.Flags()&unix.O_PATH != 0 {
		return vfs.VirtualDentry{}, unix.EBADF
	}
	return f.VirtualDentry(), nil
}

func chmod(t *kernel.Task, vd vfs.VirtualDentry, mode uint32) error {
	if !vd.Ok() {
		// Pipes and sockets have nothing to change here.
		return nil
	}
	return t.Kernel().VFS.SetAttrAt(t, vd, vfs.SetAttr{Mask: unix.STATX_MODE, Mode: uint16(mode & 0o7777)}, false)
}

// Chmod implements chmod(2).
func Chmod(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	vd, err := attrTarget(t, kernel.AtFDCWD, a[0], true, false)
	if err != nil {
		return 0, err
	}
	return 0, chmod(t, vd, argUint(a[1]))
}

// Fchmod implements fchmod(2).
func Fchmod(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	vd, err := fileTarget(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, chmod(t, vd, argUint(a[1]))
}

func fchmodat(t *kernel.Task, dirfd int32, pathAddr uintptr, mode, flags uint32) (uintptr, error) {
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	vd, err := attrTarget(t, dirfd, pathAddr, flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	if flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
		st, err := vd.Dentry.Inode().Stat(t)
		if err != nil {
			return 0, err
		}
		if vfs.FileType(st.Mode) == unix.S_IFLNK {
			return 0, unix.EOPNOTSUPP
		}
	}
	return 0, chmod(t, vd, mode)
}

// Fchmodat implements fchmodat(2), which has no flags argument.
func Fchmodat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return fchmodat(t, argFD(a[0]), a[1], argUint(a[2]), 0)
}

// Fchmodat2 implements fchmodat2(2).
func Fchmodat2(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return fchmodat(t, argFD(a[0]), a[1], argUint(a[2]), argUint(a[3]))
}

func chown(t *kernel.Task, vd vfs.VirtualDentry, uid, gid uint32) error {
	if !vd.Ok() {
		return nil
	}
	var sa vfs.SetAttr
	if uid != ^uint32(0) {
		sa.Mask |= unix.STATX_UID
		sa.UID = uid
	}
	if gid != ^uint32(0) {
		sa.Mask |= unix.STATX_GID
		sa.GID = gid
	}
	if sa.Mask == 0 {
		return nil
	}
	return t.Kernel().VFS.SetAttrAt(t, vd, sa, false)
}

// Chown implements chown(2).
func Chown(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	vd, err := attrTarget(t, kernel.AtFDCWD, a[0], true, false)
	if err != nil {
		return 0, err
	}
	return 0, chown(t, vd, argUint(a[1]), argUint(a[2]))
}

// Lchown implements lchown(2).
func Lchown(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	vd, err := attrTarget(t, kernel.AtFDCWD, a[0], false, false)
	if err != nil {
		return 0, err
	}
	return 0, chown(t, vd, argUint(a[1]), argUint(a[2]))
}

// Fchown implements fchown(2).
func Fchown(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	vd, err := fileTarget(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, chown(t, vd, argUint(a[1]), argUint(a[2]))
}

// Fchownat implements fchownat(2).
func Fchownat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	flags := argUint(a[4])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	vd, err := attrTarget(t, argFD(a[0]), a[1], flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	return 0, chown(t, vd, argUint(a[2]), argUint(a[3]))
}

// Special nanosecond values of utimensat(2).
const (
	utimeNow  = (1 << 30) - 1
	utimeOmit = (1 << 30) - 2
)

// setTimes applies utimensat-style times (nil for "now") to vd.
func setTimes(t *kernel.Task, vd vfs.VirtualDentry, ts *[2]unix.Timespec) error {
	now := vfs.Now()
	sa := vfs.SetAttr{Mask: unix.STATX_ATIME | unix.STATX_MTIME, Atime: now, Mtime: now}
	timesNow := true
	if ts != nil {
		sa.Mask = 0
		for i, x := range ts {
			if x.Nsec == utimeOmit {
				continue
			}
			v := now
			if x.Nsec != utimeNow {
				if x.Nsec < 0 || x.Nsec >= 1e9 {
					return unix.EINVAL
				}
				v = unix.StatxTimestamp{Sec: x.Sec, Nsec: uint32(x.Nsec)}
				timesNow = false
			}
			if i == 0 {
				sa.Mask |= unix.STATX_ATIME
				sa.Atime = v
			} else {
				sa.Mask |= unix.STATX_MTIME
				sa.Mtime = v
			}
		}
		if sa.Mask == 0 {
			return nil
		}
	}
	if !vd.Ok() {
		return nil
	}
	return t.Kernel().VFS.SetAttrAt(t, vd, sa, timesNow)
}

// validTimes checks the nanoseconds of utimensat times before any lookup.
func validTimes(ts *[2]unix.Timespec) error {
	if ts == nil {
		return nil
	}
	for _, x := range ts {
		if x.Nsec != utimeNow && x.Nsec != utimeOmit && (x.Nsec < 0 || x.Nsec >= 1e9) {
			return unix.EINVAL
		}
	}
	return nil
}

// Utimensat implements utimensat(2), including the NULL path form that
// futimens(3) uses.
func Utimensat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	dirfd, pathAddr, timesAddr, flags := argFD(a[0]), a[1], a[2], argUint(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	var ts *[2]unix.Timespec
	if timesAddr != 0 {
		ts = new([2]unix.Timespec)
		if err := copyInObj(t, timesAddr, ts); err != nil {
			return 0, err
		}
		if err := validTimes(ts); err != nil {
			return 0, err
		}
		if ts[0].Nsec == utimeOmit && ts[1].Nsec == utimeOmit {
			return 0, nil
		}
	}
	var vd vfs.VirtualDentry
	var err error
	if pathAddr == 0 {
		if dirfd == kernel.AtFDCWD {
			return 0, unix.EFAULT
		}
		f, err := t.GetFile(dirfd)
		if err != nil {
			return 0, err
		}
		vd = f.VirtualDentry()
		f.DecRef()
	} else {
		vd, err = attrTarget(t, dirfd, pathAddr, flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
		if err != nil {
			return 0, err
		}
	}
	return 0, setTimes(t, vd, ts)
}

// timevalsToTimespecs converts utimes(2) times, checking microseconds.
func timevalsToTimespecs(tv *[2]unix.Timeval) (*[2]unix.Timespec, error) {
	var ts [2]unix.Timespec
	for i, x := range tv {
		if x.Usec < 0 || x.Usec >= 1e6 {
			return nil, unix.EINVAL
		}
		ts[i] = unix.Timespec{Sec: x.Sec, Nsec: x.Usec * 1000}
	}
	return &ts, nil
}

func futimesat(t *kernel.Task, dirfd int32, pathAddr, timesAddr uintptr) (uintptr, error) {
	var ts *[2]unix.Timespec
	if timesAddr != 0 {
		var tv [2]unix.Timeval
		if err := copyInObj(t, timesAddr, &tv); err != nil {
			return 0, err
		}
		var err error
		if ts, err = timevalsToTimespecs(&tv); err != nil {
			return 0, err
		}
	}
	vd, err := attrTarget(t, dirfd, pathAddr, true, false)
	if err != nil {
		return 0, err
	}
	return 0, setTimes(t, vd, ts)
}

// Utimes implements utimes(2).
func Utimes(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return futimesat(t, kernel.AtFDCWD, a[0], a[1])
}

// Futimesat implements futimesat(2).
func Futimesat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return futimesat(t, argFD(a[0]), a[1], a[2])
}

// Utime implements utime(2).
func Utime(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	var ts *[2]unix.Timespec
	if a[1] != 0 {
		var ub unix.Utimbuf
		if err := copyInObj(t, a[1], &ub); err != nil {
			return 0, err
		}
		ts = &[2]unix.Timespec{{Sec: ub.Actime}, {Sec: ub.Modtime}}
	}
	vd, err := attrTarget(t, kernel.AtFDCWD, a[0], true, false)
	if err != nil {
		return 0, err
	}
	return 0, setTimes(t, vd, ts)
}

// Truncate implements truncate(2).
func Truncate(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	length := argInt64(a[1])
	if length < 0 {
		return 0, unix.EINVAL
	}
	vd, err := attrTarget(t, kernel.AtFDCWD, a[0], true, false)
	if err != nil {
		return 0, err
	}
	return 0, t.Kernel().VFS.SetAttrAt(t, vd, vfs.SetAttr{Mask: unix.STATX_SIZE, Size: uint64(length)}, false)
}

// Ftruncate implements ftruncate(2).
func Ftruncate(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	length := argInt64(a[1])
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if length < 0 {
		return 0, unix.EINVAL
	}
	return 0, f.Truncate(t, length)
}

// Fallocate modes, from linux/falloc.h.
const (
	fallocKeepSize      = 0x01
	fallocPunchHole     = 0x02
	fallocNoHideStale   = 0x04
	fallocCollapseRange = 0x08
	fallocZeroRange     = 0x10
	fallocInsertRange   = 0x20
	fallocUnshareRange  = 0x40
)

// Fallocate implements fallocate(2): mode 0, FALLOC_FL_KEEP_SIZE and
// FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE where the file system can.
func Fallocate(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	mode, off, length := argUint(a[1]), argInt64(a[2]), argInt64(a[3])
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if off < 0 || length <= 0 {
		return 0, unix.EINVAL
	}
	if mode&^(fallocKeepSize|fallocPunchHole|fallocNoHideStale|fallocCollapseRange|fallocZeroRange|fallocInsertRange|fallocUnshareRange) != 0 {
		return 0, unix.EOPNOTSUPP
	}
	if mode&fallocPunchHole != 0 && mode&fallocKeepSize == 0 {
		return 0, unix.EOPNOTSUPP
	}
	if !f.IsWritable() || f.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	if off+length < off {
		return 0, unix.EFBIG
	}
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	switch vfs.FileType(st.Mode) {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return 0, unix.EISDIR
	case unix.S_IFIFO:
		return 0, unix.ESPIPE
	default:
		return 0, unix.ENODEV
	}
	al, ok := f.Impl().(vfs.Allocator)
	if !ok {
		return 0, unix.EOPNOTSUPP
	}
	return 0, al.Allocate(t, mode, off, length)
}
