package pipe

// tee(2): bytes are duplicated from one pipe into another without being
// consumed. Both pipes are locked for the copy, so what is copied is the
// front of the input at that moment and lands in the output as one write.
//
// Lock order: the Pipe.mu of two pipes is taken lower inode number first;
// no other lock is taken with them.

import (
	"golang.org/x/sys/unix"

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
	src, dst := in.pipe, out.pipe
	for {
		lockBoth(src, dst)
		var cond *waiter.Cond
		switch {
		case src.size == 0 && src.writers == 0:
			unlockBoth(src, dst)
			return 0, nil
		case src.size == 0:
			// As Linux, the input is waited for before the output
			// is looked at.
			cond = &src.readable
		case dst.readers == 0:
			unlockBoth(src, dst)
			return 0, ErrBrokenPipe
		case dst.size == dst.capacity:
			cond = &dst.writable
		default:
			buf := make([]byte, min(n, src.size, dst.capacity-dst.size))
			src.copyOutLocked(buf, false)
			copied := dst.copyInLocked(buf)
			dst.readable.Broadcast()
			unlockBoth(src, dst)
			dst.queue.Notify(waiter.ReadableEvents)
			return copied, nil
		}
		if nonblock {
			unlockBoth(src, dst)
			return 0, unix.EAGAIN
		}
		sleep := cond.Prepare(ctx)
		unlockBoth(src, dst)
		if err := sleep.Restartable(); err != nil {
			return 0, err
		}
	}
}

// lockBoth locks two different pipes in the order of their inode numbers.
func lockBoth(a, b *Pipe) {
	if a.ino > b.ino {
		a, b = b, a
	}
	a.mu.Lock()
	b.mu.Lock()
}

// unlockBoth unlocks what lockBoth locked.
func unlockBoth(a, b *Pipe) {
	a.mu.Unlock()
	b.mu.Unlock()
}
