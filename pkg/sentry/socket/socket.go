// Package socket owns what every socket family of the Sentry shares: the
// Socket interface the system call layer drives (bind, connect, sendmsg, …),
// and Base, the open-file half of a socket built on a transport.Endpoint:
// read/write, readiness, fstat, FIONREAD, O_NONBLOCK, and the SOL_SOCKET
// options (buffers, timeouts, SO_PASSCRED, …) that mean the same in every
// family. Families live in subpackages: unixsock (AF_UNIX), inet (AF_INET and
// AF_INET6 over a pluggable stack, loopback only for now) and netlink.
//
// Lock order: Base.mu is a leaf (never held across endpoint calls).
package socket

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/socket/transport"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Socket is an open socket. The system call layer decodes arguments and
// copies memory; a Socket carries out the operation. Addresses are raw
// sockaddr bytes as the application passed them.
type Socket interface {
	vfs.FileImpl
	waiter.Waitable

	// Info returns the socket's domain, type and protocol.
	Info() (family, typ, protocol int)
	// Bind assigns a local address.
	Bind(ctx vfs.Context, addr []byte) error
	// Connect connects to addr (or, for datagram sockets, sets the default
	// destination; AF_UNSPEC dissolves it).
	Connect(ctx vfs.Context, addr []byte, w transport.Wait) error
	// Listen marks the socket as accepting connections.
	Listen(ctx vfs.Context, backlog int) error
	// Accept returns a connection from the backlog as a new socket.
	Accept(ctx vfs.Context, w transport.Wait) (Socket, error)
	// Shutdown implements shutdown(2) with how SHUT_RD, SHUT_WR or SHUT_RDWR.
	Shutdown(ctx vfs.Context, how int) error
	// SockName and PeerName return getsockname and getpeername's answers.
	SockName() []byte
	PeerName() ([]byte, error)
	// GetSockOpt returns an option's value (at most the bytes the caller
	// may copy out are used). SetSockOpt sets one.
	GetSockOpt(ctx vfs.Context, level, name int) ([]byte, error)
	SetSockOpt(ctx vfs.Context, level, name int, val []byte) error
	// SendMsg sends data to addr (nil: the connected peer) with ctl, which
	// it consumes unless it fails before sending anything.
	SendMsg(ctx vfs.Context, data []byte, addr []byte, ctl transport.Control, flags int) (int, error)
	// RecvMsg receives into dst.
	RecvMsg(ctx vfs.Context, dst []byte, flags int) (RecvResult, error)
	// Bind tells the socket its file description (for O_NONBLOCK).
	BindFD(fd *vfs.FileDescription)
}

// RecvResult is what RecvMsg returns.
type RecvResult struct {
	// N is the byte count to return (the full length with MSG_TRUNC on
	// records).
	N int
	// Copied is how many bytes of dst hold data.
	Copied int
	// Addr is the sender's address (nil if none).
	Addr []byte
	// Flags are the msg_flags bits (MSG_TRUNC, MSG_EOR, …).
	Flags int
	// Control is the ancillary data received; the caller owns Rights.
	Control transport.Control
	// HasCreds is set when SCM_CREDENTIALS must be delivered.
	HasCreds bool
}

// CredsFunc returns the credentials of the task behind ctx, as
// SCM_CREDENTIALS and SO_PEERCRED report them.
type CredsFunc func(ctx vfs.Context) transport.Creds

// sockfsMinor is the device minor fstat reports, standing in for sockfs.
const sockfsMinor = 8

var lastIno atomic.Uint64

// Options holds the SOL_SOCKET options that mean the same in every family.
type Options struct {
	mu        sync.Mutex
	reuseAddr bool
	reusePort bool
	keepAlive bool
	passCred  bool
	broadcast bool
	oobInline bool
	linger    unix.Linger
	rcvTimeo  time.Duration
	sndTimeo  time.Duration
	priority  int32
	rcvLowat  int32
	// other holds boolean/int options accepted and read back verbatim.
	other map[[2]int]int32
}

// Base is the part of a socket file common to every family whose data path
// is a transport.Endpoint. Families embed it and supply the rest of Socket.
type Base struct {
	vfs.FileDefaults

	Family, Type, Protocol int
	// EP is the socket's endpoint; families may replace it before the
	// socket is shared (accept) but not after.
	EP *transport.Endpoint
	// Creds finds a caller's credentials.
	Creds CredsFunc
	Opts  Options

	ino     uint64
	uid     uint32
	gid     uint32
	created time.Time
	status  uint32
	fd      atomic.Pointer[vfs.FileDescription]
}

// Init fills in b for a socket created by ctx with the given open flags
// (SOCK_NONBLOCK).
func (b *Base) Init(ctx vfs.Context, family, typ, protocol int, ep *transport.Endpoint, creds CredsFunc, nonblock bool) {
	b.Family, b.Type, b.Protocol, b.EP, b.Creds = family, typ, protocol, ep, creds
	b.ino = lastIno.Add(1)
	b.created = time.Now()
	if ctx != nil && ctx.Credentials() != nil {
		b.uid, b.gid = ctx.Credentials().EffectiveUID, ctx.Credentials().EffectiveGID
	}
	if nonblock {
		b.status = unix.O_NONBLOCK
	}
}

// BindFD tells b its file description, whose O_NONBLOCK it follows.
func (b *Base) BindFD(fd *vfs.FileDescription) { b.fd.Store(fd) }

// Info returns the domain, type and protocol.
func (b *Base) Info() (int, int, int) { return b.Family, b.Type, b.Protocol }

// Nonblocking reports whether O_NONBLOCK is set.
func (b *Base) Nonblocking() bool {
	if fd := b.fd.Load(); fd != nil {
		return fd.Flags()&unix.O_NONBLOCK != 0
	}
	return b.status&unix.O_NONBLOCK != 0
}

// RecvWait returns how a receive with flags may block.
func (b *Base) RecvWait(flags int) transport.Wait {
	b.Opts.mu.Lock()
	defer b.Opts.mu.Unlock()
	return transport.Wait{Nonblock: b.Nonblocking() || flags&unix.MSG_DONTWAIT != 0, Timeout: b.Opts.rcvTimeo}
}

// SendWait returns how a send with flags may block.
func (b *Base) SendWait(flags int) transport.Wait {
	b.Opts.mu.Lock()
	defer b.Opts.mu.Unlock()
	return transport.Wait{Nonblock: b.Nonblocking() || flags&unix.MSG_DONTWAIT != 0, Timeout: b.Opts.sndTimeo}
}

// PassCred reports SO_PASSCRED.
func (b *Base) PassCred() bool {
	b.Opts.mu.Lock()
	defer b.Opts.mu.Unlock()
	return b.Opts.passCred
}

// ReuseAddr and ReusePort report SO_REUSEADDR and SO_REUSEPORT.
func (b *Base) ReuseAddr() bool {
	b.Opts.mu.Lock()
	defer b.Opts.mu.Unlock()
	return b.Opts.reuseAddr
}

// ReusePort reports SO_REUSEPORT.
func (b *Base) ReusePort() bool {
	b.Opts.mu.Lock()
	defer b.Opts.mu.Unlock()
	return b.Opts.reusePort
}

// Seekable returns false: sockets are streams (lseek gives ESPIPE).
func (b *Base) Seekable() bool { return false }

// Release closes the endpoint.
func (b *Base) Release() { b.EP.Close() }

// Stat returns S_IFSOCK|0777 attributes with the socket's inode number.
func (b *Base) Stat(vfs.Context) (unix.Statx_t, error) {
	ts := unix.StatxTimestamp{Sec: b.created.Unix(), Nsec: uint32(b.created.Nanosecond())}
	return unix.Statx_t{
		Mask:      unix.STATX_BASIC_STATS,
		Blksize:   4096,
		Nlink:     1,
		Uid:       b.uid,
		Gid:       b.gid,
		Mode:      unix.S_IFSOCK | 0o777,
		Ino:       b.ino,
		Atime:     ts,
		Mtime:     ts,
		Ctime:     ts,
		Dev_minor: sockfsMinor,
	}, nil
}

// Readiness reports the endpoint's readiness.
func (b *Base) Readiness(mask waiter.EventMask) waiter.EventMask { return b.EP.Readiness(mask) }

// EventRegister adds e to the endpoint's waiter queue.
func (b *Base) EventRegister(e *waiter.Entry) { b.EP.Queue.EventRegister(e) }

// EventUnregister removes e from the endpoint's waiter queue.
func (b *Base) EventUnregister(e *waiter.Entry) { b.EP.Queue.EventUnregister(e) }

// Ioctl implements FIONREAD (SIOCINQ) and TIOCOUTQ (SIOCOUTQ).
func (b *Base) Ioctl(ctx vfs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	var n int
	switch cmd {
	case unix.TIOCINQ:
		if b.EP.Listening() {
			return 0, unix.EINVAL
		}
		n = b.EP.Queued()
	case unix.TIOCOUTQ:
		n = b.EP.PeerQueued()
	default:
		return 0, unix.ENOTTY
	}
	var buf [4]byte
	binary.LittleEndian.PutUint32(buf[:], uint32(n))
	if _, err := ctx.CopyOut(arg, buf[:]); err != nil {
		return 0, err
	}
	return 0, nil
}

// Int encodes an int option value.
func Int(v int32) []byte {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(v))
	return b[:]
}

// Bool encodes a boolean option value as an int.
func Bool(v bool) []byte {
	if v {
		return Int(1)
	}
	return Int(0)
}

// ParseInt decodes an int option value: EINVAL if shorter than an int
// (Linux accepts a shorter value only for some options; we do not).
func ParseInt(val []byte) (int32, error) {
	if len(val) < 4 {
		return 0, unix.EINVAL
	}
	return int32(binary.LittleEndian.Uint32(val)), nil
}

func timeval(d time.Duration) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, uint64(d/time.Second))
	binary.LittleEndian.PutUint64(b[8:], uint64(d%time.Second/time.Microsecond))
	return b
}

func parseTimeval(val []byte) (time.Duration, error) {
	if len(val) < 16 {
		return 0, unix.EINVAL
	}
	sec := int64(binary.LittleEndian.Uint64(val))
	usec := int64(binary.LittleEndian.Uint64(val[8:]))
	if usec < 0 || usec >= 1e6 {
		return 0, unix.EDOM
	}
	if sec < 0 {
		return 0, nil
	}
	if sec > 1<<32 {
		return 0, nil // effectively infinite
	}
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond, nil
}

// GetSockOptCommon answers SOL_SOCKET options every family shares; ok is
// false for options it does not know.
func (b *Base) GetSockOptCommon(level, name int) (val []byte, ok bool, err error) {
	if level != unix.SOL_SOCKET {
		return nil, false, nil
	}
	o := &b.Opts
	o.mu.Lock()
	defer o.mu.Unlock()
	switch name {
	case unix.SO_TYPE:
		return Int(int32(b.Type)), true, nil
	case unix.SO_DOMAIN:
		return Int(int32(b.Family)), true, nil
	case unix.SO_PROTOCOL:
		return Int(int32(b.Protocol)), true, nil
	case unix.SO_ERROR:
		return Int(int32(b.EP.TakeError())), true, nil
	case unix.SO_SNDBUF:
		return Int(int32(b.EP.SndBuf())), true, nil
	case unix.SO_RCVBUF:
		return Int(int32(b.EP.RcvBuf())), true, nil
	case unix.SO_ACCEPTCONN:
		return Bool(b.EP.Listening()), true, nil
	case unix.SO_REUSEADDR:
		return Bool(o.reuseAddr), true, nil
	case unix.SO_REUSEPORT:
		return Bool(o.reusePort), true, nil
	case unix.SO_KEEPALIVE:
		return Bool(o.keepAlive), true, nil
	case unix.SO_PASSCRED:
		return Bool(o.passCred), true, nil
	case unix.SO_BROADCAST:
		return Bool(o.broadcast), true, nil
	case unix.SO_OOBINLINE:
		return Bool(o.oobInline), true, nil
	case unix.SO_PRIORITY:
		return Int(o.priority), true, nil
	case unix.SO_RCVLOWAT:
		return Int(max(o.rcvLowat, 1)), true, nil
	case unix.SO_SNDLOWAT:
		return Int(1), true, nil
	case unix.SO_LINGER:
		v := make([]byte, 8)
		binary.LittleEndian.PutUint32(v, uint32(o.linger.Onoff))
		binary.LittleEndian.PutUint32(v[4:], uint32(o.linger.Linger))
		return v, true, nil
	case unix.SO_RCVTIMEO:
		return timeval(o.rcvTimeo), true, nil
	case unix.SO_SNDTIMEO:
		return timeval(o.sndTimeo), true, nil
	}
	return nil, false, nil
}

// SetSockOptCommon sets SOL_SOCKET options every family shares; ok is
// false for options it does not know.
func (b *Base) SetSockOptCommon(level, name int, val []byte) (ok bool, err error) {
	if level != unix.SOL_SOCKET {
		return false, nil
	}
	o := &b.Opts
	switch name {
	case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO:
		d, err := parseTimeval(val)
		if err != nil {
			return true, err
		}
		o.mu.Lock()
		if name == unix.SO_RCVTIMEO {
			o.rcvTimeo = d
		} else {
			o.sndTimeo = d
		}
		o.mu.Unlock()
		return true, nil
	case unix.SO_LINGER:
		if len(val) < 8 {
			return true, unix.EINVAL
		}
		o.mu.Lock()
		o.linger.Onoff = int32(binary.LittleEndian.Uint32(val))
		o.linger.Linger = int32(binary.LittleEndian.Uint32(val[4:]))
		o.mu.Unlock()
		return true, nil
	case unix.SO_TYPE, unix.SO_DOMAIN, unix.SO_PROTOCOL, unix.SO_ERROR, unix.SO_ACCEPTCONN, unix.SO_PEERCRED:
		return true, unix.ENOPROTOOPT
	}
	v, err := ParseInt(val)
	if err != nil {
		switch name {
		case unix.SO_SNDBUF, unix.SO_RCVBUF, unix.SO_REUSEADDR, unix.SO_REUSEPORT, unix.SO_KEEPALIVE,
			unix.SO_PASSCRED, unix.SO_BROADCAST, unix.SO_OOBINLINE, unix.SO_PRIORITY, unix.SO_RCVLOWAT:
			return true, err
		}
		return false, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch name {
	case unix.SO_SNDBUF:
		b.EP.SetSndBuf(int(v))
	case unix.SO_RCVBUF:
		b.EP.SetRcvBuf(int(v))
	case unix.SO_REUSEADDR:
		o.reuseAddr = v != 0
	case unix.SO_REUSEPORT:
		o.reusePort = v != 0
	case unix.SO_KEEPALIVE:
		o.keepAlive = v != 0
	case unix.SO_PASSCRED:
		o.passCred = v != 0
	case unix.SO_BROADCAST:
		o.broadcast = v != 0
	case unix.SO_OOBINLINE:
		o.oobInline = v != 0
	case unix.SO_PRIORITY:
		o.priority = v
	case unix.SO_RCVLOWAT:
		o.rcvLowat = max(v, 1)
	default:
		return false, nil
	}
	return true, nil
}

// OtherOpt returns an option stored with SetOtherOpt, or def.
func (b *Base) OtherOpt(level, name int, def int32) int32 {
	b.Opts.mu.Lock()
	defer b.Opts.mu.Unlock()
	if v, ok := b.Opts.other[[2]int{level, name}]; ok {
		return v
	}
	return def
}

// SetOtherOpt stores an int option that is accepted and read back but
// otherwise has no effect here (TCP_NODELAY on a loopback, say).
func (b *Base) SetOtherOpt(level, name int, v int32) {
	b.Opts.mu.Lock()
	defer b.Opts.mu.Unlock()
	if b.Opts.other == nil {
		b.Opts.other = make(map[[2]int]int32)
	}
	b.Opts.other[[2]int{level, name}] = v
}

// CopyOptsFrom copies a listener's options to a socket accept creates.
func (b *Base) CopyOptsFrom(l *Base) {
	l.Opts.mu.Lock()
	defer l.Opts.mu.Unlock()
	o := &b.Opts
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reuseAddr, o.keepAlive, o.passCred, o.linger = l.Opts.reuseAddr, l.Opts.keepAlive, l.Opts.passCred, l.Opts.linger
	o.rcvTimeo, o.sndTimeo, o.priority = l.Opts.rcvTimeo, l.Opts.sndTimeo, l.Opts.priority
	if l.Opts.other != nil {
		o.other = make(map[[2]int]int32)
		for k, v := range l.Opts.other {
			o.other[k] = v
		}
	}
}

// Recv reads from the endpoint as recvmsg with flags does and fills in the
// parts of RecvResult that do not depend on the family.
func (b *Base) Recv(ctx vfs.Context, dst []byte, flags int, discardOnTrunc bool) (RecvResult, any, error) {
	if flags&unix.MSG_OOB != 0 {
		return RecvResult{}, nil, unix.EINVAL
	}
	if flags&unix.MSG_ERRQUEUE != 0 {
		return RecvResult{}, nil, unix.EAGAIN
	}
	o := transport.ReadOptions{
		Peek:    flags&unix.MSG_PEEK != 0,
		WaitAll: flags&unix.MSG_WAITALL != 0,
		Discard: discardOnTrunc && flags&unix.MSG_TRUNC != 0,
		Wait:    b.RecvWait(flags),
	}
	rr, err := b.EP.Read(ctx, dst, o)
	if err != nil {
		return RecvResult{}, nil, err
	}
	res := RecvResult{N: rr.N, Copied: rr.N, Control: rr.Control}
	if o.Discard {
		res.Copied = 0
	}
	if rr.Truncated {
		res.Flags |= unix.MSG_TRUNC
		if flags&unix.MSG_TRUNC != 0 {
			res.N = rr.MsgLen
		}
	}
	res.HasCreds = rr.HasControl && b.PassCred()
	return res, rr.From, nil
}

// ReadWith implements read(2) on s as a receive with no flags; control
// data is dropped.
func (b *Base) ReadWith(ctx vfs.Context, s Socket, p []byte) (int, error) {
	res, err := s.RecvMsg(ctx, p, 0)
	res.Control.Release()
	return res.N, err
}
