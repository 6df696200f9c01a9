package asm

import (
	"bytes"
	"testing"
)

func TestEncodings(t *testing.T) {
	for _, tc := range []struct {
		name string
		emit func(a *Assembler)
		want []byte
	}{
		{"mov rax, imm64", func(a *Assembler) { a.MovImm(RAX, 0x1122334455667788) },
			[]byte{0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}},
		{"mov r13, imm64", func(a *Assembler) { a.MovImm(R13, 1) },
			[]byte{0x49, 0xbd, 1, 0, 0, 0, 0, 0, 0, 0}},
		{"mov rdi, r14", func(a *Assembler) { a.MovReg(RDI, R14) }, []byte{0x4c, 0x89, 0xf7}},
		{"add r15, -4096", func(a *Assembler) { a.AddImm(R15, -4096) }, []byte{0x49, 0x81, 0xc7, 0x00, 0xf0, 0xff, 0xff}},
		{"mov rcx, [r15+16]", func(a *Assembler) { a.Load(RCX, R15, 16) }, []byte{0x49, 0x8b, 0x8f, 16, 0, 0, 0}},
		{"mov [rdx+8], rax", func(a *Assembler) { a.Store(RDX, 8, RAX) }, []byte{0x48, 0x89, 0x82, 8, 0, 0, 0}},
		{"mov eax, [r15+4]", func(a *Assembler) { a.Load32(RAX, R15, 4) }, []byte{0x41, 0x8b, 0x87, 4, 0, 0, 0}},
		{"mov eax, [rbx+4]", func(a *Assembler) { a.Load32(RAX, RBX, 4) }, []byte{0x8b, 0x83, 4, 0, 0, 0}},
		{"xchg [r15], eax", func(a *Assembler) { a.Xchg32(R15, 0, RAX) }, []byte{0x41, 0x87, 0x87, 0, 0, 0, 0}},
		{"cmp rax, rdi", func(a *Assembler) { a.CmpReg(RAX, RDI) }, []byte{0x48, 0x39, 0xf8}},
		{"cmp eax, r12d", func(a *Assembler) { a.CmpReg32(RAX, R12) }, []byte{0x44, 0x39, 0xe0}},
		{"cmp eax, 2", func(a *Assembler) { a.CmpImm32(RAX, 2) }, []byte{0x83, 0xf8, 0x02}},
		{"test r13, r13", func(a *Assembler) { a.TestReg(R13) }, []byte{0x4d, 0x85, 0xed}},
		{"inc rbx", func(a *Assembler) { a.Inc(RBX) }, []byte{0x48, 0xff, 0xc3}},
		{"neg rdx", func(a *Assembler) { a.Neg(RDX) }, []byte{0x48, 0xf7, 0xda}},
		{"dec rsi", func(a *Assembler) { a.Dec(RSI) }, []byte{0x48, 0xff, 0xce}},
		{"syscall; int3; ret; pause", func(a *Assembler) { a.Syscall(); a.Int3(); a.Ret(); a.Pause() },
			[]byte{0x0f, 0x05, 0xcc, 0xc3, 0xf3, 0x90}},
		{"jae forward", func(a *Assembler) { a.Jcc(CondAE, "y"); a.Label("y") }, []byte{0x0f, 0x83, 0, 0, 0, 0}},
		{"jmp back", func(a *Assembler) { a.Label("x"); a.Jmp("x") }, []byte{0xe9, 0xfb, 0xff, 0xff, 0xff}},
		{"jne forward", func(a *Assembler) { a.Jcc(CondNE, "y"); a.Int3(); a.Label("y") },
			[]byte{0x0f, 0x85, 1, 0, 0, 0, 0xcc}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New()
			tc.emit(a)
			if got := a.Finish(); !bytes.Equal(got, tc.want) {
				t.Errorf("got % x, want % x", got, tc.want)
			}
		})
	}
}

func TestPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(a *Assembler)
	}{
		{"duplicate label", func(a *Assembler) { a.Label("x"); a.Label("x") }},
		{"undefined label", func(a *Assembler) { a.Jmp("nowhere"); a.Finish() }},
		{"rsp base", func(a *Assembler) { a.Load(RAX, RSP, 0) }},
		{"r12 base", func(a *Assembler) { a.Store(R12, 0, RAX) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f(New())
		})
	}
}

// TestSequences checks the stub sequences by their shape: the system calls
// they make, in order.
func TestSequences(t *testing.T) {
	a := New()
	a.Label("exit")
	a.DieWithParent(42, "exit")
	for i := 0; i < 2; i++ { // twice: their labels must not clash
		a.ResetSignals(0x1000)
		a.CloseAllBut(R13, R13)
	}
	a.UnmapAllBut(0x7e0000000000, 0x10000, 0x7ffffffff000)
	code := a.Finish()
	if n := bytes.Count(code, []byte{0x0f, 0x05}); n != 10 {
		t.Errorf("%d syscall instructions, want 10", n)
	}
	defer func() {
		if recover() == nil {
			t.Error("SyscallImm with seven arguments did not panic")
		}
	}()
	New().SyscallImm(0, 1, 2, 3, 4, 5, 6, 7)
}
