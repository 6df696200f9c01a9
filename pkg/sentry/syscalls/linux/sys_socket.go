package linux

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/abi/sysno"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/socket"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/socket/netlink"
	"bufferzone.dev/pkg/sentry/socket/transport"
	"bufferzone.dev/pkg/sentry/socket/unixsock"
	"bufferzone.dev/pkg/sentry/vfs"
)

// netState is one kernel's socket state: its Unix socket names and its
// network stack (SetNetworkStack; the loopback-only one of --network=none
// if none was set).
type netState struct {
	unix *unixsock.Namespace
	inet inet.Stack
}

// nets maps *kernel.Kernel to its *netState.
var nets sync.Map

func netOf(t *kernel.Task) *netState { return kernelNet(t.Kernel()) }

// kernelNet returns k's socket state, made with the loopback-only stack if
// SetNetworkStack was not called.
func kernelNet(k *kernel.Kernel) *netState {
	if n, ok := nets.Load(k); ok {
		return n.(*netState)
	}
	n, _ := nets.LoadOrStore(k, &netState{
		unix: unixsock.NewNamespace(socketCreds, pathFS{}),
		inet: inet.NewLoopback(),
	})
	return n.(*netState)
}

// SetNetworkStack makes s the stack of k's AF_INET and AF_INET6 sockets
// and of its netlink route dumps. It must be called before k's first
// process starts.
func SetNetworkStack(k *kernel.Kernel, s inet.Stack) {
	nets.Store(k, &netState{unix: unixsock.NewNamespace(socketCreds, pathFS{}), inet: s})
}

// NetworkStack returns k's network stack (SetNetworkStack's), which also
// answers /proc/sys/net.
func NetworkStack(k *kernel.Kernel) inet.Stack { return kernelNet(k).inet }

// socketCreds returns what SCM_CREDENTIALS and SO_PEERCRED report for the
// task behind ctx: its process ID and effective user and group.
func socketCreds(ctx vfs.Context) transport.Creds {
	var c transport.Creds
	if t, ok := ctx.(*kernel.Task); ok {
		c.PID = t.ThreadGroup().PID()
	}
	if cr := ctx.Credentials(); cr != nil {
		c.UID, c.GID = cr.EffectiveUID, cr.EffectiveGID
	}
	return c
}

// pathFS gives Unix sockets file-system names: bind makes an S_IFSOCK node
// with mknod, connect looks the node up.
type pathFS struct{}

// mknodAter is the VFS's mknodat(2), when the VFS has it.
type mknodAter interface {
	MknodAt(ctx vfs.Context, r vfs.Resolution, mode uint32, rdev uint64) error
}

func (pathFS) MakeSocketFile(ctx vfs.Context, path string) (unixsock.FileKey, error) {
	t, ok := ctx.(*kernel.Task)
	if !ok {
		return unixsock.FileKey{}, unix.EOPNOTSUPP
	}
	m, ok := any(t.Kernel().VFS).(mknodAter)
	if !ok {
		return unixsock.FileKey{}, unix.EOPNOTSUPP
	}
	r, err := t.Resolution(kernel.AtFDCWD, path, false, false)
	if err != nil {
		return unixsock.FileKey{}, err
	}
	mode := uint32(unix.S_IFSOCK) | 0o777&^t.FSContext().Umask()
	if err := m.MknodAt(t, r, mode, 0); err != nil {
		return unixsock.FileKey{}, err
	}
	return socketFileKey(t, path, false)
}

func (pathFS) LookupSocketFile(ctx vfs.Context, path string) (unixsock.FileKey, error) {
	t, ok := ctx.(*kernel.Task)
	if !ok {
		return unixsock.FileKey{}, unix.ENOENT
	}
	return socketFileKey(t, path, true)
}

func socketFileKey(t *kernel.Task, path string, mustBeSocket bool) (unixsock.FileKey, error) {
	vd, err := t.LookupAt(kernel.AtFDCWD, path, true, false)
	if err != nil {
		return unixsock.FileKey{}, err
	}
	st, err := vd.Dentry.Inode().Stat(t)
	if err != nil {
		return unixsock.FileKey{}, err
	}
	if mustBeSocket && vfs.FileType(st.Mode) != unix.S_IFSOCK {
		return unixsock.FileKey{}, unix.ECONNREFUSED
	}
	dev := uint64(st.Dev_major)<<32 | uint64(st.Dev_minor)
	if fs := vd.Dentry.Filesystem(); fs != nil && dev == 0 {
		dev = uint64(fs.Dev)
	}
	return unixsock.FileKey{Dev: dev, Ino: st.Ino}, nil
}

// newSocket creates a socket of domain/typ/protocol (typ without flags).
func newSocket(t *kernel.Task, domain, typ, protocol int, nonblock bool) (socket.Socket, error) {
	switch domain {
	case unix.AF_UNIX:
		if protocol != 0 && protocol != unix.AF_UNIX {
			return nil, unix.EPROTONOSUPPORT
		}
		return unixsock.New(t, netOf(t).unix, typ, nonblock)
	case unix.AF_INET, unix.AF_INET6:
		return netOf(t).inet.NewSocket(t, domain, typ, protocol, nonblock)
	case unix.AF_NETLINK:
		return netlink.New(t, typ, protocol, netOf(t).inet, nonblock)
	}
	return nil, unix.EAFNOSUPPORT
}

// installSocket wraps s in a file description and gives it a descriptor.
func installSocket(t *kernel.Task, s socket.Socket, flags int) (int32, error) {
	status := uint32(unix.O_RDWR)
	if flags&unix.SOCK_NONBLOCK != 0 {
		status |= unix.O_NONBLOCK
	}
	fd := vfs.NewFileDescription(s, vfs.VirtualDentry{}, status)
	s.BindFD(fd)
	defer fd.DecRef()
	return t.NewFD(fd, flags&unix.SOCK_CLOEXEC != 0)
}

// getSocket returns the socket at fd (ENOTSOCK for other files).
func getSocket(t *kernel.Task, fd int32) (socket.Socket, *vfs.FileDescription, error) {
	f, err := t.GetFile(fd)
	if err != nil {
		return nil, nil, err
	}
	s, ok := f.Impl().(socket.Socket)
	if !ok {
		f.DecRef()
		return nil, nil, unix.ENOTSOCK
	}
	return s, f, nil
}

// Socket implements socket(2).
func Socket(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	domain, typ, protocol := int(argInt(a[0])), int(argInt(a[1])), int(argInt(a[2]))
	flags := typ & (unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)
	typ &^= flags
	if typ < 0 || typ > 0xf {
		return 0, unix.EINVAL
	}
	s, err := newSocket(t, domain, typ, protocol, flags&unix.SOCK_NONBLOCK != 0)
	if err != nil {
		return 0, err
	}
	fd, err := installSocket(t, s, flags)
	return uintptr(fd), err
}

// Socketpair implements socketpair(2).
func Socketpair(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	domain, typ, protocol := int(argInt(a[0])), int(argInt(a[1])), int(argInt(a[2]))
	flags := typ & (unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)
	typ &^= flags
	switch domain {
	case unix.AF_UNIX:
	case unix.AF_INET, unix.AF_INET6:
		return 0, unix.EOPNOTSUPP
	default:
		return 0, unix.EAFNOSUPPORT
	}
	if protocol != 0 && protocol != unix.AF_UNIX {
		return 0, unix.EPROTONOSUPPORT
	}
	s1, s2, err := unixsock.NewPair(t, netOf(t).unix, typ, flags&unix.SOCK_NONBLOCK != 0)
	if err != nil {
		return 0, err
	}
	fd1, err := installSocket(t, s1, flags)
	if err != nil {
		s2.Release()
		return 0, err
	}
	fd2, err := installSocket(t, s2, flags)
	if err != nil {
		t.FDTable().Remove(fd1)
		return 0, err
	}
	fds := [2]int32{fd1, fd2}
	if err := copyOutObj(t, a[3], &fds); err != nil {
		t.FDTable().Remove(fd1)
		t.FDTable().Remove(fd2)
		return 0, err
	}
	return 0, nil
}

// copyInAddr copies a socket address argument.
func copyInAddr(t *kernel.Task, addr uintptr, n uint32) ([]byte, error) {
	if int32(n) < 0 || n > 128 {
		return nil, unix.EINVAL
	}
	b := make([]byte, n)
	if n == 0 {
		return b, nil
	}
	if c, err := t.CopyIn(addr, b); err != nil || c != len(b) {
		return nil, unix.EFAULT
	}
	return b, nil
}

// copyOutAddr writes an address to addr, truncated to the length *lenAddr
// holds, and stores the full length in *lenAddr.
func copyOutAddr(t *kernel.Task, sa []byte, addr, lenAddr uintptr) error {
	if lenAddr == 0 {
		return nil
	}
	var n int32
	if err := copyInObj(t, lenAddr, &n); err != nil {
		return err
	}
	if n < 0 {
		return unix.EINVAL
	}
	if c := min(int(n), len(sa)); c > 0 {
		if w, err := t.CopyOut(addr, sa[:c]); err != nil || w != c {
			return unix.EFAULT
		}
	}
	l := int32(len(sa))
	return copyOutObj(t, lenAddr, &l)
}

// Bind implements bind(2).
func Bind(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	sa, err := copyInAddr(t, a[1], argUint(a[2]))
	if err != nil {
		return 0, err
	}
	return 0, s.Bind(t, sa)
}

// Connect implements connect(2).
func Connect(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	sa, err := copyInAddr(t, a[1], argUint(a[2]))
	if err != nil {
		return 0, err
	}
	w := sendWait(s, 0)
	return 0, s.Connect(t, sa, w)
}

// sendWait and recvWait return how an operation on s with flags blocks.
func sendWait(s socket.Socket, flags int) transport.Wait {
	if b, ok := s.(interface {
		SendWait(int) transport.Wait
	}); ok {
		return b.SendWait(flags)
	}
	return transport.Wait{}
}

func recvWait(s socket.Socket, flags int) transport.Wait {
	if b, ok := s.(interface {
		RecvWait(int) transport.Wait
	}); ok {
		return b.RecvWait(flags)
	}
	return transport.Wait{}
}

// Listen implements listen(2).
func Listen(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	// Every backlog is capped at net.core.somaxconn, as the unsigned
	// comparison of Linux caps a negative one.
	somaxconn := inet.DefaultSomaxconn
	if sx, ok := netOf(t).inet.(inet.Sysctler); ok {
		somaxconn = sx.Somaxconn()
	}
	backlog := int(argInt(a[1]))
	if backlog < 0 || backlog > somaxconn {
		backlog = somaxconn
	}
	return 0, s.Listen(t, backlog)
}

func accept(t *kernel.Task, fd int32, addr, lenAddr uintptr, flags int) (uintptr, error) {
	if flags&^(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	s, f, err := getSocket(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	ns, err := s.Accept(t, recvWait(s, 0))
	if err != nil {
		return 0, err
	}
	peer, _ := ns.PeerName()
	if peer == nil {
		peer = ns.SockName()[:2]
	}
	nfd, err := installSocket(t, ns, flags)
	if err != nil {
		ns.Release()
		return 0, err
	}
	if addr != 0 {
		if err := copyOutAddr(t, peer, addr, lenAddr); err != nil {
			t.FDTable().Remove(nfd)
			return 0, err
		}
	}
	return uintptr(nfd), nil
}

// Accept implements accept(2).
func Accept(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return accept(t, argFD(a[0]), a[1], a[2], 0)
}

// Accept4 implements accept4(2).
func Accept4(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return accept(t, argFD(a[0]), a[1], a[2], int(argInt(a[3])))
}

// Shutdown implements shutdown(2).
func Shutdown(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, s.Shutdown(t, int(argInt(a[1])))
}

// Getsockname implements getsockname(2).
func Getsockname(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, copyOutAddr(t, s.SockName(), a[1], a[2])
}

// Getpeername implements getpeername(2).
func Getpeername(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	sa, err := s.PeerName()
	if err != nil {
		return 0, err
	}
	return 0, copyOutAddr(t, sa, a[1], a[2])
}

// Getsockopt implements getsockopt(2).
func Getsockopt(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	var n int32
	if err := copyInObj(t, a[4], &n); err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, unix.EINVAL
	}
	v, err := s.GetSockOpt(t, int(argInt(a[1])), int(argInt(a[2])))
	if err != nil {
		return 0, err
	}
	c := min(int(n), len(v))
	if c > 0 {
		if w, err := t.CopyOut(a[3], v[:c]); err != nil || w != c {
			return 0, unix.EFAULT
		}
	}
	n = int32(c)
	return 0, copyOutObj(t, a[4], &n)
}

// Setsockopt implements setsockopt(2).
func Setsockopt(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	n := argInt(a[4])
	if n < 0 {
		return 0, unix.EINVAL
	}
	v := make([]byte, min(int(n), 4096))
	if len(v) > 0 {
		if c, err := t.CopyIn(a[3], v); err != nil || c != len(v) {
			return 0, unix.EFAULT
		}
	}
	return 0, s.SetSockOpt(t, int(argInt(a[1])), int(argInt(a[2])), v)
}

// msghdr is struct msghdr.
type msghdr struct {
	Name       uintptr
	NameLen    uint32
	_          uint32
	Iov        uintptr
	IovLen     uint64
	Control    uintptr
	ControlLen uint64
	Flags      int32
	_          uint32
}

// maxSockIO bounds the Sentry-side buffer of one send or receive.
const maxSockIO = 4 << 20

// pooledRecvSize is the size of the receive buffers recvBufs keeps: a
// receive of up to this many bytes borrows one instead of allocating.
// Servers receive in small blocks, many of which find nothing (PostgreSQL
// asks for 8 KiB about 6,000 times a second under pgbench, half of them
// EAGAIN): a buffer allocated per call, of the full length asked, is
// mostly garbage for the collector.
const pooledRecvSize = 64 << 10

// recvBufs holds *[]byte of pooledRecvSize bytes. A buffer is only ever
// copied out up to the length the receive reported, so what an earlier
// receive left in it is never seen.
var recvBufs = sync.Pool{New: func() any {
	b := make([]byte, pooledRecvSize)
	return &b
}}

// getRecvBuf returns a buffer of n bytes (at most maxSockIO) for one
// receive, and the pooled buffer to hand to putRecvBuf afterwards (nil if
// it was allocated).
func getRecvBuf(n int) ([]byte, *[]byte) {
	if n > pooledRecvSize {
		return make([]byte, min(n, maxSockIO)), nil
	}
	p := recvBufs.Get().(*[]byte)
	return (*p)[:n], p
}

// putRecvBuf returns a buffer of getRecvBuf to the pool.
func putRecvBuf(p *[]byte) {
	if p != nil {
		recvBufs.Put(p)
	}
}

// gather copies n bytes starting at the beginning of iovs.
func gather(t *kernel.Task, iovs []iovec, n int) ([]byte, error) {
	buf := make([]byte, n)
	off := 0
	for _, v := range iovs {
		if off == n {
			break
		}
		c := min(int(v.Len), n-off)
		if c == 0 {
			continue
		}
		if w, err := t.CopyIn(v.Base, buf[off:off+c]); err != nil || w != c {
			return nil, unix.EFAULT
		}
		off += c
	}
	return buf, nil
}

// scatter copies buf out over iovs.
func scatter(t *kernel.Task, iovs []iovec, buf []byte) error {
	off := 0
	for _, v := range iovs {
		if off == len(buf) {
			break
		}
		c := min(int(v.Len), len(buf)-off)
		if c == 0 {
			continue
		}
		if w, err := t.CopyOut(v.Base, buf[off:off+c]); err != nil || w != c {
			return unix.EFAULT
		}
		off += c
	}
	return nil
}

func iovTotal(iovs []iovec) int {
	var n uint64
	for _, v := range iovs {
		n += v.Len
	}
	return int(min(n, maxRW))
}

// skipIovs drops the first n bytes of iovs.
func skipIovs(iovs []iovec, n int) []iovec {
	out := append([]iovec(nil), iovs...)
	for len(out) > 0 && n > 0 {
		if int(out[0].Len) <= n {
			n -= int(out[0].Len)
			out = out[1:]
			continue
		}
		out[0].Base += uintptr(n)
		out[0].Len -= uint64(n)
		n = 0
	}
	return out
}

// cmsg layout.
const (
	cmsgHdrLen  = 16
	scmMaxFD    = 253
	ucredLen    = 12
	maxControls = 1 << 20
)

func cmsgAlign(n int) int { return (n + 7) &^ 7 }

// parseControl decodes sendmsg's control buffer: SCM_RIGHTS take a
// reference on each file, SCM_CREDENTIALS are checked against the caller.
func parseControl(t *kernel.Task, b []byte) (transport.Control, error) {
	var ctl transport.Control
	for len(b) >= cmsgHdrLen {
		l := int(binary.LittleEndian.Uint64(b))
		level := int32(binary.LittleEndian.Uint32(b[8:]))
		typ := int32(binary.LittleEndian.Uint32(b[12:]))
		if l < cmsgHdrLen || l > len(b) {
			ctl.Release()
			return ctl, unix.EINVAL
		}
		data := b[cmsgHdrLen:l]
		if level == unix.SOL_SOCKET {
			switch typ {
			case unix.SCM_RIGHTS:
				n := len(data) / 4
				if n+len(ctl.Rights) > scmMaxFD {
					ctl.Release()
					return ctl, unix.EINVAL
				}
				for i := 0; i < n; i++ {
					f, err := t.GetFile(int32(binary.LittleEndian.Uint32(data[4*i:])))
					if err != nil {
						ctl.Release()
						return ctl, unix.EBADF
					}
					ctl.Rights = append(ctl.Rights, f)
				}
			case unix.SCM_CREDENTIALS:
				if len(data) < ucredLen {
					ctl.Release()
					return ctl, unix.EINVAL
				}
				c := transport.Creds{
					PID: int32(binary.LittleEndian.Uint32(data)),
					UID: binary.LittleEndian.Uint32(data[4:]),
					GID: binary.LittleEndian.Uint32(data[8:]),
				}
				cr := t.Credentials()
				const capSetUID, capSetGID = 7, 6
				okPID := c.PID == t.ThreadGroup().PID() || cr.HasCapability(21)
				okUID := c.UID == cr.RealUID || c.UID == cr.EffectiveUID || c.UID == cr.SavedUID || cr.HasCapability(capSetUID)
				okGID := c.GID == cr.RealGID || c.GID == cr.EffectiveGID || c.GID == cr.SavedGID || cr.HasCapability(capSetGID)
				if !okPID || !okUID || !okGID {
					ctl.Release()
					return ctl, unix.EPERM
				}
				ctl.Creds = c
			default:
				ctl.Release()
				return ctl, unix.EINVAL
			}
		}
		if cmsgAlign(l) >= len(b) {
			break
		}
		b = b[cmsgAlign(l):]
	}
	return ctl, nil
}

// sendMsg carries out one sendmsg with the header h.
func sendMsg(t *kernel.Task, s socket.Socket, h *msghdr, flags int) (int, error) {
	if flags&^(unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL|unix.MSG_MORE|unix.MSG_EOR|unix.MSG_OOB|unix.MSG_CONFIRM|unix.MSG_DONTROUTE|unix.MSG_FASTOPEN|unix.MSG_ZEROCOPY) != 0 {
		return 0, unix.EINVAL
	}
	if h.IovLen > uioMaxIOV {
		return 0, unix.EMSGSIZE
	}
	iovs, err := copyInIovecs(t, h.Iov, int32(h.IovLen))
	if err != nil {
		return 0, err
	}
	var addr []byte
	if h.Name != 0 && h.NameLen > 0 {
		if addr, err = copyInAddr(t, h.Name, h.NameLen); err != nil {
			return 0, err
		}
	}
	var ctl transport.Control
	if h.ControlLen > 0 {
		if h.ControlLen > maxControls {
			return 0, unix.ENOBUFS
		}
		b := make([]byte, h.ControlLen)
		if c, err := t.CopyIn(h.Control, b); err != nil || c != len(b) {
			return 0, unix.EFAULT
		}
		if ctl, err = parseControl(t, b); err != nil {
			return 0, err
		}
	}
	_, typ, _ := s.Info()
	total := iovTotal(iovs)
	var n int
	for {
		chunk := total - n
		if typ == unix.SOCK_STREAM {
			chunk = min(chunk, maxSockIO)
		}
		data, err := gather(t, skipIovs(iovs, n), chunk)
		if err != nil {
			ctl.Release()
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		c, err := s.SendMsg(t, data, addr, ctl, flags)
		ctl = transport.Control{}
		n += c
		if err != nil {
			if err == unix.EPIPE && flags&unix.MSG_NOSIGNAL == 0 {
				t.SendSignal(kernel.SignalInfo{Signo: int32(unix.SIGPIPE), Code: kernel.SIKernel})
			}
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c < len(data) || n >= total {
			return n, nil
		}
	}
}

// recvMsg carries out one recvmsg with the header h, updating it.
func recvMsg(t *kernel.Task, s socket.Socket, h *msghdr, flags int) (int, error) {
	if h.IovLen > uioMaxIOV {
		return 0, unix.EMSGSIZE
	}
	iovs, err := copyInIovecs(t, h.Iov, int32(h.IovLen))
	if err != nil {
		return 0, err
	}
	if int64(h.ControlLen) < 0 {
		return 0, unix.EINVAL
	}
	buf, pooled := getRecvBuf(iovTotal(iovs))
	defer putRecvBuf(pooled)
	res, err := s.RecvMsg(t, buf, flags&^unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return 0, err
	}
	if err := scatter(t, iovs, buf[:res.Copied]); err != nil {
		res.Control.Release()
		return 0, err
	}
	if h.Name != 0 {
		if int32(h.NameLen) < 0 {
			res.Control.Release()
			return 0, unix.EINVAL
		}
		if c := min(int(h.NameLen), len(res.Addr)); c > 0 {
			if _, err := t.CopyOut(h.Name, res.Addr[:c]); err != nil {
				res.Control.Release()
				return 0, unix.EFAULT
			}
		}
		h.NameLen = uint32(len(res.Addr))
	}
	h.Flags = int32(res.Flags)
	ctl, ctrunc := buildControl(t, res, int(h.ControlLen), flags&unix.MSG_CMSG_CLOEXEC != 0)
	if ctrunc {
		h.Flags |= unix.MSG_CTRUNC
	}
	if len(ctl) > 0 {
		if _, err := t.CopyOut(h.Control, ctl); err != nil {
			return 0, unix.EFAULT
		}
	}
	h.ControlLen = uint64(len(ctl))
	return res.N, nil
}

// buildControl encodes the control messages of res into at most space
// bytes, installing passed files as new descriptors. Files that do not fit
// are closed and reported as truncation.
func buildControl(t *kernel.Task, res socket.RecvResult, space int, cloexec bool) ([]byte, bool) {
	var out []byte
	trunc := false
	put := func(typ int32, data []byte) {
		hdr := make([]byte, cmsgHdrLen)
		binary.LittleEndian.PutUint64(hdr, uint64(cmsgHdrLen+len(data)))
		binary.LittleEndian.PutUint32(hdr[8:], unix.SOL_SOCKET)
		binary.LittleEndian.PutUint32(hdr[12:], uint32(typ))
		out = append(out, hdr...)
		out = append(out, data...)
		for len(out)%8 != 0 && len(out) < space {
			out = append(out, 0)
		}
	}
	if res.HasCreds {
		if space-len(out) >= cmsgHdrLen+ucredLen {
			d := make([]byte, ucredLen)
			binary.LittleEndian.PutUint32(d, uint32(res.Control.Creds.PID))
			binary.LittleEndian.PutUint32(d[4:], res.Control.Creds.UID)
			binary.LittleEndian.PutUint32(d[8:], res.Control.Creds.GID)
			put(unix.SCM_CREDENTIALS, d)
		} else {
			trunc = true
		}
	}
	if rights := res.Control.Rights; len(rights) > 0 {
		fit := 0
		if room := space - len(out) - cmsgHdrLen; room > 0 {
			fit = min(room/4, len(rights))
		}
		var d []byte
		for i, f := range rights {
			if i < fit {
				if fd, err := t.NewFD(f, cloexec); err == nil {
					d = binary.LittleEndian.AppendUint32(d, uint32(fd))
				} else {
					trunc = true
				}
			} else {
				trunc = true
			}
			f.DecRef()
		}
		if len(d) > 0 {
			put(unix.SCM_RIGHTS, d)
		}
	}
	return out, trunc
}

// Sendto implements sendto(2) and send.
func Sendto(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if int64(a[2]) < 0 {
		return 0, unix.EINVAL
	}
	iov := iovec{Base: a[1], Len: uint64(a[2])}
	h := msghdr{Name: a[4], NameLen: argUint(a[5])}
	if a[4] == 0 {
		h.NameLen = 0
	}
	return sendIovs(t, s, &h, []iovec{iov}, int(argInt(a[3])))
}

// sendIovs is sendMsg for iovecs already in the Sentry.
func sendIovs(t *kernel.Task, s socket.Socket, h *msghdr, iovs []iovec, flags int) (uintptr, error) {
	var addr []byte
	var err error
	if h.Name != 0 && h.NameLen > 0 {
		if addr, err = copyInAddr(t, h.Name, h.NameLen); err != nil {
			return 0, err
		}
	}
	total := iovTotal(iovs)
	_, typ, _ := s.Info()
	var n int
	for {
		chunk := total - n
		if typ == unix.SOCK_STREAM {
			chunk = min(chunk, maxSockIO)
		}
		data, err := gather(t, skipIovs(iovs, n), chunk)
		if err != nil {
			if n > 0 {
				return uintptr(n), nil
			}
			return 0, err
		}
		c, err := s.SendMsg(t, data, addr, transport.Control{}, flags)
		n += c
		if err != nil {
			if err == unix.EPIPE && flags&unix.MSG_NOSIGNAL == 0 {
				t.SendSignal(kernel.SignalInfo{Signo: int32(unix.SIGPIPE), Code: kernel.SIKernel})
			}
			if n > 0 {
				return uintptr(n), nil
			}
			return 0, err
		}
		if c < len(data) || n >= total {
			return uintptr(n), nil
		}
	}
}

// Recvfrom implements recvfrom(2) and recv.
func Recvfrom(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if int64(a[2]) < 0 {
		return 0, unix.EINVAL
	}
	buf, pooled := getRecvBuf(int(min(a[2], maxSockIO)))
	defer putRecvBuf(pooled)
	res, err := s.RecvMsg(t, buf, int(argInt(a[3]))&^unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return 0, err
	}
	res.Control.Release()
	if res.Copied > 0 {
		if c, err := t.CopyOut(a[1], buf[:res.Copied]); err != nil || c != res.Copied {
			return 0, unix.EFAULT
		}
	}
	if a[4] != 0 && a[5] != 0 {
		if err := copyOutAddr(t, res.Addr, a[4], a[5]); err != nil {
			return 0, err
		}
	}
	return uintptr(res.N), nil
}

// Sendmsg implements sendmsg(2).
func Sendmsg(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	var h msghdr
	if err := copyInObj(t, a[1], &h); err != nil {
		return 0, err
	}
	n, err := sendMsg(t, s, &h, int(argInt(a[2])))
	return uintptr(n), err
}

// Recvmsg implements recvmsg(2).
func Recvmsg(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	var h msghdr
	if err := copyInObj(t, a[1], &h); err != nil {
		return 0, err
	}
	n, err := recvMsg(t, s, &h, int(argInt(a[2])))
	if err != nil {
		return 0, err
	}
	if err := copyOutObj(t, a[1], &h); err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	Hdr msghdr
	Len uint32
	_   uint32
}

// Sendmmsg implements sendmmsg(2).
func Sendmmsg(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	vlen, flags := min(argUint(a[2]), uioMaxIOV), int(argInt(a[3]))
	var i uint32
	for ; i < vlen; i++ {
		addr := a[1] + uintptr(i)*64
		var m mmsghdr
		if err := copyInObj(t, addr, &m); err != nil {
			if i > 0 {
				break
			}
			return 0, err
		}
		n, err := sendMsg(t, s, &m.Hdr, flags)
		if err != nil {
			if i > 0 {
				break
			}
			return 0, err
		}
		m.Len = uint32(n)
		if err := copyOutObj(t, addr+56, &m.Len); err != nil {
			return 0, err
		}
	}
	return uintptr(i), nil
}

// Recvmmsg implements recvmmsg(2). MSG_WAITFORONE makes every receive
// after the first non-blocking.
func Recvmmsg(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	s, f, err := getSocket(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	vlen, flags := min(argUint(a[2]), uioMaxIOV), int(argInt(a[3]))
	if a[4] != 0 {
		var ts unix.Timespec
		if err := copyInObj(t, a[4], &ts); err != nil {
			return 0, err
		}
		if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
			return 0, unix.EINVAL
		}
	}
	var i uint32
	for ; i < vlen; i++ {
		addr := a[1] + uintptr(i)*64
		var m mmsghdr
		if err := copyInObj(t, addr, &m); err != nil {
			if i > 0 {
				break
			}
			return 0, err
		}
		fl := flags &^ unix.MSG_WAITFORONE
		if i > 0 && flags&unix.MSG_WAITFORONE != 0 {
			fl |= unix.MSG_DONTWAIT
		}
		n, err := recvMsg(t, s, &m.Hdr, fl)
		if err != nil {
			if i > 0 {
				break
			}
			return 0, err
		}
		m.Len = uint32(n)
		if err := copyOutObj(t, addr, &m); err != nil {
			return 0, err
		}
	}
	return uintptr(i), nil
}

// socketCalls are the socket system calls. They are merged into the table
// here rather than listed in table.go so the socket layer can land apart
// from other work on the table.
var socketCalls = map[uintptr]kernel.SyscallFn{
	sysno.Socket:      Socket,
	sysno.Socketpair:  Socketpair,
	sysno.Bind:        Bind,
	sysno.Connect:     Connect,
	sysno.Listen:      Listen,
	sysno.Accept:      Accept,
	sysno.Accept4:     Accept4,
	sysno.Shutdown:    Shutdown,
	sysno.Getsockname: Getsockname,
	sysno.Getpeername: Getpeername,
	sysno.Getsockopt:  Getsockopt,
	sysno.Setsockopt:  Setsockopt,
	sysno.Sendto:      Sendto,
	sysno.Recvfrom:    Recvfrom,
	sysno.Sendmsg:     Sendmsg,
	sysno.Recvmsg:     Recvmsg,
	sysno.Sendmmsg:    Sendmmsg,
	sysno.Recvmmsg:    Recvmmsg,
}

func init() {
	for n, fn := range socketCalls {
		implemented[n] = fn
	}
}
