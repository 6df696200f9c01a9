package boot

import (
	"fmt"

	"bufferzone.dev/pkg/sentry/socket/hostinet"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/socket/netstack"
	"bufferzone.dev/runsc/config"
)

// NewNetworkStack returns the stack of the sandbox's AF_INET and AF_INET6
// sockets as --network says: "none", an in-Sentry loopback only; "sandbox",
// the user-space TCP/IP stack with its own lo; "host", host sockets (the
// Sentry then runs in the caller's network namespace and its seccomp filter
// allows the socket calls; see runsc/sandbox).
func NewNetworkStack(n config.Network) (inet.Stack, error) {
	switch n {
	case config.NetworkNone:
		return inet.NewLoopback(), nil
	case config.NetworkSandbox:
		st, err := netstack.New()
		if err != nil {
			return nil, fmt.Errorf("creating the sandbox network stack: %w", err)
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
