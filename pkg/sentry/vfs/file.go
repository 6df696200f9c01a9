package vfs

// Lock order: FileDescription.offMu > file system locks;
// FileDescription.hooksMu is a leaf (release_hook.go).

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/mm"
)

// FileImpl is a file system's implementation of an open file. Methods that
// do not apply return the errno Linux gives; embed FileDefaults for those.
type FileImpl interface {
	// Release is called when the last reference to the open file goes away.
	Release()
	// Read reads into p at offset off (ignored by non-seekable files).
	Read(ctx Context, p []byte, off int64) (int, error)
	// Write writes p at offset off (ignored by non-seekable files); for
	// O_APPEND files FileDescription passes the current size.
	Write(ctx Context, p []byte, off int64) (int, error)
	// Seekable reports whether the file has a position (regular files,
	// directories, block devices) rather than being a stream.
	Seekable() bool
	// IterDirents calls emit for each directory entry from position off on,
	// until emit returns false; it returns the position after the last
	// entry emitted. ENOTDIR for non-directories.
	IterDirents(ctx Context, off int64, emit func(Dirent) bool) (int64, error)
	// Ioctl carries out an ioctl; arg is the raw argument.
	Ioctl(ctx Context, cmd uint32, arg uintptr) (uintptr, error)
}

// Dirent is one directory entry as getdents64 returns it.
type Dirent struct {
	Name string
	Ino  uint64
	// Type is a DT_* value.
	Type uint8
	// NextOff is the position of the entry after this one.
	NextOff int64
}

// FileDefaults gives the Linux errors for operations a file does not support.
type FileDefaults struct{}

// Release does nothing.
func (FileDefaults) Release() {}

// Read returns EINVAL.
func (FileDefaults) Read(Context, []byte, int64) (int, error) { return 0, unix.EINVAL }

// Write returns EINVAL.
func (FileDefaults) Write(Context, []byte, int64) (int, error) { return 0, unix.EINVAL }

// Seekable returns true.
func (FileDefaults) Seekable() bool { return true }

// IterDirents returns ENOTDIR.
func (FileDefaults) IterDirents(Context, int64, func(Dirent) bool) (int64, error) {
	return 0, unix.ENOTDIR
}

// Ioctl returns ENOTTY.
func (FileDefaults) Ioctl(Context, uint32, uintptr) (uintptr, error) { return 0, unix.ENOTTY }

// FileDescription is an open file description: what open(2) creates and
// dup(2) shares. It carries the offset and status flags.
type FileDescription struct {
	refs  atomic.Int64
	impl  FileImpl
	vd    VirtualDentry
	flags atomic.Uint32

	offMu sync.Mutex
	off   int64

	// hooks run when the last reference goes (see ReleaseHook).
	hooksMu sync.Mutex
	hooks   map[ReleaseHook]struct{}

	// isDir is set for directories (their inotify events carry
	// IN_ISDIR).
	isDir bool

	// hasLocks is set once the file has asked for a flock or OFD lock,
	// which its last reference releases (lock.go).
	hasLocks atomic.Bool

	// putWrite, if not nil, releases the file's write access
	// (writeaccess.go) with the last reference.
	putWrite func()
}

// NewFileDescription returns a file description with one reference.
// vd may be empty for files with no place in the tree (pipes, sockets).
func NewFileDescription(impl FileImpl, vd VirtualDentry, flags uint32) *FileDescription {
	fd := &FileDescription{impl: impl, vd: vd}
	fd.refs.Store(1)
	if vd.Mount != nil {
		vd.Mount.openFiles.Add(1)
	}
	fd.flags.Store(flags &^ (unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC | unix.O_CLOEXEC))
	return fd
}

// IncRef takes a reference.
func (fd *FileDescription) IncRef() { fd.refs.Add(1) }

// DecRef drops a reference, releasing the file at zero.
func (fd *FileDescription) DecRef() {
	if fd.refs.Add(-1) == 0 {
		fd.runReleaseHooks()
		fd.releaseLocks()
		fd.notifyClose()
		fd.impl.Release()
		if fd.putWrite != nil {
			fd.putWrite()
		}
		if fd.vd.Mount != nil {
			fd.vd.Mount.openFiles.Add(-1)
		}
	}
}

// Impl returns the file system's implementation.
func (fd *FileDescription) Impl() FileImpl { return fd.impl }

// VirtualDentry returns where the file is in the tree (empty for anonymous files).
func (fd *FileDescription) VirtualDentry() VirtualDentry { return fd.vd }

// Flags returns the file status flags and access mode.
func (fd *FileDescription) Flags() uint32 { return fd.flags.Load() }

// settableFlags are the status flags fcntl(F_SETFL) may change.
const settableFlags = unix.O_APPEND | unix.O_ASYNC | unix.O_DIRECT | unix.O_NOATIME | unix.O_NONBLOCK

// SetStatusFlags sets the flags F_SETFL may change, keeping the rest.
func (fd *FileDescription) SetStatusFlags(flags uint32) {
	for {
		old := fd.flags.Load()
		n := old&^settableFlags | flags&settableFlags
		if fd.flags.CompareAndSwap(old, n) {
			return
		}
	}
}

// IsReadable and IsWritable report the access mode.
func (fd *FileDescription) IsReadable() bool {
	m := fd.flags.Load() & unix.O_ACCMODE
	return m == unix.O_RDONLY || m == unix.O_RDWR
}

// IsWritable reports whether the file was opened for writing.
func (fd *FileDescription) IsWritable() bool {
	m := fd.flags.Load() & unix.O_ACCMODE
	return m == unix.O_WRONLY || m == unix.O_RDWR
}

// isPath reports an O_PATH file, on which I/O fails with EBADF.
func (fd *FileDescription) isPath() bool { return fd.flags.Load()&unix.O_PATH != 0 }

// Read reads at the file's offset and advances it.
func (fd *FileDescription) Read(ctx Context, p []byte) (int, error) {
	if fd.isPath() || !fd.IsReadable() {
		return 0, unix.EBADF
	}
	if !fd.impl.Seekable() {
		n, err := fd.impl.Read(ctx, p, -1)
		fd.notifyIO(unix.IN_ACCESS, n)
		return n, err
	}
	fd.offMu.Lock()
	n, err := fd.impl.Read(ctx, p, fd.off)
	fd.off += int64(n)
	fd.offMu.Unlock()
	fd.notifyIO(unix.IN_ACCESS, n)
	return n, err
}

// PRead reads at off without moving the offset.
func (fd *FileDescription) PRead(ctx Context, p []byte, off int64) (int, error) {
	if fd.isPath() || !fd.IsReadable() {
		return 0, unix.EBADF
	}
	if !fd.impl.Seekable() {
		return 0, unix.ESPIPE
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	n, err := fd.impl.Read(ctx, p, off)
	fd.notifyIO(unix.IN_ACCESS, n)
	return n, err
}

// Write writes at the file's offset (or its end, with O_APPEND) and advances it.
func (fd *FileDescription) Write(ctx Context, p []byte) (int, error) {
	if fd.isPath() || !fd.IsWritable() {
		return 0, unix.EBADF
	}
	if !fd.impl.Seekable() {
		n, err := fd.impl.Write(ctx, p, -1)
		fd.notifyIO(unix.IN_MODIFY, n)
		return n, err
	}
	fd.offMu.Lock()
	off := fd.off
	if fd.flags.Load()&unix.O_APPEND != 0 {
		st, err := fd.vd.Dentry.inode.Stat(ctx)
		if err != nil {
			fd.offMu.Unlock()
			return 0, err
		}
		off = int64(st.Size)
	}
	n, err := fd.impl.Write(ctx, p, off)
	fd.off = off + int64(n)
	fd.offMu.Unlock()
	fd.notifyIO(unix.IN_MODIFY, n)
	return n, err
}

// PWrite writes at off without moving the offset.
func (fd *FileDescription) PWrite(ctx Context, p []byte, off int64) (int, error) {
	if fd.isPath() || !fd.IsWritable() {
		return 0, unix.EBADF
	}
	if !fd.impl.Seekable() {
		return 0, unix.ESPIPE
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	n, err := fd.impl.Write(ctx, p, off)
	fd.notifyIO(unix.IN_MODIFY, n)
	return n, err
}

// Seek moves the offset as lseek(2) does.
func (fd *FileDescription) Seek(ctx Context, off int64, whence int) (int64, error) {
	if fd.isPath() {
		return 0, unix.EBADF
	}
	if !fd.impl.Seekable() {
		return 0, unix.ESPIPE
	}
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	var base int64
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		base = fd.off
	case unix.SEEK_END:
		st, err := fd.Stat(ctx)
		if err != nil {
			return 0, err
		}
		base = int64(st.Size)
	case unix.SEEK_DATA, unix.SEEK_HOLE:
		st, err := fd.Stat(ctx)
		if err != nil {
			return 0, err
		}
		if off < 0 || off >= int64(st.Size) {
			return 0, unix.ENXIO
		}
		if whence == unix.SEEK_HOLE {
			off = int64(st.Size)
		}
	default:
		return 0, unix.EINVAL
	}
	n := base + off
	if (off > 0 && n < base) || n < 0 {
		return 0, unix.EINVAL
	}
	fd.off = n
	return n, nil
}

// Stat returns the attributes of the open file.
func (fd *FileDescription) Stat(ctx Context) (unix.Statx_t, error) {
	if fd.vd.Dentry == nil {
		if s, ok := fd.impl.(interface {
			Stat(Context) (unix.Statx_t, error)
		}); ok {
			return s.Stat(ctx)
		}
		return unix.Statx_t{}, unix.EINVAL
	}
	var st unix.Statx_t
	var err error
	if fs, ok := fd.impl.(FileStater); ok {
		st, err = fs.StatFile(ctx)
	} else {
		st, err = fd.vd.Dentry.inode.Stat(ctx)
	}
	if err == nil && st.Dev_minor == 0 && st.Dev_major == 0 {
		st.Dev_minor = fd.vd.Dentry.fs.Dev
	}
	return st, err
}

// IterDirents reads directory entries from the file's offset and advances it
// past those emit accepted.
func (fd *FileDescription) IterDirents(ctx Context, emit func(Dirent) bool) error {
	if fd.isPath() {
		return unix.EBADF
	}
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	next, err := fd.impl.IterDirents(ctx, fd.off, emit)
	if err == nil {
		fd.off = next
	}
	return err
}

// Ioctl forwards an ioctl to the implementation.
func (fd *FileDescription) Ioctl(ctx Context, cmd uint32, arg uintptr) (uintptr, error) {
	if fd.isPath() {
		return 0, unix.EBADF
	}
	return fd.impl.Ioctl(ctx, cmd, arg)
}

// Mappable is implemented by FileImpls whose files can be mmapped.
type Mappable interface {
	// Mappable returns the object mm maps for this open file.
	Mappable() (mm.Mappable, error)
}

// DirectReader is implemented by FileImpls whose Read never waits for
// another party (regular files backed by a host descriptor): read(2) may
// then read straight into application memory while the address space is
// locked (mm.MemoryManager.FillOut).
type DirectReader interface {
	// ReadsDirectly reports whether Read may be called that way.
	ReadsDirectly() bool
}

// MappingSyncer is implemented by mm.Mappables that hold stores to shared
// mappings apart from the file (a page cache): msync(2) asks them to write
// [off, off+length) of the file back, and with sync set to stable storage.
type MappingSyncer interface {
	SyncMapping(off int64, length uint64, sync bool) error
}

// DirentType returns the DT_* type of a stat mode.
func DirentType(mode uint16) uint8 {
	switch FileType(mode) {
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFREG:
		return unix.DT_REG
	case unix.S_IFLNK:
		return unix.DT_LNK
	case unix.S_IFCHR:
		return unix.DT_CHR
	case unix.S_IFBLK:
		return unix.DT_BLK
	case unix.S_IFIFO:
		return unix.DT_FIFO
	case unix.S_IFSOCK:
		return unix.DT_SOCK
	}
	return unix.DT_UNKNOWN
}

// DotEntries emits "." and ".." for the directory d at positions 0 and 1,
// starting from off; it returns the position reached and whether emit
// accepted everything (false: stop).
func DotEntries(ctx Context, d *Dentry, off int64, emit func(Dirent) bool) (int64, bool) {
	if off == 0 {
		st, _ := d.inode.Stat(ctx)
		if !emit(Dirent{Name: ".", Ino: st.Ino, Type: unix.DT_DIR, NextOff: 1}) {
			return off, false
		}
		off = 1
	}
	if off == 1 {
		parent := d.Parent()
		if parent == nil {
			parent = d
		}
		st, _ := parent.inode.Stat(ctx)
		if !emit(Dirent{Name: "..", Ino: st.Ino, Type: unix.DT_DIR, NextOff: 2}) {
			return off, false
		}
		off = 2
	}
	return off, true
}

// IterStaticDirents lists a directory whose entries are a fixed slice of
// names: "." and ".." at positions 0 and 1, then names[i] at position i+2.
func IterStaticDirents(ctx Context, d *Dentry, off int64, names []string, info func(name string) (ino uint64, typ uint8), emit func(Dirent) bool) (int64, error) {
	off, ok := DotEntries(ctx, d, off, emit)
	if !ok {
		return off, nil
	}
	for i := off - 2; i >= 0 && i < int64(len(names)); i++ {
		ino, typ := info(names[i])
		if !emit(Dirent{Name: names[i], Ino: ino, Type: typ, NextOff: i + 3}) {
			return i + 2, nil
		}
		off = i + 3
	}
	return off, nil
}

// WithOffset runs fn with the file's offset held, and advances the offset
// by the count fn returns. Read uses it so that bytes that could not be
// copied to the application are not consumed.
func (fd *FileDescription) WithOffset(fn func(off int64) (int64, error)) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n, err := fn(fd.off)
	fd.off += n
	return n, err
}

// Allocator is implemented by FileImpls that support fallocate(2).
type Allocator interface {
	// Allocate carries out fallocate with mode over [off, off+length);
	// EOPNOTSUPP for modes the file system lacks.
	Allocate(ctx Context, mode uint32, off, length int64) error
}

// FileStater is implemented by FileImpls whose open file knows its
// attributes better than the inode's cache (fstat(2) asks it).
type FileStater interface {
	StatFile(ctx Context) (unix.Statx_t, error)
}

// notifyIO raises IN_ACCESS or IN_MODIFY after n bytes were read or
// written (nothing for n == 0, as Linux).
func (fd *FileDescription) notifyIO(ev uint32, n int) {
	if n <= 0 || fd.vd.Dentry == nil || watchCount.Load() == 0 {
		return
	}
	fd.notifyFile(ev)
}

// NotifyModified raises IN_MODIFY on the open file, for writes that do not
// go through Write or PWrite (writev, splice, copy_file_range).
func (fd *FileDescription) NotifyModified() { fd.notifyIO(unix.IN_MODIFY, 1) }

// NotifyAccessed raises IN_ACCESS on the open file, for reads that do not
// go through Read or PRead.
func (fd *FileDescription) NotifyAccessed() { fd.notifyIO(unix.IN_ACCESS, 1) }

// notifyFile raises ev about the open file on its watches and its
// directory's.
func (fd *FileDescription) notifyFile(ev uint32) {
	if fd.isDir {
		ev |= unix.IN_ISDIR
	}
	notifyDentryMask(fd.vd.Dentry, ev)
}

// notifyClose raises IN_CLOSE_WRITE or IN_CLOSE_NOWRITE at the last close.
func (fd *FileDescription) notifyClose() {
	if fd.vd.Dentry == nil || fd.isPath() || watchCount.Load() == 0 {
		return
	}
	if fd.IsWritable() {
		fd.notifyFile(unix.IN_CLOSE_WRITE)
	} else {
		fd.notifyFile(unix.IN_CLOSE_NOWRITE)
	}
}
