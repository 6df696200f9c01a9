//go:build linux

#include "textflag.h"

// func cpuid7ecx() uint32
//
// cpuid7ecx returns ECX of CPUID leaf 7, subleaf 0 (bit 22: RDPID), or 0
// if the leaf does not exist.
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

// func rdpid() uint64
//
// rdpid returns IA32_TSC_AUX, which Linux sets to (node << 12) | cpu.
// Callers check cpuid7ecx first.
TEXT ·rdpid(SB),NOSPLIT|NOFRAME,$0-8
	// RDPID RAX: F3 0F C7 /7 with ModRM 11 111 000.
	BYTE	$0xF3; BYTE $0x0F; BYTE $0xC7; BYTE $0xF8
	MOVQ	AX, ret+0(FP)
	RET
