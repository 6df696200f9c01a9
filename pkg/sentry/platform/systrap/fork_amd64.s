//go:build linux

#include "textflag.h"

// func forkStub(entry, memfd, ctxfd uintptr, mask, old *uint64) (pid uintptr)
//
// forkStub blocks every signal on this thread, forks with a raw
// clone(SIGCHLD) and restores the signal mask in the parent. The child runs
// no Go code at all: it jumps straight to entry (the stub program) with
// r13 = memfd, r14 = ctxfd and every signal still blocked. The parent
// returns the child's pid, or -errno. (The ptrace platform's forkStub, with
// one more descriptor.)
TEXT ·forkStub(SB),NOSPLIT|NOFRAME,$0-48
	MOVQ	entry+0(FP), R12
	MOVQ	memfd+8(FP), R13
	MOVQ	ctxfd+16(FP), R14

	// rt_sigprocmask(SIG_SETMASK, mask, old, 8)
	MOVQ	$14, AX
	MOVQ	$2, DI
	MOVQ	mask+24(FP), SI
	MOVQ	old+32(FP), DX
	MOVQ	$8, R10
	SYSCALL

	// clone(SIGCHLD, 0, 0, 0, 0)
	MOVQ	$56, AX
	MOVQ	$17, DI
	XORQ	SI, SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	MOVQ	AX, BX

	// rt_sigprocmask(SIG_SETMASK, old, NULL, 8)
	MOVQ	$14, AX
	MOVQ	$2, DI
	MOVQ	old+32(FP), SI
	XORQ	DX, DX
	MOVQ	$8, R10
	SYSCALL

	MOVQ	BX, pid+40(FP)
	RET

child:
	JMP	R12

// func cpuRelax()
TEXT ·cpuRelax(SB),NOSPLIT|NOFRAME,$0-0
	PAUSE
	RET

// func pauseLoop(n uint64)
TEXT ·pauseLoop(SB),NOSPLIT,$0-8
	MOVQ	n+0(FP), CX
loop:
	PAUSE
	DECQ	CX
	JNZ	loop
	RET

// func rdtscpCPU() uint32
//
// RDTSCP leaves IA32_TSC_AUX in ecx, which Linux sets to node<<12 | cpu.
TEXT ·rdtscpCPU(SB),NOSPLIT|NOFRAME,$0-4
	BYTE	$0x0f; BYTE $0x01; BYTE $0xf9 // rdtscp
	ANDL	$0xfff, CX
	MOVL	CX, ret+0(FP)
	RET

// func hasRDTSCP() bool
//
// CPUID 0x80000001: EDX bit 27 is RDTSCP.
TEXT ·hasRDTSCP(SB),NOSPLIT,$0-1
	MOVL	$0x80000000, AX
	CPUID
	CMPL	AX, $0x80000001
	JB	no
	MOVL	$0x80000001, AX
	XORL	CX, CX
	CPUID
	SHRL	$27, DX
	ANDL	$1, DX
	MOVB	DX, ret+0(FP)
	RET
no:
	MOVB	$0, ret+0(FP)
	RET
