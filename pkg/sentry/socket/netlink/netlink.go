// Package netlink implements a minimal NETLINK_ROUTE socket (netlink(7),
// rtnetlink(7)): RTM_GETLINK and RTM_GETADDR dumps of the stack's
// interfaces and RTM_GETROUTE dumps of its main routing table, enough for
// glibc's getifaddrs, "ip addr" and "ip route". Every other request is
// answered with EOPNOTSUPP.
//
// Lock order: Socket.mu is a leaf; replies are queued on the socket's own
// endpoint after it is released.
package netlink

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/socket"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/socket/transport"
	"bufferzone.dev/pkg/sentry/vfs"
)

const (
	nlmsgHdrLen   = 16
	sockaddrNlLen = 12
	arphrdLoop    = 772
)

var lastPortID atomic.Uint32

// Socket is a NETLINK_ROUTE socket.
type Socket struct {
	socket.Base
	stack inet.Stack

	mu     sync.Mutex
	portID uint32
}

var _ socket.Socket = (*Socket)(nil)

// New creates a netlink socket of type SOCK_RAW or SOCK_DGRAM; only
// NETLINK_ROUTE is supported.
func New(ctx vfs.Context, typ, protocol int, stack inet.Stack, nonblock bool) (*Socket, error) {
	if typ != unix.SOCK_RAW && typ != unix.SOCK_DGRAM {
		return nil, unix.ESOCKTNOSUPPORT
	}
	if protocol != unix.NETLINK_ROUTE {
		return nil, unix.EPROTONOSUPPORT
	}
	s := &Socket{stack: stack}
	ep := transport.NewEndpoint(unix.SOCK_DGRAM, false)
	ep.SetDgramLimit(1 << 30)
	ep.Owner = s
	s.Init(ctx, unix.AF_NETLINK, typ, protocol, ep, func(vfs.Context) transport.Creds { return transport.Creds{} }, nonblock)
	return s, nil
}

func encodeNl(pid uint32) []byte {
	b := make([]byte, sockaddrNlLen)
	binary.LittleEndian.PutUint16(b, unix.AF_NETLINK)
	binary.LittleEndian.PutUint32(b[4:], pid)
	return b
}

func (s *Socket) port() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.portID == 0 {
		s.portID = 1<<30 + lastPortID.Add(1)
	}
	return s.portID
}

// Bind implements bind(2): a port ID of 0 picks one.
func (s *Socket) Bind(ctx vfs.Context, addr []byte) error {
	if len(addr) < sockaddrNlLen {
		return unix.EINVAL
	}
	if binary.LittleEndian.Uint16(addr) != unix.AF_NETLINK {
		return unix.EINVAL
	}
	if binary.LittleEndian.Uint32(addr[8:]) != 0 {
		return unix.EPERM // multicast groups are not supported
	}
	pid := binary.LittleEndian.Uint32(addr[4:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if pid != 0 {
		if s.portID != 0 && s.portID != pid {
			return unix.EINVAL
		}
		s.portID = pid
	}
	return nil
}

// Connect implements connect(2); only the kernel (port 0) may be the peer.
func (s *Socket) Connect(ctx vfs.Context, addr []byte, w transport.Wait) error {
	if len(addr) < sockaddrNlLen || binary.LittleEndian.Uint16(addr) != unix.AF_NETLINK {
		return unix.EINVAL
	}
	s.port()
	return nil
}

// Listen implements listen(2): not supported.
func (s *Socket) Listen(vfs.Context, int) error { return unix.EOPNOTSUPP }

// Accept implements accept(2): not supported.
func (s *Socket) Accept(vfs.Context, transport.Wait) (socket.Socket, error) {
	return nil, unix.EOPNOTSUPP
}

// Shutdown implements shutdown(2).
func (s *Socket) Shutdown(ctx vfs.Context, how int) error {
	if how < unix.SHUT_RD || how > unix.SHUT_RDWR {
		return unix.EINVAL
	}
	return s.EP.Shutdown(how != unix.SHUT_WR, how != unix.SHUT_RD)
}

// SockName implements getsockname(2).
func (s *Socket) SockName() []byte { return encodeNl(s.port()) }

// PeerName implements getpeername(2): the kernel.
func (s *Socket) PeerName() ([]byte, error) { return encodeNl(0), nil }

// GetSockOpt implements getsockopt(2).
func (s *Socket) GetSockOpt(ctx vfs.Context, level, name int) ([]byte, error) {
	if v, ok, err := s.GetSockOptCommon(level, name); ok || err != nil {
		return v, err
	}
	if level == unix.SOL_NETLINK || level == unix.SOL_SOCKET {
		return socket.Int(s.OtherOpt(level, name, 0)), nil
	}
	return nil, unix.ENOPROTOOPT
}

// SetSockOpt implements setsockopt(2); netlink options are accepted.
func (s *Socket) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	if ok, err := s.SetSockOptCommon(level, name, val); ok || err != nil {
		return err
	}
	if level != unix.SOL_NETLINK && level != unix.SOL_SOCKET {
		return unix.ENOPROTOOPT
	}
	v, err := socket.ParseInt(val)
	if err != nil {
		return err
	}
	s.SetOtherOpt(level, name, v)
	return nil
}

// SendMsg implements sendmsg(2): each request in data is answered on the
// socket's receive queue.
func (s *Socket) SendMsg(ctx vfs.Context, data []byte, addr []byte, ctl transport.Control, flags int) (int, error) {
	ctl.Release()
	if len(addr) > 0 {
		if len(addr) < sockaddrNlLen || binary.LittleEndian.Uint16(addr) != unix.AF_NETLINK {
			return 0, unix.EINVAL
		}
	}
	port := s.port()
	for b := data; len(b) >= nlmsgHdrLen; {
		l := int(binary.LittleEndian.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			break
		}
		typ := binary.LittleEndian.Uint16(b[4:])
		fl := binary.LittleEndian.Uint16(b[6:])
		seq := binary.LittleEndian.Uint32(b[8:])
		for _, reply := range s.handle(typ, fl, seq, port, b[nlmsgHdrLen:l]) {
			if _, err := s.EP.Write(ctx, s.EP, reply, transport.Control{}, nil, transport.Wait{Nonblock: true}); err != nil {
				return 0, unix.ENOBUFS
			}
		}
		b = b[min(align4(l), len(b)):]
	}
	return len(data), nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// msg builds one netlink message.
func msg(typ, flags uint16, seq, port uint32, payload []byte) []byte {
	b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(payload))
	binary.LittleEndian.PutUint32(b, uint32(nlmsgHdrLen+len(payload)))
	binary.LittleEndian.PutUint16(b[4:], typ)
	binary.LittleEndian.PutUint16(b[6:], flags)
	binary.LittleEndian.PutUint32(b[8:], seq)
	binary.LittleEndian.PutUint32(b[12:], port)
	return append(b, payload...)
}

// attr appends a routing attribute.
func attr(b []byte, typ uint16, data []byte) []byte {
	h := make([]byte, 4)
	binary.LittleEndian.PutUint16(h, uint16(4+len(data)))
	binary.LittleEndian.PutUint16(h[2:], typ)
	b = append(b, h...)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// handle answers one request.
func (s *Socket) handle(typ, flags uint16, seq, port uint32, body []byte) [][]byte {
	const multi = unix.NLM_F_MULTI
	var out [][]byte
	done := func() [][]byte {
		return append(out, msg(unix.NLMSG_DONE, multi, seq, port, u32(0)))
	}
	switch typ {
	case unix.RTM_GETLINK:
		for _, ifc := range s.stack.Interfaces() {
			p := make([]byte, 16)
			hwType, hw, bcast, oper := uint16(arphrdLoop), make([]byte, 6), make([]byte, 6), byte(0) // IF_OPER_UNKNOWN, as lo
			if len(ifc.HardwareAddr) == 6 {
				hwType, hw, bcast = unix.ARPHRD_ETHER, ifc.HardwareAddr, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
				if ifc.Flags&unix.IFF_UP != 0 {
					oper = 6 // IF_OPER_UP
				}
			}
			binary.LittleEndian.PutUint16(p[2:], hwType)
			binary.LittleEndian.PutUint32(p[4:], uint32(ifc.Index))
			binary.LittleEndian.PutUint32(p[8:], ifc.Flags)
			p = attr(p, unix.IFLA_IFNAME, append([]byte(ifc.Name), 0))
			p = attr(p, unix.IFLA_MTU, u32(ifc.MTU))
			p = attr(p, unix.IFLA_TXQLEN, u32(1000))
			p = attr(p, unix.IFLA_ADDRESS, hw)
			p = attr(p, unix.IFLA_BROADCAST, bcast)
			p = attr(p, unix.IFLA_OPERSTATE, []byte{oper})
			out = append(out, msg(unix.RTM_NEWLINK, multi, seq, port, p))
		}
		return done()
	case unix.RTM_GETADDR:
		want := 0
		if len(body) > 0 {
			want = int(body[0])
		}
		for _, ifc := range s.stack.Interfaces() {
			for _, pfx := range ifc.Addrs {
				fam := unix.AF_INET6
				if pfx.Addr().Is4() {
					fam = unix.AF_INET
				}
				if want != unix.AF_UNSPEC && want != fam {
					continue
				}
				p := make([]byte, 8)
				p[0] = byte(fam)
				p[1] = byte(pfx.Bits())
				p[2] = unix.IFA_F_PERMANENT
				p[3] = unix.RT_SCOPE_UNIVERSE
				if pfx.Addr().IsLoopback() {
					p[3] = unix.RT_SCOPE_HOST
				}
				binary.LittleEndian.PutUint32(p[4:], uint32(ifc.Index))
				a := pfx.Addr().AsSlice()
				p = attr(p, unix.IFA_ADDRESS, a)
				if fam == unix.AF_INET {
					p = attr(p, unix.IFA_LOCAL, a)
					p = attr(p, unix.IFA_LABEL, append([]byte(ifc.Name), 0))
				}
				out = append(out, msg(unix.RTM_NEWADDR, multi, seq, port, p))
			}
		}
		return done()
	case unix.RTM_GETROUTE:
		want := 0
		if len(body) > 0 {
			want = int(body[0])
		}
		rl, ok := s.stack.(inet.RouteLister)
		if !ok {
			return done()
		}
		for _, r := range rl.Routes() {
			fam := unix.AF_INET6
			if r.Dst.Addr().Is4() {
				fam = unix.AF_INET
			}
			if want != unix.AF_UNSPEC && want != fam {
				continue
			}
			// struct rtmsg: family, dst_len, src_len, tos, table,
			// protocol, scope, type, flags.
			p := make([]byte, 12)
			p[0], p[1], p[4], p[5], p[7] = byte(fam), byte(r.Dst.Bits()), unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RTN_UNICAST
			p[6] = unix.RT_SCOPE_LINK
			if r.Gateway.IsValid() {
				p[6] = unix.RT_SCOPE_UNIVERSE
			}
			p = attr(p, unix.RTA_TABLE, u32(unix.RT_TABLE_MAIN))
			if r.Dst.Bits() > 0 {
				p = attr(p, unix.RTA_DST, r.Dst.Addr().AsSlice())
			}
			if r.Gateway.IsValid() {
				p = attr(p, unix.RTA_GATEWAY, r.Gateway.AsSlice())
			}
			p = attr(p, unix.RTA_OIF, u32(uint32(r.Index)))
			out = append(out, msg(unix.RTM_NEWROUTE, multi, seq, port, p))
		}
		return done()
	}
	// Unsupported: an error message quoting the request header.
	errno := -int32(unix.EOPNOTSUPP)
	e := u32(uint32(errno))
	h := make([]byte, nlmsgHdrLen)
	binary.LittleEndian.PutUint32(h, uint32(nlmsgHdrLen+len(body)))
	binary.LittleEndian.PutUint16(h[4:], typ)
	binary.LittleEndian.PutUint16(h[6:], flags)
	binary.LittleEndian.PutUint32(h[8:], seq)
	binary.LittleEndian.PutUint32(h[12:], port)
	return [][]byte{msg(unix.NLMSG_ERROR, 0, seq, port, append(e, h...))}
}

// RecvMsg implements recvmsg(2); replies come from the kernel (port 0).
func (s *Socket) RecvMsg(ctx vfs.Context, dst []byte, flags int) (socket.RecvResult, error) {
	res, _, err := s.Recv(ctx, dst, flags, false)
	if err != nil {
		return res, err
	}
	res.HasCreds = false
	res.Addr = encodeNl(0)
	return res, nil
}

// Read implements read(2).
func (s *Socket) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	return s.ReadWith(ctx, s, p)
}

// Write implements write(2).
func (s *Socket) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	return s.SendMsg(ctx, p, nil, transport.Control{}, 0)
}
