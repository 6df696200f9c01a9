package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/signalfd"
	"bufferzone.dev/pkg/sentry/kernel"
)

// signalfd4 implements signalfd4(2) and, with flags 0, signalfd(2): fd -1
// creates a signalfd, another fd must be a signalfd whose mask is replaced.
func signalfd4(t *kernel.Task, fd int32, maskAddr, size uintptr, flags int32) (uintptr, error) {
	if flags&^(signalfd.SFD_NONBLOCK|signalfd.SFD_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	if size != sigsetSize {
		return 0, unix.EINVAL
	}
	var mask uint64
	if err := copyInObj(t, maskAddr, &mask); err != nil {
		return 0, err
	}
	if fd != -1 {
		f, err := t.GetFile(fd)
		if err != nil {
			return 0, err
		}
		defer f.DecRef()
		s, ok := signalfd.FromFile(f)
		if !ok {
			return 0, unix.EINVAL
		}
		s.SetMask(mask)
		return uintptr(fd), nil
	}
	f := signalfd.New(t, mask, uint32(flags))
	defer f.DecRef()
	nfd, err := t.NewFD(f, flags&signalfd.SFD_CLOEXEC != 0)
	return uintptr(nfd), err
}

// Signalfd implements signalfd(2).
func Signalfd(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return signalfd4(t, argFD(a[0]), a[1], a[2], 0)
}

// Signalfd4 implements signalfd4(2).
func Signalfd4(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return signalfd4(t, argFD(a[0]), a[1], a[2], argInt(a[3]))
}
