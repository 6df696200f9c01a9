// Package inet implements AF_INET and AF_INET6 sockets. A Stack creates
// them; Loopback is the stack of --network=none: an in-Sentry loopback
// interface only (127.0.0.0/8 and ::1), with TCP as reliable in-memory
// streams keeping TCP's observable semantics (listen backlogs, EINPROGRESS,
// half-close, resets, ephemeral ports) and UDP as in-memory datagrams. A
// real network stack plugs in by implementing Stack.
//
// Lock order: Loopback.mu > Socket.mu > transport.Endpoint.mu.
package inet

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/socket"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Stack is a network stack that makes AF_INET and AF_INET6 sockets.
type Stack interface {
	// NewSocket creates a socket as socket(2) does; protocol 0 picks the
	// type's default.
	NewSocket(ctx vfs.Context, family, typ, protocol int, nonblock bool) (socket.Socket, error)
	// Interfaces describes the stack's network interfaces (for netlink).
	Interfaces() []Interface
}

// Interface is one network interface with its addresses.
type Interface struct {
	Index int
	Name  string
	Flags uint32
	MTU   uint32
	// Addrs are the interface's addresses with their prefix lengths.
	Addrs []netip.Prefix
	// HardwareAddr is the link-layer (Ethernet) address; none for lo.
	HardwareAddr []byte
}

// Route is a route of the main routing table, as `ip route` lists it.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
	// Index is the output interface's index.
	Index int
}

// RouteLister is a Stack with routes in its main table (lo's routes live
// in the local table and are not listed). Netlink route dumps of a Stack
// that is not a RouteLister are empty.
type RouteLister interface {
	Routes() []Route
}

// Ephemeral port range (net.ipv4.ip_local_port_range).
const (
	EphemeralFirst = 32768
	EphemeralLast  = 60999
)

// ParseAddr decodes a sockaddr_in or sockaddr_in6. v4-mapped IPv6
// addresses are kept as such (netip.Addr.Is4In6).
func ParseAddr(b []byte) (netip.AddrPort, int, error) {
	if len(b) < 2 {
		return netip.AddrPort{}, 0, unix.EINVAL
	}
	switch fam := int(binary.LittleEndian.Uint16(b)); fam {
	case unix.AF_INET:
		if len(b) < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}, 0, unix.EINVAL
		}
		port := binary.BigEndian.Uint16(b[2:])
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), fam, nil
	case unix.AF_INET6:
		if len(b) < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}, 0, unix.EINVAL
		}
		port := binary.BigEndian.Uint16(b[2:])
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port), fam, nil
	case unix.AF_UNSPEC:
		return netip.AddrPort{}, fam, nil
	default:
		return netip.AddrPort{}, fam, unix.EAFNOSUPPORT
	}
}

// ParseFor decodes addr for a socket of family: unspec is set for
// AF_UNSPEC; EAFNOSUPPORT for another family (EINVAL for an IPv4 address on
// an IPv6 socket), EINVAL if too short.
func ParseFor(family int, addr []byte) (ap netip.AddrPort, unspec bool, err error) {
	ap, fam, err := ParseAddr(addr)
	if err != nil {
		return ap, false, err
	}
	if fam == unix.AF_UNSPEC {
		return ap, true, nil
	}
	if fam != family {
		if family == unix.AF_INET6 && fam == unix.AF_INET {
			return ap, false, unix.EINVAL
		}
		return ap, false, unix.EAFNOSUPPORT
	}
	return ap, false, nil
}

// EncodeAddr encodes ap for a socket of family: sockaddr_in, or
// sockaddr_in6 (v4 addresses become v4-mapped).
func EncodeAddr(family int, ap netip.AddrPort) []byte {
	if family == unix.AF_INET {
		b := make([]byte, unix.SizeofSockaddrInet4)
		binary.LittleEndian.PutUint16(b, unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], ap.Port())
		a := ap.Addr().Unmap()
		if a.Is4() {
			a4 := a.As4()
			copy(b[4:], a4[:])
		}
		return b
	}
	b := make([]byte, unix.SizeofSockaddrInet6)
	binary.LittleEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], ap.Port())
	a := ap.Addr()
	if !a.IsValid() {
		a = netip.IPv6Unspecified()
	}
	a16 := a.As16()
	copy(b[8:], a16[:])
	return b
}

// Loopback is the --network=none stack.
type Loopback struct {
	mu sync.Mutex
	// ports maps protocol and port to the sockets bound there.
	ports map[portKey][]*Socket
	// next is the next ephemeral port to try, per protocol.
	next map[int]int

	// somaxconn, ipForward and unprivPortStart are net.core.somaxconn,
	// net.ipv4.ip_forward and net.ipv4.ip_unprivileged_port_start (see
	// Sysctls).
	somaxconn, ipForward, unprivPortStart atomic.Int32
	// pingGroups is net.ipv4.ping_group_range, kept: the loopback offers
	// no ICMP sockets.
	pingGroups *PingGroupRange
}

type portKey struct {
	proto int
	port  uint16
}

var _ Sysctler = (*Loopback)(nil)

// NewLoopback returns a loopback-only stack.
func NewLoopback() *Loopback {
	l := &Loopback{ports: make(map[portKey][]*Socket), next: map[int]int{unix.IPPROTO_TCP: EphemeralFirst, unix.IPPROTO_UDP: EphemeralFirst}}
	l.somaxconn.Store(DefaultSomaxconn)
	l.unprivPortStart.Store(DefaultUnprivilegedPortStart)
	l.pingGroups = NewPingGroupRange()
	return l
}

// Interfaces returns lo.
func (l *Loopback) Interfaces() []Interface {
	return []Interface{{
		Index: 1, Name: "lo", MTU: 65536,
		Flags: unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING,
		Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")},
	}}
}

// NewSocket creates a TCP or UDP socket on the loopback.
func (l *Loopback) NewSocket(ctx vfs.Context, family, typ, protocol int, nonblock bool) (socket.Socket, error) {
	switch typ {
	case unix.SOCK_STREAM:
		if protocol != 0 && protocol != unix.IPPROTO_TCP {
			return nil, unix.EPROTONOSUPPORT
		}
		protocol = unix.IPPROTO_TCP
	case unix.SOCK_DGRAM:
		if protocol != 0 && protocol != unix.IPPROTO_UDP {
			return nil, unix.EPROTONOSUPPORT
		}
		protocol = unix.IPPROTO_UDP
	case unix.SOCK_RAW:
		return nil, unix.EPERM
	default:
		return nil, unix.ESOCKTNOSUPPORT
	}
	return newSocket(ctx, l, family, typ, protocol, nonblock), nil
}

// isLoopback reports whether a is an address of lo.
func isLoopback(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback()
}

// overlaps reports whether two bound sockets' local addresses conflict.
func overlaps(a, b *Socket) bool {
	aa, ba := a.local.Addr(), b.local.Addr()
	aAny, bAny := aa.IsUnspecified(), ba.IsUnspecified()
	// Which address families each binding covers.
	a4, a6 := a.covers()
	b4, b6 := b.covers()
	if !(a4 && b4 || a6 && b6) {
		return false
	}
	if aAny || bAny {
		return true
	}
	return aa.Unmap() == ba.Unmap()
}

// bindLocked records s at its local address, allocating an ephemeral port
// for port 0. l.mu is held.
func (l *Loopback) bindLocked(s *Socket, ap netip.AddrPort) error {
	if ap.Port() != 0 {
		s.local = ap
		if err := l.checkLocked(s); err != nil {
			s.local = netip.AddrPort{}
			return err
		}
		k := portKey{s.Protocol, ap.Port()}
		l.ports[k] = append(l.ports[k], s)
		return nil
	}
	n := EphemeralLast - EphemeralFirst + 1
	for i := 0; i < n; i++ {
		p := l.next[s.Protocol]
		l.next[s.Protocol] = EphemeralFirst + (p-EphemeralFirst+1)%n
		s.local = netip.AddrPortFrom(ap.Addr(), uint16(p))
		if l.checkLocked(s) == nil {
			k := portKey{s.Protocol, uint16(p)}
			l.ports[k] = append(l.ports[k], s)
			return nil
		}
	}
	s.local = netip.AddrPort{}
	return unix.EADDRINUSE
}

// checkLocked returns EADDRINUSE if s.local conflicts with another binding,
// following SO_REUSEADDR and SO_REUSEPORT. l.mu is held.
func (l *Loopback) checkLocked(s *Socket) error {
	for _, o := range l.ports[portKey{s.Protocol, s.local.Port()}] {
		if o == s || !overlaps(s, o) {
			continue
		}
		if s.ReusePort() && o.ReusePort() {
			continue
		}
		if s.ReuseAddr() && o.ReuseAddr() && (s.Protocol == unix.IPPROTO_UDP || !o.EP.Listening()) {
			continue
		}
		return unix.EADDRINUSE
	}
	return nil
}

// unbindLocked removes s from the port table. l.mu is held.
func (l *Loopback) unbindLocked(s *Socket) {
	k := portKey{s.Protocol, s.local.Port()}
	list := l.ports[k]
	for i, o := range list {
		if o == s {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(l.ports, k)
	} else {
		l.ports[k] = list
	}
}

// findLocked returns the socket that receives what is sent from src to dst:
// a listener for TCP, a bound (and, if connected, matching) socket for UDP.
// Exact local addresses win over wildcards, connected UDP sockets over
// unconnected ones. l.mu is held.
func (l *Loopback) findLocked(proto int, src, dst netip.AddrPort) *Socket {
	var best *Socket
	bestScore := -1
	for _, s := range l.ports[portKey{proto, dst.Port()}] {
		if proto == unix.IPPROTO_TCP && !s.EP.Listening() {
			continue
		}
		c4, c6 := s.covers()
		if dst.Addr().Unmap().Is4() && !c4 || !dst.Addr().Unmap().Is4() && !c6 {
			continue
		}
		score := 0
		la := s.local.Addr()
		if !la.IsUnspecified() {
			if la.Unmap() != dst.Addr().Unmap() {
				continue
			}
			score += 2
		}
		if proto == unix.IPPROTO_UDP {
			s.mu.Lock()
			r := s.remote
			s.mu.Unlock()
			if r.IsValid() {
				if r.Addr().Unmap() != src.Addr().Unmap() || r.Port() != src.Port() {
					continue
				}
				score += 4
			}
		}
		if score > bestScore {
			best, bestScore = s, score
		}
	}
	return best
}
