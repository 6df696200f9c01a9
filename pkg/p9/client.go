package p9

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Lock order (client.go): Client.mu, then transport.sendMu. Client.mu is
// never held while waiting for a reply or sending.

// Client is a 9P2000.L client over one connection. It is safe for
// concurrent use: every request gets its own tag, any number may be
// outstanding, and one reader goroutine matches replies to requests.
type Client struct {
	t     *transport
	msize uint32

	mu       sync.Mutex
	pending  map[Tag]*call
	nextTag  Tag
	nextFID  FID
	freeFIDs []FID
	err      error // set once the connection is unusable
	done     chan struct{}

	// noRenameAt is set once the server has answered Trenameat with
	// EOPNOTSUPP (diod does).
	noRenameAt atomic.Bool
	// noUnlinkAt is set once the server has answered Tunlinkat with
	// EOPNOTSUPP.
	noUnlinkAt atomic.Bool
}

// call is one outstanding request.
type call struct {
	done chan struct{}
	resp Message
	fd   *os.File
	err  error
}

// NewClient negotiates 9P2000.L with message size at most msize over
// sock, a connected Unix socket, and starts the reader goroutine. The
// client uses a duplicate of sock; the caller may close sock.
func NewClient(sock *os.File, msize uint32) (*Client, error) {
	if msize < HeaderSize+64 {
		return nil, fmt.Errorf("p9: msize %d too small", msize)
	}
	t, err := newTransport(sock, int(msize))
	if err != nil {
		return nil, err
	}
	b, err := AppendMessage(nil, NoTag, &Tversion{MSize: msize, Version: Version})
	if err == nil {
		err = t.send(b, nil)
	}
	if err != nil {
		t.close()
		return nil, fmt.Errorf("p9: sending Tversion: %w", err)
	}
	msg, fds, err := t.recv(msize)
	closeFDs(fds)
	if err != nil {
		t.close()
		return nil, fmt.Errorf("p9: waiting for Rversion: %w", err)
	}
	_, m, err := DecodeMessage(msg)
	if err != nil {
		t.close()
		return nil, fmt.Errorf("p9: decoding Rversion: %w", err)
	}
	switch r := m.(type) {
	case *Rversion:
		if r.Version != Version {
			t.close()
			return nil, fmt.Errorf("p9: server speaks %q, not %q", r.Version, Version)
		}
		if r.MSize > msize || r.MSize < HeaderSize+64 {
			t.close()
			return nil, fmt.Errorf("p9: server chose bad msize %d", r.MSize)
		}
		msize = r.MSize
	case *Rlerror:
		t.close()
		return nil, fmt.Errorf("p9: Tversion: %w", unix.Errno(r.Errno))
	default:
		t.close()
		return nil, fmt.Errorf("p9: unexpected reply type %d to Tversion", m.Type())
	}
	c := &Client{t: t, msize: msize, pending: make(map[Tag]*call), done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

// MessageSize returns the negotiated msize.
func (c *Client) MessageSize() uint32 { return c.msize }

// Close closes the connection. Outstanding requests fail.
func (c *Client) Close() error {
	c.shutdown(errClosed)
	<-c.done
	return nil
}

func (c *Client) shutdown(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.t.close()
}

func (c *Client) readLoop() {
	defer close(c.done)
	var err error
	for {
		var msg []byte
		var fds []int
		msg, fds, err = c.t.recv(c.msize)
		if err != nil {
			break
		}
		tag, m, derr := DecodeMessage(msg)
		c.mu.Lock()
		cl := c.pending[tag]
		delete(c.pending, tag)
		c.mu.Unlock()
		if cl == nil {
			closeFDs(fds)
			if derr != nil {
				err = derr
				break
			}
			continue // a reply to a request we gave up on
		}
		if derr != nil {
			cl.err = derr
		} else {
			cl.resp = m
			if t := m.Type(); len(fds) > 0 && (t == MsgRlopen || t == MsgRlcreate) {
				cl.fd = os.NewFile(uintptr(fds[0]), "p9-donated")
				fds = fds[1:]
			}
		}
		closeFDs(fds)
		close(cl.done)
	}
	c.mu.Lock()
	if c.err == nil {
		// The cause is kept as text: what callers see is EIO, never
		// the transport's errno (ECONNRESET, EPIPE).
		c.err = fmt.Errorf("p9: connection failed (%v): %w", err, unix.EIO)
	}
	failErr := c.err
	pending := c.pending
	c.pending = make(map[Tag]*call)
	c.mu.Unlock()
	c.t.close()
	for _, cl := range pending {
		cl.err = failErr
		close(cl.done)
	}
}

// start sends req and returns its call without waiting.
func (c *Client) start(req Message) *call {
	cl := &call{done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		cl.err = c.err
		c.mu.Unlock()
		close(cl.done)
		return cl
	}
	if len(c.pending) >= int(NoTag) {
		c.mu.Unlock()
		cl.err = errors.New("p9: too many outstanding requests")
		close(cl.done)
		return cl
	}
	tag := c.nextTag
	for {
		if _, busy := c.pending[tag]; !busy && tag != NoTag {
			break
		}
		tag++
	}
	c.nextTag = tag + 1
	c.pending[tag] = cl
	c.mu.Unlock()

	b, err := AppendMessage(make([]byte, 0, 64), tag, req)
	if err == nil {
		err = c.t.send(b, nil)
	}
	if err != nil {
		c.mu.Lock()
		if c.pending[tag] == cl {
			delete(c.pending, tag)
			cl.err = fmt.Errorf("p9: sending a request (%v): %w", err, unix.EIO)
			close(cl.done)
		}
		c.mu.Unlock()
	}
	return cl
}

// wait waits for cl and checks that the reply has type want. Rlerror
// becomes a unix.Errno.
func (cl *call) wait(want MsgType) (Message, *os.File, error) {
	<-cl.done
	if cl.err != nil {
		return nil, nil, cl.err
	}
	if e, ok := cl.resp.(*Rlerror); ok {
		return nil, nil, unix.Errno(e.Errno)
	}
	if cl.resp.Type() != want {
		if cl.fd != nil {
			cl.fd.Close()
		}
		return nil, nil, fmt.Errorf("p9: got reply type %d, want %d", cl.resp.Type(), want)
	}
	return cl.resp, cl.fd, nil
}

// rpc sends req and waits for a reply of type want.
func (c *Client) rpc(req Message, want MsgType) (Message, error) {
	m, fd, err := c.start(req).wait(want)
	if fd != nil {
		fd.Close()
	}
	return m, err
}

func (c *Client) allocFID() FID {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.freeFIDs); n > 0 {
		f := c.freeFIDs[n-1]
		c.freeFIDs = c.freeFIDs[:n-1]
		return f
	}
	f := c.nextFID
	c.nextFID++
	return f
}

func (c *Client) freeFID(f FID) {
	c.mu.Lock()
	c.freeFIDs = append(c.freeFIDs, f)
	c.mu.Unlock()
}

// dropPartialWalk frees newfid after a walk that stopped early. Per the
// protocol such a walk binds nothing, but diod leaves newfid bound to the
// last file reached; like Linux's client, send Tclunk anyway (a server
// that bound nothing answers EBADF) before the number is reused.
func (c *Client) dropPartialWalk(newfid FID) {
	c.rpc(&Tclunk{FID: newfid}, MsgRclunk)
	c.mu.Lock()
	dead := c.err != nil
	c.mu.Unlock()
	if !dead {
		c.freeFID(newfid)
	}
}

// Attach attaches to the server's tree aname as user uid (NoUID for
// none) and returns its root.
func (c *Client) Attach(aname string, uid uint32) (*File, QID, error) {
	fid := c.allocFID()
	m, err := c.rpc(&Tattach{FID: fid, AuthFID: NoFID, AName: aname, UID: uid}, MsgRattach)
	if err != nil {
		c.freeFID(fid)
		return nil, QID{}, fmt.Errorf("p9: attach %q: %w", aname, err)
	}
	return &File{c: c, fid: fid}, m.(*Rattach).QID, nil
}

// File is a client fid. Its methods may be called concurrently, except
// that Open, Create, Close and Remove change or end the fid and must not
// race with other calls on the same File.
type File struct {
	c   *Client
	fid FID
}

// FID returns the fid number of f.
func (f *File) FID() FID { return f.fid }

// Walk walks names from f and returns a new File for the result (with no
// names, a clone of f). If the walk stops early, Walk returns the QIDs of
// the names walked, a nil File and ENOENT. Errors from the server are
// unix.Errno values.
func (f *File) Walk(names []string) ([]QID, *File, error) {
	first := names
	if len(first) > MaxWalkElements {
		first = first[:MaxWalkElements]
	}
	nfid := f.c.allocFID()
	m, err := f.c.rpc(&Twalk{FID: f.fid, NewFID: nfid, Names: first}, MsgRwalk)
	if err != nil {
		f.c.freeFID(nfid)
		return nil, nil, err
	}
	qids := m.(*Rwalk).QIDs
	if len(qids) != len(first) {
		f.c.dropPartialWalk(nfid)
		return qids, nil, unix.ENOENT
	}
	nf := &File{c: f.c, fid: nfid}
	for rest := names[len(first):]; len(rest) > 0; {
		chunk := rest
		if len(chunk) > MaxWalkElements {
			chunk = chunk[:MaxWalkElements]
		}
		rest = rest[len(chunk):]
		m, err := f.c.rpc(&Twalk{FID: nfid, NewFID: nfid, Names: chunk}, MsgRwalk)
		if err != nil {
			nf.Close()
			return qids, nil, err
		}
		q := m.(*Rwalk).QIDs
		qids = append(qids, q...)
		if len(q) != len(chunk) {
			nf.Close()
			return qids, nil, unix.ENOENT
		}
	}
	return qids, nf, nil
}

// WalkGetAttr walks names (at most MaxWalkElements) like Walk and gets
// the attributes of the result in the same round trip: the Tgetattr on
// the new fid is sent before the Rwalk arrives, relying on the server
// ordering described in the package comment.
func (f *File) WalkGetAttr(names []string, mask AttrMask) ([]QID, *File, AttrMask, Attr, error) {
	if len(names) > MaxWalkElements {
		qids, nf, err := f.Walk(names)
		if err != nil {
			return qids, nil, 0, Attr{}, err
		}
		_, valid, attr, err := nf.GetAttr(mask)
		if err != nil {
			nf.Close()
			return qids, nil, 0, Attr{}, err
		}
		return qids, nf, valid, attr, nil
	}
	nfid := f.c.allocFID()
	wc := f.c.start(&Twalk{FID: f.fid, NewFID: nfid, Names: names})
	gc := f.c.start(&Tgetattr{FID: nfid, Mask: mask})
	wm, _, werr := wc.wait(MsgRwalk)
	gm, _, gerr := gc.wait(MsgRgetattr)
	if werr != nil {
		f.c.freeFID(nfid)
		return nil, nil, 0, Attr{}, werr
	}
	qids := wm.(*Rwalk).QIDs
	if len(qids) != len(names) {
		f.c.dropPartialWalk(nfid)
		return qids, nil, 0, Attr{}, unix.ENOENT
	}
	nf := &File{c: f.c, fid: nfid}
	if gerr != nil {
		// A server without the ordering extension (diod) may have
		// handled the Tgetattr before the walk created the fid: ask
		// again now that it exists.
		_, valid, attr, err := nf.GetAttr(mask)
		if err != nil {
			nf.Close()
			return qids, nil, 0, Attr{}, err
		}
		return qids, nf, valid, attr, nil
	}
	r := gm.(*Rgetattr)
	return qids, nf, r.Valid, r.Attr, nil
}

// GetAttr returns f's QID, the mask of valid attributes and the
// attributes.
func (f *File) GetAttr(mask AttrMask) (QID, AttrMask, Attr, error) {
	m, err := f.c.rpc(&Tgetattr{FID: f.fid, Mask: mask}, MsgRgetattr)
	if err != nil {
		return QID{}, 0, Attr{}, err
	}
	r := m.(*Rgetattr)
	return r.QID, r.Valid, r.Attr, nil
}

// SetAttr sets the attributes of f that valid selects.
func (f *File) SetAttr(valid SetAttrMask, attr SetAttr) error {
	_, err := f.c.rpc(&Tsetattr{FID: f.fid, Valid: valid, Attr: attr}, MsgRsetattr)
	return err
}

// Open opens f with Linux open flags. hostFD is the host file the server
// donated with the reply, or nil if it sent none; the caller owns it.
func (f *File) Open(flags uint32) (hostFD *os.File, qid QID, iounit uint32, err error) {
	m, fd, err := f.c.start(&Tlopen{FID: f.fid, Flags: flags}).wait(MsgRlopen)
	if err != nil {
		return nil, QID{}, 0, err
	}
	r := m.(*Rlopen)
	return fd, r.QID, r.IOUnit, nil
}

// WalkOpen clones f and opens the clone with Linux open flags, in one round
// trip: Twalk and Tlopen are sent back to back. It returns the open clone
// and, as Open, the donated host file.
func (f *File) WalkOpen(flags uint32) (nf *File, hostFD *os.File, qid QID, iounit uint32, err error) {
	nfid := f.c.allocFID()
	wc := f.c.start(&Twalk{FID: f.fid, NewFID: nfid})
	oc := f.c.start(&Tlopen{FID: nfid, Flags: flags})
	_, _, werr := wc.wait(MsgRwalk)
	om, fd, oerr := oc.wait(MsgRlopen)
	if werr != nil {
		if fd != nil {
			fd.Close()
		}
		f.c.freeFID(nfid)
		return nil, nil, QID{}, 0, werr
	}
	nf = &File{c: f.c, fid: nfid}
	if oerr != nil {
		// A server without the ordering extension may have handled
		// the Tlopen before the walk made the fid: open it now.
		hostFD, qid, iounit, err = nf.Open(flags)
		if err != nil {
			nf.Close()
			return nil, nil, QID{}, 0, err
		}
		return nf, hostFD, qid, iounit, nil
	}
	r := om.(*Rlopen)
	return nf, fd, r.QID, r.IOUnit, nil
}

// Create creates name in directory f and opens it with flags; f then
// refers to the new file. The donated host file, if any, is returned as
// by Open.
func (f *File) Create(name string, flags, mode, gid uint32) (*os.File, QID, uint32, error) {
	m, fd, err := f.c.start(&Tlcreate{FID: f.fid, Name: name, Flags: flags, Mode: mode, GID: gid}).wait(MsgRlcreate)
	if err != nil {
		return nil, QID{}, 0, err
	}
	r := m.(*Rlcreate)
	return fd, r.QID, r.IOUnit, nil
}

// ReadAt reads up to len(p) bytes at off from the opened file, in as many
// Treads as msize requires. It returns fewer bytes than len(p) only at end
// of file or with an error; end of file is not an error.
func (f *File) ReadAt(p []byte, off uint64) (int, error) {
	max := int(f.c.msize - IOHeaderSize)
	total := 0
	for total < len(p) {
		n := len(p) - total
		if n > max {
			n = max
		}
		m, err := f.c.rpc(&Tread{FID: f.fid, Offset: off + uint64(total), Count: uint32(n)}, MsgRread)
		if err != nil {
			return total, err
		}
		got := copy(p[total:total+n], m.(*Rread).Data)
		total += got
		if got < n {
			break
		}
	}
	return total, nil
}

// WriteAt writes p at off to the opened file, in as many Twrites as msize
// requires.
func (f *File) WriteAt(p []byte, off uint64) (int, error) {
	max := int(f.c.msize - IOHeaderSize)
	total := 0
	for total < len(p) || len(p) == 0 {
		n := len(p) - total
		if n > max {
			n = max
		}
		m, err := f.c.rpc(&Twrite{FID: f.fid, Offset: off + uint64(total), Data: p[total : total+n]}, MsgRwrite)
		if err != nil {
			return total, err
		}
		w := int(m.(*Rwrite).Count)
		if w > n {
			return total, fmt.Errorf("p9: server wrote %d bytes of %d", w, n)
		}
		total += w
		if w < n || len(p) == 0 {
			break
		}
	}
	if total < len(p) {
		return total, fmt.Errorf("p9: short write (%d of %d bytes): %w", total, len(p), unix.EIO)
	}
	return total, nil
}

// Readdir reads directory entries of the opened directory f, starting
// after offset (0 for the start), in at most count bytes of reply. An
// empty result means the end of the directory.
func (f *File) Readdir(offset uint64, count uint32) ([]Dirent, error) {
	if max := f.c.msize - IOHeaderSize; count > max {
		count = max
	}
	m, err := f.c.rpc(&Treaddir{FID: f.fid, Offset: offset, Count: count}, MsgRreaddir)
	if err != nil {
		return nil, err
	}
	return m.(*Rreaddir).Entries, nil
}

// Readlink returns the target of the symbolic link f.
func (f *File) Readlink() (string, error) {
	m, err := f.c.rpc(&Treadlink{FID: f.fid}, MsgRreadlink)
	if err != nil {
		return "", err
	}
	return m.(*Rreadlink).Target, nil
}

// Mkdir creates directory name in f.
func (f *File) Mkdir(name string, mode, gid uint32) (QID, error) {
	m, err := f.c.rpc(&Tmkdir{DirFID: f.fid, Name: name, Mode: mode, GID: gid}, MsgRmkdir)
	if err != nil {
		return QID{}, err
	}
	return m.(*Rmkdir).QID, nil
}

// Symlink creates symbolic link name -> target in f.
func (f *File) Symlink(name, target string, gid uint32) (QID, error) {
	m, err := f.c.rpc(&Tsymlink{DirFID: f.fid, Name: name, Target: target, GID: gid}, MsgRsymlink)
	if err != nil {
		return QID{}, err
	}
	return m.(*Rsymlink).QID, nil
}

// Mknod creates node name in f.
func (f *File) Mknod(name string, mode, major, minor, gid uint32) (QID, error) {
	m, err := f.c.rpc(&Tmknod{DirFID: f.fid, Name: name, Mode: mode, Major: major, Minor: minor, GID: gid}, MsgRmknod)
	if err != nil {
		return QID{}, err
	}
	return m.(*Rmknod).QID, nil
}

// Link creates name in directory f as a hard link to target.
func (f *File) Link(target *File, name string) error {
	_, err := f.c.rpc(&Tlink{DirFID: f.fid, FID: target.fid, Name: name}, MsgRlink)
	return err
}

// Rename moves f to newName in directory newDir.
func (f *File) Rename(newDir *File, newName string) error {
	_, err := f.c.rpc(&Trename{FID: f.fid, DirFID: newDir.fid, Name: newName}, MsgRrename)
	return err
}

// RenameAt renames oldName in directory f to newName in newDir. Against
// a server without Trenameat (diod answers EOPNOTSUPP) it walks to
// oldName and sends Trename instead, as Linux's client does, and keeps
// doing so on this connection.
func (f *File) RenameAt(oldName string, newDir *File, newName string) error {
	if !f.c.noRenameAt.Load() {
		_, err := f.c.rpc(&Trenameat{OldDirFID: f.fid, OldName: oldName, NewDirFID: newDir.fid, NewName: newName}, MsgRrenameat)
		if !errors.Is(err, unix.EOPNOTSUPP) {
			return err
		}
		f.c.noRenameAt.Store(true)
	}
	_, old, err := f.Walk([]string{oldName})
	if err != nil {
		return err
	}
	defer old.Close()
	return old.Rename(newDir, newName)
}

// UnlinkAt removes name from directory f; flags may be AT_REMOVEDIR.
// Against a server without Tunlinkat (diod answers EOPNOTSUPP) it walks to
// name and sends Tremove instead, as Linux's client does, checking the
// file type against flags first as unlinkat(2) would.
func (f *File) UnlinkAt(name string, flags uint32) error {
	if !f.c.noUnlinkAt.Load() {
		_, err := f.c.rpc(&Tunlinkat{DirFID: f.fid, Name: name, Flags: flags}, MsgRunlinkat)
		if !errors.Is(err, unix.EOPNOTSUPP) {
			return err
		}
		f.c.noUnlinkAt.Store(true)
	}
	qids, victim, err := f.Walk([]string{name})
	if err != nil {
		return err
	}
	isDir := qids[0].Type&QIDTypeDir != 0
	switch {
	case flags&unix.AT_REMOVEDIR != 0 && !isDir:
		victim.Close()
		return unix.ENOTDIR
	case flags&unix.AT_REMOVEDIR == 0 && isDir:
		victim.Close()
		return unix.EISDIR
	}
	return victim.Remove()
}

// FSync flushes the opened file f.
func (f *File) FSync(dataSync bool) error {
	var ds uint32
	if dataSync {
		ds = 1
	}
	_, err := f.c.rpc(&Tfsync{FID: f.fid, DataSync: ds}, MsgRfsync)
	return err
}

// StatFS describes the file system holding f.
func (f *File) StatFS() (StatFS, error) {
	m, err := f.c.rpc(&Tstatfs{FID: f.fid}, MsgRstatfs)
	if err != nil {
		return StatFS{}, err
	}
	return m.(*Rstatfs).StatFS, nil
}

// Lock sends Tlock and returns the lock status.
func (f *File) Lock(lockType uint8, flags uint32, start, length uint64, procID uint32, clientID string) (uint8, error) {
	m, err := f.c.rpc(&Tlock{FID: f.fid, LockType: lockType, Flags: flags, Start: start, Length: length, ProcID: procID, ClientID: clientID}, MsgRlock)
	if err != nil {
		return 0, err
	}
	return m.(*Rlock).Status, nil
}

// GetLock sends Tgetlock.
func (f *File) GetLock(lockType uint8, start, length uint64, procID uint32, clientID string) (Rgetlock, error) {
	m, err := f.c.rpc(&Tgetlock{FID: f.fid, LockType: lockType, Start: start, Length: length, ProcID: procID, ClientID: clientID}, MsgRgetlock)
	if err != nil {
		return Rgetlock{}, err
	}
	return *m.(*Rgetlock), nil
}

// Remove removes the file f and clunks it, even if the removal fails.
func (f *File) Remove() error {
	_, err := f.c.rpc(&Tremove{FID: f.fid}, MsgRremove)
	f.release()
	return err
}

// Close clunks f. f must not be used afterwards.
func (f *File) Close() error {
	_, err := f.c.rpc(&Tclunk{FID: f.fid}, MsgRclunk)
	f.release()
	return err
}

// release returns f's fid for reuse. Per protocol, the fid is gone after
// Rclunk or Rremove whether or not they succeeded; after a connection
// failure it is never reused.
func (f *File) release() {
	f.c.mu.Lock()
	dead := f.c.err != nil
	f.c.mu.Unlock()
	if !dead {
		f.c.freeFID(f.fid)
	}
}
