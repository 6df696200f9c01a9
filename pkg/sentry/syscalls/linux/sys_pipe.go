package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/pipe"
	"bufferzone.dev/pkg/sentry/kernel"
)

func pipe2(t *kernel.Task, addr uintptr, flags uint32) (uintptr, error) {
	if flags&^(unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_DIRECT) != 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.O_DIRECT != 0 {
		// Packet-mode pipes are not supported yet.
		return 0, unix.EINVAL
	}
	r, w := pipe.NewPipe(t, 0, flags)
	defer r.DecRef()
	defer w.DecRef()
	cloexec := flags&unix.O_CLOEXEC != 0
	rfd, err := t.NewFD(r, cloexec)
	if err != nil {
		return 0, err
	}
	wfd, err := t.NewFD(w, cloexec)
	if err != nil {
		t.FDTable().Remove(rfd)
		return 0, err
	}
	fds := [2]int32{rfd, wfd}
	if err := copyOutObj(t, addr, &fds); err != nil {
		t.FDTable().Remove(rfd)
		t.FDTable().Remove(wfd)
		return 0, err
	}
	return 0, nil
}

// Pipe implements pipe(2).
func Pipe(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) { return pipe2(t, a[0], 0) }

// Pipe2 implements pipe2(2).
func Pipe2(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return pipe2(t, a[0], argUint(a[1]))
}
