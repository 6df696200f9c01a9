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
	impl, err := vd.Dentry.inode.Open(ctx, vd.Dentry, flags)
	if err != nil {
		return nil, err
	}
	return NewFileDescription(impl, vd, flags), nil
}

func (v *VFS) openCreate(ctx Context, r Resolution, flags, mode uint32) (VirtualDentry, bool, error) {
	parent, name, mustBeDir, err := v.GetParent(ctx, r)
	if err != nil {
		return VirtualDentry{}, false, err
	}
	if mustBeDir || name == "." || name == ".." {
		return VirtualDentry{}, false, unix.EISDIR
	}
	rs := &resolver{v: v, ctx: ctx, root: r.Root}
	vd, err := rs.step(parent, name, flags&unix.O_EXCL == 0 && flags&unix.O_NOFOLLOW == 0)
	if err == nil {
		if flags&unix.O_EXCL != 0 {
			return VirtualDentry{}, false, unix.EEXIST
		}
		return vd, false, nil
	}
	if err != unix.ENOENT {
		return VirtualDentry{}, false, err
	}
	if parent.Mount.ReadOnly {
		return VirtualDentry{}, false, unix.EROFS
	}
	st, err := parent.Dentry.inode.Stat(ctx)
	if err != nil {
		return VirtualDentry{}, false, err
	}
	if !ctx.Credentials().CanAccess(uint32(st.Mode), st.Uid, st.Gid, auth.MayWrite|auth.MayExecute, true) {
		return VirtualDentry{}, false, unix.EACCES
	}
	c, ok := parent.Dentry.inode.(Creator)
	if !ok {
		return VirtualDentry{}, false, unix.EROFS
	}
	inode, err := c.Create(ctx, name, mode&0o7777|unix.S_IFREG)
	if err != nil {
		return VirtualDentry{}, false, err
	}
	parent.Dentry.Invalidate(name)
	d, err := parent.Dentry.child(ctx, name)
	if err != nil {
		return VirtualDentry{}, false, err
	}
	_ = inode
	return VirtualDentry{Mount: parent.Mount, Dentry: d}, true, nil
}
