package sandbox

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSocketName binds a control socket at a short path and at one longer
// than sockaddr_un holds (as Docker's state directories make), and connects
// to each by its path.
func TestSocketName(t *testing.T) {
	base := t.TempDir()
	long := filepath.Join(base, strings.Repeat("d", 64), strings.Repeat("e", 64))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
	}{
		{"short", filepath.Join(base, "c.sock")},
		{"long", filepath.Join(long, "control.sock")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Listen(tc.path)
			if err != nil {
				t.Fatalf("Listen(%d-byte path): %v", len(tc.path), err)
			}
			defer l.Close()
			var st unix.Stat_t
			if err := unix.Stat(tc.path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
				t.Fatalf("no socket at %s: %v (mode %o)", tc.path, err, st.Mode)
			}
			name, done, err := SocketName(tc.path)
			if err != nil {
				t.Fatalf("SocketName: %v", err)
			}
			defer done()
			if len(name) >= len(unix.RawSockaddrUnix{}.Path) {
				t.Fatalf("SocketName gave %d bytes: %s", len(name), name)
			}
			conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: name, Net: "unixpacket"})
			if err != nil {
				t.Fatalf("connecting to %s: %v", name, err)
			}
			conn.Close()
		})
	}
}
