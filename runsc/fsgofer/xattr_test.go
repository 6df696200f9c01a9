package fsgofer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// hostXattrs skips the test if the host file system under root lacks
// user.* attributes.
func hostXattrs(t *testing.T, root string) {
	t.Helper()
	p := filepath.Join(root, "probe")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	if err := unix.Setxattr(p, "user.probe", []byte("x"), 0); err != nil {
		t.Skipf("host file system has no user.* attributes: %v", err)
	}
}

func TestXattrs(t *testing.T) {
	for _, proc := range []bool{true, false} {
		root := makeTree(t)
		hostXattrs(t, root)
		hostFile := filepath.Join(root, "file")
		if err := unix.Setxattr(hostFile, "user.host", []byte("from host"), 0); err != nil {
			t.Fatal(err)
		}
		noProc = !proc
		r := connect(t, root, false)
		noProc = false
		f, _ := walk(t, r, "file")
		link, _ := walk(t, r, "dir", "up")

		if v, err := f.GetXattr("user.host"); err != nil || string(v) != "from host" {
			t.Errorf("proc=%v: GetXattr(user.host) = %q, %v; want the host's value", proc, v, err)
		}
		if err := f.SetXattr("user.new", []byte("v1"), 1 /* XATTR_CREATE */); err != nil {
			t.Fatalf("proc=%v: SetXattr: %v", proc, err)
		}
		buf := make([]byte, 16)
		if n, err := unix.Getxattr(hostFile, "user.new", buf); err != nil || string(buf[:n]) != "v1" {
			t.Errorf("proc=%v: host sees user.new = %q, %v", proc, buf[:n], err)
		}
		big := make([]byte, 3000)
		for i := range big {
			big[i] = byte(i)
		}
		if err := f.SetXattr("user.big", big, 0); err != nil {
			t.Fatalf("proc=%v: SetXattr of %d bytes: %v", proc, len(big), err)
		}
		if v, err := f.GetXattr("user.big"); err != nil || !slices.Equal(v, big) {
			t.Errorf("proc=%v: GetXattr(user.big): %d bytes, %v", proc, len(v), err)
		}
		names, err := f.ListXattrs()
		slices.Sort(names)
		if want := []string{"user.big", "user.host", "user.new"}; err != nil || !slices.Equal(names, want) {
			t.Errorf("proc=%v: ListXattrs = %v, %v; want %v", proc, names, err, want)
		}
		for _, tc := range []struct {
			what string
			err  error
			want unix.Errno
		}{
			{"create over an existing one", f.SetXattr("user.new", []byte("x"), 1), unix.EEXIST},
			{"replace a missing one", f.SetXattr("user.none", []byte("x"), 2), unix.ENODATA},
			{"get a missing one", errOnly(f.GetXattr("user.none")), unix.ENODATA},
			{"trusted.* through the Gofer", f.SetXattr("trusted.x", []byte("x"), 0), unix.EOPNOTSUPP},
			{"security.* through the Gofer", errOnly(f.GetXattr("security.selinux")), unix.EOPNOTSUPP},
			{"user.* on a symlink", link.SetXattr("user.x", []byte("x"), 0), unix.EPERM},
			{"remove a missing one", f.RemoveXattr("user.none"), unix.ENODATA},
			{"remove", f.RemoveXattr("user.new"), 0},
			{"get the removed one", errOnly(f.GetXattr("user.new")), unix.ENODATA},
		} {
			var errno unix.Errno
			if tc.err != nil && !errors.As(tc.err, &errno) {
				t.Errorf("proc=%v: %s: %v, not an errno", proc, tc.what, tc.err)
				continue
			}
			if errno != tc.want {
				t.Errorf("proc=%v: %s: %v, want %v", proc, tc.what, tc.err, tc.want)
			}
		}
		// The symlink's target (dir's parent) was not touched.
		if _, err := unix.Getxattr(root, "user.x", nil); err != unix.ENODATA {
			t.Errorf("proc=%v: the symlink's target has user.x: %v", proc, err)
		}
	}
}

func TestXattrsReadOnly(t *testing.T) {
	root := makeTree(t)
	hostXattrs(t, root)
	if err := unix.Setxattr(filepath.Join(root, "file"), "user.a", []byte("b"), 0); err != nil {
		t.Fatal(err)
	}
	f, _ := walk(t, connect(t, root, true), "file")
	if v, err := f.GetXattr("user.a"); err != nil || string(v) != "b" {
		t.Errorf("GetXattr = %q, %v", v, err)
	}
	if err := f.SetXattr("user.a", []byte("c"), 0); !errors.Is(err, unix.EROFS) {
		t.Errorf("SetXattr on a read-only root: %v, want EROFS", err)
	}
	if err := f.RemoveXattr("user.a"); !errors.Is(err, unix.EROFS) {
		t.Errorf("RemoveXattr on a read-only root: %v, want EROFS", err)
	}
}

func errOnly(_ []byte, err error) error { return err }
