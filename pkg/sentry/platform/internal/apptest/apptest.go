//go:build linux && amd64

// Package apptest is what the platforms' tests share: the conformance
// suite every platform runs (RunConformance: the behaviour the Sentry's
// kernel relies on, whatever the mechanism), the tiny applications it runs
// (App: code, data, read-only and stack pages in a memory file, and a
// hole), machine code pieces to write them with, and helpers to look at
// stub processes. A platform's own test files keep only what is its own.
package apptest

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"bufferzone.dev/pkg/sentry/platform"
	"golang.org/x/sys/unix"
)

// The test applications' layout: addresses, and the memory file offsets
// mapped there.
const (
	CodeAddr   = 0x400000 // r-x, from CodeOff
	DataAddr   = 0x500000 // rw-, from DataOff: data and the main stack
	ROAddr     = 0x501000 // r--, from ROOff
	HoleAddr   = 0x600000 // unmapped
	StacksAddr = 0x700000 // rw-, from StacksOff: thread i's stack page is StacksAddr + i*4096

	CodeOff   = 0
	DataOff   = 0x1000
	ROOff     = 0x2000
	ExtraOff  = 0x3000 // free for tests to map
	StacksOff = 0x10000
	MemSize   = 1 << 20
)

// Machine code pieces.
var (
	Syscall = []byte{0x0f, 0x05}
	Int3    = []byte{0xcc}
	JmpSelf = []byte{0xeb, 0xfe}                         // jmp .
	Store   = []byte{0x48, 0x89, 0x37}                   // mov [rdi], rsi
	Load    = []byte{0x48, 0x8b, 0x37}                   // mov rsi, [rdi]
	Load8   = []byte{0x48, 0x8b, 0x47, 0x08}             // mov rax, [rdi+8]
	JmpRDI  = []byte{0xff, 0xe7}                         // jmp rdi
	DivZero = []byte{0x31, 0xd2, 0x31, 0xc9, 0xf7, 0xf1} // xor edx,edx; xor ecx,ecx; div ecx
	Xmm0RSI = []byte{0x66, 0x48, 0x0f, 0x7e, 0xc6}       // movq rsi, xmm0
	RDIXmm1 = []byte{0x66, 0x48, 0x0f, 0x6e, 0xcf}       // movq xmm1, rdi
)

// ThreadLoop is "again: mov [rsp], rdi; mov rsi, [rsp]; mov eax, 39;
// syscall; jmp again": every thread stores rdi in its own stack page and
// reads it back into rsi before each getpid.
var ThreadLoop = Cat(
	[]byte{0x48, 0x89, 0x3c, 0x24}, // mov [rsp], rdi
	[]byte{0x48, 0x8b, 0x34, 0x24}, // mov rsi, [rsp]
	MovEAX(39), Syscall,
	[]byte{0xeb, 0xef}, // jmp again (-17)
)

// MovEAX is mov eax, imm32.
func MovEAX(v uint32) []byte { return Le32(0xb8, v) }

// MovEDI is mov edi, imm32.
func MovEDI(v uint32) []byte { return Le32(0xbf, v) }

// MovESI is mov esi, imm32.
func MovESI(v uint32) []byte { return Le32(0xbe, v) }

// MovEDX is mov edx, imm32.
func MovEDX(v uint32) []byte { return Le32(0xba, v) }

// Le32 is the one-byte opcode op followed by the 32-bit immediate v.
func Le32(op byte, v uint32) []byte {
	return binary.LittleEndian.AppendUint32([]byte{op}, v)
}

// Cat concatenates machine code pieces.
func Cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// InitialRegs are the registers a test application starts with: at
// CodeAddr, with its stack in the data page.
func InitialRegs() platform.Registers {
	return platform.Registers{Rip: CodeAddr, Rsp: DataAddr + 0x800, Eflags: 0x202}
}

// NewMemFile returns a memory file of MemSize bytes and the test's
// mapping of it; both go away with the test.
func NewMemFile(t testing.TB) (int, []byte) {
	t.Helper()
	fd, err := unix.MemfdCreate("platform-test", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Ftruncate(fd, MemSize); err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(fd, 0, MemSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return fd, mem
}

// Children returns the pids of the calling process's children (stubs),
// from every thread's /proc children list.
func Children(t testing.TB) []int {
	t.Helper()
	var out []int
	files, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(s); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// Disassemble returns objdump's Intel-syntax disassembly of the x86-64
// machine code, and fails t if objdump cannot decode an instruction; it
// skips t without objdump.
func Disassemble(t testing.TB, code []byte) string {
	t.Helper()
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("no objdump")
	}
	f := filepath.Join(t.TempDir(), "code.bin")
	if err := os.WriteFile(f, code, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdump, "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel", f).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "(bad)") {
		t.Errorf("undecodable instruction:\n%s", out)
	}
	return string(out)
}

// Tasks returns the number of threads of process pid, 0 if it is gone.
func Tasks(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return 0
	}
	return len(ents)
}
