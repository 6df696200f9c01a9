// Package linux holds Linux ABI constants and structures that
// golang.org/x/sys/unix does not provide, as the x86-64 kernel defines them.
// Values come from the Linux UAPI headers and the x86-64 psABI.
package linux

// Memory layout basics for x86-64.
const (
	// PageSize is the size of a page: 4 KiB.
	PageSize = 4096
	// PageShift is log2(PageSize).
	PageShift = 12
	// HugePageSize is the size of a PMD-level transparent huge page.
	HugePageSize = 2 << 20
)

// Auxiliary vector entry types (include/uapi/linux/auxvec.h and the x86
// arch additions).
const (
	AT_NULL          = 0  // end of vector
	AT_IGNORE        = 1  // entry should be ignored
	AT_EXECFD        = 2  // file descriptor of program
	AT_PHDR          = 3  // program headers of the program
	AT_PHENT         = 4  // size of a program header entry
	AT_PHNUM         = 5  // number of program headers
	AT_PAGESZ        = 6  // system page size
	AT_BASE          = 7  // base address of the interpreter
	AT_FLAGS         = 8  // flags
	AT_ENTRY         = 9  // entry point of the program
	AT_NOTELF        = 10 // program is not ELF
	AT_UID           = 11 // real uid
	AT_EUID          = 12 // effective uid
	AT_GID           = 13 // real gid
	AT_EGID          = 14 // effective gid
	AT_PLATFORM      = 15 // string identifying the CPU
	AT_HWCAP         = 16 // machine dependent hints about processor capabilities
	AT_CLKTCK        = 17 // frequency of times()
	AT_SECURE        = 23 // secure mode boolean
	AT_BASE_PLATFORM = 24 // string identifying the real platform
	AT_RANDOM        = 25 // address of 16 random bytes
	AT_HWCAP2        = 26 // extension of AT_HWCAP
	AT_EXECFN        = 31 // filename of the program
	AT_SYSINFO_EHDR  = 33 // address of the vDSO's ELF header
	AT_MINSIGSTKSZ   = 51 // minimal stack size for signal delivery
)

// Signal codes for SIGSEGV and SIGBUS (include/uapi/asm-generic/siginfo.h).
const (
	// SEGV_MAPERR: address not mapped to an object.
	SEGV_MAPERR = 1
	// SEGV_ACCERR: invalid permissions for a mapped object.
	SEGV_ACCERR = 2
	// BUS_ADRALN: invalid address alignment.
	BUS_ADRALN = 1
	// BUS_ADRERR: nonexistent physical address (access beyond a mapped
	// file's end).
	BUS_ADRERR = 2
)

// Limits related to memory management and exec.
const (
	// DefaultMaxMapCount is the default of vm.max_map_count: the number of
	// VMAs an address space may hold.
	DefaultMaxMapCount = 65530
	// DefaultMMapMinAddr is the default of vm.mmap_min_addr.
	DefaultMMapMinAddr = 0x10000
	// DefaultStackSize is the default RLIMIT_STACK soft limit: 8 MiB.
	DefaultStackSize = 8 << 20
	// ELFETDynBase is where x86-64 Linux places a position-independent
	// executable when address space randomisation is off: two thirds of
	// the 47-bit user address space, page aligned.
	ELFETDynBase = 0x555555554000
	// BinprmBufSize is the number of bytes of an executable the kernel
	// examines to recognise its format (and the longest "#!" line it reads).
	BinprmBufSize = 256
	// MaxExecRecursion bounds how many interpreters (#! scripts) execve
	// follows before giving up with ELOOP.
	MaxExecRecursion = 4
	// MINSIGSTKSZ is the minimum signal stack size x86-64 user space
	// assumes (AT_MINSIGSTKSZ may report more on machines with large
	// extended state).
	MINSIGSTKSZ = 2048
	// CLK_TCK is the clock tick rate reported by AT_CLKTCK and used by
	// times(2).
	CLK_TCK = 100
)
