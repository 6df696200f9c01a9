package runsctest

import (
	"bytes"
	"encoding/binary"
)

// ProbeOutput is what the program from ProbeELF writes to its stdout.
const ProbeOutput = "ok\n"

// ProbeELF returns a minimal static x86-64 ELF executable that writes
// ProbeOutput to fd 1 and calls exit_group(0): two system calls, one PT_LOAD
// segment, no libc. It needs no toolchain, so a platform can be probed on any
// machine.
func ProbeELF() []byte {
	const (
		base     = 0x400000
		ehdrSize = 64
		phdrSize = 56
		codeOff  = ehdrSize + phdrSize
	)
	code := []byte{
		0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1 (write)
		0xbf, 0x01, 0x00, 0x00, 0x00, // mov edi, 1
		0x48, 0x8d, 0x35, 0x10, 0x00, 0x00, 0x00, // lea rsi, [rip+16] (msg)
		0xba, 0x03, 0x00, 0x00, 0x00, // mov edx, 3
		0x0f, 0x05, // syscall
		0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax, 231 (exit_group)
		0x31, 0xff, // xor edi, edi
		0x0f, 0x05, // syscall
	}
	code = append(code, ProbeOutput...)
	total := uint64(codeOff + len(code))

	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	// ELF header.
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* version */, 0 /* SysV */})
	b.Write(make([]byte, 8))
	w(uint16(2))              // e_type ET_EXEC
	w(uint16(62))             // e_machine EM_X86_64
	w(uint32(1))              // e_version
	w(uint64(base + codeOff)) // e_entry
	w(uint64(ehdrSize))       // e_phoff
	w(uint64(0))              // e_shoff
	w(uint32(0))              // e_flags
	w(uint16(ehdrSize))       // e_ehsize
	w(uint16(phdrSize))       // e_phentsize
	w(uint16(1))              // e_phnum
	w(uint16(0))              // e_shentsize
	w(uint16(0))              // e_shnum
	w(uint16(0))              // e_shstrndx
	// Program header: one PT_LOAD, R+X, the whole file at base.
	w(uint32(1))      // p_type PT_LOAD
	w(uint32(5))      // p_flags PF_R|PF_X
	w(uint64(0))      // p_offset
	w(uint64(base))   // p_vaddr
	w(uint64(base))   // p_paddr
	w(total)          // p_filesz
	w(total)          // p_memsz
	w(uint64(0x1000)) // p_align
	b.Write(code)
	return b.Bytes()
}
