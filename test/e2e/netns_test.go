package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// testNetns is a pair of network namespaces joined by a veth pair, made by
// the test and removed when it ends: "ct" for the container (10.213.7.1/24)
// and "peer" (10.213.7.2/24). No traffic leaves them.
type testNetns struct {
	ct, peer string
}

const (
	ctAddr   = "10.213.7.1"
	peerAddr = "10.213.7.2"
)

func newTestNetns(t *testing.T) *testNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	id := os.Getpid() % 100000
	n := &testNetns{ct: fmt.Sprintf("bz-e2e-ct-%d", id), peer: fmt.Sprintf("bz-e2e-peer-%d", id)}
	vct, vpeer := fmt.Sprintf("bzc%d", id), fmt.Sprintf("bzp%d", id)
	t.Cleanup(func() {
		// Deleting a namespace deletes the veth end in it, and so the pair.
		exec.Command("ip", "netns", "del", n.ct).Run()
		exec.Command("ip", "netns", "del", n.peer).Run()
	})
	for _, args := range [][]string{
		{"netns", "add", n.ct},
		{"netns", "add", n.peer},
		{"link", "add", vct, "type", "veth", "peer", "name", vpeer},
		{"link", "set", vct, "netns", n.ct},
		{"link", "set", vpeer, "netns", n.peer},
		{"-n", n.ct, "addr", "add", ctAddr + "/24", "dev", vct},
		{"-n", n.peer, "addr", "add", peerAddr + "/24", "dev", vpeer},
		{"-n", n.ct, "link", "set", vct, "up"},
		{"-n", n.peer, "link", "set", vpeer, "up"},
		{"-n", n.ct, "link", "set", "lo", "up"},
		{"-n", n.peer, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return n
}

// serveInPeer starts netprobe's listener in the peer namespace on port and
// waits until it listens.
func (n *testNetns) serveInPeer(t *testing.T, probe string, port int) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.peer, probe, "listen", fmt.Sprint(port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "listening\n" {
		t.Fatalf("peer listener: %q, %v", line, err)
	}
}

// TestNetworkSandboxTakesContainerNetns: a container whose spec names a
// network namespace gets that namespace's interface, address and route in
// its user-space stack (ip addr, ip route) and reaches a listener in the
// peer namespace at the other end of the veth.
func TestNetworkSandboxTakesContainerNetns(t *testing.T) {
	n := newTestNetns(t)
	probe := netprobe(t)
	const port = 7781
	n.serveInPeer(t, probe, port)
	e := newOCIEnv(t, "/bin/sh", "-c", fmt.Sprintf("ip addr; ip route; netprobe tcp %d %s", port, peerAddr))
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.bundle, "rootfs", "bin", "netprobe"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(e.bundle, "rootfs", "bin", "ip")); err != nil {
		t.Fatal(err)
	}
	e.editSpec(func(s *specs.Spec) {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = "/var/run/netns/" + n.ct
			}
		}
	})
	out, code := e.run("--network=sandbox", "run", "--bundle", e.bundle, "netns")
	if code != 0 {
		t.Fatalf("run: exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"inet " + ctAddr + "/24",
		"10.213.7.0/24 dev",
		peerAddr + " ok hello-from-peer",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
