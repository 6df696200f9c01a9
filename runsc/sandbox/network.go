package sandbox

import (
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

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

// sentryNetns returns the network namespace an isolated Sentry in network
// mode n is started in instead of a new one, or "" for a new one. An
// isolated Sentry whose spec names a network namespace by path
// (linux.namespaces, type "network"), as container engines give it, is
// started in that namespace: with --network=sandbox its stack takes the
// namespace's interfaces, with --network=host its host sockets live there.
// --network=none always gets a new, empty namespace.
func sentryNetns(spec *specs.Spec, n config.Network) string {
	if n == config.NetworkNone {
		return ""
	}
	return netnsPath(spec)
}

// netnsPath returns the path of the network namespace the spec names, or
// "" if it names none or asks for a new one.
func netnsPath(spec *specs.Spec) string {
	if spec == nil || spec.Linux == nil {
		return ""
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return ns.Path
		}
	}
	return ""
}
