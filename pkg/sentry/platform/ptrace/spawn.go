//go:build linux && amd64

package ptrace

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Stubs from a template.
//
// Forking a stub from the Sentry copies the page tables of a large Go
// process, and the child then unmaps all of it again and closes every
// descriptor (about 0.75 ms here, plus a cross-thread hand-off to the stub
// factory). So the platform forks one stub that way, the template, and
// makes every other stub by a remote fork in it: the template is a stub
// like any other, parked and untraced, whose address space holds only the
// stub region and whose only descriptor is the memory file, so its child is
// born clean.
//
// spawnStub, on the calling thread:
//
//  1. seizes the template, stops it and runs clone(CLONE_PARENT|
//     CLONE_PTRACE) at forkTramp: CLONE_PARENT makes the child a child of
//     the stub factory thread like every stub (so PR_SET_PDEATHSIG and
//     reaping work as for a stub forked by the factory), CLONE_PTRACE makes
//     the calling thread its tracer from birth, with no seize and no stop
//     to wait for besides the child's first;
//  2. parks the template again and detaches from it;
//  3. points the child at newborn, which sets PR_SET_PDEATHSIG and clones
//     the stub's first thread (slot 1) exactly as cloneThread would, and
//     reads its tid;
//  4. parks the child's main thread (the leader) and detaches from it.
//
// The first Switch on the new address space then only seizes the first
// thread (see AddressSpace.threadFor): no round trip through the leader.
// Every step runs on the caller's CPU (the template is pinned there by
// remoteCall, and its child inherits the pinning), so the hand-offs are
// same-CPU ones.
//
// Should the template die (killed from outside), the next NewAddressSpace
// forks a new one; if that fails too it falls back to forking from the
// factory.

// The pool. A fork in the sandbox waits for its new address space, and
// making one costs several stub round trips (~0.2–0.3 ms here), while the
// forking process then mostly waits (for its child, in wait4): so
// NewAddressSpace takes a stub spawned ahead of time when there is one, and
// has a goroutine spawn the next ones meanwhile. Pooled stubs are parked and
// untraced, like every stub between spawnStub and its first Switch; the
// thread that attaches to the first thread pins it to its own CPU
// (interruptStop). They die with the stub factory thread like every stub.

// poolSize is how many stubs are kept spawned ahead.
const poolSize = 2

// spawned is a stub made by spawnStub.
type spawned struct{ pid, first int }

// takeStub returns a stub from the pool, or spawns one, and starts a refill
// of the pool.
func (p *Platform) takeStub() (pid, first int, err error) {
	if p.noPool {
		return p.spawnStub()
	}
	defer p.refill()
	select {
	case s := <-p.pool:
		return s.pid, s.first, nil
	default:
		return p.spawnStub()
	}
}

// Warm implements platform.Warmer: it starts filling the pool, so that the
// first address spaces need not wait for a spawn.
func (p *Platform) Warm() {
	if !p.noPool {
		p.refill()
	}
}

// refill starts a goroutine that fills the pool, unless one runs.
func (p *Platform) refill() {
	if !p.poolFilling.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer p.poolFilling.Store(false)
		for len(p.pool) < cap(p.pool) {
			pid, first, err := p.spawnStub()
			if err != nil {
				return // NewAddressSpace will report it
			}
			select {
			case p.pool <- spawned{pid, first}:
			default:
				unix.Kill(pid, unix.SIGKILL)
				reapStub(pid, nil)
				return
			}
		}
	}()
}

// stubTemplate is the template stub. Guarded by Platform.tmplMu.
type stubTemplate struct {
	as *AddressSpace
}

// spawnFlags fork a stub from the template; see above. SIGCHLD is the exit
// signal CLONE_PARENT takes from the template anyway.
const spawnFlags = unix.CLONE_PARENT | unix.CLONE_PTRACE | uintptr(unix.SIGCHLD)

// spawnStub forks a stub from the template and returns its pid and the tid
// of its first thread, parked in slot 1.
func (p *Platform) spawnStub() (pid, first int, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, err = p.forkFromTemplate()
	if err != nil {
		return 0, 0, err
	}
	first, err = p.bringUp(pid)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		reapAll([]int{pid})
		return 0, 0, err
	}
	return pid, first, nil
}

// forkFromTemplate runs the remote fork in the template (steps 1 and 2),
// making a template first if there is none. The child is traced by the
// calling thread.
func (p *Platform) forkFromTemplate() (int, error) {
	p.tmplMu.Lock()
	defer p.tmplMu.Unlock()
	if p.tmpl == nil {
		pid, err := forkFromFactory(p.memfd)
		if err != nil {
			return 0, err
		}
		p.tmpl = &stubTemplate{as: newAddressSpace(p, pid)}
	}
	l := p.tmpl.as.leader
	pid, err := p.remoteFork(l)
	if err != nil {
		// The template is broken: kill it, make a new one next time.
		unix.Kill(l.tid, unix.SIGKILL)
		reapAll([]int{l.tid})
		p.tmpl = nil
		return 0, err
	}
	return pid, nil
}

// remoteFork seizes the template leader l, forks it and lets it go.
func (p *Platform) remoteFork(l *stubThread) (int, error) {
	l.tracer = gettid()
	if err := ptrace(unix.PTRACE_SEIZE, l.tid, 0, 0); err != nil {
		return 0, l.failed("seize template", err)
	}
	if err := l.interruptStop(); err != nil {
		return 0, err
	}
	if l.baseRegs.Cs == 0 {
		if err := getRegs(l.tid, &l.baseRegs); err != nil {
			return 0, l.failed("template getregs", err)
		}
	}
	stub := p.stub
	pid, ferr := l.remoteCall(stub.forkTramp, stub.forkTrap, nil, unix.SYS_CLONE, spawnFlags, 0, 0, 0, 0)
	if err := l.parkAndDetach(); err != nil {
		if ferr == nil {
			unix.Kill(int(pid), unix.SIGKILL)
			reapAll([]int{int(pid)})
		}
		return 0, err
	}
	if ferr != nil {
		return 0, fmt.Errorf("ptrace: fork from template: %w", ferr)
	}
	return int(pid), nil
}

// parkAndDetach points l, stopped and traced by the caller, at the park
// loop and detaches from it.
func (l *stubThread) parkAndDetach() error {
	r := l.baseRegs
	r.Rip = uint64(l.as.p.stub.park)
	r.Orig_rax = ^uint64(0)
	if err := setRegs(l.tid, &r); err != nil {
		return l.failed("park stub leader", err)
	}
	if err := ptrace(unix.PTRACE_DETACH, l.tid, 0, 0); err != nil {
		return l.failed("detach stub leader", err)
	}
	return nil
}

// bringUp runs steps 3 and 4 in pid, a child of the template traced by the
// calling thread since birth, and returns its first thread's tid.
func (p *Platform) bringUp(pid int) (int, error) {
	l := &stubThread{as: newAddressSpace(p, pid), tid: pid, cpu: -1, tracer: gettid()}
	// Its first stop: PTRACE_EVENT_STOP (the tracer attached with
	// PTRACE_SEIZE), before it runs an instruction.
	for {
		ws, err := l.wait()
		if err != nil {
			return 0, err
		}
		if ws.event() != 0 {
			break
		}
		if err := ptrace(unix.PTRACE_CONT, l.tid, 0, 0); err != nil {
			return 0, l.failed("cont new stub", err)
		}
	}
	if err := getRegs(l.tid, &l.baseRegs); err != nil {
		return 0, l.failed("new stub getregs", err)
	}
	stub := p.stub
	first, err := l.remoteCall(stub.newborn, stub.newbornTrap, nil, 0)
	if derr := l.parkAndDetach(); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return 0, fmt.Errorf("ptrace: new stub %d: %w", pid, err)
	}
	return int(first), nil
}
