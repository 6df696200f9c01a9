package devpts

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// termiosSize is sizeof(struct termios) in the kernel ABI (TCGETS).
const termiosSize = 36

// Terminal is one pseudo-terminal: a master, a slave, and the line
// discipline between them.
type Terminal struct {
	fs    *Filesystem
	index uint32
	ino   uint64
	ts    unix.StatxTimestamp

	// queue holds the waiters of both ends; notified after mu is released.
	queue waiter.Queue

	mu sync.Mutex
	ld lineDiscipline
	// winsize is the window size (TIOCGWINSZ/TIOCSWINSZ).
	winsize unix.Winsize
	// locked is set until the master unlocks the slave (TIOCSPTLCK 0).
	locked bool
	// masters and slaves count the open files of each end.
	masters, slaves int
	// slaveClosed is set once the last slave file has been closed (the
	// master then reads EIO when the output is drained).
	slaveClosed bool
	// hungUp is set once the master is gone: slave reads return 0, writes
	// EIO.
	hungUp bool
	// Job control: the controlling session (0: none), its kernel, the
	// foreground process group, and whether the first session leader to
	// use the slave acquires it (a terminal handed to a process outside
	// any open(2), as runsc does for a container's terminal).
	k           *kernel.Kernel
	sid         int32
	fgPgrp      int32
	autoAcquire bool
	// sizeSource, if set, gives the current window size of the host
	// terminal this one is relayed to; TIOCGWINSZ asks it first.
	sizeSource func() (unix.Winsize, bool)
}

func newTerminal(fs *Filesystem, index uint32) *Terminal {
	now := time.Now()
	t := &Terminal{fs: fs, index: index, ino: nextIno(), locked: true,
		ts: unix.StatxTimestamp{Sec: now.Unix(), Nsec: uint32(now.Nanosecond())}}
	t.ld.init()
	return t
}

// Index is the terminal's number N (/dev/pts/N).
func (t *Terminal) Index() uint32 { return t.index }

// AcquireOnFirstUse makes the first session leader without a controlling
// terminal that reads, writes or queries the slave take it as its
// controlling terminal, in the foreground. runsc uses it for a
// container's terminal, which its first process gets as stdio without
// opening it.
func (t *Terminal) AcquireOnFirstUse() {
	t.mu.Lock()
	t.autoAcquire = true
	t.mu.Unlock()
}

// SetWindowSizeSource makes TIOCGWINSZ first take the window size from
// src (the host terminal of a relay), so that a size set on the host
// terminal is seen at once, not at the relay's next poll.
func (t *Terminal) SetWindowSizeSource(src func() (unix.Winsize, bool)) {
	t.mu.Lock()
	t.sizeSource = src
	t.mu.Unlock()
}

// SetWindowSize sets the window size and, if it changed, sends SIGWINCH
// to the foreground process group (as TIOCSWINSZ does).
func (t *Terminal) SetWindowSize(ws unix.Winsize) {
	t.mu.Lock()
	changed := ws != t.winsize
	t.winsize = ws
	k, pg := t.k, t.fgPgrp
	t.mu.Unlock()
	if changed {
		signalGroup(k, pg, unix.SIGWINCH)
	}
}

func (t *Terminal) openMaster() *masterFile {
	t.mu.Lock()
	t.masters++
	t.mu.Unlock()
	return &masterFile{t: t}
}

// openSlave opens the slave; force skips the lock check.
func (t *Terminal) openSlave(force bool) (*slaveFile, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.locked && !force {
		return nil, unix.EIO
	}
	if t.hungUp {
		return nil, unix.EIO
	}
	t.slaves++
	t.slaveClosed = false
	return &slaveFile{t: t}, nil
}

func (t *Terminal) closeEnd(master bool) {
	t.mu.Lock()
	if master {
		t.masters--
		if t.masters == 0 {
			t.hungUp = true
		}
	} else {
		t.slaves--
		if t.slaves == 0 {
			t.slaveClosed = true
		}
	}
	gone := t.masters == 0 && t.slaves == 0
	hangup := master && t.masters == 0
	k, sid, pg := t.k, t.sid, t.fgPgrp
	if hangup {
		t.releaseSessionLocked()
	}
	t.mu.Unlock()
	if hangup {
		// The master is gone: the controlling session hangs up.
		signalGroup(k, pg, unix.SIGHUP)
		signalGroup(k, pg, unix.SIGCONT)
		if sid != pg {
			signalProcess(k, sid, unix.SIGHUP)
		}
	}
	t.queue.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp)
	if gone {
		t.fs.release(t)
	}
}

// Hangup closes the terminal as if its master were closed (the host end
// of a relayed terminal went away).
func (t *Terminal) Hangup() {
	t.mu.Lock()
	if t.hungUp {
		t.mu.Unlock()
		return
	}
	t.hungUp = true
	k, sid, pg := t.k, t.sid, t.fgPgrp
	t.releaseSessionLocked()
	t.mu.Unlock()
	signalGroup(k, pg, unix.SIGHUP)
	signalGroup(k, pg, unix.SIGCONT)
	if sid != pg {
		signalProcess(k, sid, unix.SIGHUP)
	}
	t.queue.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp)
}

func (t *Terminal) stat() unix.Statx_t {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFCHR | 0o620, Nlink: 1, Ino: t.ino,
		Rdev_major: slaveMajor, Rdev_minor: t.index, Blksize: 1024, Atime: t.ts, Mtime: t.ts, Ctime: t.ts}
}

// wait blocks until ready() (called with mu held) is true, for a file
// opened with flags; it returns EAGAIN for a non-blocking file and
// ERESTARTSYS when ctx is interrupted. mu is held on return.
func (t *Terminal) wait(ctx vfs.Context, nonblock bool, mask waiter.EventMask, ready func() bool) error {
	if ready() {
		return nil
	}
	if nonblock {
		return unix.EAGAIN
	}
	entry, sleep := waiter.EntryFor(ctx, mask|waiter.AlwaysReported)
	t.queue.EventRegister(entry)
	defer t.queue.EventUnregister(entry)
	for !ready() {
		t.mu.Unlock()
		err := sleep.Restartable()
		t.mu.Lock()
		if err != nil {
			return err
		}
	}
	return nil
}

// masterFile is an open master (/dev/ptmx).
type masterFile struct {
	vfs.FileDefaults
	end
	t *Terminal
}

var (
	_ vfs.FileImpl    = (*masterFile)(nil)
	_ waiter.Waitable = (*masterFile)(nil)
	_ vfs.FileImpl    = (*slaveFile)(nil)
	_ waiter.Waitable = (*slaveFile)(nil)
)

// Release implements vfs.FileImpl.
func (m *masterFile) Release() { m.t.closeEnd(true) }

// Seekable implements vfs.FileImpl.
func (m *masterFile) Seekable() bool { return false }

// Stat returns the ptmx device's attributes.
func (m *masterFile) Stat(ctx vfs.Context) (unix.Statx_t, error) { return m.t.fs.ptmx.Stat(ctx) }

// StatFile implements vfs.FileStater.
func (m *masterFile) StatFile(ctx vfs.Context) (unix.Statx_t, error) { return m.Stat(ctx) }

// Read implements vfs.FileImpl: the terminal's output (what the slave
// wrote, after output processing, and the echo of input).
func (m *masterFile) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	t := m.t
	t.mu.Lock()
	err := t.wait(ctx, m.nonblocking(), waiter.ReadableEvents, func() bool {
		return len(t.ld.out) > 0 || t.slaveClosed
	})
	if err != nil {
		t.mu.Unlock()
		return 0, err
	}
	if len(t.ld.out) == 0 {
		t.mu.Unlock()
		return 0, unix.EIO
	}
	n := copy(p, t.ld.out)
	t.ld.out = t.ld.out[n:]
	if len(t.ld.out) == 0 {
		t.ld.out = nil
	}
	t.mu.Unlock()
	t.queue.Notify(waiter.WritableEvents)
	return n, nil
}

// Write implements vfs.FileImpl: input typed at the terminal, through the
// line discipline.
func (m *masterFile) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	return m.t.Input(p), nil
}

// Input feeds p to the terminal as typed input (a master write) and
// returns how many bytes were taken (input beyond the queue's capacity is
// dropped, as Linux drops it).
func (t *Terminal) Input(p []byte) int {
	t.mu.Lock()
	sigs := t.ld.input(p)
	k, pg := t.k, t.fgPgrp
	t.mu.Unlock()
	for _, s := range sigs {
		signalGroup(k, pg, s)
	}
	t.queue.Notify(waiter.ReadableEvents)
	return len(p)
}

// ReadOutput blocks until the terminal has output (or the slave side is
// closed: io.EOF-like unix.EIO, or stop is closed: nil, 0) and returns it.
func (t *Terminal) ReadOutput(p []byte, stop <-chan struct{}) (int, error) {
	return (&masterFile{t: t}).Read(stopContext(stop), p, 0)
}

// Readiness implements waiter.Waitable.
func (m *masterFile) Readiness(mask waiter.EventMask) waiter.EventMask {
	t := m.t
	t.mu.Lock()
	defer t.mu.Unlock()
	var r waiter.EventMask
	if len(t.ld.out) > 0 {
		r |= waiter.ReadableEvents
	}
	if t.slaveClosed {
		r |= waiter.EventHUp
	}
	r |= waiter.WritableEvents
	return r & (mask | waiter.AlwaysReported)
}

// EventRegister implements waiter.Waitable.
func (m *masterFile) EventRegister(e *waiter.Entry) { m.t.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (m *masterFile) EventUnregister(e *waiter.Entry) { m.t.queue.EventUnregister(e) }

// Ioctl implements vfs.FileImpl.
func (m *masterFile) Ioctl(ctx vfs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	t := m.t
	switch cmd {
	case unix.TIOCGPTN:
		return 0, copyOutU32(ctx, arg, t.index)
	case unix.TIOCSPTLCK:
		v, err := copyInU32(ctx, arg)
		if err != nil {
			return 0, err
		}
		t.mu.Lock()
		t.locked = v != 0
		t.mu.Unlock()
		return 0, nil
	case unix.TIOCGPTLCK:
		t.mu.Lock()
		v := uint32(0)
		if t.locked {
			v = 1
		}
		t.mu.Unlock()
		return 0, copyOutU32(ctx, arg, v)
	case unix.TIOCINQ:
		t.mu.Lock()
		n := uint32(len(t.ld.out))
		t.mu.Unlock()
		return 0, copyOutU32(ctx, arg, n)
	case unix.TIOCOUTQ:
		return 0, copyOutU32(ctx, arg, 0)
	case unix.TIOCSCTTY, unix.TIOCNOTTY, unix.TIOCGPGRP, unix.TIOCSPGRP, unix.TIOCGSID:
		// The master refers to the same terminal for job control.
		return t.jobIoctl(ctx, cmd, arg, true)
	}
	return t.commonIoctl(ctx, cmd, arg, true)
}

// slaveFile is an open slave (/dev/pts/N).
type slaveFile struct {
	vfs.FileDefaults
	end
	t *Terminal
}

// Release implements vfs.FileImpl.
func (s *slaveFile) Release() { s.t.closeEnd(false) }

// Seekable implements vfs.FileImpl.
func (s *slaveFile) Seekable() bool { return false }

// Stat returns the slave device's attributes.
func (s *slaveFile) Stat(vfs.Context) (unix.Statx_t, error) { return s.t.stat(), nil }

// StatFile implements vfs.FileStater.
func (s *slaveFile) StatFile(vfs.Context) (unix.Statx_t, error) { return s.t.stat(), nil }

// Read implements vfs.FileImpl: input from the line discipline; a
// background process group gets SIGTTIN.
func (s *slaveFile) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	t := s.t
	if err := t.checkBackground(ctx, unix.SIGTTIN); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	t.mu.Lock()
	if !t.ld.canonical() && t.ld.vmin() == 0 {
		n := t.ld.read(p)
		t.mu.Unlock()
		return n, nil
	}
	err := t.wait(ctx, s.nonblocking(), waiter.ReadableEvents, func() bool {
		return t.ld.readable() || t.hungUp
	})
	if err != nil {
		t.mu.Unlock()
		return 0, err
	}
	n := t.ld.read(p)
	t.mu.Unlock()
	return n, nil
}

// Write implements vfs.FileImpl: output through output processing; a
// background process group gets SIGTTOU when TOSTOP is set.
func (s *slaveFile) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	t := s.t
	t.mu.Lock()
	tostop := t.ld.termios.Lflag&unix.TOSTOP != 0
	t.mu.Unlock()
	if tostop {
		if err := t.checkBackground(ctx, unix.SIGTTOU); err != nil {
			return 0, err
		}
	}
	t.mu.Lock()
	if t.hungUp {
		t.mu.Unlock()
		return 0, unix.EIO
	}
	t.ld.output(p)
	t.mu.Unlock()
	t.queue.Notify(waiter.ReadableEvents)
	return len(p), nil
}

// Readiness implements waiter.Waitable.
func (s *slaveFile) Readiness(mask waiter.EventMask) waiter.EventMask {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	var r waiter.EventMask
	if t.ld.readable() {
		r |= waiter.ReadableEvents
	}
	if t.hungUp {
		r |= waiter.EventHUp | waiter.ReadableEvents
	} else {
		r |= waiter.WritableEvents
	}
	return r & (mask | waiter.AlwaysReported)
}

// EventRegister implements waiter.Waitable.
func (s *slaveFile) EventRegister(e *waiter.Entry) { s.t.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (s *slaveFile) EventUnregister(e *waiter.Entry) { s.t.queue.EventUnregister(e) }

// Ioctl implements vfs.FileImpl.
func (s *slaveFile) Ioctl(ctx vfs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	t := s.t
	switch cmd {
	case unix.TIOCSCTTY, unix.TIOCNOTTY, unix.TIOCGPGRP, unix.TIOCSPGRP, unix.TIOCGSID:
		return t.jobIoctl(ctx, cmd, arg, false)
	case unix.TIOCINQ:
		t.mu.Lock()
		n := uint32(t.ld.available())
		t.mu.Unlock()
		return 0, copyOutU32(ctx, arg, n)
	case unix.TIOCOUTQ:
		t.mu.Lock()
		n := uint32(len(t.ld.out))
		t.mu.Unlock()
		return 0, copyOutU32(ctx, arg, n)
	case unix.TIOCGPTN:
		return 0, unix.ENOTTY
	}
	return t.commonIoctl(ctx, cmd, arg, false)
}

// commonIoctl handles what both ends answer alike: termios, window size,
// flushing.
func (t *Terminal) commonIoctl(ctx vfs.Context, cmd uint32, arg uintptr, master bool) (uintptr, error) {
	switch cmd {
	case unix.TCGETS:
		t.mu.Lock()
		tio := t.ld.termios
		t.mu.Unlock()
		_, err := ctx.CopyOut(arg, unsafe.Slice((*byte)(unsafe.Pointer(&tio)), termiosSize))
		return 0, err
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF:
		if !master {
			if err := t.checkBackground(ctx, unix.SIGTTOU); err != nil {
				return 0, err
			}
		}
		var tio unix.Termios
		if _, err := ctx.CopyIn(arg, unsafe.Slice((*byte)(unsafe.Pointer(&tio)), termiosSize)); err != nil {
			return 0, err
		}
		t.mu.Lock()
		if cmd == unix.TCSETSF {
			t.ld.flushInput()
		}
		t.ld.setTermios(tio)
		t.mu.Unlock()
		t.queue.Notify(waiter.ReadableEvents)
		return 0, nil
	case unix.TIOCGWINSZ:
		t.mu.Lock()
		src := t.sizeSource
		t.mu.Unlock()
		if src != nil {
			if ws, ok := src(); ok {
				t.SetWindowSize(ws)
			}
		}
		t.mu.Lock()
		ws := t.winsize
		t.mu.Unlock()
		_, err := ctx.CopyOut(arg, unsafe.Slice((*byte)(unsafe.Pointer(&ws)), unsafe.Sizeof(ws)))
		return 0, err
	case unix.TIOCSWINSZ:
		var ws unix.Winsize
		if _, err := ctx.CopyIn(arg, unsafe.Slice((*byte)(unsafe.Pointer(&ws)), unsafe.Sizeof(ws))); err != nil {
			return 0, err
		}
		t.SetWindowSize(ws)
		return 0, nil
	case unix.TCFLSH:
		t.mu.Lock()
		switch arg {
		case unix.TCIFLUSH:
			t.ld.flushInput()
		case unix.TCOFLUSH:
			t.ld.out = nil
		case unix.TCIOFLUSH:
			t.ld.flushInput()
			t.ld.out = nil
		default:
			t.mu.Unlock()
			return 0, unix.EINVAL
		}
		t.mu.Unlock()
		t.queue.Notify(waiter.WritableEvents)
		return 0, nil
	case unix.TCSBRK, unix.TCXONC:
		// tcdrain (output is never held back) and flow control: nothing to
		// do.
		return 0, nil
	case unix.TIOCGETD:
		return 0, copyOutU32(ctx, arg, 0) // N_TTY
	}
	return 0, unix.ENOTTY
}

func copyOutU32(ctx vfs.Context, addr uintptr, v uint32) error {
	_, err := ctx.CopyOut(addr, unsafe.Slice((*byte)(unsafe.Pointer(&v)), 4))
	return err
}

func copyInU32(ctx vfs.Context, addr uintptr) (uint32, error) {
	var v uint32
	_, err := ctx.CopyIn(addr, unsafe.Slice((*byte)(unsafe.Pointer(&v)), 4))
	return v, err
}

// end is what both ends share: the file description they are bound to,
// whose status flags (O_NONBLOCK) they follow.
type end struct {
	fd atomic.Pointer[vfs.FileDescription]
}

// Bind is called by vfs with the file's description.
func (e *end) Bind(fd *vfs.FileDescription) { e.fd.Store(fd) }

func (e *end) nonblocking() bool {
	fd := e.fd.Load()
	return fd != nil && fd.Flags()&unix.O_NONBLOCK != 0
}

// stopContext is the vfs.Context of the Sentry's own use of a terminal
// (the relay to a host terminal): never a task, interrupted by stop.
type stopContext <-chan struct{}

func (c stopContext) Credentials() *auth.Credentials       { return nil }
func (c stopContext) CopyIn(uintptr, []byte) (int, error)  { return 0, unix.EFAULT }
func (c stopContext) CopyOut(uintptr, []byte) (int, error) { return 0, unix.EFAULT }
func (c stopContext) Interrupted() <-chan struct{}         { return c }
