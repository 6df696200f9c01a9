package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/eventfd"
	"bufferzone.dev/pkg/sentry/kernel"
)

// eventfd2 implements eventfd2(2) and, with flags 0, eventfd(2).
func eventfd2(t *kernel.Task, initval uint32, flags int32) (uintptr, error) {
	if flags&^(eventfd.EFD_SEMAPHORE|eventfd.EFD_CLOEXEC|eventfd.EFD_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	f := eventfd.New(uint64(initval), uint32(flags))
	defer f.DecRef()
	fd, err := t.NewFD(f, flags&eventfd.EFD_CLOEXEC != 0)
	return uintptr(fd), err
}

// Eventfd implements eventfd(2).
func Eventfd(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return eventfd2(t, argUint(a[0]), 0)
}

// Eventfd2 implements eventfd2(2).
func Eventfd2(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return eventfd2(t, argUint(a[0]), argInt(a[1]))
}
