package sandbox

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Capability sets, as bit masks of linux/capability.h numbers.
const (
	// goferCapsReadOnly is what a Gofer serving only read-only trees
	// keeps: it opens files whatever their modes.
	goferCapsReadOnly uint64 = 1 << unix.CAP_DAC_READ_SEARCH
	// goferCapsWritable is what a Gofer serving a writable tree keeps:
	// it also creates, chowns and changes files as their owners would.
	goferCapsWritable = goferCapsReadOnly | 1<<unix.CAP_CHOWN | 1<<unix.CAP_DAC_OVERRIDE |
		1<<unix.CAP_FOWNER | 1<<unix.CAP_FSETID | 1<<unix.CAP_MKNOD
	// confineCaps are what confining itself takes: CAP_SYS_ADMIN for the
	// mounts and pivot_root, CAP_SETPCAP to drop from the bounding set.
	confineCaps uint64 = 1<<unix.CAP_SYS_ADMIN | 1<<unix.CAP_SETPCAP
	// sentryConfineCaps are what an isolated Sentry confines itself
	// with: confineCaps, CAP_NET_ADMIN and CAP_NET_RAW to take the network
	// namespace's interfaces (boot.NewNetworkStack) and CAP_DAC_OVERRIDE
	// and CAP_DAC_READ_SEARCH to open its debug log wherever --debug-log
	// points. It keeps none of them.
	sentryConfineCaps = confineCaps | 1<<unix.CAP_NET_ADMIN | 1<<unix.CAP_NET_RAW |
		1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_DAC_READ_SEARCH
)

// goferStart and sentryStart are how an isolated Gofer and Sentry start
// (see startCaps): the bounding set each ends with at most, and what it
// confines itself with.
func goferStart() *startCaps {
	return &startCaps{bounding: goferCapsWritable, inheritable: confineCaps}
}

func sentryStart() *startCaps {
	return &startCaps{bounding: 0, inheritable: sentryConfineCaps}
}

// startCaps are the capabilities a sandbox process started as root gets
// from the thread that forks it. The thread's bounding set is reduced to
// bounding, what the process keeps at most, and its inheritable set made
// inheritable, what it confines itself with and then drops: a root
// process's execve gives it the union of the two as its permitted and
// effective sets (capabilities(7)). Its bounding set is then final, and
// limitPrivileges takes three calls that stop the world, where dropping
// each capability from every thread's bounding set took one each (~0.2 ms
// apiece here, on the way to the container's first process).
type startCaps struct {
	bounding, inheritable uint64
}

// apply makes the calling thread the forker startCaps describes. The
// caller must hold the thread (runtime.LockOSThread) and never give it
// back to other goroutines.
func (c *startCaps) apply() error {
	// First, while the bounding set still has them: capset(2) takes no
	// inheritable capability outside it.
	if err := setInheritable(c.inheritable); err != nil {
		return err
	}
	return limitBoundingSet(c.bounding)
}

// setInheritable sets the calling thread's inheritable set to those of
// caps it has (a runtime run with fewer capabilities starts sandbox
// processes with fewer, as it always did).
func setInheritable(caps uint64) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if _, _, e := unix.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("reading capabilities: %w", e)
	}
	caps &= uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	data[0].Inheritable, data[1].Inheritable = uint32(caps), uint32(caps>>32)
	if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("setting inheritable capabilities: %w", e)
	}
	return nil
}

// limitBoundingSet drops from the calling thread's capability bounding set
// every capability not in keep. Only this thread changes: a process it
// forks starts with the smaller set, and an executable it runs as root
// gets no capability outside it. The caller must hold the thread
// (runtime.LockOSThread) and never give it back to other goroutines.
func limitBoundingSet(keep uint64) error {
	return forEachBoundingCap(keep, func(c int) syscall.Errno {
		_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0, 0)
		return e
	})
}

// forEachBoundingCap calls drop for each capability in the calling
// thread's bounding set that is not in keep, up to the last one the
// kernel knows (which may be past unix.CAP_LAST_CAP).
func forEachBoundingCap(keep uint64, drop func(int) syscall.Errno) error {
	for c := 0; ; c++ {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			return nil // past the last capability
		}
		if err != nil {
			return fmt.Errorf("reading capability %d of the bounding set: %w", c, err)
		}
		if in == 0 || (c < 64 && keep&(1<<c) != 0) {
			continue
		}
		if e := drop(c); e != 0 {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, e)
		}
	}
}

// limitPrivileges sets no_new_privs and reduces the capabilities of every
// thread of the process to keep: its bounding, effective and permitted
// sets become keep, its inheritable and ambient sets empty.
//
// Every change is made to all threads at once with
// syscall.AllThreadsSyscall, a stop-the-world each, so only capabilities
// still in the bounding set are dropped from it, one call each: a sandbox
// process started as root starts with its final bounding set (see
// startCaps), which leaves no such call where the whole set would take one
// per capability the kernel knows. All threads have the same bounding set
// (nothing changes it on one thread only), so the calling thread's tells
// which capabilities to drop.
//
// syscall.AllThreadsSyscall works only in a binary built with
// CGO_ENABLED=0, as runsc is.
func limitPrivileges(keep uint64) error {
	switch _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e {
	case 0:
	case unix.ENOTSUP:
		return errors.New("changing every thread's privileges needs a runsc built with CGO_ENABLED=0")
	default:
		return fmt.Errorf("setting no_new_privs: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 && e != unix.EINVAL {
		return fmt.Errorf("clearing ambient capabilities: %w", e)
	}
	err := forEachBoundingCap(keep, func(c int) syscall.Errno {
		_, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0, 0)
		return e
	})
	if err != nil {
		return err
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(keep), Permitted: uint32(keep)},
		{Effective: uint32(keep >> 32), Permitted: uint32(keep >> 32)},
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("reducing capabilities: %w", e)
	}
	return nil
}
