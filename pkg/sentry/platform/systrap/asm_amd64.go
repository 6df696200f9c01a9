//go:build linux && amd64

package systrap

import "encoding/binary"

// This file is a tiny x86-64 machine code emitter, just big enough to write
// the stub program (stub_amd64.go). It follows the ptrace platform's
// emitter and adds the few instructions the signal handler needs (32-bit
// loads, stores and exchanges for the futex words, pause). Each method
// emits exactly one instruction; its comment gives the instruction in Intel
// syntax and its encoding. TestStubDisassembly checks the output against
// objdump when objdump is installed.

// x86-64 general purpose register numbers, as used in ModRM/REX encodings.
const (
	rax = 0
	rcx = 1
	rdx = 2
	rbx = 3
	rsp = 4
	rbp = 5
	rsi = 6
	rdi = 7
	r8  = 8
	r9  = 9
	r10 = 10
	r11 = 11
	r12 = 12
	r13 = 13
	r14 = 14
	r15 = 15
)

// Condition codes for jcc (the low nibble of 0F 8x).
const (
	condE  = 0x4 // equal / zero
	condNE = 0x5 // not equal / not zero
)

// assembler accumulates machine code and resolves forward and backward
// jumps to named labels.
type assembler struct {
	code   []byte
	labels map[string]int
	fixups []fixup
}

// fixup is a rel32 field at off that must hold label's address relative to
// the end of the field.
type fixup struct {
	off   int
	label string
}

func newAssembler() *assembler {
	return &assembler{labels: make(map[string]int)}
}

// rexW returns a REX prefix with W set, and R and B taken from bit 3 of reg
// (the ModRM reg field) and rm (the ModRM r/m field).
func rexW(reg, rm int) byte {
	return 0x48 | byte(reg>>3&1)<<2 | byte(rm>>3&1)
}

// modrm returns a ModRM byte.
func modrm(mod, reg, rm int) byte {
	return byte(mod<<6 | (reg&7)<<3 | rm&7)
}

func (a *assembler) emit(b ...byte) { a.code = append(a.code, b...) }

func (a *assembler) imm32(v uint32) { a.code = binary.LittleEndian.AppendUint32(a.code, v) }

func (a *assembler) imm64(v uint64) { a.code = binary.LittleEndian.AppendUint64(a.code, v) }

// label defines name at the current position.
func (a *assembler) label(name string) {
	if _, ok := a.labels[name]; ok {
		panic("systrap: duplicate stub label " + name)
	}
	a.labels[name] = len(a.code)
}

// movImm: mov reg, imm64 — REX.W B8+r io.
func (a *assembler) movImm(reg int, v uint64) {
	a.emit(0x48|byte(reg>>3&1), 0xb8+byte(reg&7))
	a.imm64(v)
}

// movReg: mov dst, src — REX.W 89 /r (MOV r/m64, r64).
func (a *assembler) movReg(dst, src int) {
	a.emit(rexW(src, dst), 0x89, modrm(3, src, dst))
}

// addImm: add reg, imm32 (sign extended) — REX.W 81 /0 id.
func (a *assembler) addImm(reg int, v int32) {
	a.emit(rexW(0, reg), 0x81, modrm(3, 0, reg))
	a.imm32(uint32(v))
}

// checkBase panics for base registers that need a SIB byte.
func checkBase(base int) {
	if base&7 == rsp {
		panic("systrap: stub memory operand with SIB base")
	}
}

// load: mov dst, [base+disp32] — REX.W 8B /r with mod=10.
func (a *assembler) load(dst, base int, disp int32) {
	checkBase(base)
	a.emit(rexW(dst, base), 0x8b, modrm(2, dst, base))
	a.imm32(uint32(disp))
}

// store: mov [base+disp32], src — REX.W 89 /r with mod=10.
func (a *assembler) store(base int, disp int32, src int) {
	checkBase(base)
	a.emit(rexW(src, base), 0x89, modrm(2, src, base))
	a.imm32(uint32(disp))
}

// rex32 emits a REX prefix (no W) if reg or rm is r8..r15.
func (a *assembler) rex32(reg, rm int) {
	if reg >= 8 || rm >= 8 {
		a.emit(0x40 | byte(reg>>3&1)<<2 | byte(rm>>3&1))
	}
}

// load32: mov dst32, [base+disp32] — [REX] 8B /r with mod=10.
func (a *assembler) load32(dst, base int, disp int32) {
	checkBase(base)
	a.rex32(dst, base)
	a.emit(0x8b, modrm(2, dst, base))
	a.imm32(uint32(disp))
}

// xchg32: xchg [base+disp32], reg32 — [REX] 87 /r with mod=10. An xchg with
// memory is locked: a full barrier.
func (a *assembler) xchg32(base int, disp int32, reg int) {
	checkBase(base)
	a.rex32(reg, base)
	a.emit(0x87, modrm(2, reg, base))
	a.imm32(uint32(disp))
}

// cmpImm32: cmp reg32, imm8 (sign extended) — [REX] 83 /7 ib.
func (a *assembler) cmpImm32(reg int, v int8) {
	a.rex32(0, reg)
	a.emit(0x83, modrm(3, 7, reg), byte(v))
}

// cmpReg: cmp x, y — REX.W 39 /r (CMP r/m64=x, r64=y).
func (a *assembler) cmpReg(x, y int) {
	a.emit(rexW(y, x), 0x39, modrm(3, y, x))
}

// testReg: test x, x — REX.W 85 /r.
func (a *assembler) testReg(x int) {
	a.emit(rexW(x, x), 0x85, modrm(3, x, x))
}

// inc: inc reg — REX.W FF /0.
func (a *assembler) inc(reg int) {
	a.emit(rexW(0, reg), 0xff, modrm(3, 0, reg))
}

// dec: dec reg — REX.W FF /1.
func (a *assembler) dec(reg int) {
	a.emit(rexW(0, reg), 0xff, modrm(3, 1, reg))
}

// jcc: j<cond> label — 0F 80+cc cd.
func (a *assembler) jcc(cond byte, label string) {
	a.emit(0x0f, 0x80|cond)
	a.rel32(label)
}

// jmp: jmp label — E9 cd.
func (a *assembler) jmp(label string) {
	a.emit(0xe9)
	a.rel32(label)
}

func (a *assembler) rel32(label string) {
	a.fixups = append(a.fixups, fixup{off: len(a.code), label: label})
	a.imm32(0)
}

// syscall — 0F 05.
func (a *assembler) syscall() { a.emit(0x0f, 0x05) }

// pause — F3 90.
func (a *assembler) pause() { a.emit(0xf3, 0x90) }

// int3 — CC.
func (a *assembler) int3() { a.emit(0xcc) }

// ret — C3.
func (a *assembler) ret() { a.emit(0xc3) }

// finish resolves jumps and returns the code.
func (a *assembler) finish() []byte {
	for _, f := range a.fixups {
		target, ok := a.labels[f.label]
		if !ok {
			panic("systrap: undefined stub label " + f.label)
		}
		binary.LittleEndian.PutUint32(a.code[f.off:], uint32(int32(target-(f.off+4))))
	}
	return a.code
}
