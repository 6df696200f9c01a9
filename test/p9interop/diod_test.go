package p9interop

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// diodBin returns the path of a diod program (the server or one of its
// tools), skipping the test when it is not installed. Debian puts them in
// /usr/sbin, which is not on every user's PATH.
func diodBin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Skipf("%s is not installed (apt-get install diod): skipping the diod interoperability test", name)
	return ""
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

// startDiod starts a diod server in the foreground exporting dir, with no
// authentication, on a loopback TCP port, and returns its address and its
// log. The
// server is killed when the test ends, and its log (every decoded 9P
// message) is printed if the test failed.
func startDiod(t *testing.T, dir string) (string, *syncBuffer) {
	t.Helper()
	bin := diodBin(t, "diod")
	if os.Geteuid() != 0 {
		t.Skip("diod serves other users' files only as root: skipping (run the test as root)")
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		log := newSyncBuffer()
		// -f: foreground, -n: no authentication, -d 1: log 9P messages,
		// -c /dev/null: ignore any /etc/diod.conf.
		cmd := exec.Command(bin, "-f", "-n", "-c", "/dev/null", "-d", "1", "-L", "stderr", "-l", addr, "-e", dir)
		cmd.Stdout = log
		cmd.Stderr = log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting diod: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		ready := false
		deadline := time.Now().Add(10 * time.Second)
		for !ready && time.Now().Before(deadline) {
			select {
			case err := <-exited:
				lastErr = fmt.Errorf("diod exited early (%v): %s", err, log.String())
				deadline = time.Time{}
				continue
			default:
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				ready = true
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if !ready {
			cmd.Process.Kill()
			if lastErr == nil {
				lastErr = fmt.Errorf("diod did not listen on %s: %s", addr, log.String())
			}
			continue
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("diod log:\n%s", log.String())
			}
		})
		return addr, log
	}
	t.Fatal(lastErr)
	return "", nil
}
