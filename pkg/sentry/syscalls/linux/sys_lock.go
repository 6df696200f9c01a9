package linux

import (
	"math"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Flock implements flock(2).
func Flock(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	op := argInt(a[1])
	f, err := t.GetFile(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	block := op&unix.LOCK_NB == 0
	var typ vfs.LockType
	switch op &^ unix.LOCK_NB {
	case unix.LOCK_SH:
		typ = vfs.ReadLock
	case unix.LOCK_EX:
		typ = vfs.WriteLock
	case unix.LOCK_UN:
		typ = vfs.Unlock
	default:
		return 0, unix.EINVAL
	}
	return 0, f.Flock(t, typ, block)
}

// flockT is struct flock on x86-64.
type flockT struct {
	Type   int16
	Whence int16
	_      int32
	Start  int64
	Len    int64
	PID    int32
	_      int32
}

// Constants x/sys/unix lacks on some versions.
const (
	fOFDGetlk  = 36 // F_OFD_GETLK
	fOFDSetlk  = 37 // F_OFD_SETLK
	fOFDSetlkw = 38 // F_OFD_SETLKW
)

// lockRange turns a struct flock's whence, start and len into an absolute
// byte range [start, end), as fcntl(2) describes: a negative len covers the
// bytes before start, len 0 runs to the end of the file however it grows.
func lockRange(t *kernel.Task, f *vfs.FileDescription, fl *flockT) (uint64, uint64, error) {
	var base int64
	switch fl.Whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		off, err := f.Seek(t, 0, unix.SEEK_CUR)
		if err != nil {
			return 0, 0, err
		}
		base = off
	case unix.SEEK_END:
		st, err := f.Stat(t)
		if err != nil {
			return 0, 0, err
		}
		base = int64(st.Size)
	default:
		return 0, 0, unix.EINVAL
	}
	start := base + fl.Start
	if (fl.Start > 0 && start < base) || start < 0 {
		if fl.Start > 0 {
			return 0, 0, unix.EOVERFLOW
		}
		return 0, 0, unix.EINVAL
	}
	switch {
	case fl.Len == 0:
		return uint64(start), vfs.LockEOF, nil
	case fl.Len > 0:
		if fl.Len-1 > math.MaxInt64-start {
			// Past the largest offset: Linux gives EOVERFLOW.
			return 0, 0, unix.EOVERFLOW
		}
		return uint64(start), uint64(start) + uint64(fl.Len), nil
	default:
		if fl.Len == math.MinInt64 || start+fl.Len < 0 {
			return 0, 0, unix.EINVAL
		}
		return uint64(start + fl.Len), uint64(start), nil
	}
}

// lockType decodes l_type.
func lockType(typ int16) (vfs.LockType, error) {
	switch typ {
	case unix.F_RDLCK:
		return vfs.ReadLock, nil
	case unix.F_WRLCK:
		return vfs.WriteLock, nil
	case unix.F_UNLCK:
		return vfs.Unlock, nil
	}
	return 0, unix.EINVAL
}

// fcntlLock carries out the record lock commands of fcntl(2): F_GETLK,
// F_SETLK, F_SETLKW and their F_OFD_ forms. POSIX locks are owned by the
// caller's descriptor table (Linux's files_struct: one per process unless
// CLONE_FILES shares it) and report the thread group's PID; OFD locks are
// owned by the open file description.
func fcntlLock(t *kernel.Task, f *vfs.FileDescription, cmd int32, addr uintptr) (uintptr, error) {
	var fl flockT
	if err := copyInObj(t, addr, &fl); err != nil {
		return 0, err
	}
	ofd := cmd == fOFDGetlk || cmd == fOFDSetlk || cmd == fOFDSetlkw
	if ofd && fl.PID != 0 {
		return 0, unix.EINVAL
	}
	if f.Flags()&unix.O_PATH != 0 {
		return 0, unix.EBADF
	}
	typ, err := lockType(fl.Type)
	if err != nil {
		return 0, err
	}
	start, end, err := lockRange(t, f, &fl)
	if err != nil {
		return 0, err
	}
	owner := any(t.FDTable())
	lk := vfs.RecordLock{Type: typ, Start: start, End: end}
	switch cmd {
	case unix.F_GETLK, fOFDGetlk:
		if typ == vfs.Unlock {
			return 0, unix.EINVAL
		}
		if ofd {
			owner = nil
		}
		c, ok := f.TestRecordLock(owner, lk)
		if !ok {
			fl.Type = unix.F_UNLCK
		} else {
			fl.Type = unix.F_RDLCK
			if c.Type == vfs.WriteLock {
				fl.Type = unix.F_WRLCK
			}
			fl.Whence = unix.SEEK_SET
			fl.Start = int64(c.Start)
			fl.Len = 0
			if c.End != vfs.LockEOF {
				fl.Len = int64(c.End - c.Start)
			}
			fl.PID = c.PID
		}
		return 0, copyOutObj(t, addr, &fl)
	}
	switch typ {
	case vfs.ReadLock:
		if !f.IsReadable() {
			return 0, unix.EBADF
		}
	case vfs.WriteLock:
		if !f.IsWritable() {
			return 0, unix.EBADF
		}
	}
	block := cmd == unix.F_SETLKW || cmd == fOFDSetlkw
	if ofd {
		return 0, f.SetOFDLock(t, lk, block)
	}
	return 0, f.SetRecordLock(t, owner, t.ThreadGroup().PID(), lk, block)
}
