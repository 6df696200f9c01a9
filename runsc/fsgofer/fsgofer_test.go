package fsgofer

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"bufferzone.dev/pkg/p9"
	"golang.org/x/sys/unix"
)

// makeTree builds, under a fresh directory, the root directory served by
// the tests, and a secret file beside (outside) it.
//
//	root/file        "hello"
//	root/dir/inner   "inner"
//	root/rel   -> file
//	root/abs   -> /etc/passwd
//	root/escape -> ../../..
//	root/dir/up -> ..
func makeTree(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	root := filepath.Join(top, "root")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "dir"), 0o755))
	must(os.WriteFile(filepath.Join(root, "file"), []byte("hello"), 0o644))
	must(os.WriteFile(filepath.Join(root, "dir", "inner"), []byte("inner"), 0o644))
	must(os.WriteFile(filepath.Join(top, "secret"), []byte("secret"), 0o600))
	must(os.Symlink("file", filepath.Join(root, "rel")))
	must(os.Symlink("/etc/passwd", filepath.Join(root, "abs")))
	must(os.Symlink("../../..", filepath.Join(root, "escape")))
	must(os.Symlink("..", filepath.Join(root, "dir", "up")))
	must(unix.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	return root
}

// noProc makes connect disable /proc/self/fd reopening, to test the
// openat(parent, name) fallback.
var noProc bool

// connect serves root and returns the attached root fid.
func connect(t testing.TB, root string, readOnly bool) *p9.File {
	t.Helper()
	a, err := New(root, readOnly)
	if err != nil {
		t.Fatal(err)
	}
	if noProc {
		a.(*attacher).procFD = false
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sf, cf := os.NewFile(uintptr(fds[0]), "s"), os.NewFile(uintptr(fds[1]), "c")
	go func() {
		p9.NewServer(a).Serve(sf)
		sf.Close()
	}()
	c, err := p9.NewClient(cf, 1<<20)
	cf.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r, _, err := c.Attach("", p9.NoUID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func walk(t *testing.T, r *p9.File, names ...string) (*p9.File, []p9.QID) {
	t.Helper()
	qids, f, err := r.Walk(names)
	if err != nil {
		t.Fatalf("walk %v: %v", names, err)
	}
	return f, qids
}

func readAll(t *testing.T, f *p9.File) string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestWalkNeverEscapes(t *testing.T) {
	root := makeTree(t)
	r := connect(t, root, true)

	// Symlinks are returned as themselves, never followed.
	for name, target := range map[string]string{"rel": "file", "abs": "/etc/passwd", "escape": "../../.."} {
		l, qids := walk(t, r, name)
		if qids[0].Type != p9.QIDTypeSymlink {
			t.Errorf("%s: qid type %#x, want symlink", name, qids[0].Type)
		}
		if got, err := l.Readlink(); err != nil || got != target {
			t.Errorf("readlink %s = %q, %v", name, got, err)
		}
		if _, _, _, err := l.Open(unix.O_RDONLY); !errors.Is(err, unix.ELOOP) {
			t.Errorf("open %s: %v, want ELOOP", name, err)
		}
		_, _, attr, err := l.GetAttr(p9.AttrAll)
		if err != nil || attr.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("getattr %s: mode %#o %v", name, attr.Mode, err)
		}
		l.Close()
	}
	// Walking through a symlink stops at it (partial walk).
	for _, names := range [][]string{{"escape", "secret"}, {"abs", "x"}, {"dir", "up", "file"}} {
		qids, f, err := r.Walk(names)
		if err == nil || f != nil {
			t.Errorf("walk %v through symlink succeeded", names)
		}
		if len(qids) == 0 || qids[len(qids)-1].Type != p9.QIDTypeSymlink {
			t.Errorf("walk %v: qids %v", names, qids)
		}
	}
	// ".." and names with "/" are refused.
	for _, names := range [][]string{{".."}, {"dir", ".."}, {"."}, {"dir/inner"}, {"../secret"}, {""}} {
		if _, _, err := r.Walk(names); !errors.Is(err, unix.EINVAL) {
			t.Errorf("walk %q: %v, want EINVAL", names, err)
		}
	}
	// Attaching to ".." is refused too.
	if _, err := (&attacher{}).Attach("../x", p9.NoUID); !errors.Is(err, unix.EINVAL) {
		t.Errorf("attach ..: %v", err)
	}
	// Normal walks work.
	f, qids := walk(t, r, "dir", "inner")
	if len(qids) != 2 || qids[0].Type != p9.QIDTypeDir || qids[1].Type != p9.QIDTypeRegular {
		t.Errorf("qids %v", qids)
	}
	if _, _, _, err := f.Open(unix.O_RDONLY); err != nil {
		t.Fatal(err)
	}
	if s := readAll(t, f); s != "inner" {
		t.Errorf("read %q", s)
	}
	// Device nodes and FIFOs are not opened on the host.
	fifo, _ := walk(t, r, "fifo")
	if _, _, _, err := fifo.Open(unix.O_RDONLY); !errors.Is(err, unix.EPERM) {
		t.Errorf("open fifo: %v", err)
	}
}

func TestDonationAndReaddir(t *testing.T) {
	root := makeTree(t)
	r := connect(t, root, true)
	f, _ := walk(t, r, "file")
	host, qid, _, err := f.Open(unix.O_RDONLY)
	if err != nil || host == nil {
		t.Fatalf("open: %v %v", host, err)
	}
	defer host.Close()
	if qid.Type != p9.QIDTypeRegular {
		t.Errorf("qid %v", qid)
	}
	buf := make([]byte, 16)
	n, _ := host.ReadAt(buf, 0)
	if string(buf[:n]) != "hello" {
		t.Errorf("donated fd read %q", buf[:n])
	}
	if fl, _ := unix.FcntlInt(host.Fd(), unix.F_GETFL, 0); fl&unix.O_ACCMODE != unix.O_RDONLY {
		t.Errorf("donated fd flags %#x", fl)
	}
	if s := readAll(t, f); s != "hello" {
		t.Errorf("9P read %q", s)
	}

	d, _ := walk(t, r)
	if host, _, _, err := d.Open(unix.O_RDONLY | unix.O_DIRECTORY); err != nil || host != nil {
		t.Fatalf("open dir: %v %v", host, err)
	}
	got := map[string]uint8{}
	var off uint64
	for {
		ents, err := d.Readdir(off, 64) // tiny: forces several rounds
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			got[e.Name] = e.Type
		}
		off = ents[len(ents)-1].Offset
	}
	want := map[string]uint8{"file": unix.DT_REG, "dir": unix.DT_DIR, "rel": unix.DT_LNK, "abs": unix.DT_LNK, "escape": unix.DT_LNK, "fifo": unix.DT_FIFO}
	if len(got) != len(want) {
		var names []string
		for n := range got {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Errorf("readdir names %v", names)
	}
	for n, typ := range want {
		if got[n] != typ {
			t.Errorf("readdir %s type %d, want %d", n, got[n], typ)
		}
	}
	if st, err := r.StatFS(); err != nil || st.NameLength == 0 {
		t.Errorf("statfs %+v %v", st, err)
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	root := makeTree(t)
	r := connect(t, root, true)
	f, _ := walk(t, r, "file")
	for _, fl := range []uint32{unix.O_WRONLY, unix.O_RDWR, unix.O_RDONLY | unix.O_TRUNC} {
		if _, _, _, err := f.Open(fl); !errors.Is(err, unix.EROFS) {
			t.Errorf("open %#x: %v, want EROFS", fl, err)
		}
	}
	d, _ := walk(t, r)
	checks := map[string]error{}
	_, _, _, checks["create"] = d.Create("new", unix.O_RDWR, 0o644, 0)
	_, checks["mkdir"] = r.Mkdir("new", 0o755, 0)
	_, checks["symlink"] = r.Symlink("new", "x", 0)
	_, checks["mknod"] = r.Mknod("new", unix.S_IFIFO|0o644, 0, 0, 0)
	checks["link"] = r.Link(f, "new")
	checks["renameat"] = r.RenameAt("file", r, "new")
	checks["rename"] = f.Rename(r, "new")
	checks["unlinkat"] = r.UnlinkAt("file", 0)
	checks["setattr"] = f.SetAttr(p9.SetAttrSize, p9.SetAttr{Size: 0})
	for op, err := range checks {
		if !errors.Is(err, unix.EROFS) {
			t.Errorf("%s: %v, want EROFS", op, err)
		}
	}
	f2, _ := walk(t, r, "file")
	if err := f2.Remove(); !errors.Is(err, unix.EROFS) {
		t.Errorf("remove: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "file")); string(b) != "hello" {
		t.Errorf("file changed: %q", b)
	}
}

func TestWritable(t *testing.T) {
	root := makeTree(t)
	r := connect(t, root, false)
	d, _ := walk(t, r, "dir")
	host, qid, _, err := d.Create("new", unix.O_RDWR, 0o640, 0)
	if err != nil || host == nil || qid.Type != p9.QIDTypeRegular {
		t.Fatalf("create: %v %v %v", host, qid, err)
	}
	if _, err := host.WriteAt([]byte("via host"), 0); err != nil {
		t.Fatal(err)
	}
	host.Close()
	if _, err := d.WriteAt([]byte("VIA"), 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "dir", "new")); string(b) != "VIA host" {
		t.Errorf("content %q", b)
	}
	if err := d.FSync(false); err != nil {
		t.Error(err)
	}
	if err := d.SetAttr(p9.SetAttrSize|p9.SetAttrMode|p9.SetAttrMTime|p9.SetAttrMTimeSet, p9.SetAttr{Size: 3, Mode: 0o600, MTimeSec: 1000}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(root, "dir", "new"))
	if err != nil || st.Size() != 3 || st.Mode().Perm() != 0o600 || st.ModTime().Unix() != 1000 {
		t.Errorf("after setattr: %v %v", st, err)
	}
	if _, err := r.Mkdir("sub", 0o755, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Symlink("sl", "/etc/shadow", 0); err != nil {
		t.Fatal(err)
	}
	if tg, _ := os.Readlink(filepath.Join(root, "sl")); tg != "/etc/shadow" {
		t.Errorf("symlink target %q", tg)
	}
	if _, err := r.Mknod("p", unix.S_IFIFO|0o644, 0, 0, 0); err != nil {
		t.Error(err)
	}
	if _, err := r.Mknod("dev", unix.S_IFCHR|0o644, 1, 3, 0); !errors.Is(err, unix.EPERM) {
		t.Errorf("mknod chr: %v, want EPERM", err)
	}
	file, _ := walk(t, r, "file")
	if err := r.Link(file, "hard"); err != nil {
		t.Error(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "hard")); string(b) != "hello" {
		t.Errorf("hard link content %q", b)
	}
	sub, _ := walk(t, r, "sub")
	if err := r.RenameAt("hard", sub, "moved"); err != nil {
		t.Error(err)
	}
	if err := file.Rename(sub, "file2"); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(root, "sub", "file2")); err != nil {
		t.Error(err)
	}
	// The renamed fid still opens the right file.
	if _, _, _, err := file.Open(unix.O_RDONLY); err != nil {
		t.Error(err)
	} else if s := readAll(t, file); s != "hello" {
		t.Errorf("renamed read %q", s)
	}
	if err := sub.UnlinkAt("moved", 0); err != nil {
		t.Error(err)
	}
	if err := r.UnlinkAt("escape", 0); err != nil {
		t.Error(err)
	}
	if err := r.UnlinkAt("dir", 0); !errors.Is(err, unix.EISDIR) {
		t.Errorf("unlink dir without AT_REMOVEDIR: %v", err)
	}
	// The escaping symlink never let writes out of the tree.
	if b, _ := os.ReadFile(filepath.Join(filepath.Dir(root), "secret")); string(b) != "secret" {
		t.Errorf("secret changed")
	}
	// Symlinks are not followed on create either.
	if _, _, _, err := d.Create("x", unix.O_RDWR, 0o644, 0); err == nil {
		t.Log("create on an opened file succeeded")
	}
	r2, _ := walk(t, r)
	if _, _, _, err := r2.Create("abs", unix.O_RDWR, 0o644, 0); err == nil {
		t.Error("create over the absolute symlink succeeded")
	}
}

func TestWithoutProc(t *testing.T) {
	noProc = true
	defer func() { noProc = false }()
	t.Run("walk", TestWalkNeverEscapes)
	t.Run("donate", TestDonationAndReaddir)
	t.Run("writable", TestWritable)
}

func TestConcurrentWalkRead(t *testing.T) {
	root := makeTree(t)
	r := connect(t, root, true)
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				_, f, _, attr, err := r.WalkGetAttr([]string{"dir", "inner"}, p9.AttrAll)
				if err != nil {
					errs <- err
					return
				}
				if attr.Size != 5 {
					errs <- errors.New("bad size")
					f.Close()
					return
				}
				host, _, _, err := f.Open(unix.O_RDONLY)
				if err != nil {
					errs <- err
					f.Close()
					return
				}
				host.Close()
				buf := make([]byte, 8)
				if n, err := f.ReadAt(buf, 0); err != nil || string(buf[:n]) != "inner" {
					errs <- errors.New("bad read")
					f.Close()
					return
				}
				f.Close()
			}
			errs <- nil
		}()
	}
	for g := 0; g < 16; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkWalkGetAttrClunk(b *testing.B) {
	root := makeTreeB(b)
	r := connect(b, root, true)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, f, _, _, err := r.WalkGetAttr([]string{"dir", "inner"}, p9.AttrAll)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func makeTreeB(b *testing.B) string {
	root := filepath.Join(b.TempDir(), "root")
	if err := os.MkdirAll(filepath.Join(root, "dir"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dir", "inner"), []byte("inner"), 0o644); err != nil {
		b.Fatal(err)
	}
	return root
}
