package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// What each --network mode can reach. The tests send traffic only to the
// host's own addresses (loopback and its interfaces' addresses), where
// listeners of the test wait, never to another machine.

func netprobe(t *testing.T) string { return staticCProgram(t, "netprobe", "netprobe.c") }

// hostListeners are a TCP listener (it greets and counts what it accepts)
// and a UDP socket, on every address of the host, on ephemeral ports.
type hostListeners struct {
	tcp      net.Listener
	udp      net.PacketConn
	accepted atomic.Int32
}

func listenHost(t *testing.T) *hostListeners {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	u, err := net.ListenPacket("udp", ":0")
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	h := &hostListeners{tcp: l, udp: u}
	t.Cleanup(func() { l.Close(); u.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.accepted.Add(1)
			c.Write([]byte("hello-from-host"))
			c.Close()
		}
	}()
	return h
}

func (h *hostListeners) tcpPort() string { return fmt.Sprint(h.tcp.Addr().(*net.TCPAddr).Port) }
func (h *hostListeners) udpPort() string { return fmt.Sprint(h.udp.LocalAddr().(*net.UDPAddr).Port) }

// udpReceived reports whether a datagram is waiting on the host's socket.
// Loopback delivery is done by the time sendto returns, so once the
// sandbox has exited there is nothing in flight.
func (h *hostListeners) udpReceived() bool {
	h.udp.SetReadDeadline(time.Now())
	buf := make([]byte, 64)
	_, _, err := h.udp.ReadFrom(buf)
	return err == nil
}

// hostAddrs returns the host's non-loopback addresses that need no zone.
func hostAddrs(t *testing.T) []string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.IsMulticast() {
			continue
		}
		out = append(out, n.IP.String())
	}
	return out
}

// probe runs netprobe in a sandbox with the given network mode and returns
// its answer per address.
func probe(t *testing.T, network, proto, port string, addrs []string) map[string]string {
	t.Helper()
	r := run{argv: append([]string{netprobe(t), proto, port}, addrs...), global: []string{"--network=" + network}}
	s := r.sandbox(t)
	if s.Err != nil || s.Status != 0 {
		t.Fatalf("netprobe in --network=%s: %s", network, s)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(s.Stdout)), "\n") {
		addr, res, _ := strings.Cut(line, " ")
		got[addr] = res
	}
	return got
}

// TestNetworkIsolatedReachesNoHostAddress: with --network=none and
// --network=sandbox, TCP and UDP to the host's addresses fail inside the
// sandbox (loopback: refused by the sandbox's own lo; others: no route),
// and the host's listeners hear nothing.
func TestNetworkIsolatedReachesNoHostAddress(t *testing.T) {
	others := hostAddrs(t)
	for _, network := range []string{"none", "sandbox"} {
		t.Run(network, func(t *testing.T) {
			h := listenHost(t)
			addrs := append([]string{"127.0.0.1", "::1"}, others...)
			unreachable := func(res string) bool { return res == "ENETUNREACH" || res == "EHOSTUNREACH" }
			tcp := probe(t, network, "tcp", h.tcpPort(), addrs)
			for _, a := range addrs {
				res := tcp[a]
				if a == "127.0.0.1" || a == "::1" {
					if res != "ECONNREFUSED" {
						t.Errorf("tcp to %s: %q, want ECONNREFUSED from the sandbox's own lo", a, res)
					}
				} else if !unreachable(res) {
					t.Errorf("tcp to host address %s: %q, want ENETUNREACH", a, res)
				}
			}
			udp := probe(t, network, "udp", h.udpPort(), addrs)
			for _, a := range others {
				if !unreachable(udp[a]) {
					t.Errorf("udp to host address %s: %q, want ENETUNREACH", a, udp[a])
				}
			}
			if n := h.accepted.Load(); n != 0 {
				t.Errorf("the host's TCP listener accepted %d connections from the sandbox", n)
			}
			if h.udpReceived() {
				t.Error("the host's UDP socket received a datagram from the sandbox")
			}
		})
	}
}

// TestNetworkHostReachesLoopbackListener: with --network=host the sandbox
// connects to a listener on the host's 127.0.0.1 and reads its greeting.
func TestNetworkHostReachesLoopbackListener(t *testing.T) {
	h := listenHost(t)
	got := probe(t, "host", "tcp", h.tcpPort(), []string{"127.0.0.1"})
	if got["127.0.0.1"] != "ok hello-from-host" {
		t.Errorf("tcp to the host's 127.0.0.1: %q, want the listener's greeting", got["127.0.0.1"])
	}
	if n := h.accepted.Load(); n != 1 {
		t.Errorf("the host's listener accepted %d connections, want 1", n)
	}
}
