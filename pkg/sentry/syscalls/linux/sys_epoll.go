package linux

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/epoll"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/waiter"
)

// epollEventSize is sizeof(struct epoll_event) on x86-64, where it is
// packed: a uint32 of events and a uint64 of data.
const epollEventSize = 12

// newEpoll installs a new epoll instance.
func newEpoll(t *kernel.Task, cloexec bool) (uintptr, error) {
	f := epoll.New()
	defer f.DecRef()
	fd, err := t.NewFD(f, cloexec)
	return uintptr(fd), err
}

// EpollCreate implements epoll_create(2): size only has to be positive.
func EpollCreate(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if argInt(a[0]) <= 0 {
		return 0, unix.EINVAL
	}
	return newEpoll(t, false)
}

// EpollCreate1 implements epoll_create1(2).
func EpollCreate1(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	flags := argInt(a[0])
	if flags&^unix.EPOLL_CLOEXEC != 0 {
		return 0, unix.EINVAL
	}
	return newEpoll(t, flags&unix.EPOLL_CLOEXEC != 0)
}

// EpollCtl implements epoll_ctl(2).
func EpollCtl(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	epfd, op, fd, evAddr := argFD(a[0]), argInt(a[1]), argFD(a[2]), a[3]
	var events uint32
	var data uint64
	if op != unix.EPOLL_CTL_DEL {
		var b [epollEventSize]byte
		if err := copyInObj(t, evAddr, &b); err != nil {
			return 0, unix.EFAULT
		}
		events = binary.LittleEndian.Uint32(b[0:])
		data = binary.LittleEndian.Uint64(b[4:])
	}
	epf, err := t.GetFile(epfd)
	if err != nil {
		return 0, err
	}
	defer epf.DecRef()
	target, err := t.GetFile(fd)
	if err != nil {
		return 0, err
	}
	defer target.DecRef()
	if _, ok := epoll.Pollable(target); !ok {
		return 0, unix.EPERM
	}
	ep, ok := epoll.FromFile(epf)
	if !ok || epf == target {
		return 0, unix.EINVAL
	}
	switch op {
	case unix.EPOLL_CTL_ADD:
		return 0, ep.Add(target, fd, events, data)
	case unix.EPOLL_CTL_MOD:
		return 0, ep.Modify(target, fd, events, data)
	case unix.EPOLL_CTL_DEL:
		return 0, ep.Delete(target, fd)
	}
	return 0, unix.EINVAL
}

// epollWait implements the epoll_wait family once the timeout is decoded.
// It fails with EINTR when a signal interrupts it (epoll_wait is never
// restarted after a handler, see signal(7)); a wake-up with no signal
// behind it restarts the call transparently.
func epollWait(t *kernel.Task, epfd int32, evAddr uintptr, maxEvents int32, dl deadline) (uintptr, error) {
	if maxEvents <= 0 || maxEvents > epoll.MaxEvents {
		return 0, unix.EINVAL
	}
	f, err := t.GetFile(epfd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	ep, ok := epoll.FromFile(f)
	if !ok {
		return 0, unix.EINVAL
	}
	var evs []epoll.Event
	_, err = waitUntil(t, []waiter.Waitable{ep}, dl, func() int {
		evs = ep.Collect(int(maxEvents))
		return len(evs)
	})
	if err == errWaitInterrupted {
		if signalDeliverable(t) {
			return 0, unix.EINTR
		}
		return 0, kernel.ERESTARTNOHAND
	}
	if len(evs) == 0 {
		return 0, nil
	}
	b := make([]byte, len(evs)*epollEventSize)
	for i, ev := range evs {
		binary.LittleEndian.PutUint32(b[i*epollEventSize:], ev.Events)
		binary.LittleEndian.PutUint64(b[i*epollEventSize+4:], ev.Data)
	}
	if n, _ := t.CopyOut(evAddr, b); n != len(b) {
		// Linux reports what it copied before the fault, or EFAULT.
		if n >= epollEventSize {
			return uintptr(n / epollEventSize), nil
		}
		return 0, unix.EFAULT
	}
	return uintptr(len(evs)), nil
}

// msTimeout converts a millisecond timeout (negative: none).
func msTimeout(ms int32) deadline {
	if ms < 0 {
		return deadline{}
	}
	return after(time.Duration(ms) * time.Millisecond)
}

// EpollWait implements epoll_wait(2).
func EpollWait(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return epollWait(t, argFD(a[0]), a[1], argInt(a[2]), msTimeout(argInt(a[3])))
}

// EpollPwait implements epoll_pwait(2).
func EpollPwait(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	done, err := tempSignalMask(t, a[4], a[5])
	if err != nil {
		return 0, err
	}
	n, err := epollWait(t, argFD(a[0]), a[1], argInt(a[2]), msTimeout(argInt(a[3])))
	done(err)
	return n, err
}

// EpollPwait2 implements epoll_pwait2(2): a timespec timeout (NULL: none).
func EpollPwait2(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	dl, err := copyInTimeout(t, a[3])
	if err != nil {
		return 0, err
	}
	done, err := tempSignalMask(t, a[4], a[5])
	if err != nil {
		return 0, err
	}
	n, err := epollWait(t, argFD(a[0]), a[1], argInt(a[2]), dl)
	done(err)
	return n, err
}
