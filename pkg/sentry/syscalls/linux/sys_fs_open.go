package linux

// openat2, memfd_create and name_to_handle_at.

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/tmpfs"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

// openHowSize is sizeof(struct open_how) in its first version (flags,
// mode, resolve: three u64s).
const openHowSize = 24

// Openat2 implements openat2(2).
func Openat2(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	dirfd, pathAddr, howAddr, size := argFD(a[0]), a[1], a[2], a[3]
	if size < openHowSize {
		return 0, unix.EINVAL
	}
	if size > 4096 {
		return 0, unix.E2BIG
	}
	buf := make([]byte, size)
	if n, err := t.CopyIn(howAddr, buf); err != nil || n != len(buf) {
		return 0, unix.EFAULT
	}
	for _, b := range buf[openHowSize:] {
		if b != 0 {
			return 0, unix.E2BIG
		}
	}
	flags := binary.LittleEndian.Uint64(buf[0:])
	mode := binary.LittleEndian.Uint64(buf[8:])
	resolve := vfs.ResolveFlags(binary.LittleEndian.Uint64(buf[16:]))
	if flags&^uint64(validOpenFlags) != 0 {
		return 0, unix.EINVAL
	}
	fl := uint32(flags)
	if resolve&^vfs.ResolveAll != 0 {
		return 0, unix.EINVAL
	}
	if resolve&vfs.ResolveBeneath != 0 && resolve&vfs.ResolveInRoot != 0 {
		return 0, unix.EINVAL
	}
	if fl&(unix.O_CREAT|unix.O_TMPFILE) != 0 {
		if mode&^0o7777 != 0 {
			return 0, unix.EINVAL
		}
	} else if mode != 0 {
		return 0, unix.EINVAL
	}
	if fl&unix.O_PATH != 0 && fl&^(unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	if fl&unix.O_CREAT != 0 && fl&unix.O_DIRECTORY != 0 {
		return 0, unix.EINVAL
	}
	if resolve&vfs.ResolveCached != 0 {
		// Nothing is known to be cached without I/O.
		return 0, unix.EAGAIN
	}
	if fl&unix.O_TMPFILE == unix.O_TMPFILE {
		return 0, unix.EOPNOTSUPP
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	// The start is dirfd even for an absolute path: RESOLVE_BENEATH
	// refuses it and RESOLVE_IN_ROOT resolves it from dirfd.
	r, err := t.Resolution(dirfd, ".", true, false)
	if err != nil {
		return 0, err
	}
	if path == "" {
		return 0, unix.ENOENT
	}
	if path[0] == '/' && resolve&(vfs.ResolveBeneath|vfs.ResolveInRoot) == 0 {
		r.Start = r.Root
	}
	r.Path = path
	r.Flags = resolve
	r.FollowFinal = fl&unix.O_NOFOLLOW == 0
	m := uint32(mode) &^ t.FSContext().Umask()
	f, err := t.Kernel().VFS.OpenAt(t, r, fl|unix.O_LARGEFILE, m)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	fd, err := t.NewFD(f, fl&unix.O_CLOEXEC != 0)
	return uintptr(fd), err
}

// memfd_create flags, from linux/memfd.h.
const (
	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
	mfdHugetlb      = 0x4
	mfdNoexecSeal   = 0x8
	mfdExec         = 0x10
	// mfdNameMax is the longest name: NAME_MAX less "memfd:".
	mfdNameMax = 249
)

// MemfdCreate implements memfd_create(2): an unnamed tmpfs file whose
// pages live in the memory file. Sealing is accepted but seals are not
// enforced yet.
func MemfdCreate(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	flags := argUint(a[1])
	if flags&^(mfdCloexec|mfdAllowSealing|mfdNoexecSeal|mfdExec) != 0 {
		return 0, unix.EINVAL
	}
	if flags&mfdExec != 0 && flags&mfdNoexecSeal != 0 {
		return 0, unix.EINVAL
	}
	name, err := t.CopyInString(a[0], mfdNameMax+1)
	if err == unix.ENAMETOOLONG {
		return 0, unix.EINVAL
	}
	if err != nil {
		return 0, err
	}
	v := t.Kernel().VFS
	mf := t.MemoryManager().MemoryFile()
	m := v.AnonMount("memfd", func() vfs.Filesystem { return tmpfs.New(mf, tmpfs.Options{}) })
	fs := m.Filesystem().FS.(*tmpfs.Filesystem)
	mode := uint32(0o777)
	if flags&mfdNoexecSeal != 0 {
		mode = 0o666
	}
	vd := m.NewUnlinkedDentry("memfd:"+name, fs.NewUnlinkedFile(t, mode))
	f, err := v.Open(t, vd, unix.O_RDWR|unix.O_LARGEFILE)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	fd, err := t.NewFD(f, flags&mfdCloexec != 0)
	return uintptr(fd), err
}

// NameToHandleAt implements name_to_handle_at(2): no file system here
// can give stable handles.
func NameToHandleAt(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, unix.EOPNOTSUPP
}
