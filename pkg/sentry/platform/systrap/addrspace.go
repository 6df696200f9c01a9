//go:build linux && amd64

package systrap

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/stubproc"
	"golang.org/x/sys/unix"
)

// Lock order:
//
//	AddressSpace.ctlMu
//	  AddressSpace.reqMu
//	    AddressSpace.memMu (read side)
//	      AddressSpace.mu
//
// Context.mu (context.go) and Platform.tmplMu (systrap.go) are leaves; the
// pool takes no lock. memMu's write side is taken only by reap, after the
// stub is dead, to unmap the context file; everything that touches it
// outside an exchange holds the read side.

var le = binary.LittleEndian

// errDead is returned when the stub died under a waiting Sentry thread.
var errDead = fmt.Errorf("%w: stub exited", platform.ErrContextDead)

// AddressSpace is an application address space: one stub process.
type AddressSpace struct {
	p   *Platform
	pid int

	// ctlMu serializes thread creation: a clone and the new thread's
	// first event (the child reads its alternate stack from the request
	// page).
	ctlMu sync.Mutex

	// reqMu serializes requests to the mapper (the stub's main thread).
	reqMu sync.Mutex
	// sock is the Sentry's end of the stub's channel, a SOCK_SEQPACKET
	// socket pair: the mapper writes its completion packets to the other
	// end, whose only holder it is, and receives the host files it maps
	// (MapHostFile) from it. Guarded by reqMu.
	sock int
	// seq is the last request's number; mapperPin the CPU the mapper is
	// pinned to, or -1. Guarded by reqMu.
	seq       uint32
	mapperPin int
	// buf receives completion packets. Guarded by reqMu.
	buf []byte
	// hostFDs maps each host file sent to the mapper to its descriptor
	// number in the stub; stubFDs has every descriptor the mapper holds.
	// A received descriptor takes the lowest free number, so the Sentry
	// knows it without reading anything the application could write.
	// Guarded by reqMu.
	hostFDs map[platform.HostFile]int
	stubFDs map[int]bool
	// queued are mappings MapFile accepted that the mapper has not made
	// yet: they are sent with the next request, or by the next Switch
	// (flush), at the latest. Guarded by reqMu.
	queued []op

	// memMu guards ctxMem against Release's munmap.
	memMu sync.RWMutex
	// ctxMem is the Sentry's mapping of the context file: the request
	// page, then maxThreads slots (the stub's context area).
	ctxMem   []byte
	unmapped bool

	// mu protects the fields below.
	mu       sync.Mutex
	released bool
	dead     bool
	// threads maps the tid of a Sentry thread to its stub thread.
	threads map[int]*stubThread
	// spare is an application thread cloned ahead of need (pooled
	// address spaces), which the first newThread takes, or nil.
	spare     *stubThread
	freeSlots []int
	nextSlot  int
}

var _ platform.AddressSpace = (*AddressSpace)(nil)

// stubThread is one application thread of a stub and the Sentry's view of
// its slot. Fields below "owner only" are used by the one goroutine that
// exchanges with it at a time (its Context's Switch goroutine).
type stubThread struct {
	as   *AddressSpace
	slot int
	tid  int
	// owner is the number of the Context that runs here.
	owner int
	// mem is the slot as the Sentry maps it; stubBase its stub address.
	mem      []byte
	stubBase uintptr
	// The futex words in the context page.
	state, stubSleeping, sentrySleeping, tidWord *atomic.Uint32
	// interruptedAt is when Interrupt signalled the thread (UnixNano),
	// or 0; cleared by every event.
	interruptedAt atomic.Int64

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
	if err := unix.Ftruncate(fd, ctxFileSize); err != nil {
		return nil, fmt.Errorf("systrap: context file: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, ctxFileSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("systrap: map context file: %w", err)
	}
	pfd, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("systrap: stub channel: %w", err)
	}
	as := &AddressSpace{
		p:         p,
		sock:      pfd[0],
		hostFDs:   make(map[platform.HostFile]int),
		stubFDs:   map[int]bool{p.memfd: true, p.memfd + 1: true},
		mapperPin: -1,
		buf:       make([]byte, pageSize+1),
		ctxMem:    mem,
		threads:   make(map[int]*stubThread),
	}
	pid, err := p.spawn(pfd[1], fd)
	if err != nil {
		pid, err = forkFromFactory(pfd[1], p.memfd, fd, stub.entry)
	}
	unix.Close(pfd[1])
	if err != nil {
		unix.Close(pfd[0])
		unix.Munmap(mem)
		return nil, err
	}
	as.pid = pid
	if err := as.complete(); err != nil {
		as.Release()
		return nil, fmt.Errorf("systrap: stub %d did not start: %w", pid, err)
	}
	return as, nil
}

// op is one system call for the mapper.
type op struct {
	nr   uintptr
	args [6]uintptr
}

// request has the mapper run the queued mappings and then ops, in order,
// up to the first that fails, and returns that failure. prep, if not nil,
// fills in the rest of the request page first.
func (as *AddressSpace) request(prep func(req []byte), ops ...op) error {
	as.reqMu.Lock()
	defer as.reqMu.Unlock()
	return as.requestLocked(prep, ops...)
}

// requestLocked is request with reqMu held.
func (as *AddressSpace) requestLocked(prep func(req []byte), ops ...op) error {
	if len(ops) > 0 && slices.ContainsFunc(as.queued, isRecvmsg) {
		// Queued receives go alone: the failure of a later operation
		// (a clone's EAGAIN) must not look like a failed receive,
		// which kills the stub.
		if err := as.requestLocked(nil); err != nil {
			return err
		}
	}
	if len(as.queued) > 0 {
		ops = append(as.queued, ops...)
		as.queued = nil
	}
	if len(ops) > maxReqOps {
		return fmt.Errorf("systrap: %d operations in one request, at most %d", len(ops), maxReqOps)
	}
	as.memMu.RLock()
	if as.unmapped || as.sock < 0 {
		as.memMu.RUnlock()
		return ErrReleased
	}
	req := as.ctxMem[:pageSize]
	if prep != nil {
		prep(req)
	}
	for i, o := range ops {
		b := req[reqOps+i*reqOpSize:]
		le.PutUint64(b, uint64(o.nr))
		for j, v := range o.args {
			le.PutUint64(b[8+8*j:], uint64(v))
		}
	}
	le.PutUint32(req[reqCount:], uint32(len(ops)))
	as.seq++
	seq := (*atomic.Uint32)(unsafe.Pointer(&req[reqSeq]))
	seq.Store(as.seq)
	as.pinMapper()
	futexWakeOne(seq)
	as.memMu.RUnlock()
	as.p.requests.Add(1)
	err := as.complete()
	if err != nil && slices.ContainsFunc(ops, isRecvmsg) {
		// The descriptor numbers the Sentry expects in the stub hold
		// only while every receive succeeds.
		as.markDead()
	}
	return err
}

// isRecvmsg reports whether o receives a host file.
func isRecvmsg(o op) bool { return o.nr == unix.SYS_RECVMSG }

// flush has the mapper run the queued mappings, if any. Switch calls it
// before it runs application code.
func (as *AddressSpace) flush() error {
	as.reqMu.Lock()
	defer as.reqMu.Unlock()
	if len(as.queued) == 0 {
		return nil
	}
	return as.requestLocked(nil)
}

// complete reads the mapper's completion packet. The caller holds reqMu
// (or is newAddressSpace).
func (as *AddressSpace) complete() error {
	for {
		n, err := unix.Read(as.sock, as.buf)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("systrap: read completion: %w", err)
		case n == 0:
			as.markDead()
			return errDead
		case n == 1:
			return nil
		}
		return fmt.Errorf("systrap: stub system call: %w", unix.Errno(n-1))
	}
}

// pinMapper moves the mapper to the calling thread's CPU, so that the
// request's wake and its completion's are same-CPU wakes. The caller holds
// reqMu.
func (as *AddressSpace) pinMapper() {
	if ncpu <= 1 {
		return
	}
	cpu := stubproc.CurrentCPU()
	if cpu == as.mapperPin {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	if setAffinity(as.pid, &set) == nil {
		as.mapperPin = cpu
		as.p.repins.Add(1)
	}
}

// initThread prepares slot for a new stub thread.
func (as *AddressSpace) initThread(slot int) *stubThread {
	off := pageSize + slot*slotSize
	mem := as.ctxMem[off : off+slotSize : off+slotSize]
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
	return t.tid == 0 || tgkill(t.as.pid, t.tid, 0) != unix.ESRCH
}

// markDead records that the stub died or must die, and kills it.
func (as *AddressSpace) markDead() {
	as.mu.Lock()
	as.dead = true
	as.mu.Unlock()
	unix.Kill(as.pid, unix.SIGKILL)
}

// isDead reports whether markDead was called.
func (as *AddressSpace) isDead() bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.dead
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

// cloneFlags make an application thread: a thread of the stub's group
// sharing its memory and signal handlers but not its descriptor table
// (CLONE_FILES is missing: the child gets a copy and closes it), whose
// tid the kernel writes to its context page before clone returns
// (CLONE_PARENT_SETTID) and clears from it when the thread exits
// (CLONE_CHILD_CLEARTID). The Sentry's own seccomp filter lists these
// flags (pkg/seccomp).
const cloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
	unix.CLONE_SYSVSEM | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID

// newThread has the mapper clone an application thread for the Context
// numbered owner and waits until it is ready.
func (as *AddressSpace) newThread(owner int) (*stubThread, error) {
	as.ctlMu.Lock()
	defer as.ctlMu.Unlock()
	as.mu.Lock()
	switch {
	case as.released:
		as.mu.Unlock()
		return nil, ErrReleased
	case as.dead:
		as.mu.Unlock()
		return nil, errDead
	}
	if t := as.spare; t != nil {
		as.spare = nil
		t.owner = owner
		as.threads[owner] = t
		as.mu.Unlock()
		return t, nil
	}
	slot := -1
	if n := len(as.freeSlots); n > 0 {
		slot = as.freeSlots[n-1]
		as.freeSlots = as.freeSlots[:n-1]
	} else if as.nextSlot < maxThreads {
		slot = as.nextSlot
		as.nextSlot++
	}
	known := make(map[int]bool, len(as.threads)+1)
	known[as.pid] = true
	for _, t := range as.threads {
		known[t.tid] = true
	}
	as.mu.Unlock()
	if slot < 0 {
		return nil, fmt.Errorf("systrap: address space has %d threads already", maxThreads)
	}
	t, err := as.cloneThread(slot, known)
	if err != nil {
		as.mu.Lock()
		as.freeSlots = append(as.freeSlots, slot)
		as.mu.Unlock()
		return nil, err
	}
	t.owner = owner
	as.mu.Lock()
	as.threads[owner] = t
	as.mu.Unlock()
	return t, nil
}

// cloneSpare clones the spare thread of a new address space, so that its
// first Context does not wait for a clone and the new thread's first
// event (the pool does this ahead of need).
func (as *AddressSpace) cloneSpare() error {
	as.ctlMu.Lock()
	defer as.ctlMu.Unlock()
	as.mu.Lock()
	if as.spare != nil || as.nextSlot != 0 {
		as.mu.Unlock()
		return nil
	}
	as.nextSlot = 1
	as.mu.Unlock()
	t, err := as.cloneThread(0, map[int]bool{as.pid: true})
	if err != nil {
		as.mu.Lock()
		as.freeSlots = append(as.freeSlots, 0)
		as.mu.Unlock()
		return err
	}
	as.mu.Lock()
	as.spare = t
	as.mu.Unlock()
	return nil
}

// cloneThread clones a thread into slot and waits for its first event.
// known holds the tids of the stub's other threads. The caller holds
// ctlMu.
func (as *AddressSpace) cloneThread(slot int, known map[int]bool) (*stubThread, error) {
	as.memMu.RLock()
	if as.unmapped {
		as.memMu.RUnlock()
		return nil, ErrReleased
	}
	t := as.initThread(slot)
	as.memMu.RUnlock()
	err := as.request(func(req []byte) {
		le.PutUint64(req[reqStackT:], uint64(t.stubBase)+ctxSize)
		le.PutUint64(req[reqStackT+8:], 0)
		le.PutUint64(req[reqStackT+16:], slotSize-ctxSize)
	}, op{nr: unix.SYS_CLONE, args: [6]uintptr{cloneFlags, 0, t.stubBase + ctxTid, t.stubBase + ctxTid, 0}})
	if err != nil {
		return nil, err
	}
	as.memMu.RLock()
	defer as.memMu.RUnlock()
	if as.unmapped {
		return nil, ErrReleased
	}
	// The tid word in the context page is written by the kernel but
	// writable by the application: it must name a thread of the stub
	// that is none of the known ones (clones are serialized, so the only
	// other thread is the new one).
	tid := int(t.tidWord.Load())
	if tid <= 0 || known[tid] || tgkill(as.pid, tid, 0) != nil {
		as.markDead()
		return nil, fmt.Errorf("systrap: stub %d: new thread's tid %d is not a new thread of the stub", as.pid, tid)
	}
	t.tid = tid
	if err := t.waitFirstEvent(); err != nil {
		return nil, err
	}
	return t, nil
}

// MapFile implements platform.AddressSpace: the mapper maps [offset,
// offset+length) of the memory file at addr with MAP_SHARED|MAP_FIXED, for
// every thread of the address space, before any of them runs application
// code again. Mappings are queued and sent to the mapper in one request
// (with the next Unmap, the next thread's creation, or by the next Switch
// into the address space): exec and fork make dozens at once, and a round
// trip each would dominate them. A thread already running application code
// that touches a queued range faults, and the Sentry maps the page again
// before it resumes. An error of a queued mapping surfaces from the Switch
// that sends it.
func (as *AddressSpace) MapFile(addr uintptr, offset int64, length uintptr, at platform.AccessType) error {
	if err := as.checkMap("MapFile", addr, offset, length); err != nil {
		return err
	}
	as.reqMu.Lock()
	defer as.reqMu.Unlock()
	as.queued = append(as.queued, op{nr: unix.SYS_MMAP, args: [6]uintptr{addr, length, uintptr(at.Prot()),
		unix.MAP_SHARED | unix.MAP_FIXED, uintptr(as.p.memfd), uintptr(offset)}})
	if len(as.queued) < maxReqOps {
		return nil
	}
	return as.requestLocked(nil)
}

// checkMap checks a mapping request's arguments (page aligned, not empty,
// in the user address range) and that the stub is alive.
func (as *AddressSpace) checkMap(what string, addr uintptr, offset int64, length uintptr) error {
	if addr%pageSize != 0 || offset%pageSize != 0 || length%pageSize != 0 || length == 0 {
		return fmt.Errorf("systrap: %s(%#x, %#x, %#x): unaligned or empty", what, addr, offset, length)
	}
	if addr < as.p.MinUserAddress() || addr+length > as.p.MaxUserAddress() || addr+length < addr {
		return fmt.Errorf("systrap: %s(%#x, %#x): outside the user address range", what, addr, length)
	}
	return as.check()
}

// maxHostFiles bounds the host files one stub holds for MapHostFile; past
// it, mm copies file pages into the memory file instead.
const maxHostFiles = 256

var _ platform.HostFileMapper = (*AddressSpace)(nil)

// CanMapHostFile implements platform.HostFileMapper.
func (as *AddressSpace) CanMapHostFile(f platform.HostFile) bool {
	as.reqMu.Lock()
	defer as.reqMu.Unlock()
	_, ok := as.hostFDs[f]
	return ok || len(as.hostFDs) < maxHostFiles
}

// MapHostFile implements platform.HostFileMapper. The first mapping of f
// in the stub sends its descriptor over the stub's channel (SCM_RIGHTS)
// and queues the mapper's recvmsg of it before the mmap; the stub keeps
// the descriptor until it dies. The mapping is MAP_PRIVATE and never
// writable: a write faults, and mm gives the page a memory file copy.
//
// The mapper's recvmsg header is on the stub's scratch page, which the
// application can write: tampering with it can only make the receive
// fail or drop the descriptor, and the request fails (the mmap of the
// expected number finds nothing there), which kills the stub.
func (as *AddressSpace) MapHostFile(addr uintptr, f platform.HostFile, offset int64, length uintptr, at platform.AccessType) error {
	if err := as.checkMap("MapHostFile", addr, offset, length); err != nil {
		return err
	}
	as.reqMu.Lock()
	defer as.reqMu.Unlock()
	if as.sock < 0 {
		return ErrReleased
	}
	fd, ok := as.hostFDs[f]
	if !ok {
		if len(as.hostFDs) >= maxHostFiles {
			return fmt.Errorf("systrap: MapHostFile: the stub holds %d host files already", maxHostFiles)
		}
		if len(as.queued)+3 > maxReqOps {
			if err := as.requestLocked(nil); err != nil {
				return err
			}
		}
		if err := as.sendFD(f.FD()); err != nil {
			return err
		}
		for fd = 0; as.stubFDs[fd]; fd++ {
		}
		as.hostFDs[f] = fd
		as.stubFDs[fd] = true
		as.queued = append(as.queued, op{nr: unix.SYS_RECVMSG, args: [6]uintptr{uintptr(as.p.memfd + 1),
			as.p.stub.start + scratchOff + scrMsghdr, unix.MSG_DONTWAIT | unix.MSG_CMSG_CLOEXEC}})
	}
	at.Write = false
	as.queued = append(as.queued, op{nr: unix.SYS_MMAP, args: [6]uintptr{addr, length, uintptr(at.Prot()),
		unix.MAP_PRIVATE | unix.MAP_FIXED, uintptr(fd), uintptr(offset)}})
	if len(as.queued) < maxReqOps-2 {
		return nil
	}
	return as.requestLocked(nil)
}

// sendFD sends fd to the mapper, with one byte of payload. The channel's
// buffer holds many such messages; if it is full, the queued requests
// (which receive the earlier ones) go first. The caller holds reqMu.
func (as *AddressSpace) sendFD(fd int) error {
	for try := 0; ; try++ {
		err := unix.Sendmsg(as.sock, []byte{0}, unix.UnixRights(fd), nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
		switch {
		case err == nil:
			return nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN && try == 0 && len(as.queued) > 0:
			if err := as.requestLocked(nil); err != nil {
				return err
			}
			continue
		}
		as.markDead()
		return fmt.Errorf("systrap: send a host file to the stub: %w", err)
	}
}

// Unmap implements platform.AddressSpace. The stub region is never
// unmapped. If the mapper cannot unmap (it died), the stub is killed: no
// page may stay mapped in a live stub after Unmap returns.
func (as *AddressSpace) Unmap(addr, length uintptr) {
	as.UnmapRanges([][2]uintptr{{addr, addr + length}})
}

var _ platform.RangeUnmapper = (*AddressSpace)(nil)

var _ platform.MappingQueuer = (*AddressSpace)(nil)

// QueuesMappings implements platform.MappingQueuer: MapFile and
// MapHostFile queue their mmaps (see MapFile).
func (as *AddressSpace) QueuesMappings() bool { return true }

// UnmapRanges implements platform.RangeUnmapper: the munmaps go in as few
// requests as the request page holds (a fork write-protects a few ranges
// at once).
func (as *AddressSpace) UnmapRanges(ranges [][2]uintptr) {
	ops := make([]op, 0, len(ranges))
	for _, r := range ranges {
		lo, hi := max(r[0], as.p.MinUserAddress()), r[1]
		if hi > as.p.MaxUserAddress() || hi < r[0] {
			hi = as.p.MaxUserAddress()
		}
		if lo < hi {
			ops = append(ops, op{nr: unix.SYS_MUNMAP, args: [6]uintptr{lo, hi - lo}})
		}
	}
	if len(ops) == 0 || as.check() != nil {
		return
	}
	as.reqMu.Lock()
	defer as.reqMu.Unlock()
	for len(ops) > 0 {
		if len(as.queued) > 0 && len(as.queued)+len(ops) > maxReqOps {
			if err := as.requestLocked(nil); err != nil {
				as.markDead()
				return
			}
		}
		n := min(len(ops), maxReqOps)
		if err := as.requestLocked(nil, ops[:n]...); err != nil {
			as.markDead()
			return
		}
		ops = ops[n:]
	}
}

// exitDeadline bounds how long a stub thread may take to exit once told
// to; a thread that does not (the application made it leave the handler)
// gets its whole stub killed.
const exitDeadline = 2 * time.Second

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
	t.pinTo(stubproc.CurrentCPU())
	t.state.Store(stateExit)
	if t.stubSleeping.Load() != 0 {
		futexWakeOne(t.state)
	}
	deadline := time.Now().Add(exitDeadline)
	for {
		w := t.tidWord.Load()
		if w == 0 || !t.alive() {
			break
		}
		if time.Now().After(deadline) {
			as.markDead()
			break
		}
		futexWaitTimeout(t.tidWord, w, livenessPeriod)
	}
	as.memMu.RUnlock()
	as.mu.Lock()
	as.freeSlots = append(as.freeSlots, t.slot)
	as.mu.Unlock()
}

// Release implements platform.AddressSpace: it kills the stub process;
// a goroutine reaps it and unmaps the context file. It must not be called
// while a Switch on the address space runs (such a Switch fails with
// ErrContextDead): then every application thread waits in its handler and
// the mapper for a request, and none of them returns to user mode after
// the SIGKILL, so the memory they mapped may be reused at once.
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
	}
	as.p.reaping.Add(1)
	go as.reap()
}

// reap waits for the killed stub and frees what the address space holds
// in the Sentry.
func (as *AddressSpace) reap() {
	defer as.p.reaping.Done()
	for as.pid > 0 {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(as.pid, &ws, 0, nil); err != unix.EINTR {
			break
		}
	}
	as.reqMu.Lock()
	if as.sock >= 0 {
		unix.Close(as.sock)
		as.sock = -1
	}
	as.reqMu.Unlock()
	as.memMu.Lock()
	if !as.unmapped {
		as.unmapped = true
		unix.Munmap(as.ctxMem)
	}
	as.memMu.Unlock()
}

// Pid returns the stub's process id, for tests.
func (as *AddressSpace) Pid() int { return as.pid }
