//go:build linux

#include "textflag.h"

// func Relax()
TEXT ·Relax(SB),NOSPLIT|NOFRAME,$0-0
	PAUSE
	RET

// func PauseLoop(n uint64)
TEXT ·PauseLoop(SB),NOSPLIT,$0-8
	MOVQ	n+0(FP), CX
loop:
	PAUSE
	DECQ	CX
	JNZ	loop
	RET

// func cpuid7ecx() uint32
//
// cpuid7ecx returns ECX of CPUID leaf 7, subleaf 0, or 0 if the leaf does
// not exist.
TEXT ·cpuid7ecx(SB),NOSPLIT|NOFRAME,$0-4
	MOVL	$0, AX
	CPUID
	CMPL	AX, $7
	JLT	none
	MOVL	$7, AX
	MOVL	$0, CX
	CPUID
	MOVL	CX, ret+0(FP)
	RET
none:
	MOVL	$0, ret+0(FP)
	RET

// func extendedFeatures() uint32
//
// extendedFeatures returns EDX of CPUID leaf 0x80000001, or 0 if the leaf
// does not exist.
TEXT ·extendedFeatures(SB),NOSPLIT|NOFRAME,$0-4
	MOVL	$0x80000000, AX
	CPUID
	CMPL	AX, $0x80000001
	JB	no
	MOVL	$0x80000001, AX
	XORL	CX, CX
	CPUID
	MOVL	DX, ret+0(FP)
	RET
no:
	MOVL	$0, ret+0(FP)
	RET

// func rdpid() uint64
TEXT ·rdpid(SB),NOSPLIT|NOFRAME,$0-8
	// RDPID RAX: F3 0F C7 /7 with ModRM 11 111 000.
	BYTE	$0xF3; BYTE $0x0F; BYTE $0xC7; BYTE $0xF8
	MOVQ	AX, ret+0(FP)
	RET

// func rdtscpAux() uint32
//
// RDTSCP leaves IA32_TSC_AUX in ecx.
TEXT ·rdtscpAux(SB),NOSPLIT|NOFRAME,$0-4
	BYTE	$0x0f; BYTE $0x01; BYTE $0xf9 // rdtscp
	MOVL	CX, ret+0(FP)
	RET
