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
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

// File is an open host FD.
type File struct {
	vfs.FileDefaults
	fd *os.File
}

// New wraps fd, which the file now owns, as an open file description with
// the given access mode flags.
func New(fd *os.File, flags uint32) *vfs.FileDescription {
	return vfs.NewFileDescription(&File{fd: fd}, vfs.VirtualDentry{}, flags)
}

// Release implements vfs.FileImpl.
func (f *File) Release() { f.fd.Close() }

// Seekable implements vfs.FileImpl.
func (f *File) Seekable() bool { return false }

// Read implements vfs.FileImpl.
func (f *File) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
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
