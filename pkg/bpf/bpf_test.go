package bpf

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestProgramAndExec(t *testing.T) {
	// Return 1 if the first word is 7, 2 if its bit 0x10 is set, else 3.
	p := NewProgram()
	p.AddStmt(Ld|W|Abs, 0)
	p.AddJump(Jmp|Jeq|K, 7, "one", "")
	p.AddJump(Jmp|Jset|K, 0x10, "two", "three")
	p.AddLabel("one")
	p.AddStmt(Ret|K, 1)
	p.AddLabel("two")
	p.AddStmt(Ret|K, 2)
	p.AddLabel("three")
	p.AddStmt(Ret|K, 3)
	prog, err := p.Instructions()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		word uint32
		want uint32
	}{{7, 1}, {0x10, 2}, {0x11, 2}, {0, 3}, {8, 3}} {
		data := make([]byte, 4)
		binary.LittleEndian.PutUint32(data, tc.word)
		got, err := Exec(prog, data)
		if err != nil || got != tc.want {
			t.Errorf("Exec(%#x) = %d, %v; want %d", tc.word, got, err, tc.want)
		}
	}
}

func TestProgramErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(p *Program)
	}{
		{"undefined", func(p *Program) { p.AddJump(Jmp|Jeq|K, 0, "nowhere", "") }},
		{"backward", func(p *Program) { p.AddLabel("l"); p.AddStmt(Ld|Imm, 0); p.AddJumpTo("l") }},
		{"duplicate", func(p *Program) { p.AddLabel("l"); p.AddLabel("l") }},
		{"too-far", func(p *Program) {
			p.AddJump(Jmp|Jeq|K, 0, "far", "")
			for i := 0; i < 300; i++ {
				p.AddStmt(Ld|Imm, 0)
			}
			p.AddLabel("far")
			p.AddStmt(Ret|K, 0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewProgram()
			tc.build(p)
			if _, err := p.Instructions(); err == nil {
				t.Error("Instructions succeeded")
			}
		})
	}
}

func TestExecInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		prog []Instruction
	}{
		{"out-of-bounds", []Instruction{Stmt(Ld|W|Abs, 64), Stmt(Ret|K, 0)}},
		{"no-return", []Instruction{Stmt(Ld|Imm, 1)}},
		{"bad-opcode", []Instruction{Stmt(0xffff, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Exec(tc.prog, make([]byte, 8)); !errors.Is(err, ErrInvalid) {
				t.Errorf("Exec = %v, want ErrInvalid", err)
			}
		})
	}
}
