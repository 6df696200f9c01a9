package linux

// Copies between files inside the Sentry: sendfile, copy_file_range,
// splice and tee. Data moves through a bounce buffer in chunks; nothing
// reaches the application's memory.

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/pipe"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

// copyChunk is the bounce buffer size.
const copyChunk = 64 << 10

// copyOpts describe one in-Sentry copy.
type copyOpts struct {
	in, out *vfs.FileDescription
	// inOff and outOff are explicit positions (nil: the file's offset, or
	// none for streams).
	inOff, outOff *int64
	count         int64
}

// copyFiles moves up to o.count bytes from o.in to o.out and returns how
// many were written. Bytes read are never lost: the read position only
// advances by what was written. A short write or read ends the copy.
func copyFiles(t *kernel.Task, o copyOpts) (int64, error) {
	buf := make([]byte, min(o.count, copyChunk))
	var done int64
	for done < o.count {
		p := buf[:min(int64(len(buf)), o.count-done)]
		var n int
		var err error
		inSeekable := o.in.Impl().Seekable()
		switch {
		case o.inOff != nil:
			n, err = o.in.PRead(t, p, *o.inOff)
		case inSeekable:
			_, err = o.in.WithOffset(func(off int64) (int64, error) {
				var rerr error
				n, rerr = o.in.PRead(t, p, off)
				if n == 0 {
					return 0, rerr
				}
				w, werr := writeOut(t, o, p[:n])
				n = w
				return int64(w), werr
			})
		default:
			n, err = o.in.Read(t, p)
		}
		if o.inOff == nil && inSeekable {
			// Read and written together above.
			done += int64(n)
			if err != nil || n < len(p) {
				return done, err
			}
			continue
		}
		if n == 0 {
			return done, err
		}
		w, werr := writeOut(t, o, p[:n])
		if o.inOff != nil {
			*o.inOff += int64(w)
		}
		done += int64(w)
		if werr != nil {
			return done, werr
		}
		if err != nil || w < n || n < len(p) {
			return done, err
		}
	}
	return done, nil
}

// writeOut writes p to the copy's destination, at *outOff if set.
func writeOut(t *kernel.Task, o copyOpts, p []byte) (int, error) {
	var n int
	var err error
	if o.outOff != nil {
		n, err = o.out.PWrite(t, p, *o.outOff)
		*o.outOff += int64(n)
	} else {
		n, err = o.out.Write(t, p)
	}
	if err == unix.EPIPE {
		t.SendSignal(kernel.SignalInfo{Signo: int32(unix.SIGPIPE), Code: kernel.SIKernel})
	}
	return n, err
}

// copyResult turns a partial copy and its error into a system call
// result: bytes copied win over a later error.
func copyResult(n int64, err error) (uintptr, error) {
	if n > 0 {
		return uintptr(n), nil
	}
	return 0, err
}

// readOffsetArg copies in a loff_t argument, failing with EINVAL if
// negative.
func readOffsetArg(t *kernel.Task, addr uintptr) (*int64, error) {
	if addr == 0 {
		return nil, nil
	}
	var off int64
	if err := copyInObj(t, addr, &off); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, unix.EINVAL
	}
	return &off, nil
}

// Sendfile implements sendfile(2): from a readable file to any writable
// descriptor.
func Sendfile(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	outFD, inFD, offAddr, count := argFD(a[0]), argFD(a[1]), a[2], argInt64(a[3])
	in, err := t.GetFile(inFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := t.GetFile(outFD)
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if !in.IsReadable() || in.Flags()&unix.O_PATH != 0 || !out.IsWritable() || out.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	if out.Flags()&unix.O_APPEND != 0 {
		return 0, unix.EINVAL
	}
	if _, ok := in.Impl().(*pipe.File); ok {
		// Linux needs an input it could mmap.
		return 0, unix.EINVAL
	}
	if count < 0 {
		return 0, unix.EINVAL
	}
	inOff, err := readOffsetArg(t, offAddr)
	if err != nil {
		return 0, err
	}
	if inOff != nil && !in.Impl().Seekable() {
		return 0, unix.ESPIPE
	}
	if count == 0 {
		return 0, nil
	}
	n, err := copyFiles(t, copyOpts{in: in, out: out, inOff: inOff, count: min(count, maxRW)})
	if inOff != nil {
		if cerr := copyOutObj(t, offAddr, inOff); cerr != nil {
			return 0, cerr
		}
	}
	return copyResult(n, err)
}

// CopyFileRange implements copy_file_range(2) between regular files.
func CopyFileRange(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	inFD, inOffAddr, outFD, outOffAddr, count, flags := argFD(a[0]), a[1], argFD(a[2]), a[3], argInt64(a[4]), argUint(a[5])
	if flags != 0 {
		return 0, unix.EINVAL
	}
	in, err := t.GetFile(inFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := t.GetFile(outFD)
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if !in.IsReadable() || in.Flags()&unix.O_PATH != 0 || !out.IsWritable() || out.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	if out.Flags()&unix.O_APPEND != 0 {
		return 0, unix.EBADF
	}
	// Files that cannot say what they are (host pipes, sockets) are not
	// regular files.
	ist, err := in.Stat(t)
	if err != nil {
		return 0, unix.EINVAL
	}
	ost, err := out.Stat(t)
	if err != nil {
		return 0, unix.EINVAL
	}
	if vfs.FileType(ist.Mode) == unix.S_IFDIR || vfs.FileType(ost.Mode) == unix.S_IFDIR {
		return 0, unix.EISDIR
	}
	if vfs.FileType(ist.Mode) != unix.S_IFREG || vfs.FileType(ost.Mode) != unix.S_IFREG {
		return 0, unix.EINVAL
	}
	if !in.Impl().Seekable() || !out.Impl().Seekable() {
		// Host files (stdio) are streams to the Sentry.
		return 0, unix.EINVAL
	}
	inOff, err := readOffsetArg(t, inOffAddr)
	if err != nil {
		return 0, err
	}
	outOff, err := readOffsetArg(t, outOffAddr)
	if err != nil {
		return 0, err
	}
	if count < 0 {
		return 0, unix.EINVAL
	}
	count = min(count, maxRW)
	// Overlapping ranges of one file are EINVAL.
	if ist.Ino == ost.Ino && ist.Dev_major == ost.Dev_major && ist.Dev_minor == ost.Dev_minor && in.VirtualDentry().Dentry != nil &&
		out.VirtualDentry().Dentry != nil && in.VirtualDentry().Dentry.Inode() == out.VirtualDentry().Dentry.Inode() {
		ip, op := position(in, inOff), position(out, outOff)
		if ip < op+count && op < ip+count {
			return 0, unix.EINVAL
		}
	}
	if count == 0 {
		return 0, nil
	}
	// With no explicit output position, write at the file's offset.
	var n int64
	if outOff == nil {
		_, err = out.WithOffset(func(off int64) (int64, error) {
			o := off
			var e error
			n, e = copyFiles(t, copyOpts{in: in, out: out, inOff: inOff, outOff: &o, count: count})
			return n, e
		})
	} else {
		n, err = copyFiles(t, copyOpts{in: in, out: out, inOff: inOff, outOff: outOff, count: count})
	}
	if inOff != nil {
		if cerr := copyOutObj(t, inOffAddr, inOff); cerr != nil {
			return 0, cerr
		}
	}
	if outOff != nil {
		if cerr := copyOutObj(t, outOffAddr, outOff); cerr != nil {
			return 0, cerr
		}
	}
	return copyResult(n, err)
}

// position returns an explicit offset, or the file's current one.
func position(f *vfs.FileDescription, off *int64) int64 {
	if off != nil {
		return *off
	}
	var cur int64
	f.WithOffset(func(o int64) (int64, error) { cur = o; return 0, nil })
	return cur
}

// splice(2) flags.
const (
	spliceFMove     = 1
	spliceFNonblock = 2
	spliceFMore     = 4
	spliceFGift     = 8
)

// Splice implements splice(2) by copying: one end must be a pipe.
func Splice(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	inFD, inOffAddr, outFD, outOffAddr, count, flags := argFD(a[0]), a[1], argFD(a[2]), a[3], argInt64(a[4]), argUint(a[5])
	if flags&^(spliceFMove|spliceFNonblock|spliceFMore|spliceFGift) != 0 {
		return 0, unix.EINVAL
	}
	in, err := t.GetFile(inFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := t.GetFile(outFD)
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if !in.IsReadable() || in.Flags()&unix.O_PATH != 0 || !out.IsWritable() || out.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	_, inPipe := in.Impl().(*pipe.File)
	_, outPipe := out.Impl().(*pipe.File)
	if !inPipe && !outPipe {
		return 0, unix.EINVAL
	}
	if (inPipe && inOffAddr != 0) || (outPipe && outOffAddr != 0) {
		return 0, unix.ESPIPE
	}
	if out.Flags()&unix.O_APPEND != 0 && !outPipe {
		return 0, unix.EINVAL
	}
	inOff, err := readOffsetArg(t, inOffAddr)
	if err != nil {
		return 0, err
	}
	outOff, err := readOffsetArg(t, outOffAddr)
	if err != nil {
		return 0, err
	}
	if (inOff != nil && !in.Impl().Seekable()) || (outOff != nil && !out.Impl().Seekable()) {
		return 0, unix.ESPIPE
	}
	if count <= 0 {
		return 0, nil
	}
	if inPipe && outPipe && in.Impl().(*pipe.File).Pipe() == out.Impl().(*pipe.File).Pipe() {
		return 0, unix.EINVAL
	}
	count = min(count, maxRW)
	if inPipe {
		// A pipe is drained by at most what it holds, as one read.
		count = min(count, copyChunk)
	}
	n, err := copyFiles(t, copyOpts{in: in, out: out, inOff: inOff, outOff: outOff, count: count})
	if inOff != nil {
		if cerr := copyOutObj(t, inOffAddr, inOff); cerr != nil {
			return 0, cerr
		}
	}
	if outOff != nil {
		if cerr := copyOutObj(t, outOffAddr, outOff); cerr != nil {
			return 0, cerr
		}
	}
	return copyResult(n, err)
}

// Tee implements tee(2): bytes are copied from one pipe to another
// without being consumed.
func Tee(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	count, flags := uint64(a[2]), argUint(a[3])
	if flags&^(spliceFMove|spliceFNonblock|spliceFMore|spliceFGift) != 0 {
		return 0, unix.EINVAL
	}
	in, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := t.GetFile(argFD(a[1]))
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if !in.IsReadable() || in.Flags()&unix.O_PATH != 0 || !out.IsWritable() || out.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	ip, ok := in.Impl().(*pipe.File)
	op, ok2 := out.Impl().(*pipe.File)
	if !ok || !ok2 {
		return 0, unix.EINVAL
	}
	n, err := pipe.Tee(t, ip, op, int(min(count, maxRW)), flags&spliceFNonblock != 0)
	if err == unix.EPIPE {
		t.SendSignal(kernel.SignalInfo{Signo: int32(unix.SIGPIPE), Code: kernel.SIKernel})
	}
	if n > 0 {
		out.NotifyModified()
		in.NotifyAccessed()
	}
	return uintptr(n), err
}
