// Package platform defines the seam between the Sentry's kernel and the
// mechanism that runs application code: a Platform creates application
// address spaces and execution contexts; a Context runs a task's code until
// it makes a system call, faults, or is interrupted.
//
// The kernel never knows which platform runs it. Implementations live in
// subpackages: ptrace (PTRACE_SYSEMU), systrap and kvm.
package platform

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Registers is the x86-64 general purpose register set of an application
// thread, in the layout of the kernel's struct user_regs_struct.
type Registers = unix.PtraceRegs

// AccessType says which accesses a mapping permits, or which access faulted.
type AccessType struct {
	Read    bool
	Write   bool
	Execute bool
}

// Prot returns the PROT_* bits equivalent to a.
func (a AccessType) Prot() int {
	p := unix.PROT_NONE
	if a.Read {
		p |= unix.PROT_READ
	}
	if a.Write {
		p |= unix.PROT_WRITE
	}
	if a.Execute {
		p |= unix.PROT_EXEC
	}
	return p
}

// Commonly used access types.
var (
	NoAccess  = AccessType{}
	Read      = AccessType{Read: true}
	ReadWrite = AccessType{Read: true, Write: true}
	ReadExec  = AccessType{Read: true, Execute: true}
	AnyAccess = AccessType{Read: true, Write: true, Execute: true}
)

// EventKind says why Context.Switch returned.
type EventKind int

// Event kinds.
const (
	// EventSyscall: the application executed a system call instruction.
	// Regs.Orig_rax holds the system call number; Regs.Rip points after
	// the instruction.
	EventSyscall EventKind = iota
	// EventFault: the application faulted on a memory access
	// (SIGSEGV/SIGBUS); Event.Addr and Event.Access describe it.
	EventFault
	// EventSignal: the application raised a synchronous signal other than a
	// memory fault (SIGFPE on divide by zero, SIGILL, SIGTRAP on int3).
	// Event.Signo, Event.Code and Event.Addr describe it.
	EventSignal
	// EventInterrupted: Context.Interrupt was called (possibly spuriously).
	EventInterrupted
)

// Event describes why Context.Switch returned.
type Event struct {
	Kind EventKind
	// Addr is the faulting address for EventFault, or si_addr for EventSignal.
	Addr uintptr
	// Access is the kind of access that faulted (EventFault only). A fault
	// on an instruction fetch has Execute set. A platform that cannot tell
	// (ptrace's fast path, for the first touch of an unmapped page:
	// SEGV_MAPERR) leaves it zero; the memory manager handles that as a
	// read, and a write then faults again with its access known.
	Access AccessType
	// Signo and Code are the host signal number and si_code (EventFault and
	// EventSignal).
	Signo int32
	Code  int32
}

// ErrContextDead is returned by Switch when the address space's stub died
// (for example it was killed from outside the sandbox); the task cannot
// continue.
var ErrContextDead = errors.New("platform: application context died")

// Platform creates address spaces and contexts. It is safe for concurrent use.
//
// Making a Platform creates no host process: stubs are forked by
// NewAddressSpace or by Warm (see Warmer), so a Sentry can make its platform
// before the runtime has put it in the sandbox's cgroup, and every process it
// forks is still born there.
type Platform interface {
	// Name is the platform's name as given to --platform.
	Name() string
	// NewAddressSpace returns a fresh, empty application address space.
	NewAddressSpace() (AddressSpace, error)
	// NewContext returns a context for one application thread (task).
	NewContext() (Context, error)
	// MinUserAddress and MaxUserAddress bound the addresses applications
	// may map: [MinUserAddress, MaxUserAddress).
	MinUserAddress() uintptr
	MaxUserAddress() uintptr
}

// Warmer is a Platform that can fork what its first address space needs
// ahead of time.
type Warmer interface {
	// Warm starts forking the host processes the first address spaces
	// will use (a template, a pool of ready stubs), in the background or
	// before it returns; it may be called once processes may be forked.
	Warm()
}

// MigratingContexts is implemented by Platforms whose Contexts may be
// switched from any OS thread (systrap), unlike ptrace's, whose tracer is
// one thread. The kernel then leaves task goroutines unlocked, so that a
// task woken by another is run by the Go scheduler, often on the waker's
// own thread once the waker blocks, without a host thread wake-up.
type MigratingContexts interface {
	// ContextsMigrate reports whether Contexts may migrate.
	ContextsMigrate() bool
}

// AddressSpace is one application address space. mm calls MapFile and Unmap
// to keep its page tables in agreement with the VMAs and pages it manages;
// every page an application sees is a page of the Sentry's memory file.
type AddressSpace interface {
	// MapFile maps [offset, offset+length) of the memory file at addr with
	// the given permissions, replacing whatever was mapped there. addr,
	// offset and length are page aligned.
	MapFile(addr uintptr, offset int64, length uintptr, at AccessType) error
	// Unmap removes mappings in [addr, addr+length).
	Unmap(addr, length uintptr)
	// Release destroys the address space (kills its stub). It must not be
	// used afterwards.
	Release()
}

// HostFile is a host file that an address space may map directly: a
// program's text and read-only data are then the host's page cache, never
// copied into the memory file. Its descriptor is open for reading, on a
// mount that allows executable mappings, and stays open as long as the
// HostFile is reachable.
type HostFile interface {
	// FD returns the host descriptor.
	FD() int
}

// HostFileMapper is implemented by AddressSpaces that can map host files
// (systrap). mm uses it for private file mappings that have not been
// written: the pages are the host file's until a write copies them.
type HostFileMapper interface {
	// CanMapHostFile reports whether MapHostFile of f may be used now:
	// false when the address space already holds as many other host
	// files as it may.
	CanMapHostFile(f HostFile) bool
	// MapHostFile maps [offset, offset+length) of f at addr, private and
	// never writable (at.Write is ignored), replacing whatever was mapped
	// there. addr, offset and length are page aligned.
	MapHostFile(addr uintptr, f HostFile, offset int64, length uintptr, at AccessType) error
}

// MappingQueuer is implemented by AddressSpaces whose MapFile and
// MapHostFile queue the mapping and send it with the next request to the
// address space (systrap): mapping ahead of faults then costs no round
// trip of its own.
type MappingQueuer interface {
	// QueuesMappings reports whether mappings are queued.
	QueuesMappings() bool
}

// RangeUnmapper is implemented by AddressSpaces that remove several ranges
// for about the price of one (systrap: one request to the stub).
type RangeUnmapper interface {
	// UnmapRanges removes the mappings in each [start, end) of ranges,
	// as Unmap does for each.
	UnmapRanges(ranges [][2]uintptr)
}

// Context runs one application thread's code. A Context is used by one task
// goroutine at a time; Interrupt may be called from any goroutine.
type Context interface {
	// Switch runs the application with the given registers in as until it
	// makes a system call, faults, or is interrupted; regs is updated with
	// the registers the application has at that point.
	Switch(as AddressSpace, regs *Registers) (Event, error)
	// Interrupt makes a running Switch return EventInterrupted promptly. If
	// no Switch is running, the next Switch returns EventInterrupted
	// (possibly without running application code). Spurious
	// EventInterrupted returns are allowed.
	Interrupt()
	// FPState returns the thread's floating point state in XSAVE layout (the
	// 512-byte FXSAVE legacy area first).
	FPState() ([]byte, error)
	// SetFPState replaces the thread's floating point state.
	SetFPState(fp []byte) error
	// ResetFPState sets the floating point state to its initial value, as
	// execve does.
	ResetFPState() error
	// Release frees the context's resources.
	Release()
}

// Idler is implemented by Contexts that want to know when their task goes
// to sleep in the kernel (systrap: a stub thread spinning for its reply
// stops, and leaves its CPU to others).
type Idler interface {
	// Idle is called by the task goroutine before it sleeps; the next
	// Switch is likely far off.
	Idle()
}
