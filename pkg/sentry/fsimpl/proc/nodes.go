package proc

import (
	"hash/fnv"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

// The building blocks of the tree: directories whose entries are computed
// when they are listed or looked up, files whose contents are generated
// when they are opened, and symlinks whose targets are computed when they
// are read. None of them holds kernel objects: a node of a process's
// directory holds the PID and finds the process again on every use, since
// vfs caches dentries (and so inodes) for as long as it likes.

// ownerFunc returns the owner of a node, or an error (ENOENT) when what the
// node describes no longer exists.
type ownerFunc func(ctx vfs.Context) (uid, gid uint32, err error)

// rootOwned is the owner of the nodes that describe the whole sandbox.
func rootOwned(vfs.Context) (uint32, uint32, error) { return 0, 0, nil }

// inoOf returns a stable inode number for a path inside /proc.
func inoOf(path string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(path))
	return h.Sum64()&(1<<62-1) | 1<<20
}

// statOf fills in the attributes common to every node.
func (fs *Filesystem) statOf(ctx vfs.Context, ino uint64, mode uint16, nlink uint32, owner ownerFunc) (unix.Statx_t, error) {
	uid, gid, err := owner(ctx)
	if err != nil {
		return unix.Statx_t{}, err
	}
	ts := fs.ts
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: mode, Nlink: nlink, Ino: ino, Uid: uid, Gid: gid,
		Blksize: 4096, Atime: ts, Mtime: ts, Ctime: ts}, nil
}

// dirNode is a directory. list returns its entries' names in readdir
// order; lookup returns one child (ENOENT if there is none).
type dirNode struct {
	fs     *Filesystem
	ino    uint64
	perm   uint16
	owner  ownerFunc
	list   func(ctx vfs.Context) ([]string, error)
	lookup func(ctx vfs.Context, name string) (vfs.Inode, error)
	// exists, if set, marks a directory whose entries come and go with
	// processes and descriptors: a cached entry is used only while exists
	// says it is still there (vfs.Revalidator).
	exists func(ctx vfs.Context, name string) bool
}

// RevalidateChild implements vfs.Revalidator.
func (d *dirNode) RevalidateChild(ctx vfs.Context, name string, _ vfs.Inode) bool {
	return d.exists == nil || d.exists(ctx, name)
}

// lookupExists is an exists function that looks the name up again.
func (d *dirNode) lookupExists(ctx vfs.Context, name string) bool {
	_, err := d.lookup(ctx, name)
	return err == nil
}

// dynamic makes d revalidate its cached entries by looking them up again.
func (d *dirNode) dynamic() *dirNode {
	d.exists = d.lookupExists
	return d
}

// staticDir returns a directory with fixed children, listed in the order
// of names.
func (fs *Filesystem) staticDir(path string, perm uint16, owner ownerFunc, names []string, children map[string]vfs.Inode) *dirNode {
	return &dirNode{fs: fs, ino: inoOf(path), perm: perm, owner: owner,
		list: func(vfs.Context) ([]string, error) { return names, nil },
		lookup: func(_ vfs.Context, name string) (vfs.Inode, error) {
			if c, ok := children[name]; ok {
				return c, nil
			}
			return nil, unix.ENOENT
		}}
}

// Stat implements vfs.Inode.
func (d *dirNode) Stat(ctx vfs.Context) (unix.Statx_t, error) {
	return d.fs.statOf(ctx, d.ino, unix.S_IFDIR|d.perm, 2, d.owner)
}

// Lookup implements vfs.Inode.
func (d *dirNode) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	if _, _, err := d.owner(ctx); err != nil {
		return nil, err
	}
	return d.lookup(ctx, name)
}

// Readlink implements vfs.Inode.
func (d *dirNode) Readlink(vfs.Context) (string, error) { return "", unix.EINVAL }

// Open implements vfs.Inode.
func (d *dirNode) Open(ctx vfs.Context, dent *vfs.Dentry, flags uint32) (vfs.FileImpl, error) {
	if _, _, err := d.owner(ctx); err != nil {
		return nil, err
	}
	return &dirFile{d: d, dent: dent}, nil
}

// dirFile is an open directory. Its entries are listed when reading
// starts (at offset 0, so a rewind lists again), not at open: a process's
// fd directory then shows the descriptor reading it. Later getdents calls
// continue in that snapshot.
type dirFile struct {
	vfs.FileDefaults
	d     *dirNode
	dent  *vfs.Dentry
	names []string
	// listed says whether names holds a listing.
	listed bool
}

// Read implements vfs.FileImpl.
func (f *dirFile) Read(vfs.Context, []byte, int64) (int, error) { return 0, unix.EISDIR }

// IterDirents implements vfs.FileImpl. An entry that vanished since the
// listing is still returned, with DT_UNKNOWN, as a racing readdir on Linux
// may do. Calls are serialised by the file description's offset lock.
func (f *dirFile) IterDirents(ctx vfs.Context, off int64, emit func(vfs.Dirent) bool) (int64, error) {
	if off == 0 || !f.listed {
		names, err := f.d.list(ctx)
		if err != nil {
			return off, err
		}
		f.names, f.listed = names, true
	}
	return vfs.IterStaticDirents(ctx, f.dent, off, f.names, func(name string) (uint64, uint8) {
		c, err := f.d.lookup(ctx, name)
		if err != nil {
			return inoOf(name), unix.DT_UNKNOWN
		}
		st, err := c.Stat(ctx)
		if err != nil {
			return inoOf(name), unix.DT_UNKNOWN
		}
		return st.Ino, vfs.DirentType(st.Mode)
	}, emit)
}

// fileNode is a regular file whose contents gen produces at open. write,
// if set, receives what is written (each write(2) call separately).
type fileNode struct {
	fs    *Filesystem
	ino   uint64
	perm  uint16
	owner ownerFunc
	gen   func(ctx vfs.Context) ([]byte, error)
	write func(ctx vfs.Context, p []byte) error
}

// Stat implements vfs.Inode. The size is 0, as for Linux's generated files.
func (n *fileNode) Stat(ctx vfs.Context) (unix.Statx_t, error) {
	return n.fs.statOf(ctx, n.ino, unix.S_IFREG|n.perm, 1, n.owner)
}

// Lookup implements vfs.Inode.
func (n *fileNode) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOTDIR }

// Readlink implements vfs.Inode.
func (n *fileNode) Readlink(vfs.Context) (string, error) { return "", unix.EINVAL }

// Open implements vfs.Inode: the contents are generated now, so that reads
// at any offsets see one snapshot.
func (n *fileNode) Open(ctx vfs.Context, _ *vfs.Dentry, flags uint32) (vfs.FileImpl, error) {
	acc := flags & unix.O_ACCMODE
	if (acc == unix.O_WRONLY || acc == unix.O_RDWR) && n.write == nil {
		return nil, unix.EACCES
	}
	f := &bufferFile{n: n}
	if acc == unix.O_RDONLY || acc == unix.O_RDWR {
		data, err := n.gen(ctx)
		if err != nil {
			return nil, err
		}
		f.data = data
	}
	return f, nil
}

// bufferFile is an open generated file: a snapshot taken at open.
type bufferFile struct {
	vfs.FileDefaults
	n    *fileNode
	data []byte
}

// Read implements vfs.FileImpl.
func (f *bufferFile) Read(_ vfs.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	if off >= int64(len(f.data)) {
		return 0, nil
	}
	return copy(p, f.data[off:]), nil
}

// Write implements vfs.FileImpl.
func (f *bufferFile) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	if f.n.write == nil {
		return 0, unix.EINVAL
	}
	if err := f.n.write(ctx, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// symlinkNode is a symbolic link whose target is computed when read.
type symlinkNode struct {
	fs    *Filesystem
	ino   uint64
	owner ownerFunc
	// perm is the permission bits stat shows; 0 means 0777.
	perm   uint16
	target func(ctx vfs.Context) (string, error)
	// magic, if set, makes the link a magic link (vfs.MagicLinkResolver):
	// path resolution goes where it says, not through target's text.
	magic func(ctx vfs.Context) (vfs.VirtualDentry, error)
}

// IsMagicLink implements vfs.MagicLink.
func (l *symlinkNode) IsMagicLink() bool { return l.magic != nil }

// ResolveMagic implements vfs.MagicLinkResolver.
func (l *symlinkNode) ResolveMagic(ctx vfs.Context) (vfs.VirtualDentry, error) {
	if _, _, err := l.owner(ctx); err != nil {
		return vfs.VirtualDentry{}, err
	}
	return l.magic(ctx)
}

// Stat implements vfs.Inode.
func (l *symlinkNode) Stat(ctx vfs.Context) (unix.Statx_t, error) {
	perm := l.perm
	if perm == 0 {
		perm = 0o777
	}
	return l.fs.statOf(ctx, l.ino, unix.S_IFLNK|perm, 1, l.owner)
}

// Lookup implements vfs.Inode.
func (l *symlinkNode) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOTDIR }

// Readlink implements vfs.Inode.
func (l *symlinkNode) Readlink(ctx vfs.Context) (string, error) {
	if _, _, err := l.owner(ctx); err != nil {
		return "", err
	}
	return l.target(ctx)
}

// Open implements vfs.Inode (reachable only with O_PATH|O_NOFOLLOW).
func (l *symlinkNode) Open(vfs.Context, *vfs.Dentry, uint32) (vfs.FileImpl, error) {
	return &vfs.FileDefaults{}, nil
}

// staticFile returns a read-only file generated by gen, owned by root.
func (fs *Filesystem) staticFile(path string, gen func(ctx vfs.Context) ([]byte, error)) *fileNode {
	return &fileNode{fs: fs, ino: inoOf(path), perm: 0o444, owner: rootOwned, gen: gen}
}

// constFile returns a read-only root-owned file with fixed contents.
func (fs *Filesystem) constFile(path, contents string) *fileNode {
	return fs.staticFile(path, func(vfs.Context) ([]byte, error) { return []byte(contents), nil })
}

// link returns a root-owned symlink to a fixed target.
func (fs *Filesystem) link(path, target string) *symlinkNode {
	return &symlinkNode{fs: fs, ino: inoOf(path), owner: rootOwned,
		target: func(vfs.Context) (string, error) { return target, nil }}
}
