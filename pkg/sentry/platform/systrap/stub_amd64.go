//go:build linux && amd64

package systrap

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The stub region is a mapping the platform makes once in the Sentry, at a
// fixed address above MaxUserAddress. Stub processes are forked from the
// Sentry, so they inherit it (and, briefly, everything else: the stub
// program unmaps all of it except this region). Layout:
//
//	page 0        code (r-x): the stub program, the signal handler, the
//	              wait loop, the request and clone paths
//	page 1        data (rw-, private): sigactions, sigsets, the seccomp
//	              program
//	ctxArea..     maxThreads slots of slotSize bytes, MAP_SHARED from the
//	              address space's own context file (a memfd the Sentry
//	              maps too): slot i belongs to stub thread i
//
// A slot is the thread's context page (ctx*, below), then its alternate
// signal stack. The handlers run on that stack, so the signal frame (the
// ucontext with every register, and the XSAVE area) lies in memory the
// Sentry sees: the Sentry reads and writes the application's registers in
// the frame itself and the handler returns to them with rt_sigreturn. The
// handler finds its context page from uc_stack.ss_sp (the alternate stack
// base, which is the context page's end).
//
// Slot 0 belongs to the stub's main thread, the leader, which runs no
// application code: it serves requests (clone, and mmap/munmap from Sentry
// threads that have no stub thread of their own in the address space).
const (
	pageSize = 4096

	stubSearchStart = 0x7e0000000000
	stubSearchEnd   = 0x7ef000000000
	taskSize        = 0x7ffffffff000

	// maxThreads bounds the threads of one stub (the leader included).
	maxThreads = 512
	// slotSize is one thread's context page plus its alternate signal
	// stack, comfortably larger than the largest x86-64 signal frame
	// (an AVX-512 XSAVE area is 2.7 KiB).
	slotSize   = 8 * pageSize
	ctxSize    = pageSize
	ctxAreaOff = 16 * pageSize
	ctxAreaLen = maxThreads * slotSize
	stubSize   = ctxAreaOff + ctxAreaLen

	// Offsets in a context page. The first three words are futex words.
	ctxState          = 0   // u32: see the state* constants
	ctxStubSleeping   = 4   // u32: the stub thread waits in FUTEX_WAIT
	ctxSentrySleeping = 8   // u32: the Sentry thread waits in FUTEX_WAIT
	ctxTid            = 12  // u32: CLONE_CHILD_SETTID/CLEARTID word
	ctxStubSpin       = 16  // u64: PAUSE iterations the stub spins before it sleeps
	ctxUcontext       = 24  // u64: stub address of the last signal's ucontext
	ctxSiginfo        = 32  // u64: ... and of its siginfo
	ctxSigno          = 40  // u64: ... and its number
	ctxFSBase         = 48  // u64: fs base the application wants
	ctxCurFS          = 56  // u64: fs base the thread has
	ctxReqNr          = 64  // u64: request: system call number
	ctxReqArgs        = 72  // 6 x u64: request: arguments
	ctxReqRet         = 120 // u64: request: result
	ctxStackT         = 128 // stack_t: the thread's alternate stack
	ctxChildCtx       = 152 // u64: clone request: the child's context page
	ctxEnd            = 160

	// Offsets in the data page.
	dataHandlerAction = 0   // struct kernel_sigaction: the stub handler
	dataEmptySet      = 32  // sigset_t, all zero
	dataDflAction     = 64  // struct kernel_sigaction, all zero: SIG_DFL
	dataFprog         = 128 // struct sock_fprog
	dataFilter        = 256 // struct sock_filter[]

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
	prSetPdeathsig    = 1
	prSetNoNewPrivs   = 38
	seccompModeFilter = 1
	archSetFS         = 0x1002
)

// Thread states, the value of a context page's state word. The stub thread
// writes stateEvent; the Sentry writes the others.
const (
	// stateNone: a fresh slot.
	stateNone = 0
	// stateEvent: the stub thread waits in its handler; the page describes
	// a signal (ctxSigno...) or the result of a request (ctxReqRet).
	stateEvent = 1
	// stateRun: return to the application with the frame's registers.
	stateRun = 2
	// stateSyscall: run system call ctxReqNr(ctxReqArgs), post stateEvent.
	stateSyscall = 3
	// stateClone: as stateSyscall for clone; the child starts as a stub
	// thread with context page ctxChildCtx.
	stateClone = 4
)

// handledSignals are the signals the stub handler reports to the Sentry.
var handledSignals = []unix.Signal{unix.SIGSYS, unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE,
	unix.SIGILL, unix.SIGTRAP, interruptSignal}

// stubRegion describes the stub region of this process.
type stubRegion struct {
	start uintptr
	// entry is the stub program (jumped to by a forked child).
	entry uintptr
	// [code, codeEnd) is the code the seccomp filter lets make system calls.
	code, codeEnd uintptr
}

// ctxArea is the stub address of slot 0.
func (s *stubRegion) ctxArea() uintptr { return s.start + ctxAreaOff }

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
	for i := range code {
		code[i] = 0xcc // int3 padding
	}
	copy(code, prog)
	s.entry = addr + uintptr(labels["entry"])
	s.code = addr
	s.codeEnd = addr + pageSize

	le := binary.LittleEndian
	// The handler runs on the alternate stack with every signal blocked.
	le.PutUint64(data[dataHandlerAction:], uint64(addr)+uint64(labels["handler"]))
	le.PutUint64(data[dataHandlerAction+8:], saSiginfo|saOnstack|saRestorer)
	le.PutUint64(data[dataHandlerAction+16:], uint64(addr)+uint64(labels["restorer"]))
	le.PutUint64(data[dataHandlerAction+24:], ^uint64(0))

	filter := stubFilter(s.code, s.codeEnd)
	if dataFilter+len(filter)*8 > pageSize {
		return fmt.Errorf("systrap: seccomp program too large (%d instructions)", len(filter))
	}
	for i, f := range filter {
		off := dataFilter + 8*i
		le.PutUint16(data[off:], f.code)
		data[off+2] = f.jt
		data[off+3] = f.jf
		le.PutUint32(data[off+4:], f.k)
	}
	le.PutUint16(data[dataFprog:], uint16(len(filter)))
	le.PutUint64(data[dataFprog+8:], uint64(addr)+pageSize+dataFilter)

	if err := unix.Mprotect(code, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		return fmt.Errorf("systrap: mprotect stub code: %w", err)
	}
	return nil
}

// stubProgram assembles the stub code for a region at base, in a process
// whose pid is sentryPID. It returns the code and its label offsets.
//
// A forked child starts at "entry" with every signal blocked, the memory
// file descriptor in r13 and the context file descriptor in r14 (see
// forkStub). Throughout the handler and the thread start, r15 holds the
// thread's context page.
func stubProgram(base uintptr, sentryPID uint64) ([]byte, map[string]int) {
	data := uint64(base) + pageSize
	ctxArea := uint64(base) + ctxAreaOff
	a := newAssembler()

	a.label("entry")
	// prctl(PR_SET_PDEATHSIG, SIGKILL): die with the stub factory thread.
	a.movImm(rax, unix.SYS_PRCTL)
	a.movImm(rdi, prSetPdeathsig)
	a.movImm(rsi, uint64(unix.SIGKILL))
	a.syscall()
	// If the Sentry already died we were reparented: exit.
	a.movImm(rax, unix.SYS_GETPPID)
	a.syscall()
	a.movImm(rdi, sentryPID)
	a.cmpReg(rax, rdi)
	a.jcc(condNE, "exit")

	// for rbx = 1; rbx != 65; rbx++ { rt_sigaction(rbx, &SIG_DFL, NULL, 8) }
	a.movImm(rbx, 1)
	a.label("sigloop")
	a.movImm(rax, unix.SYS_RT_SIGACTION)
	a.movReg(rdi, rbx)
	a.movImm(rsi, data+dataDflAction)
	a.movImm(rdx, 0)
	a.movImm(r10, 8)
	a.syscall()
	a.inc(rbx)
	a.movImm(rcx, 65)
	a.cmpReg(rbx, rcx)
	a.jcc(condNE, "sigloop")

	for _, sig := range handledSignals {
		a.movImm(rax, unix.SYS_RT_SIGACTION)
		a.movImm(rdi, uint64(sig))
		a.movImm(rsi, data+dataHandlerAction)
		a.movImm(rdx, 0)
		a.movImm(r10, 8)
		a.syscall()
	}

	// mmap(ctxArea, ctxAreaLen, RW, MAP_SHARED|MAP_FIXED, r14, 0): the
	// context pages, shared with the Sentry.
	a.movImm(rax, unix.SYS_MMAP)
	a.movImm(rdi, ctxArea)
	a.movImm(rsi, ctxAreaLen)
	a.movImm(rdx, unix.PROT_READ|unix.PROT_WRITE)
	a.movImm(r10, unix.MAP_SHARED|unix.MAP_FIXED)
	a.movReg(r8, r14)
	a.movImm(r9, 0)
	a.syscall()
	a.movImm(rdi, ctxArea)
	a.cmpReg(rax, rdi)
	a.jcc(condNE, "exit")

	// close_range(0, r13-1, 0) unless r13 == 0; close_range(r13+1, ~0U, 0).
	a.testReg(r13)
	a.jcc(condE, "closeabove")
	a.movImm(rax, sysCloseRange)
	a.movImm(rdi, 0)
	a.movReg(rsi, r13)
	a.dec(rsi)
	a.movImm(rdx, 0)
	a.syscall()
	a.label("closeabove")
	a.movImm(rax, sysCloseRange)
	a.movReg(rdi, r13)
	a.inc(rdi)
	a.movImm(rsi, 0xffffffff)
	a.movImm(rdx, 0)
	a.syscall()

	// munmap(0, base); munmap(base+stubSize, taskSize-(base+stubSize)):
	// the copy of the Sentry, its stacks and the vDSO disappear.
	a.movImm(rax, unix.SYS_MUNMAP)
	a.movImm(rdi, 0)
	a.movImm(rsi, uint64(base))
	a.syscall()
	a.movImm(rax, unix.SYS_MUNMAP)
	a.movImm(rdi, uint64(base)+stubSize)
	a.movImm(rsi, taskSize-(uint64(base)+stubSize))
	a.syscall()

	// prctl(PR_SET_NO_NEW_PRIVS, 1); seccomp(SECCOMP_SET_MODE_FILTER, 0,
	// &fprog). Every thread cloned later inherits the filter.
	a.movImm(rax, unix.SYS_PRCTL)
	a.movImm(rdi, prSetNoNewPrivs)
	a.movImm(rsi, 1)
	a.movImm(rdx, 0)
	a.movImm(r10, 0)
	a.movImm(r8, 0)
	a.syscall()
	a.movImm(rax, sysSeccomp)
	a.movImm(rdi, seccompModeFilter)
	a.movImm(rsi, 0)
	a.movImm(rdx, data+dataFprog)
	a.syscall()
	a.testReg(rax)
	a.jcc(condNE, "exit")

	// The leader is stub thread 0.
	a.movImm(r15, ctxArea)
	a.jmp("threadStart")

	// A stub thread starts here with r15 = its context page, whose
	// ctxStackT the Sentry filled in: sigaltstack(&ctx.stack, NULL);
	// unblock every signal; tgkill(getpid(), gettid(), interruptSignal).
	// The handler reports that signal as the thread's first event and
	// never returns here: the Sentry replaces the frame's registers
	// before it lets the thread run.
	a.label("threadStart")
	a.movImm(rax, unix.SYS_SIGALTSTACK)
	a.movReg(rdi, r15)
	a.addImm(rdi, ctxStackT)
	a.movImm(rsi, 0)
	a.syscall()
	a.movImm(rax, unix.SYS_RT_SIGPROCMASK)
	a.movImm(rdi, unix.SIG_SETMASK)
	a.movImm(rsi, data+dataEmptySet)
	a.movImm(rdx, 0)
	a.movImm(r10, 8)
	a.syscall()
	a.movImm(rax, unix.SYS_GETPID)
	a.syscall()
	a.movReg(rbx, rax)
	a.movImm(rax, unix.SYS_GETTID)
	a.syscall()
	a.movReg(rsi, rax)
	a.movReg(rdi, rbx)
	a.movImm(rdx, uint64(interruptSignal))
	a.movImm(rax, unix.SYS_TGKILL)
	a.syscall()
	a.movImm(rax, unix.SYS_EXIT)
	a.movImm(rdi, 0)
	a.syscall()

	a.label("exit")
	a.movImm(rax, unix.SYS_EXIT_GROUP)
	a.movImm(rdi, 1)
	a.syscall()
	a.int3()

	// The signal handler (rdi = signo, rsi = siginfo, rdx = ucontext), on
	// the thread's alternate stack with every signal blocked. It records
	// where the frame is, posts stateEvent and waits for the Sentry.
	a.label("handler")
	a.load(r15, rdx, ucStackSP)
	a.addImm(r15, -ctxSize)
	a.store(r15, ctxUcontext, rdx)
	a.store(r15, ctxSiginfo, rsi)
	a.store(r15, ctxSigno, rdi)

	// post: state = stateEvent (xchg: a full barrier before the load of
	// sentrySleeping); FUTEX_WAKE the Sentry if it sleeps.
	a.label("post")
	a.movImm(rax, stateEvent)
	a.xchg32(r15, ctxState, rax)
	a.load32(rax, r15, ctxSentrySleeping)
	a.testReg(rax)
	a.jcc(condE, "wait")
	a.movImm(rax, unix.SYS_FUTEX)
	a.movReg(rdi, r15)
	a.movImm(rsi, futexWake)
	a.movImm(rdx, 1)
	a.syscall()

	// wait: spin ctx.stubSpin times, then sleep, until state != stateEvent.
	a.label("wait")
	a.load(rcx, r15, ctxStubSpin)
	a.label("spin")
	a.testReg(rcx)
	a.jcc(condE, "sleep")
	a.load32(rax, r15, ctxState)
	a.cmpImm32(rax, stateEvent)
	a.jcc(condNE, "dispatch")
	a.pause()
	a.dec(rcx)
	a.jmp("spin")
	a.label("sleep")
	a.movImm(rax, 1)
	a.xchg32(r15, ctxStubSleeping, rax)
	a.load32(rax, r15, ctxState)
	a.cmpImm32(rax, stateEvent)
	a.jcc(condNE, "woke")
	a.movImm(rax, unix.SYS_FUTEX)
	a.movReg(rdi, r15)
	a.movImm(rsi, futexWait)
	a.movImm(rdx, stateEvent)
	a.movImm(r10, 0)
	a.syscall()
	a.jmp("sleep")
	a.label("woke")
	a.movImm(rcx, 0)
	a.xchg32(r15, ctxStubSleeping, rcx)
	a.label("dispatch")
	a.cmpImm32(rax, stateRun)
	a.jcc(condE, "resume")
	a.cmpImm32(rax, stateSyscall)
	a.jcc(condE, "request")
	a.cmpImm32(rax, stateClone)
	a.jcc(condE, "clone")
	a.jmp("post") // garbage: report again

	// resume: set the fs base if the Sentry changed it, then return to the
	// restorer: rt_sigreturn loads the frame the Sentry wrote.
	a.label("resume")
	a.load(rsi, r15, ctxFSBase)
	a.load(rcx, r15, ctxCurFS)
	a.cmpReg(rsi, rcx)
	a.jcc(condE, "return")
	a.store(r15, ctxCurFS, rsi)
	a.movImm(rdi, archSetFS)
	a.movImm(rax, unix.SYS_ARCH_PRCTL)
	a.syscall()
	a.label("return")
	a.ret()

	// request: ctx.reqRet = syscall(ctx.reqNr, ctx.reqArgs...).
	a.label("request")
	loadReq(a)
	a.syscall()
	a.store(r15, ctxReqRet, rax)
	a.jmp("post")

	// clone: as request; the child (rax = 0) starts as a stub thread on
	// the context page the Sentry named.
	a.label("clone")
	a.load(r14, r15, ctxChildCtx)
	loadReq(a)
	a.syscall()
	a.testReg(rax)
	a.jcc(condE, "cloneChild")
	a.store(r15, ctxReqRet, rax)
	a.jmp("post")
	a.label("cloneChild")
	a.movReg(r15, r14)
	a.jmp("threadStart")

	a.label("restorer")
	a.movImm(rax, unix.SYS_RT_SIGRETURN)
	a.syscall()
	a.int3()

	return a.finish(), a.labels
}

// loadReq loads the request's system call number and arguments.
func loadReq(a *assembler) {
	a.load(rax, r15, ctxReqNr)
	for i, r := range []int{rdi, rsi, rdx, r10, r8, r9} {
		a.load(r, r15, ctxReqArgs+int32(8*i))
	}
}

// sockFilter is struct sock_filter.
type sockFilter struct {
	code   uint16
	jt, jf uint8
	k      uint32
}

// stubSyscalls are the system calls the stub code makes after it installed
// its filter; any other from the stub code kills the stub.
var stubSyscalls = []uint32{
	unix.SYS_RT_SIGRETURN, unix.SYS_FUTEX, unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_CLONE,
	unix.SYS_EXIT, unix.SYS_EXIT_GROUP, unix.SYS_ARCH_PRCTL, unix.SYS_TGKILL, unix.SYS_GETTID,
	unix.SYS_GETPID, unix.SYS_RT_SIGPROCMASK, unix.SYS_SIGALTSTACK,
}

// stubFilter returns the stubs' seccomp program: a system call made from
// [code, codeEnd) is allowed if it is one of stubSyscalls (else the stub is
// killed); every other system call (the application's) returns
// SECCOMP_RET_TRAP, which the stub handler turns into a SIGSYS event.
func stubFilter(code, codeEnd uintptr) []sockFilter {
	const (
		ldW    = 0x20 // BPF_LD|BPF_W|BPF_ABS
		jeqK   = 0x15 // BPF_JMP|BPF_JEQ|BPF_K
		jgeK   = 0x35 // BPF_JMP|BPF_JGE|BPF_K
		retK   = 0x06 // BPF_RET|BPF_K
		allow  = 0x7fff0000
		trap   = 0x00030000
		kill   = 0x80000000 // SECCOMP_RET_KILL_PROCESS
		archOK = 0xc000003e // AUDIT_ARCH_X86_64
	)
	n := len(stubSyscalls)
	// Layout: 0 ld arch; 1 jeq; 2 ld ip_hi; 3 jeq; 4 ld ip_lo; 5 jge lo;
	// 6 jge hi; 7 ld nr; 8..8+n-1 jeq nr; 8+n ret kill; 9+n ret allow;
	// 10+n ret trap.
	killAt, allowAt, trapAt := 8+n, 9+n, 10+n
	to := func(from, target int) uint8 { return uint8(target - from - 1) }
	f := []sockFilter{
		{ldW, 0, 0, 4},
		{jeqK, 0, to(1, trapAt), archOK},
		{ldW, 0, 0, 12},
		{jeqK, 0, to(3, trapAt), uint32(uint64(code) >> 32)},
		{ldW, 0, 0, 8},
		{jgeK, 0, to(5, trapAt), uint32(code)},
		{jgeK, to(6, trapAt), 0, uint32(codeEnd)},
		{ldW, 0, 0, 0},
	}
	for i, nr := range stubSyscalls {
		f = append(f, sockFilter{jeqK, to(8+i, allowAt), 0, nr})
	}
	f = append(f, sockFilter{retK, 0, 0, kill}, sockFilter{retK, 0, 0, allow}, sockFilter{retK, 0, 0, trap})
	_ = killAt
	return f
}
