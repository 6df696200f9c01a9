package seccomp

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/bpf"
)

// TestHostNetworkFilter checks the host networking additions on key calls
// and against testdata/sentry-hostnet.golden (go test -update rewrites it).
func TestHostNetworkFilter(t *testing.T) {
	f := SentryFilter(PlatformPtrace)
	f.Merge(HostNetworkFilter())
	prog, err := f.Program(RetKillProcess)
	if err != nil {
		t.Fatal(err)
	}
	const nb = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	for _, tc := range []struct {
		name string
		data []byte
		want uint32
	}{
		{"tcp4", Data(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|nb), RetAllow},
		{"udp6", Data(unix.SYS_SOCKET, unix.AF_INET6, unix.SOCK_DGRAM|nb), RetAllow},
		{"unix", Data(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM), RetAllow},
		{"blocking-tcp4", Data(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM), RetKillProcess},
		{"raw", Data(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_RAW|nb), RetKillProcess},
		{"packet", Data(unix.SYS_SOCKET, unix.AF_PACKET, unix.SOCK_RAW|nb), RetKillProcess},
		{"netlink", Data(unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_DGRAM|nb), RetKillProcess},
		{"connect", Data(unix.SYS_CONNECT), RetAllow},
		{"tiocoutq", Data(unix.SYS_IOCTL, 0, unix.TIOCOUTQ), RetAllow},
		{"siocsifaddr", Data(unix.SYS_IOCTL, 0, unix.SIOCSIFADDR), RetKillProcess},
	} {
		if got, err := bpf.Exec(prog, tc.data); err != nil || got != tc.want {
			t.Errorf("%s: decision %#x, %v; want %#x", tc.name, got, err, tc.want)
		}
	}
	got := describe(HostNetworkFilter())
	const path = "testdata/sentry-hostnet.golden"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("host networking's allowed host system calls changed; review, then go test ./pkg/seccomp -update\n--- got\n%s--- want\n%s", got, want)
	}
}

// TestPacketLinkFilter checks what driving packet-socket links adds.
func TestPacketLinkFilter(t *testing.T) {
	f := SentryFilter(PlatformSystrap)
	f.Merge(PacketLinkFilter())
	prog, err := f.Program(RetKillProcess)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want uint32
	}{
		{"recvmmsg", Data(unix.SYS_RECVMMSG), RetAllow},
		{"sendmmsg", Data(unix.SYS_SENDMMSG), RetAllow},
		{"packet-socket", Data(unix.SYS_SOCKET, unix.AF_PACKET, unix.SOCK_RAW), RetKillProcess},
		{"inet-socket", Data(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC), RetKillProcess},
	} {
		if got, err := bpf.Exec(prog, tc.data); err != nil || got != tc.want {
			t.Errorf("%s: decision %#x, %v; want %#x", tc.name, got, err, tc.want)
		}
	}
}
