package kernel

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/mm"
)

// CloneArgs are clone(2)/clone3(2)'s arguments.
type CloneArgs struct {
	Flags      uint64
	ExitSignal unix.Signal
	Stack      uintptr // new stack pointer, or 0 to keep the parent's
	ParentTID  uintptr
	ChildTID   uintptr
	TLS        uintptr
}

// Clone flags this kernel understands.
const (
	cloneVM            = unix.CLONE_VM
	cloneFS            = unix.CLONE_FS
	cloneFiles         = unix.CLONE_FILES
	cloneSighand       = unix.CLONE_SIGHAND
	clonePIDFD         = unix.CLONE_PIDFD
	clonePtrace        = unix.CLONE_PTRACE
	cloneVfork         = unix.CLONE_VFORK
	cloneParent        = unix.CLONE_PARENT
	cloneThread        = unix.CLONE_THREAD
	cloneNewNS         = unix.CLONE_NEWNS
	cloneSysvsem       = unix.CLONE_SYSVSEM
	cloneSetTLS        = unix.CLONE_SETTLS
	cloneParentSetTID  = unix.CLONE_PARENT_SETTID
	cloneChildClearTID = unix.CLONE_CHILD_CLEARTID
	cloneDetached      = unix.CLONE_DETACHED
	cloneUntraced      = unix.CLONE_UNTRACED
	cloneChildSetTID   = unix.CLONE_CHILD_SETTID
	cloneIO            = unix.CLONE_IO
	cloneNamespaces    = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME
)

// Clone creates a new task as clone(2) does and returns its thread ID in
// the caller's PID namespace.
func (t *Task) Clone(a CloneArgs) (int32, error) {
	f := a.Flags
	// Flag consistency rules of copy_process.
	if f&cloneThread != 0 && f&cloneSighand == 0 {
		return 0, unix.EINVAL
	}
	if f&cloneSighand != 0 && f&cloneVM == 0 {
		return 0, unix.EINVAL
	}
	if f&cloneFS != 0 && f&cloneNewNS != 0 {
		return 0, unix.EINVAL
	}
	if f&cloneNamespaces != 0 {
		// Namespaces inside the sandbox are not supported yet.
		return 0, unix.EPERM
	}
	if f&cloneThread != 0 && a.ExitSignal != 0 {
		a.ExitSignal = 0
	}
	if a.ExitSignal < 0 || a.ExitSignal > NumSignals {
		return 0, unix.EINVAL
	}
	if err := t.checkNProc(); err != nil {
		return 0, err
	}

	var m *mm.MemoryManager
	parentMM := t.MemoryManager()
	if f&cloneVM != 0 {
		if !parentMM.IncUsers() {
			return 0, unix.ENOMEM
		}
		m = parentMM
	} else {
		var err error
		m, err = parentMM.Fork()
		if err != nil {
			return 0, err
		}
	}
	fds := t.fdTable
	if f&cloneFiles != 0 {
		fds.IncRef()
	} else {
		fds = fds.Fork()
	}
	fs := t.fs
	if f&cloneFS != 0 {
		fs.refs.Add(1)
	} else {
		fs = fs.Fork()
	}
	pctx, err := t.k.Platform.NewContext()
	if err != nil {
		m.DecUsers()
		fds.DecRef()
		fs.DecRef()
		return 0, err
	}
	fp, err := t.pctx.FPState()
	if err == nil {
		err = pctx.SetFPState(fp)
	}
	if err != nil {
		t.Debugf("clone: copying FP state: %v", err)
	}

	nt := &Task{
		k:         t.k,
		pctx:      pctx,
		regs:      t.regs,
		interrupt: make(chan struct{}, 1),
		wakeCh:    t.k.newWakeChan(),
		mm:        m,
		fdTable:   fds,
		fs:        fs,
		name:      t.Name(),
		startTime: time.Now(),
	}
	nt.creds.Store(t.Credentials())
	if t.noNewPrivs.Load() {
		nt.noNewPrivs.Store(true)
	}
	nt.sigMask.Store(t.sigMask.Load())
	nt.altStack = t.altStack
	if f&cloneVM != 0 && f&cloneVfork == 0 {
		// A thread with its own stack does not inherit the alternate stack.
		nt.altStack = SignalStack{}
	}
	nt.regs.Rax = 0
	if a.Stack != 0 {
		nt.regs.Rsp = uint64(a.Stack)
	}
	if f&cloneSetTLS != 0 {
		nt.regs.Fs_base = uint64(a.TLS)
	}
	if f&cloneChildClearTID != 0 {
		nt.clearChildTID = a.ChildTID
	}

	tid, ok := t.k.allocCloneTID(nt)
	if !ok {
		// The spec's pids limit (SetTaskLimit), as Linux's pids
		// controller refuses a fork.
		nt.releaseResources()
		return 0, unix.EAGAIN
	}
	nt.tid = tid
	var tg *ThreadGroup
	if f&cloneThread != 0 {
		tg = t.tg
		tg.mu.Lock()
		if tg.exiting {
			tg.mu.Unlock()
			t.k.freeTID(tid)
			nt.releaseResources()
			return 0, unix.EINTR
		}
		tg.tasks[nt] = struct{}{}
		tg.mu.Unlock()
	} else {
		tg = t.tg.forkGroup(nt, f&cloneSighand != 0, a.ExitSignal, f&cloneParent != 0)
	}
	nt.tg = tg

	if f&cloneParentSetTID != 0 {
		t.copyOutTID(a.ParentTID, tid)
	}
	if f&cloneChildSetTID != 0 {
		nt.copyOutTID(a.ChildTID, tid)
	}
	var vforkDone *atomic.Bool
	if f&cloneVfork != 0 {
		vforkDone = new(atomic.Bool)
		nt.vforkParent, nt.vforkDone = t, vforkDone
	}
	nt.start()
	if vforkDone != nil {
		// The parent sleeps until the child execs or exits; a signal does
		// not end the wait early in this kernel (Linux allows it).
		for !vforkDone.Load() {
			t.Block(time.Time{})
		}
	}
	return tid, nil
}

func (t *Task) copyOutTID(addr uintptr, tid int32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(tid))
	t.CopyOut(addr, b[:])
}

// releaseResources drops what a task holds (for a task that never ran).
func (t *Task) releaseResources() {
	t.fdTable.DecRef()
	t.fs.DecRef()
	t.pctx.Release()
	if t.mm != nil {
		t.mm.DecUsers()
		t.mm = nil
	}
}

// freeTID forgets a thread ID that was allocated but not used.
func (k *Kernel) freeTID(tid int32) {
	k.mu.Lock()
	delete(k.tasks, tid)
	k.mu.Unlock()
}

// Fork returns a copy of the context for a new process.
func (f *FSContext) Fork() *FSContext {
	f.mu.Lock()
	defer f.mu.Unlock()
	return NewFSContext(f.root, f.cwd, f.umask)
}

// checkNProc enforces RLIMIT_NPROC: a user may not own more tasks than
// the limit, unless privileged (CAP_SYS_RESOURCE or CAP_SYS_ADMIN), as in
// Linux. This is what stops a fork bomb inside the sandbox.
func (t *Task) checkNProc() error {
	c := t.Credentials()
	if c.HasCapability(24) || c.HasCapability(21) { // CAP_SYS_RESOURCE, CAP_SYS_ADMIN
		return nil
	}
	limit := t.tg.limits.Get(unix.RLIMIT_NPROC).Cur
	if limit == Infinity {
		return nil
	}
	uid := c.RealUID
	var n uint64
	t.k.mu.Lock()
	for _, o := range t.k.tasks {
		if o.Credentials().RealUID == uid {
			n++
		}
	}
	t.k.mu.Unlock()
	if n >= limit {
		return unix.EAGAIN
	}
	return nil
}
