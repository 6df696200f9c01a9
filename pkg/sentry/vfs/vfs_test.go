package vfs

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
)

// memInode is a minimal in-memory file system for resolution tests.
type memInode struct {
	mode     uint16
	uid      uint32
	children map[string]*memInode
	target   string
	data     string
	// rdev is a device node's number, major and minor.
	rdev [2]uint32
}

func dir(children map[string]*memInode) *memInode {
	return &memInode{mode: unix.S_IFDIR | 0o755, children: children}
}
func file(data string) *memInode { return &memInode{mode: unix.S_IFREG | 0o644, data: data} }
func link(target string) *memInode {
	return &memInode{mode: unix.S_IFLNK | 0o777, target: target}
}

func (m *memInode) Stat(Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mode: m.mode, Uid: m.uid, Size: uint64(len(m.data)), Rdev_major: m.rdev[0], Rdev_minor: m.rdev[1]}, nil
}

func (m *memInode) Lookup(_ Context, name string) (Inode, error) {
	if FileType(m.mode) != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	c, ok := m.children[name]
	if !ok {
		return nil, unix.ENOENT
	}
	return c, nil
}

func (m *memInode) Readlink(Context) (string, error) {
	if FileType(m.mode) != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	return m.target, nil
}

func (m *memInode) Open(_ Context, _ *Dentry, flags uint32) (FileImpl, error) {
	if ft := FileType(m.mode); (ft == unix.S_IFCHR || ft == unix.S_IFBLK) && flags&unix.O_PATH == 0 {
		// A device node of a file system with no driver of its own.
		return nil, unix.ENXIO
	}
	return &memFile{m: m}, nil
}

type memFile struct {
	FileDefaults
	m *memInode
}

func (f *memFile) Read(_ Context, p []byte, off int64) (int, error) {
	if off >= int64(len(f.m.data)) {
		return 0, nil
	}
	return copy(p, f.m.data[off:]), nil
}

type memFS struct{ root *memInode }

func (fs *memFS) Name() string                          { return "mem" }
func (fs *memFS) Root() Inode                           { return fs.root }
func (fs *memFS) Statfs(Context) (unix.Statfs_t, error) { return unix.Statfs_t{}, nil }

type testCtx struct{ creds *auth.Credentials }

func (c testCtx) Credentials() *auth.Credentials       { return c.creds }
func (c testCtx) CopyIn(uintptr, []byte) (int, error)  { return 0, unix.EFAULT }
func (c testCtx) CopyOut(uintptr, []byte) (int, error) { return 0, unix.EFAULT }
func (c testCtx) Interrupted() <-chan struct{}         { return nil }

func newTestVFS(t *testing.T) (*VFS, VirtualDentry) {
	t.Helper()
	root := dir(map[string]*memInode{
		"etc": dir(map[string]*memInode{"passwd": file("root:x:0:0")}),
		"bin": link("usr/bin"),
		"usr": dir(map[string]*memInode{"bin": dir(map[string]*memInode{"sh": file("ELF")})}),
		// Absolute and escaping symlinks must resolve inside the root.
		"abs":    link("/etc/passwd"),
		"escape": link("../../../../etc"),
		"loop":   link("loop"),
		"dangle": link("/nonexistent"),
		"secret": &memInode{mode: unix.S_IFDIR | 0o700, uid: 1000, children: map[string]*memInode{"f": file("x")}},
	})
	v := New()
	m := v.MountRoot(v.NewFilesystemInstance(&memFS{root: root}), "mem", true)
	return v, VirtualDentry{Mount: m, Dentry: m.Root()}
}

func TestResolution(t *testing.T) {
	v, root := newTestVFS(t)
	ctx := testCtx{creds: auth.NewUser(0, 0, nil)}
	user := testCtx{creds: auth.NewUser(1, 1, nil)}
	for _, tc := range []struct {
		name   string
		ctx    Context
		path   string
		follow bool
		want   string // path name of the result, or ""
		err    error
	}{
		{"absolute", ctx, "/etc/passwd", true, "/etc/passwd", nil},
		{"dot and dotdot", ctx, "/etc/./../etc//passwd", true, "/etc/passwd", nil},
		{"dotdot at root stays", ctx, "/../../etc", true, "/etc", nil},
		{"symlink dir", ctx, "/bin/sh", true, "/usr/bin/sh", nil},
		{"absolute symlink stays inside", ctx, "/abs", true, "/etc/passwd", nil},
		{"escaping symlink stays inside", ctx, "/escape/passwd", true, "/etc/passwd", nil},
		{"nofollow final", ctx, "/abs", false, "/abs", nil},
		{"trailing slash follows", ctx, "/bin/", false, "/usr/bin", nil},
		{"loop", ctx, "/loop", true, "", unix.ELOOP},
		{"dangling", ctx, "/dangle", true, "", unix.ENOENT},
		{"missing", ctx, "/nope", true, "", unix.ENOENT},
		{"not a dir", ctx, "/etc/passwd/x", true, "", unix.ENOTDIR},
		{"trailing slash on file", ctx, "/etc/passwd/", true, "", unix.ENOTDIR},
		{"empty", ctx, "", true, "", unix.ENOENT},
		{"no search permission", user, "/secret/f", true, "", unix.EACCES},
		{"root overrides", ctx, "/secret/f", true, "/secret/f", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vd, err := v.GetDentry(tc.ctx, Resolution{Root: root, Start: root, Path: tc.path, FollowFinal: tc.follow})
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("GetDentry(%q) error = %v, want %v", tc.path, err, tc.err)
			}
			if err == nil {
				if got := v.PathName(root, vd); got != tc.want {
					t.Errorf("GetDentry(%q) = %q, want %q", tc.path, got, tc.want)
				}
			}
		})
	}
}

func TestNameTooLong(t *testing.T) {
	v, root := newTestVFS(t)
	ctx := testCtx{creds: auth.NewUser(0, 0, nil)}
	long := make([]byte, 256)
	for i := range long {
		long[i] = 'a'
	}
	if _, err := v.GetDentry(ctx, Resolution{Root: root, Start: root, Path: "/" + string(long)}); err != unix.ENAMETOOLONG {
		t.Errorf("256-byte component: error %v, want ENAMETOOLONG", err)
	}
}

func TestOpenChecks(t *testing.T) {
	v, root := newTestVFS(t)
	ctx := testCtx{creds: auth.NewUser(0, 0, nil)}
	for _, tc := range []struct {
		path  string
		flags uint32
		err   error
	}{
		{"/etc/passwd", unix.O_RDONLY, nil},
		{"/etc/passwd", unix.O_WRONLY, unix.EROFS},
		{"/etc", unix.O_WRONLY, unix.EISDIR},
		{"/etc/passwd", unix.O_RDONLY | unix.O_DIRECTORY, unix.ENOTDIR},
		{"/abs", unix.O_RDONLY | unix.O_NOFOLLOW, unix.ELOOP},
		{"/abs", unix.O_PATH | unix.O_NOFOLLOW, nil},
		{"/new", unix.O_RDONLY | unix.O_CREAT, unix.EROFS},
		{"/etc/passwd", unix.O_RDONLY | unix.O_CREAT | unix.O_EXCL, unix.EEXIST},
	} {
		f, err := v.OpenAt(ctx, Resolution{Root: root, Start: root, Path: tc.path}, tc.flags, 0o644)
		if err != tc.err {
			t.Errorf("OpenAt(%q, %#x) error = %v, want %v", tc.path, tc.flags, err, tc.err)
		}
		if f != nil {
			f.DecRef()
		}
	}
}

func TestReadAndSeek(t *testing.T) {
	v, root := newTestVFS(t)
	ctx := testCtx{creds: auth.NewUser(0, 0, nil)}
	f, err := v.OpenAt(ctx, Resolution{Root: root, Start: root, Path: "/etc/passwd"}, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	buf := make([]byte, 4)
	if n, _ := f.Read(ctx, buf); string(buf[:n]) != "root" {
		t.Errorf("first read %q", buf[:n])
	}
	if off, err := f.Seek(ctx, -3, unix.SEEK_END); err != nil || off != 7 {
		t.Errorf("SEEK_END -3 = %d, %v", off, err)
	}
	if n, _ := f.Read(ctx, buf); string(buf[:n]) != "0:0" {
		t.Errorf("read after seek %q", buf[:n])
	}
	if _, err := f.Seek(ctx, -100, unix.SEEK_CUR); err != unix.EINVAL {
		t.Errorf("negative seek error %v, want EINVAL", err)
	}
	if _, err := f.Write(ctx, buf); err != unix.EBADF {
		t.Errorf("write to O_RDONLY error %v, want EBADF", err)
	}
}

// revalDir is a directory whose entries can vanish behind vfs's back.
type revalDir struct{ *memInode }

func (d revalDir) RevalidateChild(_ Context, name string, _ Inode) bool {
	_, ok := d.children[name]
	return ok
}

func TestRevalidation(t *testing.T) {
	ctx := testCtx{creds: auth.NewUser(0, 0, nil)}
	for _, tc := range []struct {
		name       string
		revalidate bool
		wantErr    error
	}{
		{"cached entry kept without a revalidator", false, nil},
		{"vanished entry dropped with a revalidator", true, unix.ENOENT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := dir(map[string]*memInode{"p": file("x")})
			var rootInode Inode = inner
			if tc.revalidate {
				rootInode = revalDir{inner}
			}
			v := New()
			m := v.MountRoot(v.NewFilesystemInstance(&memFS{root: inner}), "mem", true)
			m.root.inode = rootInode
			root := VirtualDentry{Mount: m, Dentry: m.Root()}
			r := Resolution{Root: root, Start: root, Path: "/p", FollowFinal: true}
			first, err := v.GetDentry(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			delete(inner.children, "p")
			_, err = v.GetDentry(ctx, r)
			if err != tc.wantErr {
				t.Fatalf("after removal: %v, want %v", err, tc.wantErr)
			}
			if tc.revalidate && !first.Dentry.IsDead() {
				t.Errorf("dropped dentry not marked dead")
			}
		})
	}
}
