// Package overlay is the root file system of a sandbox that must not write
// to its image: a read-only lower tree (the Gofer's) under a writable tmpfs
// upper layer held in the Sentry, as Linux's overlayfs arranges them.
//
//   - A file is read from the lower layer until something changes it; then
//     it is copied up (data and attributes, its parents first) and the
//     upper copy is used from then on.
//   - A removed lower name leaves a whiteout in the upper layer: a
//     character device 0:0. A directory made where a lower one was removed
//     is opaque (the trusted.overlay.opaque xattr is "y"): nothing of the
//     lower layer shows through it.
//   - Directory listings merge the layers, upper first.
//   - Renaming a directory that has lower contents fails with EXDEV, as
//     overlayfs does without redirect_dir; programs then copy.
//   - Inode numbers are stable: the lower file's number, kept across
//     copy-up; files that exist only in the upper layer have the upper
//     number with bit 62 set so they cannot collide.
//
// Lock order: Filesystem.mu, then the layers' own locks (the layers never
// call back into the overlay).
package overlay

import (
	"io"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

// opaqueXattr marks an upper directory that hides the lower layer.
const opaqueXattr = "trusted.overlay.opaque"

// upperOnlyIno is set in the inode numbers of upper-only files.
const upperOnlyIno = 1 << 62

// overlayfsMagic is OVERLAYFS_SUPER_MAGIC.
const overlayfsMagic = 0x794c7630

// UpperLayer is what the overlay needs of its upper file system: tmpfs
// provides it.
type UpperLayer interface {
	vfs.Filesystem
}

// xattrInode is implemented by upper inodes (tmpfs): unchecked access to
// the attributes that hold the overlay's own marks.
type xattrInode interface {
	Xattr(name string) ([]byte, bool)
	PutXattr(name string, value []byte)
}

// privateXattrPrefix names the overlay's own attributes, which the
// application neither sees nor sets (as overlayfs's trusted.overlay.*).
const privateXattrPrefix = "trusted.overlay."

// Filesystem is one overlay.
type Filesystem struct {
	lower vfs.Filesystem
	upper UpperLayer

	// mu serialises copy-up and every change of the layers, and protects
	// the layer fields of every inode.
	mu   sync.Mutex
	root *inode
}

// New returns an overlay of upper (empty, writable) over lower. The upper
// root takes the lower root's attributes.
func New(ctx vfs.Context, lower vfs.Filesystem, upper UpperLayer) (*Filesystem, error) {
	fs := &Filesystem{lower: lower, upper: upper}
	lr := lower.Root()
	st, err := lr.Stat(ctx)
	if err != nil {
		return nil, err
	}
	if err := copyAttrs(ctx, upper.Root(), st); err != nil {
		return nil, err
	}
	fs.root = &inode{fs: fs, upper: upper.Root(), lower: lr, ino: st.Ino}
	return fs, nil
}

// Name implements vfs.Filesystem.
func (fs *Filesystem) Name() string { return "overlay" }

// Root implements vfs.Filesystem.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// Statfs implements vfs.Filesystem: the upper layer's space.
func (fs *Filesystem) Statfs(ctx vfs.Context) (unix.Statfs_t, error) {
	st, err := fs.upper.Statfs(ctx)
	st.Type = overlayfsMagic
	return st, err
}

// SyncFS implements vfs.FilesystemSyncer.
func (fs *Filesystem) SyncFS(vfs.Context) error { return nil }

// inode is one overlay file: an upper inode, a lower inode, or both (a
// copied-up file, or a directory present in both layers).
type inode struct {
	fs *Filesystem
	// parent and name locate the file for copy-up; protected by fs.mu.
	parent *inode
	name   string
	upper  vfs.Inode
	lower  vfs.Inode
	ino    uint64
}

// layers returns the inode's upper and lower inodes.
func (i *inode) layers() (upper, lower vfs.Inode) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	return i.upper, i.lower
}

// top returns the inode that answers for the file now.
func (i *inode) top() vfs.Inode {
	u, l := i.layers()
	if u != nil {
		return u
	}
	return l
}

func isDir(ctx vfs.Context, in vfs.Inode) bool {
	st, err := in.Stat(ctx)
	return err == nil && vfs.FileType(st.Mode) == unix.S_IFDIR
}

func isWhiteout(ctx vfs.Context, in vfs.Inode) bool {
	st, err := in.Stat(ctx)
	return err == nil && vfs.FileType(st.Mode) == unix.S_IFCHR && st.Rdev_major == 0 && st.Rdev_minor == 0
}

func isOpaque(in vfs.Inode) bool {
	x, ok := in.(xattrInode)
	if !ok {
		return false
	}
	v, ok := x.Xattr(opaqueXattr)
	return ok && string(v) == "y"
}

// Stat implements vfs.Inode.
func (i *inode) Stat(ctx vfs.Context) (unix.Statx_t, error) {
	upper, lower := i.layers()
	top := upper
	if top == nil {
		top = lower
	}
	st, err := top.Stat(ctx)
	if err != nil {
		return st, err
	}
	if upper != nil && lower != nil && vfs.FileType(st.Mode) == unix.S_IFDIR {
		// A merged directory: its size and link count are the lower
		// directory's, which hold most of its entries (overlayfs itself
		// reports the upper's; the lower's look like the tree the
		// sandbox was given).
		if lst, err := lower.Stat(ctx); err == nil {
			st.Size, st.Nlink, st.Blocks, st.Blksize = lst.Size, lst.Nlink, lst.Blocks, lst.Blksize
		}
	}
	st.Ino = i.ino
	st.Dev_major, st.Dev_minor = 0, 0
	return st, nil
}

// Lookup implements vfs.Inode.
func (i *inode) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	upper, lower := i.layers()
	if !isDir(ctx, i.top()) {
		return nil, unix.ENOTDIR
	}
	var u, l vfs.Inode
	if upper != nil {
		c, err := upper.Lookup(ctx, name)
		switch {
		case err == nil:
			if isWhiteout(ctx, c) {
				return nil, unix.ENOENT
			}
			u = c
		case err != unix.ENOENT:
			return nil, err
		}
	}
	if lower != nil && (upper == nil || !isOpaque(upper)) && (u == nil || (isDir(ctx, u) && !isOpaque(u))) {
		c, err := lower.Lookup(ctx, name)
		switch {
		case err == nil:
			if u == nil || isDir(ctx, c) {
				l = c
			}
		case err != unix.ENOENT:
			return nil, err
		}
	}
	if u == nil && l == nil {
		return nil, unix.ENOENT
	}
	c := &inode{fs: i.fs, parent: i, name: name, upper: u, lower: l}
	if l != nil {
		st, err := l.Stat(ctx)
		if err != nil {
			return nil, err
		}
		c.ino = st.Ino
	} else {
		st, err := u.Stat(ctx)
		if err != nil {
			return nil, err
		}
		c.ino = st.Ino | upperOnlyIno
	}
	return c, nil
}

// Readlink implements vfs.Inode.
func (i *inode) Readlink(ctx vfs.Context) (string, error) { return i.top().Readlink(ctx) }

// Open implements vfs.Inode.
func (i *inode) Open(ctx vfs.Context, d *vfs.Dentry, flags uint32) (vfs.FileImpl, error) {
	top := i.top()
	st, err := top.Stat(ctx)
	if err != nil {
		return nil, err
	}
	if flags&unix.O_PATH != 0 {
		return top.Open(ctx, d, flags)
	}
	if vfs.FileType(st.Mode) == unix.S_IFDIR {
		return &dirFile{inode: i, dentry: d}, nil
	}
	acc := flags & unix.O_ACCMODE
	if vfs.FileType(st.Mode) == unix.S_IFREG && (acc != unix.O_RDONLY || flags&unix.O_TRUNC != 0) {
		if top, err = i.copyUp(ctx, flags&unix.O_TRUNC == 0); err != nil {
			return nil, err
		}
	}
	return top.Open(ctx, d, flags)
}

// copyAttrs gives an upper inode the attributes st describes.
func copyAttrs(ctx vfs.Context, to vfs.Inode, st unix.Statx_t) error {
	s, ok := to.(vfs.AttrSetter)
	if !ok {
		return unix.EPERM
	}
	return s.SetAttr(ctx, vfs.SetAttr{
		Mask: unix.STATX_MODE | unix.STATX_UID | unix.STATX_GID | unix.STATX_ATIME | unix.STATX_MTIME,
		Mode: st.Mode &^ unix.S_IFMT, UID: st.Uid, GID: st.Gid, Atime: st.Atime, Mtime: st.Mtime,
	})
}

// copyUp gives i an upper copy (see copyUpLocked) and returns it.
func (i *inode) copyUp(ctx vfs.Context, withData bool) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.copyUpLocked(ctx, withData); err != nil {
		return nil, err
	}
	return i.upper, nil
}

// copyUpLocked gives i an upper copy, copying its parents first. withData
// says whether a regular file's bytes are copied (not when it is about to
// be truncated). fs.mu is held.
func (i *inode) copyUpLocked(ctx vfs.Context, withData bool) error {
	if i.upper != nil {
		return nil
	}
	if i.parent == nil {
		return unix.EIO
	}
	if err := i.parent.copyUpLocked(ctx, true); err != nil {
		return err
	}
	st, err := i.lower.Stat(ctx)
	if err != nil {
		return err
	}
	pu := i.parent.upper
	var u vfs.Inode
	switch vfs.FileType(st.Mode) {
	case unix.S_IFDIR:
		m, ok := pu.(vfs.Mkdirer)
		if !ok {
			return unix.EPERM
		}
		u, err = m.Mkdir(ctx, i.name, uint32(st.Mode&0o7777))
	case unix.S_IFREG:
		c, ok := pu.(vfs.Creator)
		if !ok {
			return unix.EPERM
		}
		u, err = c.Create(ctx, i.name, uint32(st.Mode&0o7777)|unix.S_IFREG)
		if err == nil && withData && st.Size > 0 {
			err = copyData(ctx, i.lower, u)
		}
	case unix.S_IFLNK:
		var target string
		if target, err = i.lower.Readlink(ctx); err != nil {
			return err
		}
		s, ok := pu.(vfs.Symlinker)
		if !ok {
			return unix.EPERM
		}
		u, err = s.Symlink(ctx, i.name, target)
	default:
		m, ok := pu.(vfs.Mknoder)
		if !ok {
			return unix.EPERM
		}
		u, err = m.Mknod(ctx, i.name, uint32(st.Mode), uint64(unix.Mkdev(st.Rdev_major, st.Rdev_minor)))
	}
	if err != nil {
		return err
	}
	if vfs.FileType(st.Mode) != unix.S_IFLNK {
		if err := copyAttrs(ctx, u, st); err != nil {
			return err
		}
	}
	if err := copyXattrs(ctx, i.lower, u); err != nil {
		return err
	}
	i.upper = u
	return nil
}

// copyXattrs gives an upper inode the lower one's extended attributes. A
// lower layer that has none, or cannot list them, has nothing to copy.
func copyXattrs(ctx vfs.Context, from, to vfs.Inode) error {
	fx, ok := from.(vfs.XattrInode)
	if !ok {
		return nil
	}
	names, err := fx.ListXattrs(ctx)
	if err != nil || len(names) == 0 {
		return nil
	}
	tx, ok := to.(vfs.XattrInode)
	if !ok {
		return unix.EOPNOTSUPP
	}
	for _, n := range names {
		if strings.HasPrefix(n, privateXattrPrefix) {
			continue
		}
		v, err := fx.GetXattr(ctx, n)
		if err == unix.ENODATA {
			continue // removed since the listing
		}
		if err != nil {
			return err
		}
		if err := tx.SetXattr(ctx, n, v, 0); err != nil {
			return err
		}
	}
	return nil
}

// copyData copies a regular file's bytes from the lower to the upper layer.
func copyData(ctx vfs.Context, from, to vfs.Inode) error {
	r, err := from.Open(ctx, nil, unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer r.Release()
	w, err := to.Open(ctx, nil, unix.O_WRONLY)
	if err != nil {
		return err
	}
	defer w.Release()
	buf := make([]byte, 256<<10)
	var off int64
	for {
		n, err := r.Read(ctx, buf, off)
		if n > 0 {
			if _, werr := w.Write(ctx, buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if err == io.EOF || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// prepareNameLocked copies directory i up and clears a whiteout at name,
// reporting whether there was one. fs.mu is held.
func (i *inode) prepareNameLocked(ctx vfs.Context, name string) (whiteout bool, err error) {
	if err := i.copyUpLocked(ctx, true); err != nil {
		return false, err
	}
	c, err := i.upper.Lookup(ctx, name)
	if err == unix.ENOENT {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !isWhiteout(ctx, c) {
		return false, unix.EEXIST
	}
	u, ok := i.upper.(vfs.Unlinker)
	if !ok {
		return false, unix.EPERM
	}
	return true, u.Unlink(ctx, name, c)
}

// newUpperChild wraps a new upper inode as a child of i.
func (i *inode) newUpperChild(ctx vfs.Context, name string, u vfs.Inode) (vfs.Inode, error) {
	st, err := u.Stat(ctx)
	if err != nil {
		return nil, err
	}
	return &inode{fs: i.fs, parent: i, name: name, upper: u, ino: st.Ino | upperOnlyIno}, nil
}

// Create implements vfs.Creator.
func (i *inode) Create(ctx vfs.Context, name string, mode uint32) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if _, err := i.prepareNameLocked(ctx, name); err != nil {
		return nil, err
	}
	c, ok := i.upper.(vfs.Creator)
	if !ok {
		return nil, unix.EPERM
	}
	u, err := c.Create(ctx, name, mode)
	if err != nil {
		return nil, err
	}
	return i.newUpperChild(ctx, name, u)
}

// Mkdir implements vfs.Mkdirer.
func (i *inode) Mkdir(ctx vfs.Context, name string, mode uint32) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	wh, err := i.prepareNameLocked(ctx, name)
	if err != nil {
		return nil, err
	}
	m, ok := i.upper.(vfs.Mkdirer)
	if !ok {
		return nil, unix.EPERM
	}
	u, err := m.Mkdir(ctx, name, mode)
	if err != nil {
		return nil, err
	}
	if wh {
		if x, ok := u.(xattrInode); ok {
			x.PutXattr(opaqueXattr, []byte("y"))
		}
	}
	return i.newUpperChild(ctx, name, u)
}

// Mknod implements vfs.Mknoder.
func (i *inode) Mknod(ctx vfs.Context, name string, mode uint32, rdev uint64) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if _, err := i.prepareNameLocked(ctx, name); err != nil {
		return nil, err
	}
	m, ok := i.upper.(vfs.Mknoder)
	if !ok {
		return nil, unix.EPERM
	}
	u, err := m.Mknod(ctx, name, mode, rdev)
	if err != nil {
		return nil, err
	}
	return i.newUpperChild(ctx, name, u)
}

// Symlink implements vfs.Symlinker.
func (i *inode) Symlink(ctx vfs.Context, name, target string) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if _, err := i.prepareNameLocked(ctx, name); err != nil {
		return nil, err
	}
	s, ok := i.upper.(vfs.Symlinker)
	if !ok {
		return nil, unix.EPERM
	}
	u, err := s.Symlink(ctx, name, target)
	if err != nil {
		return nil, err
	}
	return i.newUpperChild(ctx, name, u)
}

// Link implements vfs.Linker.
func (i *inode) Link(ctx vfs.Context, name string, target vfs.Inode) (vfs.Inode, error) {
	t, ok := target.(*inode)
	if !ok || t.fs != i.fs {
		return nil, unix.EXDEV
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := t.copyUpLocked(ctx, true); err != nil {
		return nil, err
	}
	if _, err := i.prepareNameLocked(ctx, name); err != nil {
		return nil, err
	}
	l, ok := i.upper.(vfs.Linker)
	if !ok {
		return nil, unix.EPERM
	}
	u, err := l.Link(ctx, name, t.upper)
	if err != nil {
		return nil, err
	}
	return &inode{fs: i.fs, parent: i, name: name, upper: u, ino: t.ino}, nil
}

// whiteoutLocked puts a whiteout at name in i's upper directory.
func (i *inode) whiteoutLocked(ctx vfs.Context, name string) error {
	m, ok := i.upper.(vfs.Mknoder)
	if !ok {
		return unix.EPERM
	}
	_, err := m.Mknod(ctx, name, unix.S_IFCHR, 0)
	return err
}

// removeLocked removes child c called name from directory i, leaving a
// whiteout if the lower layer has the name.
func (i *inode) removeLocked(ctx vfs.Context, name string, c *inode, dir bool) error {
	if err := i.copyUpLocked(ctx, true); err != nil {
		return err
	}
	if c.upper != nil {
		u, ok := i.upper.(vfs.Unlinker)
		if !ok {
			return unix.EPERM
		}
		var err error
		if dir {
			if err = clearWhiteouts(ctx, c.upper); err == nil {
				err = u.Rmdir(ctx, name, c.upper)
			}
		} else {
			err = u.Unlink(ctx, name, c.upper)
		}
		if err != nil {
			return err
		}
	}
	if c.lower != nil {
		return i.whiteoutLocked(ctx, name)
	}
	return nil
}

// Unlink implements vfs.Unlinker.
func (i *inode) Unlink(ctx vfs.Context, name string, child vfs.Inode) error {
	c, ok := child.(*inode)
	if !ok {
		return unix.EIO
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	return i.removeLocked(ctx, name, c, false)
}

// Rmdir implements vfs.Unlinker.
func (i *inode) Rmdir(ctx vfs.Context, name string, child vfs.Inode) error {
	c, ok := child.(*inode)
	if !ok {
		return unix.EIO
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	names, err := c.mergedNamesLocked(ctx)
	if err != nil {
		return err
	}
	if len(names) != 0 {
		return unix.ENOTEMPTY
	}
	return i.removeLocked(ctx, name, c, true)
}

// clearWhiteouts removes the whiteouts of an upper directory (which has
// nothing else), so that it can be removed.
func clearWhiteouts(ctx vfs.Context, dir vfs.Inode) error {
	ents, err := listDir(ctx, dir)
	if err != nil {
		return err
	}
	u, ok := dir.(vfs.Unlinker)
	if !ok {
		return unix.EPERM
	}
	for _, e := range ents {
		if e.Type != unix.DT_CHR {
			continue
		}
		c, err := dir.Lookup(ctx, e.Name)
		if err != nil {
			return err
		}
		if isWhiteout(ctx, c) {
			if err := u.Unlink(ctx, e.Name, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// Rename implements vfs.Renamer.
func (i *inode) Rename(ctx vfs.Context, oldName string, srcI vfs.Inode, newParent vfs.Inode, newName string, dstI vfs.Inode, flags uint32) error {
	np, ok := newParent.(*inode)
	src, ok2 := srcI.(*inode)
	if !ok || !ok2 || np.fs != i.fs {
		return unix.EXDEV
	}
	dst, _ := dstI.(*inode)
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	srcDir := isDir(ctx, src.topLocked())
	if srcDir && src.lower != nil {
		return unix.EXDEV
	}
	dstDir := dst != nil && isDir(ctx, dst.topLocked())
	if dst != nil && flags&vfs.RenameExchange != 0 && dstDir && dst.lower != nil {
		return unix.EXDEV
	}
	if err := i.copyUpLocked(ctx, true); err != nil {
		return err
	}
	if err := np.copyUpLocked(ctx, true); err != nil {
		return err
	}
	if err := src.copyUpLocked(ctx, true); err != nil {
		return err
	}
	opaque := false
	if dst != nil {
		if flags&vfs.RenameExchange != 0 {
			if err := dst.copyUpLocked(ctx, true); err != nil {
				return err
			}
		} else if dstDir && dst.lower != nil {
			// A merged directory being replaced must look empty; its
			// upper part goes, and the lower one stays hidden.
			names, err := dst.mergedNamesLocked(ctx)
			if err != nil {
				return err
			}
			if len(names) != 0 {
				return unix.ENOTEMPTY
			}
			if dst.upper != nil {
				if err := clearWhiteouts(ctx, dst.upper); err != nil {
					return err
				}
			}
			opaque = true
		}
	}
	if dst == nil || dst.upper == nil {
		// Whatever the upper layer has at newName (a whiteout) goes; a
		// moved directory then hides the lower one.
		wh, err := np.prepareNameLocked(ctx, newName)
		if err != nil {
			return err
		}
		opaque = opaque || wh || (dst != nil && dst.lower != nil)
	}
	rn, ok := i.upper.(vfs.Renamer)
	if !ok {
		return unix.EPERM
	}
	var dstUpper vfs.Inode
	if dst != nil {
		dstUpper = dst.upper
	}
	if err := rn.Rename(ctx, oldName, src.upper, np.upper, newName, dstUpper, flags); err != nil {
		return err
	}
	if srcDir && opaque {
		if x, ok := src.upper.(xattrInode); ok {
			x.PutXattr(opaqueXattr, []byte("y"))
		}
	}
	if flags&vfs.RenameExchange == 0 && src.lower != nil {
		// The old name showed a lower file: hide it.
		if err := i.whiteoutLocked(ctx, oldName); err != nil {
			return err
		}
	}
	src.parent, src.name = np, newName
	if dst != nil && flags&vfs.RenameExchange != 0 {
		dst.parent, dst.name = i, oldName
	}
	return nil
}

func (i *inode) topLocked() vfs.Inode {
	if i.upper != nil {
		return i.upper
	}
	return i.lower
}

// SetAttr implements vfs.AttrSetter.
func (i *inode) SetAttr(ctx vfs.Context, a vfs.SetAttr) error {
	u, err := i.copyUp(ctx, !(a.Mask&unix.STATX_SIZE != 0 && a.Size == 0))
	if err != nil {
		return err
	}
	s, ok := u.(vfs.AttrSetter)
	if !ok {
		return unix.EPERM
	}
	return s.SetAttr(ctx, a)
}

// Xattr implements xattrInode for nested overlays and tests.
func (i *inode) Xattr(name string) ([]byte, bool) {
	if x, ok := i.top().(xattrInode); ok {
		return x.Xattr(name)
	}
	return nil, false
}

// GetXattr implements vfs.XattrInode: the top layer's attribute; the
// overlay's own are not there to read.
func (i *inode) GetXattr(ctx vfs.Context, name string) ([]byte, error) {
	if strings.HasPrefix(name, privateXattrPrefix) {
		return nil, unix.ENODATA
	}
	x, ok := i.top().(vfs.XattrInode)
	if !ok {
		return nil, unix.EOPNOTSUPP
	}
	return x.GetXattr(ctx, name)
}

// ListXattrs implements vfs.XattrInode.
func (i *inode) ListXattrs(ctx vfs.Context) ([]string, error) {
	x, ok := i.top().(vfs.XattrInode)
	if !ok {
		return nil, nil
	}
	names, err := x.ListXattrs(ctx)
	if err != nil {
		return nil, err
	}
	kept := names[:0]
	for _, n := range names {
		if !strings.HasPrefix(n, privateXattrPrefix) {
			kept = append(kept, n)
		}
	}
	return kept, nil
}

// SetXattr implements vfs.XattrInode: the file is copied up and the upper
// copy changed. The overlay's own attributes cannot be set (EPERM, as
// overlayfs).
func (i *inode) SetXattr(ctx vfs.Context, name string, value []byte, flags uint32) error {
	return i.changeXattr(ctx, name, func(x vfs.XattrInode) error { return x.SetXattr(ctx, name, value, flags) })
}

// RemoveXattr implements vfs.XattrInode.
func (i *inode) RemoveXattr(ctx vfs.Context, name string) error {
	return i.changeXattr(ctx, name, func(x vfs.XattrInode) error { return x.RemoveXattr(ctx, name) })
}

func (i *inode) changeXattr(ctx vfs.Context, name string, fn func(vfs.XattrInode) error) error {
	if strings.HasPrefix(name, privateXattrPrefix) {
		return unix.EPERM
	}
	u, err := i.copyUp(ctx, true)
	if err != nil {
		return err
	}
	x, ok := u.(vfs.XattrInode)
	if !ok {
		return unix.EOPNOTSUPP
	}
	return fn(x)
}

// listDir lists a layer's directory, without "." and "..".
func listDir(ctx vfs.Context, dir vfs.Inode) ([]vfs.Dirent, error) {
	f, err := dir.Open(ctx, nil, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	var ents []vfs.Dirent
	// Starting at 2 skips the dot entries, which need a dentry.
	if _, err := f.IterDirents(ctx, 2, func(d vfs.Dirent) bool {
		if d.Name != "." && d.Name != ".." {
			ents = append(ents, d)
		}
		return true
	}); err != nil {
		return nil, err
	}
	return ents, nil
}

// entry is one name of a merged directory listing.
type entry struct {
	name string
	ino  uint64
	typ  uint8
}

// mergedNamesLocked lists directory i as the overlay shows it. fs.mu is
// held (or the layers are otherwise stable).
func (i *inode) mergedNamesLocked(ctx vfs.Context) ([]entry, error) {
	seen := make(map[string]int)
	var out []entry
	whiteouts := make(map[string]bool)
	opaque := false
	if i.upper != nil {
		ents, err := listDir(ctx, i.upper)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.Type == unix.DT_CHR {
				if c, err := i.upper.Lookup(ctx, e.Name); err == nil && isWhiteout(ctx, c) {
					whiteouts[e.Name] = true
					continue
				}
			}
			seen[e.Name] = len(out)
			out = append(out, entry{name: e.Name, ino: e.Ino | upperOnlyIno, typ: e.Type})
		}
		opaque = isOpaque(i.upper)
	}
	if i.lower != nil && !opaque {
		ents, err := listDir(ctx, i.lower)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if whiteouts[e.Name] {
				continue
			}
			if k, ok := seen[e.Name]; ok {
				// A copied-up file keeps its lower inode number.
				out[k].ino = e.Ino
				continue
			}
			out = append(out, entry{name: e.Name, ino: e.Ino, typ: e.Type})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].name < out[b].name })
	return out, nil
}

// dirFile is an open overlay directory; the merged listing is taken when
// reading starts at position 0.
type dirFile struct {
	vfs.FileDefaults
	inode   *inode
	dentry  *vfs.Dentry
	entries []entry
}

// Read implements vfs.FileImpl.
func (f *dirFile) Read(vfs.Context, []byte, int64) (int, error) { return 0, unix.EISDIR }

// IterDirents implements vfs.FileImpl.
func (f *dirFile) IterDirents(ctx vfs.Context, off int64, emit func(vfs.Dirent) bool) (int64, error) {
	if off == 0 || f.entries == nil {
		f.inode.fs.mu.Lock()
		ents, err := f.inode.mergedNamesLocked(ctx)
		f.inode.fs.mu.Unlock()
		if err != nil {
			return off, err
		}
		f.entries = ents
	}
	off, ok := vfs.DotEntries(ctx, f.dentry, off, emit)
	if !ok {
		return off, nil
	}
	for i := off - 2; i >= 0 && i < int64(len(f.entries)); i++ {
		e := f.entries[i]
		if !emit(vfs.Dirent{Name: e.name, Ino: e.ino, Type: e.typ, NextOff: i + 3}) {
			return i + 2, nil
		}
		off = i + 3
	}
	return off, nil
}

// Sync implements vfs.Syncer.
func (f *dirFile) Sync(vfs.Context, bool) error { return nil }
