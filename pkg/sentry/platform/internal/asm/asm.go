// Package asm is a tiny x86-64 machine code emitter, just big enough to
// write the stub programs of the ptrace and systrap platforms: the code
// those platforms run in their stub processes, where no Go code may run.
// Each method emits exactly one instruction; its comment gives the
// instruction in Intel syntax and its encoding. The platforms' disassembly
// tests check the output against objdump when objdump is installed.
package asm

import "encoding/binary"

// x86-64 general purpose register numbers, as used in ModRM/REX encodings.
const (
	RAX = 0
	RCX = 1
	RDX = 2
	RBX = 3
	RSP = 4
	RBP = 5
	RSI = 6
	RDI = 7
	R8  = 8
	R9  = 9
	R10 = 10
	R11 = 11
	R12 = 12
	R13 = 13
	R14 = 14
	R15 = 15
)

// Condition codes for Jcc (the low nibble of 0F 8x).
const (
	CondAE = 0x3 // above or equal (unsigned) / no carry
	CondE  = 0x4 // equal / zero
	CondNE = 0x5 // not equal / not zero
)

// Assembler accumulates machine code and resolves forward and backward
// jumps to named labels. The zero value is not usable; call New.
type Assembler struct {
	code []byte
	// Labels maps each label to its offset in the code.
	Labels map[string]int
	fixups []fixup
	// locals counts the labels made by local.
	locals int
}

// fixup is a rel32 field at off that must hold label's address relative to
// the end of the field.
type fixup struct {
	off   int
	label string
}

// New returns an empty assembler.
func New() *Assembler {
	return &Assembler{Labels: make(map[string]int)}
}

// Len returns the number of bytes emitted so far.
func (a *Assembler) Len() int { return len(a.code) }

// rexW returns a REX prefix with W set, and R and B taken from bit 3 of reg
// (the ModRM reg field) and rm (the ModRM r/m field).
func rexW(reg, rm int) byte {
	return 0x48 | byte(reg>>3&1)<<2 | byte(rm>>3&1)
}

// modrm returns a ModRM byte.
func modrm(mod, reg, rm int) byte {
	return byte(mod<<6 | (reg&7)<<3 | rm&7)
}

func (a *Assembler) emit(b ...byte) { a.code = append(a.code, b...) }

func (a *Assembler) imm32(v uint32) { a.code = binary.LittleEndian.AppendUint32(a.code, v) }

func (a *Assembler) imm64(v uint64) { a.code = binary.LittleEndian.AppendUint64(a.code, v) }

// Label defines name at the current position. Defining a name twice
// panics: the stub programs are fixed, so this is a programming error.
func (a *Assembler) Label(name string) {
	if _, ok := a.Labels[name]; ok {
		panic("asm: duplicate label " + name)
	}
	a.Labels[name] = len(a.code)
}

// MovImm: mov reg, imm64 — REX.W B8+r io.
func (a *Assembler) MovImm(reg int, v uint64) {
	a.emit(0x48|byte(reg>>3&1), 0xb8+byte(reg&7))
	a.imm64(v)
}

// MovReg: mov dst, src — REX.W 89 /r (MOV r/m64, r64).
func (a *Assembler) MovReg(dst, src int) {
	a.emit(rexW(src, dst), 0x89, modrm(3, src, dst))
}

// AddImm: add reg, imm32 (sign extended) — REX.W 81 /0 id.
func (a *Assembler) AddImm(reg int, v int32) {
	a.emit(rexW(0, reg), 0x81, modrm(3, 0, reg))
	a.imm32(uint32(v))
}

// checkBase panics for base registers that need a SIB byte (rsp, r12).
func checkBase(base int) {
	if base&7 == RSP {
		panic("asm: memory operand with a SIB base")
	}
}

// Load: mov dst, [base+disp32] — REX.W 8B /r with mod=10.
func (a *Assembler) Load(dst, base int, disp int32) {
	checkBase(base)
	a.emit(rexW(dst, base), 0x8b, modrm(2, dst, base))
	a.imm32(uint32(disp))
}

// Store: mov [base+disp32], src — REX.W 89 /r with mod=10.
func (a *Assembler) Store(base int, disp int32, src int) {
	checkBase(base)
	a.emit(rexW(src, base), 0x89, modrm(2, src, base))
	a.imm32(uint32(disp))
}

// rex32 emits a REX prefix (no W) if reg or rm is r8..r15.
func (a *Assembler) rex32(reg, rm int) {
	if reg >= 8 || rm >= 8 {
		a.emit(0x40 | byte(reg>>3&1)<<2 | byte(rm>>3&1))
	}
}

// Load32: mov dst32, [base+disp32] — [REX] 8B /r with mod=10 (zero
// extends into dst).
func (a *Assembler) Load32(dst, base int, disp int32) {
	checkBase(base)
	a.rex32(dst, base)
	a.emit(0x8b, modrm(2, dst, base))
	a.imm32(uint32(disp))
}

// Xchg32: xchg [base+disp32], reg32 — [REX] 87 /r with mod=10. An xchg with
// memory is locked: a full barrier.
func (a *Assembler) Xchg32(base int, disp int32, reg int) {
	checkBase(base)
	a.rex32(reg, base)
	a.emit(0x87, modrm(2, reg, base))
	a.imm32(uint32(disp))
}

// CmpReg: cmp x, y — REX.W 39 /r (CMP r/m64=x, r64=y).
func (a *Assembler) CmpReg(x, y int) {
	a.emit(rexW(y, x), 0x39, modrm(3, y, x))
}

// CmpReg32: cmp x32, y32 — [REX] 39 /r.
func (a *Assembler) CmpReg32(x, y int) {
	a.rex32(y, x)
	a.emit(0x39, modrm(3, y, x))
}

// CmpImm32: cmp reg32, imm8 (sign extended) — [REX] 83 /7 ib.
func (a *Assembler) CmpImm32(reg int, v int8) {
	a.rex32(0, reg)
	a.emit(0x83, modrm(3, 7, reg), byte(v))
}

// TestReg: test x, x — REX.W 85 /r.
func (a *Assembler) TestReg(x int) {
	a.emit(rexW(x, x), 0x85, modrm(3, x, x))
}

// Inc: inc reg — REX.W FF /0.
func (a *Assembler) Inc(reg int) {
	a.emit(rexW(0, reg), 0xff, modrm(3, 0, reg))
}

// Dec: dec reg — REX.W FF /1.
func (a *Assembler) Dec(reg int) {
	a.emit(rexW(0, reg), 0xff, modrm(3, 1, reg))
}

// Neg: neg reg — REX.W F7 /3.
func (a *Assembler) Neg(reg int) {
	a.emit(rexW(0, reg), 0xf7, modrm(3, 3, reg))
}

// Jcc: j<cond> label — 0F 80+cc cd.
func (a *Assembler) Jcc(cond byte, label string) {
	a.emit(0x0f, 0x80|cond)
	a.rel32(label)
}

// Jmp: jmp label — E9 cd.
func (a *Assembler) Jmp(label string) {
	a.emit(0xe9)
	a.rel32(label)
}

func (a *Assembler) rel32(label string) {
	a.fixups = append(a.fixups, fixup{off: len(a.code), label: label})
	a.imm32(0)
}

// Syscall — 0F 05.
func (a *Assembler) Syscall() { a.emit(0x0f, 0x05) }

// Int3 — CC.
func (a *Assembler) Int3() { a.emit(0xcc) }

// Ret — C3.
func (a *Assembler) Ret() { a.emit(0xc3) }

// Pause — F3 90.
func (a *Assembler) Pause() { a.emit(0xf3, 0x90) }

// Finish resolves jumps and returns the code. An undefined label panics.
func (a *Assembler) Finish() []byte {
	for _, f := range a.fixups {
		target, ok := a.Labels[f.label]
		if !ok {
			panic("asm: undefined label " + f.label)
		}
		binary.LittleEndian.PutUint32(a.code[f.off:], uint32(int32(target-(f.off+4))))
	}
	return a.code
}
