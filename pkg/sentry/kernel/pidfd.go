package kernel

// A pidfd (pidfd_open(2)) is an anonymous file that refers to a process,
// whatever PID the process has or will have: it stays tied to the same
// ThreadGroup after the process exits and is reaped, so signalling or
// waiting through it never reaches a later process that reuses the PID.
//
// Lock order: Kernel.treeMu > ThreadGroup.mu; ThreadGroup.exitQueue is
// notified after treeMu is released.

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// PIDFD is the file implementation of a pidfd. It implements vfs.FileImpl
// and waiter.Waitable: it is readable (EPOLLIN) once every thread of the
// process has exited, and stays so.
type PIDFD struct {
	vfs.FileDefaults
	tg *ThreadGroup
}

var (
	_ vfs.FileImpl    = (*PIDFD)(nil)
	_ waiter.Waitable = (*PIDFD)(nil)
)

// NewPIDFD returns a pidfd for tg as an open file description with one
// reference; flags may hold O_NONBLOCK (PIDFD_NONBLOCK).
func NewPIDFD(tg *ThreadGroup, flags uint32) *vfs.FileDescription {
	return vfs.NewFileDescription(&PIDFD{tg: tg}, vfs.VirtualDentry{}, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// ThreadGroup returns the process the pidfd refers to.
func (p *PIDFD) ThreadGroup() *ThreadGroup { return p.tg }

// Seekable implements vfs.FileImpl: lseek fails with ESPIPE.
func (p *PIDFD) Seekable() bool { return false }

// Stat reports an anonymous inode.
func (p *PIDFD) Stat(vfs.Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: 0o600, Nlink: 1, Blksize: 4096}, nil
}

// AnonInodeName names the file in /proc/[pid]/fd ("anon_inode:[pidfd]").
func (p *PIDFD) AnonInodeName() string { return "[pidfd]" }

// Readiness implements waiter.Waitable.
func (p *PIDFD) Readiness(mask waiter.EventMask) waiter.EventMask {
	if p.tg.Exited() {
		return mask & waiter.ReadableEvents
	}
	return 0
}

// EventRegister implements waiter.Waitable.
func (p *PIDFD) EventRegister(e *waiter.Entry) { p.tg.exitQueue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (p *PIDFD) EventUnregister(e *waiter.Entry) { p.tg.exitQueue.EventUnregister(e) }

// Exited reports whether every thread of tg has exited (tg is a zombie or
// has been reaped).
func (tg *ThreadGroup) Exited() bool {
	select {
	case <-tg.exited:
		return true
	default:
		return false
	}
}

// Reaped reports whether tg has been waited for (or reaped automatically):
// it no longer exists and its PID may belong to another process.
func (tg *ThreadGroup) Reaped() bool {
	tg.k.treeMu.Lock()
	defer tg.k.treeMu.Unlock()
	return tg.reaped
}
