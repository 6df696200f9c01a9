package pipe

// tee(2): bytes are duplicated from one pipe into another without being
// consumed. The two pipes' locks are never held together: what is copied
// is what the input held when it was looked at, written to the output as
// one write (a concurrent reader of the input may consume those bytes
// meanwhile, which Linux's tee, holding both pipes, would not allow; no
// program can tell the difference without racing itself).
//
// Lock order: Pipe.mu of one pipe at a time.

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/syserr"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Tee copies up to n bytes from the front of in's buffer to out, without
// consuming them, and returns how many it copied: 0 if in is empty and has
// no writers. It blocks until in has data and out has room, unless
// nonblock is set (then EAGAIN); it returns ErrBrokenPipe if out has no
// reader, and syserr.ERESTARTSYS when interrupted.
func Tee(ctx vfs.Context, in, out *File, n int, nonblock bool) (int, error) {
	if !in.readable || !out.writable {
		return 0, unix.EBADF
	}
	if in.pipe == out.pipe {
		return 0, unix.EINVAL
	}
	if n <= 0 {
		return 0, nil
	}
	buf, err := in.pipe.peek(ctx, n, nonblock)
	if err != nil || len(buf) == 0 {
		return 0, err
	}
	return out.pipe.writeSome(ctx, buf, nonblock)
}

// peek returns a copy of up to n bytes from the front of the buffer,
// waiting for some (nil at EOF).
func (p *Pipe) peek(ctx vfs.Context, n int, nonblock bool) ([]byte, error) {
	p.mu.Lock()
	for p.size == 0 {
		if p.writers == 0 {
			p.mu.Unlock()
			return nil, nil
		}
		if nonblock {
			p.mu.Unlock()
			return nil, unix.EAGAIN
		}
		if err := p.waitLocked(ctx, &p.readCh); err != nil {
			return nil, err
		}
	}
	buf := make([]byte, min(n, p.size))
	p.copyOutLocked(buf, false)
	p.mu.Unlock()
	return buf, nil
}

// writeSome writes as much of src as fits once the pipe has room, without
// PIPE_BUF atomicity (tee moves whole buffers, and may move fewer bytes
// than asked).
func (p *Pipe) writeSome(ctx vfs.Context, src []byte, nonblock bool) (int, error) {
	p.mu.Lock()
	for {
		if p.readers == 0 {
			p.mu.Unlock()
			return 0, ErrBrokenPipe
		}
		if p.size < p.capacity {
			break
		}
		if nonblock {
			p.mu.Unlock()
			return 0, unix.EAGAIN
		}
		if err := p.waitLocked(ctx, &p.writeCh); err != nil {
			return 0, err
		}
	}
	n := p.copyInLocked(src)
	p.wakeLocked(&p.readCh)
	p.mu.Unlock()
	p.queue.Notify(waiter.ReadableEvents)
	return n, nil
}

// waitLocked waits for a wakeup on *ch with p.mu released, and takes it
// again. Interrupted, it returns syserr.ERESTARTSYS with p.mu released.
func (p *Pipe) waitLocked(ctx vfs.Context, ch *chan struct{}) error {
	c := p.waitChLocked(ch)
	p.mu.Unlock()
	select {
	case <-c:
	case <-ctx.Interrupted():
		return syserr.ERESTARTSYS
	}
	p.mu.Lock()
	return nil
}
