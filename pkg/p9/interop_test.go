package p9

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// These tests pin the behaviour found by checking pkg/p9 against diod
// (test/p9interop): what a peer that is not Buffer Zone sends and
// expects.

// tcpPair serves fs over a loopback TCP connection and returns a client
// on it.
func tcpPair(t *testing.T, fs Attacher, msize uint32) *Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *os.File, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		f, _ := c.(*net.TCPConn).File()
		c.Close()
		accepted <- f
	}()
	cc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := cc.(*net.TCPConn).File()
	cc.Close()
	if err != nil {
		t.Fatal(err)
	}
	sf := <-accepted
	if sf == nil {
		t.Fatal("accept failed")
	}
	go func() {
		NewServer(fs).Serve(sf)
		sf.Close()
	}()
	c, err := NewClient(cf, msize)
	cf.Close()
	if err != nil {
		t.Fatalf("NewClient over TCP: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTCPTransport(t *testing.T) {
	fs := newMemFS()
	fs.donate = true // over TCP the descriptor is dropped, the reply is not
	c := tcpPair(t, fs, 8192)
	root, _, err := c.Attach("", NoUID)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100<<10) // many messages, split across TCP segments
	for i := range data {
		data[i] = byte(i * 13)
	}
	if _, _, _, err := root.Create("f", unix.O_RDWR, 0o644, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := root.WriteAt(data, 0); err != nil || n != len(data) {
		t.Fatalf("write over TCP: %d, %v", n, err)
	}
	root2, _, err := c.Attach("", NoUID)
	if err != nil {
		t.Fatal(err)
	}
	_, f, err := root2.Walk([]string{"f"})
	if err != nil {
		t.Fatal(err)
	}
	host, _, _, err := f.Open(unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if host != nil {
		t.Errorf("a descriptor arrived over TCP")
		host.Close()
	}
	got := make([]byte, len(data))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ { // concurrent requests over one stream
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			chunk := len(data) / 8
			if _, err := f.ReadAt(got[i*chunk:(i+1)*chunk], uint64(i*chunk)); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if string(got) != string(data) {
		t.Errorf("read over TCP differs from what was written")
	}
}

// countingFS records the largest count the server handed its backend.
type countingFS struct {
	*memFS
	mu                        sync.Mutex
	maxRead, maxWrite, maxDir int
}

func (fs *countingFS) Attach(aname string, uid uint32) (ServerFile, error) {
	f, err := fs.memFS.Attach(aname, uid)
	return &countingFile{ServerFile: f, fs: fs}, err
}

type countingFile struct {
	ServerFile
	fs *countingFS
}

func (f *countingFile) note(p *int, n int) {
	f.fs.mu.Lock()
	if n > *p {
		*p = n
	}
	f.fs.mu.Unlock()
}

func (f *countingFile) Walk(names []string) ([]QID, ServerFile, error) {
	q, nf, err := f.ServerFile.Walk(names)
	if nf != nil {
		nf = &countingFile{ServerFile: nf, fs: f.fs}
	}
	return q, nf, err
}

func (f *countingFile) Create(name string, flags, mode, gid uint32) (ServerFile, *os.File, QID, uint32, error) {
	nf, fd, q, io, err := f.ServerFile.Create(name, flags, mode, gid)
	if nf != nil {
		nf = &countingFile{ServerFile: nf, fs: f.fs}
	}
	return nf, fd, q, io, err
}

func (f *countingFile) ReadAt(p []byte, off uint64) (int, error) {
	f.note(&f.fs.maxRead, len(p))
	return f.ServerFile.ReadAt(p, off)
}

func (f *countingFile) WriteAt(p []byte, off uint64) (int, error) {
	f.note(&f.fs.maxWrite, len(p))
	return f.ServerFile.WriteAt(p, off)
}

func (f *countingFile) Readdir(off uint64, count uint32) ([]Dirent, error) {
	f.note(&f.fs.maxDir, int(count))
	return f.ServerFile.Readdir(off, count)
}

// TestRequestCountsLeaveIOHeaderRoom checks that the client never asks for
// more than msize-IOHeaderSize bytes in one Tread, Twrite or Treaddir:
// diod (and Linux's server side, QEMU) refuse larger counts with EIO.
func TestRequestCountsLeaveIOHeaderRoom(t *testing.T) {
	const msize = 8192
	fs := &countingFS{memFS: newMemFS()}
	c, _ := startPairAttacher(t, fs, msize)
	root, _, err := c.Attach("", NoUID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := root.Create("f", unix.O_RDWR, 0o644, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5*msize)
	if _, err := root.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := root.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	_, d, err := c.mustAttachClone(t)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := d.Open(unix.O_RDONLY); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Readdir(0, 1<<20); err != nil {
		t.Fatal(err)
	}
	const max = msize - IOHeaderSize
	if fs.maxRead != max || fs.maxWrite != max || fs.maxDir != max {
		t.Errorf("largest read %d, write %d, readdir %d; want each %d", fs.maxRead, fs.maxWrite, fs.maxDir, max)
	}
}

// mustAttachClone attaches again and clones the root.
func (c *Client) mustAttachClone(t *testing.T) ([]QID, *File, error) {
	r, _, err := c.Attach("", NoUID)
	if err != nil {
		return nil, nil, err
	}
	return r.Walk(nil)
}

// startPairAttacher is startPair for any Attacher, with a chosen msize.
func startPairAttacher(t *testing.T, a Attacher, msize uint32) (*Client, <-chan error) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sf, cf := os.NewFile(uintptr(fds[0]), "server"), os.NewFile(uintptr(fds[1]), "client")
	done := make(chan error, 1)
	go func() {
		done <- NewServer(a).Serve(sf)
		sf.Close()
	}()
	c, err := NewClient(cf, msize)
	cf.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, done
}

// oldServerFS answers Trenameat and Tunlinkat with EOPNOTSUPP, as diod
// does, and records the Trename and Tremove the client falls back to.
type oldServerFS struct {
	*memFS
	mu      sync.Mutex
	renamed []string
	removed []string
}

func (fs *oldServerFS) Attach(aname string, uid uint32) (ServerFile, error) {
	f, err := fs.memFS.Attach(aname, uid)
	return &oldServerFile{memFile: f.(*memFile), fs: fs}, err
}

type oldServerFile struct {
	*memFile
	fs   *oldServerFS
	name string
	dir  *memNode
}

func (f *oldServerFile) Walk(names []string) ([]QID, ServerFile, error) {
	q, nf, err := f.memFile.Walk(names)
	if nf == nil {
		return q, nil, err
	}
	o := &oldServerFile{memFile: nf.(*memFile), fs: f.fs}
	if len(names) == 1 {
		o.name, o.dir = names[0], f.n
	}
	return q, o, err
}

func (f *oldServerFile) RenameAt(string, ServerFile, string) error { return unix.EOPNOTSUPP }
func (f *oldServerFile) UnlinkAt(string, uint32) error             { return unix.EOPNOTSUPP }

func (f *oldServerFile) Rename(newDir ServerFile, newName string) error {
	nd := newDir.(*oldServerFile).n
	f.dir.mu.Lock()
	delete(f.dir.children, f.name)
	f.dir.mu.Unlock()
	nd.mu.Lock()
	nd.children[newName] = f.n
	nd.mu.Unlock()
	f.fs.mu.Lock()
	f.fs.renamed = append(f.fs.renamed, f.name+"->"+newName)
	f.fs.mu.Unlock()
	return nil
}

func (f *oldServerFile) Remove() error {
	f.dir.mu.Lock()
	delete(f.dir.children, f.name)
	f.dir.mu.Unlock()
	f.fs.mu.Lock()
	f.fs.removed = append(f.fs.removed, f.name)
	f.fs.mu.Unlock()
	return nil
}

func TestRenameAtUnlinkAtFallBack(t *testing.T) {
	fs := &oldServerFS{memFS: newMemFS()}
	c, _ := startPairAttacher(t, fs, 8192)
	root, _, err := c.Attach("", NoUID)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		_, d, _ := root.Walk(nil)
		if _, _, _, err := d.Create(n, unix.O_RDWR, 0o644, 0); err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
	if _, err := root.Mkdir("d", 0o755, 0); err != nil {
		t.Fatal(err)
	}
	if err := root.RenameAt("a", root, "a2"); err != nil {
		t.Fatalf("renameat fallback: %v", err)
	}
	if err := root.RenameAt("b", root, "b2"); err != nil { // second time: Trename directly
		t.Fatalf("renameat fallback: %v", err)
	}
	if err := root.RenameAt("missing", root, "x"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("renameat of a missing name: %v, want ENOENT", err)
	}
	if err := root.UnlinkAt("d", 0); !errors.Is(err, unix.EISDIR) {
		t.Errorf("unlinkat dir without AT_REMOVEDIR: %v, want EISDIR", err)
	}
	if err := root.UnlinkAt("a2", unix.AT_REMOVEDIR); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("unlinkat file with AT_REMOVEDIR: %v, want ENOTDIR", err)
	}
	if err := root.UnlinkAt("a2", 0); err != nil {
		t.Errorf("unlinkat fallback: %v", err)
	}
	if err := root.UnlinkAt("d", unix.AT_REMOVEDIR); err != nil {
		t.Errorf("unlinkat dir fallback: %v", err)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.renamed) != 2 || fs.renamed[0] != "a->a2" || fs.renamed[1] != "b->b2" {
		t.Errorf("renames through Trename: %v", fs.renamed)
	}
	if len(fs.removed) != 2 || fs.removed[0] != "a2" || fs.removed[1] != "d" {
		t.Errorf("removals through Tremove: %v", fs.removed)
	}
	if !c.noRenameAt.Load() || !c.noUnlinkAt.Load() {
		t.Errorf("client did not remember the missing messages")
	}
}

func TestTauthMeansNoAuthentication(t *testing.T) {
	c, _ := startPair(t, newMemFS(), unix.SOCK_STREAM)
	_, err := c.rpc(&Tauth{AuthFID: 5, AName: "/"}, MsgRauth)
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("Tauth: %v, want ENOENT (diod's 'authentication not required')", err)
	}
}

// rawConn is a client socket driven message by message.
type rawConn struct {
	t  *testing.T
	fd int
}

func (r *rawConn) send(tag Tag, m Message) {
	b, err := AppendMessage(nil, tag, m)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := unix.Write(r.fd, b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) recv() (Tag, Message) {
	hdr := make([]byte, 4)
	if _, err := readFull(r.fd, hdr); err != nil {
		r.t.Fatal(err)
	}
	size := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16 | int(hdr[3])<<24
	b := make([]byte, size)
	copy(b, hdr)
	if _, err := readFull(r.fd, b[4:]); err != nil {
		r.t.Fatal(err)
	}
	tag, m, err := DecodeMessage(b)
	if err != nil {
		r.t.Fatal(err)
	}
	return tag, m
}

func readFull(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Read(fd, b[n:])
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, errors.New("EOF")
		}
		n += m
	}
	return n, nil
}

func rawServer(t *testing.T, max uint32) *rawConn {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sf := os.NewFile(uintptr(fds[0]), "server")
	s := NewServer(newMemFS())
	s.MaxMessageSize = max
	done := make(chan struct{})
	go func() {
		s.Serve(sf)
		sf.Close()
		close(done)
	}()
	t.Cleanup(func() {
		unix.Close(fds[1])
		<-done
	})
	return &rawConn{t: t, fd: fds[1]}
}

func TestVersionNegotiation(t *testing.T) {
	r := rawServer(t, 16384)
	for _, c := range []struct {
		msize     uint32
		version   string
		wantMSize uint32
		wantVer   string
	}{
		{65536, "9P2000.L", 16384, "9P2000.L"}, // capped at the server's maximum
		{8192, "9P2000.L", 8192, "9P2000.L"},   // the client's smaller size wins
		{65536, "9P2000.L", 16384, "9P2000.L"}, // a new session starts afresh
		{8192, "9P2000", 8192, "unknown"},      // 9P2000 without .L is not spoken
		{8192, "9P2000.u", 8192, "unknown"},
	} {
		r.send(NoTag, &Tversion{MSize: c.msize, Version: c.version})
		tag, m := r.recv()
		rv, ok := m.(*Rversion)
		if tag != NoTag || !ok || rv.MSize != c.wantMSize || rv.Version != c.wantVer {
			t.Errorf("Tversion %d %q: tag %#x %#v; want msize %d %q", c.msize, c.version, tag, m, c.wantMSize, c.wantVer)
		}
	}
}

// TestClunkAndRemoveEndTheFid checks that Tclunk and Tremove free the fid
// whether or not they succeed, and that a walk of zero names clones.
func TestClunkAndRemoveEndTheFid(t *testing.T) {
	r := rawServer(t, 8192)
	r.send(NoTag, &Tversion{MSize: 8192, Version: Version})
	r.recv()
	expect := func(what string, want MsgType) Message {
		t.Helper()
		_, m := r.recv()
		if m.Type() != want {
			t.Fatalf("%s: got %#v, want type %d", what, m, want)
		}
		return m
	}
	r.send(1, &Tattach{FID: 0, AuthFID: NoFID, UID: NoUID})
	expect("attach", MsgRattach)
	r.send(2, &Twalk{FID: 0, NewFID: 1})
	if w := expect("walk of zero names", MsgRwalk).(*Rwalk); len(w.QIDs) != 0 {
		t.Errorf("walk of zero names returned %d qids", len(w.QIDs))
	}
	r.send(3, &Tgetattr{FID: 1, Mask: AttrBasic})
	expect("getattr of the clone", MsgRgetattr)
	// Tremove of the root fails (memFS has no Remove), and still clunks.
	r.send(4, &Tremove{FID: 1})
	expect("remove", MsgRlerror)
	r.send(5, &Tgetattr{FID: 1, Mask: AttrBasic})
	if e := expect("getattr after remove", MsgRlerror).(*Rlerror); e.Errno != uint32(unix.EBADF) {
		t.Errorf("fid after failed Tremove: errno %d, want EBADF", e.Errno)
	}
	r.send(6, &Tclunk{FID: 0})
	expect("clunk", MsgRclunk)
	r.send(7, &Tclunk{FID: 0})
	if e := expect("second clunk", MsgRlerror).(*Rlerror); e.Errno != uint32(unix.EBADF) {
		t.Errorf("second clunk: errno %d, want EBADF", e.Errno)
	}
}

// scriptedServer serves a client with a scripted server: it answers
// Tversion and Tattach, then runs script, whose failure the returned
// channel reports when the script is done. It returns the attached root.
func scriptedServer(t *testing.T, script func(r *rawConn) error) (*File, <-chan error) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &rawConn{t: t, fd: fds[0]}
	t.Cleanup(func() { unix.Close(fds[0]) })
	served := make(chan error, 1)
	go func() {
		defer close(served)
		tag, m := r.recv()
		r.send(tag, &Rversion{MSize: m.(*Tversion).MSize, Version: Version})
		tag, _ = r.recv()
		r.send(tag, &Rattach{QID: QID{Type: QIDTypeDir, Path: 1}})
		if err := script(r); err != nil {
			served <- err
		}
	}()
	cf := os.NewFile(uintptr(fds[1]), "client")
	c, err := NewClient(cf, 8192)
	cf.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	root, _, err := c.Attach("", NoUID)
	if err != nil {
		t.Fatal(err)
	}
	return root, served
}

// TestWalkGetAttrWithUnorderedServer plays a server without the ordering
// extension (diod): it answers the pipelined Tgetattr before the Twalk
// that creates its fid, with EIO. The client must ask again.
func TestWalkGetAttrWithUnorderedServer(t *testing.T) {
	root, served := scriptedServer(t, func(r *rawConn) error {
		wtag, wm := r.recv()
		gtag, gm := r.recv()
		w, ok1 := wm.(*Twalk)
		g, ok2 := gm.(*Tgetattr)
		if !ok1 || !ok2 || g.FID != w.NewFID {
			return fmt.Errorf("expected a pipelined Twalk and Tgetattr, got %#v, %#v", wm, gm)
		}
		r.send(gtag, &Rlerror{Errno: uint32(unix.EIO)}) // "unknown fid"
		r.send(wtag, &Rwalk{QIDs: []QID{{Path: 2}}})
		tag, m := r.recv()
		if g2, ok := m.(*Tgetattr); !ok || g2.FID != w.NewFID {
			return fmt.Errorf("expected Tgetattr again, got %#v", m)
		}
		r.send(tag, &Rgetattr{Valid: AttrBasic, QID: QID{Path: 2}, Attr: Attr{Mode: unix.S_IFREG | 0o644, Size: 42}})
		return nil
	})
	qids, _, valid, attr, err := root.WalkGetAttr([]string{"f"}, AttrBasic)
	if err != nil || len(qids) != 1 || valid != AttrBasic || attr.Size != 42 {
		t.Errorf("WalkGetAttr: %v %#x %+v %v", qids, valid, attr, err)
	}
	if err := <-served; err != nil {
		t.Error(err)
	}
}

// TestWalkOpenWithUnorderedServer: as TestWalkGetAttrWithUnorderedServer,
// for the pipelined Tlopen of WalkOpen.
func TestWalkOpenWithUnorderedServer(t *testing.T) {
	root, served := scriptedServer(t, func(r *rawConn) error {
		wtag, wm := r.recv()
		otag, om := r.recv()
		w, ok1 := wm.(*Twalk)
		o, ok2 := om.(*Tlopen)
		if !ok1 || !ok2 || o.FID != w.NewFID || len(w.Names) != 0 {
			return fmt.Errorf("expected a pipelined clone Twalk and Tlopen, got %#v, %#v", wm, om)
		}
		r.send(otag, &Rlerror{Errno: uint32(unix.EIO)}) // "unknown fid"
		r.send(wtag, &Rwalk{})
		tag, m := r.recv()
		if o2, ok := m.(*Tlopen); !ok || o2.FID != w.NewFID {
			return fmt.Errorf("expected Tlopen again, got %#v", m)
		}
		r.send(tag, &Rlopen{QID: QID{Type: QIDTypeRegular, Path: 2}, IOUnit: 4096})
		return nil
	})
	nf, fd, qid, iounit, err := root.WalkOpen(unix.O_RDONLY)
	if err != nil || nf == nil || fd != nil || qid.Path != 2 || iounit != 4096 {
		t.Errorf("WalkOpen: %v %v %+v %d %v", nf, fd, qid, iounit, err)
	}
	if err := <-served; err != nil {
		t.Error(err)
	}
}
