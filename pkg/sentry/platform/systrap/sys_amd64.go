//go:build linux && amd64

package systrap

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Thin wrappers over the host system calls and instructions the platform
// uses.

const (
	futexWait = 0 // FUTEX_WAIT, not private: the word is shared with the stub
	futexWake = 1 // FUTEX_WAKE
	wallFlag  = 0x40000000
	// interruptSignal is the host signal Interrupt sends a stub thread.
	interruptSignal = unix.SIGUSR2
	siTkill         = -6 // SI_TKILL
	segvMapErr      = 1  // SEGV_MAPERR
)

// futexWaitTimeout waits while *w == val, for at most d. It returns
// early on a wake, a changed value or a signal.
func futexWaitTimeout(w *atomic.Uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWait, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexSleep waits while *w == val, with no timeout. It returns early on
// a wake, a changed value or a signal.
func futexSleep(w *atomic.Uint32, val uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWait, uintptr(val), 0, 0, 0)
}

// futexWakeOne wakes a waiter on w.
func futexWakeOne(w *atomic.Uint32) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWake, 1, 0, 0, 0)
}

func tgkill(tgid, tid int, sig unix.Signal) error {
	_, _, e := unix.RawSyscall(unix.SYS_TGKILL, uintptr(tgid), uintptr(tid), uintptr(sig))
	if e != 0 {
		return e
	}
	return nil
}

// exited reports whether the stub process pid has exited (is a zombie or
// gone), without reaping it.
func exited(pid int) bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	if err != nil {
		return err != unix.EINTR
	}
	// si_pid is at offset 16 of siginfo; zero if the child is still alive.
	return *(*int32)(unsafe.Add(unsafe.Pointer(&info), 16)) != 0
}

// setAffinity pins tid to the CPUs in set.
func setAffinity(tid int, set *unix.CPUSet) error {
	return unix.SchedSetaffinity(tid, set)
}
