//go:build linux

package ptrace

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform/internal/asm"
	"golang.org/x/sys/unix"
)

// The stub region is a small mapping the platform makes once in the Sentry,
// at a fixed address above MaxUserAddress. Stub processes are forked from
// the Sentry, so they inherit it (and, briefly, everything else: the stub
// program unmaps all of it except this region). Layout:
//
//	page 0              code (r-x): the stub program, the park loop, the
//	                    remote syscall and clone trampolines, the fault
//	                    probe handler
//	page 1              data (rw-): sigactions, sigsets, the rseq record
//	pages 2..2+T        the slot table: one stack_t per thread slot
//	then maxSlots slots one per stub thread: its alternate signal stack,
//	                    whose lowest 16 bytes receive the fault probe's
//	                    results, and (briefly) the stack clone starts it on
//
// Slot 0 belongs to the stub's main thread (the leader), which never runs
// application code; slots 1.. are handed to the threads cloned for tracer
// threads and reused once those exit. The region is written before the
// first stub is forked and never again, so every stub sees the same table.
// Untouched slot pages cost nothing: they are anonymous memory in both the
// Sentry and the stub.

const (
	pageSize = 4096

	// stubSearchStart is where the stub region probe starts.
	stubSearchStart = 0x7f0000000000
	// stubSearchEnd bounds the probe.
	stubSearchEnd = 0x7ff000000000
	// taskSize is the end of the 47-bit user address space on x86-64
	// (TASK_SIZE_MAX with 4-level paging).
	taskSize = 0x7ffffffff000

	// maxSlots bounds the threads of one stub (one per tracer thread,
	// plus the leader).
	maxSlots = 1024
	// slotSize is one slot: an alternate signal stack comfortably larger
	// than the largest x86-64 signal frame (an AVX-512 XSAVE area is
	// 2.7 KiB).
	slotSize      = 4 * pageSize
	stackTSize    = 24
	slotTableOff  = 2 * pageSize
	slotTablePgs  = (maxSlots*stackTSize + pageSize - 1) / pageSize
	slotsOff      = slotTableOff + slotTablePgs*pageSize
	stubSize      = slotsOff + maxSlots*slotSize
	probeErrOff   = 0 // sigcontext.err of a thread's last probed fault
	probeTrapOff  = 8 // its sigcontext.trapno
	cloneStackOff = slotSize - 128

	// Offsets in the data page.
	dataDflAction   = 0   // struct kernel_sigaction, all zero: SIG_DFL
	dataFaultAction = 32  // struct kernel_sigaction for SIGSEGV/SIGBUS
	dataEmptySet    = 64  // sigset_t, all zero
	dataRseqPtr     = 144 // rseq area inherited from the factory thread, or 0
	dataRseqLen     = 152 // its length
	dataRseqSig     = 160 // its signature

	// Offsets in struct ucontext (x86-64): uc_stack (a stack_t) is at 16;
	// uc_mcontext starts at 40 and is a struct sigcontext: r8..r15, rdi,
	// rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags, cs/gs/fs/ss, err,
	// trapno, ...
	ucStackSP = 16
	ucRip     = 40 + 16*8
	ucErr     = 40 + 19*8
	ucTrapno  = 40 + 20*8

	saSiginfo  = 0x4
	saOnstack  = 0x08000000
	saRestorer = 0x04000000

	sysCloseRange  = 436
	prSetPdeathsig = 1
)

// stubRegion describes the stub region of this process.
type stubRegion struct {
	start uintptr
	// Absolute addresses of entry points in the code page.
	entry      uintptr // the stub program (jumped to by a forked child)
	trampoline uintptr // "syscall; int3": remote system calls
	faultTrap  uintptr // "int3": where a probed fault's sigreturn lands
	probe      uintptr // "stop, then exit": the rseq probe child
	// cloneTramp is "syscall; test rax, rax; jz child; int3": a remote
	// clone whose child (rbx = its slot's stack_t) sets its alternate
	// signal stack and parks. The parent stops at cloneTrap.
	cloneTramp uintptr
	cloneTrap  uintptr
	// forkTramp is "syscall; test rax, rax; jz exit; int3": the remote
	// fork of a new stub in the template stub (see spawnStub). The
	// template stops at forkTrap; the child, traced from birth
	// (CLONE_PTRACE), is stopped before it runs an instruction, and exits
	// if its tracer ever lets it run from there.
	forkTramp uintptr
	forkTrap  uintptr
	// newborn is run once in a freshly forked stub: prctl(PR_SET_PDEATHSIG,
	// SIGKILL), then the clone of its first thread (slot 1, parked like
	// every cloned thread), then int3, stopping at newbornTrap with the
	// thread's tid in rax.
	newborn     uintptr
	newbornTrap uintptr
	// [park, parkEnd) is the idle loop "for { pause() }" the leader and
	// new threads wait in until traced; a thread seen there has its
	// alternate signal stack set.
	park    uintptr
	parkEnd uintptr
}

// slotStackT is the address of slot i's stack_t in the slot table.
func (s *stubRegion) slotStackT(i int) uintptr {
	return s.start + slotTableOff + uintptr(i)*stackTSize
}

// slotBase is the lowest address of slot i (its alternate stack).
func (s *stubRegion) slotBase(i int) uintptr {
	return s.start + slotsOff + uintptr(i)*slotSize
}

// setRseq records the rseq registration stubs inherit, for the stub
// program to unregister. Called by the factory before it forks any stub.
func (s *stubRegion) setRseq(c rseqConfig) {
	data := unsafe.Slice((*byte)(unsafe.Add(nil, s.start+pageSize)), pageSize)
	binary.LittleEndian.PutUint64(data[dataRseqPtr:], c.Pointer)
	binary.LittleEndian.PutUint64(data[dataRseqLen:], uint64(c.Size))
	binary.LittleEndian.PutUint64(data[dataRseqSig:], uint64(c.Signature))
}

var (
	stubOnce sync.Once
	stub     stubRegion
	stubErr  error
)

// setupStubRegion maps and fills the stub region, once per process.
func setupStubRegion() (*stubRegion, error) {
	stubOnce.Do(func() { stubErr = stub.init() })
	return &stub, stubErr
}

func (s *stubRegion) init() error {
	var base unsafe.Pointer
	for a := uintptr(stubSearchStart); a < stubSearchEnd; a += 1 << 30 {
		p, err := unix.MmapPtr(-1, 0, unsafe.Add(nil, a), stubSize, unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE)
		if err == nil && uintptr(p) == a {
			base = p
			break
		}
		if err == nil {
			// Old kernels treat MAP_FIXED_NOREPLACE as a hint.
			unix.MunmapPtr(p, stubSize)
		}
	}
	if base == nil {
		return fmt.Errorf("ptrace: no free address for the stub region in [%#x, %#x)", stubSearchStart, stubSearchEnd)
	}
	addr := uintptr(base)
	s.start = addr
	code := unsafe.Slice((*byte)(base), pageSize)
	data := unsafe.Slice((*byte)(unsafe.Add(base, pageSize)), pageSize)

	prog, labels := stubProgram(addr, uint64(os.Getpid()))
	if len(prog) > pageSize {
		return fmt.Errorf("ptrace: stub program too large (%d bytes)", len(prog))
	}
	for i := range code {
		code[i] = 0xcc // int3 padding
	}
	copy(code, prog)
	s.entry = addr + uintptr(labels["entry"])
	s.trampoline = addr + uintptr(labels["trampoline"])
	s.faultTrap = addr + uintptr(labels["faultTrap"])
	s.probe = addr + uintptr(labels["probe"])
	s.cloneTramp = addr + uintptr(labels["cloneTramp"])
	s.cloneTrap = addr + uintptr(labels["cloneTrap"])
	s.park = addr + uintptr(labels["park"])
	s.forkTramp = addr + uintptr(labels["forkTramp"])
	s.forkTrap = addr + uintptr(labels["forkTrap"])
	s.newborn = addr + uintptr(labels["newborn"])
	s.newbornTrap = addr + uintptr(labels["newbornTrap"])
	s.parkEnd = addr + uintptr(labels["parkEnd"])

	le := binary.LittleEndian
	// SIGSEGV/SIGBUS action: run the probe handler on the alternate stack
	// with every signal blocked.
	le.PutUint64(data[dataFaultAction:], uint64(addr)+uint64(labels["faultHandler"]))
	le.PutUint64(data[dataFaultAction+8:], saSiginfo|saOnstack|saRestorer)
	le.PutUint64(data[dataFaultAction+16:], uint64(addr)+uint64(labels["restorer"]))
	le.PutUint64(data[dataFaultAction+24:], ^uint64(0))
	// The slot table: stack_t{ss_sp, ss_flags, ss_size} per slot.
	table := unsafe.Slice((*byte)(unsafe.Add(base, slotTableOff)), slotTablePgs*pageSize)
	for i := 0; i < maxSlots; i++ {
		le.PutUint64(table[i*stackTSize:], uint64(s.slotBase(i)))
		le.PutUint64(table[i*stackTSize+16:], slotSize)
	}

	if err := unix.Mprotect(code, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		return fmt.Errorf("ptrace: mprotect stub code: %w", err)
	}
	return nil
}

// stubProgram assembles the stub code for a region at base, in a process
// whose pid is sentryPID. It returns the code and its label offsets.
//
// A forked child starts at "entry" with every signal blocked and the memory
// file descriptor in r13 (see forkAt).
func stubProgram(base uintptr, sentryPID uint64) ([]byte, map[string]int) {
	data := uint64(base) + pageSize
	a := asm.New()

	a.Label("entry")
	a.DieWithParent(sentryPID, "exit")
	a.ResetSignals(data + dataDflAction)

	// SIGSEGV and SIGBUS run the fault probe handler (see faultHandler).
	for _, sig := range []unix.Signal{unix.SIGSEGV, unix.SIGBUS} {
		a.SyscallImm(unix.SYS_RT_SIGACTION, uint64(sig), data+dataFaultAction, 0, 8)
	}
	// sigaltstack(&slot[0], NULL)
	a.SyscallImm(unix.SYS_SIGALTSTACK, uint64(base)+slotTableOff, 0)
	// rt_sigprocmask(SIG_SETMASK, &empty, NULL, 8): unblock everything.
	a.SyscallImm(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, data+dataEmptySet, 0, 8)

	// rseq(ptr, len, RSEQ_FLAG_UNREGISTER, sig) if the factory thread had
	// an rseq area registered (see probeRseq): it is about to be unmapped.
	a.MovImm(asm.RCX, data+dataRseqPtr)
	a.Load(asm.RDI, asm.RCX, 0)
	a.TestReg(asm.RDI)
	a.Jcc(asm.CondE, "norseq")
	a.Load(asm.RSI, asm.RCX, dataRseqLen-dataRseqPtr)
	a.Load(asm.R10, asm.RCX, dataRseqSig-dataRseqPtr)
	a.MovImm(asm.RDX, 1)
	a.MovImm(asm.RAX, unix.SYS_RSEQ)
	a.Syscall()
	a.Label("norseq")

	// Only the memory file (r13) stays open; the copy of the Sentry's
	// memory goes.
	a.CloseAllBut(asm.R13, asm.R13)
	a.UnmapAllBut(uint64(base), stubSize, taskSize)

	// kill(getpid(), SIGSTOP): tell the factory we are ready (forkAt
	// waits for the stop, then sends SIGCONT), then park for good. The
	// leader is only ever seized briefly, to clone threads from it (see
	// AddressSpace.cloneThread); it never stops its group again.
	a.MovImm(asm.RAX, unix.SYS_GETPID)
	a.Syscall()
	a.MovReg(asm.RDI, asm.RAX)
	a.MovImm(asm.RSI, uint64(unix.SIGSTOP))
	a.MovImm(asm.RAX, unix.SYS_KILL)
	a.Syscall()
	a.Jmp("park")

	// A cloned thread starts here with rbx = its slot's stack_t:
	// sigaltstack(rbx, NULL), then park.
	a.Label("cloneChild")
	a.MovImm(asm.RAX, unix.SYS_SIGALTSTACK)
	a.MovReg(asm.RDI, asm.RBX)
	a.MovImm(asm.RSI, 0)
	a.Syscall()
	// for { pause() }: blocked until a tracer seizes and interrupts us.
	a.Label("park")
	a.MovImm(asm.RAX, unix.SYS_PAUSE)
	a.Syscall()
	a.Jmp("park")
	a.Label("parkEnd")

	// Remote clone (AddressSpace.cloneThread): the parent traps at
	// cloneTrap with the child's tid in rax; the child (rax = 0) goes to
	// cloneChild on the stack the tracer passed.
	a.Label("cloneTramp")
	a.Syscall()
	a.TestReg(asm.RAX)
	a.Jcc(asm.CondE, "cloneChild")
	a.Int3()
	a.Label("cloneTrap")

	// Remote fork in the template stub (spawnStub): the template traps at
	// forkTrap with the child's pid in rax. The child (rax = 0) is traced
	// from birth and never runs this far unless its tracer died before
	// pointing it at newborn: it exits.
	a.Label("forkTramp")
	a.Syscall()
	a.TestReg(asm.RAX)
	a.Jcc(asm.CondE, "exit")
	a.Int3()
	a.Label("forkTrap")

	// A new stub's first steps (spawnStub), run by its tracer: die with
	// the stub factory thread, clone the first thread in slot 1, and trap
	// with its tid in rax.
	a.Label("newborn")
	a.MovImm(asm.RAX, unix.SYS_PRCTL)
	a.MovImm(asm.RDI, prSetPdeathsig)
	a.MovImm(asm.RSI, uint64(unix.SIGKILL))
	a.Syscall()
	a.MovImm(asm.RAX, unix.SYS_CLONE)
	a.MovImm(asm.RDI, cloneFlags)
	a.MovImm(asm.RSI, uint64(base)+slotsOff+1*slotSize+cloneStackOff)
	a.MovImm(asm.RDX, 0)
	a.MovImm(asm.R10, 0)
	a.MovImm(asm.R8, 0)
	a.MovImm(asm.RBX, uint64(base)+slotTableOff+1*stackTSize)
	a.Syscall()
	a.TestReg(asm.RAX)
	a.Jcc(asm.CondE, "cloneChild")
	a.Int3()
	a.Label("newbornTrap")

	// The rseq probe child (probeRseq): stop, then exit when killed or
	// resumed.
	a.Label("probe")
	a.MovImm(asm.RAX, unix.SYS_GETPID)
	a.Syscall()
	a.MovReg(asm.RDI, asm.RAX)
	a.MovImm(asm.RSI, uint64(unix.SIGSTOP))
	a.MovImm(asm.RAX, unix.SYS_KILL)
	a.Syscall()

	a.Label("exit")
	a.MovImm(asm.RAX, unix.SYS_EXIT_GROUP)
	a.MovImm(asm.RDI, 1)
	a.Syscall()
	a.Int3()

	// Remote system calls: the tracer sets rip here and rax/args, resumes
	// with PTRACE_CONT and waits for the SIGTRAP of the int3.
	a.Label("trampoline")
	a.Syscall()
	a.Int3()

	// The fault probe: SIGSEGV/SIGBUS handler (rdx = ucontext). It records
	// the hardware error code and trap number from the signal frame at the
	// bottom of the thread's own alternate stack (uc_stack.ss_sp: each
	// thread has its slot, so concurrent faults do not race), points the
	// frame's rip at faultTrap and returns through the restorer
	// (rt_sigreturn), which restores every register and the FP state and
	// stops at faultTrap's int3.
	a.Label("faultHandler")
	a.Load(asm.RCX, asm.RDX, ucStackSP)
	a.Load(asm.RAX, asm.RDX, ucErr)
	a.Store(asm.RCX, probeErrOff, asm.RAX)
	a.Load(asm.RAX, asm.RDX, ucTrapno)
	a.Store(asm.RCX, probeTrapOff, asm.RAX)
	a.MovImm(asm.RAX, 0) // patched below: address of faultTrap
	patch := a.Len() - 8
	a.Store(asm.RDX, ucRip, asm.RAX)
	a.Ret()

	a.Label("restorer")
	a.MovImm(asm.RAX, unix.SYS_RT_SIGRETURN)
	a.Syscall()
	a.Int3()

	a.Label("faultTrap")
	a.Int3()
	a.Int3()

	code := a.Finish()
	binary.LittleEndian.PutUint64(code[patch:], uint64(base)+uint64(a.Labels["faultTrap"]))
	return code, a.Labels
}
