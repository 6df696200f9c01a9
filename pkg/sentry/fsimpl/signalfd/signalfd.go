// Package signalfd owns signal file descriptors as signalfd(2) describes
// them: reading one dequeues the reading task's pending signals that are in
// the file's mask (its own first, then its process's) as 128-byte struct
// signalfd_siginfo records, instead of delivering them.
//
// Readiness (poll, epoll) is that of the task that created the file:
// Waitable carries no caller, so a signalfd polled from another task (say,
// after fork) reports its creator's signals, whereas Linux reports the
// poller's. Reads always use the reading task, as in Linux.
//
// Lock order: SignalFD.mu is a leaf (it guards only the mask); the kernel's
// signal locks are taken without it.
package signalfd

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// InfoSize is sizeof(struct signalfd_siginfo).
const InfoSize = 128

// Flags of signalfd4(2).
const (
	SFD_CLOEXEC  = unix.O_CLOEXEC
	SFD_NONBLOCK = unix.O_NONBLOCK
)

// unblockable are SIGKILL and SIGSTOP, which a signalfd mask silently
// drops.
const unblockable = 1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)

// SignalFD is a signalfd's state. It implements vfs.FileImpl and
// waiter.Waitable.
type SignalFD struct {
	vfs.FileDefaults

	owner *kernel.Task
	fd    atomic.Pointer[vfs.FileDescription]

	mu   sync.Mutex
	mask uint64
}

var (
	_ vfs.FileImpl    = (*SignalFD)(nil)
	_ waiter.Waitable = (*SignalFD)(nil)
)

// New returns a signalfd for mask created by owner, as an open file
// description with one reference; flags may hold O_NONBLOCK.
func New(owner *kernel.Task, mask uint64, flags uint32) *vfs.FileDescription {
	s := &SignalFD{owner: owner, mask: mask &^ unblockable}
	fd := vfs.NewFileDescription(s, vfs.VirtualDentry{}, unix.O_RDWR|flags&unix.O_NONBLOCK)
	s.fd.Store(fd)
	return fd
}

// FromFile returns the signalfd behind f, if f is one.
func FromFile(f *vfs.FileDescription) (*SignalFD, bool) {
	s, ok := f.Impl().(*SignalFD)
	return s, ok
}

// SetMask replaces the mask (signalfd on an existing fd).
func (s *SignalFD) SetMask(mask uint64) {
	s.mu.Lock()
	s.mask = mask &^ unblockable
	s.mu.Unlock()
	// A signal already pending in the new mask makes the file readable.
	s.owner.SignalQueue().Notify(waiter.EventIn)
}

// Mask returns the mask.
func (s *SignalFD) Mask() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mask
}

// Seekable implements vfs.FileImpl.
func (s *SignalFD) Seekable() bool { return false }

// Stat reports an anonymous inode.
func (s *SignalFD) Stat(vfs.Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: 0o600, Nlink: 1, Blksize: 4096}, nil
}

// Write implements vfs.FileImpl: signalfds are not writable.
func (s *SignalFD) Write(vfs.Context, []byte, int64) (int, error) { return 0, unix.EINVAL }

// Read implements read(2): it fills p with as many signalfd_siginfo records
// as fit and are pending for the reading task, blocking for the first one
// unless the file is non-blocking. p must hold at least one record.
func (s *SignalFD) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	if len(p) < InfoSize {
		return 0, unix.EINVAL
	}
	t, ok := ctx.(*kernel.Task)
	if !ok {
		return 0, unix.EINVAL
	}
	n := 0
	for n+InfoSize <= len(p) {
		info, ok := t.DequeueSignalIn(s.Mask())
		if !ok {
			break
		}
		encode(p[n:n+InfoSize], &info)
		n += InfoSize
	}
	if n > 0 {
		return n, nil
	}
	if s.fd.Load().Flags()&unix.O_NONBLOCK != 0 {
		return 0, unix.EAGAIN
	}
	entry, sleep := waiter.EntryFor(t, waiter.EventIn)
	t.SignalQueue().EventRegister(entry)
	defer t.SignalQueue().EventUnregister(entry)
	for {
		if info, ok := t.DequeueSignalIn(s.Mask()); ok {
			encode(p[:InfoSize], &info)
			return InfoSize, nil
		}
		if err := sleep.Restartable(); err != nil {
			return 0, err
		}
	}
}

// Readiness implements waiter.Waitable: readable while the creator has a
// signal in the mask pending.
func (s *SignalFD) Readiness(mask waiter.EventMask) waiter.EventMask {
	if s.owner.PendingIn(s.Mask()) {
		return mask & waiter.ReadableEvents
	}
	return 0
}

// EventRegister implements waiter.Waitable.
func (s *SignalFD) EventRegister(e *waiter.Entry) { s.owner.SignalQueue().EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (s *SignalFD) EventUnregister(e *waiter.Entry) { s.owner.SignalQueue().EventUnregister(e) }

// Offsets in struct signalfd_siginfo.
const (
	offSigno   = 0
	offErrno   = 4
	offCode    = 8
	offPID     = 12
	offUID     = 16
	offFD      = 20
	offTID     = 24
	offBand    = 28
	offOverrun = 32
	offTrapno  = 36
	offStatus  = 40
	offInt     = 44
	offPtr     = 48
	offUtime   = 56
	offStime   = 64
	offAddr    = 72
)

// encode writes info as a signalfd_siginfo into b (InfoSize bytes), filling
// the fields that the siginfo's layout carries, as Linux's
// signalfd_copyinfo does.
func encode(b []byte, info *kernel.SignalInfo) {
	clear(b)
	le := binary.LittleEndian
	le.PutUint32(b[offSigno:], uint32(info.Signo))
	le.PutUint32(b[offErrno:], uint32(info.Errno))
	le.PutUint32(b[offCode:], uint32(info.Code))
	f := info.Fields[:]
	sig := unix.Signal(info.Signo)
	switch {
	case info.Code > 0 && info.Code < kernel.SIKernel && (sig == unix.SIGSEGV || sig == unix.SIGBUS || sig == unix.SIGILL || sig == unix.SIGFPE || sig == unix.SIGTRAP):
		le.PutUint64(b[offAddr:], le.Uint64(f[0:]))
	case info.Code > 0 && info.Code < kernel.SIKernel && sig == unix.SIGCHLD:
		le.PutUint32(b[offPID:], le.Uint32(f[0:]))
		le.PutUint32(b[offUID:], le.Uint32(f[4:]))
		le.PutUint32(b[offStatus:], le.Uint32(f[8:]))
		le.PutUint64(b[offUtime:], le.Uint64(f[16:]))
		le.PutUint64(b[offStime:], le.Uint64(f[24:]))
	case info.Code > 0 && info.Code < kernel.SIKernel && (sig == unix.SIGIO):
		le.PutUint32(b[offBand:], le.Uint32(f[0:]))
		le.PutUint32(b[offFD:], le.Uint32(f[8:]))
	case info.Code == kernel.SITimer:
		le.PutUint32(b[offTID:], le.Uint32(f[0:]))
		le.PutUint32(b[offOverrun:], le.Uint32(f[4:]))
		le.PutUint32(b[offInt:], le.Uint32(f[8:]))
		le.PutUint64(b[offPtr:], le.Uint64(f[8:]))
	case info.Code < 0:
		// SI_QUEUE, SI_TKILL, ...: pid, uid and the value.
		le.PutUint32(b[offPID:], le.Uint32(f[0:]))
		le.PutUint32(b[offUID:], le.Uint32(f[4:]))
		le.PutUint32(b[offInt:], le.Uint32(f[8:]))
		le.PutUint64(b[offPtr:], le.Uint64(f[8:]))
	default:
		// SI_USER, SI_KERNEL: pid and uid.
		le.PutUint32(b[offPID:], le.Uint32(f[0:]))
		le.PutUint32(b[offUID:], le.Uint32(f[4:]))
	}
}
