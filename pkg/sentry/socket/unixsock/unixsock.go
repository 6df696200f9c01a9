// Package unixsock implements Unix domain sockets (unix(7)): SOCK_STREAM,
// SOCK_SEQPACKET and SOCK_DGRAM sockets, socketpair, names in the abstract
// namespace and in the file system, SCM_RIGHTS and SCM_CREDENTIALS, and
// SO_PEERCRED.
//
// A Namespace is one sandbox's set of bound names. Abstract names live in
// it directly. A path name is an S_IFSOCK file made by the file system
// (mknod); the namespace maps the file's (device, inode) to the socket bound
// there, so any file system that can make socket nodes can hold bound
// sockets without knowing about sockets.
//
// Lock order: Namespace.mu > Socket.mu > transport.Endpoint.mu.
package unixsock

import (
	"encoding/binary"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/socket"
	"bufferzone.dev/pkg/sentry/socket/transport"
	"bufferzone.dev/pkg/sentry/vfs"
)

// maxPath is sizeof(sun_path).
const maxPath = 108

// FileKey identifies a socket file in the file system.
type FileKey struct {
	Dev uint64
	Ino uint64
}

// PathFS is how a namespace reaches the file system for path names. The
// system call layer supplies it, since resolving a path needs the caller's
// root and working directory.
type PathFS interface {
	// MakeSocketFile creates an S_IFSOCK file at path (EADDRINUSE if it
	// exists) and returns its key.
	MakeSocketFile(ctx vfs.Context, path string) (FileKey, error)
	// LookupSocketFile returns the key of the socket file at path (ENOENT
	// if none, ECONNREFUSED if it is not a socket).
	LookupSocketFile(ctx vfs.Context, path string) (FileKey, error)
}

// Namespace holds one sandbox's bound Unix socket names.
type Namespace struct {
	// Creds finds the credentials of a caller.
	Creds socket.CredsFunc
	// FS resolves path names; nil means only abstract names work (binding
	// a path then fails with EOPNOTSUPP).
	FS PathFS

	mu       sync.Mutex
	abstract map[string]*Socket
	files    map[FileKey]*Socket
	// autobind is the next autobind name to try.
	autobind uint32
}

// NewNamespace returns an empty namespace.
func NewNamespace(creds socket.CredsFunc, fs PathFS) *Namespace {
	return &Namespace{Creds: creds, FS: fs, abstract: make(map[string]*Socket), files: make(map[FileKey]*Socket)}
}

// Socket is a Unix domain socket.
type Socket struct {
	socket.Base
	ns *Namespace

	mu sync.Mutex
	// name is the bound address: a path, "\x00name" for an abstract
	// name, or "" if unbound.
	name    string
	fileKey FileKey
	// peerName is the peer's address (connected sockets).
	peerName string
	// peerCred is SO_PEERCRED; hasPeerCred says it is set.
	peerCred    transport.Creds
	hasPeerCred bool
	// listenCred is what connecting peers see as SO_PEERCRED.
	listenCred transport.Creds
}

var _ socket.Socket = (*Socket)(nil)

// New returns an unbound socket of type typ (SOCK_STREAM, SOCK_DGRAM or
// SOCK_SEQPACKET).
func New(ctx vfs.Context, ns *Namespace, typ int, nonblock bool) (*Socket, error) {
	switch typ {
	case unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET:
	default:
		return nil, unix.ESOCKTNOSUPPORT
	}
	s := &Socket{ns: ns}
	ep := transport.NewEndpoint(typ, false)
	ep.Owner = s
	s.Init(ctx, unix.AF_UNIX, typ, 0, ep, ns.Creds, nonblock)
	return s, nil
}

// NewPair returns two connected sockets, as socketpair(2) makes them.
func NewPair(ctx vfs.Context, ns *Namespace, typ int, nonblock bool) (*Socket, *Socket, error) {
	a, err := New(ctx, ns, typ, nonblock)
	if err != nil {
		return nil, nil, err
	}
	b, _ := New(ctx, ns, typ, nonblock)
	if typ == unix.SOCK_DGRAM {
		a.EP.SetPeer(b.EP)
		b.EP.SetPeer(a.EP)
	} else {
		transport.Pair(a.EP, b.EP)
	}
	c := ns.Creds(ctx)
	a.peerCred, a.hasPeerCred = c, true
	b.peerCred, b.hasPeerCred = c, true
	return a, b, nil
}

// parseAddr decodes a sockaddr_un: the name (abstract names keep their
// leading NUL), or "" for an address that is only a family (autobind).
func parseAddr(addr []byte) (string, error) {
	if len(addr) < 2 || len(addr) > 2+maxPath {
		return "", unix.EINVAL
	}
	if binary.LittleEndian.Uint16(addr) != unix.AF_UNIX {
		return "", unix.EINVAL
	}
	p := addr[2:]
	if len(p) == 0 {
		return "", nil
	}
	if p[0] == 0 {
		return string(p), nil
	}
	for i, c := range p {
		if c == 0 {
			p = p[:i]
			break
		}
	}
	return string(p), nil
}

// encodeAddr is the sockaddr_un of name; "" is an unnamed socket's (only a
// family).
func encodeAddr(name string) []byte {
	b := make([]byte, 2, 2+len(name)+1)
	binary.LittleEndian.PutUint16(b, unix.AF_UNIX)
	b = append(b, name...)
	if name != "" && name[0] != 0 {
		b = append(b, 0)
	}
	return b
}

// Bind implements bind(2).
func (s *Socket) Bind(ctx vfs.Context, addr []byte) error {
	name, err := parseAddr(addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.name != "" {
		return unix.EINVAL
	}
	if name == "" {
		return s.autobindLocked()
	}
	if name[0] == 0 {
		s.ns.mu.Lock()
		defer s.ns.mu.Unlock()
		if _, ok := s.ns.abstract[name]; ok {
			return unix.EADDRINUSE
		}
		s.ns.abstract[name] = s
		s.name = name
		return nil
	}
	if s.ns.FS == nil {
		return unix.EOPNOTSUPP
	}
	key, err := s.ns.FS.MakeSocketFile(ctx, name)
	if err != nil {
		if err == unix.EEXIST {
			return unix.EADDRINUSE
		}
		return err
	}
	s.ns.mu.Lock()
	s.ns.files[key] = s
	s.ns.mu.Unlock()
	s.name, s.fileKey = name, key
	return nil
}

// autobindLocked binds s to an unused abstract name of five hex digits, as
// Linux does. s.mu is held.
func (s *Socket) autobindLocked() error {
	s.ns.mu.Lock()
	defer s.ns.mu.Unlock()
	for i := 0; i < 1<<20; i++ {
		s.ns.autobind = (s.ns.autobind + 1) & 0xfffff
		name := fmt.Sprintf("\x00%05x", s.ns.autobind)
		if _, ok := s.ns.abstract[name]; !ok {
			s.ns.abstract[name] = s
			s.name = name
			return nil
		}
	}
	return unix.ENOSPC
}

// lookup finds the socket bound to name.
func (s *Socket) lookup(ctx vfs.Context, name string) (*Socket, error) {
	if name == "" {
		return nil, unix.EINVAL
	}
	if name[0] == 0 {
		s.ns.mu.Lock()
		defer s.ns.mu.Unlock()
		if t, ok := s.ns.abstract[name]; ok {
			return t, nil
		}
		return nil, unix.ECONNREFUSED
	}
	if s.ns.FS == nil {
		return nil, unix.ENOENT
	}
	key, err := s.ns.FS.LookupSocketFile(ctx, name)
	if err != nil {
		return nil, err
	}
	s.ns.mu.Lock()
	defer s.ns.mu.Unlock()
	if t, ok := s.ns.files[key]; ok {
		return t, nil
	}
	return nil, unix.ECONNREFUSED
}

// typeMismatch is the error for a connect or send to a socket of another
// type: abstract names are looked up per type in Linux, so nothing is found.
func typeMismatch(name string) error {
	if name[0] == 0 {
		return unix.ECONNREFUSED
	}
	return unix.EPROTOTYPE
}

// Connect implements connect(2).
func (s *Socket) Connect(ctx vfs.Context, addr []byte, w transport.Wait) error {
	if s.Type == unix.SOCK_DGRAM && len(addr) >= 2 && binary.LittleEndian.Uint16(addr) == unix.AF_UNSPEC {
		s.EP.SetPeer(nil)
		s.mu.Lock()
		s.peerName = ""
		s.mu.Unlock()
		return nil
	}
	name, err := parseAddr(addr)
	if err != nil {
		return err
	}
	target, err := s.lookup(ctx, name)
	if err != nil {
		return err
	}
	if target.Type != s.Type {
		return typeMismatch(name)
	}
	if s.Type == unix.SOCK_DGRAM {
		if target.EP.State() == transport.Closed {
			return unix.ECONNREFUSED
		}
		s.EP.SetPeer(target.EP)
		s.mu.Lock()
		s.peerName = name
		s.mu.Unlock()
		return nil
	}
	switch s.EP.State() {
	case transport.Connected:
		return unix.EISCONN
	case transport.Listening:
		return unix.EINVAL
	case transport.Closed:
		return unix.EINVAL
	}
	// The listener's side of the new connection.
	srv := &Socket{ns: s.ns}
	sep := transport.NewEndpoint(s.Type, false)
	sep.Owner = srv
	srv.Init(ctx, unix.AF_UNIX, s.Type, 0, sep, s.ns.Creds, false)
	srv.CopyOptsFrom(&target.Base)
	target.mu.Lock()
	srv.name = target.name
	lc := target.listenCred
	target.mu.Unlock()
	s.mu.Lock()
	srv.peerName = s.name
	s.mu.Unlock()
	srv.peerCred, srv.hasPeerCred = s.ns.Creds(ctx), true
	if err := target.EP.Enqueue(ctx, s.EP, sep, w); err != nil {
		return err
	}
	s.mu.Lock()
	s.peerName = name
	s.peerCred, s.hasPeerCred = lc, true
	s.mu.Unlock()
	return nil
}

// Listen implements listen(2).
func (s *Socket) Listen(ctx vfs.Context, backlog int) error {
	if s.Type == unix.SOCK_DGRAM {
		return unix.EOPNOTSUPP
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.name == "" {
		return unix.EINVAL
	}
	if err := s.EP.Listen(backlog); err != nil {
		return err
	}
	s.listenCred = s.ns.Creds(ctx)
	return nil
}

// Accept implements accept(2).
func (s *Socket) Accept(ctx vfs.Context, w transport.Wait) (socket.Socket, error) {
	if s.Type == unix.SOCK_DGRAM {
		return nil, unix.EOPNOTSUPP
	}
	ep, err := s.EP.Accept(ctx, w)
	if err != nil {
		return nil, err
	}
	return ep.Owner.(*Socket), nil
}

// Shutdown implements shutdown(2).
func (s *Socket) Shutdown(ctx vfs.Context, how int) error {
	if how < unix.SHUT_RD || how > unix.SHUT_RDWR {
		return unix.EINVAL
	}
	rd, wr := how != unix.SHUT_WR, how != unix.SHUT_RD
	if s.Type == unix.SOCK_DGRAM {
		// Datagram sockets shut down locally (and their peer's
		// sending side, as Linux does for a connected pair).
		return s.EP.Shutdown(rd, wr)
	}
	return s.EP.Shutdown(rd, wr)
}

// SockName implements getsockname(2).
func (s *Socket) SockName() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return encodeAddr(s.name)
}

// PeerName implements getpeername(2).
func (s *Socket) PeerName() ([]byte, error) {
	if s.EP.Peer() == nil {
		return nil, unix.ENOTCONN
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return encodeAddr(s.peerName), nil
}

// GetSockOpt implements getsockopt(2).
func (s *Socket) GetSockOpt(ctx vfs.Context, level, name int) ([]byte, error) {
	if level == unix.SOL_SOCKET && name == unix.SO_PEERCRED {
		s.mu.Lock()
		defer s.mu.Unlock()
		b := make([]byte, 12)
		if s.hasPeerCred {
			binary.LittleEndian.PutUint32(b, uint32(s.peerCred.PID))
			binary.LittleEndian.PutUint32(b[4:], s.peerCred.UID)
			binary.LittleEndian.PutUint32(b[8:], s.peerCred.GID)
		} else {
			// No peer: pid 0 and the overflow ids.
			binary.LittleEndian.PutUint32(b[4:], 65534)
			binary.LittleEndian.PutUint32(b[8:], 65534)
		}
		return b, nil
	}
	if v, ok, err := s.GetSockOptCommon(level, name); ok || err != nil {
		return v, err
	}
	return nil, unix.ENOPROTOOPT
}

// SetSockOpt implements setsockopt(2).
func (s *Socket) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	if ok, err := s.SetSockOptCommon(level, name, val); ok || err != nil {
		return err
	}
	if level == unix.SOL_SOCKET {
		// Other SOL_SOCKET options are accepted and remembered.
		v, err := socket.ParseInt(val)
		if err != nil {
			return err
		}
		s.SetOtherOpt(level, name, v)
		return nil
	}
	return unix.ENOPROTOOPT
}

// SendMsg implements sendmsg(2) (and write(2), send, sendto).
func (s *Socket) SendMsg(ctx vfs.Context, data []byte, addr []byte, ctl transport.Control, flags int) (int, error) {
	if flags&unix.MSG_OOB != 0 {
		return 0, unix.EOPNOTSUPP
	}
	if ctl.Creds.PID == 0 {
		// No SCM_CREDENTIALS given: the sender's own.
		ctl.Creds = s.ns.Creds(ctx)
	}
	w := s.SendWait(flags)
	var to *transport.Endpoint
	if len(addr) > 0 {
		if s.Type != unix.SOCK_DGRAM {
			if s.EP.State() == transport.Connected {
				return 0, unix.EISCONN
			}
			return 0, unix.EOPNOTSUPP
		}
		name, err := parseAddr(addr)
		if err != nil {
			return 0, err
		}
		target, err := s.lookup(ctx, name)
		if err != nil {
			return 0, err
		}
		if target.Type != s.Type {
			return 0, typeMismatch(name)
		}
		if p := target.EP.Peer(); p != nil && p != s.EP {
			return 0, unix.EPERM
		}
		to = target.EP
	}
	if s.Type == unix.SOCK_DGRAM && to == nil && s.EP.Peer() == nil {
		return 0, unix.ENOTCONN
	}
	s.mu.Lock()
	from := s.name
	s.mu.Unlock()
	return s.EP.Write(ctx, to, data, ctl, from, w)
}

// RecvMsg implements recvmsg(2) (and read(2), recv, recvfrom).
func (s *Socket) RecvMsg(ctx vfs.Context, dst []byte, flags int) (socket.RecvResult, error) {
	if flags&unix.MSG_OOB != 0 {
		return socket.RecvResult{}, unix.EOPNOTSUPP
	}
	res, from, err := s.Recv(ctx, dst, flags, false)
	if err != nil {
		return res, err
	}
	if name, ok := from.(string); ok && name != "" {
		res.Addr = encodeAddr(name)
	}
	return res, nil
}

// Read implements read(2).
func (s *Socket) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	return s.ReadWith(ctx, s, p)
}

// Write implements write(2).
func (s *Socket) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	return s.SendMsg(ctx, p, nil, transport.Control{}, 0)
}

// Release closes the socket and frees its abstract name.
func (s *Socket) Release() {
	s.mu.Lock()
	name, key := s.name, s.fileKey
	s.mu.Unlock()
	if name != "" {
		s.ns.mu.Lock()
		if name[0] == 0 {
			if s.ns.abstract[name] == s {
				delete(s.ns.abstract, name)
			}
		} else if s.ns.files[key] == s {
			// The socket file stays; connecting to it is refused.
			delete(s.ns.files, key)
		}
		s.ns.mu.Unlock()
	}
	s.EP.Close()
}
