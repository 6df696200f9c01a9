package tmpfs

import (
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/vfs/vfstest"
)

var (
	root  = vfstest.User(0, 0)
	user  = vfstest.User(1000, 1000)
	other = vfstest.User(1001, 1001)
)

// env is a VFS whose root is a fresh tmpfs.
type env struct {
	t    *testing.T
	v    *vfs.VFS
	root vfs.VirtualDentry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	mf, err := memory.NewSize("tmpfs-test", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	v := vfs.New()
	m := v.MountRoot(v.NewFilesystemInstance(New(mf, Options{})), "tmpfs", false)
	return &env{t: t, v: v, root: vfs.VirtualDentry{Mount: m, Dentry: m.Root()}}
}

func (e *env) r(path string) vfs.Resolution {
	return vfs.Resolution{Root: e.root, Start: e.root, Path: path}
}

func (e *env) stat(ctx vfs.Context, path string) (unix.Statx_t, error) {
	r := e.r(path)
	vd, err := e.v.GetDentry(ctx, r)
	if err != nil {
		return unix.Statx_t{}, err
	}
	return vd.Dentry.Inode().Stat(ctx)
}

func (e *env) create(ctx vfs.Context, path, data string) error {
	f, err := e.v.OpenAt(ctx, e.r(path), unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.DecRef()
	_, err = f.Write(ctx, []byte(data))
	return err
}

func (e *env) read(ctx vfs.Context, path string) (string, error) {
	f, err := e.v.OpenAt(ctx, e.r(path), unix.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.DecRef()
	buf := make([]byte, 4096)
	n, err := f.Read(ctx, buf)
	return string(buf[:n]), err
}

func TestNamespaceOps(t *testing.T) {
	type step struct {
		name string
		op   func(e *env) error
		want error
	}
	mkdir := func(ctx vfs.Context, p string, mode uint32) func(e *env) error {
		return func(e *env) error { return e.v.MkdirAt(ctx, e.r(p), mode) }
	}
	rmdir := func(ctx vfs.Context, p string) func(e *env) error {
		return func(e *env) error { return e.v.RmdirAt(ctx, e.r(p)) }
	}
	unlink := func(ctx vfs.Context, p string) func(e *env) error {
		return func(e *env) error { return e.v.UnlinkAt(ctx, e.r(p)) }
	}
	create := func(ctx vfs.Context, p string) func(e *env) error {
		return func(e *env) error { return e.create(ctx, p, "x") }
	}
	rename := func(ctx vfs.Context, a, b string, flags uint32) func(e *env) error {
		return func(e *env) error { return e.v.RenameAt(ctx, e.r(a), e.r(b), flags) }
	}
	symlink := func(ctx vfs.Context, target, p string) func(e *env) error {
		return func(e *env) error { return e.v.SymlinkAt(ctx, e.r(p), target) }
	}
	link := func(ctx vfs.Context, a, b string) func(e *env) error {
		return func(e *env) error {
			vd, err := e.v.GetDentry(ctx, e.r(a))
			if err != nil {
				return err
			}
			return e.v.LinkAt(ctx, vd, e.r(b))
		}
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"mkdir and rmdir", []step{
			{"mkdir", mkdir(root, "/d", 0o755), nil},
			{"mkdir again", mkdir(root, "/d", 0o755), unix.EEXIST},
			{"mkdir trailing slash", mkdir(root, "/e/", 0o755), nil},
			{"mkdir missing parent", mkdir(root, "/x/y", 0o755), unix.ENOENT},
			{"create in d", create(root, "/d/f"), nil},
			{"rmdir non-empty", rmdir(root, "/d"), unix.ENOTEMPTY},
			{"unlink dir", unlink(root, "/d"), unix.EISDIR},
			{"rmdir file", rmdir(root, "/d/f"), unix.ENOTDIR},
			{"unlink file slash", unlink(root, "/d/f/"), unix.ENOTDIR},
			{"rmdir dot", rmdir(root, "/d/."), unix.EINVAL},
			{"rmdir dotdot", rmdir(root, "/d/.."), unix.ENOTEMPTY},
			{"unlink f", unlink(root, "/d/f"), nil},
			{"unlink f again", unlink(root, "/d/f"), unix.ENOENT},
			{"rmdir d", rmdir(root, "/d"), nil},
			{"rmdir root", rmdir(root, "/"), unix.EBUSY},
		}},
		{"permissions", []step{
			{"mkdir 0755", mkdir(root, "/p", 0o755), nil},
			{"user cannot create", create(user, "/p/f"), unix.EACCES},
			{"user cannot mkdir", mkdir(user, "/p/d", 0o755), unix.EACCES},
			{"sticky dir", mkdir(root, "/s", 0o1777), nil},
			{"user creates", create(user, "/s/u"), nil},
			{"other cannot remove", unlink(other, "/s/u"), unix.EPERM},
			{"other cannot rename away", rename(other, "/s/u", "/s/v", 0), unix.EPERM},
			{"owner removes", unlink(user, "/s/u"), nil},
		}},
		{"rename", []step{
			{"mkdir a", mkdir(root, "/a", 0o755), nil},
			{"mkdir a/b", mkdir(root, "/a/b", 0o755), nil},
			{"into itself", rename(root, "/a", "/a/b/c", 0), unix.EINVAL},
			{"file", create(root, "/f"), nil},
			{"file over dir", rename(root, "/f", "/a", 0), unix.EISDIR},
			{"dir over file", rename(root, "/a", "/f", 0), unix.ENOTDIR},
			{"noreplace", rename(root, "/f", "/a/b", vfs.RenameNoReplace), unix.EEXIST},
			{"exchange missing", rename(root, "/f", "/nope", vfs.RenameExchange), unix.ENOENT},
			{"exchange", rename(root, "/f", "/a", vfs.RenameExchange), nil},
			{"back", rename(root, "/f", "/a", vfs.RenameExchange), nil},
			{"dir over non-empty dir", rename(root, "/a/b", "/", 0), unix.EBUSY},
			{"move", rename(root, "/f", "/a/b/g", 0), nil},
			{"moved gone", unlink(root, "/f"), unix.ENOENT},
			{"ancestor over descendant", rename(root, "/a/b", "/a", 0), unix.ENOTEMPTY},
			{"trailing slash on file", rename(root, "/a/b/g/", "/h", 0), unix.ENOTDIR},
			{"dot", rename(root, "/a/.", "/z", 0), unix.EBUSY},
		}},
		{"links", []step{
			{"file", create(root, "/f"), nil},
			{"link", link(root, "/f", "/g"), nil},
			{"link exists", link(root, "/f", "/g"), unix.EEXIST},
			{"dir", mkdir(root, "/d", 0o755), nil},
			{"link dir", link(root, "/d", "/e"), unix.EPERM},
			{"symlink", symlink(root, "f", "/l"), nil},
			{"symlink exists", symlink(root, "f", "/l"), unix.EEXIST},
			{"symlink empty target", symlink(root, "", "/m"), unix.ENOENT},
			{"unlink symlink", unlink(root, "/l"), nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for _, s := range tc.steps {
				if err := s.op(e); err != s.want {
					t.Errorf("%s: error %v, want %v", s.name, err, s.want)
				}
			}
		})
	}
}

func TestAttributes(t *testing.T) {
	e := newEnv(t)
	if err := e.create(root, "/f", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := e.v.MkdirAt(root, e.r("/d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.v.LinkAt(root, mustGet(t, e, "/f"), e.r("/d/g")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		mode  uint16
		nlink uint32
		size  uint64
	}{
		{"/f", unix.S_IFREG | 0o644, 2, 5},
		{"/d", unix.S_IFDIR | 0o755, 2, 3 * bogoDirentSize},
		{"/", unix.S_IFDIR | 0o1777, 3, 4 * bogoDirentSize},
	} {
		st, err := e.stat(root, tc.path)
		if err != nil {
			t.Fatalf("stat %s: %v", tc.path, err)
		}
		if st.Mode != tc.mode || st.Nlink != tc.nlink || st.Size != tc.size {
			t.Errorf("stat %s: mode %o nlink %d size %d, want %o %d %d", tc.path, st.Mode, st.Nlink, st.Size, tc.mode, tc.nlink, tc.size)
		}
	}
	// chmod/chown/truncate/utimes rules.
	vd := mustGet(t, e, "/f")
	for _, tc := range []struct {
		name string
		ctx  vfs.Context
		a    vfs.SetAttr
		now  bool
		want error
	}{
		{"user chmod not owner", user, vfs.SetAttr{Mask: unix.STATX_MODE, Mode: 0o600}, false, unix.EPERM},
		{"root chown", root, vfs.SetAttr{Mask: unix.STATX_UID | unix.STATX_GID, UID: 1000, GID: 1000}, false, nil},
		{"owner chmod", user, vfs.SetAttr{Mask: unix.STATX_MODE, Mode: 0o600}, false, nil},
		{"owner chown to other", user, vfs.SetAttr{Mask: unix.STATX_UID, UID: 1001}, false, unix.EPERM},
		{"owner chgrp to other group", user, vfs.SetAttr{Mask: unix.STATX_GID, GID: 1001}, false, unix.EPERM},
		{"other truncate", other, vfs.SetAttr{Mask: unix.STATX_SIZE, Size: 0}, false, unix.EACCES},
		{"owner truncate", user, vfs.SetAttr{Mask: unix.STATX_SIZE, Size: 2}, false, nil},
		{"other utimes now", other, vfs.SetAttr{Mask: unix.STATX_MTIME, Mtime: vfs.Now()}, true, unix.EACCES},
		{"other utimes explicit", other, vfs.SetAttr{Mask: unix.STATX_MTIME}, false, unix.EPERM},
		{"owner utimes explicit", user, vfs.SetAttr{Mask: unix.STATX_MTIME, Mtime: unix.StatxTimestamp{Sec: 1000}}, false, nil},
	} {
		if err := e.v.SetAttrAt(tc.ctx, vd, tc.a, tc.now); err != tc.want {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	st, _ := e.stat(root, "/f")
	if st.Size != 2 || st.Mode != unix.S_IFREG|0o600 || st.Uid != 1000 || st.Mtime.Sec != 1000 {
		t.Errorf("after setattr: %+v", st)
	}
	if got, _ := e.read(root, "/d/g"); got != "he" {
		t.Errorf("read via link: %q", got)
	}
}

func mustGet(t *testing.T, e *env, path string) vfs.VirtualDentry {
	t.Helper()
	vd, err := e.v.GetDentry(root, e.r(path))
	if err != nil {
		t.Fatal(err)
	}
	return vd
}

func TestUnlinkedOpenFileKeepsData(t *testing.T) {
	e := newEnv(t)
	f, err := e.v.OpenAt(root, e.r("/f"), unix.O_CREAT|unix.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	if _, err := f.Write(root, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := e.v.UnlinkAt(root, e.r("/f")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := f.PRead(root, buf, 0); err != nil || string(buf[:n]) != "data" {
		t.Errorf("read after unlink: %q %v", buf[:n], err)
	}
	st, _ := f.Stat(root)
	if st.Nlink != 0 {
		t.Errorf("nlink %d, want 0", st.Nlink)
	}
}

func TestSizeLimit(t *testing.T) {
	mf, err := memory.NewSize("tmpfs-test", 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	v := vfs.New()
	m := v.MountRoot(v.NewFilesystemInstance(New(mf, Options{Size: 8192})), "tmpfs", false)
	rt := vfs.VirtualDentry{Mount: m, Dentry: m.Root()}
	f, err := v.OpenAt(root, vfs.Resolution{Root: rt, Start: rt, Path: "f"}, unix.O_CREAT|unix.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	if _, err := f.Write(root, make([]byte, 8192)); err != nil {
		t.Fatalf("write within limit: %v", err)
	}
	if _, err := f.Write(root, []byte{1}); err != unix.ENOSPC {
		t.Errorf("write past limit: %v, want ENOSPC", err)
	}
}

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Options
		err  error
	}{
		{"", Options{Mode: 0o1777}, nil},
		{"size=64m,mode=755,uid=1,gid=2", Options{Mode: 0o755, UID: 1, GID: 2, Size: 64 << 20}, nil},
		{"size=4k", Options{Mode: 0o1777, Size: 4096}, nil},
		{"bogus=1", Options{}, unix.EINVAL},
		{"mode=99999", Options{}, unix.EINVAL},
	} {
		got, err := ParseOptions(tc.in)
		if err != tc.err || (err == nil && got != tc.want) {
			t.Errorf("ParseOptions(%q) = %+v, %v; want %+v, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
