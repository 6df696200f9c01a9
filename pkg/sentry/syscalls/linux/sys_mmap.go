package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/vfs"
)

// mmapFlagsKnown are the mmap flags Linux accepts on x86-64.
const mmapFlagsKnown = unix.MAP_SHARED | unix.MAP_PRIVATE | unix.MAP_SHARED_VALIDATE | unix.MAP_FIXED |
	unix.MAP_ANONYMOUS | unix.MAP_32BIT | unix.MAP_GROWSDOWN | unix.MAP_DENYWRITE | unix.MAP_EXECUTABLE |
	unix.MAP_LOCKED | unix.MAP_NORESERVE | unix.MAP_POPULATE | unix.MAP_NONBLOCK | unix.MAP_STACK |
	unix.MAP_HUGETLB | unix.MAP_SYNC | unix.MAP_FIXED_NOREPLACE | mapUninitialized | 0x3f<<unix.MAP_HUGE_SHIFT

// Mmap implements mmap(2).
func Mmap(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	addr, length, prot, flags, fd, off := a[0], a[1], int(argInt(a[2])), int(argInt(a[3])), argFD(a[4]), argInt64(a[5])
	typ := flags & unix.MAP_SHARED_VALIDATE
	if typ == unix.MAP_SHARED_VALIDATE && flags&^mmapFlagsKnown != 0 {
		return 0, unix.EOPNOTSUPP
	}
	if typ == 0 {
		return 0, unix.EINVAL
	}
	if prot&^(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC|unix.PROT_GROWSDOWN|unix.PROT_GROWSUP) != 0 {
		return 0, unix.EINVAL
	}
	if length == 0 || off%4096 != 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.MAP_HUGETLB != 0 {
		return 0, unix.EINVAL
	}
	opts := mm.MMapOpts{
		Addr:           addr,
		Length:         length,
		Prot:           prot &^ (unix.PROT_GROWSDOWN | unix.PROT_GROWSUP),
		Fixed:          flags&unix.MAP_FIXED != 0,
		FixedNoReplace: flags&unix.MAP_FIXED_NOREPLACE != 0,
		Private:        typ == unix.MAP_PRIVATE,
		Shared:         typ != unix.MAP_PRIVATE,
		Anonymous:      flags&unix.MAP_ANONYMOUS != 0,
		GrowsDown:      flags&unix.MAP_GROWSDOWN != 0,
		Offset:         off,
	}
	if !opts.Anonymous {
		f, err := t.GetFile(fd)
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		if !f.IsReadable() {
			return 0, unix.EACCES
		}
		mf, ok := f.Impl().(vfs.Mappable)
		if !ok {
			return 0, unix.ENODEV
		}
		if opts.Shared && prot&unix.PROT_WRITE != 0 && !f.IsWritable() {
			return 0, unix.EACCES
		}
		m, err := mf.Mappable()
		if err != nil {
			return 0, err
		}
		opts.Mappable = m
		opts.Name = mappedFileName(t, f)
		opts.MaxPerms = platform.AnyAccess
		if opts.Shared && !f.IsWritable() {
			opts.MaxPerms.Write = false
		}
	}
	return t.MemoryManager().MMap(opts)
}

// Munmap implements munmap(2).
func Munmap(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().MUnmap(a[0], a[1])
}

// Mprotect implements mprotect(2).
func Mprotect(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().MProtect(a[0], a[1], int(argInt(a[2])))
}

// Brk implements brk(2).
func Brk(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return t.MemoryManager().Brk(a[0]), nil
}

// Mremap implements mremap(2).
func Mremap(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return t.MemoryManager().MRemap(a[0], a[1], a[2], int(argInt(a[3])), a[4])
}

// Madvise implements madvise(2).
func Madvise(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().MAdvise(a[0], a[1], int(argInt(a[2])))
}

// mapUninitialized is MAP_UNINITIALIZED (ignored without CONFIG_MMAP_ALLOW_UNINITIALIZED).
const mapUninitialized = 0x4000000

// mappedFileName is how /proc/[pid]/maps names a mapping of f: its path
// from the task's root, marked " (deleted)" once its name is gone, as on
// Linux; "" for files with no place in the tree.
func mappedFileName(t *kernel.Task, f *vfs.FileDescription) string {
	vd := f.VirtualDentry()
	if !vd.Ok() {
		return ""
	}
	name := t.Kernel().VFS.PathName(t.FSContext().Root(), vd)
	if vd.Dentry.IsDead() {
		name += " (deleted)"
	}
	return name
}
