package netstack

import (
	"fmt"
	"net"
	"net/netip"
	"sort"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"bufferzone.dev/pkg/sentry/socket/inet"
)

// Link describes a network interface of the sandbox's network namespace
// that the stack drives itself: it sends and receives Ethernet frames on
// FD, an AF_PACKET socket bound to the interface, and the interface's
// addresses and routes become the stack's (the host's copy of the
// addresses must be gone, or the host would answer for them too).
type Link struct {
	Name string
	// FD is the packet socket; the stack owns it once AddLink succeeds.
	FD     int
	MAC    net.HardwareAddr
	MTU    uint32
	Addrs  []netip.Prefix
	Routes []Route
}

// Route is a route through a link: to Dst, directly or via Gateway.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
}

// AddLink adds l as the stack's next interface.
func (st *Stack) AddLink(l Link) error {
	ep, err := fdbased.New(&fdbased.Options{
		FDs:                []int{l.FD},
		MTU:                l.MTU,
		EthernetHeader:     true,
		Address:            tcpip.LinkAddress(l.MAC),
		PacketDispatchMode: fdbased.RecvMMsg,
		IsPacketSocket:     []bool{true},
		// Frames from a veth peer's own stack carry no finished
		// checksum (the host offloads it and never computes it on a
		// virtual link); the host kernel has checked the rest.
		RXChecksumOffload: true,
	})
	if err != nil {
		return fmt.Errorf("link %s: %w", l.Name, err)
	}
	st.mu.Lock()
	id := tcpip.NICID(len(st.ifaces) + 1)
	st.mu.Unlock()
	if e := st.s.CreateNICWithOptions(id, ep, stack.NICOptions{Name: l.Name}); e != nil {
		return fmt.Errorf("link %s: %s", l.Name, e)
	}
	ifc := inet.Interface{
		Index: int(id), Name: l.Name, MTU: l.MTU, HardwareAddr: l.MAC,
		Flags: unix.IFF_UP | unix.IFF_BROADCAST | unix.IFF_RUNNING | unix.IFF_MULTICAST,
	}
	for _, p := range l.Addrs {
		if err := st.addAddress(id, p); err != nil {
			return fmt.Errorf("link %s: %w", l.Name, err)
		}
		ifc.Addrs = append(ifc.Addrs, p)
	}
	routes := st.s.GetRouteTable()
	for _, r := range l.Routes {
		tr := tcpip.Route{Destination: prefixSubnet(r.Dst), NIC: id}
		if r.Gateway.IsValid() {
			tr.Gateway = toTCPIP(r.Gateway)
		}
		routes = append(routes, tr)
	}
	// The stack takes the first route that matches: most specific first.
	sort.SliceStable(routes, func(i, j int) bool {
		return routes[i].Destination.Prefix() > routes[j].Destination.Prefix()
	})
	st.s.SetRouteTable(routes)
	st.mu.Lock()
	st.ifaces = append(st.ifaces, ifc)
	st.mu.Unlock()
	return nil
}

// HasLinks reports whether the stack drives any link besides lo.
func (st *Stack) HasLinks() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.ifaces) > 1
}

// Routes implements inet.RouteLister: the routes through links other than
// lo.
func (st *Stack) Routes() []inet.Route {
	var out []inet.Route
	for _, r := range st.s.GetRouteTable() {
		if r.NIC == loopbackNIC {
			continue
		}
		dst := fromTCPIP(r.Destination.ID())
		ir := inet.Route{Dst: netip.PrefixFrom(dst, r.Destination.Prefix()), Index: int(r.NIC)}
		if r.Gateway.Len() > 0 {
			ir.Gateway = fromTCPIP(r.Gateway)
		}
		out = append(out, ir)
	}
	return out
}
