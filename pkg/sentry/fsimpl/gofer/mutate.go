package gofer

// Changes to the Gofer's tree (--overlay=none): each vfs operation is one
// 9P request, followed by a walk that returns the new file's inode, and
// attribute refreshes of the inodes the change touched.
//
// Lock order: as in gofer.go; no inode lock is held across an RPC.

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/p9"
	"bufferzone.dev/pkg/sentry/vfs"
)

// walkChild returns a fresh inode for the entry name of directory i.
func (i *inode) walkChild(name string) (vfs.Inode, error) {
	qids, f, valid, attr, err := i.file.WalkGetAttr([]string{name}, p9.AttrBasic)
	if err != nil {
		return nil, err
	}
	n := i.fs.newInode(f, valid, attr)
	n.attr.Ino = qids[len(qids)-1].Path
	return n, nil
}

// refresh reloads i's cached attributes from the Gofer.
func (i *inode) refresh() {
	_, valid, attr, err := i.file.GetAttr(p9.AttrBasic)
	if err != nil {
		return
	}
	st := toStatx(valid, attr)
	i.mu.Lock()
	st.Ino = i.attr.Ino
	i.attr = st
	i.mu.Unlock()
}

// Create implements vfs.Creator.
func (i *inode) Create(ctx vfs.Context, name string, mode uint32) (vfs.Inode, error) {
	return i.Mknod(ctx, name, mode&0o7777|unix.S_IFREG, 0)
}

// Mkdir implements vfs.Mkdirer.
func (i *inode) Mkdir(ctx vfs.Context, name string, mode uint32) (vfs.Inode, error) {
	if _, err := i.file.Mkdir(name, mode&0o7777, ctx.Credentials().FSGID); err != nil {
		return nil, err
	}
	defer i.refresh()
	return i.walkChild(name)
}

// Mknod implements vfs.Mknoder. The Gofer makes regular files, FIFOs and
// sockets (FIFOs and sockets on the host cannot be opened from the
// sandbox, but they can be listed and removed).
func (i *inode) Mknod(ctx vfs.Context, name string, mode uint32, rdev uint64) (vfs.Inode, error) {
	if _, err := i.file.Mknod(name, mode, unix.Major(rdev), unix.Minor(rdev), ctx.Credentials().FSGID); err != nil {
		return nil, err
	}
	defer i.refresh()
	return i.walkChild(name)
}

// Symlink implements vfs.Symlinker.
func (i *inode) Symlink(ctx vfs.Context, name, target string) (vfs.Inode, error) {
	if _, err := i.file.Symlink(name, target, ctx.Credentials().FSGID); err != nil {
		return nil, err
	}
	defer i.refresh()
	return i.walkChild(name)
}

// Link implements vfs.Linker. The new name shares the target's inode, so
// both see the same attributes.
func (i *inode) Link(ctx vfs.Context, name string, target vfs.Inode) (vfs.Inode, error) {
	t, ok := target.(*inode)
	if !ok || t.fs != i.fs {
		return nil, unix.EXDEV
	}
	if err := i.file.Link(t.file, name); err != nil {
		return nil, err
	}
	t.refresh()
	i.refresh()
	return t, nil
}

// Unlink implements vfs.Unlinker.
func (i *inode) Unlink(ctx vfs.Context, name string, child vfs.Inode) error {
	if err := i.file.UnlinkAt(name, 0); err != nil {
		return err
	}
	if c, ok := child.(*inode); ok {
		c.refresh()
		i.fs.dropHandles(c)
	}
	i.refresh()
	return nil
}

// Rmdir implements vfs.Unlinker.
func (i *inode) Rmdir(ctx vfs.Context, name string, child vfs.Inode) error {
	if err := i.file.UnlinkAt(name, unix.AT_REMOVEDIR); err != nil {
		return err
	}
	i.refresh()
	return nil
}

// Rename implements vfs.Renamer. 9P's renameat has no flags:
// RENAME_NOREPLACE holds because vfs checked the target is absent and
// serialises changes (the tree is this sandbox's alone); RENAME_EXCHANGE
// is EINVAL, as on file systems without it.
func (i *inode) Rename(ctx vfs.Context, oldName string, src vfs.Inode, newParent vfs.Inode, newName string, dst vfs.Inode, flags uint32) error {
	np, ok := newParent.(*inode)
	if !ok || np.fs != i.fs {
		return unix.EXDEV
	}
	if flags&vfs.RenameExchange != 0 {
		return unix.EINVAL
	}
	if err := i.file.RenameAt(oldName, np.file, newName); err != nil {
		return err
	}
	if d, ok := dst.(*inode); ok {
		d.refresh()
		i.fs.dropHandles(d)
	}
	if s, ok := src.(*inode); ok {
		s.refresh()
	}
	i.refresh()
	if np != i {
		np.refresh()
	}
	return nil
}

// SetAttr implements vfs.AttrSetter.
func (i *inode) SetAttr(ctx vfs.Context, a vfs.SetAttr) error {
	var valid p9.SetAttrMask
	var sa p9.SetAttr
	if a.Mask&unix.STATX_MODE != 0 {
		valid |= p9.SetAttrMode
		sa.Mode = uint32(a.Mode)
	}
	if a.Mask&unix.STATX_UID != 0 {
		valid |= p9.SetAttrUID
		sa.UID = a.UID
	}
	if a.Mask&unix.STATX_GID != 0 {
		valid |= p9.SetAttrGID
		sa.GID = a.GID
	}
	if a.Mask&unix.STATX_SIZE != 0 {
		valid |= p9.SetAttrSize
		sa.Size = a.Size
	}
	if a.Mask&unix.STATX_ATIME != 0 {
		valid |= p9.SetAttrATime | p9.SetAttrATimeSet
		sa.ATimeSec, sa.ATimeNSec = uint64(a.Atime.Sec), uint64(a.Atime.Nsec)
	}
	if a.Mask&unix.STATX_MTIME != 0 {
		valid |= p9.SetAttrMTime | p9.SetAttrMTimeSet
		sa.MTimeSec, sa.MTimeNSec = uint64(a.Mtime.Sec), uint64(a.Mtime.Nsec)
	}
	if valid == 0 {
		return nil
	}
	err := i.file.SetAttr(valid, sa)
	i.refresh()
	if err == nil && valid&p9.SetAttrSize != 0 {
		i.mu.Lock()
		c := i.cache
		i.mu.Unlock()
		if c != nil {
			c.truncate(int64(sa.Size))
		}
	}
	return err
}

// Sync implements vfs.Syncer.
func (f *regularFile) Sync(ctx vfs.Context, dataOnly bool) error {
	if c := f.inode.cached(); c != nil {
		if err := c.writeBack(0, 1<<62); err != nil {
			return err
		}
	}
	if f.host != nil {
		if dataOnly {
			return unix.Fdatasync(int(f.host.Fd()))
		}
		return unix.Fsync(int(f.host.Fd()))
	}
	return f.fid.FSync(dataOnly)
}

// Allocate implements vfs.Allocator with the host's fallocate.
// Cached pages follow the host file: a punched or zeroed range reads as
// zero in them too; ranges collapsed or inserted move the file's bytes, so
// the cache is written back first and emptied after.
func (f *regularFile) Allocate(ctx vfs.Context, mode uint32, off, length int64) error {
	if f.host == nil {
		return unix.EOPNOTSUPP
	}
	c := f.inode.cached()
	shifts := mode&(unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_INSERT_RANGE) != 0
	if c != nil && shifts {
		if err := c.writeBack(0, 1<<62); err != nil {
			return err
		}
	}
	if err := unix.Fallocate(int(f.host.Fd()), mode, off, length); err != nil {
		return err
	}
	f.inode.refresh()
	switch {
	case c == nil:
	case shifts:
		c.truncate(0)
	case mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0:
		c.zero(off, length)
	}
	return nil
}

// StatFile implements vfs.FileStater: the open file's attributes as the
// host has them, so that a file's size, blocks, link count and times are
// current even through a name the Sentry did not change. With a donated
// host descriptor that is an fstat of it, not a Gofer round trip.
func (f *regularFile) StatFile(ctx vfs.Context) (unix.Statx_t, error) {
	var st unix.Stat_t
	if f.host == nil || unix.Fstat(int(f.host.Fd()), &st) != nil {
		f.inode.refresh()
		return f.inode.Stat(ctx)
	}
	i := f.inode
	i.mu.Lock()
	defer i.mu.Unlock()
	a := &i.attr
	a.Mode, a.Nlink, a.Uid, a.Gid = uint16(st.Mode), uint32(st.Nlink), st.Uid, st.Gid
	a.Size, a.Blocks, a.Blksize = uint64(st.Size), uint64(st.Blocks), uint32(st.Blksize)
	a.Atime = unix.StatxTimestamp{Sec: st.Atim.Sec, Nsec: uint32(st.Atim.Nsec)}
	a.Mtime = unix.StatxTimestamp{Sec: st.Mtim.Sec, Nsec: uint32(st.Mtim.Nsec)}
	a.Ctime = unix.StatxTimestamp{Sec: st.Ctim.Sec, Nsec: uint32(st.Ctim.Nsec)}
	return *a, nil
}

// SyncFS implements vfs.FilesystemSyncer. Open files are flushed through
// their host FDs; the Gofer has nothing more to flush for the tree.
func (fs *Filesystem) SyncFS(vfs.Context) error { return nil }

// GetXattr implements vfs.XattrInode over Txattrwalk.
func (i *inode) GetXattr(ctx vfs.Context, name string) ([]byte, error) {
	return i.file.GetXattr(name)
}

// ListXattrs implements vfs.XattrInode over Txattrwalk.
func (i *inode) ListXattrs(ctx vfs.Context) ([]string, error) {
	names, err := i.file.ListXattrs()
	if err == unix.EOPNOTSUPP {
		// A server without attributes: the file has none.
		return nil, nil
	}
	return names, err
}

// SetXattr implements vfs.XattrInode over Txattrcreate. The Gofer serves
// user.* only; other namespaces are EOPNOTSUPP.
func (i *inode) SetXattr(ctx vfs.Context, name string, value []byte, flags uint32) error {
	if len(value) == 0 && flags&vfs.XattrReplace != 0 {
		// 9P spells removal this way (see package p9): check that the
		// attribute exists, then set the empty value without the flag.
		if _, err := i.file.GetXattr(name); err != nil {
			return err
		}
		flags &^= vfs.XattrReplace
	}
	err := i.file.SetXattr(name, value, flags)
	i.refresh()
	return err
}

// RemoveXattr implements vfs.XattrInode.
func (i *inode) RemoveXattr(ctx vfs.Context, name string) error {
	err := i.file.RemoveXattr(name)
	i.refresh()
	return err
}
