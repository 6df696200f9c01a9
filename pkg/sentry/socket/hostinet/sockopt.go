package hostinet

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

// hostOpts are the options passed to the host, with the largest value the
// host is given or asked for; every other option is the Sentry's own
// (timeouts, SO_PASSCRED) or ENOPROTOOPT. Options that would make the host
// attach control messages (IP_PKTINFO, IP_RECVERR, timestamps) are not
// passed: recvmsg delivers none.
var hostOpts = map[[2]int]int{
	{unix.SOL_SOCKET, unix.SO_REUSEADDR}:      4,
	{unix.SOL_SOCKET, unix.SO_REUSEPORT}:      4,
	{unix.SOL_SOCKET, unix.SO_KEEPALIVE}:      4,
	{unix.SOL_SOCKET, unix.SO_BROADCAST}:      4,
	{unix.SOL_SOCKET, unix.SO_LINGER}:         8,
	{unix.SOL_SOCKET, unix.SO_SNDBUF}:         4,
	{unix.SOL_SOCKET, unix.SO_RCVBUF}:         4,
	{unix.SOL_SOCKET, unix.SO_ERROR}:          4,
	{unix.SOL_SOCKET, unix.SO_TYPE}:           4,
	{unix.SOL_SOCKET, unix.SO_DOMAIN}:         4,
	{unix.SOL_SOCKET, unix.SO_PROTOCOL}:       4,
	{unix.SOL_SOCKET, unix.SO_ACCEPTCONN}:     4,
	{unix.SOL_SOCKET, unix.SO_OOBINLINE}:      4,
	{unix.SOL_SOCKET, unix.SO_RCVLOWAT}:       4,
	{unix.SOL_SOCKET, unix.SO_SNDLOWAT}:       4,
	{unix.SOL_TCP, unix.TCP_NODELAY}:          4,
	{unix.SOL_TCP, unix.TCP_CORK}:             4,
	{unix.SOL_TCP, unix.TCP_KEEPIDLE}:         4,
	{unix.SOL_TCP, unix.TCP_KEEPINTVL}:        4,
	{unix.SOL_TCP, unix.TCP_KEEPCNT}:          4,
	{unix.SOL_TCP, unix.TCP_MAXSEG}:           4,
	{unix.SOL_TCP, unix.TCP_QUICKACK}:         4,
	{unix.SOL_TCP, unix.TCP_SYNCNT}:           4,
	{unix.SOL_TCP, unix.TCP_LINGER2}:          4,
	{unix.SOL_TCP, unix.TCP_DEFER_ACCEPT}:     4,
	{unix.SOL_TCP, unix.TCP_USER_TIMEOUT}:     4,
	{unix.SOL_TCP, unix.TCP_NOTSENT_LOWAT}:    4,
	{unix.SOL_TCP, unix.TCP_WINDOW_CLAMP}:     4,
	{unix.SOL_TCP, unix.TCP_INFO}:             232,
	{unix.SOL_TCP, unix.TCP_CONGESTION}:       16,
	{unix.SOL_IP, unix.IP_TTL}:                4,
	{unix.SOL_IP, unix.IP_TOS}:                4,
	{unix.SOL_IP, unix.IP_MTU_DISCOVER}:       4,
	{unix.SOL_IP, unix.IP_MULTICAST_TTL}:      4,
	{unix.SOL_IP, unix.IP_MULTICAST_LOOP}:     4,
	{unix.SOL_IPV6, unix.IPV6_V6ONLY}:         4,
	{unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS}:   4,
	{unix.SOL_IPV6, unix.IPV6_TCLASS}:         4,
	{unix.SOL_IPV6, unix.IPV6_MULTICAST_HOPS}: 4,
	{unix.SOL_IPV6, unix.IPV6_MULTICAST_LOOP}: 4,
}

// GetSockOpt implements getsockopt(2).
func (s *Socket) GetSockOpt(ctx vfs.Context, level, name int) ([]byte, error) {
	size, ok := hostOpts[[2]int{level, name}]
	if !ok {
		if v, ok, err := s.GetSockOptCommon(level, name); ok || err != nil {
			return v, err
		}
		return nil, unix.ENOPROTOOPT
	}
	buf := make([]byte, size)
	l := uint32(size)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), uintptr(level), uintptr(name),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return nil, e
	}
	return buf[:min(l, uint32(size))], nil
}

// SetSockOpt implements setsockopt(2).
func (s *Socket) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	size, ok := hostOpts[[2]int{level, name}]
	if !ok {
		if ok, err := s.SetSockOptCommon(level, name, val); ok || err != nil {
			return err
		}
		return unix.ENOPROTOOPT
	}
	if len(val) > size {
		val = val[:size]
	}
	var p unsafe.Pointer
	if len(val) > 0 {
		p = unsafe.Pointer(&val[0])
	}
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(s.fd), uintptr(level), uintptr(name), uintptr(p), uintptr(len(val)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// netipZero is the unspecified address and port of family.
func netipZero(family int) netip.AddrPort {
	if family == unix.AF_INET {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	return netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
}
