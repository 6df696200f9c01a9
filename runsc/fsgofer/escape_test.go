package fsgofer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/p9"
)

// TestContainerSymlinksNeverFollowed has the container make symlinks that
// lead out of its root (to a host file and a host directory, absolute and
// through ".."), then tries every request that names a file through them.
// None may reach the host files behind them.
func TestContainerSymlinksNeverFollowed(t *testing.T) {
	for _, proc := range []bool{true, false} {
		root := makeTree(t)
		outside := filepath.Dir(root)
		secret := filepath.Join(outside, "secret")
		outDir := filepath.Join(outside, "outdir")
		if err := os.Mkdir(outDir, 0o755); err != nil {
			t.Fatal(err)
		}
		noProc = !proc
		r := connect(t, root, false)
		noProc = false
		links := map[string]string{
			"to-secret":     secret,
			"to-secret-rel": "../secret",
			"to-outdir":     outDir,
			"to-outdir-rel": "../outdir",
		}
		for name, target := range links {
			if _, err := r.Symlink(name, target, 0); err != nil {
				t.Fatalf("symlink %s: %v", name, err)
			}
		}
		for name := range links {
			l, qids := walk(t, r, name)
			if qids[0].Type != p9.QIDTypeSymlink {
				t.Errorf("proc=%v: walk %s: qid type %#x, want a symlink", proc, name, qids[0].Type)
			}
			for _, acc := range []uint32{unix.O_RDONLY, unix.O_WRONLY, unix.O_RDWR | unix.O_TRUNC} {
				c, _ := walk(t, l)
				if _, _, _, err := c.Open(acc); !errors.Is(err, unix.ELOOP) {
					t.Errorf("proc=%v: open %s (%#x): %v, want ELOOP", proc, name, acc, err)
				}
				c.Close()
			}
			for _, tc := range []struct {
				what  string
				valid p9.SetAttrMask
				attr  p9.SetAttr
			}{
				{"chmod", p9.SetAttrMode, p9.SetAttr{Mode: 0o777}},
				{"truncate", p9.SetAttrSize, p9.SetAttr{Size: 0}},
				{"utimes", p9.SetAttrMTime | p9.SetAttrMTimeSet, p9.SetAttr{MTimeSec: 1}},
			} {
				// Each may fail or change the link itself; the checks below
				// say whether the target was touched.
				l.SetAttr(tc.valid, tc.attr)
			}
			if err := l.SetXattr("user.x", []byte("x"), 0); err == nil {
				t.Errorf("proc=%v: setxattr through %s succeeded", proc, name)
			}
			// Creating inside the link (as if it were a directory) and
			// walking through it fail.
			if _, _, _, err := l.Create("planted", unix.O_RDWR, 0o644, 0); err == nil {
				t.Errorf("proc=%v: create in %s succeeded", proc, name)
			}
			if _, err := l.Mkdir("planted-dir", 0o755, 0); err == nil {
				t.Errorf("proc=%v: mkdir in %s succeeded", proc, name)
			}
			if _, f, err := r.Walk([]string{name, "secret"}); err == nil || f != nil {
				t.Errorf("proc=%v: walk through %s succeeded", proc, name)
			}
			// Creating a file of the link's name does not follow it.
			c, _ := walk(t, r)
			if _, _, _, err := c.Create(name, unix.O_RDWR|unix.O_TRUNC, 0o644, 0); !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ELOOP) {
				t.Errorf("proc=%v: create over %s: %v, want EEXIST or ELOOP", proc, name, err)
			}
			c.Close()
			l.Close()
		}
		// A hard link to a symlink links the symlink, never its target.
		l, _ := walk(t, r, "to-secret")
		if err := r.Link(l, "hard-to-secret"); err == nil {
			if fi, err := os.Lstat(filepath.Join(root, "hard-to-secret")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("proc=%v: hard link to a symlink is %v, %v", proc, fi.Mode(), err)
			}
		}
		l.Close()

		st, err := os.Stat(secret)
		if b, _ := os.ReadFile(secret); string(b) != "secret" || err != nil || st.Mode().Perm() != 0o600 || st.ModTime().Unix() == 1 {
			t.Errorf("proc=%v: the host file behind the links changed: %q, %v", proc, b, st.Mode())
		}
		if _, err := unix.Getxattr(secret, "user.x", nil); err != unix.ENODATA && err != unix.EOPNOTSUPP {
			t.Errorf("proc=%v: the host file behind the links got an attribute: %v", proc, err)
		}
		if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
			t.Errorf("proc=%v: something was made in the host directory behind the links: %v", proc, ents)
		}
	}
}
