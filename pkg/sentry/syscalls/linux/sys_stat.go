package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// statAt returns the attributes of the file a *at call names; with
// AT_EMPTY_PATH and an empty path, of dirfd itself.
func statAt(t *kernel.Task, dirfd int32, pathAddr uintptr, flags uint32) (unix.Statx_t, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return unix.Statx_t{}, err
	}
	if path == "" && flags&unix.AT_EMPTY_PATH != 0 && dirfd != kernel.AtFDCWD {
		f, err := t.GetFile(dirfd)
		if err != nil {
			return unix.Statx_t{}, err
		}
		defer f.DecRef()
		return f.Stat(t)
	}
	vd, err := t.LookupAt(dirfd, path, flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
	if err != nil {
		return unix.Statx_t{}, err
	}
	st, err := vd.Dentry.Inode().Stat(t)
	if err == nil && st.Dev_major == 0 && st.Dev_minor == 0 {
		st.Dev_minor = vd.Dentry.Filesystem().Dev
	}
	return st, err
}

// toStat converts statx attributes to struct stat.
func toStat(sx *unix.Statx_t) unix.Stat_t {
	return unix.Stat_t{
		Dev:     unix.Mkdev(sx.Dev_major, sx.Dev_minor),
		Ino:     sx.Ino,
		Nlink:   uint64(sx.Nlink),
		Mode:    uint32(sx.Mode),
		Uid:     sx.Uid,
		Gid:     sx.Gid,
		Rdev:    unix.Mkdev(sx.Rdev_major, sx.Rdev_minor),
		Size:    int64(sx.Size),
		Blksize: int64(sx.Blksize),
		Blocks:  int64(sx.Blocks),
		Atim:    unix.Timespec{Sec: sx.Atime.Sec, Nsec: int64(sx.Atime.Nsec)},
		Mtim:    unix.Timespec{Sec: sx.Mtime.Sec, Nsec: int64(sx.Mtime.Nsec)},
		Ctim:    unix.Timespec{Sec: sx.Ctime.Sec, Nsec: int64(sx.Ctime.Nsec)},
	}
}

func statOut(t *kernel.Task, sx unix.Statx_t, addr uintptr) (uintptr, error) {
	st := toStat(&sx)
	return 0, copyOutObj(t, addr, &st)
}

// Fstat implements fstat(2).
func Fstat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	sx, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	return statOut(t, sx, a[1])
}

// Stat implements stat(2).
func Stat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	sx, err := statAt(t, kernel.AtFDCWD, a[0], 0)
	if err != nil {
		return 0, err
	}
	return statOut(t, sx, a[1])
}

// Lstat implements lstat(2).
func Lstat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	sx, err := statAt(t, kernel.AtFDCWD, a[0], unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return 0, err
	}
	return statOut(t, sx, a[1])
}

// Newfstatat implements newfstatat(2).
func Newfstatat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	flags := argUint(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT) != 0 {
		return 0, unix.EINVAL
	}
	sx, err := statAt(t, argFD(a[0]), a[1], flags)
	if err != nil {
		return 0, err
	}
	return statOut(t, sx, a[2])
}

// statxBasic is the mask of fields every file system fills in.
const statxBasic = unix.STATX_BASIC_STATS

// Statx implements statx(2).
func Statx(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	flags, mask := argUint(a[2]), argUint(a[3])
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT|atStatxSyncType) != 0 ||
		flags&atStatxSyncType == atStatxSyncType || mask&unix.STATX__RESERVED != 0 {
		return 0, unix.EINVAL
	}
	sx, err := statAt(t, argFD(a[0]), a[1], flags)
	if err != nil {
		return 0, err
	}
	if sx.Mask == 0 {
		sx.Mask = statxBasic
	}
	// Only the first 256 bytes are the ABI; unix.Statx_t matches them.
	return 0, copyOutObj(t, a[4], &sx)
}

func statfsOut(t *kernel.Task, st unix.Statfs_t, addr uintptr) (uintptr, error) {
	return 0, copyOutObj(t, addr, &st)
}

// Statfs implements statfs(2).
func Statfs(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
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
	st, err := vd.Dentry.Filesystem().FS.Statfs(t)
	if err != nil {
		return 0, err
	}
	if vd.Mount.ReadOnly {
		st.Flags |= unix.ST_RDONLY
	}
	return statfsOut(t, st, a[1])
}

// Fstatfs implements fstatfs(2).
func Fstatfs(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	vd := f.VirtualDentry()
	if !vd.Ok() {
		return 0, unix.ENOSYS
	}
	st, err := vd.Dentry.Filesystem().FS.Statfs(t)
	if err != nil {
		return 0, err
	}
	if vd.Mount.ReadOnly {
		st.Flags |= unix.ST_RDONLY
	}
	return statfsOut(t, st, a[1])
}

// atStatxSyncType is AT_STATX_SYNC_TYPE: the statx synchronisation bits.
const atStatxSyncType = 0x6000
