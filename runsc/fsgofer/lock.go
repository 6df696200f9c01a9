package fsgofer

import (
	"errors"
	"math"

	"bufferzone.dev/pkg/p9"
	"golang.org/x/sys/unix"
)

// Byte-range locks (Tlock, Tgetlock).
//
// The Gofer implements 9P2000.L locks as open file description (OFD)
// record locks, fcntl(F_OFD_SETLK/F_OFD_GETLK), on the host file that
// Tlopen (or Tlcreate) opened for the fid. The lock owner is therefore the
// fid's open file, not a process: two fids opened separately conflict with
// each other even though one Gofer process holds both, and they conflict
// with the POSIX (F_SETLK) and OFD locks of other host processes, exactly
// as two opens of the file by unrelated programs would. (flock(2) locks
// are a separate kind on Linux and never conflict with record locks.) The proc_id and client_id fields of a request are not
// used to decide ownership (the fid is); they are echoed in Rgetlock when
// no lock conflicts.
//
// The API the Sentry builds on (its flock/fcntl implementation is the VFS
// owner's; nothing of it lives here):
//
//   - Lock owner = opened fid. To have N lock owners on one host file (N
//     open file descriptions in the sandbox that hold fcntl/OFD/flock
//     locks), the Sentry opens N fids; locks taken through one fid
//     conflict with locks taken through another, and with other host
//     processes' locks on the same file.
//   - Tlock never blocks in the Gofer. A conflicting request, with or
//     without p9.LockFlagsBlock, answers Rlock{Status: p9.LockStatusBlocked}
//     at once; a client that wants F_SETLKW semantics retries, with a
//     backoff, in an interruptible wait (Linux's v9fs client does the
//     same). This keeps Gofer threads from being held by a lock that may
//     never be released, and lets a signal interrupt the wait in the
//     Sentry.
//   - Status OK means the lock was taken (or released, for
//     p9.LockTypeUnlock, which never conflicts). Errors are Rlerror:
//     EBADF if the fid is not opened, or not opened for reading (read
//     lock) or writing (write lock); EINVAL for a bad type or a start or
//     length beyond 2^63-1; ENOLCK if the host is out of lock records;
//     EOVERFLOW if start+length overflows.
//   - length 0 means "to the end of the file and beyond", as l_len 0 does.
//   - Rgetlock reports the first conflicting lock: its type, start and
//     length (0 = to the end), and in proc_id the holder's host pid for a
//     traditional POSIX lock or 0xffffffff (-1) for an OFD lock. With no
//     conflict it answers type p9.LockTypeUnlock and echoes the request.
//   - Lifetime: an OFD lock lives as long as its open file description.
//     The descriptor the Gofer donates with Rlopen is the same open file
//     description, so a lock is released when the Sentry has both clunked
//     the fid and closed the donated descriptor (or unlocked explicitly).
//   - p9.LockFlagsReclaim (NFS grace-period reclaim) is accepted and
//     ignored; the Gofer never answers p9.LockStatusGrace.

// hostLockType maps a 9P lock type to an fcntl lock type.
func hostLockType(t uint8) (int16, error) {
	switch t {
	case p9.LockTypeRead:
		return unix.F_RDLCK, nil
	case p9.LockTypeWrite:
		return unix.F_WRLCK, nil
	case p9.LockTypeUnlock:
		return unix.F_UNLCK, nil
	}
	return 0, unix.EINVAL
}

// lockRange checks a 9P byte range and returns it as fcntl's signed
// start and length.
func lockRange(start, length uint64) (int64, int64, error) {
	if start > math.MaxInt64 || length > math.MaxInt64 {
		return 0, 0, unix.EINVAL
	}
	if length != 0 && start+length-1 > math.MaxInt64 {
		return 0, 0, unix.EOVERFLOW
	}
	return int64(start), int64(length), nil
}

// Lock implements p9.Locker with a non-blocking OFD lock on the opened
// host file (see the comment at the top of this file).
func (f *file) Lock(lockType uint8, flags uint32, start, length uint64, procID uint32, clientID string) (uint8, error) {
	typ, err := hostLockType(lockType)
	if err != nil {
		return 0, errno("lock", f.label, err)
	}
	s, l, err := lockRange(start, length)
	if err != nil {
		return 0, errno("lock", f.label, err)
	}
	fd, err := f.openedFD()
	if err != nil {
		return 0, errno("lock", f.label, err)
	}
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: s, Len: l}
	for {
		err = unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == nil:
		return p9.LockStatusOK, nil
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EACCES):
		return p9.LockStatusBlocked, nil
	}
	return 0, errno("lock", f.label, err)
}

// GetLock implements p9.Locker with F_OFD_GETLK on the opened host file.
func (f *file) GetLock(lockType uint8, start, length uint64, procID uint32, clientID string) (p9.Rgetlock, error) {
	typ, err := hostLockType(lockType)
	if err != nil || typ == unix.F_UNLCK {
		return p9.Rgetlock{}, errno("getlock", f.label, unix.EINVAL)
	}
	s, l, err := lockRange(start, length)
	if err != nil {
		return p9.Rgetlock{}, errno("getlock", f.label, err)
	}
	fd, err := f.openedFD()
	if err != nil {
		return p9.Rgetlock{}, errno("getlock", f.label, err)
	}
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: s, Len: l}
	for {
		err = unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return p9.Rgetlock{}, errno("getlock", f.label, err)
	}
	if lk.Type == unix.F_UNLCK {
		return p9.Rgetlock{LockType: p9.LockTypeUnlock, Start: start, Length: length, ProcID: procID, ClientID: clientID}, nil
	}
	r := p9.Rgetlock{LockType: p9.LockTypeRead, Start: uint64(lk.Start), Length: uint64(lk.Len), ProcID: uint32(lk.Pid)}
	if lk.Type == unix.F_WRLCK {
		r.LockType = p9.LockTypeWrite
	}
	return r, nil
}

var _ p9.Locker = (*file)(nil)
