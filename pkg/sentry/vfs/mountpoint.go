package vfs

import (
	"golang.org/x/sys/unix"
)

// MountAtName mounts fi on the directory called name in parent, as the
// sandbox's /proc, /sys and /dev are mounted over the root's. A file system
// whose root is not a directory (a bind mount of one file, such as
// /etc/hosts) is mounted on a non-directory instead; as in Linux, mounting
// a directory on a non-directory or the reverse fails with ENOTDIR. If
// parent has no such entry that can be served (the Gofer refuses to serve
// the host's own /proc and /sys), an empty placeholder (a directory, or an
// empty read-only file for a file root) is put in the dentry cache under
// that name to carry the mount, so the mount point always exists in the
// sandbox.
func (v *VFS) MountAtName(ctx Context, parent VirtualDentry, name string, fi *FilesystemInstance, source string, readOnly bool) (*Mount, error) {
	rootSt, err := fi.root.inode.Stat(ctx)
	if err != nil {
		return nil, err
	}
	rootIsDir := FileType(rootSt.Mode) == unix.S_IFDIR
	d, err := parent.Dentry.child(ctx, name)
	if err == nil {
		st, serr := d.inode.Stat(ctx)
		if serr != nil {
			return nil, serr
		}
		if (FileType(st.Mode) == unix.S_IFDIR) != rootIsDir {
			return nil, unix.ENOTDIR
		}
	} else {
		var inode Inode = placeholderDir{}
		if !rootIsDir {
			inode = placeholderReg{}
		}
		d = &Dentry{parent: parent.Dentry, name: name, inode: inode, fs: parent.Dentry.fs}
		parent.Dentry.mu.Lock()
		if parent.Dentry.children == nil {
			parent.Dentry.children = make(map[string]*Dentry)
		}
		parent.Dentry.children[name] = d
		parent.Dentry.mu.Unlock()
	}
	return v.Mount(fi, VirtualDentry{Mount: parent.Mount, Dentry: d}, source, readOnly)
}

// placeholderDir is an empty, read-only directory that only serves as a
// mount point.
type placeholderDir struct{}

func (placeholderDir) Stat(Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFDIR | 0o555, Nlink: 2, Blksize: 4096}, nil
}
func (placeholderDir) Lookup(Context, string) (Inode, error) { return nil, unix.ENOENT }
func (placeholderDir) Readlink(Context) (string, error)      { return "", unix.EINVAL }
func (placeholderDir) Open(_ Context, d *Dentry, _ uint32) (FileImpl, error) {
	return &placeholderFile{d: d}, nil
}

type placeholderFile struct {
	FileDefaults
	d *Dentry
}

func (f *placeholderFile) Read(Context, []byte, int64) (int, error) { return 0, unix.EISDIR }

func (f *placeholderFile) IterDirents(ctx Context, off int64, emit func(Dirent) bool) (int64, error) {
	off, _ = DotEntries(ctx, f.d, off, emit)
	return off, nil
}

// placeholderReg is an empty, read-only regular file that only serves as
// the mount point of a file.
type placeholderReg struct{}

func (placeholderReg) Stat(Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFREG | 0o444, Nlink: 1, Blksize: 4096}, nil
}
func (placeholderReg) Lookup(Context, string) (Inode, error) { return nil, unix.ENOTDIR }
func (placeholderReg) Readlink(Context) (string, error)      { return "", unix.EINVAL }
func (placeholderReg) Open(Context, *Dentry, uint32) (FileImpl, error) {
	return &placeholderRegFile{}, nil
}

type placeholderRegFile struct{ FileDefaults }

func (*placeholderRegFile) Read(Context, []byte, int64) (int, error) { return 0, nil }
