// Package netstack is the network stack of --network=sandbox: AF_INET and
// AF_INET6 sockets served by a user-space TCP/IP stack inside the Sentry
// (gvisor.dev/gvisor/pkg/tcpip, used as a library), with a loopback
// interface and, optionally, links of the sandbox's network namespace that
// the Sentry drives itself through AF_PACKET sockets. No application packet
// is handled by the host's TCP/IP stack: the host sees only Ethernet frames.
//
// Lock order: Stack.mu is a leaf. Socket.mu is taken before no other lock of
// this package; tcpip's own locks are below every lock here.
package netstack

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"bufferzone.dev/pkg/sentry/socket/inet"
)

// loopbackNIC is the NIC ID (and interface index) of lo.
const loopbackNIC tcpip.NICID = 1

// Stack is a user-space TCP/IP stack. It implements inet.Stack.
type Stack struct {
	s *stack.Stack

	mu sync.Mutex
	// ifaces describes the interfaces, in index order.
	ifaces []inet.Interface

	// somaxconn is net.core.somaxconn; ipForward is net.ipv4.ip_forward,
	// written only with mu held, as the stack's forwarding (see Sysctls).
	somaxconn, ipForward atomic.Int32
	// unprivPortStart is net.ipv4.ip_unprivileged_port_start.
	unprivPortStart atomic.Int32
	// pingGroups is net.ipv4.ping_group_range: who may create ICMP
	// sockets.
	pingGroups *inet.PingGroupRange
}

// New returns a stack with lo (127.0.0.1/8 and ::1/128) and the routes to
// it; links are added with AddLink.
func New() (*Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		HandleLocal:        true,
	})
	// Linux's defaults: SACK on, and a receive buffer that grows with the
	// window (moderation), which is what lets loopback streams go fast.
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)
	if err := s.CreateNICWithOptions(loopbackNIC, loopback.New(), stack.NICOptions{Name: "lo"}); err != nil {
		return nil, fmt.Errorf("creating lo: %s", err)
	}
	st := &Stack{s: s}
	st.somaxconn.Store(inet.DefaultSomaxconn)
	st.unprivPortStart.Store(inet.DefaultUnprivilegedPortStart)
	st.pingGroups = inet.NewPingGroupRange()
	lo := inet.Interface{Index: int(loopbackNIC), Name: "lo", MTU: 65536, Flags: loopbackFlags}
	for _, p := range []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")} {
		if err := st.addAddress(loopbackNIC, p); err != nil {
			return nil, fmt.Errorf("lo: %w", err)
		}
		lo.Addrs = append(lo.Addrs, p)
	}
	st.ifaces = append(st.ifaces, lo)
	s.SetRouteTable([]tcpip.Route{
		{Destination: prefixSubnet(netip.MustParsePrefix("127.0.0.0/8")), NIC: loopbackNIC},
		{Destination: prefixSubnet(netip.MustParsePrefix("::1/128")), NIC: loopbackNIC},
	})
	return st, nil
}
