// Package pipe owns pipes and FIFOs as pipe(7) and fifo(7) describe them: a
// bounded byte buffer shared by a read end and a write end, with blocking,
// non-blocking and atomic-write semantics, readiness for poll and epoll, and
// the ioctl and fcntl controls (FIONREAD, F_GETPIPE_SZ, F_SETPIPE_SZ) that
// apply to them.
//
// pipe(2) uses NewPipe, which returns the two open file descriptions. A file
// system that has named FIFOs keeps one Pipe per FIFO inode (New) and calls
// Pipe.Open from the inode's Open, which blocks as fifo(7) requires.
//
// # SIGPIPE
//
// A write to a pipe that has no reader left returns unix.EPIPE (see
// ErrBrokenPipe). Every EPIPE from this package means the system call layer
// must also send SIGPIPE to the writing thread, as write(2) requires.
//
// Lock order: Pipe.mu > waiter.Queue.mu; tee.go holds the Pipe.mu of two
// pipes, lower inode number first. Waiter queues are notified only after
// Pipe.mu is released, so callbacks may call Readiness.
package pipe

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Sizes from pipe(7).
const (
	// PipeBuf is PIPE_BUF: writes of at most this many bytes are atomic.
	PipeBuf = 4096
	// DefaultCapacity is the capacity of a new pipe (16 pages).
	DefaultCapacity = 16 * pageSize
	// MinCapacity is the smallest capacity F_SETPIPE_SZ sets (one page).
	MinCapacity = pageSize
	// MaxCapacity is the largest capacity F_SETPIPE_SZ sets, Linux's default
	// /proc/sys/fs/pipe-max-size.
	MaxCapacity = 1 << 20

	pageSize = 4096
)

// ErrBrokenPipe is what a write returns when the pipe has no reader. The
// system call layer sends SIGPIPE to the writer whenever it sees it.
const ErrBrokenPipe = unix.EPIPE

// pipefsMinor is the device minor stat reports for pipes, standing in for
// Linux's anonymous pipefs superblock.
const pipefsMinor = 12

// lastIno is the last pipe inode number handed out.
var lastIno atomic.Uint64

// Pipe is the buffer and bookkeeping shared by all ends of one pipe or FIFO.
// The zero value is not usable; create pipes with New or NewPipe.
type Pipe struct {
	// Immutable after New.
	ino   uint64
	uid   uint32
	gid   uint32
	btime time.Time

	// queue holds poll/epoll waiters of every end. It is notified without
	// mu held.
	queue waiter.Queue

	mu sync.Mutex
	// buf is a ring buffer of len capacity, allocated on the first write;
	// data starts at head and is size bytes long.
	buf      []byte
	capacity int
	head     int
	size     int
	// readers and writers count the open ends (an O_RDWR FIFO open counts
	// as both).
	readers int
	writers int
	// rOpens and wOpens count every open of a read or write end ever made;
	// FIFO opens wait for them to change, so a peer that opens and closes
	// again at once still lets a blocked open through.
	rOpens uint64
	wOpens uint64
	// readable, writable and opened wake the threads blocked in read,
	// write and FIFO open.
	readable waiter.Cond
	writable waiter.Cond
	opened   waiter.Cond
}

// New returns a pipe with no ends open, for a FIFO inode to attach ends to
// with Open. capacity 0 means DefaultCapacity; other values are rounded as
// SetCapacity rounds them. ctx supplies the owner stat reports; it may be nil
// (owner root).
func New(ctx vfs.Context, capacity int) *Pipe {
	p := &Pipe{
		ino:      lastIno.Add(1),
		btime:    time.Now(),
		capacity: DefaultCapacity,
	}
	if ctx != nil {
		if c := ctx.Credentials(); c != nil {
			p.uid, p.gid = c.EffectiveUID, c.EffectiveGID
		}
	}
	if capacity > 0 {
		if c, ok := roundCapacity(uint64(capacity)); ok {
			p.capacity = c
		}
	}
	return p
}

// NewPipe creates an anonymous pipe as pipe2(2) does and returns its read
// and write ends, each with one reference. flags may hold O_NONBLOCK and
// O_CLOEXEC (the latter is the FD table's business and is dropped here);
// capacity is as for New.
func NewPipe(ctx vfs.Context, capacity int, flags uint32) (r, w *vfs.FileDescription) {
	p := New(ctx, capacity)
	status := flags & unix.O_NONBLOCK
	p.mu.Lock()
	p.readers, p.writers = 1, 1
	p.rOpens, p.wOpens = 1, 1
	p.mu.Unlock()
	// wSeen 0: the read end has had its writer, so it hangs up when the
	// writer goes.
	rf := &File{pipe: p, readable: true, openFlags: unix.O_RDONLY | status}
	wf := &File{pipe: p, writable: true, openFlags: unix.O_WRONLY | status}
	r = vfs.NewFileDescription(rf, vfs.VirtualDentry{}, unix.O_RDONLY|status)
	w = vfs.NewFileDescription(wf, vfs.VirtualDentry{}, unix.O_WRONLY|status)
	rf.Bind(r)
	wf.Bind(w)
	return r, w
}

// roundCapacity rounds n up to a power-of-two number of pages within
// [MinCapacity, MaxCapacity]; ok is false if n exceeds MaxCapacity.
func roundCapacity(n uint64) (int, bool) {
	if n > MaxCapacity {
		return 0, false
	}
	c := uint64(MinCapacity)
	for c < n {
		c <<= 1
	}
	return int(c), true
}

// Ino returns the pipe's inode number.
func (p *Pipe) Ino() uint64 { return p.ino }

// Capacity returns the buffer size in bytes, as F_GETPIPE_SZ reports it.
func (p *Pipe) Capacity() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.capacity
}

// SetCapacity implements F_SETPIPE_SZ: it rounds n up to a power-of-two
// number of pages, at least MinCapacity, and returns the new capacity. It
// fails with EPERM above MaxCapacity (an unprivileged caller over
// pipe-max-size in Linux) and EBUSY if the pipe holds more data than the new
// capacity.
func (p *Pipe) SetCapacity(n uint64) (int, error) {
	c, ok := roundCapacity(n)
	if !ok {
		return 0, unix.EPERM
	}
	p.mu.Lock()
	if p.size > c {
		p.mu.Unlock()
		return 0, unix.EBUSY
	}
	grew := c > p.capacity
	if p.buf != nil {
		nb := make([]byte, c)
		p.copyOutLocked(nb[:p.size], false)
		p.buf = nb
		p.head = 0
	}
	p.capacity = c
	if grew {
		p.writable.Broadcast()
	}
	p.mu.Unlock()
	if grew {
		p.queue.Notify(waiter.WritableEvents)
	}
	return c, nil
}

// Buffered returns the number of bytes waiting to be read (FIONREAD).
func (p *Pipe) Buffered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}

// Stat returns the attributes of the pipe: S_IFIFO|0600, its inode number
// and owner.
func (p *Pipe) Stat() unix.Statx_t {
	ts := unix.StatxTimestamp{Sec: p.btime.Unix(), Nsec: uint32(p.btime.Nanosecond())}
	return unix.Statx_t{
		Mask:      unix.STATX_BASIC_STATS,
		Blksize:   pageSize,
		Nlink:     1,
		Uid:       p.uid,
		Gid:       p.gid,
		Mode:      unix.S_IFIFO | 0o600,
		Ino:       p.ino,
		Atime:     ts,
		Ctime:     ts,
		Mtime:     ts,
		Dev_minor: pipefsMinor,
	}
}

// waitLocked waits for a Broadcast of c with p.mu released, and takes it
// again. Interrupted, it returns syserr.ERESTARTSYS with p.mu released.
func (p *Pipe) waitLocked(ctx vfs.Context, c *waiter.Cond) error {
	sleep := c.Prepare(ctx)
	p.mu.Unlock()
	if err := sleep.Restartable(); err != nil {
		return err
	}
	p.mu.Lock()
	return nil
}

// copyOutLocked copies min(len(dst), p.size) bytes from the front of the
// buffer into dst, consuming them if consume is set. p.mu must be held.
func (p *Pipe) copyOutLocked(dst []byte, consume bool) int {
	n := min(len(dst), p.size)
	first := min(n, p.capacity-p.head)
	copy(dst, p.buf[p.head:p.head+first])
	copy(dst[first:n], p.buf[:n-first])
	if consume {
		p.head = (p.head + n) % p.capacity
		p.size -= n
		if p.size == 0 {
			p.head = 0
		}
	}
	return n
}

// copyInLocked appends as much of src as fits. p.mu must be held.
func (p *Pipe) copyInLocked(src []byte) int {
	if p.buf == nil {
		p.buf = make([]byte, p.capacity)
	}
	n := min(len(src), p.capacity-p.size)
	tail := (p.head + p.size) % p.capacity
	first := min(n, p.capacity-tail)
	copy(p.buf[tail:], src[:first])
	copy(p.buf, src[first:n])
	p.size += n
	return n
}

// read implements read(2) on a read end.
func (p *Pipe) read(ctx vfs.Context, dst []byte, nonblock bool) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	p.mu.Lock()
	for {
		if p.size > 0 {
			n := p.copyOutLocked(dst, true)
			wake := p.writable.Take()
			p.mu.Unlock()
			wake.Wake()
			p.queue.Notify(waiter.WritableEvents)
			return n, nil
		}
		if p.writers == 0 {
			p.mu.Unlock()
			return 0, nil
		}
		if nonblock {
			p.mu.Unlock()
			return 0, unix.EAGAIN
		}
		if err := p.waitLocked(ctx, &p.readable); err != nil {
			return 0, err
		}
	}
}

// write implements write(2) on a write end.
func (p *Pipe) write(ctx vfs.Context, src []byte, nonblock bool) (int, error) {
	if len(src) == 0 {
		return 0, nil
	}
	atomicWrite := len(src) <= PipeBuf
	done := 0
	p.mu.Lock()
	for {
		if p.readers == 0 {
			p.mu.Unlock()
			return done, ErrBrokenPipe
		}
		// Readers are woken once the lock is released (see
		// waiter.Cond.Take).
		var wake waiter.Wakeup
		wrote := false
		if free := p.capacity - p.size; free > 0 && (!atomicWrite || free >= len(src)) {
			done += p.copyInLocked(src[done:])
			wake = p.readable.Take()
			wrote = true
		}
		if done == len(src) {
			p.mu.Unlock()
			wake.Wake()
			p.queue.Notify(waiter.ReadableEvents)
			return done, nil
		}
		if nonblock {
			p.mu.Unlock()
			wake.Wake()
			if done > 0 {
				p.queue.Notify(waiter.ReadableEvents)
				return done, nil
			}
			return 0, unix.EAGAIN
		}
		sleep := p.writable.Prepare(ctx)
		p.mu.Unlock()
		wake.Wake()
		if wrote {
			p.queue.Notify(waiter.ReadableEvents)
		}
		if err := sleep.Restartable(); err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		p.mu.Lock()
	}
}

// readiness returns the events ready for an end that reads and/or writes.
// wSeen is the count of write opens the reader saw when it opened.
func (p *Pipe) readiness(mask waiter.EventMask, readable, writable bool, wSeen uint64) waiter.EventMask {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ev waiter.EventMask
	if readable {
		if p.size > 0 {
			ev |= waiter.ReadableEvents
		}
		// A FIFO reader that has never had a writer is not hung up
		// (Linux compares the open counter in the same way).
		if p.writers == 0 && p.wOpens != wSeen {
			ev |= waiter.EventHUp
		}
	}
	if writable {
		if p.capacity-p.size >= PipeBuf {
			ev |= waiter.WritableEvents
		}
		if p.readers == 0 {
			ev |= waiter.EventErr
		}
	}
	return ev & (mask | waiter.AlwaysReported)
}

// release drops one end.
func (p *Pipe) release(readable, writable bool) {
	var ev waiter.EventMask
	p.mu.Lock()
	if readable {
		p.readers--
		if p.readers == 0 {
			p.writable.Broadcast()
			ev |= waiter.EventErr | waiter.WritableEvents
		}
	}
	if writable {
		p.writers--
		if p.writers == 0 {
			p.readable.Broadcast()
			ev |= waiter.EventHUp | waiter.ReadableEvents
		}
	}
	p.mu.Unlock()
	if ev != 0 {
		p.queue.Notify(ev)
	}
}

// Open attaches a new end to a FIFO as open(2) does, with flags the open
// flags (the access mode and O_NONBLOCK matter), following fifo(7):
//
//   - O_RDONLY blocks until a writer has opened (at once with O_NONBLOCK);
//   - O_WRONLY blocks until a reader has opened; with O_NONBLOCK and no
//     reader it fails with ENXIO;
//   - O_RDWR never blocks (Linux behaviour; POSIX leaves it undefined).
//
// An interrupted blocking open returns syserr.ERESTARTSYS and leaves no end
// attached. The returned File is a vfs.FileImpl; call Bind with its
// FileDescription so later F_SETFL changes of O_NONBLOCK take effect.
func (p *Pipe) Open(ctx vfs.Context, flags uint32) (*File, error) {
	f := &File{pipe: p, openFlags: flags}
	nonblock := flags&unix.O_NONBLOCK != 0
	p.mu.Lock()
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		f.readable = true
		p.readers++
		p.rOpens++
		f.wSeen = p.wOpens
		p.opened.Broadcast()
		if !nonblock {
			if err := p.waitOpenLocked(ctx, func() bool { return p.writers > 0 || p.wOpens != f.wSeen }); err != nil {
				p.mu.Unlock()
				p.release(true, false)
				return nil, err
			}
		}
	case unix.O_WRONLY:
		if nonblock && p.readers == 0 {
			p.mu.Unlock()
			return nil, unix.ENXIO
		}
		f.writable = true
		p.writers++
		p.wOpens++
		rSeen := p.rOpens
		p.opened.Broadcast()
		p.readable.Broadcast()
		if !nonblock {
			if err := p.waitOpenLocked(ctx, func() bool { return p.readers > 0 || p.rOpens != rSeen }); err != nil {
				p.mu.Unlock()
				p.release(false, true)
				return nil, err
			}
		}
	case unix.O_RDWR:
		f.readable, f.writable = true, true
		p.readers++
		p.writers++
		p.rOpens++
		p.wOpens++
		f.wSeen = p.wOpens
		p.opened.Broadcast()
		p.readable.Broadcast()
	default:
		p.mu.Unlock()
		return nil, unix.EINVAL
	}
	p.mu.Unlock()
	return f, nil
}

// waitOpenLocked blocks, with p.mu held on entry and on return, until ok()
// holds or ctx is interrupted.
func (p *Pipe) waitOpenLocked(ctx vfs.Context, ok func() bool) error {
	for !ok() {
		sleep := p.opened.Prepare(ctx)
		p.mu.Unlock()
		err := sleep.Restartable()
		p.mu.Lock()
		if err != nil {
			return err
		}
	}
	return nil
}

// File is one open end of a pipe or FIFO: a read end, a write end, or both
// for a FIFO opened O_RDWR. It implements vfs.FileImpl and waiter.Waitable.
type File struct {
	vfs.FileDefaults

	pipe     *Pipe
	readable bool
	writable bool
	// openFlags are the open flags, used for O_NONBLOCK until Bind.
	openFlags uint32
	// wSeen is pipe.wOpens when a read end opened.
	wSeen uint64
	// fd is the file description, once bound; its status flags are read
	// on every operation so F_SETFL takes effect at once.
	fd atomic.Pointer[vfs.FileDescription]
}

var (
	_ vfs.FileImpl    = (*File)(nil)
	_ waiter.Waitable = (*File)(nil)
)

// Bind tells f its file description, whose status flags (O_NONBLOCK) it then
// follows. NewPipe binds its ends; a FIFO file system binds what Open
// returned once vfs has wrapped it.
func (f *File) Bind(fd *vfs.FileDescription) { f.fd.Store(fd) }

// Pipe returns the pipe f is an end of.
func (f *File) Pipe() *Pipe { return f.pipe }

// nonblocking reports whether O_NONBLOCK is set now.
func (f *File) nonblocking() bool {
	flags := f.openFlags
	if fd := f.fd.Load(); fd != nil {
		flags = fd.Flags()
	}
	return flags&unix.O_NONBLOCK != 0
}

// Release detaches the end, waking the other side if it was the last
// reader or writer.
func (f *File) Release() { f.pipe.release(f.readable, f.writable) }

// Read reads what the pipe holds, up to len(p), blocking while it is empty
// and has writers. It returns 0 at EOF (empty, no writer), EAGAIN instead of
// blocking under O_NONBLOCK, and syserr.ERESTARTSYS when interrupted.
func (f *File) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	if !f.readable {
		return 0, unix.EBADF
	}
	return f.pipe.read(ctx, p, f.nonblocking())
}

// Write writes p. Writes of at most PipeBuf bytes are atomic: they wait
// until that much room is free and are never interleaved with other writes.
// Larger writes may be split and block until all is written; if interrupted
// or made non-blocking they return the partial count. With no reader Write
// returns ErrBrokenPipe (EPIPE, plus SIGPIPE from the syscall layer), with
// the count written before the last reader left, if any.
func (f *File) Write(ctx vfs.Context, p []byte, _ int64) (int, error) {
	if !f.writable {
		return 0, unix.EBADF
	}
	return f.pipe.write(ctx, p, f.nonblocking())
}

// Seekable returns false: pipes are streams (lseek gives ESPIPE).
func (f *File) Seekable() bool { return false }

// Ioctl implements FIONREAD, copying out the buffered byte count as an int.
func (f *File) Ioctl(ctx vfs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case unix.TIOCINQ: // FIONREAD
		n := uint32(f.pipe.Buffered())
		b := []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
		if _, err := ctx.CopyOut(arg, b); err != nil {
			return 0, err
		}
		return 0, nil
	}
	return 0, unix.ENOTTY
}

// Stat returns the pipe's attributes (vfs uses it for anonymous pipes).
func (f *File) Stat(vfs.Context) (unix.Statx_t, error) { return f.pipe.Stat(), nil }

// Readiness returns the ready events among mask: EventIn when data is
// buffered, EventHUp when no writer is left (read ends), EventOut when at
// least PipeBuf bytes are free, EventErr when no reader is left (write ends).
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	return f.pipe.readiness(mask, f.readable, f.writable, f.wSeen)
}

// EventRegister adds e to the pipe's waiter queue.
func (f *File) EventRegister(e *waiter.Entry) { f.pipe.queue.EventRegister(e) }

// EventUnregister removes e from the pipe's waiter queue.
func (f *File) EventUnregister(e *waiter.Entry) { f.pipe.queue.EventUnregister(e) }
