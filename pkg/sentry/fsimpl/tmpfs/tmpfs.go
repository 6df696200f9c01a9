// Package tmpfs is the Sentry's in-memory file system: directories,
// regular files whose data lives in the memory file (so MAP_SHARED
// mappings of them share pages with read and write), symlinks, FIFOs,
// Unix socket files and device nodes. It is the upper layer of the root
// overlay, the file system of memfd_create(2), and what mount(2) of
// "tmpfs" makes.
//
// Lock order:
//
//	inode.dataMu (a regular file's size and data)
//	  Filesystem.mu (every inode's metadata and every directory's entries)
//	    mm.SharedMemory.mu
//	      memory.File.mu
package tmpfs

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/pipe"
	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/vfs"
)

const (
	pageSize  = 4096
	capFsetid = 4 // CAP_FSETID
)

// Options are the tmpfs mount options.
type Options struct {
	// Mode is the root directory's permission bits (default 01777).
	Mode uint16
	// UID and GID own the root directory.
	UID, GID uint32
	// Size limits the bytes of file data (rounded to pages); 0 is no
	// limit.
	Size int64
}

// ParseOptions parses mount(2) data such as "size=64m,mode=755,uid=0".
// Unknown options are EINVAL, as Linux's tmpfs.
func ParseOptions(data string) (Options, error) {
	o := Options{Mode: 0o1777}
	for _, kv := range strings.Split(data, ",") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "mode":
			m, err := strconv.ParseUint(v, 8, 16)
			if err != nil || m > 0o7777 {
				return o, unix.EINVAL
			}
			o.Mode = uint16(m)
		case "uid", "gid":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return o, unix.EINVAL
			}
			if k == "uid" {
				o.UID = uint32(n)
			} else {
				o.GID = uint32(n)
			}
		case "size":
			n, err := parseSize(v)
			if err != nil {
				return o, err
			}
			o.Size = n
		case "nr_inodes", "nr_blocks", "huge", "mpol", "inode64", "inode32", "noswap":
			// Accepted and ignored.
		default:
			return o, unix.EINVAL
		}
	}
	return o, nil
}

// parseSize parses a size with an optional k, m, g or t suffix.
func parseSize(v string) (int64, error) {
	if v == "" {
		return 0, unix.EINVAL
	}
	mult := int64(1)
	switch v[len(v)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	case 't', 'T':
		mult = 1 << 40
	case '%':
		return 0, unix.EINVAL
	}
	if mult != 1 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, unix.EINVAL
	}
	return n * mult, nil
}

// Filesystem is one tmpfs instance.
type Filesystem struct {
	mf   *memory.File
	opts Options

	mu sync.Mutex
	// used is the bytes of file data, each file's size rounded up to a
	// page, counted against opts.Size.
	used int64
	root *inode

	nextIno atomic.Uint64
}

// New returns an empty tmpfs whose file data lives in mf.
func New(mf *memory.File, opts Options) *Filesystem {
	if opts.Mode == 0 {
		opts.Mode = 0o1777
	}
	fs := &Filesystem{mf: mf, opts: opts}
	now := vfs.Now()
	fs.root = fs.newInode(unix.S_IFDIR|uint32(opts.Mode&0o7777), opts.UID, opts.GID, now)
	fs.root.nlink = 2
	fs.root.children = make(map[string]*inode)
	return fs
}

// Name implements vfs.Filesystem.
func (fs *Filesystem) Name() string { return "tmpfs" }

// Root implements vfs.Filesystem.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// Statfs implements vfs.Filesystem.
func (fs *Filesystem) Statfs(vfs.Context) (unix.Statfs_t, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	st := unix.Statfs_t{Type: unix.TMPFS_MAGIC, Bsize: pageSize, Frsize: pageSize, Namelen: vfs.MaxNameLen}
	if fs.opts.Size > 0 {
		st.Blocks = uint64(fs.opts.Size / pageSize)
		used := uint64(fs.used / pageSize)
		if used < st.Blocks {
			st.Bfree = st.Blocks - used
			st.Bavail = st.Bfree
		}
	}
	return st, nil
}

// SyncFS implements vfs.FilesystemSyncer: there is nothing to flush.
func (fs *Filesystem) SyncFS(vfs.Context) error { return nil }

// inode is one tmpfs file. Fields below mu are protected by fs.mu.
type inode struct {
	fs  *Filesystem
	ino uint64

	// dataMu serialises changes to a regular file's size and data.
	dataMu sync.Mutex

	mode                       uint16
	uid, gid                   uint32
	nlink                      uint32
	atime, mtime, ctime, btime unix.StatxTimestamp
	rdev                       uint64
	// children are a directory's entries.
	children map[string]*inode
	// target is a symlink's target.
	target string
	// data holds a regular file's bytes; the inode owns one reference,
	// dropped when the file has no names and no open files.
	data *mm.SharedMemory
	// opens counts a regular file's open file descriptions.
	opens int
	// pipe is a FIFO's buffer.
	pipe *pipe.Pipe
	// endpoint is the Unix socket bound to a socket file.
	endpoint any
	// xattrs are extended attributes (the overlay keeps its opaque marks
	// here).
	xattrs vfs.XattrMap
}

func (fs *Filesystem) newInode(mode uint32, uid, gid uint32, now unix.StatxTimestamp) *inode {
	return &inode{fs: fs, ino: fs.nextIno.Add(1), mode: uint16(mode), uid: uid, gid: gid, nlink: 1,
		atime: now, mtime: now, ctime: now, btime: now}
}

// newChild makes an inode owned by the caller for a new entry of dir,
// with S_ISGID inheritance. fs.mu is held.
func (dir *inode) newChild(ctx vfs.Context, mode uint32) *inode {
	creds := ctx.Credentials()
	uid, gid := creds.FSUID, creds.FSGID
	if dir.mode&unix.S_ISGID != 0 {
		gid = dir.gid
		if mode&unix.S_IFMT == unix.S_IFDIR {
			mode |= unix.S_ISGID
		}
	}
	if mode&unix.S_IFMT != unix.S_IFDIR && mode&unix.S_ISGID != 0 && !creds.InGroup(gid) && !creds.HasCapability(capFsetid) {
		mode &^= unix.S_ISGID
	}
	return dir.fs.newInode(mode, uid, gid, vfs.Now())
}

func (i *inode) fileType() uint16 { return i.mode & unix.S_IFMT }

// Stat implements vfs.Inode.
func (i *inode) Stat(vfs.Context) (unix.Statx_t, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	return i.statLocked(), nil
}

// bogoDirentSize is what Linux's tmpfs counts per directory entry in a
// directory's size.
const bogoDirentSize = 20

func (i *inode) statLocked() unix.Statx_t {
	st := unix.Statx_t{
		Mask:    unix.STATX_BASIC_STATS | unix.STATX_BTIME,
		Blksize: pageSize,
		Nlink:   i.nlink,
		Uid:     i.uid,
		Gid:     i.gid,
		Mode:    i.mode,
		Ino:     i.ino,
		Atime:   i.atime,
		Mtime:   i.mtime,
		Ctime:   i.ctime,
		Btime:   i.btime,
	}
	switch i.fileType() {
	case unix.S_IFREG:
		if i.data != nil {
			size := i.data.Size()
			st.Size = uint64(size)
			// Whole pages, as every page up to the size may be
			// allocated; holes are not tracked.
			st.Blocks = uint64((size + pageSize - 1) / pageSize * (pageSize / 512))
		}
	case unix.S_IFDIR:
		st.Size = uint64(len(i.children)+2) * bogoDirentSize
	case unix.S_IFLNK:
		st.Size = uint64(len(i.target))
	case unix.S_IFCHR, unix.S_IFBLK:
		st.Rdev_major, st.Rdev_minor = unix.Major(i.rdev), unix.Minor(i.rdev)
	}
	return st
}

// Lookup implements vfs.Inode.
func (i *inode) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if i.fileType() != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	c, ok := i.children[name]
	if !ok {
		return nil, unix.ENOENT
	}
	return c, nil
}

// Readlink implements vfs.Inode.
func (i *inode) Readlink(vfs.Context) (string, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if i.fileType() != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	i.touchAtimeLocked()
	return i.target, nil
}

// touchAtimeLocked updates atime with relatime rules: only if it is not
// newer than mtime or ctime, or is a day old.
func (i *inode) touchAtimeLocked() {
	now := vfs.Now()
	if !tsAfter(i.atime, i.mtime) || !tsAfter(i.atime, i.ctime) || now.Sec-i.atime.Sec >= 24*3600 {
		i.atime = now
	}
}

// tsAfter reports whether a is after b.
func tsAfter(a, b unix.StatxTimestamp) bool {
	return a.Sec > b.Sec || (a.Sec == b.Sec && a.Nsec > b.Nsec)
}

// addChildLocked links c into directory i as name. fs.mu is held.
func (i *inode) addChildLocked(name string, c *inode) {
	i.children[name] = c
	if c.fileType() == unix.S_IFDIR {
		i.nlink++
	}
	now := vfs.Now()
	i.mtime, i.ctime = now, now
}

// checkDirLocked returns ENOENT if directory i has been removed (no
// entries may be added) and ENOTDIR for a non-directory.
func (i *inode) checkDirLocked(name string) error {
	if i.fileType() != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	if i.nlink == 0 {
		return unix.ENOENT
	}
	if _, ok := i.children[name]; ok {
		return unix.EEXIST
	}
	return nil
}

// Create implements vfs.Creator.
func (i *inode) Create(ctx vfs.Context, name string, mode uint32) (vfs.Inode, error) {
	return i.Mknod(ctx, name, mode&0o7777|unix.S_IFREG, 0)
}

// Mkdir implements vfs.Mkdirer.
func (i *inode) Mkdir(ctx vfs.Context, name string, mode uint32) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.checkDirLocked(name); err != nil {
		return nil, err
	}
	c := i.newChild(ctx, mode&0o7777|unix.S_IFDIR)
	c.nlink = 2
	c.children = make(map[string]*inode)
	i.addChildLocked(name, c)
	return c, nil
}

// Mknod implements vfs.Mknoder.
func (i *inode) Mknod(ctx vfs.Context, name string, mode uint32, rdev uint64) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.checkDirLocked(name); err != nil {
		return nil, err
	}
	c := i.newChild(ctx, mode)
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		c.data = mm.NewSharedMemory(i.fs.mf, 0)
	case unix.S_IFIFO:
		c.pipe = pipe.New(ctx, 0)
	case unix.S_IFCHR, unix.S_IFBLK:
		c.rdev = rdev
	case unix.S_IFSOCK:
	default:
		return nil, unix.EINVAL
	}
	i.addChildLocked(name, c)
	return c, nil
}

// Symlink implements vfs.Symlinker.
func (i *inode) Symlink(ctx vfs.Context, name, target string) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.checkDirLocked(name); err != nil {
		return nil, err
	}
	c := i.newChild(ctx, unix.S_IFLNK|0o777)
	c.target = target
	i.addChildLocked(name, c)
	return c, nil
}

// Link implements vfs.Linker.
func (i *inode) Link(ctx vfs.Context, name string, target vfs.Inode) (vfs.Inode, error) {
	t, ok := target.(*inode)
	if !ok || t.fs != i.fs {
		return nil, unix.EXDEV
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.checkDirLocked(name); err != nil {
		return nil, err
	}
	if t.nlink == 0 {
		return nil, unix.ENOENT
	}
	t.nlink++
	t.ctime = vfs.Now()
	i.addChildLocked(name, t)
	return t, nil
}

// dropLinkLocked removes one name of c. fs.mu is held; the caller calls
// c.maybeFree after releasing it.
func (c *inode) dropLinkLocked() {
	if c.fileType() == unix.S_IFDIR {
		c.nlink = 0
	} else if c.nlink > 0 {
		c.nlink--
	}
	c.ctime = vfs.Now()
}

// maybeFree releases a regular file's data once it has no names and no
// open files.
func (c *inode) maybeFree() {
	c.fs.mu.Lock()
	var data *mm.SharedMemory
	if c.nlink == 0 && c.opens == 0 && c.data != nil {
		data = c.data
		c.data = nil
		c.fs.used -= roundUp(data.Size())
	}
	c.fs.mu.Unlock()
	if data != nil {
		data.DecRef()
	}
}

func roundUp(n int64) int64 { return (n + pageSize - 1) &^ (pageSize - 1) }

// Unlink implements vfs.Unlinker.
func (i *inode) Unlink(ctx vfs.Context, name string, child vfs.Inode) error {
	i.fs.mu.Lock()
	c, ok := i.children[name]
	if !ok || (child != nil && vfs.Inode(c) != child) {
		i.fs.mu.Unlock()
		return unix.ENOENT
	}
	if c.fileType() == unix.S_IFDIR {
		i.fs.mu.Unlock()
		return unix.EISDIR
	}
	delete(i.children, name)
	now := vfs.Now()
	i.mtime, i.ctime = now, now
	c.dropLinkLocked()
	i.fs.mu.Unlock()
	c.maybeFree()
	return nil
}

// Rmdir implements vfs.Unlinker.
func (i *inode) Rmdir(ctx vfs.Context, name string, child vfs.Inode) error {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	c, ok := i.children[name]
	if !ok || (child != nil && vfs.Inode(c) != child) {
		return unix.ENOENT
	}
	if c.fileType() != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	if len(c.children) != 0 {
		return unix.ENOTEMPTY
	}
	delete(i.children, name)
	i.nlink--
	now := vfs.Now()
	i.mtime, i.ctime = now, now
	c.dropLinkLocked()
	return nil
}

// Rename implements vfs.Renamer.
func (i *inode) Rename(ctx vfs.Context, oldName string, _ vfs.Inode, newParent vfs.Inode, newName string, _ vfs.Inode, flags uint32) error {
	np, ok := newParent.(*inode)
	if !ok || np.fs != i.fs {
		return unix.EXDEV
	}
	i.fs.mu.Lock()
	src, ok := i.children[oldName]
	if !ok {
		i.fs.mu.Unlock()
		return unix.ENOENT
	}
	if np.nlink == 0 {
		i.fs.mu.Unlock()
		return unix.ENOENT
	}
	dst, exists := np.children[newName]
	if src == dst {
		i.fs.mu.Unlock()
		return nil
	}
	now := vfs.Now()
	if flags&vfs.RenameExchange != 0 {
		if !exists {
			i.fs.mu.Unlock()
			return unix.ENOENT
		}
		i.children[oldName], np.children[newName] = dst, src
		if i != np && src.fileType() != dst.fileType() {
			if src.fileType() == unix.S_IFDIR {
				i.nlink--
				np.nlink++
			} else if dst.fileType() == unix.S_IFDIR {
				i.nlink++
				np.nlink--
			}
		}
		src.ctime, dst.ctime = now, now
		i.mtime, i.ctime, np.mtime, np.ctime = now, now, now, now
		i.fs.mu.Unlock()
		return nil
	}
	if exists {
		if flags&vfs.RenameNoReplace != 0 {
			i.fs.mu.Unlock()
			return unix.EEXIST
		}
		if dst.fileType() == unix.S_IFDIR {
			if src.fileType() != unix.S_IFDIR {
				i.fs.mu.Unlock()
				return unix.EISDIR
			}
			if len(dst.children) != 0 {
				i.fs.mu.Unlock()
				return unix.ENOTEMPTY
			}
			np.nlink--
		} else if src.fileType() == unix.S_IFDIR {
			i.fs.mu.Unlock()
			return unix.ENOTDIR
		}
		dst.dropLinkLocked()
	}
	delete(i.children, oldName)
	np.children[newName] = src
	if src.fileType() == unix.S_IFDIR && i != np {
		i.nlink--
		np.nlink++
	}
	src.ctime = now
	i.mtime, i.ctime, np.mtime, np.ctime = now, now, now, now
	i.fs.mu.Unlock()
	if exists {
		dst.maybeFree()
	}
	return nil
}

// SetAttr implements vfs.AttrSetter.
func (i *inode) SetAttr(ctx vfs.Context, a vfs.SetAttr) error {
	if a.Mask&unix.STATX_SIZE != 0 {
		if i.fileType() != unix.S_IFREG {
			return unix.EINVAL
		}
		i.dataMu.Lock()
		err := i.truncate(int64(a.Size))
		i.dataMu.Unlock()
		if err != nil {
			return err
		}
	}
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	now := vfs.Now()
	if a.Mask&unix.STATX_MODE != 0 {
		i.mode = i.mode&unix.S_IFMT | a.Mode&0o7777
	}
	if a.Mask&unix.STATX_UID != 0 {
		i.uid = a.UID
	}
	if a.Mask&unix.STATX_GID != 0 {
		i.gid = a.GID
	}
	if a.Mask&unix.STATX_ATIME != 0 {
		i.atime = a.Atime
	}
	if a.Mask&unix.STATX_MTIME != 0 {
		i.mtime = a.Mtime
	}
	if a.Mask&^unix.STATX_SIZE != 0 {
		i.ctime = now
	}
	return nil
}

// truncate sets a regular file's size; dataMu is held.
func (i *inode) truncate(size int64) error {
	if size < 0 {
		return unix.EINVAL
	}
	i.fs.mu.Lock()
	data := i.data
	if data == nil {
		i.fs.mu.Unlock()
		return unix.EINVAL
	}
	old := data.Size()
	if old == size {
		i.fs.mu.Unlock()
		return nil
	}
	delta := roundUp(size) - roundUp(old)
	if delta > 0 && i.fs.opts.Size > 0 && i.fs.used+delta > i.fs.opts.Size {
		i.fs.mu.Unlock()
		return unix.ENOSPC
	}
	i.fs.used += delta
	now := vfs.Now()
	i.mtime, i.ctime = now, now
	i.fs.mu.Unlock()
	return data.SetSize(size)
}

// Xattr returns the extended attribute name, unchecked (the overlay's
// own marks).
func (i *inode) Xattr(name string) ([]byte, bool) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	v, err := i.xattrs.Get(name)
	return v, err == nil
}

// PutXattr sets the extended attribute name, unchecked (nil removes it).
func (i *inode) PutXattr(name string, value []byte) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if value == nil {
		i.xattrs.Remove(name)
		return
	}
	i.xattrs.Set(name, value, 0)
	i.ctime = vfs.Now()
}

// GetXattr implements vfs.XattrInode.
func (i *inode) GetXattr(ctx vfs.Context, name string) ([]byte, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	return i.xattrs.Get(name)
}

// SetXattr implements vfs.XattrInode.
func (i *inode) SetXattr(ctx vfs.Context, name string, value []byte, flags uint32) error {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.xattrs.Set(name, value, flags); err != nil {
		return err
	}
	i.ctime = vfs.Now()
	return nil
}

// ListXattrs implements vfs.XattrInode.
func (i *inode) ListXattrs(ctx vfs.Context) ([]string, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	return i.xattrs.Names(), nil
}

// RemoveXattr implements vfs.XattrInode.
func (i *inode) RemoveXattr(ctx vfs.Context, name string) error {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if err := i.xattrs.Remove(name); err != nil {
		return err
	}
	i.ctime = vfs.Now()
	return nil
}

// Endpoint implements vfs.SocketInode.
func (i *inode) Endpoint() any {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	return i.endpoint
}

// SetEndpoint implements vfs.SocketInode.
func (i *inode) SetEndpoint(ep any) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	i.endpoint = ep
}

// Sync implements vfs.Syncer: memory is as stable as tmpfs gets.
func (i *inode) Sync(vfs.Context, bool) error { return nil }

// Open implements vfs.Inode.
func (i *inode) Open(ctx vfs.Context, d *vfs.Dentry, flags uint32) (vfs.FileImpl, error) {
	if flags&unix.O_PATH != 0 {
		return &pathFile{}, nil
	}
	switch i.fileType() {
	case unix.S_IFREG:
		acc := flags & unix.O_ACCMODE
		if flags&unix.O_TRUNC != 0 && (acc == unix.O_WRONLY || acc == unix.O_RDWR) {
			i.dataMu.Lock()
			err := i.truncate(0)
			i.dataMu.Unlock()
			if err != nil {
				return nil, err
			}
		}
		i.fs.mu.Lock()
		if i.data == nil {
			i.fs.mu.Unlock()
			return nil, unix.ENOENT
		}
		i.opens++
		i.fs.mu.Unlock()
		return &regularFile{inode: i}, nil
	case unix.S_IFDIR:
		return &dirFile{inode: i, dentry: d}, nil
	case unix.S_IFIFO:
		return i.pipe.Open(ctx, flags)
	case unix.S_IFLNK:
		return nil, unix.ELOOP
	}
	// Sockets cannot be opened; device nodes have no drivers here.
	return nil, unix.ENXIO
}

// pathFile is an O_PATH file.
type pathFile struct{ vfs.FileDefaults }

// regularFile is an open regular file.
type regularFile struct {
	vfs.FileDefaults
	inode    *inode
	released atomic.Bool
}

// Release implements vfs.FileImpl.
func (f *regularFile) Release() {
	if f.released.Swap(true) {
		return
	}
	i := f.inode
	i.fs.mu.Lock()
	i.opens--
	i.fs.mu.Unlock()
	i.maybeFree()
}

// Read implements vfs.FileImpl.
func (f *regularFile) Read(ctx vfs.Context, p []byte, off int64) (int, error) {
	i := f.inode
	i.fs.mu.Lock()
	data := i.data
	i.touchAtimeLocked()
	i.fs.mu.Unlock()
	if data == nil {
		return 0, nil
	}
	n, err := data.ReadAt(p, off)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// Write implements vfs.FileImpl.
func (f *regularFile) Write(ctx vfs.Context, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	end := off + int64(len(p))
	if off < 0 || end < off {
		return 0, unix.EFBIG
	}
	i := f.inode
	i.dataMu.Lock()
	defer i.dataMu.Unlock()
	i.fs.mu.Lock()
	data := i.data
	if data == nil {
		i.fs.mu.Unlock()
		return 0, unix.EIO
	}
	size := data.Size()
	now := vfs.Now()
	i.mtime, i.ctime = now, now
	// A write by someone without CAP_FSETID clears set-user-ID, and
	// set-group-ID with group execute (Linux's file_remove_privs).
	if i.mode&unix.S_ISUID != 0 || i.mode&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP {
		if ctx != nil && !ctx.Credentials().HasCapability(capFsetid) {
			i.mode &^= unix.S_ISUID
			if i.mode&unix.S_IXGRP != 0 {
				i.mode &^= unix.S_ISGID
			}
		}
	}
	if end > size {
		delta := roundUp(end) - roundUp(size)
		if delta > 0 && i.fs.opts.Size > 0 && i.fs.used+delta > i.fs.opts.Size {
			i.fs.mu.Unlock()
			return 0, unix.ENOSPC
		}
		i.fs.used += delta
		i.fs.mu.Unlock()
		if err := data.SetSize(end); err != nil {
			return 0, err
		}
	} else {
		i.fs.mu.Unlock()
	}
	return data.WriteAt(p, off)
}

// Mappable implements vfs.Mappable: the file's pages themselves, so
// MAP_SHARED mappings see and make the same bytes as read and write.
func (f *regularFile) Mappable() (mm.Mappable, error) {
	f.inode.fs.mu.Lock()
	defer f.inode.fs.mu.Unlock()
	if f.inode.data == nil {
		return nil, unix.ENODEV
	}
	return f.inode.data, nil
}

// Sync implements vfs.Syncer.
func (f *regularFile) Sync(vfs.Context, bool) error { return nil }

// Fallocate modes, from linux/falloc.h.
const (
	FallocKeepSize  = 0x01
	FallocPunchHole = 0x02
)

// Allocate implements vfs.Allocator: mode 0 extends the file,
// FALLOC_FL_KEEP_SIZE does nothing visible (pages are allocated when
// touched), and FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE zeroes the range
// and gives back whole pages.
func (f *regularFile) Allocate(ctx vfs.Context, mode uint32, off, length int64) error {
	i := f.inode
	end := off + length
	if end < off {
		return unix.EFBIG
	}
	switch mode {
	case 0:
		i.dataMu.Lock()
		defer i.dataMu.Unlock()
		i.fs.mu.Lock()
		size := i.data.Size()
		i.fs.mu.Unlock()
		if end <= size {
			return nil
		}
		if err := i.truncate(end); err != nil {
			return err
		}
		return nil
	case FallocKeepSize:
		return nil
	case FallocPunchHole | FallocKeepSize:
		i.dataMu.Lock()
		defer i.dataMu.Unlock()
		data := i.data
		size := data.Size()
		end = min(end, size)
		if off >= end {
			return nil
		}
		first := roundUp(off)
		last := end &^ (pageSize - 1)
		if first < last {
			data.Decommit(first, uint64(last-first))
		}
		zero := func(s, e int64) error {
			if s >= e {
				return nil
			}
			_, err := data.WriteAt(make([]byte, e-s), s)
			return err
		}
		if first >= last {
			return zero(off, end)
		}
		if err := zero(off, first); err != nil {
			return err
		}
		return zero(last, end)
	}
	return unix.EOPNOTSUPP
}

// dirFile is an open directory. Its listing is taken when reading starts
// at position 0: 0 is ".", 1 is "..", and i+2 the i-th name in order.
type dirFile struct {
	vfs.FileDefaults
	inode  *inode
	dentry *vfs.Dentry
	names  []string
}

// Read implements vfs.FileImpl.
func (f *dirFile) Read(vfs.Context, []byte, int64) (int, error) { return 0, unix.EISDIR }

// Sync implements vfs.Syncer.
func (f *dirFile) Sync(vfs.Context, bool) error { return nil }

// IterDirents implements vfs.FileImpl.
func (f *dirFile) IterDirents(ctx vfs.Context, off int64, emit func(vfs.Dirent) bool) (int64, error) {
	i := f.inode
	if off == 0 || f.names == nil {
		i.fs.mu.Lock()
		f.names = make([]string, 0, len(i.children))
		for n := range i.children {
			f.names = append(f.names, n)
		}
		i.touchAtimeLocked()
		i.fs.mu.Unlock()
		sort.Strings(f.names)
	}
	return vfs.IterStaticDirents(ctx, f.dentry, off, f.names, func(name string) (uint64, uint8) {
		i.fs.mu.Lock()
		defer i.fs.mu.Unlock()
		c, ok := i.children[name]
		if !ok {
			return 0, unix.DT_UNKNOWN
		}
		return c.ino, vfs.DirentType(c.mode)
	}, emit)
}

// NewUnlinkedFile returns a regular file with no name (memfd_create,
// O_TMPFILE), owned by the caller, with permission bits mode.
func (fs *Filesystem) NewUnlinkedFile(ctx vfs.Context, mode uint32) vfs.Inode {
	creds := ctx.Credentials()
	i := fs.newInode(unix.S_IFREG|mode&0o7777, creds.FSUID, creds.FSGID, vfs.Now())
	i.nlink = 0
	i.data = mm.NewSharedMemory(fs.mf, 0)
	return i
}

// String describes the file system for debugging.
func (fs *Filesystem) String() string { return fmt.Sprintf("tmpfs(size=%d)", fs.opts.Size) }
