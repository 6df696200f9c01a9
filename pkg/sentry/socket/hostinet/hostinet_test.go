package hostinet

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/socket/sockettest"
	"bufferzone.dev/pkg/sentry/socket/transport"
)

func TestFilteredInput(t *testing.T) {
	st := &Stack{}
	ctx := sockettest.Context{}
	for _, tc := range []struct {
		name                  string
		family, typ, protocol int
		want                  error
	}{
		{"raw", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP, unix.EPERM},
		{"sctp", unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_SCTP, unix.EPROTONOSUPPORT},
		{"seqpacket", unix.AF_INET6, unix.SOCK_SEQPACKET, 0, unix.ESOCKTNOSUPPORT},
	} {
		if _, err := st.NewSocket(ctx, tc.family, tc.typ, tc.protocol, false); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	s, err := st.NewSocket(ctx, unix.AF_INET, unix.SOCK_STREAM, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	v6 := inet.EncodeAddr(unix.AF_INET6, netip.MustParseAddrPort("[::1]:1"))
	for _, tc := range []struct {
		name string
		addr []byte
		want error
	}{
		{"v6 on v4", v6, unix.EAFNOSUPPORT},
		{"short", inet.EncodeAddr(unix.AF_INET, netip.MustParseAddrPort("127.0.0.1:1"))[:8], unix.EINVAL},
		{"empty", nil, unix.EINVAL},
	} {
		if err := s.Bind(ctx, tc.addr); err != tc.want {
			t.Errorf("bind %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := s.SetSockOpt(ctx, unix.SOL_IP, unix.IP_PKTINFO, []byte{1, 0, 0, 0}); err != unix.ENOPROTOOPT {
		t.Errorf("IP_PKTINFO (would add control messages): %v, want ENOPROTOOPT", err)
	}
}

// TestLoopbackStream connects two host sockets on 127.0.0.1 and moves data.
func TestLoopbackStream(t *testing.T) {
	st := &Stack{}
	ctx := sockettest.Context{}
	l, err := st.NewSocket(ctx, unix.AF_INET, unix.SOCK_STREAM, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := l.Bind(ctx, inet.EncodeAddr(unix.AF_INET, netip.MustParseAddrPort("127.0.0.1:0"))); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(ctx, 4); err != nil {
		t.Fatal(err)
	}
	c, err := st.NewSocket(ctx, unix.AF_INET, unix.SOCK_STREAM, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if err := c.Connect(ctx, l.SockName(), transport.Wait{}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if err := c.Connect(ctx, l.SockName(), transport.Wait{}); err != unix.EISCONN {
		t.Errorf("second connect: %v, want EISCONN", err)
	}
	srv, err := l.Accept(ctx, transport.Wait{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Release()
	if n, err := c.SendMsg(ctx, []byte("ping"), nil, transport.Control{}, 0); n != 4 || err != nil {
		t.Fatalf("send: %d, %v", n, err)
	}
	if err := c.Shutdown(ctx, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	// MSG_WAITALL with room for more waits until end of file.
	buf := make([]byte, 8)
	res, err := srv.RecvMsg(ctx, buf, unix.MSG_WAITALL)
	if err != nil || string(buf[:res.N]) != "ping" {
		t.Errorf("recv: %q, %v; want \"ping\"", buf[:res.N], err)
	}
	res, err = srv.RecvMsg(ctx, buf, 0)
	if err != nil || res.N != 0 {
		t.Errorf("recv after end of file: %d, %v; want 0", res.N, err)
	}
}
