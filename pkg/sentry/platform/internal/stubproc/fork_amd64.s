//go:build linux

#include "textflag.h"

// func forkStub(entry, r12, r13, r14 uintptr, mask, old *uint64) (pid uintptr)
//
// forkStub blocks every signal on this thread, forks with a raw
// clone(SIGCHLD) and restores the signal mask in the parent. The child
// jumps straight to entry with r12, r13 and r14 set and every signal still
// blocked. The parent returns the child's pid, or -errno.
TEXT ·forkStub(SB),NOSPLIT|NOFRAME,$0-56
	MOVQ	entry+0(FP), R9
	MOVQ	r12+8(FP), R12
	MOVQ	r13+16(FP), R13
	MOVQ	r14+24(FP), R14

	// rt_sigprocmask(SIG_SETMASK, mask, old, 8)
	MOVQ	$14, AX
	MOVQ	$2, DI
	MOVQ	mask+32(FP), SI
	MOVQ	old+40(FP), DX
	MOVQ	$8, R10
	SYSCALL

	// clone(SIGCHLD, 0, 0, 0, 0): r9, which holds entry, is no argument.
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
	MOVQ	old+40(FP), SI
	XORQ	DX, DX
	MOVQ	$8, R10
	SYSCALL

	MOVQ	BX, pid+48(FP)
	RET

child:
	JMP	R9
