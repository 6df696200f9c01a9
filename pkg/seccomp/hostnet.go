package seccomp

import "golang.org/x/sys/unix"

// HostNetworkFilter is what the Sentry adds to SentryFilter with
// --network=host (package sentry/socket/hostinet): creating non-blocking
// TCP, UDP and ping sockets of AF_INET and AF_INET6 (never raw or packet
// sockets, never another family), and the calls that drive them. accept4,
// getsockopt, getsockname, getpeername, shutdown, sendmsg and recvmsg are
// in the common list already; FIONREAD is among the terminal ioctls.
func HostNetworkFilter() Filter {
	f := Filter{}
	const flags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	for _, family := range []uint64{unix.AF_INET, unix.AF_INET6} {
		for _, typ := range []uint64{unix.SOCK_STREAM, unix.SOCK_DGRAM} {
			f.AllowIf(unix.SYS_SOCKET, Rule{{Index: 0, Value: family}, {Index: 1, Value: typ | flags}})
		}
	}
	f.Allow(unix.SYS_BIND, unix.SYS_CONNECT, unix.SYS_LISTEN, unix.SYS_SETSOCKOPT, unix.SYS_SENDTO, unix.SYS_RECVFROM)
	f.AllowIf(unix.SYS_IOCTL, Rule{{Index: 1, Value: unix.TIOCOUTQ}})
	return f
}

// PacketLinkFilter is what the Sentry adds to SentryFilter when its
// user-space stack drives links of the sandbox's network namespace through
// packet sockets opened before the filter (--network=sandbox with a
// container network namespace): batched sends and receives of frames.
// Reads, writes and ppoll are in the common list already.
func PacketLinkFilter() Filter {
	f := Filter{}
	f.Allow(unix.SYS_RECVMMSG, unix.SYS_SENDMMSG)
	return f
}
