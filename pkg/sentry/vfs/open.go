package vfs

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
)

// Creator is implemented by directory inodes of writable file systems that
// can create regular files.
type Creator interface {
	// Create makes a regular file called name with the given mode and the
	// caller's credentials as owner, and returns its inode.
	Create(ctx Context, name string, mode uint32) (Inode, error)
}

// binder is implemented by FileImpls that want to know their file
// description (FIFO ends follow its O_NONBLOCK flag).
type binder interface {
	Bind(fd *FileDescription)
}

// OpenAt opens the file r names, as openat(2) does, creating it for O_CREAT.
// mode is the creation mode after the umask.
func (v *VFS) OpenAt(ctx Context, r Resolution, flags uint32, mode uint32) (*FileDescription, error) {
	if flags&unix.O_PATH != 0 {
		flags &= unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	}
	follow := flags&unix.O_NOFOLLOW == 0
	var vd VirtualDentry
	var err error
	created := false
	if flags&unix.O_CREAT != 0 {
		if flags&unix.O_DIRECTORY != 0 {
			return nil, unix.EINVAL
		}
		vd, created, err = v.openCreate(ctx, r, flags, mode)
	} else {
		r.FollowFinal = follow
		vd, err = v.GetDentry(ctx, r)
	}
	if err != nil {
		return nil, err
	}
	return v.open(ctx, vd, flags, created)
}

// Open opens the file at vd (already resolved) with open(2) flags, making
// the checks OpenAt makes for an existing file.
func (v *VFS) Open(ctx Context, vd VirtualDentry, flags uint32) (*FileDescription, error) {
	return v.open(ctx, vd, flags, false)
}

func (v *VFS) open(ctx Context, vd VirtualDentry, flags uint32, created bool) (*FileDescription, error) {
	if ro, ok := vd.Dentry.inode.(Reopener); ok && flags&unix.O_PATH == 0 {
		return ro.Reopen(ctx, flags)
	}
	st, err := vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return nil, err
	}
	ft := FileType(st.Mode)
	if ft == unix.S_IFLNK && flags&unix.O_PATH == 0 {
		// Only reachable with O_NOFOLLOW.
		return nil, unix.ELOOP
	}
	if flags&unix.O_DIRECTORY != 0 && ft != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	acc := flags & unix.O_ACCMODE
	if flags&unix.O_PATH == 0 {
		if ft == unix.S_IFDIR && (acc != unix.O_RDONLY || flags&unix.O_TRUNC != 0) {
			return nil, unix.EISDIR
		}
		if !created {
			var ats uint32
			if acc == unix.O_RDONLY || acc == unix.O_RDWR {
				ats |= auth.MayRead
			}
			if acc == unix.O_WRONLY || acc == unix.O_RDWR || flags&unix.O_TRUNC != 0 {
				ats |= auth.MayWrite
			}
			if !ctx.Credentials().CanAccess(uint32(st.Mode), st.Uid, st.Gid, ats, ft == unix.S_IFDIR) {
				return nil, unix.EACCES
			}
			if ats&auth.MayWrite != 0 && vd.Mount.ReadOnly && (ft == unix.S_IFREG || ft == unix.S_IFDIR || ft == unix.S_IFLNK) {
				return nil, unix.EROFS
			}
		}
	}
	if flags&unix.O_TRUNC != 0 && flags&unix.O_PATH == 0 && ft == unix.S_IFREG && !created && st.Size != 0 {
		if vd.Mount.ReadOnly {
			return nil, unix.EROFS
		}
	}
	if (ft == unix.S_IFCHR || ft == unix.S_IFBLK) && flags&unix.O_PATH == 0 && vd.Mount != nil && vd.Mount.Flags&unix.MS_NODEV != 0 {
		// A device node on a nodev mount opens nothing (Linux's
		// may_open_dev).
		return nil, unix.EACCES
	}
	// A file a program runs from cannot be written (ETXTBSY).
	var putWrite func()
	if flags&unix.O_PATH == 0 && ft == unix.S_IFREG {
		if acc == unix.O_WRONLY || acc == unix.O_RDWR {
			if putWrite, err = v.getWriteAccess(keyOf(&st)); err != nil {
				return nil, err
			}
		} else if flags&unix.O_TRUNC != 0 {
			if err := v.checkWriteAccess(keyOf(&st)); err != nil {
				return nil, err
			}
		}
	}
	var impl FileImpl
	if drv, ok := v.device(&st); ok && flags&unix.O_PATH == 0 {
		impl, err = drv(ctx, flags)
	} else {
		impl, err = vd.Dentry.inode.Open(ctx, vd.Dentry, flags)
	}
	if err != nil {
		if putWrite != nil {
			putWrite()
		}
		return nil, err
	}
	fd := NewFileDescription(impl, vd, flags)
	fd.putWrite = putWrite
	fd.isDir = ft == unix.S_IFDIR
	if b, ok := impl.(binder); ok {
		b.Bind(fd)
	}
	if flags&unix.O_PATH == 0 {
		fd.notifyFile(unix.IN_OPEN)
	}
	return fd, nil
}

func (v *VFS) openCreate(ctx Context, r Resolution, flags, mode uint32) (VirtualDentry, bool, error) {
	parent, name, mustBeDir, err := v.GetParent(ctx, r)
	if err != nil {
		return VirtualDentry{}, false, err
	}
	if mustBeDir || name == "." || name == ".." {
		return VirtualDentry{}, false, unix.EISDIR
	}
	rs := v.newResolver(ctx, r)
	follow := flags&unix.O_EXCL == 0 && flags&unix.O_NOFOLLOW == 0
	vd, err := rs.step(parent, name, follow)
	if err == nil {
		if flags&unix.O_EXCL != 0 {
			return VirtualDentry{}, false, unix.EEXIST
		}
		return vd, false, nil
	}
	if err != unix.ENOENT {
		return VirtualDentry{}, false, err
	}
	if follow {
		// A dangling symlink in the last component: O_CREAT creates its
		// target (Linux does, without O_EXCL), unless it leads elsewhere.
		if d := parent.Dentry.cachedChild(name); d != nil {
			if st, serr := d.inode.Stat(ctx); serr == nil && FileType(st.Mode) == unix.S_IFLNK {
				target, lerr := d.inode.Readlink(ctx)
				if lerr != nil {
					return VirtualDentry{}, false, lerr
				}
				if rs.symlinks++; rs.symlinks > MaxSymlinkTraversals {
					return VirtualDentry{}, false, unix.ELOOP
				}
				r2 := r
				r2.Start, r2.Path = parent, target
				return v.openCreate(ctx, r2, flags, mode)
			}
		}
	}
	v.mutateMu.Lock()
	defer v.mutateMu.Unlock()
	if c := parent.Dentry.cachedChild(name); c != nil {
		// Created by someone else since the lookup above.
		if flags&unix.O_EXCL != 0 {
			return VirtualDentry{}, false, unix.EEXIST
		}
		return VirtualDentry{Mount: parent.Mount, Dentry: c}, false, nil
	}
	if err := v.mayCreate(ctx, parent); err != nil {
		return VirtualDentry{}, false, err
	}
	c, ok := parent.Dentry.inode.(Creator)
	if !ok {
		return VirtualDentry{}, false, unix.EPERM
	}
	inode, err := c.Create(ctx, name, mode&0o7777|unix.S_IFREG)
	if err != nil {
		return VirtualDentry{}, false, err
	}
	d := parent.Dentry.insertChild(name, inode)
	notifyChild(parent.Dentry, unix.IN_CREATE, 0, name)
	return VirtualDentry{Mount: parent.Mount, Dentry: d}, true, nil
}
