package proc

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/pipe"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/vfs"
)

// AnonInodeNamer may be implemented by the FileImpl of a file with no
// place in the tree (eventfd, timerfd, epoll …) to name it in
// /proc/[pid]/fd as Linux does: "[eventfd]" shows as "anon_inode:[eventfd]".
type AnonInodeNamer interface {
	AnonInodeName() string
}

// fdFile returns the open file at descriptor n of the process, with a
// reference the caller drops, and its close-on-exec flag.
func (r procRef) fdFile(n int32) (*kernel.Task, *vfs.FileDescription, bool, error) {
	_, named, live, err := r.resolve()
	if err != nil {
		return nil, nil, false, err
	}
	if live == nil {
		return nil, nil, false, unix.ENOENT
	}
	f, cloexec, err := live.FDTable().Get(n)
	if err != nil {
		return nil, nil, false, unix.ENOENT
	}
	return named, f, cloexec, nil
}

// fdList lists the process's descriptors.
func (r procRef) fdList(vfs.Context) ([]string, error) {
	_, _, live, err := r.resolve()
	if err != nil {
		return nil, err
	}
	if live == nil {
		return nil, nil
	}
	var names []string
	for _, fd := range sortedFDs(live) {
		names = append(names, strconv.Itoa(int(fd)))
	}
	return names, nil
}

// parseFD parses a descriptor number as a directory entry name.
func parseFD(name string) (int32, bool) {
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil || n < 0 || strconv.Itoa(int(n)) != name {
		return 0, false
	}
	return int32(n), true
}

// fdDir returns /proc/[pid]/fd: a link per open descriptor.
func (r procRef) fdDir(base string) vfs.Inode {
	return (&dirNode{fs: r.fs, ino: inoOf(base), perm: 0o500, owner: r.owner, list: r.fdList,
		lookup: func(_ vfs.Context, name string) (vfs.Inode, error) {
			n, ok := parseFD(name)
			if !ok {
				return nil, unix.ENOENT
			}
			_, f, _, err := r.fdFile(n)
			if err != nil {
				return nil, err
			}
			perm := uint16(0)
			if f.IsReadable() {
				perm |= 0o500
			}
			if f.IsWritable() {
				perm |= 0o300
			}
			f.DecRef()
			if perm == 0 {
				perm = 0o100 // O_PATH
			}
			return &symlinkNode{fs: r.fs, ino: inoOf(base + "/" + name), perm: perm,
				owner: func(ctx vfs.Context) (uint32, uint32, error) {
					t, f, _, err := r.fdFile(n)
					if err != nil {
						return 0, 0, err
					}
					f.DecRef()
					c := t.Credentials()
					return c.EffectiveUID, c.EffectiveGID, nil
				},
				target: func(ctx vfs.Context) (string, error) {
					t, f, _, err := r.fdFile(n)
					if err != nil {
						return "", err
					}
					defer f.DecRef()
					return r.fs.fdName(ctx, t.FSContext().Root(), f), nil
				},
				magic: func(ctx vfs.Context) (vfs.VirtualDentry, error) {
					return r.fdMagic(ctx, n)
				}}, nil
		}}).dynamic()
}

// fdinfoDir returns /proc/[pid]/fdinfo: a file per open descriptor.
func (r procRef) fdinfoDir(base string) vfs.Inode {
	return (&dirNode{fs: r.fs, ino: inoOf(base), perm: 0o500, owner: r.owner, list: r.fdList,
		lookup: func(_ vfs.Context, name string) (vfs.Inode, error) {
			n, ok := parseFD(name)
			if !ok {
				return nil, unix.ENOENT
			}
			if _, f, _, err := r.fdFile(n); err != nil {
				return nil, err
			} else {
				f.DecRef()
			}
			return &fileNode{fs: r.fs, ino: inoOf(base + "/" + name), perm: 0o444,
				owner: func(ctx vfs.Context) (uint32, uint32, error) {
					_, f, _, err := r.fdFile(n)
					if err != nil {
						return 0, 0, err
					}
					f.DecRef()
					return r.owner(ctx)
				},
				gen: func(ctx vfs.Context) ([]byte, error) {
					_, f, cloexec, err := r.fdFile(n)
					if err != nil {
						return nil, err
					}
					defer f.DecRef()
					return []byte(formatFDInfo(ctx, f, cloexec)), nil
				}}, nil
		}}).dynamic()
}

// formatFDInfo returns the fdinfo of an open file: its position, status
// flags in octal (O_CLOEXEC included), mount and inode.
func formatFDInfo(ctx vfs.Context, f *vfs.FileDescription, cloexec bool) string {
	var pos int64
	f.WithOffset(func(off int64) (int64, error) {
		pos = off
		return 0, nil
	})
	flags := f.Flags()
	if cloexec {
		flags |= unix.O_CLOEXEC
	}
	mntID := 0
	if vd := f.VirtualDentry(); vd.Ok() {
		// open(2) on 64-bit Linux always adds O_LARGEFILE.
		flags |= unix.O_LARGEFILE
		mntID = vd.Mount.ID
	}
	var ino uint64
	if st, err := f.Stat(ctx); err == nil {
		ino = st.Ino
	}
	return fmt.Sprintf("pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t%d\n", pos, flags, mntID, ino)
}

// fdName returns what /proc/[pid]/fd/N links to: the file's path as seen
// from root, or a description of a file with no path.
func (fs *Filesystem) fdName(ctx vfs.Context, root vfs.VirtualDentry, f *vfs.FileDescription) string {
	if vd := f.VirtualDentry(); vd.Ok() {
		return fs.k.VFS.PathName(root, vd)
	}
	if n, ok := f.Impl().(AnonInodeNamer); ok {
		return "anon_inode:" + n.AnonInodeName()
	}
	st, err := f.Stat(ctx)
	if err != nil {
		return "anon_inode:[unknown]"
	}
	return anonName(st)
}

// anonName describes a file with no path by its type.
func anonName(st unix.Statx_t) string {
	switch vfs.FileType(st.Mode) {
	case unix.S_IFIFO:
		return fmt.Sprintf("pipe:[%d]", st.Ino)
	case unix.S_IFSOCK:
		return fmt.Sprintf("socket:[%d]", st.Ino)
	case unix.S_IFCHR:
		if name := charDeviceName(st.Rdev_major, st.Rdev_minor); name != "" {
			return name
		}
	}
	// A host file given to the sandbox (stdio redirected to a file).
	return fmt.Sprintf("host:[%d]", st.Ino)
}

// charDeviceName names the character devices a host stdio may be.
func charDeviceName(major, minor uint32) string {
	switch {
	case major == 136:
		return "/dev/pts/" + strconv.Itoa(int(minor))
	case major == 4 && minor < 64:
		return "/dev/tty" + strconv.Itoa(int(minor))
	}
	names := map[[2]uint32]string{
		{1, 3}: "/dev/null", {1, 5}: "/dev/zero", {1, 7}: "/dev/full", {1, 8}: "/dev/random",
		{1, 9}: "/dev/urandom", {5, 0}: "/dev/tty", {5, 1}: "/dev/console", {5, 2}: "/dev/ptmx",
	}
	return names[[2]uint32{major, minor}]
}

// memNode is /proc/[pid]/mem: the process's memory at the file offset
// equal to the address.
type memNode struct {
	r   procRef
	ino uint64
}

// Stat implements vfs.Inode.
func (n *memNode) Stat(ctx vfs.Context) (unix.Statx_t, error) {
	return n.r.fs.statOf(ctx, n.ino, unix.S_IFREG|0o600, 1, n.r.owner)
}

// Lookup implements vfs.Inode.
func (n *memNode) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOTDIR }

// Readlink implements vfs.Inode.
func (n *memNode) Readlink(vfs.Context) (string, error) { return "", unix.EINVAL }

// Open implements vfs.Inode.
func (n *memNode) Open(ctx vfs.Context, _ *vfs.Dentry, _ uint32) (vfs.FileImpl, error) {
	_, named, _, err := n.r.resolve()
	if err != nil {
		return nil, err
	}
	if !n.r.mayInspect(ctx, named) {
		return nil, unix.EACCES
	}
	return &memFile{r: n.r}, nil
}

// memFile is an open mem file. It finds the process's address space on
// each access; a process that has exited reads as empty.
type memFile struct {
	vfs.FileDefaults
	r procRef
}

// mm returns the process's address space, or nil once it has exited.
func (f *memFile) mm() *mm.MemoryManager {
	_, _, live, err := f.r.resolve()
	if err != nil || live == nil {
		return nil
	}
	return live.MemoryManager()
}

// Read implements vfs.FileImpl.
func (f *memFile) Read(_ vfs.Context, p []byte, off int64) (int, error) {
	m := f.mm()
	if m == nil {
		return 0, nil
	}
	n, err := m.CopyIn(uintptr(off), p)
	if n == 0 && err != nil {
		return 0, unix.EIO
	}
	return n, nil
}

// Write implements vfs.FileImpl.
func (f *memFile) Write(_ vfs.Context, p []byte, off int64) (int, error) {
	m := f.mm()
	if m == nil {
		return 0, unix.EIO
	}
	n, err := m.CopyOut(uintptr(off), p)
	if n == 0 && err != nil {
		return 0, unix.EIO
	}
	return n, nil
}

// fdMagic resolves the magic link /proc/[pid]/fd/n: the open file's own
// dentry (even unlinked), or for a file with no place in the tree an
// anonymous dentry whose inode reopens it (reopenInode).
func (r procRef) fdMagic(ctx vfs.Context, n int32) (vfs.VirtualDentry, error) {
	_, f, _, err := r.fdFile(n)
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	defer f.DecRef()
	if vd := f.VirtualDentry(); vd.Ok() {
		return vd, nil
	}
	m := r.fs.k.VFS.AnonMount("proc-fd", func() vfs.Filesystem { return anonFS{} })
	inode := &reopenInode{r: r, n: n, impl: f.Impl()}
	return vfs.NewAnonymousDentry(m, strconv.Itoa(int(n)), inode), nil
}

// reopenInode stands for an open file with no path, reached through
// /proc/[pid]/fd/N. Opening it does what Linux does for such files: a
// pipe gets a new end as a FIFO open would make (so /dev/stdin and bash's
// <(...) work), a socket cannot be opened (ENXIO), and any other file
// (host stdio, eventfd, …) is the same open file description again: the
// Sentry cannot open host files by path, so sharing the description is the
// closest it comes to Linux's fresh open of the same file.
type reopenInode struct {
	r    procRef
	n    int32
	impl vfs.FileImpl
}

// file returns the open file, if descriptor n still holds the same one.
func (i *reopenInode) file() (*vfs.FileDescription, error) {
	_, f, _, err := i.r.fdFile(i.n)
	if err != nil {
		return nil, err
	}
	if f.Impl() != i.impl {
		f.DecRef()
		return nil, unix.ENOENT
	}
	return f, nil
}

// Stat implements vfs.Inode.
func (i *reopenInode) Stat(ctx vfs.Context) (unix.Statx_t, error) {
	f, err := i.file()
	if err != nil {
		return unix.Statx_t{}, err
	}
	defer f.DecRef()
	return f.Stat(ctx)
}

// Lookup implements vfs.Inode.
func (i *reopenInode) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOTDIR }

// Readlink implements vfs.Inode.
func (i *reopenInode) Readlink(vfs.Context) (string, error) { return "", unix.EINVAL }

// Open implements vfs.Inode (O_PATH opens only).
func (i *reopenInode) Open(vfs.Context, *vfs.Dentry, uint32) (vfs.FileImpl, error) {
	return &vfs.FileDefaults{}, nil
}

// Reopen implements vfs.Reopener.
func (i *reopenInode) Reopen(ctx vfs.Context, flags uint32) (*vfs.FileDescription, error) {
	f, err := i.file()
	if err != nil {
		return nil, err
	}
	if pf, ok := f.Impl().(*pipe.File); ok {
		f.DecRef()
		// An anonymous pipe's open never waits for the other end (Linux's
		// fifo_open skips the wait for pipefs inodes), so open as
		// non-blocking and let the new description's own flags rule its
		// reads and writes. A writer with no reader left fails with ENXIO
		// here where Linux would open and fail the write with EPIPE.
		np, err := pf.Pipe().Open(ctx, flags|unix.O_NONBLOCK)
		if err != nil {
			return nil, err
		}
		nfd := vfs.NewFileDescription(np, vfs.VirtualDentry{}, flags)
		np.Bind(nfd)
		return nfd, nil
	}
	st, err := f.Stat(ctx)
	if err == nil && vfs.FileType(st.Mode) == unix.S_IFSOCK {
		f.DecRef()
		return nil, unix.ENXIO
	}
	return f, nil
}

// anonFS is the file system the dentries of reopenInodes are reported on.
type anonFS struct{}

func (anonFS) Name() string                              { return "anon_inodefs" }
func (anonFS) Root() vfs.Inode                           { return anonRoot{} }
func (anonFS) Statfs(vfs.Context) (unix.Statfs_t, error) { return unix.Statfs_t{}, nil }

// anonRoot is anonFS's root: an empty directory no path reaches.
type anonRoot struct{}

func (anonRoot) Stat(vfs.Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFDIR | 0o500, Nlink: 2}, nil
}
func (anonRoot) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOENT }
func (anonRoot) Readlink(vfs.Context) (string, error)          { return "", unix.EINVAL }
func (anonRoot) Open(vfs.Context, *vfs.Dentry, uint32) (vfs.FileImpl, error) {
	return &vfs.FileDefaults{}, nil
}
