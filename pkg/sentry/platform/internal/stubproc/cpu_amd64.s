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

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB),NOSPLIT|NOFRAME,$0-24
	MOVL	leaf+0(FP), AX
	MOVL	subleaf+4(FP), CX
	CPUID
	MOVL	AX, eax+8(FP)
	MOVL	BX, ebx+12(FP)
	MOVL	CX, ecx+16(FP)
	MOVL	DX, edx+20(FP)
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

// func Ticks() uint64
TEXT ·Ticks(SB),NOSPLIT|NOFRAME,$0-8
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET
