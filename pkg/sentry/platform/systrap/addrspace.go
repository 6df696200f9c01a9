//go:build linux && amd64

package systrap

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform"
	"golang.org/x/sys/unix"
)

// Lock order:
//
//	AddressSpace.ctlMu
//	  AddressSpace.memMu (read side)
//	    AddressSpace.mu
//
// Context.mu (context.go) is a leaf. memMu's write side is taken only by
// Release, after the stub is dead, to unmap the context pages; everything
// that touches them outside an exchange holds the read side.

var le = binary.LittleEndian

// errDead is returned when the stub died under a waiting Sentry thread.
var errDead = fmt.Errorf("%w: stub exited", platform.ErrContextDead)

// AddressSpace is an application address space: one stub process.
type AddressSpace struct {
	p   *Platform
	pid int

	// ctlMu serializes the use of the leader (stub thread 0), which clones
	// threads and serves MapFile/Unmap for Sentry threads without an idle
	// stub thread here.
	ctlMu  sync.Mutex
	leader *stubThread

	// memMu guards ctxMem against Release's munmap.
	memMu sync.RWMutex
	// ctxMem is the Sentry's mapping of the context file: maxThreads
	// slots, the same pages as the stub's context area.
	ctxMem   []byte
	unmapped bool

	// mu protects the fields below.
	mu       sync.Mutex
	released bool
	dead     bool
	// threads maps the tid of a Sentry thread to its stub thread.
	threads   map[int]*stubThread
	freeSlots []int
	nextSlot  int
}

var _ platform.AddressSpace = (*AddressSpace)(nil)

// stubThread is one thread of a stub and the Sentry's view of its slot.
// Fields below "owner only" are used by the one Sentry thread that
// exchanges with it at a time (its Context's Switch thread, or the holder
// of ctlMu for the leader).
type stubThread struct {
	as   *AddressSpace
	slot int
	tid  int
	// owner is the tid of the Sentry thread whose Context runs here (0
	// for the leader).
	owner int
	// mem is the slot as the Sentry maps it; stubBase its stub address.
	mem      []byte
	stubBase uintptr
	// The futex words in the context page.
	state, stubSleeping, sentrySleeping, tidWord *atomic.Uint32
	// running is set while the thread runs application code.
	running atomic.Bool

	// Owner only.
	pol      handoffPolicy
	pin      int // CPU pinned to, -2-cpu if pinned away from cpu, -1 unknown
	stubSpin uint64
	// uc, fpOff and fpLen locate the last event's frame in mem.
	uc, fpOff, fpLen int
}

func newAddressSpace(p *Platform) (*AddressSpace, error) {
	fd, err := unix.MemfdCreate("systrap-context", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("systrap: context file: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, ctxAreaLen); err != nil {
		return nil, fmt.Errorf("systrap: context file: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, ctxAreaLen, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("systrap: map context file: %w", err)
	}
	as := &AddressSpace{p: p, ctxMem: mem, threads: make(map[int]*stubThread), nextSlot: 1}
	as.leader = as.initThread(0)
	pid, err := forkFromFactory(p.memfd, fd)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	as.pid = pid
	as.leader.tid = pid
	if err := as.leader.waitFirstEvent(); err != nil {
		as.Release()
		return nil, fmt.Errorf("systrap: stub %d did not start: %w", pid, err)
	}
	return as, nil
}

// initThread prepares slot for a new stub thread.
func (as *AddressSpace) initThread(slot int) *stubThread {
	mem := as.ctxMem[slot*slotSize : (slot+1)*slotSize : (slot+1)*slotSize]
	t := &stubThread{
		as:             as,
		slot:           slot,
		mem:            mem,
		stubBase:       as.p.stub.ctxArea() + uintptr(slot)*slotSize,
		pin:            -1,
		state:          (*atomic.Uint32)(unsafe.Pointer(&mem[ctxState])),
		stubSleeping:   (*atomic.Uint32)(unsafe.Pointer(&mem[ctxStubSleeping])),
		sentrySleeping: (*atomic.Uint32)(unsafe.Pointer(&mem[ctxSentrySleeping])),
		tidWord:        (*atomic.Uint32)(unsafe.Pointer(&mem[ctxTid])),
	}
	clear(mem[:ctxEnd])
	le.PutUint64(mem[ctxStackT:], uint64(t.stubBase)+ctxSize)
	le.PutUint64(mem[ctxStackT+16:], slotSize-ctxSize)
	le.PutUint64(mem[ctxCurFS:], ^uint64(0))
	return t
}

// waitFirstEvent waits for a new stub thread's first event (see
// threadStart in the stub program) and records its frame.
func (t *stubThread) waitFirstEvent() error {
	if err := t.blockWait(stateNone); err != nil {
		return err
	}
	return t.readFrame()
}

// alive reports whether t's thread may still run.
func (t *stubThread) alive() bool {
	if exited(t.as.pid) {
		return false
	}
	if t.slot != 0 && t.tid != 0 {
		return tgkill(t.as.pid, t.tid, 0) != unix.ESRCH
	}
	return true
}

func (as *AddressSpace) markDead() {
	as.mu.Lock()
	as.dead = true
	as.mu.Unlock()
}

// check returns the error for a released or dead address space.
func (as *AddressSpace) check() error {
	as.mu.Lock()
	defer as.mu.Unlock()
	switch {
	case as.released:
		return ErrReleased
	case as.dead:
		return errDead
	}
	return nil
}

// cloneFlags make a stub thread: a thread of the stub's group sharing
// everything, whose tid the kernel writes to (and clears from) its context
// page.
const cloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID

// newThread has the leader clone a stub thread for the Sentry thread owner
// and waits until it is ready.
func (as *AddressSpace) newThread(owner int) (*stubThread, error) {
	as.mu.Lock()
	switch {
	case as.released:
		as.mu.Unlock()
		return nil, ErrReleased
	case as.dead:
		as.mu.Unlock()
		return nil, errDead
	}
	slot := -1
	if n := len(as.freeSlots); n > 0 {
		slot = as.freeSlots[n-1]
		as.freeSlots = as.freeSlots[:n-1]
	} else if as.nextSlot < maxThreads {
		slot = as.nextSlot
		as.nextSlot++
	}
	as.mu.Unlock()
	if slot < 0 {
		return nil, fmt.Errorf("systrap: address space has %d threads already", maxThreads-1)
	}

	as.ctlMu.Lock()
	as.memMu.RLock()
	if as.unmapped {
		as.memMu.RUnlock()
		as.ctlMu.Unlock()
		return nil, ErrReleased
	}
	t := as.initThread(slot)
	t.owner = owner
	l := as.leader
	le.PutUint64(l.mem[ctxChildCtx:], uint64(t.stubBase))
	tid, err := l.request(stateClone, unix.SYS_CLONE, cloneFlags, t.stubBase+ctxSize-64, 0,
		t.stubBase+ctxTid, 0)
	if err == nil {
		t.tid = int(tid)
		err = t.waitFirstEvent()
	}
	as.memMu.RUnlock()
	as.ctlMu.Unlock()
	if err != nil {
		as.mu.Lock()
		as.freeSlots = append(as.freeSlots, slot)
		as.mu.Unlock()
		return nil, err
	}
	as.mu.Lock()
	as.threads[owner] = t
	as.mu.Unlock()
	return t, nil
}

// request has t (waiting in its handler) run system call nr with args,
// and returns its result. s is stateSyscall or stateClone. The caller
// holds as.memMu's read side.
func (t *stubThread) request(s uint32, nr uintptr, args ...uintptr) (uintptr, error) {
	t.as.p.requests.Add(1)
	le.PutUint64(t.mem[ctxReqNr:], uint64(nr))
	for i := 0; i < 6; i++ {
		var v uintptr
		if i < len(args) {
			v = args[i]
		}
		le.PutUint64(t.mem[ctxReqArgs+8*i:], uint64(v))
	}
	if err := t.exchange(s, false); err != nil {
		return 0, err
	}
	ret := le.Uint64(t.mem[ctxReqRet:])
	if r := int64(ret); r < 0 && r > -4096 {
		return 0, fmt.Errorf("systrap: stub system call %d: %w", nr, unix.Errno(-r))
	}
	return uintptr(ret), nil
}

// remote runs a system call in a stub thread: the calling Sentry thread's
// own stub thread if it has an idle one, else the leader.
func (as *AddressSpace) remote(nr uintptr, args ...uintptr) (uintptr, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := gettid()
	as.mu.Lock()
	t := as.threads[tid]
	as.mu.Unlock()
	if err := as.check(); err != nil {
		return 0, err
	}
	if t == nil || t.running.Load() {
		as.ctlMu.Lock()
		defer as.ctlMu.Unlock()
		t = as.leader
	}
	as.memMu.RLock()
	defer as.memMu.RUnlock()
	if as.unmapped {
		return 0, ErrReleased
	}
	return t.request(stateSyscall, nr, args...)
}

// MapFile implements platform.AddressSpace: the stub maps [offset,
// offset+length) of the memory file at addr with MAP_SHARED|MAP_FIXED before
// MapFile returns, for every thread of the address space.
func (as *AddressSpace) MapFile(addr uintptr, offset int64, length uintptr, at platform.AccessType) error {
	if addr%pageSize != 0 || offset%pageSize != 0 || length%pageSize != 0 || length == 0 {
		return fmt.Errorf("systrap: MapFile(%#x, %#x, %#x): unaligned or empty", addr, offset, length)
	}
	if addr < as.p.MinUserAddress() || addr+length > as.p.MaxUserAddress() || addr+length < addr {
		return fmt.Errorf("systrap: MapFile(%#x, %#x): outside the user address range", addr, length)
	}
	r, err := as.remote(unix.SYS_MMAP, addr, length, uintptr(at.Prot()),
		unix.MAP_SHARED|unix.MAP_FIXED, uintptr(as.p.memfd), uintptr(offset))
	if err == nil && r != addr {
		err = fmt.Errorf("systrap: stub mmap returned %#x, want %#x", r, addr)
	}
	return err
}

// Unmap implements platform.AddressSpace. The stub region is never
// unmapped.
func (as *AddressSpace) Unmap(addr, length uintptr) {
	lo, hi := addr, addr+length
	if lo < as.p.MinUserAddress() {
		lo = as.p.MinUserAddress()
	}
	if hi > as.p.MaxUserAddress() || hi < addr {
		hi = as.p.MaxUserAddress()
	}
	if lo >= hi {
		return
	}
	as.remote(unix.SYS_MUNMAP, lo, hi-lo)
}

// exit makes t exit (exit(0), one thread) and waits until the kernel
// cleared its tid word, then frees its slot. No Switch may be running on
// t.
func (t *stubThread) exit() {
	as := t.as
	as.mu.Lock()
	if as.threads[t.owner] == t {
		delete(as.threads, t.owner)
	}
	gone := as.released || as.dead
	as.mu.Unlock()
	if gone {
		return
	}
	as.memMu.RLock()
	if as.unmapped {
		as.memMu.RUnlock()
		return
	}
	tid := t.tidWord.Load()
	le.PutUint64(t.mem[ctxReqNr:], unix.SYS_EXIT)
	le.PutUint64(t.mem[ctxReqArgs:], 0)
	t.pinTo(currentCPU())
	t.state.Store(stateSyscall)
	if t.stubSleeping.Load() != 0 {
		futexWakeOne(t.state)
	}
	for tid != 0 && t.tidWord.Load() == tid {
		futexWaitTimeout(t.tidWord, tid, livenessPeriod)
		if t.tidWord.Load() == tid && !t.alive() {
			break
		}
	}
	as.memMu.RUnlock()
	as.mu.Lock()
	as.freeSlots = append(as.freeSlots, t.slot)
	as.mu.Unlock()
}

// Release implements platform.AddressSpace: it kills the stub process,
// reaps it and unmaps the context pages. It must not be called while a
// Switch on the address space runs (such a Switch fails with
// ErrContextDead).
func (as *AddressSpace) Release() {
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return
	}
	as.released = true
	as.mu.Unlock()
	if as.pid > 0 {
		unix.Kill(as.pid, unix.SIGKILL)
		for {
			var ws unix.WaitStatus
			_, err := unix.Wait4(as.pid, &ws, 0, nil)
			if err != unix.EINTR {
				break
			}
		}
	}
	as.memMu.Lock()
	if !as.unmapped {
		as.unmapped = true
		unix.Munmap(as.ctxMem)
	}
	as.memMu.Unlock()
}

// Pid returns the stub's process id, for tests.
func (as *AddressSpace) Pid() int { return as.pid }
