// Package host wraps host file descriptors given to the sandbox (the
// caller's stdin, stdout and stderr) as open files of the Sentry. Reads and
// writes go to the host FD; terminal ioctls are forwarded with their
// arguments copied through the Sentry.
//
// The files are streams to the application: their offset is the host's
// (so a sandbox writing to a redirected stdout appends where its caller
// expects), and lseek fails with ESPIPE.
package host

import (
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// File is an open host FD. It implements vfs.FileImpl and waiter.Waitable.
type File struct {
	vfs.FileDefaults
	fd     *os.File
	hostFD int
	// pollable is false for regular files and directories.
	pollable bool
	// desc is the file description, for its O_NONBLOCK flag.
	desc atomic.Pointer[vfs.FileDescription]

	// queue holds the file's waiters; the host poller notifies it.
	queue waiter.Queue

	mu sync.Mutex
	// pollID is the file's host poller registration (0: none yet).
	pollID uint64
	// released is set once Release has run.
	released bool
}

var (
	_ vfs.FileImpl    = (*File)(nil)
	_ waiter.Waitable = (*File)(nil)
)

// New wraps fd, which the file now owns, as an open file description with
// the given access mode flags.
func New(fd *os.File, flags uint32) *vfs.FileDescription {
	f := &File{fd: fd, hostFD: int(fd.Fd()), pollable: true}
	var st unix.Stat_t
	if err := unix.Fstat(f.hostFD, &st); err == nil {
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG, unix.S_IFDIR:
			f.pollable = false
		}
	}
	d := vfs.NewFileDescription(f, vfs.VirtualDentry{}, flags)
	f.desc.Store(d)
	return d
}

// Release implements vfs.FileImpl.
func (f *File) Release() {
	f.mu.Lock()
	f.released = true
	if f.pollID != 0 {
		hostPoller.unregister(f.pollID, f.hostFD)
		f.pollID = 0
	}
	f.mu.Unlock()
	f.fd.Close()
}

// Pollable reports whether the host can poll the file; epoll_ctl refuses
// files that it cannot, as Linux refuses regular files.
func (f *File) Pollable() bool { return f.pollable }

// Readiness implements waiter.Waitable by polling the host FD without
// blocking.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	if !f.pollable {
		return mask & (waiter.ReadableEvents | waiter.WritableEvents)
	}
	return PollFD(f.hostFD, mask)
}

// PollFD returns which of mask's events (and errors and hang-ups) hostFD
// has now, polling it without blocking.
func PollFD(hostFD int, mask waiter.EventMask) waiter.EventMask {
	pfd := []unix.PollFd{{Fd: int32(hostFD), Events: int16(mask | waiter.EventRdHUp)}}
	for {
		_, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return mask & waiter.EventErr
		}
		break
	}
	return waiter.EventMask(uint16(pfd[0].Revents)) & (mask | waiter.AlwaysReported)
}

// EventRegister implements waiter.Waitable; the first registration starts
// watching the host FD.
func (f *File) EventRegister(e *waiter.Entry) {
	f.queue.EventRegister(e)
	if !f.pollable {
		return
	}
	f.mu.Lock()
	if f.pollID == 0 && !f.released {
		if id, ok := hostPoller.register(&f.queue, f.hostFD); ok {
			f.pollID = id
		}
	}
	f.mu.Unlock()
}

// EventUnregister implements waiter.Waitable. The host registration stays
// until Release: it is cheap, and edge-triggered.
func (f *File) EventUnregister(e *waiter.Entry) { f.queue.EventUnregister(e) }

// waitReady blocks until the file has one of mask's events (or an error or
// hang-up), so that the blocking host call that follows returns promptly.
// It fails with EAGAIN for a non-blocking file that is not ready and with
// ERESTARTSYS when ctx is interrupted.
func (f *File) waitReady(ctx vfs.Context, mask waiter.EventMask) error {
	if !f.pollable {
		return nil
	}
	if f.Readiness(mask) != 0 {
		return nil
	}
	if d := f.desc.Load(); d != nil && d.Flags()&unix.O_NONBLOCK != 0 {
		return unix.EAGAIN
	}
	entry, sleep := waiter.EntryFor(ctx, mask|waiter.AlwaysReported)
	f.EventRegister(entry)
	defer f.EventUnregister(entry)
	for f.Readiness(mask) == 0 {
		if err := sleep.Restartable(); err != nil {
			return err
		}
	}
	return nil
}

// Seekable implements vfs.FileImpl.
func (f *File) Seekable() bool { return false }

// Read implements vfs.FileImpl.
func (f *File) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	if err := f.waitReady(ctx, waiter.ReadableEvents|waiter.EventRdHUp); err != nil {
		return 0, err
	}
	for {
		n, err := unix.Read(int(f.fd.Fd()), p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

// Write implements vfs.FileImpl.
func (f *File) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	done := 0
	for done < len(p) {
		if err := f.waitReady(ctx, waiter.WritableEvents); err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		n, err := unix.Write(int(f.fd.Fd()), p[done:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		done += n
	}
	return done, nil
}

// Stat returns the host file's attributes.
func (f *File) Stat(ctx vfs.Context) (unix.Statx_t, error) {
	var st unix.Statx_t
	err := unix.Statx(int(f.fd.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &st)
	return st, err
}

// termiosSize is sizeof(struct termios) of the kernel ABI (TCGETS).
const termiosSize = 36

// Ioctl implements vfs.FileImpl for the terminal ioctls programs use on
// their stdio.
func (f *File) Ioctl(ctx vfs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	hostFD := int(f.fd.Fd())
	switch cmd {
	case unix.TCGETS:
		t, err := unix.IoctlGetTermios(hostFD, unix.TCGETS)
		if err != nil {
			return 0, err
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(t)), termiosSize)
		if _, err := ctx.CopyOut(arg, b); err != nil {
			return 0, err
		}
		return 0, nil
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF:
		var t unix.Termios
		b := unsafe.Slice((*byte)(unsafe.Pointer(&t)), termiosSize)
		if _, err := ctx.CopyIn(arg, b); err != nil {
			return 0, err
		}
		return 0, unix.IoctlSetTermios(hostFD, uint(cmd), &t)
	case unix.TIOCGWINSZ:
		ws, err := unix.IoctlGetWinsize(hostFD, unix.TIOCGWINSZ)
		if err != nil {
			return 0, err
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(ws)), unsafe.Sizeof(*ws))
		_, err = ctx.CopyOut(arg, b)
		return 0, err
	case unix.TIOCSWINSZ:
		var ws unix.Winsize
		b := unsafe.Slice((*byte)(unsafe.Pointer(&ws)), unsafe.Sizeof(ws))
		if _, err := ctx.CopyIn(arg, b); err != nil {
			return 0, err
		}
		return 0, unix.IoctlSetWinsize(hostFD, unix.TIOCSWINSZ, &ws)
	case unix.TIOCINQ:
		n, err := unix.IoctlGetInt(hostFD, unix.TIOCINQ)
		if err != nil {
			return 0, err
		}
		v := int32(n)
		_, err = ctx.CopyOut(arg, unsafe.Slice((*byte)(unsafe.Pointer(&v)), 4))
		return 0, err
	}
	return 0, unix.ENOTTY
}
