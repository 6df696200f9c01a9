// Package gofer is the Sentry's client file system for trees served by the
// Gofer over 9P2000.L: every inode is a 9P fid; regular files opened by the
// application are read and written through the host FD that the Gofer
// donates with Rlopen, so data does not cross the 9P channel (reads go
// straight into application memory: vfs.DirectReader).
//
// # Caching and revalidation
//
// The Gofer serves a tree that belongs to this sandbox: the root file
// system (read-only under the default memory overlay, or the sandbox's
// alone with --overlay=none) and bind-mounted volumes. The Sentry therefore
// trusts what it has learnt and revalidates nothing:
//
//   - A name, once looked up, stays bound to its inode in vfs's dentry
//     cache until the Sentry itself removes or renames it: resolving a
//     cached path, and stat(2) of it, make no Gofer round trip. A name that
//     was not found is not remembered; the next lookup asks the Gofer.
//   - An inode's attributes come from the walk that found it and are
//     updated by the Sentry's own changes (writes extend the size and set
//     the modification and change times from the Sentry's clock; setattr,
//     link, unlink and rename reload them from the Gofer). fstat(2) of an
//     open regular file takes them afresh from its host descriptor
//     (StatFile).
//   - A host process changing a volume behind the sandbox's back is not
//     noticed for names and attributes already cached (new names are seen;
//     file data always is, being read from the host file).
//
// Open handles are kept for reuse (handles.go), so that open and close of
// a file opened before make no round trip; the page cache (cache.go) holds
// the pages of files mapped MAP_SHARED.
//
// Lock order: Filesystem.handleMu > pageCache.mu > inode.mu (see
// handles.go and cache.go).
package gofer

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/p9"
	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Filesystem is one attached Gofer tree.
type Filesystem struct {
	client *p9.Client
	root   *inode
	// mf holds page caches; nil until EnablePageCache.
	mf *memory.File

	// handleMu protects handles, the open handles kept for reuse
	// (handles.go).
	handleMu sync.Mutex
	handles  handleLRU
}

// EnablePageCache gives the file system the memory file its page caches
// live in (cache.go). Without it, shared mappings of its files are
// read-only copies.
func (fs *Filesystem) EnablePageCache(mf *memory.File) { fs.mf = mf }

// New attaches to the tree served on conn (one end of a socketpair to
// `runsc gofer`) and returns the file system.
func New(conn *os.File, aname string) (*Filesystem, error) {
	c, err := p9.NewClient(conn, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("gofer: connecting: %w", err)
	}
	f, qid, err := c.Attach(aname, 0)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("gofer: attaching %q: %w", aname, err)
	}
	_, valid, attr, err := f.GetAttr(p9.AttrBasic)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("gofer: getattr of root: %w", err)
	}
	fs := &Filesystem{client: c}
	fs.root = fs.newInode(f, valid, attr)
	fs.root.attr.Ino = qid.Path
	return fs, nil
}

// Name implements vfs.Filesystem.
func (fs *Filesystem) Name() string { return "9p" }

// Root implements vfs.Filesystem.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// Statfs implements vfs.Filesystem.
func (fs *Filesystem) Statfs(ctx vfs.Context) (unix.Statfs_t, error) {
	s, err := fs.root.file.StatFS()
	if err != nil {
		return unix.Statfs_t{}, err
	}
	return unix.Statfs_t{
		Type:    0x01021997, // V9FS_MAGIC
		Bsize:   int64(s.BlockSize),
		Blocks:  s.Blocks,
		Bfree:   s.BlocksFree,
		Bavail:  s.BlocksAvailable,
		Files:   s.Files,
		Ffree:   s.FilesFree,
		Namelen: int64(s.NameLength),
		Frsize:  int64(s.BlockSize),
	}, nil
}

// Close disconnects from the Gofer.
func (fs *Filesystem) Close() error { return fs.client.Close() }

// inode is one file of the tree, held as a walked 9P fid.
type inode struct {
	fs   *Filesystem
	file *p9.File

	mu   sync.Mutex
	attr unix.Statx_t
	// target caches a symlink's target.
	target string
	// readFD is a host FD opened read-only for mmap and exec, shared by
	// every mapping of the file; nil until first needed.
	readFD *os.File
	// cache is the file's page cache, made when it is first mapped.
	cache *pageCache
	// handles are the handles kept for reuse, by access mode
	// (handles.go; written under Filesystem.handleMu too).
	handles [3]*handle
}

// cached returns the inode's page cache if it holds pages.
func (i *inode) cached() *pageCache {
	i.mu.Lock()
	c := i.cache
	i.mu.Unlock()
	if c == nil || c.npages.Load() == 0 {
		return nil
	}
	return c
}

func (fs *Filesystem) newInode(f *p9.File, valid p9.AttrMask, a p9.Attr) *inode {
	return &inode{fs: fs, file: f, attr: toStatx(valid, a)}
}

func toStatx(valid p9.AttrMask, a p9.Attr) unix.Statx_t {
	return unix.Statx_t{
		Mask:       unix.STATX_BASIC_STATS,
		Blksize:    uint32(a.BlockSize),
		Nlink:      uint32(a.NLink),
		Uid:        a.UID,
		Gid:        a.GID,
		Mode:       uint16(a.Mode),
		Size:       a.Size,
		Blocks:     a.Blocks,
		Atime:      unix.StatxTimestamp{Sec: int64(a.ATimeSec), Nsec: uint32(a.ATimeNSec)},
		Mtime:      unix.StatxTimestamp{Sec: int64(a.MTimeSec), Nsec: uint32(a.MTimeNSec)},
		Ctime:      unix.StatxTimestamp{Sec: int64(a.CTimeSec), Nsec: uint32(a.CTimeNSec)},
		Btime:      unix.StatxTimestamp{Sec: int64(a.BTimeSec), Nsec: uint32(a.BTimeNSec)},
		Rdev_major: unix.Major(a.RDev),
		Rdev_minor: unix.Minor(a.RDev),
	}
}

// Stat implements vfs.Inode.
func (i *inode) Stat(ctx vfs.Context) (unix.Statx_t, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.attr, nil
}

// Lookup implements vfs.Inode.
func (i *inode) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	i.mu.Lock()
	isDir := vfs.FileType(i.attr.Mode) == unix.S_IFDIR
	i.mu.Unlock()
	if !isDir {
		return nil, unix.ENOTDIR
	}
	qids, f, valid, attr, err := i.file.WalkGetAttr([]string{name}, p9.AttrBasic)
	if err != nil {
		return nil, err
	}
	n := i.fs.newInode(f, valid, attr)
	// The Gofer's QID path is the host inode number.
	n.attr.Ino = qids[len(qids)-1].Path
	return n, nil
}

// Readlink implements vfs.Inode.
func (i *inode) Readlink(ctx vfs.Context) (string, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if vfs.FileType(i.attr.Mode) != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	if i.target != "" {
		return i.target, nil
	}
	t, err := i.file.Readlink()
	if err != nil {
		return "", err
	}
	i.target = t
	return t, nil
}

// Open implements vfs.Inode.
func (i *inode) Open(ctx vfs.Context, d *vfs.Dentry, flags uint32) (vfs.FileImpl, error) {
	i.mu.Lock()
	mode := i.attr.Mode
	i.mu.Unlock()
	if flags&unix.O_PATH != 0 {
		return &pathFile{}, nil
	}
	switch vfs.FileType(mode) {
	case unix.S_IFDIR:
		f, hostFD, _, _, err := i.file.WalkOpen(unix.O_RDONLY)
		if err != nil {
			return nil, err
		}
		if hostFD != nil {
			hostFD.Close()
		}
		return &dirFile{inode: i, dentry: d, fid: f}, nil
	case unix.S_IFREG:
		h, err := i.openHandle(flags)
		if err != nil {
			return nil, err
		}
		if flags&unix.O_TRUNC != 0 {
			i.mu.Lock()
			i.attr.Size = 0
			c := i.cache
			i.mu.Unlock()
			if c != nil {
				c.truncate(0)
			}
		}
		writable := flags&unix.O_ACCMODE != unix.O_RDONLY
		return &regularFile{inode: i, h: h, fid: h.fid, host: h.host, writable: writable}, nil
	}
	// Devices, fifos and sockets on the host are not reachable from the
	// sandbox through the Gofer.
	return nil, unix.ENXIO
}

// pathFile is an O_PATH file: it names a file but allows no I/O.
type pathFile struct{ vfs.FileDefaults }

// regularFile is an open regular file.
type regularFile struct {
	vfs.FileDefaults
	inode *inode
	// h is the open handle, perhaps shared with other opens; fid and
	// host are its fid and donated host FD (or nil).
	h    *handle
	fid  *p9.File
	host *os.File
	// writable is set for files opened for writing.
	writable bool
}

// Release implements vfs.FileImpl.
func (f *regularFile) Release() { f.h.decRef() }

// ReadsDirectly implements vfs.DirectReader: reads are preads of a host
// file (or copies from the page cache).
func (f *regularFile) ReadsDirectly() bool { return f.host != nil }

// Read implements vfs.FileImpl.
func (f *regularFile) Read(ctx vfs.Context, p []byte, off int64) (int, error) {
	if c := f.inode.cached(); c != nil {
		size := c.Size()
		if off >= size {
			return 0, nil
		}
		if int64(len(p)) > size-off {
			p = p[:size-off]
		}
		return c.read(p, off)
	}
	if f.host != nil {
		n, err := unix.Pread(int(f.host.Fd()), p, off)
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	n, err := f.fid.ReadAt(p, uint64(off))
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// Write implements vfs.FileImpl.
func (f *regularFile) Write(ctx vfs.Context, p []byte, off int64) (int, error) {
	var n int
	var err error
	if f.host != nil {
		n, err = unix.Pwrite(int(f.host.Fd()), p, off)
	} else {
		n, err = f.fid.WriteAt(p, uint64(off))
	}
	if n > 0 {
		// The host set the file's times as it wrote; the cache follows
		// with the Sentry's clock, so that stat(2) of a written file
		// shows it changed without asking the Gofer.
		now := vfs.Now()
		f.inode.mu.Lock()
		if end := uint64(off) + uint64(n); end > f.inode.attr.Size {
			f.inode.attr.Size = end
		}
		f.inode.attr.Mtime, f.inode.attr.Ctime = now, now
		f.inode.mu.Unlock()
		if c := f.inode.cached(); c != nil {
			c.write(p[:n], off)
		}
	}
	return n, err
}

// mappable returns the inode's shared read handle for private mappings
// (openReadFD(from)).
func (i *inode) mappable(from *os.File) (mm.Mappable, error) {
	fd, err := i.openReadFD(from)
	if err != nil {
		return nil, err
	}
	return &hostMappable{inode: i, fd: fd}, nil
}

// openReadFD returns i.readFD, opening it the first time: as a copy of
// from (a host descriptor of the file open for reading only), or else
// with a new open.
func (i *inode) openReadFD(from *os.File) (*os.File, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.readFD == nil && from != nil {
		if fd, err := unix.FcntlInt(from.Fd(), unix.F_DUPFD_CLOEXEC, 0); err == nil {
			i.readFD = os.NewFile(uintptr(fd), "gofer-read")
		}
	}
	if i.readFD == nil {
		f, host, _, _, err := i.file.WalkOpen(unix.O_RDONLY)
		if err != nil {
			return nil, err
		}
		f.Close()
		if host == nil {
			return nil, unix.ENODEV
		}
		i.readFD = host
	}
	return i.readFD, nil
}

// hostMappable reads a file's bytes for mm through a host FD.
type hostMappable struct {
	inode *inode
	fd    *os.File
}

// ReadAt implements mm.Mappable.
func (m *hostMappable) ReadAt(p []byte, off int64) (int, error) {
	n, err := unix.Pread(int(m.fd.Fd()), p, off)
	if err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Size implements mm.Mappable.
func (m *hostMappable) Size() int64 {
	var st unix.Stat_t
	if err := unix.Fstat(int(m.fd.Fd()), &st); err != nil {
		m.inode.mu.Lock()
		defer m.inode.mu.Unlock()
		return int64(m.inode.attr.Size)
	}
	return st.Size
}

// Ioctl implements vfs.FileImpl.
func (f *regularFile) Ioctl(ctx vfs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	return 0, unix.ENOTTY
}

// dirFile is an open directory. Its listing is read whole from the Gofer
// when reading starts at position 0, so positions are stable small
// integers: 0 is ".", 1 is "..", and i+2 is the i-th entry.
type dirFile struct {
	vfs.FileDefaults
	inode   *inode
	dentry  *vfs.Dentry
	fid     *p9.File
	entries []p9.Dirent
}

// Release implements vfs.FileImpl.
func (f *dirFile) Release() { f.fid.Close() }

// Read implements vfs.FileImpl.
func (f *dirFile) Read(vfs.Context, []byte, int64) (int, error) { return 0, unix.EISDIR }

// Write implements vfs.FileImpl.
func (f *dirFile) Write(vfs.Context, []byte, int64) (int, error) { return 0, unix.EBADF }

// IterDirents implements vfs.FileImpl.
func (f *dirFile) IterDirents(ctx vfs.Context, off int64, emit func(vfs.Dirent) bool) (int64, error) {
	if off == 0 || f.entries == nil {
		var all []p9.Dirent
		var cookie uint64
		for {
			ents, err := f.fid.Readdir(cookie, 64*1024)
			if err != nil {
				return off, err
			}
			if len(ents) == 0 {
				break
			}
			all = append(all, ents...)
			cookie = ents[len(ents)-1].Offset
		}
		f.entries = all
	}
	off, ok := vfs.DotEntries(ctx, f.dentry, off, emit)
	if !ok {
		return off, nil
	}
	for i := off - 2; i >= 0 && i < int64(len(f.entries)); i++ {
		e := f.entries[i]
		if !emit(vfs.Dirent{Name: e.Name, Ino: e.QID.Path, Type: e.Type, NextOff: i + 3}) {
			return i + 2, nil
		}
		off = i + 3
	}
	return off, nil
}
