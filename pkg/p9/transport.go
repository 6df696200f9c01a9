package p9

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Lock order: transport.sendMu is a leaf lock. The receive side has no lock:
// only one goroutine (the client's or server's reader) calls recv.

// maxFDsPerRead bounds the descriptors accepted by one recvmsg.
const maxFDsPerRead = 4

// transport frames 9P messages over a connected stream socket. Over a
// Unix socket (stream or seqpacket) it also carries file descriptors as
// SCM_RIGHTS; over any other stream (TCP, as diod and its tools use) it
// carries none, and a descriptor offered for sending is simply not sent:
// donation is an optional extension the peer must do without.
//
// A sender attaches descriptors only to the sendmsg call that starts a
// message and carries it whole (or its first part). Linux delivers
// descriptors with the recvmsg call that first reads bytes of the segment
// they were sent with, and ends that recvmsg after such a segment. So the
// descriptors that one recvmsg returns belong to the last message that
// starts within the bytes that recvmsg returned.
type transport struct {
	conn net.Conn
	uc   *net.UnixConn // conn as a Unix socket, or nil

	sendMu sync.Mutex

	// Receive state, owned by the single reader.
	buf     []byte // buf[start:end] holds received, unparsed bytes
	start   int
	end     int
	pos     uint64     // stream offset of buf[start]
	fdReads []fdRecord // descriptors waiting for their message
	oob     []byte
}

// fdRecord is the descriptors of one recvmsg and the stream range
// [begin, end) of the bytes it returned.
type fdRecord struct {
	begin, end uint64
	fds        []int
}

// newTransport wraps f, a connected Unix or TCP socket. f may be closed by
// the caller afterwards: the transport holds its own duplicate.
func newTransport(f *os.File, bufSize int) (*transport, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("p9: using socket fd %d: %w", f.Fd(), err)
	}
	t := &transport{
		conn: c,
		buf:  make([]byte, bufSize),
	}
	switch c := c.(type) {
	case *net.UnixConn:
		t.uc = c
		t.oob = make([]byte, unix.CmsgSpace(maxFDsPerRead*4))
	case *net.TCPConn:
		// 9P replies are small and latency-bound.
		c.SetNoDelay(true)
	default:
		c.Close()
		return nil, fmt.Errorf("p9: fd %d is a %T, not a Unix or TCP socket", f.Fd(), c)
	}
	return t, nil
}

// close closes the socket; a blocked recv returns an error.
func (t *transport) close() error {
	return t.conn.Close()
}

// send writes one complete message, with fd (if not nil) attached.
func (t *transport) send(msg []byte, fd *os.File) error {
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	if t.uc == nil {
		// No descriptors over this stream; fd is dropped (see transport).
		if _, err := t.conn.Write(msg); err != nil {
			return fmt.Errorf("p9: sending message: %w", err)
		}
		return nil
	}
	var oob []byte
	if fd != nil {
		oob = unix.UnixRights(int(fd.Fd()))
	}
	for len(msg) > 0 {
		n, _, err := t.uc.WriteMsgUnix(msg, oob, nil)
		if err != nil {
			return fmt.Errorf("p9: sending message: %w", err)
		}
		msg = msg[n:]
		oob = nil
	}
	return nil
}

// recv returns the next complete message and the descriptors sent with it.
// The message is a fresh slice owned by the caller. maxSize bounds the
// size field of an acceptable message.
func (t *transport) recv(maxSize uint32) ([]byte, []int, error) {
	for {
		if avail := t.end - t.start; avail >= 4 {
			size := binary.LittleEndian.Uint32(t.buf[t.start:])
			if size < HeaderSize || size > maxSize {
				return nil, nil, fmt.Errorf("p9: received message size %d outside [%d, %d]: %w", size, HeaderSize, maxSize, ErrBadSize)
			}
			if uint32(avail) >= size {
				msg := make([]byte, size)
				copy(msg, t.buf[t.start:])
				fds := t.takeFDs(t.pos, uint64(size))
				t.start += int(size)
				t.pos += uint64(size)
				return msg, fds, nil
			}
			if int(size) > len(t.buf) {
				nb := make([]byte, size)
				t.end = copy(nb, t.buf[t.start:t.end])
				t.start = 0
				t.buf = nb
			}
		}
		if t.start > 0 && (t.start == t.end || len(t.buf)-t.end < len(t.buf)/4) {
			t.end = copy(t.buf, t.buf[t.start:t.end])
			t.start = 0
		}
		var n, oobn int
		var err error
		if t.uc != nil {
			n, oobn, _, _, err = t.uc.ReadMsgUnix(t.buf[t.end:], t.oob)
		} else {
			n, err = t.conn.Read(t.buf[t.end:])
		}
		if oobn > 0 {
			if fds := parseRights(t.oob[:oobn]); len(fds) > 0 {
				begin := t.pos + uint64(t.end-t.start)
				t.fdReads = append(t.fdReads, fdRecord{begin: begin, end: begin + uint64(n), fds: fds})
			}
		}
		if n == 0 && err == nil {
			err = io.EOF
		}
		if err != nil {
			return nil, nil, fmt.Errorf("p9: receiving message: %w", err)
		}
		t.end += n
	}
}

// takeFDs returns the descriptors that belong to the message at stream
// offset pos of the given size, and closes any that can no longer belong
// to a message.
func (t *transport) takeFDs(pos, size uint64) []int {
	var fds []int
	for len(t.fdReads) > 0 {
		r := t.fdReads[0]
		if r.begin > pos {
			break
		}
		if pos < r.end && pos+size >= r.end {
			fds = append(fds, r.fds...)
			t.fdReads = t.fdReads[1:]
			continue
		}
		if pos+size < r.end {
			break // a later message starts within r
		}
		// No message starts in r: the peer broke the framing rule.
		closeFDs(r.fds)
		t.fdReads = t.fdReads[1:]
	}
	return fds
}

// parseRights extracts SCM_RIGHTS descriptors from control messages.
func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		r, err := unix.ParseUnixRights(&msgs[i])
		if err == nil {
			fds = append(fds, r...)
		}
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	return fds
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// errClosed reports use of a closed client.
var errClosed = errors.New("p9: connection closed")
