//go:build linux && amd64

// Package stubproc holds the host-side pieces the ptrace and systrap
// platforms share to run applications in stub processes: the raw fork that
// starts a stub without running any Go code in the child, and cheap ways to
// find the current CPU and to spin.
package stubproc

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// forkStub is implemented in fork_amd64.s.
//
//go:noescape
func forkStub(entry, r12, r13, r14 uintptr, mask, old *uint64) (pid uintptr)

// Fork forks the calling thread with a raw clone(SIGCHLD). The child runs
// no Go code at all: it jumps straight to entry (a stub program, which must
// not return) with every signal blocked and r12, r13 and r14 holding the
// given values; the rest of its registers are the parent's, and its stack
// pointer points into the parent's (copied) goroutine stack. The parent's
// signal mask is the same after Fork as before. The caller should be locked
// to its OS thread if the child depends on it (PR_SET_PDEATHSIG is tied to
// the parent thread).
func Fork(entry, r12, r13, r14 uintptr) (int, error) {
	all := ^uint64(0)
	var old uint64
	r := int(forkStub(entry, r12, r13, r14, &all, &old))
	if r < 0 {
		return 0, fmt.Errorf("fork stub: %w", unix.Errno(-r))
	}
	return r, nil
}

// Relax executes one PAUSE: the body of a spin loop.
func Relax()

// PauseLoop executes n PAUSEs (n > 0); used to calibrate spin budgets.
func PauseLoop(n uint64)

// Ticks reads the time stamp counter: a clock for short intervals on a hot
// path (time.Now costs 40-75 ns through the vDSO in a VM, RDTSC a few),
// whose rate the caller calibrates against time.Now.
func Ticks() uint64

// Implemented in cpu_amd64.s.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
func rdpid() uint64
func rdtscpAux() uint32

// How CurrentCPU reads IA32_TSC_AUX, in which Linux keeps (node << 12) |
// cpu: RDPID (CPUID.(EAX=7,ECX=0):ECX bit 22) or RDTSCP
// (CPUID.80000001H:EDX bit 27).
var hasRDPID, hasRDTSCP = cpuFeatures()

func cpuFeatures() (rdpid, rdtscp bool) {
	if n, _, _, _ := cpuid(0, 0); n >= 7 {
		_, _, ecx, _ := cpuid(7, 0)
		rdpid = ecx&(1<<22) != 0
	}
	if n, _, _, _ := cpuid(0x80000000, 0); n >= 0x80000001 {
		_, _, _, edx := cpuid(0x80000001, 0)
		rdtscp = edx&(1<<27) != 0
	}
	return rdpid, rdtscp
}

// CurrentCPU returns the CPU the calling thread runs on: from RDPID or
// RDTSCP when the CPU has them (an instruction instead of a system call,
// which costs ~1 µs in a VM and is paid on every platform hand-off), else
// from getcpu(2).
func CurrentCPU() int {
	switch {
	case hasRDPID:
		return int(rdpid() & 0xfff)
	case hasRDTSCP:
		return int(rdtscpAux() & 0xfff)
	}
	return getcpuSyscall()
}

func getcpuSyscall() int {
	var cpu uint32
	unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	return int(cpu)
}
