package boot

import (
	"fmt"

	"bufferzone.dev/pkg/seccomp"
	"bufferzone.dev/pkg/sentry/socket/hostinet"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/socket/netstack"
	"bufferzone.dev/runsc/config"
)

// NewNetworkStack returns the stack of the sandbox's AF_INET and AF_INET6
// sockets as --network says: "none", an in-Sentry loopback only; "sandbox",
// the user-space TCP/IP stack with its own lo and, if ownNetns is set, the
// other interfaces of the Sentry's network namespace (see takeLinks);
// "host", host sockets (the Sentry then runs in the caller's network
// namespace or the spec's, and its seccomp filter allows the socket calls;
// see runsc/sandbox). ownNetns must be set only when the namespace is the
// sandbox's, never the host's. It runs before the seccomp filter is
// installed; NetworkFilter says what the filter must add for the stack.
func NewNetworkStack(n config.Network, ownNetns bool) (inet.Stack, error) {
	switch n {
	case config.NetworkNone:
		return inet.NewLoopback(), nil
	case config.NetworkSandbox:
		st, err := netstack.New()
		if err != nil {
			return nil, fmt.Errorf("creating the sandbox network stack: %w", err)
		}
		if !ownNetns {
			return st, nil
		}
		links, err := takeLinks()
		if err != nil {
			return nil, fmt.Errorf("taking the network namespace's interfaces: %w", err)
		}
		for _, l := range links {
			if err := st.AddLink(l); err != nil {
				return nil, err
			}
		}
		return st, nil
	case config.NetworkHost:
		st, err := hostinet.New()
		if err != nil {
			return nil, fmt.Errorf("host networking: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("unknown network mode %q", n)
}

// NetworkFilter returns the host system calls the Sentry's seccomp filter
// must add for st, a stack NewNetworkStack made.
func NetworkFilter(st inet.Stack) seccomp.Filter {
	switch st := st.(type) {
	case *hostinet.Stack:
		return seccomp.HostNetworkFilter()
	case *netstack.Stack:
		if st.HasLinks() {
			return seccomp.PacketLinkFilter()
		}
	}
	return seccomp.Filter{}
}
