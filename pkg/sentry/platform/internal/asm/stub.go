package asm

import "strconv"

// Instruction sequences the stub programs of both platforms are built
// from: system calls with constant arguments, and the first steps every
// stub takes to shed what it inherited from the Sentry. They clobber rax,
// rcx, r11 (the syscall instruction's) and the argument registers they
// set.

// local returns a label name of its own for a sequence that may be
// emitted more than once.
func (a *Assembler) local(name string) string {
	a.locals++
	return "asm." + name + "." + strconv.Itoa(a.locals)
}

// SyscallArgs are the registers that carry system call arguments, in order.
var SyscallArgs = [6]int{RDI, RSI, RDX, R10, R8, R9}

// SyscallImm: mov rax, nr; mov the argument registers, args...; syscall.
func (a *Assembler) SyscallImm(nr uint64, args ...uint64) {
	if len(args) > len(SyscallArgs) {
		panic("asm: more than six system call arguments")
	}
	a.MovImm(RAX, nr)
	for i, v := range args {
		a.MovImm(SyscallArgs[i], v)
	}
	a.Syscall()
}

// Linux constants the sequences use.
const (
	sysRtSigaction = 13
	sysMunmap      = 11
	sysGetppid     = 110
	sysPrctl       = 157
	sysCloseRange  = 436
	prSetPdeathsig = 1
	sigKill        = 9
	numSignals     = 64
)

// DieWithParent: prctl(PR_SET_PDEATHSIG, SIGKILL), then jump to exit if the
// parent is no longer parentPID (it died before the prctl and the stub was
// reparented).
func (a *Assembler) DieWithParent(parentPID uint64, exit string) {
	a.SyscallImm(sysPrctl, prSetPdeathsig, sigKill)
	a.SyscallImm(sysGetppid)
	a.MovImm(RDI, parentPID)
	a.CmpReg(RAX, RDI)
	a.Jcc(CondNE, exit)
}

// ResetSignals sets every signal's disposition to the struct
// kernel_sigaction at dflAction (all zero: SIG_DFL), with rbx as the
// counter. The calls for SIGKILL and SIGSTOP fail harmlessly.
func (a *Assembler) ResetSignals(dflAction uint64) {
	loop := a.local("resetSignals")
	a.MovImm(RBX, 1)
	a.Label(loop)
	a.MovImm(RAX, sysRtSigaction)
	a.MovReg(RDI, RBX)
	a.MovImm(RSI, dflAction)
	a.MovImm(RDX, 0)
	a.MovImm(R10, 8)
	a.Syscall()
	a.Inc(RBX)
	a.MovImm(RCX, numSignals+1)
	a.CmpReg(RBX, RCX)
	a.Jcc(CondNE, loop)
}

// CloseAllBut closes every descriptor outside [*lo, *hi], the registers lo
// and hi holding the bounds: close_range(0, lo-1, 0) unless lo is 0, and
// close_range(hi+1, ~0U, 0).
func (a *Assembler) CloseAllBut(lo, hi int) {
	above := a.local("closeAbove")
	a.TestReg(lo)
	a.Jcc(CondE, above)
	a.MovImm(RAX, sysCloseRange)
	a.MovImm(RDI, 0)
	a.MovReg(RSI, lo)
	a.Dec(RSI)
	a.MovImm(RDX, 0)
	a.Syscall()
	a.Label(above)
	a.MovImm(RAX, sysCloseRange)
	a.MovReg(RDI, hi)
	a.Inc(RDI)
	a.MovImm(RSI, 0xffffffff)
	a.MovImm(RDX, 0)
	a.Syscall()
}

// UnmapAllBut unmaps the user address space below taskSize except [base,
// base+size): the copy of the Sentry, its stacks and its vDSO.
func (a *Assembler) UnmapAllBut(base, size, taskSize uint64) {
	a.SyscallImm(sysMunmap, 0, base)
	a.SyscallImm(sysMunmap, base+size, taskSize-(base+size))
}
