package p9

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Lock order (server.go):
//
//	fidEntry.mu (per fid; a request holding two takes them in the order the
//	    request names them, all shared except a Tlopen/Tlcreate/Tclunk/
//	    Tremove, which hold only one)
//	  conn.mu (fid table and in-flight tags; never held while waiting)
//	    transport.sendMu

// DefaultMaxMessageSize is the largest msize a Server agrees to.
const DefaultMaxMessageSize = 1<<20 + 4096

// Server serves a backend over 9P2000.L connections.
type Server struct {
	attacher Attacher
	// MaxMessageSize caps the negotiated msize; zero means
	// DefaultMaxMessageSize.
	MaxMessageSize uint32
}

// NewServer returns a server for attacher.
func NewServer(attacher Attacher) *Server {
	return &Server{attacher: attacher}
}

// fidEntry is one fid of a connection.
type fidEntry struct {
	ready chan struct{} // closed once the creating request has finished

	mu     sync.RWMutex
	file   ServerFile // nil if the creating request failed
	closed bool
}

func newFidEntry() *fidEntry { return &fidEntry{ready: make(chan struct{})} }

// conn is the state of one served connection.
type conn struct {
	s     *Server
	t     *transport
	msize uint32
	wg    sync.WaitGroup // in-flight request goroutines

	mu       sync.Mutex
	fids     map[FID]*fidEntry
	inflight map[Tag]chan struct{}
}

// Serve serves one connection until the peer closes it or a protocol
// error occurs. sock is a connected Unix socket; Serve uses a duplicate
// and the caller may close sock. Serve returns nil on a clean EOF.
func (s *Server) Serve(sock *os.File) error {
	max := s.MaxMessageSize
	if max == 0 {
		max = DefaultMaxMessageSize
	}
	t, err := newTransport(sock, int(max))
	if err != nil {
		return err
	}
	c := &conn{s: s, t: t, msize: max, fids: make(map[FID]*fidEntry), inflight: make(map[Tag]chan struct{})}
	err = c.loop()
	t.close()
	c.wg.Wait()
	c.clunkAll()
	if errors.Is(err, errEOF) {
		return nil
	}
	return err
}

var errEOF = errors.New("EOF")

func (c *conn) loop() error {
	for {
		msg, fds, err := c.t.recv(c.msize)
		closeFDs(fds) // clients never donate descriptors
		if err != nil {
			if isEOF(err) {
				return errEOF
			}
			return err
		}
		tag, m, err := DecodeMessage(msg)
		if err != nil {
			if m == nil && len(msg) >= HeaderSize {
				// Answer what we can: the tag is known.
				c.reply(tag, &Rlerror{Errno: uint32(unix.EINVAL)}, nil)
				continue
			}
			return fmt.Errorf("p9 server: %w", err)
		}
		if v, ok := m.(*Tversion); ok {
			c.wg.Wait()
			c.clunkAll()
			c.version(tag, v)
			continue
		}
		c.dispatch(tag, m)
	}
}

func isEOF(err error) bool {
	var errno unix.Errno
	if errors.As(err, &errno) && (errno == unix.ECONNRESET || errno == unix.EPIPE) {
		return true
	}
	return errors.Is(err, os.ErrClosed) || errors.Is(err, io.EOF)
}

func (c *conn) version(tag Tag, v *Tversion) {
	if v.MSize < HeaderSize+64 {
		c.reply(tag, &Rlerror{Errno: uint32(unix.EINVAL)}, nil)
		return
	}
	// Each Tversion starts a new session: negotiate from the server's
	// own maximum, not from what an earlier session settled on.
	c.msize = c.s.MaxMessageSize
	if c.msize == 0 {
		c.msize = DefaultMaxMessageSize
	}
	if v.MSize < c.msize {
		c.msize = v.MSize
	}
	ver := Version
	if v.Version != Version {
		ver = "unknown"
	}
	c.reply(tag, &Rversion{MSize: c.msize, Version: ver}, nil)
}

// clunkAll closes every fid.
func (c *conn) clunkAll() {
	c.mu.Lock()
	fids := c.fids
	c.fids = make(map[FID]*fidEntry)
	c.mu.Unlock()
	for _, e := range fids {
		<-e.ready
		e.mu.Lock()
		if e.file != nil && !e.closed {
			e.file.Close()
		}
		e.closed = true
		e.mu.Unlock()
	}
}

// reply sends one reply, with fd attached if not nil.
func (c *conn) reply(tag Tag, m Message, fd *os.File) {
	b, err := AppendMessage(make([]byte, 0, 64), tag, m)
	if err != nil {
		b, _ = AppendMessage(b[:0], tag, &Rlerror{Errno: uint32(unix.EIO)})
		fd = nil
	}
	c.t.send(b, fd) // a send error ends the connection via recv
}

// errReply converts err to an Rlerror.
func errReply(err error) *Rlerror {
	var errno unix.Errno
	if errors.As(err, &errno) && errno != 0 {
		return &Rlerror{Errno: uint32(errno)}
	}
	return &Rlerror{Errno: uint32(unix.EIO)}
}

// lookup returns the entry of fid, or nil.
func (c *conn) lookup(f FID) *fidEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fids[f]
}

// addPending installs a not-yet-ready entry for f, failing if f is in use.
func (c *conn) addPending(f FID) *fidEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.fids[f]; ok || f == NoFID {
		return nil
	}
	e := newFidEntry()
	c.fids[f] = e
	return e
}

// removeFID takes f out of the table and returns its entry.
func (c *conn) removeFID(f FID) *fidEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.fids[f]
	delete(c.fids, f)
	return e
}

// dropPending removes e from the table if it is still f's entry.
func (c *conn) dropPending(f FID, e *fidEntry) {
	c.mu.Lock()
	if c.fids[f] == e {
		delete(c.fids, f)
	}
	c.mu.Unlock()
}

// use waits for e to be ready and locks it shared. It returns the file,
// or EBADF if the fid does not exist (any more).
func use(e *fidEntry) (ServerFile, error) {
	if e == nil {
		return nil, unix.EBADF
	}
	<-e.ready
	e.mu.RLock()
	if e.file == nil || e.closed {
		e.mu.RUnlock()
		return nil, unix.EBADF
	}
	return e.file, nil
}

// useExclusive is use with an exclusive lock.
func useExclusive(e *fidEntry) (ServerFile, error) {
	if e == nil {
		return nil, unix.EBADF
	}
	<-e.ready
	e.mu.Lock()
	if e.file == nil || e.closed {
		e.mu.Unlock()
		return nil, unix.EBADF
	}
	return e.file, nil
}

// dispatch resolves the fids of m in arrival order and runs the request
// in its own goroutine.
func (c *conn) dispatch(tag Tag, m Message) {
	done := make(chan struct{})
	c.mu.Lock()
	c.inflight[tag] = done
	c.mu.Unlock()

	var run func() (Message, *os.File)
	switch m := m.(type) {
	case *Tattach:
		ne := c.addPending(m.FID)
		run = func() (Message, *os.File) { return c.attach(m, ne) }
	case *Twalk:
		e := c.lookup(m.FID)
		var ne *fidEntry
		if m.NewFID != m.FID {
			ne = c.addPending(m.NewFID)
		}
		run = func() (Message, *os.File) { return c.walk(m, e, ne) }
	case *Txattrwalk:
		e := c.lookup(m.FID)
		var ne *fidEntry
		if m.NewFID != m.FID {
			ne = c.addPending(m.NewFID)
		}
		run = func() (Message, *os.File) { return c.xattrWalk(m, e, ne), nil }
	case *Tflush:
		c.mu.Lock()
		old := c.inflight[m.OldTag]
		c.mu.Unlock()
		run = func() (Message, *os.File) {
			if old != nil && m.OldTag != tag {
				<-old
			}
			return &Rflush{}, nil
		}
	case *Tclunk:
		e := c.removeFID(m.FID)
		run = func() (Message, *os.File) {
			f, err := useExclusive(e)
			if err != nil {
				return errReply(err), nil
			}
			defer e.mu.Unlock()
			e.closed = true
			if err := f.Close(); err != nil {
				return errReply(err), nil
			}
			return &Rclunk{}, nil
		}
	case *Tremove:
		e := c.removeFID(m.FID)
		run = func() (Message, *os.File) {
			f, err := useExclusive(e)
			if err != nil {
				return errReply(err), nil
			}
			defer e.mu.Unlock()
			e.closed = true
			rerr := f.Remove()
			f.Close()
			if rerr != nil {
				return errReply(rerr), nil
			}
			return &Rremove{}, nil
		}
	case *Tlopen, *Tlcreate:
		var e *fidEntry
		if o, ok := m.(*Tlopen); ok {
			e = c.lookup(o.FID)
		} else {
			e = c.lookup(m.(*Tlcreate).FID)
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.open(tag, m, e)
			c.finish(tag, done)
		}()
		return
	case *Tread:
		e := c.lookup(m.FID)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.read(tag, m, e)
			c.finish(tag, done)
		}()
		return
	default:
		run = c.simple(m)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		r, fd := run()
		c.reply(tag, r, fd)
		c.finish(tag, done)
	}()
}

// finish marks tag as answered.
func (c *conn) finish(tag Tag, done chan struct{}) {
	c.mu.Lock()
	if c.inflight[tag] == done {
		delete(c.inflight, tag)
	}
	c.mu.Unlock()
	close(done)
}

func (c *conn) attach(m *Tattach, ne *fidEntry) (Message, *os.File) {
	if ne == nil {
		return &Rlerror{Errno: uint32(unix.EBADF)}, nil
	}
	defer close(ne.ready)
	if m.AuthFID != NoFID {
		c.dropPending(m.FID, ne)
		return &Rlerror{Errno: uint32(unix.EINVAL)}, nil
	}
	f, err := c.s.attacher.Attach(m.AName, m.UID)
	if err != nil {
		c.dropPending(m.FID, ne)
		return errReply(err), nil
	}
	qid, _, _, err := f.GetAttr(0)
	if err != nil {
		f.Close()
		c.dropPending(m.FID, ne)
		return errReply(err), nil
	}
	ne.file = f
	return &Rattach{QID: qid}, nil
}

func (c *conn) walk(m *Twalk, e, ne *fidEntry) (Message, *os.File) {
	inPlace := m.NewFID == m.FID
	if !inPlace && ne == nil {
		// newfid in use: fail without touching it.
		return &Rlerror{Errno: uint32(unix.EBADF)}, nil
	}
	if ne != nil {
		defer close(ne.ready)
	}
	fail := func(r Message) (Message, *os.File) {
		if ne != nil {
			c.dropPending(m.NewFID, ne)
		}
		return r, nil
	}
	for _, n := range m.Names {
		if n == "" || n == "." || n == ".." || containsSlash(n) {
			return fail(&Rlerror{Errno: uint32(unix.EINVAL)})
		}
	}
	var f ServerFile
	var err error
	if inPlace {
		f, err = useExclusive(e)
		if err != nil {
			return fail(errReply(err))
		}
		defer e.mu.Unlock()
	} else {
		f, err = use(e)
		if err != nil {
			return fail(errReply(err))
		}
		defer e.mu.RUnlock()
	}
	qids, nf, err := f.Walk(m.Names)
	if err != nil {
		return fail(errReply(err))
	}
	if len(qids) != len(m.Names) || nf == nil {
		if nf != nil {
			nf.Close()
		}
		if len(qids) == 0 {
			return fail(&Rlerror{Errno: uint32(unix.ENOENT)})
		}
		return fail(&Rwalk{QIDs: qids})
	}
	if inPlace {
		f.Close()
		e.file = nf
	} else {
		ne.file = nf
	}
	return &Rwalk{QIDs: qids}, nil
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 {
			return true
		}
	}
	return false
}

// open handles Tlopen and Tlcreate. It sends the reply while it still
// holds the fid, so that a donated descriptor cannot be closed under it.
func (c *conn) open(tag Tag, m Message, e *fidEntry) {
	f, err := useExclusive(e)
	if err != nil {
		c.reply(tag, errReply(err), nil)
		return
	}
	defer e.mu.Unlock()
	iounitCap := c.msize - IOHeaderSize
	switch m := m.(type) {
	case *Tlopen:
		fd, qid, iounit, err := f.Open(m.Flags)
		if err != nil {
			c.reply(tag, errReply(err), nil)
			return
		}
		if iounit == 0 || iounit > iounitCap {
			iounit = iounitCap
		}
		c.reply(tag, &Rlopen{QID: qid, IOUnit: iounit}, fd)
	case *Tlcreate:
		if !validName(m.Name) {
			c.reply(tag, &Rlerror{Errno: uint32(unix.EINVAL)}, nil)
			return
		}
		nf, fd, qid, iounit, err := f.Create(m.Name, m.Flags, m.Mode, m.GID)
		if err != nil {
			c.reply(tag, errReply(err), nil)
			return
		}
		f.Close()
		e.file = nf
		if iounit == 0 || iounit > iounitCap {
			iounit = iounitCap
		}
		c.reply(tag, &Rlcreate{QID: qid, IOUnit: iounit}, fd)
	}
}

// validName reports whether name can name a directory entry.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !containsSlash(name)
}

// read handles Tread, reading straight into the reply buffer.
func (c *conn) read(tag Tag, m *Tread, e *fidEntry) {
	f, err := use(e)
	if err != nil {
		c.reply(tag, errReply(err), nil)
		return
	}
	defer e.mu.RUnlock()
	count := m.Count
	if max := c.msize - ReadOverhead; count > max {
		count = max
	}
	b, _ := AppendMessage(make([]byte, 0, ReadOverhead+int(count)), tag, &Rread{})
	b = b[:ReadOverhead+int(count)]
	n, err := f.ReadAt(b[ReadOverhead:], m.Offset)
	if err != nil && n == 0 {
		c.reply(tag, errReply(err), nil)
		return
	}
	b = b[:ReadOverhead+n]
	putU32(b[0:], uint32(len(b)))
	putU32(b[HeaderSize:], uint32(n))
	c.t.send(b, nil)
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// simple returns the handler of a request that names fids only as
// operands: each is used shared for the duration of the request.
func (c *conn) simple(m Message) func() (Message, *os.File) {
	one := func(f FID, h func(ServerFile) Message) func() (Message, *os.File) {
		e := c.lookup(f)
		return func() (Message, *os.File) {
			file, err := use(e)
			if err != nil {
				return errReply(err), nil
			}
			defer e.mu.RUnlock()
			return h(file), nil
		}
	}
	two := func(f1, f2 FID, h func(ServerFile, ServerFile) Message) func() (Message, *os.File) {
		e1, e2 := c.lookup(f1), c.lookup(f2)
		return func() (Message, *os.File) {
			a, err := use(e1)
			if err != nil {
				return errReply(err), nil
			}
			defer e1.mu.RUnlock()
			b := a
			if e2 != e1 {
				if b, err = use(e2); err != nil {
					return errReply(err), nil
				}
				defer e2.mu.RUnlock()
			}
			return h(a, b), nil
		}
	}
	errOr := func(err error, ok Message) Message {
		if err != nil {
			return errReply(err)
		}
		return ok
	}
	switch m := m.(type) {
	case *Tgetattr:
		return one(m.FID, func(f ServerFile) Message {
			qid, valid, attr, err := f.GetAttr(m.Mask)
			return errOr(err, &Rgetattr{Valid: valid, QID: qid, Attr: attr})
		})
	case *Tsetattr:
		return one(m.FID, func(f ServerFile) Message { return errOr(f.SetAttr(m.Valid, m.Attr), &Rsetattr{}) })
	case *Twrite:
		return one(m.FID, func(f ServerFile) Message {
			n, err := f.WriteAt(m.Data, m.Offset)
			if err != nil && n == 0 {
				return errReply(err)
			}
			return &Rwrite{Count: uint32(n)}
		})
	case *Treaddir:
		return one(m.FID, func(f ServerFile) Message {
			count := m.Count
			if max := c.msize - ReadOverhead; count > max {
				count = max
			}
			ents, err := f.Readdir(m.Offset, count)
			if err != nil {
				return errReply(err)
			}
			used := uint32(0)
			for i := range ents {
				sz := uint32(direntFixedSize + len(ents[i].Name))
				if used+sz > count {
					ents = ents[:i]
					break
				}
				used += sz
			}
			return &Rreaddir{Entries: ents}
		})
	case *Treadlink:
		return one(m.FID, func(f ServerFile) Message {
			t, err := f.Readlink()
			return errOr(err, &Rreadlink{Target: t})
		})
	case *Tstatfs:
		return one(m.FID, func(f ServerFile) Message {
			st, err := f.StatFS()
			return errOr(err, &Rstatfs{StatFS: st})
		})
	case *Tfsync:
		return one(m.FID, func(f ServerFile) Message { return errOr(f.FSync(m.DataSync != 0), &Rfsync{}) })
	case *Tmkdir:
		return one(m.DirFID, func(f ServerFile) Message {
			if !validName(m.Name) {
				return &Rlerror{Errno: uint32(unix.EINVAL)}
			}
			q, err := f.Mkdir(m.Name, m.Mode, m.GID)
			return errOr(err, &Rmkdir{QID: q})
		})
	case *Tsymlink:
		return one(m.DirFID, func(f ServerFile) Message {
			if !validName(m.Name) {
				return &Rlerror{Errno: uint32(unix.EINVAL)}
			}
			q, err := f.Symlink(m.Name, m.Target, m.GID)
			return errOr(err, &Rsymlink{QID: q})
		})
	case *Tmknod:
		return one(m.DirFID, func(f ServerFile) Message {
			if !validName(m.Name) {
				return &Rlerror{Errno: uint32(unix.EINVAL)}
			}
			q, err := f.Mknod(m.Name, m.Mode, m.Major, m.Minor, m.GID)
			return errOr(err, &Rmknod{QID: q})
		})
	case *Tunlinkat:
		return one(m.DirFID, func(f ServerFile) Message {
			if !validName(m.Name) {
				return &Rlerror{Errno: uint32(unix.EINVAL)}
			}
			return errOr(f.UnlinkAt(m.Name, m.Flags), &Runlinkat{})
		})
	case *Tlink:
		return two(m.DirFID, m.FID, func(dir, target ServerFile) Message {
			if !validName(m.Name) {
				return &Rlerror{Errno: uint32(unix.EINVAL)}
			}
			return errOr(dir.Link(target, m.Name), &Rlink{})
		})
	case *Trename:
		return two(m.FID, m.DirFID, func(f, dir ServerFile) Message {
			if !validName(m.Name) {
				return &Rlerror{Errno: uint32(unix.EINVAL)}
			}
			return errOr(f.Rename(dir, m.Name), &Rrename{})
		})
	case *Trenameat:
		return two(m.OldDirFID, m.NewDirFID, func(od, nd ServerFile) Message {
			if !validName(m.OldName) || !validName(m.NewName) {
				return &Rlerror{Errno: uint32(unix.EINVAL)}
			}
			return errOr(od.RenameAt(m.OldName, nd, m.NewName), &Rrenameat{})
		})
	case *Tlock:
		return one(m.FID, func(f ServerFile) Message {
			l, ok := f.(Locker)
			if !ok {
				return &Rlerror{Errno: uint32(unix.ENOSYS)}
			}
			st, err := l.Lock(m.LockType, m.Flags, m.Start, m.Length, m.ProcID, m.ClientID)
			return errOr(err, &Rlock{Status: st})
		})
	case *Tgetlock:
		return one(m.FID, func(f ServerFile) Message {
			l, ok := f.(Locker)
			if !ok {
				return &Rlerror{Errno: uint32(unix.ENOSYS)}
			}
			r, err := l.GetLock(m.LockType, m.Start, m.Length, m.ProcID, m.ClientID)
			return errOr(err, &r)
		})
	case *Txattrcreate:
		e := c.lookup(m.FID)
		return func() (Message, *os.File) { return c.xattrCreate(m, e), nil }
	case *Tauth:
		// No authentication is required: attach with afid = NoFID.
		// 9P2000.L has no standard errno for this; ENOENT is what diod
		// answers, and its client library (diodls, diodcat, diodmount)
		// reads ENOENT as "authentication not required" and gives up on
		// any other errno. Linux's client sends no Tauth without an
		// auth option, so it does not mind.
		return func() (Message, *os.File) { return &Rlerror{Errno: uint32(unix.ENOENT)}, nil }
	}
	// An R message or Tlerror sent to a server.
	return func() (Message, *os.File) { return &Rlerror{Errno: uint32(unix.EINVAL)}, nil }
}
