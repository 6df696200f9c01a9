// Package bpf is a classic BPF (cBPF) assembler and interpreter: the
// instruction encoding the kernel's seccomp filters use, a Program builder
// with symbolic labels for forward jumps, and an interpreter that runs a
// program over a byte buffer so that filters can be tested without
// installing them.
package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Instruction is one cBPF instruction (struct sock_filter).
type Instruction struct {
	Op uint16
	Jt uint8
	Jf uint8
	K  uint32
}

// Instruction classes, sizes, modes and operations (linux/bpf_common.h).
const (
	Ld   = 0x00
	Ldx  = 0x01
	St   = 0x02
	Alu  = 0x04
	Jmp  = 0x05
	Ret  = 0x06
	Misc = 0x07

	W   = 0x00
	Imm = 0x00
	Abs = 0x20
	Mem = 0x60

	Add = 0x00
	And = 0x50
	Or  = 0x40
	Rsh = 0x70

	Ja   = 0x00
	Jeq  = 0x10
	Jgt  = 0x20
	Jge  = 0x30
	Jset = 0x40

	K = 0x00
	X = 0x08
	A = 0x10

	Tax = 0x00
	Txa = 0x80
)

// MaxInstructions is the kernel's limit on a program's length (BPF_MAXINSNS).
const MaxInstructions = 4096

// Stmt returns a non-jump instruction.
func Stmt(op uint16, k uint32) Instruction { return Instruction{Op: op, K: k} }

// Jump returns a conditional jump with relative offsets.
func Jump(op uint16, k uint32, jt, jf uint8) Instruction {
	return Instruction{Op: op, Jt: jt, Jf: jf, K: k}
}

// Program builds a program whose jumps name labels; jumps may only go
// forward, as in cBPF.
type Program struct {
	insns []Instruction
	// fixups are jumps whose targets are labels not yet resolved.
	fixups []fixup
	labels map[string]int
	err    error
}

type fixup struct {
	at     int
	label  string
	isTrue bool
	isJa   bool
}

// NewProgram returns an empty program.
func NewProgram() *Program { return &Program{labels: make(map[string]int)} }

// AddStmt appends a non-jump instruction.
func (p *Program) AddStmt(op uint16, k uint32) { p.insns = append(p.insns, Stmt(op, k)) }

// AddJump appends a conditional jump to labels jt and jf; an empty label
// means the next instruction.
func (p *Program) AddJump(op uint16, k uint32, jt, jf string) {
	at := len(p.insns)
	p.insns = append(p.insns, Jump(op, k, 0, 0))
	if jt != "" {
		p.fixups = append(p.fixups, fixup{at: at, label: jt, isTrue: true})
	}
	if jf != "" {
		p.fixups = append(p.fixups, fixup{at: at, label: jf})
	}
}

// AddJumpTo appends an unconditional jump to label.
func (p *Program) AddJumpTo(label string) {
	p.fixups = append(p.fixups, fixup{at: len(p.insns), label: label, isJa: true})
	p.insns = append(p.insns, Stmt(Jmp|Ja, 0))
}

// AddLabel names the next instruction.
func (p *Program) AddLabel(name string) {
	if _, dup := p.labels[name]; dup && p.err == nil {
		p.err = fmt.Errorf("bpf: label %q defined twice", name)
	}
	p.labels[name] = len(p.insns)
}

// Instructions resolves the labels and returns the program.
func (p *Program) Instructions() ([]Instruction, error) {
	if p.err != nil {
		return nil, p.err
	}
	out := append([]Instruction(nil), p.insns...)
	for _, f := range p.fixups {
		target, ok := p.labels[f.label]
		if !ok {
			return nil, fmt.Errorf("bpf: undefined label %q", f.label)
		}
		off := target - f.at - 1
		switch {
		case off < 0:
			return nil, fmt.Errorf("bpf: backward jump to %q", f.label)
		case f.isJa:
			out[f.at].K = uint32(off)
		case off > 255:
			return nil, fmt.Errorf("bpf: jump to %q too far (%d instructions)", f.label, off)
		case f.isTrue:
			out[f.at].Jt = uint8(off)
		default:
			out[f.at].Jf = uint8(off)
		}
	}
	if len(out) > MaxInstructions {
		return nil, fmt.Errorf("bpf: program has %d instructions, more than %d", len(out), MaxInstructions)
	}
	return out, nil
}

// ErrInvalid is returned by Exec for a program the kernel would reject or
// that would fault.
var ErrInvalid = errors.New("bpf: invalid program")

// Exec runs prog over data (little-endian 32-bit loads, as seccomp's
// struct seccomp_data is read on x86-64) and returns the value of the
// return instruction reached.
func Exec(prog []Instruction, data []byte) (uint32, error) {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Op {
		case Ld | W | Abs:
			if int(in.K)+4 > len(data) || in.K%4 != 0 {
				return 0, fmt.Errorf("%w: load at %d out of bounds (pc %d)", ErrInvalid, in.K, pc)
			}
			a = binary.LittleEndian.Uint32(data[in.K:])
		case Ld | Imm:
			a = in.K
		case Ld | Mem:
			if in.K >= 16 {
				return 0, fmt.Errorf("%w: scratch %d (pc %d)", ErrInvalid, in.K, pc)
			}
			a = mem[in.K]
		case St:
			if in.K >= 16 {
				return 0, fmt.Errorf("%w: scratch %d (pc %d)", ErrInvalid, in.K, pc)
			}
			mem[in.K] = a
		case Alu | And | K:
			a &= in.K
		case Alu | Or | K:
			a |= in.K
		case Alu | Add | K:
			a += in.K
		case Alu | Rsh | K:
			a >>= in.K
		case Misc | Tax:
			x = a
		case Misc | Txa:
			a = x
		case Jmp | Ja:
			pc += int(in.K)
		case Jmp | Jeq | K, Jmp | Jgt | K, Jmp | Jge | K, Jmp | Jset | K:
			var cond bool
			switch in.Op &^ (Jmp | K) {
			case Jeq:
				cond = a == in.K
			case Jgt:
				cond = a > in.K
			case Jge:
				cond = a >= in.K
			case Jset:
				cond = a&in.K != 0
			}
			if cond {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case Ret | K:
			return in.K, nil
		case Ret | A:
			return a, nil
		default:
			return 0, fmt.Errorf("%w: opcode %#x (pc %d)", ErrInvalid, in.Op, pc)
		}
	}
	return 0, fmt.Errorf("%w: fell off the end", ErrInvalid)
}
