package linux

import (
	"sync"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

// maxRW is the most one read or write transfers, as Linux's MAX_RW_COUNT.
const maxRW = 0x7ffff000

// ioChunk bounds the Sentry-side buffer of one I/O step.
const ioChunk = 1 << 20

// ioBufs recycles ioChunk-sized buffers: a fresh megabyte per read or
// write costs its zeroing and garbage collection, which dominated large
// sequential I/O.
var ioBufs = sync.Pool{New: func() any { return new([ioChunk]byte) }}

// ioBuffer returns a buffer of n <= ioChunk bytes and the function that
// gives it back.
func ioBuffer(n uint64) ([]byte, func()) {
	if n < 64<<10 {
		return make([]byte, n), func() {}
	}
	b := ioBufs.Get().(*[ioChunk]byte)
	return b[:n], func() { ioBufs.Put(b) }
}

// readToUser reads up to n bytes with read and copies them to addr, in
// chunks so a huge length costs no huge buffer. It stops at a short read.
//
// A stream (pipe, socket, terminal) is read once: a second read could block
// after the first returned data.
func readToUser(t *kernel.Task, addr uintptr, n uint64, stream, direct bool, read func(p []byte, done int64) (int, error)) (int64, error) {
	if n > maxRW {
		n = maxRW
	}
	var done int64
	if direct {
		return readDirect(t, addr, n, read)
	}
	buf, put := ioBuffer(min(n, ioChunk))
	defer put()
	for uint64(done) < n {
		want := min(n-uint64(done), uint64(len(buf)))
		got, err := read(buf[:want], done)
		if got > 0 {
			c, cerr := t.CopyOut(addr+uintptr(done), buf[:got])
			done += int64(c)
			if cerr != nil {
				if done > 0 {
					return done, nil
				}
				return 0, cerr
			}
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		if uint64(got) < want || stream {
			break
		}
	}
	return done, nil
}

// readDirect is readToUser for files whose reads may go straight into
// application memory (vfs.DirectReader): no Sentry buffer, one copy as on
// Linux. The address space is locked for at most ioChunk bytes at a time.
func readDirect(t *kernel.Task, addr uintptr, n uint64, read func(p []byte, done int64) (int, error)) (int64, error) {
	var done int64
	for uint64(done) < n {
		want := int(min(n-uint64(done), ioChunk))
		var rerr error
		short := false
		c, err := t.MemoryManager().FillOut(addr+uintptr(done), want, func(b []byte) (int, bool) {
			got, err := read(b, done)
			got = max(got, 0)
			done += int64(got)
			rerr, short = err, got < len(b)
			return got, err != nil || short
		})
		if rerr == nil && err != nil && c < want && !short {
			rerr = err // EFAULT: the buffer ends before n
		}
		if rerr != nil {
			if done > 0 {
				return done, nil
			}
			return 0, rerr
		}
		if short {
			break
		}
	}
	return done, nil
}

// writeFromUser copies up to n bytes from addr and writes them with write.
func writeFromUser(t *kernel.Task, addr uintptr, n uint64, write func(p []byte, done int64) (int, error)) (int64, error) {
	if n > maxRW {
		n = maxRW
	}
	var done int64
	buf, put := ioBuffer(min(n, ioChunk))
	defer put()
	for uint64(done) < n {
		want := min(n-uint64(done), uint64(len(buf)))
		c, cerr := t.CopyIn(addr+uintptr(done), buf[:want])
		if c == 0 && cerr != nil {
			if done > 0 {
				return done, nil
			}
			return 0, cerr
		}
		got, err := write(buf[:c], done)
		done += int64(got)
		if err == unix.EPIPE {
			// Writing to a pipe or socket with no reader raises SIGPIPE.
			t.SendSignal(kernel.SignalInfo{Signo: int32(unix.SIGPIPE), Code: kernel.SIKernel})
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		if got < c || cerr != nil {
			break
		}
	}
	return done, nil
}

// readsDirectly reports whether f's reads may go straight into
// application memory (vfs.DirectReader).
func readsDirectly(f *vfs.FileDescription) bool {
	d, ok := f.Impl().(vfs.DirectReader)
	return ok && d.ReadsDirectly()
}

func fileForRead(t *kernel.Task, fd int32) (*vfs.FileDescription, error) {
	f, err := t.GetFile(fd)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Read implements read(2).
func Read(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := fileForRead(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if int64(a[2]) < 0 {
		return 0, unix.EINVAL
	}
	if f.Impl().Seekable() {
		// Read at the offset and consume only what reached the application.
		n, err := f.WithOffset(func(off int64) (int64, error) {
			return readToUser(t, a[1], uint64(a[2]), false, readsDirectly(f), func(p []byte, done int64) (int, error) { return f.PRead(t, p, off+done) })
		})
		return uintptr(n), err
	}
	n, err := readToUser(t, a[1], uint64(a[2]), true, false, func(p []byte, _ int64) (int, error) { return f.Read(t, p) })
	return uintptr(n), err
}

// Pread64 implements pread64(2).
func Pread64(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := fileForRead(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	off := argInt64(a[3])
	if off < 0 || int64(a[2]) < 0 {
		return 0, unix.EINVAL
	}
	n, err := readToUser(t, a[1], uint64(a[2]), false, readsDirectly(f), func(p []byte, done int64) (int, error) { return f.PRead(t, p, off+done) })
	return uintptr(n), err
}

// Write implements write(2).
func Write(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if int64(a[2]) < 0 {
		return 0, unix.EINVAL
	}
	n, err := writeFromUser(t, a[1], uint64(a[2]), func(p []byte, _ int64) (int, error) { return f.Write(t, p) })
	return uintptr(n), err
}

// Pwrite64 implements pwrite64(2).
func Pwrite64(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	off := argInt64(a[3])
	if off < 0 || int64(a[2]) < 0 {
		return 0, unix.EINVAL
	}
	n, err := writeFromUser(t, a[1], uint64(a[2]), func(p []byte, done int64) (int, error) { return f.PWrite(t, p, off+done) })
	return uintptr(n), err
}

// iovec is struct iovec.
type iovec struct {
	Base uintptr
	Len  uint64
}

// copyInIovecs reads an iovec array, with readv(2)'s checks.
func copyInIovecs(t *kernel.Task, addr uintptr, count int32) ([]iovec, error) {
	if count < 0 || count > uioMaxIOV {
		return nil, unix.EINVAL
	}
	iovs := make([]iovec, count)
	var total uint64
	for i := range iovs {
		if err := copyInObj(t, addr+uintptr(i)*16, &iovs[i]); err != nil {
			return nil, err
		}
		if int64(iovs[i].Len) < 0 {
			return nil, unix.EINVAL
		}
		total += iovs[i].Len
		if total > 1<<63-1 {
			return nil, unix.EINVAL
		}
	}
	return iovs, nil
}

// vectorIO runs a read or write over each iovec in turn, stopping at the
// first short transfer, as readv/writev do. A stream is read with one
// read into a buffer scattered over the iovecs, so that data that is
// available is never left behind by a second read that would block.
func vectorIO(t *kernel.Task, iovs []iovec, write, stream bool, op func(p []byte, done int64) (int, error)) (uintptr, error) {
	if stream && !write {
		var total uint64
		for _, iov := range iovs {
			total += iov.Len
		}
		buf := make([]byte, min(total, maxRW, ioChunk))
		n, err := op(buf, 0)
		if n == 0 {
			return 0, err
		}
		copied := 0
		for _, iov := range iovs {
			if copied == n {
				break
			}
			c := min(uint64(n-copied), iov.Len)
			w, cerr := t.CopyOut(iov.Base, buf[copied:copied+int(c)])
			copied += w
			if cerr != nil {
				if copied == 0 {
					return 0, cerr
				}
				break
			}
		}
		return uintptr(copied), nil
	}
	if stream && write {
		// Gathered into one write: a datagram socket sends one message,
		// and a pipe write of at most PIPE_BUF bytes stays atomic.
		var total uint64
		for _, iov := range iovs {
			total += iov.Len
		}
		buf := make([]byte, 0, min(total, maxRW, ioChunk))
		for _, iov := range iovs {
			want := min(iov.Len, uint64(cap(buf)-len(buf)))
			if want == 0 {
				continue
			}
			start := len(buf)
			buf = buf[:start+int(want)]
			n, err := t.CopyIn(iov.Base, buf[start:])
			buf = buf[:start+n]
			if err != nil {
				if len(buf) == 0 {
					return 0, err
				}
				break
			}
		}
		n, err := op(buf, 0)
		if err == unix.EPIPE {
			t.SendSignal(kernel.SignalInfo{Signo: int32(unix.SIGPIPE), Code: kernel.SIKernel})
		}
		if n > 0 {
			return uintptr(n), nil
		}
		return 0, err
	}
	var total int64
	for _, iov := range iovs {
		if iov.Len == 0 {
			continue
		}
		base := total
		step := func(p []byte, done int64) (int, error) { return op(p, base+done) }
		var n int64
		var err error
		if write {
			n, err = writeFromUser(t, iov.Base, iov.Len, step)
		} else {
			n, err = readToUser(t, iov.Base, iov.Len, stream, false, step)
		}
		total += n
		if err != nil {
			if total > 0 {
				return uintptr(total), nil
			}
			return 0, err
		}
		if uint64(n) < iov.Len || total >= maxRW {
			break
		}
	}
	return uintptr(total), nil
}

func readvCommon(t *kernel.Task, a kernel.SyscallArgs, positional bool, write bool) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	iovs, err := copyInIovecs(t, a[1], argInt(a[2]))
	if err != nil {
		return 0, err
	}
	off := argInt64(a[3])
	if positional && off == -1 {
		positional = false // preadv2/pwritev2 with offset -1 use the file offset
	} else if positional && off < 0 {
		return 0, unix.EINVAL
	}
	if write && !f.IsWritable() || !write && !f.IsReadable() {
		return 0, unix.EBADF
	}
	return vectorIO(t, iovs, write, !f.Impl().Seekable(), func(p []byte, done int64) (int, error) {
		switch {
		case positional && write:
			return f.PWrite(t, p, off+done)
		case positional:
			return f.PRead(t, p, off+done)
		case write:
			return f.Write(t, p)
		default:
			return f.Read(t, p)
		}
	})
}

// Readv implements readv(2).
func Readv(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return readvCommon(t, a, false, false)
}

// Writev implements writev(2).
func Writev(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return readvCommon(t, a, false, true)
}

// Preadv implements preadv(2) and preadv2(2).
func Preadv(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return readvCommon(t, a, true, false)
}

// Pwritev implements pwritev(2) and pwritev2(2).
func Pwritev(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return readvCommon(t, a, true, true)
}

// Lseek implements lseek(2).
func Lseek(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	n, err := f.Seek(t, argInt64(a[1]), int(argInt(a[2])))
	return uintptr(n), err
}
