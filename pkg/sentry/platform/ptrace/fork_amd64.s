//go:build linux

#include "textflag.h"

// func forkStub(entry, memfd uintptr, mask, old *uint64) (pid uintptr)
//
// forkStub blocks every signal on this thread, forks with a raw
// clone(SIGCHLD) and restores the signal mask in the parent. The child runs
// no Go code at all: it jumps straight to entry (the stub program) with
// r13 = memfd and every signal still blocked. The parent returns the child's
// pid, or -errno.
TEXT ·forkStub(SB),NOSPLIT|NOFRAME,$0-40
	MOVQ	entry+0(FP), R12
	MOVQ	memfd+8(FP), R13

	// rt_sigprocmask(SIG_SETMASK, mask, old, 8)
	MOVQ	$14, AX
	MOVQ	$2, DI
	MOVQ	mask+16(FP), SI
	MOVQ	old+24(FP), DX
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
	MOVQ	old+24(FP), SI
	XORQ	DX, DX
	MOVQ	$8, R10
	SYSCALL

	MOVQ	BX, pid+32(FP)
	RET

child:
	JMP	R12
