package sys

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

// walk looks a slash-separated path up from the root.
func walk(t *testing.T, fs *Filesystem, path string) vfs.Inode {
	t.Helper()
	var n vfs.Inode = fs.Root()
	for _, c := range strings.Split(path, "/") {
		var err error
		if n, err = n.Lookup(nil, c); err != nil {
			t.Fatalf("lookup %q in %q: %v", c, path, err)
		}
	}
	return n
}

func TestFiles(t *testing.T) {
	for _, tc := range []struct {
		ncpu       int
		path, want string
	}{
		{4, "devices/system/cpu/online", "0-3\n"},
		{4, "devices/system/cpu/possible", "0-3\n"},
		{1, "devices/system/cpu/present", "0\n"},
		{2, "kernel/mm/transparent_hugepage/enabled", "always madvise [never]\n"},
	} {
		f, err := walk(t, New(tc.ncpu), tc.path).Open(nil, nil, unix.O_RDONLY)
		if err != nil {
			t.Fatalf("open %s: %v", tc.path, err)
		}
		buf := make([]byte, 100)
		n, _ := f.Read(nil, buf, 0)
		if got := string(buf[:n]); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
		}
		if _, err := walk(t, New(tc.ncpu), tc.path).Open(nil, nil, unix.O_WRONLY); err != unix.EACCES {
			t.Errorf("open %s for writing: %v, want EACCES", tc.path, err)
		}
	}
}

func TestDirectories(t *testing.T) {
	fs := New(3)
	for _, p := range []string{"class", "bus", "fs/cgroup", "devices/system/cpu/cpu0", "devices/system/cpu/cpu2"} {
		st, err := walk(t, fs, p).Stat(nil)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			t.Errorf("%s: mode %o, err %v", p, st.Mode, err)
		}
	}
	if _, err := fs.Root().Lookup(nil, "nonexistent"); err != unix.ENOENT {
		t.Errorf("lookup of a missing name: %v", err)
	}
	if _, err := walk(t, fs, "devices/system/cpu").Lookup(nil, "cpu3"); err != unix.ENOENT {
		t.Errorf("cpu3 of 3 CPUs: %v", err)
	}
	if st, _ := fs.Statfs(nil); st.Type != unix.SYSFS_MAGIC {
		t.Errorf("statfs type %x", st.Type)
	}
}
