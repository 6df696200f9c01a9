package sandbox

import (
	"syscall"

	"bufferzone.dev/runsc/config"
)

// SentryCloneFlags are the namespaces an isolated Sentry starts in for
// network mode n: IsolationCloneFlags, except that with --network=host the
// Sentry stays in the caller's network namespace, whose host sockets it
// creates for the application. With "none" and "sandbox" the new network
// namespace holds only a loopback device the Sentry never uses: no
// application packet reaches the host's stack.
func SentryCloneFlags(n config.Network) uintptr {
	if n == config.NetworkHost {
		return IsolationCloneFlags &^ syscall.CLONE_NEWNET
	}
	return IsolationCloneFlags
}
