package gofer

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/p9"
	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/vfs/vfstest"
	"bufferzone.dev/runsc/fsgofer"
)

var ctx = vfstest.User(0, 0)

// countingAttacher counts the requests the Gofer serves on files it
// attached or walked to.
type countingAttacher struct {
	p9.Attacher
	n atomic.Int64
}

func (a *countingAttacher) Attach(aname string, uid uint32) (p9.ServerFile, error) {
	f, err := a.Attacher.Attach(aname, uid)
	if err != nil {
		return nil, err
	}
	return &countingFile{ServerFile: f, n: &a.n}, nil
}

type countingFile struct {
	p9.ServerFile
	n *atomic.Int64
}

func (f *countingFile) Walk(names []string) ([]p9.QID, p9.ServerFile, error) {
	f.n.Add(1)
	qids, nf, err := f.ServerFile.Walk(names)
	if nf != nil {
		nf = &countingFile{ServerFile: nf, n: f.n}
	}
	return qids, nf, err
}

func (f *countingFile) GetAttr(m p9.AttrMask) (p9.QID, p9.AttrMask, p9.Attr, error) {
	f.n.Add(1)
	return f.ServerFile.GetAttr(m)
}

func (f *countingFile) Open(flags uint32) (*os.File, p9.QID, uint32, error) {
	f.n.Add(1)
	return f.ServerFile.Open(flags)
}

// mount serves root with the Gofer's backend and returns the VFS tree of
// the client file system and the request counter.
func mount(t *testing.T, root string) (*vfs.VFS, vfs.VirtualDentry, *atomic.Int64) {
	t.Helper()
	v, vd, n, _ := mountFS(t, root)
	return v, vd, n
}

// mountFS is mount that also returns the client file system.
func mountFS(t *testing.T, root string) (*vfs.VFS, vfs.VirtualDentry, *atomic.Int64, *Filesystem) {
	t.Helper()
	a, err := fsgofer.New(root, false)
	if err != nil {
		t.Fatal(err)
	}
	ca := &countingAttacher{Attacher: a}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sf, cf := os.NewFile(uintptr(fds[0]), "server"), os.NewFile(uintptr(fds[1]), "client")
	go func() {
		p9.NewServer(ca).Serve(sf)
		sf.Close()
	}()
	fs, err := New(cf, "/")
	cf.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	v := vfs.New()
	m := v.MountRoot(v.NewFilesystemInstance(fs), "/", false)
	return v, vfs.VirtualDentry{Mount: m, Dentry: m.Root()}, &ca.n, fs
}

// TestCachedPathsAskNothing checks the revalidation policy of the package
// doc: resolving and stat'ing a path looked up before, and opening (and
// fstat'ing) a file opened before, make no Gofer request.
func TestCachedPathsAskNothing(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a", "b", "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, rootVD, n := mount(t, root)
	r := vfs.Resolution{Root: rootVD, Start: rootVD, Path: "/a/b/f", FollowFinal: true}
	open := func() {
		t.Helper()
		f, err := v.OpenAt(ctx, r, unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		if k, err := f.Read(ctx, buf); err != nil || string(buf[:k]) != "data" {
			t.Errorf("read %q, %v", buf[:k], err)
		}
		if st, err := f.Stat(ctx); err != nil || st.Size != 4 {
			t.Errorf("fstat: size %d, %v", st.Size, err)
		}
		f.DecRef()
	}
	open()
	before := n.Load()
	for i := 0; i < 10; i++ {
		vd, err := v.GetDentry(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := vd.Dentry.Inode().Stat(ctx); err != nil || st.Size != 4 {
			t.Fatalf("stat: size %d, %v", st.Size, err)
		}
		open()
	}
	if got := n.Load() - before; got != 0 {
		t.Errorf("10 lookups, stats and opens of a cached path made %d Gofer requests, want 0", got)
	}
	// A name not found is asked for each time.
	miss := vfs.Resolution{Root: rootVD, Start: rootVD, Path: "/a/none"}
	before = n.Load()
	for i := 0; i < 2; i++ {
		if _, err := v.GetDentry(ctx, miss); err != unix.ENOENT {
			t.Fatalf("lookup of a missing name: %v", err)
		}
	}
	if got := n.Load() - before; got != 2 {
		t.Errorf("2 lookups of a missing name made %d requests, want 2", got)
	}
}

// TestRemovedFilesKeepNoHandle checks that unlinking a file drops the open
// handle kept for it, so that its host descriptor does not hold the
// removed file's space.
func TestRemovedFilesKeepNoHandle(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, rootVD, _ := mount(t, root)
	r := vfs.Resolution{Root: rootVD, Start: rootVD, Path: "/f"}
	f, err := v.OpenAt(ctx, r, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.DecRef()
	fs := rootVD.Mount.Filesystem().FS.(*Filesystem)
	kept := func() int {
		fs.handleMu.Lock()
		defer fs.handleMu.Unlock()
		return len(fs.handles.elems)
	}
	if kept() != 1 {
		t.Fatalf("%d handles kept after an open and close, want 1", kept())
	}
	if err := v.UnlinkAt(ctx, r); err != nil {
		t.Fatal(err)
	}
	if kept() != 0 {
		t.Errorf("%d handles kept after the file was removed, want 0", kept())
	}
}

// TestPageCacheHostFile checks when private mappings may map a cached
// file's host pages: while no open file that can write is mapped, and
// never on a noexec mount's file.
func TestPageCacheHostFile(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, rootVD, _, fs := mountFS(t, root)
	mf, err := memory.New("gofer-test")
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	fs.EnablePageCache(mf)
	r := vfs.Resolution{Root: rootVD, Start: rootVD, Path: "/f", FollowFinal: true}
	mappable := func(flags uint32) *pageCache {
		t.Helper()
		f, err := v.OpenAt(ctx, r, flags, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.DecRef()
		m, err := f.Impl().(vfs.Mappable).Mappable()
		if err != nil {
			t.Fatal(err)
		}
		return m.(*pageCache)
	}
	c := mappable(unix.O_RDONLY)
	hf := c.HostFile()
	if hf == nil {
		var st unix.Statfs_t
		if unix.Statfs(root, &st) == nil && st.Flags&unix.ST_NOEXEC != 0 {
			t.Skip("the test directory is on a noexec mount")
		}
		t.Fatal("a file mapped only read-only has no host file")
	}
	if again := c.HostFile(); again != hf {
		t.Errorf("HostFile changed from %v to %v", hf, again)
	}
	buf := make([]byte, 4)
	if n, err := unix.Pread(hf.FD(), buf, 0); err != nil || string(buf[:n]) != "data" {
		t.Errorf("the host file reads %q, %v", buf[:n], err)
	}
	if mappable(unix.O_RDWR) != c {
		t.Fatal("a second open has another page cache")
	}
	if got := c.HostFile(); got != nil {
		t.Errorf("HostFile %v while a writable open file is mapped, want nil", got)
	}
}
