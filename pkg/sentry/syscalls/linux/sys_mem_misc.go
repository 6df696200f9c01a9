package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Memory locking: the Sentry never swaps application memory out, so
// locked and unlocked memory behave alike; the calls check their
// arguments as Linux does.

// Mlock implements mlock(2) and munlock(2).
func Mlock(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.MemoryManager().CheckMapped(a[0]&^4095, a[1]+(a[0]&4095))
}

// Mlock2 implements mlock2(2).
func Mlock2(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if a[2]&^1 != 0 { // MLOCK_ONFAULT
		return 0, unix.EINVAL
	}
	return Mlock(t, a)
}

// Mlockall implements mlockall(2).
func Mlockall(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	const mclCurrent, mclFuture, mclOnfault = 1, 2, 4
	f := a[0]
	if f == 0 || f&^(mclCurrent|mclFuture|mclOnfault) != 0 || f == mclOnfault {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// Munlockall implements munlockall(2).
func Munlockall(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) { return 0, nil }

// Msync implements msync(2). The range must be mapped; shared mappings of
// files whose stores are held apart from the file (the gofer's page cache,
// a vfs.MappingSyncer) are written back, and with MS_SYNC flushed. Other
// shared mappings already write to the file's own pages.
func Msync(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	flags := argInt(a[2])
	if flags&^(unix.MS_ASYNC|unix.MS_INVALIDATE|unix.MS_SYNC) != 0 ||
		flags&(unix.MS_ASYNC|unix.MS_SYNC) == unix.MS_ASYNC|unix.MS_SYNC {
		return 0, unix.EINVAL
	}
	addr, length := a[0], a[1]
	if err := t.MemoryManager().CheckMapped(addr, length); err != nil {
		return 0, err
	}
	end := addr + (length+4095)&^4095
	for v := range t.MemoryManager().VMAs() {
		s, ok := v.Mappable.(vfs.MappingSyncer)
		if !ok || v.Private || v.End <= addr || v.Start >= end {
			continue
		}
		start, stop := max(v.Start, addr), min(v.End, end)
		if err := s.SyncMapping(v.Offset+int64(start-v.Start), uint64(stop-start), flags&unix.MS_SYNC != 0); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Personality implements personality(2): the value is recorded per process
// (0xffffffff queries it).
func Personality(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	p := argUint(a[0])
	tg := t.ThreadGroup()
	old := tg.Personality()
	if p != 0xffffffff {
		if p&0xff != 0 && p&0xff != 8 { // PER_LINUX, PER_LINUX32
			return 0, unix.EINVAL
		}
		tg.SetPersonality(p)
	}
	return uintptr(old), nil
}

// Chroot implements chroot(2).
func Chroot(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if !t.Credentials().HasCapability(18) { // CAP_SYS_CHROOT
		return 0, unix.EPERM
	}
	path, err := copyInPath(t, a[0])
	if err != nil {
		return 0, err
	}
	vd, err := t.LookupAt(kernel.AtFDCWD, path, true, false)
	if err != nil {
		return 0, err
	}
	if err := checkDirSearchable(t, vd); err != nil {
		return 0, err
	}
	t.FSContext().SetRoot(vd)
	return 0, nil
}
