package boot

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/socket/netstack"
)

// takeLinks hands the user-space stack every interface of the Sentry's
// network namespace except lo: for each it opens a packet socket bound to
// the interface, records its addresses (IPv4 and global IPv6) and its
// routes of the main table, and then removes the addresses from the host's
// interface, so that the host's stack no longer answers for them (ARP,
// resets) and the frames are the Sentry's alone. It must run before the
// Sentry drops its capabilities, and only in a network namespace of the
// sandbox's own (never the host's).
func takeLinks() ([]netstack.Link, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	routes, err := mainRoutes()
	if err != nil {
		return nil, err
	}
	var links []netstack.Link
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		l := netstack.Link{Name: ifc.Name, MAC: ifc.HardwareAddr, MTU: uint32(ifc.MTU), Routes: routes[ifc.Index]}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.IsLinkLocalUnicast() {
				continue
			}
			ip, _ := netip.AddrFromSlice(n.IP)
			ones, _ := n.Mask.Size()
			l.Addrs = append(l.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
		}
		fd, err := packetSocket(ifc.Index)
		if err != nil {
			return nil, fmt.Errorf("packet socket on %s: %w", ifc.Name, err)
		}
		l.FD = fd
		for _, p := range l.Addrs {
			if err := delAddr(ifc.Index, p); err != nil {
				unix.Close(fd)
				return nil, fmt.Errorf("removing %s from %s: %w", p, ifc.Name, err)
			}
		}
		links = append(links, l)
	}
	return links, nil
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket returns an AF_PACKET socket receiving every frame of the
// interface.
func packetSocket(index int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: index}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// mainRoutes returns the unicast routes of the main routing table by
// output interface index (link-local IPv6 routes left out).
func mainRoutes() (map[int][]netstack.Route, error) {
	routes := make(map[int][]netstack.Route)
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		rib, err := syscall.NetlinkRIB(unix.RTM_GETROUTE, family)
		if err != nil {
			return nil, fmt.Errorf("dumping routes: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(rib)
		if err != nil {
			return nil, fmt.Errorf("parsing routes: %w", err)
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
				continue
			}
			rt := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
			if rt.Table != unix.RT_TABLE_MAIN || rt.Type != unix.RTN_UNICAST {
				continue
			}
			attrs, err := syscall.ParseNetlinkRouteAttr(m)
			if err != nil {
				return nil, fmt.Errorf("parsing a route: %w", err)
			}
			dst := netip.IPv4Unspecified()
			if rt.Family == unix.AF_INET6 {
				dst = netip.IPv6Unspecified()
			}
			var gw netip.Addr
			oif := -1
			for _, a := range attrs {
				switch a.Attr.Type {
				case unix.RTA_DST:
					dst, _ = netip.AddrFromSlice(a.Value)
				case unix.RTA_GATEWAY:
					gw, _ = netip.AddrFromSlice(a.Value)
				case unix.RTA_OIF:
					if len(a.Value) == 4 {
						oif = int(binary.NativeEndian.Uint32(a.Value))
					}
				}
			}
			p := netip.PrefixFrom(dst, int(rt.Dst_len))
			if oif < 0 || !p.IsValid() || dst.IsLinkLocalUnicast() {
				continue
			}
			routes[oif] = append(routes[oif], netstack.Route{Dst: p, Gateway: gw})
		}
	}
	return routes, nil
}

// delAddr removes address p from the interface with the given index
// (RTM_DELADDR) and waits for the kernel's answer.
func delAddr(index int, p netip.Prefix) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	a := p.Addr().AsSlice()
	family := unix.AF_INET
	if len(a) == 16 {
		family = unix.AF_INET6
	}
	attr := func(typ uint16, v []byte) []byte {
		b := make([]byte, (unix.SizeofRtAttr+len(v)+3)&^3)
		binary.NativeEndian.PutUint16(b, uint16(unix.SizeofRtAttr+len(v)))
		binary.NativeEndian.PutUint16(b[2:], typ)
		copy(b[unix.SizeofRtAttr:], v)
		return b
	}
	body := make([]byte, unix.SizeofIfAddrmsg)
	body[0] = byte(family)
	body[1] = byte(p.Bits())
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	body = append(body, attr(unix.IFA_LOCAL, a)...)
	body = append(body, attr(unix.IFA_ADDRESS, a)...)
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg, uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], unix.RTM_DELADDR)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], 1)
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
				return unix.Errno(-e)
			}
			return nil
		}
	}
	return fmt.Errorf("no answer from the kernel")
}
