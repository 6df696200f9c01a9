package fsgofer

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A regular file can be served as the root (a file bind mount): it is
// read and written like any file, and nothing can be walked from it.
func TestFileRoot(t *testing.T) {
	for _, np := range []bool{false, true} {
		noProc = np
		t.Cleanup(func() { noProc = false })
		p := filepath.Join(t.TempDir(), "hosts")
		if err := os.WriteFile(p, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := connect(t, p, false)
		_, _, attr, err := r.GetAttr(0)
		if err != nil || attr.Mode&unix.S_IFMT != unix.S_IFREG {
			t.Fatalf("root attr %+v, %v; want a regular file", attr, err)
		}
		if _, _, err := r.Walk([]string{"x"}); err == nil {
			t.Errorf("walk from a file root succeeded")
		}
		_, nf, err := r.Walk(nil)
		if err != nil {
			t.Fatal(err)
		}
		f, _, _, err := nf.Open(unix.O_RDWR)
		if err != nil {
			t.Fatalf("noProc=%v: open: %v", np, err)
		}
		data, _ := io.ReadAll(f)
		if string(data) != "127.0.0.1 localhost\n" {
			t.Errorf("read %q", data)
		}
		if _, err := f.WriteAt([]byte("::1"), 0); err != nil {
			t.Errorf("write: %v", err)
		}
		f.Close()
		if got, _ := os.ReadFile(p); string(got) != "::1.0.0.1 localhost\n" {
			t.Errorf("host file %q after write", got)
		}

		ro := connect(t, p, true)
		_, rf, _ := ro.Walk(nil)
		if _, _, _, err := rf.Open(unix.O_WRONLY); !errors.Is(err, unix.EROFS) {
			t.Errorf("write open of a read-only file root: %v, want EROFS", err)
		}
	}
	if _, err := New("/dev/null", false); err == nil {
		t.Errorf("New of a device succeeded")
	}
}
