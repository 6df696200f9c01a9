package hostinet

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/host"
	"bufferzone.dev/pkg/sentry/socket"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/socket/transport"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// maxSockaddr is the size of a struct sockaddr_storage.
const maxSockaddr = 128

// Socket is a host socket. It embeds socket.Base for fstat, O_NONBLOCK and
// the timeouts; the data path is the host FD.
type Socket struct {
	socket.Base
	fd    int
	queue waiter.Queue

	mu sync.Mutex
	// stopWatch ends the host poller's watch (nil until the first waiter).
	stopWatch func()
	closed    bool
}

var _ socket.Socket = (*Socket)(nil)

func newSocket(ctx vfs.Context, family, typ, protocol, fd int, nonblock bool) *Socket {
	s := &Socket{fd: fd}
	s.Init(ctx, family, typ, protocol, nil, nil, nonblock)
	return s
}

// Release closes the host socket.
func (s *Socket) Release() {
	s.mu.Lock()
	s.closed = true
	if s.stopWatch != nil {
		s.stopWatch()
		s.stopWatch = nil
	}
	s.mu.Unlock()
	unix.Close(s.fd)
}

// Readiness implements waiter.Waitable by polling the host socket.
func (s *Socket) Readiness(mask waiter.EventMask) waiter.EventMask { return host.PollFD(s.fd, mask) }

// EventRegister implements waiter.Waitable; the first registration starts
// the host poller's watch of the socket.
func (s *Socket) EventRegister(e *waiter.Entry) {
	s.queue.EventRegister(e)
	s.mu.Lock()
	if s.stopWatch == nil && !s.closed {
		if stop, ok := host.WatchFD(s.fd, &s.queue); ok {
			s.stopWatch = stop
		}
	}
	s.mu.Unlock()
}

// EventUnregister implements waiter.Waitable.
func (s *Socket) EventUnregister(e *waiter.Entry) { s.queue.EventUnregister(e) }

// do runs op, a non-blocking host call, until it does not fail with
// EAGAIN, waiting for mask's events between tries as w allows.
func (s *Socket) do(ctx vfs.Context, w transport.Wait, mask waiter.EventMask, op func() error) error {
	for {
		err := op()
		if err == unix.EINTR {
			continue
		}
		if err != unix.EAGAIN || w.Nonblock {
			return err
		}
		entry, sleep := waiter.EntryFor(ctx, mask|waiter.AlwaysReported)
		s.EventRegister(entry)
		var werr error
		if s.Readiness(mask) == 0 {
			werr = w.Block(sleep)
		}
		s.EventUnregister(entry)
		if werr != nil {
			return werr
		}
	}
}

// checkAddr validates a sockaddr the application gave before the host sees
// it: the socket's family (AF_UNSPEC where allowed), and no longer than the
// family's struct.
func (s *Socket) checkAddr(addr []byte, unspecOK bool) ([]byte, error) {
	_, unspec, err := inet.ParseFor(s.Family, addr)
	if err != nil {
		return nil, err
	}
	if unspec {
		if !unspecOK {
			return nil, unix.EAFNOSUPPORT
		}
		return addr[:min(len(addr), unix.SizeofSockaddrInet6)], nil
	}
	n := unix.SizeofSockaddrInet4
	if s.Family == unix.AF_INET6 {
		n = unix.SizeofSockaddrInet6
	}
	return addr[:n], nil
}

// sockaddrCall makes a host call that takes (fd, sockaddr, len).
func (s *Socket) sockaddrCall(nr uintptr, addr []byte) error {
	_, _, e := unix.Syscall(nr, uintptr(s.fd), uintptr(unsafe.Pointer(unsafe.SliceData(addr))), uintptr(len(addr)))
	if e != 0 {
		return e
	}
	return nil
}

// Bind implements bind(2).
func (s *Socket) Bind(ctx vfs.Context, addr []byte) error {
	a, err := s.checkAddr(addr, s.Family == unix.AF_INET)
	if err != nil {
		return err
	}
	return s.sockaddrCall(unix.SYS_BIND, a)
}

// Connect implements connect(2): a blocking connect waits for the host's
// non-blocking one to finish and reports SO_ERROR.
func (s *Socket) Connect(ctx vfs.Context, addr []byte, w transport.Wait) error {
	a, err := s.checkAddr(addr, true)
	if err != nil {
		return err
	}
	err = s.sockaddrCall(unix.SYS_CONNECT, a)
	if err != unix.EINPROGRESS || w.Nonblock {
		return err
	}
	entry, sleep := waiter.EntryFor(ctx, waiter.WritableEvents|waiter.AlwaysReported)
	s.EventRegister(entry)
	defer s.EventUnregister(entry)
	for s.Readiness(waiter.WritableEvents) == 0 {
		if err := w.Block(sleep); err != nil {
			if err == unix.EAGAIN {
				return unix.ETIMEDOUT
			}
			return err
		}
	}
	// The connect after completion reports the outcome (and makes the
	// application's next connect see EISCONN, as after a blocking one).
	return s.sockaddrCall(unix.SYS_CONNECT, a)
}

// Listen implements listen(2).
func (s *Socket) Listen(ctx vfs.Context, backlog int) error { return unix.Listen(s.fd, backlog) }

// Accept implements accept(2).
func (s *Socket) Accept(ctx vfs.Context, w transport.Wait) (socket.Socket, error) {
	var nfd int
	err := s.do(ctx, w, waiter.ReadableEvents, func() error {
		fd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(s.fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e != 0 {
			return e
		}
		nfd = int(fd)
		return nil
	})
	if err != nil {
		return nil, err
	}
	ns := newSocket(ctx, s.Family, s.Type, s.Protocol, nfd, false)
	ns.CopyOptsFrom(&s.Base)
	return ns, nil
}

// Shutdown implements shutdown(2).
func (s *Socket) Shutdown(ctx vfs.Context, how int) error { return unix.Shutdown(s.fd, how) }

// name returns getsockname's or getpeername's answer.
func (s *Socket) name(nr uintptr) ([]byte, error) {
	buf := make([]byte, maxSockaddr)
	l := uint32(len(buf))
	_, _, e := unix.Syscall(nr, uintptr(s.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		return nil, e
	}
	return buf[:min(l, uint32(len(buf)))], nil
}

// SockName implements getsockname(2).
func (s *Socket) SockName() []byte {
	b, err := s.name(unix.SYS_GETSOCKNAME)
	if err != nil {
		return inet.EncodeAddr(s.Family, netipZero(s.Family))
	}
	return b
}

// PeerName implements getpeername(2).
func (s *Socket) PeerName() ([]byte, error) { return s.name(unix.SYS_GETPEERNAME) }

// SendMsg implements sendmsg(2). SCM_RIGHTS means nothing on these sockets.
// Streams send everything unless non-blocking; MSG_NOSIGNAL is always
// passed (the system call layer raises SIGPIPE in the sandbox).
func (s *Socket) SendMsg(ctx vfs.Context, data []byte, addr []byte, ctl transport.Control, flags int) (int, error) {
	ctl.Release()
	var to []byte
	if len(addr) > 0 {
		var err error
		if to, err = s.checkAddr(addr, true); err != nil {
			return 0, err
		}
	}
	hostFlags := flags&(unix.MSG_MORE|unix.MSG_EOR|unix.MSG_OOB|unix.MSG_CONFIRM|unix.MSG_DONTROUTE) |
		unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
	done := 0
	err := s.do(ctx, s.SendWait(flags), waiter.WritableEvents, func() error {
		for {
			var p unsafe.Pointer
			if done < len(data) {
				p = unsafe.Pointer(&data[done])
			}
			var top unsafe.Pointer
			if len(to) > 0 {
				top = unsafe.Pointer(&to[0])
			}
			n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(p), uintptr(len(data)-done), uintptr(hostFlags),
				uintptr(top), uintptr(len(to)))
			if e != 0 {
				return e
			}
			done += int(n)
			if s.Type != unix.SOCK_STREAM || done == len(data) {
				return nil
			}
		}
	})
	if done > 0 && s.Type == unix.SOCK_STREAM {
		return done, nil
	}
	return done, err
}

// RecvMsg implements recvmsg(2).
func (s *Socket) RecvMsg(ctx vfs.Context, dst []byte, flags int) (socket.RecvResult, error) {
	hostFlags := flags&(unix.MSG_PEEK|unix.MSG_TRUNC|unix.MSG_OOB) | unix.MSG_DONTWAIT
	if s.Type != unix.SOCK_STREAM {
		// The host then returns a datagram's full length, which tells
		// whether it was truncated.
		hostFlags |= unix.MSG_TRUNC
	}
	waitAll := flags&unix.MSG_WAITALL != 0 && s.Type == unix.SOCK_STREAM && flags&unix.MSG_PEEK == 0
	var res socket.RecvResult
	from := make([]byte, maxSockaddr)
	err := s.do(ctx, s.RecvWait(flags), waiter.ReadableEvents, func() error {
		for {
			var p unsafe.Pointer
			if res.N < len(dst) {
				p = unsafe.Pointer(&dst[res.N])
			}
			fl := uint32(len(from))
			n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), uintptr(p), uintptr(len(dst)-res.N), uintptr(hostFlags),
				uintptr(unsafe.Pointer(&from[0])), uintptr(unsafe.Pointer(&fl)))
			if e != 0 {
				return e
			}
			if s.Type != unix.SOCK_STREAM {
				res.N, res.Copied = int(n), min(int(n), len(dst))
				if int(n) > len(dst) {
					res.Flags |= unix.MSG_TRUNC
					if flags&unix.MSG_TRUNC == 0 {
						res.N = len(dst)
					}
				}
				res.Addr = from[:min(fl, uint32(len(from)))]
				return nil
			}
			res.N += int(n)
			if flags&unix.MSG_TRUNC == 0 {
				res.Copied = res.N
			}
			if !waitAll || n == 0 || res.N == len(dst) {
				return nil
			}
		}
	})
	if res.N > 0 && s.Type == unix.SOCK_STREAM {
		return res, nil
	}
	return res, err
}

// Read implements read(2).
func (s *Socket) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	return s.ReadWith(ctx, s, p)
}

// Write implements write(2).
func (s *Socket) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	return s.SendMsg(ctx, p, nil, transport.Control{}, 0)
}

// Ioctl implements FIONREAD (SIOCINQ) and TIOCOUTQ (SIOCOUTQ) by asking
// the host.
func (s *Socket) Ioctl(ctx vfs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case unix.TIOCINQ, unix.TIOCOUTQ:
	default:
		return 0, unix.ENOTTY
	}
	n, err := unix.IoctlGetInt(s.fd, uint(cmd))
	if err != nil {
		return 0, err
	}
	if _, err := ctx.CopyOut(arg, socket.Int(int32(n))); err != nil {
		return 0, err
	}
	return 0, nil
}
