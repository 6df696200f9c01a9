// Package hostinet is the network stack of --network=host: AF_INET and
// AF_INET6 sockets of the application are host sockets the Sentry creates
// and drives. Only what passes a filter reaches the host: TCP, UDP and
// ICMP ping sockets (no raw or packet sockets), well-formed sockaddrs of the
// socket's own family, an allowlist of socket options, and FIONREAD and
// TIOCOUTQ. The host sockets are non-blocking; blocking, timeouts and
// interruption are the Sentry's (readiness comes from the host poller of
// package fsimpl/host), so that a signal reaches a task blocked in accept
// or recv as it does with the other stacks.
//
// Lock order: Socket.mu is a leaf.
package hostinet

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/socket"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Stack creates host sockets. It implements inet.Stack.
type Stack struct {
	// ifaces is the host's interfaces, read once at start (later the
	// Sentry's seccomp filter allows no netlink socket).
	ifaces []inet.Interface
	// sysctls are the host's net.* sysctls by path under /proc/sys/net,
	// read once at start (see readSysctls).
	sysctls map[string]int32
}

// New returns a stack of host sockets, reading the host's interfaces for
// netlink's answers and its net.* sysctls for /proc/sys/net now.
func New() (*Stack, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing the host's interfaces: %w", err)
	}
	st := &Stack{}
	for _, ifc := range ifs {
		i := inet.Interface{Index: ifc.Index, Name: ifc.Name, MTU: uint32(ifc.MTU), Flags: hostFlags(ifc.Flags), HardwareAddr: ifc.HardwareAddr}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("listing the addresses of %s: %w", ifc.Name, err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ip, _ := netip.AddrFromSlice(n.IP)
				ones, _ := n.Mask.Size()
				if ip.Is4In6() {
					ip = ip.Unmap()
				}
				i.Addrs = append(i.Addrs, netip.PrefixFrom(ip, ones))
			}
		}
		st.ifaces = append(st.ifaces, i)
	}
	if err := st.readSysctls(); err != nil {
		return nil, err
	}
	return st, nil
}

// hostFlags converts net.Flags to IFF_* bits.
func hostFlags(f net.Flags) uint32 {
	var r uint32
	for _, m := range []struct {
		net  net.Flags
		unix uint32
	}{
		{net.FlagUp, unix.IFF_UP}, {net.FlagBroadcast, unix.IFF_BROADCAST}, {net.FlagLoopback, unix.IFF_LOOPBACK},
		{net.FlagPointToPoint, unix.IFF_POINTOPOINT}, {net.FlagMulticast, unix.IFF_MULTICAST}, {net.FlagRunning, unix.IFF_RUNNING},
	} {
		if f&m.net != 0 {
			r |= m.unix
		}
	}
	return r
}

// Interfaces implements inet.Stack.
func (st *Stack) Interfaces() []inet.Interface { return append([]inet.Interface(nil), st.ifaces...) }

// NewSocket implements inet.Stack: a TCP, UDP or ping socket of the host.
func (st *Stack) NewSocket(ctx vfs.Context, family, typ, protocol int, nonblock bool) (socket.Socket, error) {
	switch typ {
	case unix.SOCK_STREAM:
		if protocol != 0 && protocol != unix.IPPROTO_TCP {
			return nil, unix.EPROTONOSUPPORT
		}
		protocol = unix.IPPROTO_TCP
	case unix.SOCK_DGRAM:
		switch {
		case protocol == 0 || protocol == unix.IPPROTO_UDP:
			protocol = unix.IPPROTO_UDP
		case family == unix.AF_INET && protocol == unix.IPPROTO_ICMP, family == unix.AF_INET6 && protocol == unix.IPPROTO_ICMPV6:
		default:
			return nil, unix.EPROTONOSUPPORT
		}
	case unix.SOCK_RAW:
		return nil, unix.EPERM
	default:
		return nil, unix.ESOCKTNOSUPPORT
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, protocol)
	if err != nil {
		return nil, err
	}
	return newSocket(ctx, family, typ, protocol, fd, nonblock), nil
}
