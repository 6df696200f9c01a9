package host

// Lock order: File.mu > poller.mu > waiter.Queue.mu. The poller goroutine
// notifies queues with no lock held.

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/waiter"
)

// poller watches host FDs for readiness changes with one host epoll
// instance, waited on by one goroutine that notifies the waiter queues of
// the files concerned. Files are registered edge-triggered: the goroutine
// hears of every new event without spinning while a file stays readable,
// and waiters re-check the readiness themselves (File.Readiness), as
// waiter.Queue users always do. Registration never changes the host file
// description's flags, so stdio shared with the caller keeps blocking.
type poller struct {
	once  sync.Once
	epfd  int
	err   error
	mu    sync.Mutex
	files map[uint64]*waiter.Queue
	next  uint64
}

// hostPoller is the Sentry's single host poller, started on first use.
var hostPoller poller

// register starts notifying q of hostFD's readiness changes; it returns
// false if the host kernel cannot poll the FD (regular files and
// directories: epoll_ctl says EPERM), which is then always ready.
func (p *poller) register(q *waiter.Queue, hostFD int) (uint64, bool) {
	p.once.Do(p.start)
	if p.err != nil {
		return 0, false
	}
	p.mu.Lock()
	p.next++
	id := p.next
	if p.files == nil {
		p.files = make(map[uint64]*waiter.Queue)
	}
	p.files[id] = q
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLPRI | unix.EPOLLRDHUP | unix.EPOLLET}
	*(*uint64)(unsafe.Pointer(&ev.Fd)) = id
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, hostFD, &ev); err != nil {
		p.mu.Lock()
		delete(p.files, id)
		p.mu.Unlock()
		return 0, false
	}
	return id, true
}

// unregister stops watching hostFD, registered as id. It must run before
// the FD is closed.
func (p *poller) unregister(id uint64, hostFD int) {
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, hostFD, nil)
	p.mu.Lock()
	delete(p.files, id)
	p.mu.Unlock()
}

// start creates the host epoll instance and its goroutine.
func (p *poller) start() {
	p.epfd, p.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if p.err != nil {
		return
	}
	go p.run()
}

// run waits for host events forever and hands them to the files' queues.
func (p *poller) run() {
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			// EINTR from the Go runtime's own signals.
			continue
		}
		for i := 0; i < n; i++ {
			id := *(*uint64)(unsafe.Pointer(&events[i].Fd))
			p.mu.Lock()
			q := p.files[id]
			p.mu.Unlock()
			if q != nil {
				q.Notify(hostToEvents(events[i].Events))
			}
		}
	}
}

// WatchFD starts notifying q of the readiness changes of hostFD, a host
// socket, pipe or other pollable FD the caller owns (edge-triggered: the
// waiters re-check readiness themselves). stop must be called before the
// FD is closed. ok is false if the host cannot poll the FD.
func WatchFD(hostFD int, q *waiter.Queue) (stop func(), ok bool) {
	id, ok := hostPoller.register(q, hostFD)
	if !ok {
		return func() {}, false
	}
	return func() { hostPoller.unregister(id, hostFD) }, true
}

// hostToEvents converts host epoll events to a waiter.EventMask (the bits
// are poll(2)'s in both).
func hostToEvents(ev uint32) waiter.EventMask {
	m := waiter.EventMask(ev & (unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLPRI | unix.EPOLLERR | unix.EPOLLHUP | unix.EPOLLRDHUP))
	if m&waiter.EventIn != 0 {
		m |= waiter.EventRdNorm
	}
	if m&waiter.EventOut != 0 {
		m |= waiter.EventWrNorm
	}
	return m
}
