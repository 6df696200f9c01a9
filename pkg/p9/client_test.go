package p9

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// memNode is a node of the in-memory test file system.
type memNode struct {
	mu       sync.Mutex
	path     uint64
	mode     uint32
	data     []byte
	target   string
	children map[string]*memNode
}

type memFS struct {
	mu     sync.Mutex
	next   uint64
	root   *memNode
	donate bool // donate a host copy of regular files on open
}

func (fs *memFS) newNode(mode uint32) *memNode {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.next++
	n := &memNode{path: fs.next, mode: mode}
	if mode&unix.S_IFMT == unix.S_IFDIR {
		n.children = map[string]*memNode{}
	}
	return n
}

func (n *memNode) qid() QID {
	return QID{Type: QIDTypeFromMode(n.mode), Path: n.path}
}

func (fs *memFS) Attach(aname string, uid uint32) (ServerFile, error) {
	return &memFile{fs: fs, n: fs.root}, nil
}

// memFile is a fid of memFS.
type memFile struct {
	UnimplementedServerFile
	fs     *memFS
	n      *memNode
	opened bool
	host   *os.File
}

func (f *memFile) Walk(names []string) ([]QID, ServerFile, error) {
	cur := f.n
	var qids []QID
	for i, name := range names {
		cur.mu.Lock()
		next, ok := cur.children[name]
		cur.mu.Unlock()
		if !ok {
			if i == 0 {
				return nil, nil, unix.ENOENT
			}
			return qids, nil, nil
		}
		cur = next
		qids = append(qids, cur.qid())
	}
	return qids, &memFile{fs: f.fs, n: cur}, nil
}

func (f *memFile) GetAttr(mask AttrMask) (QID, AttrMask, Attr, error) {
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	return f.n.qid(), AttrMode | AttrSize, Attr{Mode: f.n.mode, Size: uint64(len(f.n.data))}, nil
}

func (f *memFile) Open(flags uint32) (*os.File, QID, uint32, error) {
	if f.n.mode&unix.S_IFMT == unix.S_IFLNK {
		return nil, QID{}, 0, unix.ELOOP
	}
	f.opened = true
	if f.fs.donate && f.n.mode&unix.S_IFMT == unix.S_IFREG {
		fd, err := unix.MemfdCreate("memfs", unix.MFD_CLOEXEC)
		if err != nil {
			return nil, QID{}, 0, err
		}
		f.n.mu.Lock()
		unix.Write(fd, f.n.data)
		f.n.mu.Unlock()
		f.host = os.NewFile(uintptr(fd), "memfs")
	}
	return f.host, f.n.qid(), 0, nil
}

func (f *memFile) Create(name string, flags, mode, gid uint32) (ServerFile, *os.File, QID, uint32, error) {
	n := f.fs.newNode(unix.S_IFREG | mode&0o7777)
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if _, ok := f.n.children[name]; ok {
		return nil, nil, QID{}, 0, unix.EEXIST
	}
	f.n.children[name] = n
	return &memFile{fs: f.fs, n: n, opened: true}, nil, n.qid(), 0, nil
}

func (f *memFile) ReadAt(p []byte, off uint64) (int, error) {
	if !f.opened {
		return 0, unix.EBADF
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if off >= uint64(len(f.n.data)) {
		return 0, nil
	}
	return copy(p, f.n.data[off:]), nil
}

func (f *memFile) WriteAt(p []byte, off uint64) (int, error) {
	if !f.opened {
		return 0, unix.EBADF
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if end := int(off) + len(p); end > len(f.n.data) {
		f.n.data = append(f.n.data, make([]byte, end-len(f.n.data))...)
	}
	return copy(f.n.data[off:], p), nil
}

func (f *memFile) Readdir(offset uint64, count uint32) ([]Dirent, error) {
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	var names []string
	for name := range f.n.children {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []Dirent
	for i := int(offset); i < len(names); i++ {
		c := f.n.children[names[i]]
		out = append(out, Dirent{QID: c.qid(), Offset: uint64(i + 1), Type: uint8(c.mode >> 12), Name: names[i]})
	}
	return out, nil
}

func (f *memFile) Readlink() (string, error) {
	if f.n.mode&unix.S_IFMT != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	return f.n.target, nil
}

func (f *memFile) Mkdir(name string, mode, gid uint32) (QID, error) {
	n := f.fs.newNode(unix.S_IFDIR | mode)
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if _, ok := f.n.children[name]; ok {
		return QID{}, unix.EEXIST
	}
	f.n.children[name] = n
	return n.qid(), nil
}

func (f *memFile) Symlink(name, target string, gid uint32) (QID, error) {
	n := f.fs.newNode(unix.S_IFLNK | 0o777)
	n.target = target
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	f.n.children[name] = n
	return n.qid(), nil
}

func (f *memFile) UnlinkAt(name string, flags uint32) error {
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if _, ok := f.n.children[name]; !ok {
		return unix.ENOENT
	}
	delete(f.n.children, name)
	return nil
}

func (f *memFile) Close() error {
	if f.host != nil {
		f.host.Close()
	}
	return nil
}

// startPair serves fs on one end of a socketpair and returns a client on
// the other.
func startPair(t testing.TB, fs *memFS, sockType int) (*Client, <-chan error) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, sockType|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sf, cf := os.NewFile(uintptr(fds[0]), "server"), os.NewFile(uintptr(fds[1]), "client")
	done := make(chan error, 1)
	go func() {
		done <- NewServer(fs).Serve(sf)
		sf.Close()
	}()
	c, err := NewClient(cf, 64*1024)
	cf.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, done
}

func newMemFS() *memFS {
	fs := &memFS{}
	fs.root = fs.newNode(unix.S_IFDIR | 0o755)
	return fs
}

func TestClientServer(t *testing.T) {
	for _, st := range []struct {
		name string
		typ  int
	}{{"stream", unix.SOCK_STREAM}, {"seqpacket", unix.SOCK_SEQPACKET}} {
		t.Run(st.name, func(t *testing.T) {
			fs := newMemFS()
			c, done := startPair(t, fs, st.typ)
			root, rq, err := c.Attach("", NoUID)
			if err != nil {
				t.Fatal(err)
			}
			if rq.Type != QIDTypeDir {
				t.Errorf("root qid %v", rq)
			}
			if _, err := root.Mkdir("d", 0o755, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := root.Mkdir("d", 0o755, 0); !errors.Is(err, unix.EEXIST) {
				t.Errorf("second mkdir: %v, want EEXIST", err)
			}
			if _, err := root.Symlink("l", "/etc/passwd", 0); err != nil {
				t.Fatal(err)
			}
			_, d, err := root.Walk([]string{"d"})
			if err != nil {
				t.Fatal(err)
			}
			fd, q, _, err := d.Create("f", unix.O_RDWR, 0o644, 0)
			if err != nil || fd != nil || q.Type != QIDTypeRegular {
				t.Fatalf("create: %v %v %v", fd, q, err)
			}
			big := make([]byte, 200*1024) // several messages
			for i := range big {
				big[i] = byte(i * 7)
			}
			if n, err := d.WriteAt(big, 10); err != nil || n != len(big) {
				t.Fatalf("write: %d %v", n, err)
			}
			got := make([]byte, len(big)+100)
			n, err := d.ReadAt(got, 10)
			if err != nil || n != len(big) || string(got[:n]) != string(big) {
				t.Fatalf("read: %d %v", n, err)
			}
			qids, f2, valid, attr, err := root.WalkGetAttr([]string{"d", "f"}, AttrAll)
			if err != nil || len(qids) != 2 || valid&AttrSize == 0 || attr.Size != uint64(len(big)+10) {
				t.Fatalf("walkgetattr: %v %v %v %+v", qids, valid, err, attr)
			}
			f2.Close()
			if _, _, _, _, err := root.WalkGetAttr([]string{"nope"}, AttrAll); !errors.Is(err, unix.ENOENT) {
				t.Errorf("walkgetattr missing: %v", err)
			}
			qids, nf, err := root.Walk([]string{"d", "missing"})
			if !errors.Is(err, unix.ENOENT) || nf != nil || len(qids) != 1 {
				t.Errorf("partial walk: %v %v %v", qids, nf, err)
			}
			for _, bad := range []string{"..", ".", "a/b", ""} {
				if _, _, err := root.Walk([]string{bad}); !errors.Is(err, unix.EINVAL) {
					t.Errorf("walk %q: %v, want EINVAL", bad, err)
				}
			}
			_, l, err := root.Walk([]string{"l"})
			if err != nil {
				t.Fatal(err)
			}
			if tg, err := l.Readlink(); err != nil || tg != "/etc/passwd" {
				t.Errorf("readlink: %q %v", tg, err)
			}
			if _, _, _, err := l.Open(unix.O_RDONLY); !errors.Is(err, unix.ELOOP) {
				t.Errorf("open symlink: %v", err)
			}
			if _, _, _, _, err := l.WalkOpen(unix.O_RDONLY); !errors.Is(err, unix.ELOOP) {
				t.Errorf("walk-open symlink: %v", err)
			}
			// WalkOpen opens a clone; the walked fid stays unopened.
			_, wf, err := root.Walk([]string{"d", "f"})
			if err != nil {
				t.Fatal(err)
			}
			of, _, q, _, err := wf.WalkOpen(unix.O_RDONLY)
			if err != nil || q.Type != QIDTypeRegular {
				t.Fatalf("walk-open: %v %v", q, err)
			}
			if n, err := of.ReadAt(got[:len(big)], 10); err != nil || n != len(big) || string(got[:n]) != string(big) {
				t.Errorf("read from the walk-opened clone: %d %v", n, err)
			}
			of.Close()
			if _, _, _, err := wf.Open(unix.O_RDONLY); err != nil {
				t.Errorf("open of the fid WalkOpen cloned: %v", err)
			}
			wf.Close()
			if _, _, _, err := root.Open(unix.O_RDONLY); err != nil {
				t.Fatal(err)
			}
			ents, err := root.Readdir(0, 4096)
			if err != nil || len(ents) != 2 || ents[0].Name != "d" || ents[1].Name != "l" || ents[1].Type != unix.DT_LNK {
				t.Errorf("readdir: %+v %v", ents, err)
			}
			// A tiny count returns fewer entries, never a broken one.
			ents, err = root.Readdir(0, 30)
			if err != nil || len(ents) != 1 {
				t.Errorf("small readdir: %+v %v", ents, err)
			}
			if _, err := root.StatFS(); !errors.Is(err, unix.ENOSYS) {
				t.Errorf("statfs: %v, want ENOSYS", err)
			}
			if err := root.UnlinkAt("l", 0); err != nil {
				t.Error(err)
			}
			for _, f := range []*File{l, d, root} {
				if err := f.Close(); err != nil {
					t.Error(err)
				}
			}
			if err := l.Close(); !errors.Is(err, unix.EBADF) {
				t.Errorf("double clunk: %v", err)
			}
			c.Close()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
}

func TestFDDonation(t *testing.T) {
	for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_SEQPACKET} {
		fs := newMemFS()
		fs.donate = true
		c, _ := startPair(t, fs, typ)
		root, _, err := c.Attach("", NoUID)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := root.Create("f", unix.O_RDWR, 0o644, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := root.WriteAt([]byte("donated bytes"), 0); err != nil {
			t.Fatal(err)
		}
		r, _, err := c.Attach("", NoUID)
		if err != nil {
			t.Fatal(err)
		}
		// Many opens in parallel with other traffic: every reply must get
		// its own descriptor.
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, f, err := r.Walk([]string{"f"})
				if err != nil {
					t.Error(err)
					return
				}
				defer f.Close()
				host, _, _, err := f.Open(unix.O_RDONLY)
				if err != nil || host == nil {
					t.Errorf("open: %v %v", host, err)
					return
				}
				defer host.Close()
				buf := make([]byte, 64)
				n, _ := host.ReadAt(buf, 0)
				if string(buf[:n]) != "donated bytes" {
					t.Errorf("host fd read %q", buf[:n])
				}
			}()
			go func() {
				defer wg.Done()
				if _, _, _, err := r.GetAttr(AttrAll); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
}

func TestConcurrentClients(t *testing.T) {
	fs := newMemFS()
	c, _ := startPair(t, fs, unix.SOCK_STREAM)
	root, _, err := c.Attach("", NoUID)
	if err != nil {
		t.Fatal(err)
	}
	const workers, iters = 32, 100
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			name := fmt.Sprintf("f%d", w)
			_, dir, err := root.Walk(nil)
			if err != nil {
				t.Error(err)
				return
			}
			if _, _, _, err := dir.Create(name, unix.O_RDWR, 0o644, 0); err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < iters; i++ {
				msg := []byte(fmt.Sprintf("%s-%d", name, i))
				if _, err := dir.WriteAt(msg, 0); err != nil {
					t.Error(err)
					return
				}
				_, f, _, attr, err := root.WalkGetAttr([]string{name}, AttrAll)
				if err != nil {
					t.Error(err)
					return
				}
				if attr.Size < uint64(len(msg)) {
					t.Errorf("size %d", attr.Size)
				}
				f.Close()
				buf := make([]byte, len(msg))
				if n, err := dir.ReadAt(buf, 0); err != nil || string(buf[:n]) != string(msg) {
					t.Errorf("read %q %v", buf[:n], err)
					return
				}
			}
			dir.Close()
		}(w)
	}
	wg.Wait()
}

func TestServerSurvivesGarbage(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sf := os.NewFile(uintptr(fds[0]), "server")
	done := make(chan error, 1)
	go func() { done <- NewServer(newMemFS()).Serve(sf) }()
	// A well-framed message of unknown type gets Rlerror; then a bad
	// size ends the connection with an error, not a panic.
	unix.Write(fds[1], []byte{7, 0, 0, 0, 99, 5, 0})
	buf := make([]byte, 64)
	n, _ := unix.Read(fds[1], buf)
	if _, m, err := DecodeMessage(buf[:n]); err != nil || m.Type() != MsgRlerror {
		t.Errorf("reply to garbage: %v %v", m, err)
	}
	unix.Write(fds[1], []byte{3, 0, 0, 0})
	if err := <-done; err == nil {
		t.Error("Serve accepted a 3-byte message")
	}
	unix.Close(fds[1])
}

func BenchmarkWalkGetAttr(b *testing.B) {
	fs := newMemFS()
	c, _ := startPair(b, fs, unix.SOCK_STREAM)
	root, _, _ := c.Attach("", NoUID)
	root.Mkdir("d", 0o755, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, f, _, _, err := root.WalkGetAttr([]string{"d"}, AttrAll)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func BenchmarkGetAttr(b *testing.B) {
	fs := newMemFS()
	c, _ := startPair(b, fs, unix.SOCK_STREAM)
	root, _, _ := c.Attach("", NoUID)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, _, err := root.GetAttr(AttrAll); err != nil {
			b.Fatal(err)
		}
	}
}
