package netstack

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"bufferzone.dev/pkg/sentry/socket/inet"
)

// loopbackFlags are lo's interface flags.
const loopbackFlags = unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING

// toTCPIP converts an address; v4-mapped IPv6 addresses become IPv4 ones,
// as the stack's dual-stack sockets expect.
func toTCPIP(a netip.Addr) tcpip.Address {
	a = a.Unmap()
	if a.Is4() {
		return tcpip.AddrFrom4(a.As4())
	}
	return tcpip.AddrFrom16(a.As16())
}

// fromTCPIP converts an address back (the zero address if it has none).
func fromTCPIP(a tcpip.Address) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.AsSlice())
	return ip
}

// protocolOf returns the network protocol of a.
func protocolOf(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Unmap().Is4() {
		return ipv4.ProtocolNumber
	}
	return ipv6.ProtocolNumber
}

// prefixSubnet converts a prefix to the stack's subnet (host bits cleared).
func prefixSubnet(p netip.Prefix) tcpip.Subnet {
	p = p.Masked()
	return tcpip.AddressWithPrefix{Address: toTCPIP(p.Addr()), PrefixLen: p.Bits()}.Subnet()
}

// addAddress assigns p to the NIC.
func (st *Stack) addAddress(nic tcpip.NICID, p netip.Prefix) error {
	pa := tcpip.ProtocolAddress{
		Protocol:          protocolOf(p.Addr()),
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: toTCPIP(p.Addr()), PrefixLen: p.Bits()},
	}
	if err := st.s.AddProtocolAddress(nic, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("adding address %s: %s", p, err)
	}
	return nil
}

// Interfaces implements inet.Stack.
func (st *Stack) Interfaces() []inet.Interface {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]inet.Interface(nil), st.ifaces...)
}

// fullAddress converts a parsed sockaddr to the stack's form; an
// unspecified address is the stack's "any" (the empty address).
func fullAddress(ap netip.AddrPort) tcpip.FullAddress {
	fa := tcpip.FullAddress{Port: ap.Port()}
	if a := ap.Addr(); a.IsValid() && !a.Unmap().IsUnspecified() {
		fa.Addr = toTCPIP(a)
	}
	return fa
}

// sockaddr encodes a stack address as a sockaddr of family.
func sockaddr(family int, fa tcpip.FullAddress) []byte {
	a := fromTCPIP(fa.Addr)
	if !a.IsValid() {
		if family == unix.AF_INET {
			a = netip.IPv4Unspecified()
		} else {
			a = netip.IPv6Unspecified()
		}
	}
	if family == unix.AF_INET6 && a.Is4() {
		a = netip.AddrFrom16(a.As16())
	}
	return inet.EncodeAddr(family, netip.AddrPortFrom(a, fa.Port))
}
