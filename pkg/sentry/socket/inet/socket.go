package inet

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/socket"
	"bufferzone.dev/pkg/sentry/socket/transport"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Largest UDP payloads (65535 minus the IP and UDP headers).
const (
	maxUDP4 = 65507
	maxUDP6 = 65527
)

// Socket is a TCP or UDP socket on the loopback stack.
type Socket struct {
	socket.Base
	stack *Loopback

	// v6only is IPV6_V6ONLY.
	v6only atomic.Bool

	// local is the bound address (guarded by stack.mu; valid once bound).
	local netip.AddrPort
	bound bool

	mu sync.Mutex
	// remote is the connected peer's address.
	remote netip.AddrPort
	// connecting is set after a non-blocking connect returned EINPROGRESS
	// until a later connect reports how it ended.
	connecting bool
}

var _ socket.Socket = (*Socket)(nil)

func newSocket(ctx vfs.Context, l *Loopback, family, typ, protocol int, nonblock bool) *Socket {
	s := &Socket{stack: l}
	ep := transport.NewEndpoint(typ, true)
	ep.Owner = s
	if typ == unix.SOCK_DGRAM {
		ep.SetDgramLimit(1 << 30)
	}
	s.Init(ctx, family, typ, protocol, ep, func(vfs.Context) transport.Creds { return transport.Creds{} }, nonblock)
	return s
}

// covers reports which address families s's binding receives.
func (s *Socket) covers() (v4, v6 bool) {
	if s.Family == unix.AF_INET {
		return true, false
	}
	a := s.local.Addr()
	switch {
	case a.Is4In6():
		return true, false
	case a.IsUnspecified():
		return !s.v6only.Load(), true
	}
	return false, true
}

// parse decodes addr for this socket's family (see ParseFor).
func (s *Socket) parse(addr []byte) (netip.AddrPort, bool, error) {
	return ParseFor(s.Family, addr)
}

// loopbackFor returns the source address of a connection to dst.
func (s *Socket) loopbackFor(dst netip.Addr) netip.Addr {
	if s.Family == unix.AF_INET {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if dst.Is4In6() {
		return netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1})
	}
	return netip.IPv6Loopback()
}

// checkDst validates a destination: the unspecified address means the
// loopback, anything off the loopback is ENETUNREACH.
func (s *Socket) checkDst(dst netip.AddrPort) (netip.AddrPort, error) {
	a := dst.Addr()
	if a.Is4In6() && s.v6only.Load() {
		return dst, unix.ENETUNREACH
	}
	if a.Unmap().IsUnspecified() {
		return netip.AddrPortFrom(s.loopbackFor(a), dst.Port()), nil
	}
	if !isLoopback(a) {
		return dst, unix.ENETUNREACH
	}
	return dst, nil
}

// Bind implements bind(2).
func (s *Socket) Bind(ctx vfs.Context, addr []byte) error {
	ap, unspec, err := s.parse(addr)
	if err != nil {
		return err
	}
	if unspec {
		if s.Family != unix.AF_INET {
			return unix.EAFNOSUPPORT
		}
		ap, _, _ = ParseAddr(append([]byte{unix.AF_INET, 0}, addr[2:]...))
		if !ap.Addr().IsUnspecified() {
			return unix.EAFNOSUPPORT
		}
	}
	a := ap.Addr()
	if a.Is4In6() && s.v6only.Load() {
		return unix.EINVAL
	}
	if !a.Unmap().IsUnspecified() && !isLoopback(a) {
		return unix.EADDRNOTAVAIL
	}
	if c := ctx.Credentials(); c != nil && !MayBindPort(c, ap.Port(), int(s.stack.unprivPortStart.Load())) {
		return unix.EACCES
	}
	l := s.stack
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.bound {
		return unix.EINVAL
	}
	if err := l.bindLocked(s, ap); err != nil {
		return err
	}
	s.bound = true
	return nil
}

// autobind binds s to an ephemeral port on src if it is not bound yet; if
// it is bound to a wildcard address, src becomes its address.
func (s *Socket) autobind(src netip.Addr) error {
	l := s.stack
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.bound {
		if s.local.Addr().IsUnspecified() {
			s.local = netip.AddrPortFrom(src, s.local.Port())
		}
		return nil
	}
	if err := l.bindLocked(s, netip.AddrPortFrom(src, 0)); err != nil {
		return err
	}
	s.bound = true
	return nil
}

// Connect implements connect(2).
func (s *Socket) Connect(ctx vfs.Context, addr []byte, w transport.Wait) error {
	ap, unspec, err := s.parse(addr)
	if err != nil {
		return err
	}
	if s.Type == unix.SOCK_DGRAM {
		if unspec {
			s.mu.Lock()
			s.remote = netip.AddrPort{}
			s.mu.Unlock()
			return nil
		}
		dst, err := s.checkDst(ap)
		if err != nil {
			return err
		}
		if err := s.autobind(s.loopbackFor(dst.Addr())); err != nil {
			return err
		}
		s.mu.Lock()
		s.remote = dst
		s.mu.Unlock()
		return nil
	}
	if unspec {
		return nil
	}
	s.mu.Lock()
	wasConnecting := s.connecting
	s.connecting = false
	s.mu.Unlock()
	if wasConnecting {
		// The first connect after EINPROGRESS reports the outcome.
		if s.EP.State() == transport.Connected {
			return nil
		}
		if err := s.EP.TakeError(); err != 0 {
			return err
		}
	}
	switch s.EP.State() {
	case transport.Connected, transport.Listening:
		return unix.EISCONN
	case transport.Closed:
		return unix.EBADF
	}
	dst, err := s.checkDst(ap)
	if err != nil {
		return err
	}
	if err := s.autobind(s.loopbackFor(dst.Addr())); err != nil {
		return err
	}
	l := s.stack
	l.mu.Lock()
	src := s.local
	lis := l.findLocked(unix.IPPROTO_TCP, src, dst)
	l.mu.Unlock()
	if lis == nil {
		if w.Nonblock {
			s.EP.SetError(unix.ECONNREFUSED)
			s.setConnecting()
			return unix.EINPROGRESS
		}
		return unix.ECONNREFUSED
	}
	// The listener's side of the connection.
	srv := newSocket(ctx, l, lis.Family, unix.SOCK_STREAM, unix.IPPROTO_TCP, false)
	srv.CopyOptsFrom(&lis.Base)
	srv.v6only.Store(lis.v6only.Load())
	srv.bound = true
	srv.local = mapFor(lis.Family, dst)
	srv.remote = mapFor(lis.Family, src)
	s.mu.Lock()
	s.remote = dst
	s.mu.Unlock()
	if err := lis.EP.Enqueue(ctx, s.EP, srv.EP, w); err != nil {
		s.mu.Lock()
		s.remote = netip.AddrPort{}
		s.mu.Unlock()
		if err == unix.ECONNREFUSED && w.Nonblock {
			s.EP.SetError(unix.ECONNREFUSED)
			s.setConnecting()
			return unix.EINPROGRESS
		}
		return err
	}
	if w.Nonblock {
		s.setConnecting()
		return unix.EINPROGRESS
	}
	return nil
}

func (s *Socket) setConnecting() {
	s.mu.Lock()
	s.connecting = true
	s.mu.Unlock()
}

// mapFor returns ap as a socket of family sees it (v4 in v6 as v4-mapped).
func mapFor(family int, ap netip.AddrPort) netip.AddrPort {
	if family == unix.AF_INET6 && ap.Addr().Is4() {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	if family == unix.AF_INET {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap
}

// Listen implements listen(2).
func (s *Socket) Listen(ctx vfs.Context, backlog int) error {
	if s.Type != unix.SOCK_STREAM {
		return unix.EOPNOTSUPP
	}
	switch s.EP.State() {
	case transport.Connected, transport.Closed:
		return unix.EINVAL
	}
	l := s.stack
	l.mu.Lock()
	if !s.bound {
		any := netip.IPv4Unspecified()
		if s.Family == unix.AF_INET6 {
			any = netip.IPv6Unspecified()
		}
		if err := l.bindLocked(s, netip.AddrPortFrom(any, 0)); err != nil {
			l.mu.Unlock()
			return err
		}
		s.bound = true
	}
	// Only one listener per address unless both use SO_REUSEPORT.
	for _, o := range l.ports[portKey{s.Protocol, s.local.Port()}] {
		if o != s && o.EP.Listening() && overlaps(s, o) && !(s.ReusePort() && o.ReusePort()) {
			l.mu.Unlock()
			return unix.EADDRINUSE
		}
	}
	l.mu.Unlock()
	return s.EP.Listen(backlog)
}

// Accept implements accept(2).
func (s *Socket) Accept(ctx vfs.Context, w transport.Wait) (socket.Socket, error) {
	if s.Type != unix.SOCK_STREAM {
		return nil, unix.EOPNOTSUPP
	}
	ep, err := s.EP.Accept(ctx, w)
	if err != nil {
		return nil, err
	}
	return ep.Owner.(*Socket), nil
}

// Shutdown implements shutdown(2).
func (s *Socket) Shutdown(ctx vfs.Context, how int) error {
	if how < unix.SHUT_RD || how > unix.SHUT_RDWR {
		return unix.EINVAL
	}
	rd, wr := how != unix.SHUT_WR, how != unix.SHUT_RD
	if s.Type == unix.SOCK_DGRAM {
		s.mu.Lock()
		connected := s.remote.IsValid()
		s.mu.Unlock()
		s.EP.Shutdown(rd, wr)
		if !connected {
			return unix.ENOTCONN
		}
		return nil
	}
	return s.EP.Shutdown(rd, wr)
}

// SockName implements getsockname(2).
func (s *Socket) SockName() []byte {
	s.stack.mu.Lock()
	ap := s.local
	s.stack.mu.Unlock()
	if !ap.IsValid() {
		if s.Family == unix.AF_INET {
			ap = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		} else {
			ap = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
		}
	}
	return EncodeAddr(s.Family, ap)
}

// PeerName implements getpeername(2).
func (s *Socket) PeerName() ([]byte, error) {
	s.mu.Lock()
	r := s.remote
	s.mu.Unlock()
	if !r.IsValid() || s.Type == unix.SOCK_STREAM && s.EP.State() != transport.Connected {
		return nil, unix.ENOTCONN
	}
	return EncodeAddr(s.Family, r), nil
}

// Defaults of the TCP, IP and IPv6 options that are accepted and read back.
var optDefaults = map[[2]int]int32{
	{unix.SOL_TCP, unix.TCP_MAXSEG}:           536,
	{unix.SOL_TCP, unix.TCP_KEEPIDLE}:         7200,
	{unix.SOL_TCP, unix.TCP_KEEPINTVL}:        75,
	{unix.SOL_TCP, unix.TCP_KEEPCNT}:          9,
	{unix.SOL_TCP, unix.TCP_SYNCNT}:           6,
	{unix.SOL_TCP, unix.TCP_LINGER2}:          60,
	{unix.SOL_TCP, unix.TCP_QUICKACK}:         1,
	{unix.SOL_IP, unix.IP_TTL}:                64,
	{unix.SOL_IP, unix.IP_MTU_DISCOVER}:       1,
	{unix.SOL_IP, unix.IP_MULTICAST_TTL}:      1,
	{unix.SOL_IP, unix.IP_MULTICAST_LOOP}:     1,
	{unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS}:   64,
	{unix.SOL_IPV6, unix.IPV6_MULTICAST_HOPS}: 1,
	{unix.SOL_IPV6, unix.IPV6_MULTICAST_LOOP}: 1,
}

// boolOpts are options that read back as 0 or 1.
var boolOpts = map[[2]int]bool{
	{unix.SOL_TCP, unix.TCP_NODELAY}:       true,
	{unix.SOL_TCP, unix.TCP_CORK}:          true,
	{unix.SOL_TCP, unix.TCP_QUICKACK}:      true,
	{unix.SOL_IP, unix.IP_RECVTOS}:         true,
	{unix.SOL_IP, unix.IP_PKTINFO}:         true,
	{unix.SOL_IP, unix.IP_RECVERR}:         true,
	{unix.SOL_IP, unix.IP_FREEBIND}:        true,
	{unix.SOL_IPV6, unix.IPV6_RECVPKTINFO}: true,
	{unix.SOL_IPV6, unix.IPV6_RECVERR}:     true,
}

// levelOK reports whether options of level apply to s.
func (s *Socket) levelOK(level int) bool {
	switch level {
	case unix.SOL_TCP:
		return s.Protocol == unix.IPPROTO_TCP
	case unix.SOL_UDP:
		return s.Protocol == unix.IPPROTO_UDP
	case unix.SOL_IP:
		return true
	case unix.SOL_IPV6:
		return s.Family == unix.AF_INET6
	}
	return false
}

// GetSockOpt implements getsockopt(2).
func (s *Socket) GetSockOpt(ctx vfs.Context, level, name int) ([]byte, error) {
	if v, ok, err := s.GetSockOptCommon(level, name); ok || err != nil {
		return v, err
	}
	if level == unix.SOL_SOCKET {
		if name == unix.SO_PEERCRED {
			return nil, unix.ENOPROTOOPT
		}
		return socket.Int(s.OtherOpt(level, name, 0)), nil
	}
	if !s.levelOK(level) {
		return nil, unix.ENOPROTOOPT
	}
	switch {
	case level == unix.SOL_IPV6 && name == unix.IPV6_V6ONLY:
		return socket.Bool(s.v6only.Load()), nil
	case level == unix.SOL_TCP && name == unix.TCP_INFO:
		return s.tcpInfo(), nil
	case level == unix.SOL_TCP && name == unix.TCP_CONGESTION:
		return []byte("cubic\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), nil
	case level == unix.SOL_TCP && name == unix.TCP_MAXSEG && s.EP.State() == transport.Connected:
		return socket.Int(65483), nil // loopback MTU 65536 minus headers and options
	}
	return socket.Int(s.OtherOpt(level, name, optDefaults[[2]int{level, name}])), nil
}

// tcpInfo returns a struct tcp_info with the state filled in.
func (s *Socket) tcpInfo() []byte {
	b := make([]byte, 232)
	switch s.EP.State() {
	case transport.Connected:
		b[0] = 1 // TCP_ESTABLISHED
		if rd, wr := s.EP.ShutdownState(); rd && wr {
			b[0] = 7
		}
	case transport.Listening:
		b[0] = 10 // TCP_LISTEN
	default:
		b[0] = 7 // TCP_CLOSE
	}
	return b
}

// SetSockOpt implements setsockopt(2).
func (s *Socket) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	if ok, err := s.SetSockOptCommon(level, name, val); ok || err != nil {
		return err
	}
	if level != unix.SOL_SOCKET && !s.levelOK(level) {
		return unix.ENOPROTOOPT
	}
	if level == unix.SOL_TCP && name == unix.TCP_CONGESTION {
		return nil
	}
	v, err := socket.ParseInt(val)
	if err != nil {
		return err
	}
	key := [2]int{level, name}
	switch {
	case level == unix.SOL_IPV6 && name == unix.IPV6_V6ONLY:
		s.stack.mu.Lock()
		defer s.stack.mu.Unlock()
		if s.bound {
			return unix.EINVAL
		}
		s.v6only.Store(v != 0)
		return nil
	case level == unix.SOL_TCP && (name == unix.TCP_KEEPIDLE || name == unix.TCP_KEEPINTVL):
		if v < 1 || v > 32767 {
			return unix.EINVAL
		}
	case level == unix.SOL_TCP && name == unix.TCP_KEEPCNT:
		if v < 1 || v > 127 {
			return unix.EINVAL
		}
	case level == unix.SOL_IP && name == unix.IP_TTL:
		if v == -1 {
			v = 64
		} else if v < 1 || v > 255 {
			return unix.EINVAL
		}
	case level == unix.SOL_IPV6 && name == unix.IPV6_UNICAST_HOPS:
		if v == -1 {
			v = 64
		} else if v < -1 || v > 255 {
			return unix.EINVAL
		}
	case level == unix.SOL_IP && name == unix.IP_TOS:
		v &= 0xff
	}
	if boolOpts[key] && v != 0 {
		v = 1
	}
	s.SetOtherOpt(level, name, v)
	return nil
}

// SendMsg implements sendmsg(2).
func (s *Socket) SendMsg(ctx vfs.Context, data []byte, addr []byte, ctl transport.Control, flags int) (int, error) {
	ctl.Release() // SCM_RIGHTS means nothing here
	w := s.SendWait(flags)
	if s.Type == unix.SOCK_STREAM {
		if s.EP.State() != transport.Connected {
			if err := s.EP.TakeError(); err != 0 {
				return 0, err
			}
			return 0, unix.EPIPE
		}
		return s.EP.Write(ctx, nil, data, transport.Control{}, nil, w)
	}
	// UDP.
	s.mu.Lock()
	dst := s.remote
	s.mu.Unlock()
	if len(addr) > 0 {
		ap, unspec, err := s.parse(addr)
		if err != nil {
			return 0, err
		}
		if !unspec {
			if ap.Port() == 0 {
				return 0, unix.EINVAL
			}
			if dst, err = s.checkDst(ap); err != nil {
				return 0, err
			}
		}
	}
	if !dst.IsValid() {
		return 0, unix.EDESTADDRREQ
	}
	limit := maxUDP6
	if dst.Addr().Unmap().Is4() {
		limit = maxUDP4
	}
	if len(data) > limit {
		return 0, unix.EMSGSIZE
	}
	if err := s.EP.TakeError(); err != 0 {
		return 0, err
	}
	if rd, wr := s.EP.ShutdownState(); wr {
		_ = rd
		return 0, unix.EPIPE
	}
	if err := s.autobind(s.loopbackFor(dst.Addr())); err != nil {
		return 0, err
	}
	l := s.stack
	l.mu.Lock()
	src := s.local
	if src.Addr().IsUnspecified() {
		src = netip.AddrPortFrom(s.loopbackFor(dst.Addr()), src.Port())
	}
	target := l.findLocked(unix.IPPROTO_UDP, src, dst)
	l.mu.Unlock()
	if target == nil {
		// Port unreachable: a connected socket hears of it.
		s.mu.Lock()
		connected := s.remote.IsValid()
		s.mu.Unlock()
		if connected {
			s.EP.SetError(unix.ECONNREFUSED)
		}
		return len(data), nil
	}
	// A full receive queue drops the datagram, as UDP does.
	w.Nonblock = true
	if _, err := s.EP.Write(ctx, target.EP, data, transport.Control{}, src, w); err != nil && err != unix.EAGAIN && err != unix.ECONNREFUSED && err != unix.EPIPE {
		return 0, err
	}
	return len(data), nil
}

// RecvMsg implements recvmsg(2).
func (s *Socket) RecvMsg(ctx vfs.Context, dst []byte, flags int) (socket.RecvResult, error) {
	if s.Type == unix.SOCK_STREAM {
		if s.EP.Listening() {
			return socket.RecvResult{}, unix.ENOTCONN
		}
		if flags&unix.MSG_OOB != 0 {
			return socket.RecvResult{}, unix.EINVAL
		}
	}
	res, from, err := s.Recv(ctx, dst, flags, s.Type == unix.SOCK_STREAM)
	if err != nil {
		return res, err
	}
	res.HasCreds = false
	if ap, ok := from.(netip.AddrPort); ok && s.Type == unix.SOCK_DGRAM {
		res.Addr = EncodeAddr(s.Family, mapFor(s.Family, ap))
	}
	if s.Type == unix.SOCK_STREAM && flags&unix.MSG_TRUNC != 0 {
		res.Copied = 0
	}
	return res, nil
}

// Read implements read(2).
func (s *Socket) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	return s.ReadWith(ctx, s, p)
}

// Write implements write(2).
func (s *Socket) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	if s.Type == unix.SOCK_DGRAM {
		s.mu.Lock()
		c := s.remote.IsValid()
		s.mu.Unlock()
		if !c {
			return 0, unix.EDESTADDRREQ
		}
	}
	return s.SendMsg(ctx, p, nil, transport.Control{}, 0)
}

// Release closes the socket, freeing its port. SO_LINGER with a zero
// timeout resets the connection.
func (s *Socket) Release() {
	l := s.stack
	l.mu.Lock()
	if s.bound {
		l.unbindLocked(s)
	}
	l.mu.Unlock()
	if v, _, _ := s.GetSockOptCommon(unix.SOL_SOCKET, unix.SO_LINGER); len(v) == 8 &&
		binary.LittleEndian.Uint32(v) != 0 && binary.LittleEndian.Uint32(v[4:]) == 0 {
		s.EP.Abort()
		return
	}
	s.EP.Close()
}
