package netstack

import (
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"bufferzone.dev/pkg/sentry/socket/inet"
)

var _ inet.Sysctler = (*Stack)(nil)

// Sysctls implements inet.Sysctler: net.core.somaxconn,
// net.ipv4.ip_unprivileged_port_start (bind(2) applies it),
// net.ipv4.ping_group_range (socket(2) of an ICMP socket applies it), and
// net.ipv4.ip_forward, which turns IPv4 forwarding between the stack's
// interfaces on (any value but 0) or off, on every interface and on those
// added later, as writing it does on Linux.
func (st *Stack) Sysctls() []inet.Sysctl {
	return []inet.Sysctl{
		inet.AtomicSysctl("core/somaxconn", 0, inet.SysctlIntMax, &st.somaxconn),
		{Path: "ipv4/ip_forward", Min: inet.SysctlIntMin, Max: inet.SysctlIntMax,
			Get: st.ipForward.Load, Set: st.setIPForward},
		inet.UnprivilegedPortStartSysctl(&st.unprivPortStart),
		st.pingGroups.Sysctl(),
	}
}

// Somaxconn implements inet.Sysctler.
func (st *Stack) Somaxconn() int { return int(st.somaxconn.Load()) }

// setIPForward sets net.ipv4.ip_forward.
func (st *Stack) setIPForward(v int32) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := errno(st.s.SetForwardingDefaultAndAllNICs(ipv4.ProtocolNumber, v != 0)); err != nil {
		return err
	}
	st.ipForward.Store(v)
	return nil
}
