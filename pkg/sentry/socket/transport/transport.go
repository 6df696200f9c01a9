// Package transport owns the in-Sentry data path shared by every socket
// family that never leaves the sandbox (Unix domain sockets and the loopback
// network): endpoints with receive queues of messages, connection pairing
// through a listener's backlog, shutdown, blocking with interruption and
// timeouts, and the readiness that poll and epoll see.
//
// An Endpoint knows nothing of addresses: a family stores what it needs in
// Message.From and Endpoint.Owner. Stream endpoints are joined in pairs;
// datagram endpoints send to any endpoint they are given.
//
// Lock order: Endpoint.mu is taken alone — code never holds two endpoints'
// locks at once (a writer reads its peer pointer under its own lock, drops
// it, then locks the peer) — and before waiter.Queue.mu. Waiter queues are
// notified and file references dropped only after every lock is released.
package transport

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/syserr"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Buffer sizes, as Linux's defaults and limits (net.core.wmem_default,
// SOCK_MIN_SNDBUF, …).
const (
	DefaultBufSize = 212992
	MinSndBuf      = 4608
	MinRcvBuf      = 2304
	MaxBufSize     = 4 << 20
	// MaxDgramQueue is net.unix.max_dgram_qlen: datagrams a receive queue
	// holds before senders block.
	MaxDgramQueue = 10
)

// Creds identify the sender of a message (SCM_CREDENTIALS, SO_PEERCRED).
type Creds struct {
	PID int32
	UID uint32
	GID uint32
}

// Control is the ancillary data a message carries. Rights hold one
// reference each, owned by whoever holds the Control.
type Control struct {
	Rights []*vfs.FileDescription
	Creds  Creds
}

// Release drops the references Rights hold.
func (c *Control) Release() {
	for _, f := range c.Rights {
		f.DecRef()
	}
	c.Rights = nil
}

// Message is one write's worth of data in a receive queue.
type Message struct {
	Data []byte
	// Control is the message's ancillary data; Rights are delivered with
	// the first byte read.
	Control Control
	// From is the sender's address, in the family's own form.
	From any
}

// State is where an endpoint is in its life.
type State int

// Endpoint states.
const (
	Unconnected State = iota
	Listening
	Connected
	Closed
)

// Endpoint is one socket's transport state.
type Endpoint struct {
	// Immutable.
	stream bool // SOCK_STREAM: no record boundaries
	record bool // SOCK_SEQPACKET or SOCK_DGRAM: one message per read
	conn   bool // connection-oriented (stream, seqpacket)

	// Queue is notified of this endpoint's readiness changes.
	Queue waiter.Queue

	// Owner is the socket that holds the endpoint; set once before the
	// endpoint is shared.
	Owner any

	sndbuf atomic.Int64
	rcvbuf atomic.Int64

	mu      sync.Mutex
	state   State
	peer    *Endpoint
	msgs    []*Message
	rqBytes int
	rcvShut bool
	sndShut bool
	// peerGone is set on a TCP-like endpoint whose peer closed: the next
	// write is accepted and "answered with a reset" (EPIPE after it).
	peerGone bool
	tcpLike  bool
	err      unix.Errno
	backlog  []*Endpoint
	maxConn  int
	// maxDgrams bounds the datagrams queued (records only).
	maxDgrams int
	// data is waited for by readers and accepters, room by writers and
	// connecters.
	data waiter.Cond
	room waiter.Cond
}

// NewEndpoint returns an unconnected endpoint of the given socket type
// (SOCK_STREAM, SOCK_SEQPACKET or SOCK_DGRAM). tcpLike selects TCP's close
// semantics (a write after the peer closed succeeds once, then EPIPE)
// instead of Unix sockets' (EPIPE at once).
func NewEndpoint(typ int, tcpLike bool) *Endpoint {
	e := &Endpoint{
		stream:  typ == unix.SOCK_STREAM,
		record:  typ != unix.SOCK_STREAM,
		conn:    typ != unix.SOCK_DGRAM,
		tcpLike: tcpLike,

		maxDgrams: MaxDgramQueue,
	}
	e.sndbuf.Store(DefaultBufSize)
	e.rcvbuf.Store(DefaultBufSize)
	return e
}

// SndBuf and RcvBuf return SO_SNDBUF and SO_RCVBUF.
func (e *Endpoint) SndBuf() int { return int(e.sndbuf.Load()) }

// RcvBuf returns SO_RCVBUF.
func (e *Endpoint) RcvBuf() int { return int(e.rcvbuf.Load()) }

// SetSndBuf sets SO_SNDBUF as setsockopt does: doubled, clamped.
func (e *Endpoint) SetSndBuf(v int) {
	e.sndbuf.Store(int64(clampBuf(v, MinSndBuf)))
	e.Queue.Notify(waiter.WritableEvents)
	e.wakeRoomOfPeer()
}

// SetRcvBuf sets SO_RCVBUF as setsockopt does: doubled, clamped.
func (e *Endpoint) SetRcvBuf(v int) {
	e.rcvbuf.Store(int64(clampBuf(v, MinRcvBuf)))
	e.mu.Lock()
	e.room.Broadcast()
	e.mu.Unlock()
}

func clampBuf(v, lo int) int {
	if v < 0 || v > MaxBufSize/2 {
		v = MaxBufSize / 2
	}
	v *= 2
	return max(v, lo)
}

func (e *Endpoint) wakeRoomOfPeer() {
	e.mu.Lock()
	p := e.peer
	e.mu.Unlock()
	if p != nil {
		p.mu.Lock()
		p.room.Broadcast()
		p.mu.Unlock()
	}
}

// Wait describes how an operation may block.
type Wait struct {
	// Nonblock makes the operation fail with EAGAIN instead of blocking.
	Nonblock bool
	// Timeout, if positive, bounds the wait (SO_RCVTIMEO, SO_SNDTIMEO):
	// EAGAIN when it passes, and EINTR rather than a restart on a signal.
	Timeout time.Duration

	// deadline is when Timeout passes, set at the first sleep (one
	// operation may sleep several times).
	deadline time.Time
}

// block takes the prepared sleep s, bounded by the timeout: nil, then
// ERESTARTSYS (EINTR with a timeout) on an interruption, EAGAIN when the
// timeout passes.
func (w *Wait) block(s waiter.Sleep) error {
	if w.Timeout > 0 && w.deadline.IsZero() {
		w.deadline = time.Now().Add(w.Timeout)
	}
	switch err := s.Wait(w.deadline); err {
	case nil:
		return nil
	case unix.ETIMEDOUT:
		return unix.EAGAIN
	default:
		if w.Timeout > 0 {
			return unix.EINTR
		}
		return syserr.ERESTARTSYS
	}
}

// Block takes the prepared sleep s as the operation's wait allows (see
// block). Families whose data path is not an Endpoint block with it, one
// Wait per operation.
func (w *Wait) Block(s waiter.Sleep) error { return w.block(s) }

// SetDgramLimit sets how many datagrams the receive queue holds (UDP is
// bounded by bytes only; Unix datagram sockets by max_dgram_qlen).
func (e *Endpoint) SetDgramLimit(n int) {
	e.mu.Lock()
	e.maxDgrams = n
	e.mu.Unlock()
}

// State returns the endpoint's state.
func (e *Endpoint) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// Peer returns the connected peer, or nil.
func (e *Endpoint) Peer() *Endpoint {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.peer
}

// Pair joins a and b, two fresh stream or seqpacket endpoints (socketpair,
// or a connection being set up), as each other's peers.
func Pair(a, b *Endpoint) {
	a.mu.Lock()
	a.peer, a.state = b, Connected
	a.mu.Unlock()
	b.mu.Lock()
	b.peer, b.state = a, Connected
	b.mu.Unlock()
}

// SetPeer sets or clears (nil) a datagram endpoint's default destination.
func (e *Endpoint) SetPeer(p *Endpoint) {
	e.mu.Lock()
	e.peer = p
	if p != nil {
		e.state = Connected
	} else {
		e.state = Unconnected
	}
	e.mu.Unlock()
	e.Queue.Notify(waiter.WritableEvents)
}

// Listen makes an unconnected endpoint a listener with the given backlog
// (again on a listener: change the backlog).
func (e *Endpoint) Listen(backlog int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Unconnected && e.state != Listening {
		return unix.EINVAL
	}
	backlog = max(backlog, 0)
	e.maxConn = min(backlog, 4096)
	e.state = Listening
	return nil
}

// Listening reports whether e is a listener.
func (e *Endpoint) Listening() bool { return e.State() == Listening }

// Enqueue connects client to server, a fresh endpoint that stands for
// the listener's side of the connection, and queues server on the listener
// e for Accept. It fails with ECONNREFUSED if e is not listening; with a full
// backlog it waits (Linux lets backlog+1 connections wait).
func (e *Endpoint) Enqueue(ctx vfs.Context, client, server *Endpoint, w Wait) error {
	e.mu.Lock()
	for {
		if e.state != Listening {
			e.mu.Unlock()
			return unix.ECONNREFUSED
		}
		if len(e.backlog) <= e.maxConn {
			break
		}
		if w.Nonblock {
			e.mu.Unlock()
			return unix.EAGAIN
		}
		sleep := e.room.Prepare(ctx)
		e.mu.Unlock()
		if err := w.block(sleep); err != nil {
			return err
		}
		e.mu.Lock()
	}
	Pair(client, server)
	e.backlog = append(e.backlog, server)
	e.data.Broadcast()
	e.mu.Unlock()
	e.Queue.Notify(waiter.ReadableEvents)
	return nil
}

// Accept takes the oldest connection off a listener's backlog, waiting for
// one as w allows.
func (e *Endpoint) Accept(ctx vfs.Context, w Wait) (*Endpoint, error) {
	e.mu.Lock()
	for {
		if e.state != Listening {
			e.mu.Unlock()
			return nil, unix.EINVAL
		}
		if len(e.backlog) > 0 {
			s := e.backlog[0]
			e.backlog = e.backlog[1:]
			e.room.Broadcast()
			e.mu.Unlock()
			return s, nil
		}
		if w.Nonblock {
			e.mu.Unlock()
			return nil, unix.EAGAIN
		}
		sleep := e.data.Prepare(ctx)
		e.mu.Unlock()
		if err := w.block(sleep); err != nil {
			return nil, err
		}
		e.mu.Lock()
	}
}

// BacklogLen returns the number of connections waiting to be accepted.
func (e *Endpoint) BacklogLen() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.backlog)
}

// room returns how many bytes a sender with send buffer sndbuf may queue on
// e now, and whether a record of n bytes fits. e.mu is held.
func (e *Endpoint) roomLocked(sndbuf, n int) (int, bool) {
	if e.stream {
		r := sndbuf - e.rqBytes
		return r, r > 0
	}
	if e.conn {
		// seqpacket: records up to the sender's buffer.
		return sndbuf - e.rqBytes, e.rqBytes == 0 || e.rqBytes+n <= sndbuf
	}
	lim := max(int(e.rcvbuf.Load()), sndbuf)
	return lim - e.rqBytes, len(e.msgs) < e.maxDgrams && (e.rqBytes == 0 || e.rqBytes+n <= lim)
}

// Write queues data (with ctl, from) on to, or on e's peer if to is nil.
// Streams write as much as fits and wait for room for the rest; records are
// queued whole. It returns the bytes queued. Errors: ENOTCONN with no peer,
// EPIPE after shutdown or when the peer is gone (connection-oriented),
// ECONNREFUSED when a datagram's receiver is closed, EMSGSIZE for a record
// larger than the send buffer. ctl is consumed (queued or released) unless
// an error is returned before anything was queued.
func (e *Endpoint) Write(ctx vfs.Context, to *Endpoint, data []byte, ctl Control, from any, w Wait) (int, error) {
	e.mu.Lock()
	if e.err != 0 && e.conn {
		err := e.err
		e.err = 0
		e.mu.Unlock()
		return 0, err
	}
	if e.sndShut {
		e.mu.Unlock()
		return 0, unix.EPIPE
	}
	if to == nil {
		to = e.peer
	}
	if to == nil {
		e.mu.Unlock()
		if e.conn {
			return 0, unix.ENOTCONN
		}
		return 0, unix.EDESTADDRREQ
	}
	if e.peerGone {
		// TCP: the peer answers with a reset.
		e.peerGone = false
		e.sndShut, e.rcvShut = true, true
		e.mu.Unlock()
		ctl.Release()
		e.Queue.Notify(waiter.EventHUp | waiter.ReadableEvents | waiter.EventRdHUp)
		return len(data), nil
	}
	e.mu.Unlock()

	sndbuf := int(e.sndbuf.Load())
	if e.record && len(data) > max(sndbuf, int(to.rcvbuf.Load())) {
		return 0, unix.EMSGSIZE
	}
	done := 0
	to.mu.Lock()
	for {
		if to.state == Closed || to.rcvShut {
			to.mu.Unlock()
			if done > 0 {
				return done, nil
			}
			if !e.conn {
				return 0, unix.ECONNREFUSED
			}
			return 0, unix.EPIPE
		}
		// Readers are woken once to.mu is released (see
		// waiter.Cond.Take).
		var wake waiter.Wakeup
		room, fits := to.roomLocked(sndbuf, len(data)-done)
		if fits {
			n := len(data) - done
			if e.stream {
				n = min(n, room)
			}
			m := &Message{Data: append([]byte(nil), data[done:done+n]...), Control: ctl, From: from}
			ctl = Control{}
			to.msgs = append(to.msgs, m)
			to.rqBytes += n
			done += n
			wake = to.data.Take()
			if done == len(data) {
				to.mu.Unlock()
				wake.Wake()
				to.Queue.Notify(waiter.ReadableEvents)
				return done, nil
			}
		}
		if w.Nonblock {
			to.mu.Unlock()
			wake.Wake()
			if done > 0 {
				to.Queue.Notify(waiter.ReadableEvents)
				return done, nil
			}
			return 0, unix.EAGAIN
		}
		sleep := to.room.Prepare(ctx)
		to.mu.Unlock()
		wake.Wake()
		if done > 0 {
			to.Queue.Notify(waiter.ReadableEvents)
		}
		if err := w.block(sleep); err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		// A shutdown of our own sending side while we waited ends the write.
		e.mu.Lock()
		shut := e.sndShut
		e.mu.Unlock()
		if shut {
			if done > 0 {
				return done, nil
			}
			return 0, unix.EPIPE
		}
		to.mu.Lock()
	}
}

// ReadOptions are recvmsg's flags as they concern the queue.
type ReadOptions struct {
	Peek    bool
	WaitAll bool
	// Discard drops the data instead of copying it (TCP's MSG_TRUNC).
	Discard bool
	Wait
}

// ReadResult describes what Read returned.
type ReadResult struct {
	// N is the number of bytes copied to dst.
	N int
	// MsgLen is the full length of the record read (records only).
	MsgLen int
	// Truncated is set when a record was longer than dst.
	Truncated bool
	// Control holds the rights and credentials of the data read; the
	// caller owns Rights' references.
	Control Control
	// HasControl is set when the data read came with control data.
	HasControl bool
	// From is the sender's address of the (first) message read.
	From any
}

// Read takes data from e's receive queue into dst. Streams return what is
// there (all of dst with WaitAll) without crossing a message that carries
// rights; records return one message. At end of file Read returns 0; with
// nothing to read it waits as o allows.
func (e *Endpoint) Read(ctx vfs.Context, dst []byte, o ReadOptions) (ReadResult, error) {
	var res ReadResult
	e.mu.Lock()
	for {
		if len(e.msgs) > 0 {
			if e.record {
				res = e.readRecordLocked(dst, o)
			} else {
				e.readStreamLocked(dst, o, &res)
			}
			if !o.Peek {
				e.room.Broadcast()
			}
			done := !o.WaitAll || e.record || res.N == len(dst) || res.HasControl && len(res.Control.Rights) > 0 || o.Peek
			if done {
				e.mu.Unlock()
				if !o.Peek {
					e.notifyPeerWritable()
				}
				return res, nil
			}
		}
		if len(dst) == 0 && e.stream {
			e.mu.Unlock()
			return res, nil
		}
		if e.err != 0 && res.N == 0 {
			err := e.err
			e.err = 0
			e.mu.Unlock()
			return res, err
		}
		if e.rcvShut || e.state == Closed || (res.N > 0 && (e.err != 0 || o.Nonblock)) {
			e.mu.Unlock()
			if res.N > 0 {
				e.notifyPeerWritable()
			}
			return res, nil
		}
		if e.conn && e.state != Connected && res.N == 0 {
			e.mu.Unlock()
			if e.tcpLike {
				return res, unix.ENOTCONN
			}
			return res, unix.EINVAL // unix_stream_recvmsg
		}
		if o.Nonblock {
			e.mu.Unlock()
			return res, unix.EAGAIN
		}
		sleep := e.data.Prepare(ctx)
		e.mu.Unlock()
		if res.N > 0 {
			e.notifyPeerWritable()
		}
		if err := o.block(sleep); err != nil {
			if res.N > 0 {
				return res, nil
			}
			return res, err
		}
		e.mu.Lock()
	}
}

func (e *Endpoint) notifyPeerWritable() {
	e.mu.Lock()
	p := e.peer
	e.mu.Unlock()
	if p != nil {
		p.Queue.Notify(waiter.WritableEvents)
	}
	if !e.conn {
		// Datagram senders are not tracked; they poll the receiver.
		e.Queue.Notify(waiter.WritableEvents)
	}
}

// readRecordLocked reads the first record. e.mu is held.
func (e *Endpoint) readRecordLocked(dst []byte, o ReadOptions) ReadResult {
	m := e.msgs[0]
	res := ReadResult{MsgLen: len(m.Data), From: m.From, HasControl: true}
	res.N = copy(dst, m.Data)
	res.Truncated = res.N < len(m.Data)
	if o.Peek {
		res.Control = dupControl(m.Control)
		return res
	}
	res.Control = m.Control
	e.msgs[0] = nil
	e.msgs = e.msgs[1:]
	e.rqBytes -= len(m.Data)
	return res
}

// readStreamLocked appends stream bytes to res. e.mu is held.
func (e *Endpoint) readStreamLocked(dst []byte, o ReadOptions, res *ReadResult) {
	i := 0
	for res.N < len(dst) && i < len(e.msgs) {
		m := e.msgs[i]
		if res.N > 0 && (len(m.Control.Rights) > 0 || m.Control.Creds != res.Control.Creds) {
			break
		}
		if res.N == 0 {
			res.From = m.From
			res.HasControl = true
			res.Control.Creds = m.Control.Creds
			if o.Peek {
				res.Control.Rights = dupControl(m.Control).Rights
			} else {
				res.Control.Rights = m.Control.Rights
				m.Control.Rights = nil
			}
		}
		n := len(dst) - res.N
		n = min(n, len(m.Data))
		if !o.Discard {
			copy(dst[res.N:], m.Data[:n])
		}
		res.N += n
		if o.Peek {
			i++
			if len(res.Control.Rights) > 0 {
				break
			}
			continue
		}
		m.Data = m.Data[n:]
		e.rqBytes -= n
		if len(m.Data) == 0 {
			e.msgs[0] = nil
			e.msgs = e.msgs[1:]
		}
		if len(res.Control.Rights) > 0 {
			break
		}
	}
}

func dupControl(c Control) Control {
	for _, f := range c.Rights {
		f.IncRef()
	}
	return Control{Rights: append([]*vfs.FileDescription(nil), c.Rights...), Creds: c.Creds}
}

// Queued returns the bytes waiting to be read (FIONREAD: for records, the
// size of the next one).
func (e *Endpoint) Queued() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.record {
		if len(e.msgs) == 0 {
			return 0
		}
		return len(e.msgs[0].Data)
	}
	return e.rqBytes
}

// PeerQueued returns the bytes e has sent that its peer has not read
// (TIOCOUTQ).
func (e *Endpoint) PeerQueued() int {
	p := e.Peer()
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rqBytes
}

// Shutdown implements shutdown(2): rd stops reception, wr stops
// transmission; the peer sees the mirror image (our SHUT_WR is its end of
// file).
func (e *Endpoint) Shutdown(rd, wr bool) error {
	e.mu.Lock()
	if e.conn && e.state != Connected {
		listening := e.state == Listening
		e.mu.Unlock()
		if listening && rd {
			e.Close()
			return nil
		}
		return unix.ENOTCONN
	}
	e.rcvShut = e.rcvShut || rd
	e.sndShut = e.sndShut || wr
	e.data.Broadcast()
	e.room.Broadcast()
	p := e.peer
	e.mu.Unlock()
	e.Queue.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventRdHUp | waiter.EventHUp)
	if p != nil && e.conn {
		p.mu.Lock()
		if wr {
			p.rcvShut = true
		}
		if rd && !e.tcpLike {
			p.sndShut = true
		}
		p.data.Broadcast()
		p.room.Broadcast()
		p.mu.Unlock()
		p.Queue.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventRdHUp | waiter.EventHUp)
	}
	return nil
}

// Close releases the endpoint as the last close of its socket does. A
// connected peer reads end of file (ECONNRESET if e still held unread
// data) and may write no more; connections waiting on a listener are reset.
func (e *Endpoint) Close() { e.close(false) }

// Abort closes the endpoint with a reset, as close with SO_LINGER of zero
// seconds does: the peer gets ECONNRESET.
func (e *Endpoint) Abort() { e.close(true) }

func (e *Endpoint) close(abort bool) {
	e.mu.Lock()
	unread := len(e.msgs) > 0 || abort
	msgs := e.msgs
	backlog := e.backlog
	e.msgs, e.backlog, e.rqBytes = nil, nil, 0
	e.state = Closed
	e.rcvShut, e.sndShut = true, true
	e.data.Broadcast()
	e.room.Broadcast()
	p := e.peer
	e.mu.Unlock()
	for _, s := range backlog {
		s.Abort()
	}
	if p != nil && e.conn {
		p.mu.Lock()
		if p.peer == e {
			p.rcvShut = true
			if unread {
				p.err = unix.ECONNRESET
				p.sndShut = true
			} else if e.tcpLike && !p.sndShut {
				p.peerGone = true
			} else {
				p.sndShut = true
			}
		}
		p.data.Broadcast()
		p.room.Broadcast()
		p.mu.Unlock()
		p.Queue.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventRdHUp | waiter.EventHUp)
	}
	e.Queue.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp)
	for _, m := range msgs {
		m.Control.Release()
	}
}

// SetError sets the pending error SO_ERROR reports.
func (e *Endpoint) SetError(err unix.Errno) {
	e.mu.Lock()
	e.err = err
	e.mu.Unlock()
	e.Queue.Notify(waiter.EventErr)
}

// TakeError returns and clears the pending error (SO_ERROR).
func (e *Endpoint) TakeError() unix.Errno {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.err
	e.err = 0
	return err
}

// ShutdownState returns which directions are shut.
func (e *Endpoint) ShutdownState() (rd, wr bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rcvShut, e.sndShut
}

// Readiness returns the events of mask that are ready, as Linux's
// unix_poll and tcp_poll compute them.
func (e *Endpoint) Readiness(mask waiter.EventMask) waiter.EventMask {
	var ev waiter.EventMask
	e.mu.Lock()
	if e.err != 0 {
		ev |= waiter.EventErr
	}
	if e.rcvShut {
		ev |= waiter.ReadableEvents | waiter.EventRdHUp
	}
	if e.rcvShut && e.sndShut {
		ev |= waiter.EventHUp
	}
	if len(e.msgs) > 0 || e.state == Listening && len(e.backlog) > 0 {
		ev |= waiter.ReadableEvents
	}
	if e.conn && e.state == Unconnected {
		ev |= waiter.EventHUp
	}
	state, peer, shut := e.state, e.peer, e.sndShut || e.peerGone
	e.mu.Unlock()
	if state != Listening {
		writable := true
		if peer != nil && !shut {
			sndbuf := int(e.sndbuf.Load())
			peer.mu.Lock()
			_, fits := peer.roomLocked(sndbuf, 1)
			if peer.state == Closed {
				fits = true
			}
			peer.mu.Unlock()
			writable = fits
		}
		if writable {
			ev |= waiter.WritableEvents
		}
	}
	return ev & (mask | waiter.AlwaysReported)
}
