package netstack

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"bufferzone.dev/pkg/sentry/socket"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/socket/sockettest"
	"bufferzone.dev/pkg/sentry/socket/transport"
)

func newStack(t *testing.T) (*Stack, sockettest.Context) {
	t.Helper()
	st, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return st, sockettest.Context{}
}

func TestSockaddrRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		family int
		ap     netip.AddrPort
	}{
		{unix.AF_INET, netip.MustParseAddrPort("127.0.0.1:80")},
		{unix.AF_INET, netip.MustParseAddrPort("0.0.0.0:0")},
		{unix.AF_INET6, netip.MustParseAddrPort("[::1]:443")},
		{unix.AF_INET6, netip.MustParseAddrPort("[::ffff:10.1.2.3]:53")},
	} {
		fa := fullAddress(tc.ap)
		if tc.ap.Addr().Unmap().IsUnspecified() && fa.Addr.Len() != 0 {
			t.Errorf("%v: unspecified address is %v, want the stack's any", tc.ap, fa.Addr)
		}
		back, _, err := inet.ParseAddr(sockaddr(tc.family, fa))
		if err != nil {
			t.Fatalf("%v: %v", tc.ap, err)
		}
		if back != tc.ap {
			t.Errorf("%v: round trip gave %v", tc.ap, back)
		}
	}
}

func TestErrno(t *testing.T) {
	for _, tc := range []struct {
		e    tcpip.Error
		want error
	}{
		{nil, nil},
		{&tcpip.ErrWouldBlock{}, unix.EAGAIN},
		{&tcpip.ErrConnectionRefused{}, unix.ECONNREFUSED},
		{&tcpip.ErrPortInUse{}, unix.EADDRINUSE},
		{&tcpip.ErrNetworkUnreachable{}, unix.ENETUNREACH},
		{&tcpip.ErrClosedForSend{}, unix.EPIPE},
		{&tcpip.ErrUnknownProtocolOption{}, unix.ENOPROTOOPT},
	} {
		if got := errno(tc.e); got != tc.want {
			t.Errorf("errno(%v) = %v, want %v", tc.e, got, tc.want)
		}
	}
}

func TestNewSocketTypes(t *testing.T) {
	st, ctx := newStack(t)
	for _, tc := range []struct {
		family, typ, protocol int
		want                  error
	}{
		{unix.AF_INET, unix.SOCK_STREAM, 0, nil},
		{unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_UDP, nil},
		// No group may create a ping socket in a new namespace
		// (net.ipv4.ping_group_range "1 0"): see TestPingGroupRange.
		{unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP, unix.EACCES},
		{unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_UDP, unix.EPROTONOSUPPORT},
		{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP, unix.EPERM},
		{unix.AF_INET, unix.SOCK_SEQPACKET, 0, unix.ESOCKTNOSUPPORT},
	} {
		s, err := st.NewSocket(ctx, tc.family, tc.typ, tc.protocol, false)
		if err != tc.want {
			t.Errorf("socket(%d, %d, %d): %v, want %v", tc.family, tc.typ, tc.protocol, err, tc.want)
		}
		if s != nil {
			s.Release()
		}
	}
}

// TestPingGroupRange: ICMP sockets are for the groups in
// net.ipv4.ping_group_range, root included.
func TestPingGroupRange(t *testing.T) {
	st, ctx := newStack(t)
	var pair *inet.PairSysctl
	for _, sc := range st.Sysctls() {
		if sc.Path == "ipv4/ping_group_range" {
			pair = sc.Pair
		}
	}
	if pair == nil {
		t.Fatal("no ipv4/ping_group_range sysctl")
	}
	if lo, hi := pair.Get(); lo != 1 || hi != 0 {
		t.Errorf("a new stack's range is %d %d, want 1 0", lo, hi)
	}
	for _, tc := range []struct {
		lo, hi int64
		want   error
	}{
		{0, 2147483647, nil}, // Docker's
		{0, 0, nil},          // the test runs as group 0
		{1, 100, unix.EACCES},
		{5, 2, unix.EACCES}, // stored as "1 0"
	} {
		if err := pair.Set(tc.lo, tc.hi); err != nil {
			t.Fatal(err)
		}
		for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
			proto := unix.IPPROTO_ICMP
			if family == unix.AF_INET6 {
				proto = unix.IPPROTO_ICMPV6
			}
			s, err := st.NewSocket(ctx, family, unix.SOCK_DGRAM, proto, false)
			if err != tc.want {
				t.Errorf("range %d %d: ping socket of family %d: %v, want %v", tc.lo, tc.hi, family, err, tc.want)
			}
			if s != nil {
				s.Release()
			}
		}
	}
	if lo, hi := pair.Get(); lo != 1 || hi != 0 {
		t.Errorf("after writing 5 2 the range is %d %d, want 1 0", lo, hi)
	}
}

// TestLoopbackStream connects two sockets over lo and moves data both ways.
func TestLoopbackStream(t *testing.T) {
	st, ctx := newStack(t)
	newTCP := func() socket.Socket {
		s, err := st.NewSocket(ctx, unix.AF_INET, unix.SOCK_STREAM, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Release)
		return s
	}
	l := newTCP()
	if err := l.Bind(ctx, inet.EncodeAddr(unix.AF_INET, netip.MustParseAddrPort("127.0.0.1:0"))); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(ctx, 4); err != nil {
		t.Fatal(err)
	}
	c := newTCP()
	if err := c.Connect(ctx, l.SockName(), transport.Wait{}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	srv, err := l.Accept(ctx, transport.Wait{})
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(srv.Release)
	if n, err := c.SendMsg(ctx, []byte("ping"), nil, transport.Control{}, 0); n != 4 || err != nil {
		t.Fatalf("send: %d, %v", n, err)
	}
	buf := make([]byte, 8)
	res, err := srv.RecvMsg(ctx, buf, 0)
	if err != nil || string(buf[:res.N]) != "ping" {
		t.Fatalf("recv: %q, %v", buf[:res.N], err)
	}
	peer, err := srv.PeerName()
	if err != nil {
		t.Fatal(err)
	}
	if string(peer) != string(c.SockName()) {
		t.Errorf("server's peer %x is not the client's name %x", peer, c.SockName())
	}
	if err := c.Connect(ctx, l.SockName(), transport.Wait{}); err != unix.EISCONN {
		t.Errorf("second connect: %v, want EISCONN", err)
	}
	if _, err := l.RecvMsg(ctx, buf, 0); err != unix.ENOTCONN {
		t.Errorf("recv on a listener: %v, want ENOTCONN", err)
	}
}

// net.ipv4.ip_forward is the stack's IPv4 forwarding, on every interface.
func TestIPForwardSysctl(t *testing.T) {
	st, _ := newStack(t)
	var fwd inet.Sysctl
	for _, s := range st.Sysctls() {
		if s.Path == "ipv4/ip_forward" {
			fwd = s
		}
	}
	if fwd.Set == nil {
		t.Fatal("no writable ipv4/ip_forward sysctl")
	}
	for _, v := range []int32{2, 0, -1, 0} {
		if err := fwd.Set(v); err != nil {
			t.Fatalf("Set(%d): %v", v, err)
		}
		on, err := st.s.NICForwarding(loopbackNIC, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		if got := fwd.Get(); got != v || on != (v != 0) {
			t.Errorf("after Set(%d): Get() = %d, lo forwarding %t", v, got, on)
		}
	}
}
