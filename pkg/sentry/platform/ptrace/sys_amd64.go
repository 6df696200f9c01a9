//go:build linux

package ptrace

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Thin wrappers over the host system calls the platform uses. ptrace
// requests never block, so they use RawSyscall; wait4 blocks and uses
// Syscall so the Go scheduler can hand the P to another thread.

const (
	ptraceSysemu               = 31 // PTRACE_SYSEMU
	ptraceGetRegSet            = 0x4204
	ptraceSetRegSet            = 0x4205
	ptraceGetFPRegs            = 14
	ptraceGetRseqConfiguration = 0x420f // PTRACE_GET_RSEQ_CONFIGURATION
	ptraceSetFPRegs            = 15
	ntX86XState                = 0x202
	ntPRFPReg                  = 2
	syscallStopSig             = int(unix.SIGTRAP) | 0x80
	interruptSignal            = unix.SIGCHLD
	siKernel                   = 0x80 // SI_KERNEL
	segvMapErr                 = 1    // SEGV_MAPERR
	segvAccErr                 = 2    // SEGV_ACCERR
	wallFlag                   = 0x40000000
)

func ptrace(req, tid int, addr, data uintptr) error {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getRegs(tid int, r *unix.PtraceRegs) error {
	return ptrace(unix.PTRACE_GETREGS, tid, 0, uintptr(unsafe.Pointer(r)))
}

func setRegs(tid int, r *unix.PtraceRegs) error {
	return ptrace(unix.PTRACE_SETREGS, tid, 0, uintptr(unsafe.Pointer(r)))
}

// siginfo is the prefix of struct siginfo the platform reads.
type siginfo struct {
	Signo int32
	Errno int32
	Code  int32
	_     int32
	// Addr is si_addr for SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGTRAP, or
	// si_pid/si_uid for signals sent by kill.
	Addr uint64
	_    [128 - 24]byte
}

func getSiginfo(tid int, si *siginfo) error {
	return ptrace(unix.PTRACE_GETSIGINFO, tid, 0, uintptr(unsafe.Pointer(si)))
}

func peekData(tid int, addr uintptr) (uint64, error) {
	var v uint64
	err := ptrace(unix.PTRACE_PEEKDATA, tid, addr, uintptr(unsafe.Pointer(&v)))
	return v, err
}

// wait4 waits for tid with __WALL, retrying on EINTR.
func wait4(tid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(tid, &ws, wallFlag, nil)
		if err == unix.EINTR {
			continue
		}
		return ws, err
	}
}

func gettid() int {
	tid, _, _ := unix.RawSyscall(unix.SYS_GETTID, 0, 0, 0)
	return int(tid)
}

func tgkill(tgid, tid int, sig unix.Signal) error {
	_, _, e := unix.RawSyscall(unix.SYS_TGKILL, uintptr(tgid), uintptr(tid), uintptr(sig))
	if e != 0 {
		return e
	}
	return nil
}
