package fsgofer

import (
	"os"

	"bufferzone.dev/pkg/p9"
	"golang.org/x/sys/unix"
)

// Lock order: as in fsgofer.go. This file holds the mutating requests;
// each fails with EROFS in read-only mode before touching the host.

// writable returns EROFS in read-only mode.
func (f *file) writable(op string) error {
	if f.a.readOnly {
		return errno(op, f.label, unix.EROFS)
	}
	return nil
}

// dirFD checks that f is a directory and name is a valid entry name, and
// returns f's descriptor.
func (f *file) dirFD(op, name string) (int, error) {
	if err := f.writable(op); err != nil {
		return -1, err
	}
	if err := checkName(name); err != nil {
		return -1, err
	}
	if !f.isDir() {
		return -1, errno(op, name, unix.ENOTDIR)
	}
	return f.fd.fd, nil
}

// chown gives a new entry the attaching user and the requested group, if
// the Gofer runs as root (otherwise the host assigns the Gofer's ids).
func (f *file) chown(dirfd int, name string, gid uint32) error {
	if !f.a.asRoot {
		return nil
	}
	uid, g := -1, -1
	if f.uid != p9.NoUID {
		uid = int(f.uid)
	}
	if gid != p9.NoUID {
		g = int(gid)
	}
	if uid == -1 && g == -1 {
		return nil
	}
	return errno("chown", name, unix.Fchownat(dirfd, name, uid, g, unix.AT_SYMLINK_NOFOLLOW))
}

// statAt returns the QID of name in dirfd without following it.
func statAt(dirfd int, name string) (p9.QID, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return p9.QID{}, errno("stat", name, err)
	}
	return qidOf(&st), nil
}

// Create implements p9.ServerFile.
func (f *file) Create(name string, flags, mode, gid uint32) (p9.ServerFile, *os.File, p9.QID, uint32, error) {
	dfd, err := f.dirFD("create", name)
	if err != nil {
		return nil, nil, p9.QID{}, 0, err
	}
	fl := int(flags)&(openFlagsAllowed|unix.O_EXCL) | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY
	fl &^= unix.O_DIRECTORY
	fd, err := unix.Openat(dfd, name, fl, mode&0o7777)
	if err != nil {
		return nil, nil, p9.QID{}, 0, errno("create", name, err)
	}
	opened := os.NewFile(uintptr(fd), name)
	fail := func(err error) (p9.ServerFile, *os.File, p9.QID, uint32, error) {
		opened.Close()
		return nil, nil, p9.QID{}, 0, err
	}
	st, err := fstat(fd)
	if err != nil {
		return fail(errno("stat", name, err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		// O_CREAT without O_EXCL opened an existing non-regular file.
		return fail(errno("create", name, unix.EEXIST))
	}
	if err := f.chown(dfd, name, gid); err != nil {
		return fail(err)
	}
	pfd, err := unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(errno("create", name, err))
	}
	if pst, err := fstat(pfd); err != nil || pst.Ino != st.Ino || pst.Dev != st.Dev {
		unix.Close(pfd)
		return fail(errno("create", name, unix.ESTALE))
	}
	nf := &file{a: f.a, fd: newHostFD(pfd), mode: unix.S_IFREG, uid: f.uid, parent: f.fd.incRef(), name: name, label: name, opened: opened}
	return nf, opened, qidOf(&st), 0, nil
}

// Mkdir implements p9.ServerFile.
func (f *file) Mkdir(name string, mode, gid uint32) (p9.QID, error) {
	dfd, err := f.dirFD("mkdir", name)
	if err != nil {
		return p9.QID{}, err
	}
	if err := unix.Mkdirat(dfd, name, mode&0o7777); err != nil {
		return p9.QID{}, errno("mkdir", name, err)
	}
	if err := f.chown(dfd, name, gid); err != nil {
		return p9.QID{}, err
	}
	return statAt(dfd, name)
}

// Symlink implements p9.ServerFile. The target is stored as given; it is
// never interpreted on the host.
func (f *file) Symlink(name, target string, gid uint32) (p9.QID, error) {
	dfd, err := f.dirFD("symlink", name)
	if err != nil {
		return p9.QID{}, err
	}
	if err := unix.Symlinkat(target, dfd, name); err != nil {
		return p9.QID{}, errno("symlink", name, err)
	}
	if err := f.chown(dfd, name, gid); err != nil {
		return p9.QID{}, err
	}
	return statAt(dfd, name)
}

// Mknod implements p9.ServerFile. Only regular files, FIFOs and sockets
// may be created; device nodes fail with EPERM.
func (f *file) Mknod(name string, mode, major, minor, gid uint32) (p9.QID, error) {
	dfd, err := f.dirFD("mknod", name)
	if err != nil {
		return p9.QID{}, err
	}
	switch mode & unix.S_IFMT {
	case 0:
		mode |= unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	default:
		return p9.QID{}, errno("mknod", name, unix.EPERM)
	}
	if err := unix.Mknodat(dfd, name, mode&(unix.S_IFMT|0o7777), 0); err != nil {
		return p9.QID{}, errno("mknod", name, err)
	}
	if err := f.chown(dfd, name, gid); err != nil {
		return p9.QID{}, err
	}
	return statAt(dfd, name)
}

// Link implements p9.ServerFile.
func (f *file) Link(target p9.ServerFile, name string) error {
	dfd, err := f.dirFD("link", name)
	if err != nil {
		return err
	}
	t, ok := target.(*file)
	if !ok || t.a != f.a {
		return errno("link", name, unix.EXDEV)
	}
	if t.isDir() {
		return errno("link", name, unix.EPERM)
	}
	// AT_EMPTY_PATH links exactly the inode of the O_PATH descriptor
	// (it needs CAP_DAC_READ_SEARCH); fall back to the /proc magic link.
	err = unix.Linkat(t.fd.fd, "", dfd, name, unix.AT_EMPTY_PATH)
	if err == unix.ENOENT && f.a.procFD {
		err = unix.Linkat(unix.AT_FDCWD, procPath(t.fd.fd), dfd, name, unix.AT_SYMLINK_FOLLOW)
	}
	return errno("link", name, err)
}

// RenameAt implements p9.ServerFile.
func (f *file) RenameAt(oldName string, newDir p9.ServerFile, newName string) error {
	dfd, err := f.dirFD("rename", oldName)
	if err != nil {
		return err
	}
	nd, ok := newDir.(*file)
	if !ok || nd.a != f.a {
		return errno("rename", oldName, unix.EXDEV)
	}
	ndfd, err := nd.dirFD("rename", newName)
	if err != nil {
		return err
	}
	return errno("rename", oldName, unix.Renameat(dfd, oldName, ndfd, newName))
}

// Rename implements p9.ServerFile.
func (f *file) Rename(newDir p9.ServerFile, newName string) error {
	if err := f.writable("rename"); err != nil {
		return err
	}
	nd, ok := newDir.(*file)
	if !ok || nd.a != f.a {
		return errno("rename", f.label, unix.EXDEV)
	}
	ndfd, err := nd.dirFD("rename", newName)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.parent == nil {
		return errno("rename", "/", unix.EBUSY)
	}
	if err := unix.Renameat(f.parent.fd, f.name, ndfd, newName); err != nil {
		return errno("rename", f.label, err)
	}
	f.parent.decRef()
	f.parent = nd.fd.incRef()
	f.name = newName
	return nil
}

// UnlinkAt implements p9.ServerFile.
func (f *file) UnlinkAt(name string, flags uint32) error {
	dfd, err := f.dirFD("unlink", name)
	if err != nil {
		return err
	}
	return errno("unlink", name, unix.Unlinkat(dfd, name, int(flags)&unix.AT_REMOVEDIR))
}

// Remove implements p9.ServerFile.
func (f *file) Remove() error {
	if err := f.writable("remove"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.parent == nil {
		return errno("remove", "/", unix.EBUSY)
	}
	flags := 0
	if f.isDir() {
		flags = unix.AT_REMOVEDIR
	}
	return errno("remove", f.label, unix.Unlinkat(f.parent.fd, f.name, flags))
}

// SetAttr implements p9.ServerFile.
func (f *file) SetAttr(valid p9.SetAttrMask, attr p9.SetAttr) error {
	if err := f.writable("setattr"); err != nil {
		return err
	}
	fd := f.fd.fd
	if valid&p9.SetAttrMode != 0 {
		if f.isSymlink() {
			return errno("chmod", f.label, unix.EOPNOTSUPP)
		}
		if err := f.viaOpen(func(ofd int) error { return unix.Fchmod(ofd, attr.Mode&0o7777) }); err != nil {
			return errno("chmod", f.label, err)
		}
	}
	if valid&(p9.SetAttrUID|p9.SetAttrGID) != 0 {
		uid, gid := -1, -1
		if valid&p9.SetAttrUID != 0 {
			uid = int(attr.UID)
		}
		if valid&p9.SetAttrGID != 0 {
			gid = int(attr.GID)
		}
		if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return errno("chown", f.label, err)
		}
	}
	if valid&p9.SetAttrSize != 0 {
		if f.mode != unix.S_IFREG {
			if f.isDir() {
				return errno("truncate", f.label, unix.EISDIR)
			}
			return errno("truncate", f.label, unix.EINVAL)
		}
		err := f.viaOpenFlags(unix.O_WRONLY, func(ofd int) error { return unix.Ftruncate(ofd, int64(attr.Size)) })
		if err != nil {
			return errno("truncate", f.label, err)
		}
	}
	if valid&(p9.SetAttrATime|p9.SetAttrMTime) != 0 {
		ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if valid&p9.SetAttrATime != 0 {
			ts[0] = unix.Timespec{Nsec: unix.UTIME_NOW}
			if valid&p9.SetAttrATimeSet != 0 {
				ts[0] = unix.Timespec{Sec: int64(attr.ATimeSec), Nsec: int64(attr.ATimeNSec)}
			}
		}
		if valid&p9.SetAttrMTime != 0 {
			ts[1] = unix.Timespec{Nsec: unix.UTIME_NOW}
			if valid&p9.SetAttrMTimeSet != 0 {
				ts[1] = unix.Timespec{Sec: int64(attr.MTimeSec), Nsec: int64(attr.MTimeNSec)}
			}
		}
		if err := f.utimes(ts[:]); err != nil {
			return errno("utimes", f.label, err)
		}
	}
	// SetAttrCTime alone asks only for a ctime update, which every change
	// above already made; there is no way to set ctime.
	return nil
}

// utimes sets the times of this file without following it.
func (f *file) utimes(ts []unix.Timespec) error {
	if f.isSymlink() {
		f.mu.Lock()
		parent, name := f.parent, f.name
		f.mu.Unlock()
		if parent == nil {
			return unix.EINVAL
		}
		return unix.UtimesNanoAt(parent.fd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	if f.a.procFD {
		return unix.UtimesNanoAt(unix.AT_FDCWD, procPath(f.fd.fd), ts, 0)
	}
	return f.viaOpen(func(ofd int) error { return unix.UtimesNanoAt(ofd, "", ts, unix.AT_EMPTY_PATH) })
}

// viaOpen runs fn on a readable descriptor of this (non-symlink) file.
func (f *file) viaOpen(fn func(int) error) error {
	return f.viaOpenFlags(unix.O_RDONLY, fn)
}

// viaOpenFlags runs fn on a descriptor of this file opened with acc
// (O_RDONLY or O_WRONLY), reusing the fid's open descriptor if it fits.
func (f *file) viaOpenFlags(acc int, fn func(int) error) error {
	if fd, err := f.openedFD(); err == nil {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err == nil && (acc == unix.O_RDONLY || fl&unix.O_ACCMODE != unix.O_RDONLY) {
			return fn(fd)
		}
	}
	fl := acc | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK | unix.O_NOFOLLOW
	if f.isDir() {
		fl |= unix.O_DIRECTORY
	}
	fd, err := f.reopen(fl)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

// FSync implements p9.ServerFile.
func (f *file) FSync(dataSync bool) error {
	fd, err := f.openedFD()
	if err != nil {
		return errno("fsync", f.label, err)
	}
	if dataSync {
		return errno("fdatasync", f.label, unix.Fdatasync(fd))
	}
	return errno("fsync", f.label, unix.Fsync(fd))
}
