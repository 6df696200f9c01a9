//go:build linux && amd64

package systrap

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform/internal/asm"
	"golang.org/x/sys/unix"
)

// The stub region is a mapping the platform makes once in the Sentry, at a
// fixed address above MaxUserAddress. Stub processes are forked from the
// Sentry, so they inherit it (and, briefly, everything else: the stub
// program unmaps all of it except this region). Layout:
//
//	page 0        code (r-x): the stub program, the mapper loop, the
//	              thread start, the signal handler. The first codeStart
//	              bytes are int3 padding (see stubFilter).
//	page 1        data (r--): sigactions, sigsets, the two seccomp
//	              programs. Written before the first fork, read-only
//	              after.
//	page 2        the request page (r--): MAP_SHARED from page 0 of the
//	              address space's context file (a memfd the Sentry maps
//	              too, writable): the mapper's requests
//	page 3        the template's scratch page (rw-, private): its recvmsg
//	              header and buffers (see "template" in stubProgram)
//	ctxArea..     maxThreads slots of slotSize bytes (rw-), MAP_SHARED from
//	              the rest of the context file: slot i belongs to
//	              application thread i
//
// A slot is the thread's context page (ctx*, below), then its alternate
// signal stack. The handlers run on that stack, so the signal frame (the
// ucontext with every register, and the XSAVE area) lies in memory the
// Sentry sees: the Sentry reads and writes the application's registers in
// the frame itself and the handler returns to them with rt_sigreturn. The
// handler finds its context page from uc_stack.ss_sp (the alternate stack
// base, which is the context page's end).
//
// Everything in the slots is writable by the application and is input the
// Sentry validates; nothing the stub reads from there lets it do more than
// the application thread's own seccomp filter allows (see the package
// documentation).
const (
	pageSize = 4096

	stubSearchStart = 0x7e0000000000
	stubSearchEnd   = 0x7ef000000000
	taskSize        = 0x7ffffffff000

	// codeStart is where the stub code starts in the code page: a system
	// call instruction at the very end of the application's last page
	// has its return address at the code page's first byte, which the
	// filter must not take for the stub's.
	codeStart = 16

	// maxThreads bounds the application threads of one stub.
	maxThreads = 512
	// slotSize is one thread's context page plus its alternate signal
	// stack, comfortably larger than the largest x86-64 signal frame
	// (an AVX-512 XSAVE area is 2.7 KiB).
	slotSize   = 8 * pageSize
	ctxSize    = pageSize
	reqPageOff = 2 * pageSize
	scratchOff = 3 * pageSize
	ctxAreaOff = 16 * pageSize
	ctxAreaLen = maxThreads * slotSize
	stubSize   = ctxAreaOff + ctxAreaLen
	// ctxFileSize is the context file: the request page, then the slots.
	ctxFileSize = pageSize + ctxAreaLen

	// Offsets in a context page. The first words are futex words.
	ctxState          = 0  // u32: see the state* constants
	ctxStubSleeping   = 4  // u32: the stub thread waits in FUTEX_WAIT
	ctxSentrySleeping = 8  // u32: the Sentry thread waits in FUTEX_WAIT
	ctxTid            = 12 // u32: CLONE_CHILD_SETTID/CLEARTID word
	ctxStubSpin       = 16 // u64: PAUSE iterations the stub spins before it sleeps; 0 stops a spin
	ctxUcontext       = 24 // u64: stub address of the last signal's ucontext
	ctxSiginfo        = 32 // u64: ... and of its siginfo
	ctxSigno          = 40 // u64: ... and its number
	ctxFSBase         = 48 // u64: fs base the application wants
	ctxCurFS          = 56 // u64: fs base the thread has
	ctxEnd            = 64

	// Offsets in the request page.
	reqSeq    = 0  // u32: bumped by the Sentry for each request (futex word)
	reqCount  = 4  // u32: number of operations
	reqStackT = 16 // stack_t: a clone operation's child's alternate stack
	reqOps    = 64 // maxReqOps operations of reqOpSize bytes: nr, 6 args
	reqOpSize = 7 * 8
	maxReqOps = (pageSize - reqOps) / reqOpSize

	// Offsets in the template's scratch page: a struct msghdr whose iovec
	// and control buffer follow, and the reply.
	scrMsghdr     = 0   // struct msghdr
	scrIovec      = 64  // struct iovec: one byte of payload
	scrPayload    = 80  // the payload byte
	scrControl    = 96  // cmsghdr + two descriptors (CMSG_SPACE(8) = 24)
	scrControlLen = 32  // the control buffer's size
	scrReply      = 128 // u64: the new stub's pid, or -errno
	cmsgRights    = 24  // CMSG_LEN(8): one cmsghdr with two descriptors

	// Offsets in the data page.
	dataHandlerAction = 0   // struct kernel_sigaction: the stub handler
	dataEmptySet      = 32  // sigset_t, all zero
	dataDflAction     = 64  // struct kernel_sigaction, all zero: SIG_DFL
	dataBaseFprog     = 128 // struct sock_fprog: the stub's filter
	dataAppFprog      = 144 // struct sock_fprog: application threads' filter
	dataFilters       = 256 // the two struct sock_filter arrays

	// Offsets in struct ucontext (x86-64): uc_stack (a stack_t) at 16;
	// uc_mcontext at 40, a struct sigcontext: r8..r15, rdi, rsi, rbp, rbx,
	// rdx, rax, rcx, rsp, rip, eflags, cs/gs/fs/ss, err, trapno, oldmask,
	// cr2, fpstate.
	ucStackSP  = 16
	ucMcontext = 40
	mcCsgsfs   = 18 * 8
	mcErr      = 19 * 8
	mcTrapno   = 20 * 8
	mcCR2      = 22 * 8
	mcFpstate  = 23 * 8
	ucSize     = 40 + 256 + 8 // through uc_sigmask

	saSiginfo  = 0x4
	saOnstack  = 0x08000000
	saRestorer = 0x04000000

	sysCloseRange     = 436
	sysSeccomp        = 317
	prSetNoNewPrivs   = 38
	seccompModeFilter = 1
	archSetFS         = 0x1002
)

// Thread states, the value of a context page's state word. The stub thread
// writes stateEvent; the Sentry writes the others.
const (
	// stateNone: a fresh slot.
	stateNone = 0
	// stateEvent: the stub thread waits in its handler; the page
	// describes a signal (ctxSigno...).
	stateEvent = 1
	// stateRun: return to the application with the frame's registers.
	stateRun = 2
	// stateExit: the thread exits (exit(0), that thread only).
	stateExit = 3
)

// handledSignals are the signals the stub handler reports to the Sentry.
var handledSignals = []unix.Signal{unix.SIGSYS, unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE,
	unix.SIGILL, unix.SIGTRAP, interruptSignal}

// stubRegion describes the stub region of this process.
type stubRegion struct {
	start uintptr
	// entry is the stub program (jumped to by a forked child).
	entry uintptr
	// template is the template's program (see stubProgram).
	template uintptr
	// [code, codeEnd) is the code the seccomp filters let make system
	// calls.
	code, codeEnd uintptr
}

// ctxArea is the stub address of slot 0.
func (s *stubRegion) ctxArea() uintptr { return s.start + ctxAreaOff }

// contains reports whether addr lies in the stub region.
func (s *stubRegion) contains(addr uintptr) bool {
	return addr >= s.start && addr < s.start+stubSize
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
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE|unix.MAP_NORESERVE)
		if err == nil && uintptr(p) == a {
			base = p
			break
		}
		if err == nil {
			unix.MunmapPtr(p, stubSize)
		}
	}
	if base == nil {
		return fmt.Errorf("systrap: no free address for the stub region in [%#x, %#x)", stubSearchStart, stubSearchEnd)
	}
	addr := uintptr(base)
	s.start = addr
	code := unsafe.Slice((*byte)(base), pageSize)
	data := unsafe.Slice((*byte)(unsafe.Add(base, pageSize)), pageSize)

	prog, labels := stubProgram(addr, uint64(os.Getpid()))
	if len(prog) > pageSize {
		return fmt.Errorf("systrap: stub program too large (%d bytes)", len(prog))
	}
	copy(code, prog)
	for i := len(prog); i < len(code); i++ {
		code[i] = 0xcc // int3 padding
	}
	s.entry = addr + uintptr(labels["entry"])
	s.template = addr + uintptr(labels["template"])
	s.code = addr + codeStart
	s.codeEnd = addr + pageSize

	le := binary.LittleEndian
	// The handler runs on the alternate stack with every signal blocked.
	le.PutUint64(data[dataHandlerAction:], uint64(addr)+uint64(labels["handler"]))
	le.PutUint64(data[dataHandlerAction+8:], saSiginfo|saOnstack|saRestorer)
	le.PutUint64(data[dataHandlerAction+16:], uint64(addr)+uint64(labels["restorer"]))
	le.PutUint64(data[dataHandlerAction+24:], ^uint64(0))

	off := dataFilters
	for _, f := range []struct {
		fprog int
		prog  []sockFilter
	}{
		{dataBaseFprog, baseFilter(s.code, s.codeEnd)},
		{dataAppFprog, appFilter(s.code, s.codeEnd)},
	} {
		if off+len(f.prog)*8 > pageSize {
			return fmt.Errorf("systrap: seccomp programs too large")
		}
		le.PutUint16(data[f.fprog:], uint16(len(f.prog)))
		le.PutUint64(data[f.fprog+8:], uint64(addr)+pageSize+uint64(off))
		for _, ins := range f.prog {
			le.PutUint16(data[off:], ins.code)
			data[off+2] = ins.jt
			data[off+3] = ins.jf
			le.PutUint32(data[off+4:], ins.k)
			off += 8
		}
	}

	// The template's recvmsg header: msg_iov, msg_iovlen, msg_control;
	// the template sets msg_controllen before each call.
	scratch := unsafe.Slice((*byte)(unsafe.Add(base, scratchOff)), pageSize)
	le.PutUint64(scratch[scrMsghdr+16:], uint64(addr)+scratchOff+scrIovec)
	le.PutUint64(scratch[scrMsghdr+24:], 1)
	le.PutUint64(scratch[scrMsghdr+32:], uint64(addr)+scratchOff+scrControl)
	le.PutUint64(scratch[scrIovec:], uint64(addr)+scratchOff+scrPayload)
	le.PutUint64(scratch[scrIovec+8:], 1)

	if err := unix.Mprotect(code, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		return fmt.Errorf("systrap: mprotect stub code: %w", err)
	}
	if err := unix.Mprotect(data, unix.PROT_READ); err != nil {
		return fmt.Errorf("systrap: mprotect stub data: %w", err)
	}
	return nil
}

// Registers of the stub program. The mapper (the stub's main thread) keeps
// its state in registers only: it has no stack and no memory the
// application could write.
const (
	rLastSeq = asm.R12 // mapper: the last request served
	rPipe    = asm.RBP // mapper: the channel's descriptor
	rOps     = asm.RBX // mapper: the next operation
	rCount   = asm.R14 // mapper: operations left
	rReq     = asm.R15 // mapper: the request page
	rCtx     = asm.R15 // handler: the thread's context page
)

// stubProgram assembles the stub code for a region at base, in a process
// whose pid is sentryPID. It returns the code and its label offsets.
//
// A forked child starts at "entry" with every signal blocked, the
// channel's stub end in r12, the memory file in r13 and the
// context file in r14 (see forkFromFactory).
func stubProgram(base uintptr, sentryPID uint64) ([]byte, map[string]int) {
	data := uint64(base) + pageSize
	reqPage := uint64(base) + reqPageOff
	ctxArea := uint64(base) + ctxAreaOff
	a := asm.New()
	for a.Len() < codeStart {
		a.Int3()
	}

	a.Label("entry")
	a.DieWithParent(sentryPID, "exit")
	a.ResetSignals(data + dataDflAction)
	a.Label("handlers")
	for _, sig := range handledSignals {
		a.SyscallImm(unix.SYS_RT_SIGACTION, uint64(sig), data+dataHandlerAction, 0, 8)
	}

	// mmap(reqPage, pageSize, PROT_READ, MAP_SHARED|MAP_FIXED, r14, 0) and
	// mmap(ctxArea, ctxAreaLen, RW, MAP_SHARED|MAP_FIXED, r14, pageSize).
	for _, m := range []struct{ addr, length, prot, off uint64 }{
		{reqPage, pageSize, unix.PROT_READ, 0},
		{ctxArea, ctxAreaLen, unix.PROT_READ | unix.PROT_WRITE, pageSize},
	} {
		a.MovReg(asm.R8, asm.R14)
		a.MovImm(asm.RAX, unix.SYS_MMAP)
		a.MovImm(asm.RDI, m.addr)
		a.MovImm(asm.RSI, m.length)
		a.MovImm(asm.RDX, m.prot)
		a.MovImm(asm.R10, unix.MAP_SHARED|unix.MAP_FIXED)
		a.MovImm(asm.R9, m.off)
		a.Syscall()
		a.MovImm(asm.RDI, m.addr)
		a.CmpReg(asm.RAX, asm.RDI)
		a.Jcc(asm.CondNE, "exit")
	}

	// The channel moves to r13+1.
	moveAfterMemoryFile(a, asm.R12, "closefds")

	// Only the memory file (r13) and the channel (r13+1) stay open; the copy
	// of the Sentry's memory goes.
	a.Label("closefds")
	a.CloseAllBut(asm.R13, rPipe)
	a.UnmapAllBut(uint64(base), stubSize, taskSize)

	// prctl(PR_SET_NO_NEW_PRIVS, 1); seccomp(SECCOMP_SET_MODE_FILTER, 0,
	// &baseFprog). Every thread cloned later inherits the filter.
	a.SyscallImm(unix.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0)
	a.SyscallImm(sysSeccomp, seccompModeFilter, 0, data+dataBaseFprog)
	a.TestReg(asm.RAX)
	a.Jcc(asm.CondNE, "exit")

	// The mapper: the main thread serves the Sentry's requests for good,
	// with every signal blocked. Each request is a list of operations
	// (system calls) in the request page, run in order up to the first
	// that fails; its completion is one packet on the channel, whose length
	// says how it went: 1 byte for success, 1+errno bytes for a failure.
	// The bytes are the code page's (read-only): the length is the one
	// thing the application cannot forge, as the channel is in no other
	// thread's descriptor table and nothing the mapper reads is
	// writable by the application. Its first packet says it is ready.
	a.MovImm(rReq, reqPage)
	a.MovImm(rLastSeq, 0)
	a.MovImm(asm.RAX, 0)
	a.Jmp("complete")

	a.Label("mapperWait")
	a.Load32(asm.RAX, rReq, reqSeq)
	a.CmpReg32(asm.RAX, rLastSeq)
	a.Jcc(asm.CondNE, "serve")
	// futex(&req.seq, FUTEX_WAIT, last, NULL)
	a.MovImm(asm.RAX, unix.SYS_FUTEX)
	a.MovReg(asm.RDI, rReq)
	a.MovImm(asm.RSI, futexWait)
	a.MovReg(asm.RDX, rLastSeq)
	a.MovImm(asm.R10, 0)
	a.Syscall()
	a.Jmp("mapperWait")

	a.Label("serve")
	a.MovReg(rLastSeq, asm.RAX)
	a.Load32(rCount, rReq, reqCount)
	a.MovReg(rOps, rReq)
	a.AddImm(rOps, reqOps)
	a.MovImm(asm.RAX, 0)
	a.Label("nextOp")
	a.TestReg(rCount)
	a.Jcc(asm.CondE, "complete")
	a.Load(asm.RAX, rOps, 0)
	for i, r := range []int{asm.RDI, asm.RSI, asm.RDX, asm.R10, asm.R8, asm.R9} {
		a.Load(r, rOps, int32(8+8*i))
	}
	// A recvmsg (of a host file, MapHostFile) gets a full control
	// buffer: msg_controllen is what the last receive left there.
	a.MovImm(asm.RCX, unix.SYS_RECVMSG)
	a.CmpReg(asm.RAX, asm.RCX)
	a.Jcc(asm.CondNE, "notRecvmsg")
	a.MovImm(asm.RCX, scrControlLen)
	a.Store(asm.RSI, 40, asm.RCX)
	a.Label("notRecvmsg")
	a.MovImm(asm.RCX, unix.SYS_CLONE)
	a.CmpReg(asm.RAX, asm.RCX)
	a.Jcc(asm.CondE, "cloneOp")
	a.Syscall()
	a.Label("opDone")
	// An error is a return value in [-4095, -1]: stop there.
	a.MovImm(asm.RCX, ^uint64(4094)) // -4095
	a.CmpReg(asm.RAX, asm.RCX)
	a.Jcc(asm.CondAE, "complete")
	a.AddImm(rOps, reqOpSize)
	a.Dec(rCount)
	a.Jmp("nextOp")
	a.Label("cloneOp")
	a.Syscall()
	a.TestReg(asm.RAX)
	a.Jcc(asm.CondE, "threadStart")
	a.Jmp("opDone")

	// complete: write(channel, code, 1 + errno), where rax is the last
	// result (0 or positive for success, -errno).
	a.Label("complete")
	a.MovImm(asm.RDX, 1)
	a.MovImm(asm.RCX, ^uint64(4094))
	a.CmpReg(asm.RAX, asm.RCX)
	a.Jcc(asm.CondAE, "failed")
	a.Jmp("write")
	a.Label("failed")
	a.MovReg(asm.RDX, asm.RAX)
	a.Neg(asm.RDX)
	a.Inc(asm.RDX)
	a.Label("write")
	a.MovImm(asm.RAX, unix.SYS_WRITE)
	a.MovReg(asm.RDI, rPipe)
	a.MovImm(asm.RSI, uint64(base))
	a.Syscall()
	a.Jmp("mapperWait")

	// An application thread starts here, cloned by the mapper (without
	// CLONE_FILES: its descriptor table is its own copy), with every
	// signal blocked: sigaltstack(&req.stackT, NULL); close every
	// descriptor; unblock every signal; install the application filter,
	// after which the thread can make no system call from the stub code
	// but those the handler needs; int3, whose SIGTRAP the handler
	// reports as the thread's first event. The handler never returns
	// here: the Sentry replaces the frame's registers before it lets the
	// thread run. Only read-only memory is read on the way.
	a.Label("threadStart")
	a.SyscallImm(unix.SYS_SIGALTSTACK, reqPage+reqStackT, 0)
	a.SyscallImm(sysCloseRange, 0, 0xffffffff, 0)
	a.SyscallImm(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, data+dataEmptySet, 0, 8)
	a.SyscallImm(sysSeccomp, seccompModeFilter, 0, data+dataAppFprog)
	a.TestReg(asm.RAX)
	a.Jcc(asm.CondNE, "exit")
	a.Int3()
	a.Jmp("exitThread")

	// The template: forked once from the Sentry, with the memory file in
	// r13 and a SOCK_SEQPACKET socket in r14, it forks every other stub,
	// so that the Sentry, whose page tables a fork copies and whose
	// private pages it makes copy-on-write, is forked only once. It keeps
	// the memory file and the socket (moved to r13+1), sheds the rest as
	// a stub does, and serves forever: recvmsg brings an address space's
	// context file and completion pipe (SCM_RIGHTS); clone(CLONE_PARENT |
	// SIGCHLD) makes a child of the Sentry that starts at entry with
	// r12 = pipe, r13 = memory file, r14 = context file, as if the Sentry
	// had forked it; the template closes its copies and answers the
	// child's pid (or -errno). No application code ever runs in it.
	a.Label("template")
	scratch := uint64(base) + scratchOff
	a.DieWithParent(sentryPID, "exit")
	a.ResetSignals(data + dataDflAction)
	moveAfterMemoryFile(a, asm.R14, "templateFDs")
	a.Label("templateFDs")
	a.CloseAllBut(asm.R13, rPipe)
	a.UnmapAllBut(uint64(base), stubSize, taskSize)
	a.MovImm(asm.R15, scratch)
	a.Label("templateLoop")
	a.MovImm(asm.RAX, scrControlLen)
	a.Store(asm.R15, scrMsghdr+40, asm.RAX) // msg_controllen
	a.MovImm(asm.RAX, unix.SYS_RECVMSG)
	a.MovReg(asm.RDI, rPipe)
	a.MovReg(asm.RSI, asm.R15)
	a.MovImm(asm.RDX, 0)
	a.Syscall()
	// Anything but one byte with two descriptors (the Sentry closed its
	// end, or sent garbage) ends the template.
	a.MovImm(asm.RCX, 1)
	a.CmpReg(asm.RAX, asm.RCX)
	a.Jcc(asm.CondNE, "exit")
	a.Load(asm.RAX, asm.R15, scrMsghdr+40)
	a.MovImm(asm.RCX, cmsgRights)
	a.CmpReg(asm.RAX, asm.RCX)
	a.Jcc(asm.CondNE, "exit")
	a.Load32(asm.R14, asm.R15, scrControl+16)
	a.Load32(asm.R12, asm.R15, scrControl+20)
	a.SyscallImm(unix.SYS_CLONE, unix.CLONE_PARENT|uint64(unix.SIGCHLD), 0, 0, 0, 0)
	a.TestReg(asm.RAX)
	a.Jcc(asm.CondE, "templateChild")
	a.Store(asm.R15, scrReply, asm.RAX)
	a.MovImm(asm.RAX, unix.SYS_CLOSE)
	a.MovReg(asm.RDI, asm.R14)
	a.Syscall()
	a.MovImm(asm.RAX, unix.SYS_CLOSE)
	a.MovReg(asm.RDI, asm.R12)
	a.Syscall()
	a.MovImm(asm.RAX, unix.SYS_WRITE)
	a.MovReg(asm.RDI, rPipe)
	a.MovReg(asm.RSI, asm.R15)
	a.AddImm(asm.RSI, scrReply)
	a.MovImm(asm.RDX, 8)
	a.Syscall()
	a.Jmp("templateLoop")

	// A child of the template: as a child of the factory at entry, but
	// its dispositions are the template's, all reset already (sixty-four
	// rt_sigaction calls a stub need not make: they were a third of a
	// new stub's system calls). The death signal is not inherited.
	a.Label("templateChild")
	a.DieWithParent(sentryPID, "exit")
	a.Jmp("handlers")

	a.Label("exit")
	a.SyscallImm(unix.SYS_EXIT_GROUP, 1)
	a.Int3()

	// The signal handler (rdi = signo, rsi = siginfo, rdx = ucontext), on
	// the thread's alternate stack with every signal blocked. It records
	// where the frame is, posts stateEvent and waits for the Sentry.
	a.Label("handler")
	a.Load(rCtx, asm.RDX, ucStackSP)
	a.AddImm(rCtx, -ctxSize)
	a.Store(rCtx, ctxUcontext, asm.RDX)
	a.Store(rCtx, ctxSiginfo, asm.RSI)
	a.Store(rCtx, ctxSigno, asm.RDI)

	// post: state = stateEvent (xchg: a full barrier before the load of
	// sentrySleeping); FUTEX_WAKE the Sentry if it sleeps.
	a.Label("post")
	a.MovImm(asm.RAX, stateEvent)
	a.Xchg32(rCtx, ctxState, asm.RAX)
	a.Load32(asm.RAX, rCtx, ctxSentrySleeping)
	a.TestReg(asm.RAX)
	a.Jcc(asm.CondE, "wait")
	a.MovImm(asm.RAX, unix.SYS_FUTEX)
	a.MovReg(asm.RDI, rCtx)
	a.MovImm(asm.RSI, futexWake)
	a.MovImm(asm.RDX, 1)
	a.Syscall()

	// wait: spin ctx.stubSpin times (fewer if the Sentry zeroes it
	// meanwhile), then sleep, until state != stateEvent.
	a.Label("wait")
	a.Load(asm.RCX, rCtx, ctxStubSpin)
	a.Label("spin")
	a.TestReg(asm.RCX)
	a.Jcc(asm.CondE, "sleep")
	a.Load32(asm.RAX, rCtx, ctxState)
	a.CmpImm32(asm.RAX, stateEvent)
	a.Jcc(asm.CondNE, "dispatch")
	// The Sentry zeroes the budget when the reply will be long in
	// coming (the task sleeps): stop spinning at once.
	a.Load(asm.RDX, rCtx, ctxStubSpin)
	a.TestReg(asm.RDX)
	a.Jcc(asm.CondE, "sleep")
	a.Pause()
	a.Dec(asm.RCX)
	a.Jmp("spin")
	a.Label("sleep")
	a.MovImm(asm.RAX, 1)
	a.Xchg32(rCtx, ctxStubSleeping, asm.RAX)
	a.Load32(asm.RAX, rCtx, ctxState)
	a.CmpImm32(asm.RAX, stateEvent)
	a.Jcc(asm.CondNE, "woke")
	a.MovImm(asm.RAX, unix.SYS_FUTEX)
	a.MovReg(asm.RDI, rCtx)
	a.MovImm(asm.RSI, futexWait)
	a.MovImm(asm.RDX, stateEvent)
	a.MovImm(asm.R10, 0)
	a.Syscall()
	a.Jmp("sleep")
	a.Label("woke")
	a.MovImm(asm.RCX, 0)
	a.Xchg32(rCtx, ctxStubSleeping, asm.RCX)
	a.Label("dispatch")
	a.CmpImm32(asm.RAX, stateRun)
	a.Jcc(asm.CondE, "resume")
	a.CmpImm32(asm.RAX, stateExit)
	a.Jcc(asm.CondE, "exitThread")
	a.Jmp("post") // garbage: report again

	// resume: set the fs base if the Sentry changed it, then return to the
	// restorer: rt_sigreturn loads the frame the Sentry wrote.
	a.Label("resume")
	a.Load(asm.RSI, rCtx, ctxFSBase)
	a.Load(asm.RCX, rCtx, ctxCurFS)
	a.CmpReg(asm.RSI, asm.RCX)
	a.Jcc(asm.CondE, "return")
	a.Store(rCtx, ctxCurFS, asm.RSI)
	a.MovImm(asm.RDI, archSetFS)
	a.MovImm(asm.RAX, unix.SYS_ARCH_PRCTL)
	a.Syscall()
	a.Label("return")
	a.Ret()

	a.Label("exitThread")
	a.SyscallImm(unix.SYS_EXIT, 0)
	a.Int3()

	a.Label("restorer")
	a.SyscallImm(unix.SYS_RT_SIGRETURN)
	a.Int3()

	return a.Finish(), a.Labels
}

// moveAfterMemoryFile moves the descriptor in fd to the memory file's
// (r13) plus one, leaving that number in rPipe, and jumps to next; it
// jumps to "exit" if dup3 fails.
func moveAfterMemoryFile(a *asm.Assembler, fd int, next string) {
	a.MovReg(rPipe, asm.R13)
	a.Inc(rPipe)
	a.CmpReg(fd, rPipe)
	a.Jcc(asm.CondE, next)
	a.MovImm(asm.RAX, unix.SYS_DUP3)
	a.MovReg(asm.RDI, fd)
	a.MovReg(asm.RSI, rPipe)
	a.MovImm(asm.RDX, 0)
	a.Syscall()
	a.CmpReg(asm.RAX, rPipe)
	a.Jcc(asm.CondNE, "exit")
	a.Jmp(next)
}

// sockFilter is struct sock_filter.
type sockFilter struct {
	code   uint16
	jt, jf uint8
	k      uint32
}

// Classic BPF opcodes and seccomp values the filters use.
const (
	bpfLdW  = 0x20 // BPF_LD|BPF_W|BPF_ABS
	bpfJeqK = 0x15 // BPF_JMP|BPF_JEQ|BPF_K
	bpfJgeK = 0x35 // BPF_JMP|BPF_JGE|BPF_K
	bpfRetK = 0x06 // BPF_RET|BPF_K

	retAllow = 0x7fff0000 // SECCOMP_RET_ALLOW
	retTrap  = 0x00030000 // SECCOMP_RET_TRAP
	archOK   = 0xc000003e // AUDIT_ARCH_X86_64

	// Offsets in struct seccomp_data.
	sdNr     = 0
	sdArch   = 4
	sdIPLo   = 8
	sdIPHi   = 12
	sdArg0Lo = 16
	sdArg1Lo = 24
)

// filterBuilder assembles a classic BPF program with forward jumps to
// labels.
type filterBuilder struct {
	prog   []sockFilter
	labels map[string]int
	fixups []filterFixup
}

type filterFixup struct {
	at     int
	jt, jf string
}

func (b *filterBuilder) label(name string) { b.labels[name] = len(b.prog) }

func (b *filterBuilder) ld(off uint32) { b.prog = append(b.prog, sockFilter{bpfLdW, 0, 0, off}) }

func (b *filterBuilder) ret(v uint32) { b.prog = append(b.prog, sockFilter{bpfRetK, 0, 0, v}) }

// jump appends a conditional jump to jt if true, jf if false; "" falls
// through.
func (b *filterBuilder) jump(op uint16, k uint32, jt, jf string) {
	b.fixups = append(b.fixups, filterFixup{len(b.prog), jt, jf})
	b.prog = append(b.prog, sockFilter{op, 0, 0, k})
}

func (b *filterBuilder) finish() []sockFilter {
	for _, f := range b.fixups {
		for _, j := range []struct {
			label string
			field *uint8
		}{{f.jt, &b.prog[f.at].jt}, {f.jf, &b.prog[f.at].jf}} {
			if j.label == "" {
				continue
			}
			target, ok := b.labels[j.label]
			if !ok || target <= f.at || target-f.at-1 > 255 {
				panic("systrap: bad filter jump to " + j.label)
			}
			*j.field = uint8(target - f.at - 1)
		}
	}
	return b.prog
}

// fromStub emits the common head of both filters: non-x86-64 system calls
// (int 0x80, a 32-bit code segment) and calls made outside [code, codeEnd)
// go to "trap"; calls from the stub code fall through with the system
// call number loaded.
func (b *filterBuilder) fromStub(code, codeEnd uintptr) {
	b.ld(sdArch)
	b.jump(bpfJeqK, archOK, "", "trap")
	b.ld(sdIPHi)
	b.jump(bpfJeqK, uint32(uint64(code)>>32), "", "trap")
	b.ld(sdIPLo)
	b.jump(bpfJgeK, uint32(code), "", "trap")
	b.jump(bpfJgeK, uint32(codeEnd), "trap", "")
	b.ld(sdNr)
}

// baseSyscalls are the system calls the stub code makes after the stub
// installed its filter: the mapper's (its operations, futex, write), a new
// thread's until it has its own filter, and the handler's.
var baseSyscalls = []uint32{
	unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_CLONE, unix.SYS_WRITE, unix.SYS_FUTEX, unix.SYS_RECVMSG,
	unix.SYS_SIGALTSTACK, sysCloseRange, unix.SYS_RT_SIGPROCMASK, sysSeccomp,
	unix.SYS_RT_SIGRETURN, unix.SYS_ARCH_PRCTL, unix.SYS_EXIT, unix.SYS_EXIT_GROUP,
}

// baseFilter returns the filter the stub installs for all its threads: a
// system call from the stub code is allowed if it is one of baseSyscalls;
// every other system call traps (SECCOMP_RET_TRAP), which the handler
// reports as a SIGSYS event. (The mapper has every signal blocked: a trap
// there kills the stub.)
func baseFilter(code, codeEnd uintptr) []sockFilter {
	b := &filterBuilder{labels: make(map[string]int)}
	b.fromStub(code, codeEnd)
	for _, nr := range baseSyscalls {
		b.jump(bpfJeqK, nr, "allow", "")
	}
	b.jump(bpfJeqK, 0, "trap", "trap")
	b.label("allow")
	b.ret(retAllow)
	b.label("trap")
	b.ret(retTrap)
	return b.finish()
}

// appFilter returns the filter every application thread adds to its own
// (filters are per thread, and a system call gets the strictest answer of
// all of a thread's filters). From the stub code it allows only what the
// handler needs: rt_sigreturn, futex FUTEX_WAIT and FUTEX_WAKE (the hand-off
// on the context page), arch_prctl(ARCH_SET_FS) and exit (one thread).
// Everything else traps, from anywhere: an application that jumps into the
// stub code gets a SIGSYS event at a stub address, which the Sentry turns
// into the SIGSEGV of a jump outside its address space. None of the allowed
// calls touches memory mappings, descriptors (the thread has none) or
// another thread.
func appFilter(code, codeEnd uintptr) []sockFilter {
	b := &filterBuilder{labels: make(map[string]int)}
	b.fromStub(code, codeEnd)
	b.jump(bpfJeqK, unix.SYS_RT_SIGRETURN, "allow", "")
	b.jump(bpfJeqK, unix.SYS_EXIT, "allow", "")
	b.jump(bpfJeqK, unix.SYS_FUTEX, "futex", "")
	b.jump(bpfJeqK, unix.SYS_ARCH_PRCTL, "archPrctl", "trap")
	b.label("futex")
	b.ld(sdArg1Lo)
	b.jump(bpfJeqK, futexWait, "allow", "")
	b.jump(bpfJeqK, futexWake, "allow", "trap")
	b.label("archPrctl")
	b.ld(sdArg0Lo)
	b.jump(bpfJeqK, archSetFS, "allow", "trap")
	b.label("allow")
	b.ret(retAllow)
	b.label("trap")
	b.ret(retTrap)
	return b.finish()
}
