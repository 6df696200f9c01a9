package kernel

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// x86-64 signal frame layout (arch/x86/include/uapi/asm/sigcontext.h and
// the kernel's struct rt_sigframe):
//
//	rt_sigframe { pretcode u64; ucontext uc; siginfo info }
//	ucontext    { uc_flags u64; uc_link u64; stack_t uc_stack (24);
//	              sigcontext uc_mcontext (256); sigset uc_sigmask (8) }
//
// The FP state (XSAVE area) is placed above the frame, 64-byte aligned,
// and sigcontext.fpstate points at it.
const (
	sigcontextSize = 256
	ucontextSize   = 8 + 8 + 24 + sigcontextSize + 8
	siginfoSize    = 128
	rtSigframeSize = 8 + ucontextSize + siginfoSize
	redZone        = 128

	offUContext = 8
	offStack    = offUContext + 16
	offMcontext = offUContext + 40
	offSigmask  = offMcontext + sigcontextSize
	offSiginfo  = offUContext + ucontextSize

	ucSigcontextSS     = 0x2
	ucStrictRestoreSS  = 0x4
	saRestorer         = 0x04000000
	saOnStack          = 0x08000000
	saRestart          = 0x10000000
	saNoDefer          = 0x40000000
	saResetHand        = 0x80000000
	ssOnStack          = 1
	ssDisable          = 2
	ssAutoDisarm       = 1 << 31
	userEflagsSettable = 0x254dd5 // CF PF AF ZF SF TF DF OF NT RF AC ID
)

// SignalStack is a sigaltstack(2) setting.
type SignalStack struct {
	Addr  uintptr
	Flags int32
	Size  uint64
}

// onStack reports whether sp is on the alternate stack.
func (s SignalStack) onStack(sp uintptr) bool {
	return s.Flags&ssDisable == 0 && sp > s.Addr && sp-s.Addr <= uintptr(s.Size)
}

// SignalStack returns the task's alternate signal stack; Flags has
// SS_ONSTACK when the task is running on it.
func (t *Task) SignalStack() SignalStack {
	s := t.altStack
	if s.Size == 0 {
		s.Flags = ssDisable
	}
	if s.onStack(uintptr(t.regs.Rsp)) {
		s.Flags |= ssOnStack
	}
	return s
}

// SetSignalStack changes the alternate signal stack; EPERM while on it.
func (t *Task) SetSignalStack(s SignalStack) error {
	if t.SignalStack().Flags&ssOnStack != 0 {
		return unix.EPERM
	}
	if s.Flags&ssDisable != 0 {
		t.altStack = SignalStack{Flags: ssDisable}
		return nil
	}
	t.altStack = s
	return nil
}

// setupSignalFrame builds the handler's frame on the application's stack
// and points the registers at the handler.
func (t *Task) setupSignalFrame(info SignalInfo, act SigAction, oldMask uint64) error {
	sp := uintptr(t.regs.Rsp)
	if act.Flags&saOnStack != 0 && t.altStack.Size != 0 && t.altStack.Flags&ssDisable == 0 && !t.altStack.onStack(sp) {
		sp = t.altStack.Addr + uintptr(t.altStack.Size)
	} else {
		sp -= redZone
	}
	fp, err := t.pctx.FPState()
	if err != nil {
		return err
	}
	sp = (sp - uintptr(len(fp))) &^ 63
	fpAddr := sp
	sp = ((sp - rtSigframeSize) &^ 15) - 8

	frame := make([]byte, rtSigframeSize)
	le := binary.LittleEndian
	le.PutUint64(frame[0:], uint64(act.Restorer))
	le.PutUint64(frame[offUContext:], ucSigcontextSS|ucStrictRestoreSS)
	st := t.SignalStack()
	le.PutUint64(frame[offStack:], uint64(st.Addr))
	le.PutUint32(frame[offStack+8:], uint32(st.Flags))
	le.PutUint64(frame[offStack+16:], st.Size)
	r := &t.regs
	mc := frame[offMcontext:]
	for i, v := range []uint64{r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15,
		r.Rdi, r.Rsi, r.Rbp, r.Rbx, r.Rdx, r.Rax, r.Rcx, r.Rsp, r.Rip, r.Eflags} {
		le.PutUint64(mc[8*i:], v)
	}
	le.PutUint16(mc[144:], uint16(r.Cs))
	le.PutUint16(mc[146:], uint16(r.Gs))
	le.PutUint16(mc[148:], uint16(r.Fs))
	le.PutUint16(mc[150:], uint16(r.Ss))
	// err, trapno, oldmask, cr2.
	if info.Signo == int32(unix.SIGSEGV) || info.Signo == int32(unix.SIGBUS) {
		le.PutUint64(mc[152:], 4|2) // user-mode access; write unknown
		le.PutUint64(mc[160:], 14)  // #PF
		le.PutUint64(mc[176:], uint64(info.Addr()))
	}
	le.PutUint64(mc[168:], oldMask)
	le.PutUint64(mc[184:], uint64(fpAddr))
	le.PutUint64(frame[offSigmask:], oldMask)
	copy(frame[offSiginfo:], siginfoBytes(&info))

	if n, err := t.CopyOut(fpAddr, fp); err != nil || n != len(fp) {
		return unix.EFAULT
	}
	if n, err := t.CopyOut(sp, frame); err != nil || n != len(frame) {
		return unix.EFAULT
	}
	r.Rsp = uint64(sp)
	r.Rip = uint64(act.Handler)
	r.Rdi = uint64(info.Signo)
	r.Rsi = uint64(sp + offSiginfo)
	r.Rdx = uint64(sp + offUContext)
	r.Rax = 0
	r.Eflags &^= 0x100 | 0x400 // TF, DF
	if act.Flags&saOnStack != 0 && uint32(t.altStack.Flags)&ssAutoDisarm != 0 {
		t.altStack = SignalStack{Flags: ssDisable}
	}
	return nil
}

func siginfoBytes(info *SignalInfo) []byte {
	b := make([]byte, siginfoSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(info.Signo))
	le.PutUint32(b[4:], uint32(info.Errno))
	le.PutUint32(b[8:], uint32(info.Code))
	copy(b[16:], info.Fields[:])
	return b
}

// SiginfoBytes returns info in the siginfo_t layout.
func SiginfoBytes(info *SignalInfo) []byte { return siginfoBytes(info) }

// SignalReturn restores the state saved by setupSignalFrame
// (rt_sigreturn(2)). The frame starts 8 bytes below the stack pointer,
// where the handler's return popped the restorer address.
func (t *Task) SignalReturn() error {
	sp := uintptr(t.regs.Rsp) - 8
	frame := make([]byte, rtSigframeSize)
	if n, err := t.CopyIn(sp, frame); err != nil || n != len(frame) {
		t.forceSignal(unix.SIGSEGV, SIKernel, 0)
		return ErrNoReturn
	}
	le := binary.LittleEndian
	mc := frame[offMcontext:]
	r := &t.regs
	vals := []*uint64{&r.R8, &r.R9, &r.R10, &r.R11, &r.R12, &r.R13, &r.R14, &r.R15,
		&r.Rdi, &r.Rsi, &r.Rbp, &r.Rbx, &r.Rdx, &r.Rax, &r.Rcx, &r.Rsp, &r.Rip}
	for i, p := range vals {
		*p = le.Uint64(mc[8*i:])
	}
	fl := le.Uint64(mc[136:])
	r.Eflags = r.Eflags&^userEflagsSettable | fl&userEflagsSettable
	r.Cs = userCS
	r.Ss = userSS
	r.Orig_rax = ^uint64(0) // no syscall restart after sigreturn
	t.SetSignalMask(le.Uint64(frame[offSigmask:]))
	// sigaltstack state from uc_stack.
	ss := SignalStack{
		Addr:  uintptr(le.Uint64(frame[offStack:])),
		Flags: int32(le.Uint32(frame[offStack+8:])) &^ ssOnStack,
		Size:  le.Uint64(frame[offStack+16:]),
	}
	if ss.Size != 0 && ss.Flags&ssDisable == 0 {
		t.altStack = ss
	}
	if fpAddr := uintptr(le.Uint64(mc[184:])); fpAddr != 0 {
		cur, err := t.pctx.FPState()
		if err == nil {
			fp := make([]byte, len(cur))
			if n, err := t.CopyIn(fpAddr, fp); err == nil && n == len(fp) {
				// The legacy area's MXCSR reserved bits must be zero or
				// the restore faults; keep the Sentry's value if not.
				if le.Uint32(fp[24:])&^0xffff != 0 {
					copy(fp[24:28], cur[24:28])
				}
				if err := t.pctx.SetFPState(fp); err != nil {
					t.Debugf("sigreturn: restoring FP state: %v", err)
				}
			}
		}
	}
	return ErrNoReturn
}
