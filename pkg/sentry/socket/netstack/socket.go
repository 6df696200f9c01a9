package netstack

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	gwaiter "gvisor.dev/gvisor/pkg/waiter"

	"bufferzone.dev/pkg/sentry/socket"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/socket/transport"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Socket is a TCP, UDP or ICMP (ping) socket of the stack. It embeds
// socket.Base for what every family shares (fstat, O_NONBLOCK, timeouts)
// but has no transport.Endpoint: the data path is a tcpip.Endpoint.
type Socket struct {
	socket.Base
	st *Stack
	ep tcpip.Endpoint
	// wq is the stack's queue for ep; entry relays its events to queue.
	wq    *gwaiter.Queue
	entry gwaiter.Entry
	queue waiter.Queue

	// listening is set by a successful listen.
	listening atomic.Bool

	mu sync.Mutex
	// connecting is set while a non-blocking connect is in progress, until
	// a later connect reports how it ended.
	connecting bool
}

var _ socket.Socket = (*Socket)(nil)

// NewSocket implements inet.Stack.
func (st *Stack) NewSocket(ctx vfs.Context, family, typ, protocol int, nonblock bool) (socket.Socket, error) {
	var tp tcpip.TransportProtocolNumber
	switch typ {
	case unix.SOCK_STREAM:
		if protocol != 0 && protocol != unix.IPPROTO_TCP {
			return nil, unix.EPROTONOSUPPORT
		}
		tp, protocol = tcp.ProtocolNumber, unix.IPPROTO_TCP
	case unix.SOCK_DGRAM:
		switch {
		case protocol == 0 || protocol == unix.IPPROTO_UDP:
			tp, protocol = udp.ProtocolNumber, unix.IPPROTO_UDP
		case family == unix.AF_INET && protocol == unix.IPPROTO_ICMP:
			tp = icmp.ProtocolNumber4
		case family == unix.AF_INET6 && protocol == unix.IPPROTO_ICMPV6:
			tp = icmp.ProtocolNumber6
		default:
			return nil, unix.EPROTONOSUPPORT
		}
		if tp != udp.ProtocolNumber {
			if c := ctx.Credentials(); c != nil && !st.pingGroups.Allows(c.EffectiveGID, c.ExtraGIDs) {
				return nil, unix.EACCES
			}
		}
	case unix.SOCK_RAW:
		// Raw sockets would let the application forge packets on the
		// sandbox's links; they are not offered.
		return nil, unix.EPERM
	default:
		return nil, unix.ESOCKTNOSUPPORT
	}
	np := ipv4.ProtocolNumber
	if family == unix.AF_INET6 {
		np = ipv6.ProtocolNumber
	}
	wq := new(gwaiter.Queue)
	ep, err := st.s.NewEndpoint(tp, np, wq)
	if err != nil {
		return nil, errno(err)
	}
	if tp == tcp.ProtocolNumber {
		// Linux's default: Nagle's algorithm on (TCP_NODELAY off).
		ep.SocketOptions().SetDelayOption(true)
	}
	return st.wrap(ctx, family, typ, protocol, ep, wq, nonblock), nil
}

// wrap makes a Socket of ep.
func (st *Stack) wrap(ctx vfs.Context, family, typ, protocol int, ep tcpip.Endpoint, wq *gwaiter.Queue, nonblock bool) *Socket {
	s := &Socket{st: st, ep: ep, wq: wq}
	s.Init(ctx, family, typ, protocol, nil, nil, nonblock)
	s.entry = gwaiter.NewFunctionEntry(gwaiter.EventMask(0xffff), func(m gwaiter.EventMask) {
		s.queue.Notify(waiter.EventMask(m.ToLinux()))
	})
	wq.EventRegister(&s.entry)
	return s
}

// Release closes the endpoint; SO_LINGER with a zero timeout resets a
// connection instead.
func (s *Socket) Release() {
	s.wq.EventUnregister(&s.entry)
	if l := s.ep.SocketOptions().GetLinger(); l.Enabled && l.Timeout == 0 && s.Type == unix.SOCK_STREAM {
		s.ep.Abort()
		return
	}
	s.ep.Close()
}

// Readiness implements waiter.Waitable.
func (s *Socket) Readiness(mask waiter.EventMask) waiter.EventMask {
	return waiter.EventMask(s.ep.Readiness(gwaiter.EventMaskFromLinux(uint32(mask))).ToLinux())
}

// EventRegister implements waiter.Waitable.
func (s *Socket) EventRegister(e *waiter.Entry) { s.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (s *Socket) EventUnregister(e *waiter.Entry) { s.queue.EventUnregister(e) }

// waitFor blocks until one of mask's events (or an error or hang-up) is
// ready, as w allows.
func (s *Socket) waitFor(ctx vfs.Context, w *transport.Wait, mask waiter.EventMask) error {
	if w.Nonblock {
		return unix.EAGAIN
	}
	entry, sleep := waiter.EntryFor(ctx, mask|waiter.AlwaysReported)
	s.EventRegister(entry)
	defer s.EventUnregister(entry)
	if s.Readiness(mask|waiter.AlwaysReported) != 0 {
		return nil
	}
	return w.Block(sleep)
}

// parse decodes a sockaddr for this socket's family.
func (s *Socket) parse(addr []byte) (tcpip.FullAddress, bool, error) {
	ap, unspec, err := inet.ParseFor(s.Family, addr)
	if err != nil || unspec {
		return tcpip.FullAddress{}, unspec, err
	}
	if s.Family == unix.AF_INET6 && ap.Addr().Is4In6() && s.ep.SocketOptions().GetV6Only() {
		return tcpip.FullAddress{}, false, unix.EINVAL
	}
	return fullAddress(ap), false, nil
}

// Bind implements bind(2).
func (s *Socket) Bind(ctx vfs.Context, addr []byte) error {
	fa, unspec, err := s.parse(addr)
	if err != nil {
		return err
	}
	if unspec {
		// AF_UNSPEC with INADDR_ANY binds an IPv4 socket, as in Linux.
		ap, _, err := inet.ParseAddr(append([]byte{unix.AF_INET, 0}, addr[2:]...))
		if s.Family != unix.AF_INET || err != nil || !ap.Addr().IsUnspecified() {
			return unix.EAFNOSUPPORT
		}
		fa = tcpip.FullAddress{Port: ap.Port()}
	}
	if c := ctx.Credentials(); c != nil && !inet.MayBindPort(c, fa.Port, int(s.st.unprivPortStart.Load())) {
		return unix.EACCES
	}
	return errno(s.ep.Bind(fa))
}

// Connect implements connect(2).
func (s *Socket) Connect(ctx vfs.Context, addr []byte, w transport.Wait) error {
	fa, unspec, err := s.parse(addr)
	if err != nil {
		return err
	}
	if unspec {
		return errno(s.ep.Disconnect())
	}
	if s.Type == unix.SOCK_STREAM {
		switch tcp.EndpointState(s.ep.State()) {
		case tcp.StateEstablished, tcp.StateFinWait1, tcp.StateFinWait2, tcp.StateTimeWait,
			tcp.StateCloseWait, tcp.StateLastAck, tcp.StateClosing, tcp.StateListen:
			if s.listening.Load() {
				return unix.EISCONN
			}
			// The first connect after EINPROGRESS reports success.
			if s.takeConnecting() {
				return nil
			}
			return unix.EISCONN
		}
		s.mu.Lock()
		was := s.connecting
		s.connecting = false
		s.mu.Unlock()
		if was && s.ep.Readiness(gwaiter.WritableEvents) != 0 {
			// The first connect after EINPROGRESS reports the outcome.
			if e := s.ep.LastError(); e != nil {
				return errno(e)
			}
			if _, e := s.ep.GetRemoteAddress(); e == nil {
				return nil
			}
		}
	}
	e := s.ep.Connect(fa)
	if _, started := e.(*tcpip.ErrConnectStarted); !started {
		return errno(e)
	}
	if w.Nonblock {
		s.mu.Lock()
		s.connecting = true
		s.mu.Unlock()
		return unix.EINPROGRESS
	}
	for s.ep.Readiness(gwaiter.WritableEvents|gwaiter.EventErr|gwaiter.EventHUp) == 0 {
		if err := s.waitFor(ctx, &w, waiter.WritableEvents); err != nil {
			if err == unix.EAGAIN {
				return unix.ETIMEDOUT
			}
			return err
		}
	}
	return errno(s.ep.LastError())
}

// takeConnecting reports and clears the in-progress connect mark.
func (s *Socket) takeConnecting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.connecting
	s.connecting = false
	return was
}

// Listen implements listen(2).
func (s *Socket) Listen(ctx vfs.Context, backlog int) error {
	if s.Type != unix.SOCK_STREAM {
		return unix.EOPNOTSUPP
	}
	if err := errno(s.ep.Listen(backlog)); err != nil {
		return err
	}
	s.listening.Store(true)
	return nil
}

// Accept implements accept(2).
func (s *Socket) Accept(ctx vfs.Context, w transport.Wait) (socket.Socket, error) {
	if s.Type != unix.SOCK_STREAM {
		return nil, unix.EOPNOTSUPP
	}
	for {
		ep, wq, e := s.ep.Accept(nil)
		if e == nil {
			ns := s.st.wrap(ctx, s.Family, s.Type, s.Protocol, ep, wq, false)
			ns.CopyOptsFrom(&s.Base)
			return ns, nil
		}
		if _, block := e.(*tcpip.ErrWouldBlock); !block {
			return nil, errno(e)
		}
		if err := s.waitFor(ctx, &w, waiter.ReadableEvents); err != nil {
			return nil, err
		}
	}
}

// Shutdown implements shutdown(2).
func (s *Socket) Shutdown(ctx vfs.Context, how int) error {
	var f tcpip.ShutdownFlags
	switch how {
	case unix.SHUT_RD:
		f = tcpip.ShutdownRead
	case unix.SHUT_WR:
		f = tcpip.ShutdownWrite
	case unix.SHUT_RDWR:
		f = tcpip.ShutdownRead | tcpip.ShutdownWrite
	default:
		return unix.EINVAL
	}
	return errno(s.ep.Shutdown(f))
}

// SockName implements getsockname(2).
func (s *Socket) SockName() []byte {
	fa, _ := s.ep.GetLocalAddress()
	return sockaddr(s.Family, fa)
}

// PeerName implements getpeername(2).
func (s *Socket) PeerName() ([]byte, error) {
	fa, err := s.ep.GetRemoteAddress()
	if err != nil {
		return nil, unix.ENOTCONN
	}
	return sockaddr(s.Family, fa), nil
}

// SendMsg implements sendmsg(2). SCM_RIGHTS means nothing on these sockets.
func (s *Socket) SendMsg(ctx vfs.Context, data []byte, addr []byte, ctl transport.Control, flags int) (int, error) {
	ctl.Release()
	var opts tcpip.WriteOptions
	if len(addr) > 0 && s.Type != unix.SOCK_STREAM {
		fa, unspec, err := s.parse(addr)
		if err != nil {
			return 0, err
		}
		if !unspec {
			if fa.Port == 0 && s.Protocol == unix.IPPROTO_UDP {
				return 0, unix.EINVAL
			}
			opts.To = &fa
		}
	}
	opts.More = flags&unix.MSG_MORE != 0
	opts.Atomic = s.Type != unix.SOCK_STREAM
	w := s.SendWait(flags)
	done := 0
	r := bytes.NewReader(data)
	for {
		n, e := s.ep.Write(r, opts)
		done += int(n)
		if e == nil && (s.Type != unix.SOCK_STREAM || done == len(data)) {
			return done, nil
		}
		if e != nil {
			if _, block := e.(*tcpip.ErrWouldBlock); !block {
				if done > 0 {
					return done, nil
				}
				return 0, errno(e)
			}
		}
		if err := s.waitFor(ctx, &w, waiter.WritableEvents); err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
	}
}

// RecvMsg implements recvmsg(2).
func (s *Socket) RecvMsg(ctx vfs.Context, dst []byte, flags int) (socket.RecvResult, error) {
	if flags&unix.MSG_ERRQUEUE != 0 {
		return socket.RecvResult{}, unix.EAGAIN
	}
	if flags&unix.MSG_OOB != 0 {
		return socket.RecvResult{}, unix.EINVAL
	}
	if s.listening.Load() {
		return socket.RecvResult{}, unix.ENOTCONN
	}
	stream := s.Type == unix.SOCK_STREAM
	trunc := flags&unix.MSG_TRUNC != 0
	peek := flags&unix.MSG_PEEK != 0
	opts := tcpip.ReadOptions{Peek: peek, NeedRemoteAddr: !stream}
	w := s.RecvWait(flags)
	var res socket.RecvResult
	for {
		var out io.Writer
		if stream && trunc {
			out = &discard{n: len(dst) - res.N}
		} else {
			sw := tcpip.SliceWriter(dst[res.N:])
			out = &sw
		}
		rr, e := s.ep.Read(out, opts)
		if e == nil {
			if stream {
				res.N += rr.Count
				if !trunc {
					res.Copied = res.N
				}
				if rr.Count > 0 && s.Protocol == unix.IPPROTO_TCP {
					s.ep.ModerateRecvBuf(rr.Count)
				}
				if flags&unix.MSG_WAITALL == 0 || peek || res.N == len(dst) || rr.Count == 0 {
					return res, nil
				}
				continue
			}
			res.N, res.Copied = rr.Count, rr.Count
			if rr.Total > rr.Count {
				res.Flags |= unix.MSG_TRUNC
				if trunc {
					res.N = rr.Total
				}
			}
			res.Addr = sockaddr(s.Family, rr.RemoteAddr)
			return res, nil
		}
		switch e.(type) {
		case *tcpip.ErrClosedForReceive:
			return res, nil
		case *tcpip.ErrWouldBlock:
		default:
			if res.N > 0 {
				return res, nil
			}
			return res, errno(e)
		}
		if err := s.waitFor(ctx, &w, waiter.ReadableEvents); err != nil {
			if res.N > 0 {
				return res, nil
			}
			return res, err
		}
	}
}

// discard takes up to n bytes and drops them (recv with MSG_TRUNC on a
// stream).
type discard struct{ n int }

func (d *discard) Write(p []byte) (int, error) {
	if len(p) > d.n {
		n := d.n
		d.n = 0
		return n, io.ErrShortWrite
	}
	d.n -= len(p)
	return len(p), nil
}

// Read implements read(2).
func (s *Socket) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	return s.ReadWith(ctx, s, p)
}

// Write implements write(2).
func (s *Socket) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	return s.SendMsg(ctx, p, nil, transport.Control{}, 0)
}

// Ioctl implements FIONREAD (SIOCINQ) and TIOCOUTQ (SIOCOUTQ).
func (s *Socket) Ioctl(ctx vfs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	var opt tcpip.SockOptInt
	switch cmd {
	case unix.TIOCINQ:
		if s.listening.Load() {
			return 0, unix.EINVAL
		}
		opt = tcpip.ReceiveQueueSizeOption
	case unix.TIOCOUTQ:
		opt = tcpip.SendQueueSizeOption
	default:
		return 0, unix.ENOTTY
	}
	v, e := s.ep.GetSockOptInt(opt)
	if e != nil {
		return 0, errno(e)
	}
	if _, err := ctx.CopyOut(arg, socket.Int(int32(v))); err != nil {
		return 0, err
	}
	return 0, nil
}

// lingerBytes encodes a struct linger.
func lingerBytes(l tcpip.LingerOption) []byte {
	b := make([]byte, 8)
	if l.Enabled {
		binary.LittleEndian.PutUint32(b, 1)
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(l.Timeout/time.Second))
	return b
}
