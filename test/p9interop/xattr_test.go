package p9interop

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestXattrsAgainstDiod checks our client's Txattrwalk and Txattrcreate
// (as the Sentry sends them for getxattr, listxattr, setxattr and
// removexattr) against diod: every change is read back through diod and
// from the host file itself.
func TestXattrsAgainstDiod(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("diod needs root")
	}
	dir := makeExport(t)
	host := filepath.Join(dir, "file")
	if err := unix.Setxattr(host, "user.host", []byte("from the host"), 0); err != nil {
		t.Skipf("the host file system has no user.* attributes: %v", err)
	}
	addr, diodLog := startDiod(t, dir)
	// A small msize splits the values below over several messages.
	_, root, _ := dialDiod(t, addr, dir, 1024)
	defer func() {
		if t.Failed() {
			t.Logf("diod log:\n%s", diodLog)
		}
	}()
	f := walkOK(t, root, "file")

	if v, err := f.GetXattr("user.host"); err != nil || string(v) != "from the host" {
		t.Errorf("GetXattr(user.host) = %q, %v", v, err)
	}
	big := pattern(3000) // within ext4's limit of one block per value
	if err := f.SetXattr("user.big", big, unix.XATTR_CREATE); err != nil {
		t.Fatalf("SetXattr(user.big): %v", err)
	}
	buf := make([]byte, 8192)
	if n, err := unix.Getxattr(host, "user.big", buf); err != nil || !slices.Equal(buf[:n], big) {
		t.Errorf("the host has user.big = %d bytes, %v", n, err)
	}
	if v, err := f.GetXattr("user.big"); err != nil || !slices.Equal(v, big) {
		t.Errorf("GetXattr(user.big) = %d bytes, %v", len(v), err)
	}
	names, err := f.ListXattrs()
	slices.Sort(names)
	if want := []string{"user.big", "user.host"}; err != nil || !slices.Equal(names, want) {
		t.Errorf("ListXattrs = %v, %v; want %v", names, err, want)
	}
	if err := f.SetXattr("user.big", []byte("x"), unix.XATTR_CREATE); !errors.Is(err, unix.EEXIST) {
		t.Errorf("XATTR_CREATE over an existing attribute: %v, want EEXIST", err)
	}
	if _, err := f.GetXattr("user.none"); !errors.Is(err, unix.ENODATA) {
		t.Errorf("GetXattr of a missing attribute: %v, want ENODATA", err)
	}
	if err := f.RemoveXattr("user.big"); err != nil {
		t.Errorf("RemoveXattr: %v", err)
	}
	if _, err := unix.Getxattr(host, "user.big", buf); err != unix.ENODATA {
		t.Errorf("the host still has user.big: %v", err)
	}
}
