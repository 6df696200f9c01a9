package overlay

import (
	"sort"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/tmpfs"
	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/vfs/vfstest"
)

var ctx = vfstest.User(0, 0)

// tree is a VFS with one root mount.
type tree struct {
	v    *vfs.VFS
	root vfs.VirtualDentry
}

func (tr tree) r(p string) vfs.Resolution {
	return vfs.Resolution{Root: tr.root, Start: tr.root, Path: p}
}

func newTree(fs vfs.Filesystem) tree {
	v := vfs.New()
	m := v.MountRoot(v.NewFilesystemInstance(fs), "x", false)
	return tree{v: v, root: vfs.VirtualDentry{Mount: m, Dentry: m.Root()}}
}

func (tr tree) write(t *testing.T, p, data string, flags uint32) {
	t.Helper()
	f, err := tr.v.OpenAt(ctx, tr.r(p), unix.O_WRONLY|flags, 0o644)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer f.DecRef()
	if _, err := f.Write(ctx, []byte(data)); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
}

func (tr tree) read(p string) (string, error) {
	f, err := tr.v.OpenAt(ctx, tr.r(p), unix.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.DecRef()
	b := make([]byte, 100)
	n, err := f.Read(ctx, b)
	return string(b[:n]), err
}

func (tr tree) list(t *testing.T, p string) []string {
	t.Helper()
	f, err := tr.v.OpenAt(ctx, tr.r(p), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatalf("opendir %s: %v", p, err)
	}
	defer f.DecRef()
	var names []string
	if err := f.IterDirents(ctx, func(d vfs.Dirent) bool {
		if d.Name != "." && d.Name != ".." {
			names = append(names, d.Name)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

// setup returns a lower tree (/etc/passwd, /etc/hosts, /dir/sub/f, a
// symlink) and an overlay tree over it.
func setup(t *testing.T) (lower, ov tree) {
	t.Helper()
	mf, err := memory.NewSize("overlay-test", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	lfs := tmpfs.New(mf, tmpfs.Options{Mode: 0o755})
	lower = newTree(lfs)
	for _, d := range []string{"/etc", "/dir", "/dir/sub"} {
		if err := lower.v.MkdirAt(ctx, lower.r(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lower.write(t, "/etc/passwd", "root:x:0:0", unix.O_CREAT)
	lower.write(t, "/etc/hosts", "127.0.0.1", unix.O_CREAT)
	lower.write(t, "/dir/sub/f", "f", unix.O_CREAT)
	if err := lower.v.SymlinkAt(ctx, lower.r("/link"), "etc/passwd"); err != nil {
		t.Fatal(err)
	}
	o, err := New(ctx, lfs, tmpfs.New(mf, tmpfs.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	return lower, newTree(o)
}

func TestCopyUpLeavesLowerAlone(t *testing.T) {
	lower, ov := setup(t)
	before, _ := ov.v.GetDentry(ctx, ov.r("/etc/passwd"))
	st0, _ := before.Dentry.Inode().Stat(ctx)
	ov.write(t, "/etc/passwd", "X", 0)
	if got, _ := ov.read("/etc/passwd"); got != "Xoot:x:0:0" {
		t.Errorf("overlay read %q", got)
	}
	if got, _ := lower.read("/etc/passwd"); got != "root:x:0:0" {
		t.Errorf("lower changed: %q", got)
	}
	st1, _ := before.Dentry.Inode().Stat(ctx)
	if st0.Ino != st1.Ino {
		t.Errorf("inode number changed on copy-up: %d -> %d", st0.Ino, st1.Ino)
	}
	rst, _ := ov.root.Dentry.Inode().Stat(ctx)
	if rst.Mode&0o7777 != 0o755 {
		t.Errorf("root mode %o, want the lower root's 755", rst.Mode&0o7777)
	}
}

func TestOperations(t *testing.T) {
	for _, tc := range []struct {
		name  string
		op    func(t *testing.T, ov tree) error
		err   error
		check func(t *testing.T, lower, ov tree)
	}{
		{"unlink lower file leaves whiteout", func(t *testing.T, ov tree) error {
			return ov.v.UnlinkAt(ctx, ov.r("/etc/hosts"))
		}, nil, func(t *testing.T, lower, ov tree) {
			if _, err := ov.read("/etc/hosts"); err != unix.ENOENT {
				t.Errorf("read removed: %v", err)
			}
			if got := ov.list(t, "/etc"); len(got) != 1 || got[0] != "passwd" {
				t.Errorf("listing %v", got)
			}
			if _, err := lower.read("/etc/hosts"); err != nil {
				t.Errorf("lower lost hosts: %v", err)
			}
		}},
		{"recreate after unlink", func(t *testing.T, ov tree) error {
			if err := ov.v.UnlinkAt(ctx, ov.r("/etc/hosts")); err != nil {
				return err
			}
			ov.write(t, "/etc/hosts", "new", unix.O_CREAT|unix.O_EXCL)
			return nil
		}, nil, func(t *testing.T, lower, ov tree) {
			if got, _ := ov.read("/etc/hosts"); got != "new" {
				t.Errorf("read %q", got)
			}
		}},
		{"rmdir non-empty lower dir", func(t *testing.T, ov tree) error {
			return ov.v.RmdirAt(ctx, ov.r("/dir/sub"))
		}, unix.ENOTEMPTY, nil},
		{"rmdir after emptying, then mkdir is opaque", func(t *testing.T, ov tree) error {
			if err := ov.v.UnlinkAt(ctx, ov.r("/dir/sub/f")); err != nil {
				return err
			}
			if err := ov.v.RmdirAt(ctx, ov.r("/dir/sub")); err != nil {
				return err
			}
			return ov.v.MkdirAt(ctx, ov.r("/dir/sub"), 0o700)
		}, nil, func(t *testing.T, lower, ov tree) {
			if got := ov.list(t, "/dir/sub"); len(got) != 0 {
				t.Errorf("new dir shows %v", got)
			}
		}},
		{"rename lower file", func(t *testing.T, ov tree) error {
			return ov.v.RenameAt(ctx, ov.r("/etc/passwd"), ov.r("/pw"), 0)
		}, nil, func(t *testing.T, lower, ov tree) {
			if got, _ := ov.read("/pw"); got != "root:x:0:0" {
				t.Errorf("renamed read %q", got)
			}
			if _, err := ov.read("/etc/passwd"); err != unix.ENOENT {
				t.Errorf("old name: %v", err)
			}
		}},
		{"rename lower dir is EXDEV", func(t *testing.T, ov tree) error {
			return ov.v.RenameAt(ctx, ov.r("/dir"), ov.r("/dir2"), 0)
		}, unix.EXDEV, nil},
		{"new dir renames", func(t *testing.T, ov tree) error {
			if err := ov.v.MkdirAt(ctx, ov.r("/n"), 0o755); err != nil {
				return err
			}
			ov.write(t, "/n/x", "x", unix.O_CREAT)
			return ov.v.RenameAt(ctx, ov.r("/n"), ov.r("/m"), 0)
		}, nil, func(t *testing.T, lower, ov tree) {
			if got, _ := ov.read("/m/x"); got != "x" {
				t.Errorf("read %q", got)
			}
		}},
		{"chmod copies up", func(t *testing.T, ov tree) error {
			vd, err := ov.v.GetDentry(ctx, ov.r("/dir/sub/f"))
			if err != nil {
				return err
			}
			return ov.v.SetAttrAt(ctx, vd, vfs.SetAttr{Mask: unix.STATX_MODE, Mode: 0o600}, false)
		}, nil, func(t *testing.T, lower, ov tree) {
			vd, _ := lower.v.GetDentry(ctx, lower.r("/dir/sub/f"))
			st, _ := vd.Dentry.Inode().Stat(ctx)
			if st.Mode&0o777 != 0o644 {
				t.Errorf("lower mode changed: %o", st.Mode)
			}
			if got, _ := ov.read("/dir/sub/f"); got != "f" {
				t.Errorf("data lost in copy-up: %q", got)
			}
		}},
		{"symlink is followed from lower", func(t *testing.T, ov tree) error {
			_, err := ov.read("/link")
			return err
		}, nil, nil},
		{"merged listing", func(t *testing.T, ov tree) error {
			ov.write(t, "/etc/new", "n", unix.O_CREAT)
			return nil
		}, nil, func(t *testing.T, lower, ov tree) {
			got := ov.list(t, "/etc")
			if len(got) != 3 || got[0] != "hosts" || got[1] != "new" || got[2] != "passwd" {
				t.Errorf("listing %v", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lower, ov := setup(t)
			if err := tc.op(t, ov); err != tc.err {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if tc.check != nil {
				tc.check(t, lower, ov)
			}
		})
	}
}
