package vfs

// File locks, local to the sandbox and kept per inode (inode_state.go):
//
//   - flock(2) locks, owned by an open file description and released when
//     its last reference goes;
//   - record locks (fcntl(2) "Advisory record locking"): POSIX locks owned
//     by an opaque value the system call layer chooses for the calling
//     process (released when that process closes any descriptor of the
//     file, and when it exits), and OFD locks owned by the open file
//     description. POSIX and OFD locks conflict with each other; flock
//     locks conflict with neither, as on Linux.
//
// A blocked lock request waits for any change of the inode's locks or for
// the task to be interrupted (ERESTARTSYS). A POSIX request that would
// wait on a chain of POSIX owners that leads back to itself fails with
// EDEADLK.
//
// Lock order: inodeState.locks.mu > deadlock.mu.

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/syserr"
)

// LockType is the kind of a lock.
type LockType int

// Lock types.
const (
	// Unlock removes a lock (F_UNLCK, LOCK_UN).
	Unlock LockType = iota
	// ReadLock is a shared lock (F_RDLCK, LOCK_SH).
	ReadLock
	// WriteLock is an exclusive lock (F_WRLCK, LOCK_EX).
	WriteLock
)

// LockEOF is the End of a record lock that extends to the end of the file
// however far it grows (l_len == 0).
const LockEOF = math.MaxUint64

// RecordLock describes a record lock, as F_GETLK reports it.
type RecordLock struct {
	Type LockType
	// Start and End are the byte range [Start, End); End is LockEOF for
	// a lock to the end of the file.
	Start, End uint64
	// PID is the owning process for a POSIX lock; OFD locks report -1.
	PID int32
	// OFD is set for open file description locks.
	OFD bool
}

// recordLock is a held record lock and its owner.
type recordLock struct {
	RecordLock
	owner any
}

// fileLocks are the locks of one inode.
type fileLocks struct {
	mu sync.Mutex
	// flocks are the flock(2) locks by owning file description.
	flocks map[*FileDescription]LockType
	// records are the record locks, sorted by Start. Ranges of one owner
	// never overlap, and adjacent ranges of one owner and type are merged.
	records []recordLock
	// changed is closed (and cleared) when a lock is released or changed,
	// to wake every waiter; nil when nobody waits.
	changed chan struct{}
}

func (l *fileLocks) emptyLocked() bool {
	return len(l.flocks) == 0 && len(l.records) == 0
}

// changedLocked returns the channel closed at the next change.
func (l *fileLocks) changedLocked() <-chan struct{} {
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// wakeLocked wakes every waiter.
func (l *fileLocks) wakeLocked() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// conflicts reports whether locks of types a and b conflict.
func conflicts(a, b LockType) bool { return a == WriteLock || b == WriteLock }

// flockConflictLocked reports whether another file description's flock
// lock conflicts with typ.
func (l *fileLocks) flockConflictLocked(fd *FileDescription, typ LockType) bool {
	for o, t := range l.flocks {
		if o != fd && conflicts(t, typ) {
			return true
		}
	}
	return false
}

// recordConflictLocked returns the first lock of another owner that
// overlaps [start, end) and conflicts with typ.
func (l *fileLocks) recordConflictLocked(owner any, typ LockType, start, end uint64) *recordLock {
	for i := range l.records {
		r := &l.records[i]
		if r.owner != owner && r.Start < end && start < r.End && conflicts(r.Type, typ) {
			return r
		}
	}
	return nil
}

// setRecordLocked makes owner's locks over [start, end) be of type typ
// (none for Unlock), splitting and merging ranges as Linux does.
func (l *fileLocks) setRecordLocked(owner any, lk RecordLock) {
	start, end, typ := lk.Start, lk.End, lk.Type
	out := make([]recordLock, 0, len(l.records)+2)
	ns, ne := start, end
	for _, r := range l.records {
		if r.owner != owner {
			out = append(out, r)
			continue
		}
		overlap := r.Start < end && start < r.End
		adjacent := r.End == start || r.Start == end
		if typ != Unlock && r.Type == typ && (overlap || adjacent) {
			ns, ne = min(ns, r.Start), max(ne, r.End)
			continue
		}
		if !overlap {
			out = append(out, r)
			continue
		}
		if r.Start < start {
			left := r
			left.End = start
			out = append(out, left)
		}
		if r.End > end {
			right := r
			right.Start = end
			out = append(out, right)
		}
	}
	if typ != Unlock {
		lk.Start, lk.End = ns, ne
		out = append(out, recordLock{RecordLock: lk, owner: owner})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	l.records = out
	l.wakeLocked()
}

// releaseOwnerLocked drops every record lock of owner.
func (l *fileLocks) releaseOwnerLocked(owner any) {
	out := l.records[:0]
	changed := false
	for _, r := range l.records {
		if r.owner == owner {
			changed = true
			continue
		}
		out = append(out, r)
	}
	for i := len(out); i < len(l.records); i++ {
		l.records[i] = recordLock{}
	}
	l.records = out
	if changed {
		l.wakeLocked()
	}
}

// posixLocksUsed is set once any POSIX lock has been asked for, so that
// closing files costs nothing in a sandbox that never locks.
var posixLocksUsed atomic.Bool

// deadlock records which POSIX owner each blocked POSIX owner waits for,
// for EDEADLK detection across inodes.
var deadlock = struct {
	mu       sync.Mutex
	waitsFor map[any]any
}{waitsFor: make(map[any]any)}

// maxDeadlockSteps bounds the walk of the waits-for chain (Linux's
// MAX_DEADLK_ITERATIONS).
const maxDeadlockSteps = 10

// startWaiting records that owner waits for blocker, or returns EDEADLK if
// blocker already waits, directly or through others, for owner.
func startWaiting(owner, blocker any) error {
	deadlock.mu.Lock()
	defer deadlock.mu.Unlock()
	b := blocker
	for i := 0; i < maxDeadlockSteps; i++ {
		if b == owner {
			return unix.EDEADLK
		}
		next, ok := deadlock.waitsFor[b]
		if !ok {
			break
		}
		b = next
	}
	deadlock.waitsFor[owner] = blocker
	return nil
}

// stopWaiting undoes startWaiting.
func stopWaiting(owner any) {
	deadlock.mu.Lock()
	delete(deadlock.waitsFor, owner)
	deadlock.mu.Unlock()
}

// lockWait runs try with the inode's locks held until it succeeds. try
// returns whether the request was granted and, if not, the owner of a
// conflicting POSIX lock (nil if none is, or no deadlock detection is
// wanted). Without block a refused request fails with EAGAIN; a blocked
// one waits for a change of the locks or an interrupt (ERESTARTSYS).
func lockWait(ctx Context, s *inodeState, block bool, waiter any, try func() (bool, any)) error {
	for {
		s.locks.mu.Lock()
		ok, blocker := try()
		if ok {
			s.locks.mu.Unlock()
			return nil
		}
		if !block {
			s.locks.mu.Unlock()
			return unix.EAGAIN
		}
		if waiter != nil && blocker != nil {
			if err := startWaiting(waiter, blocker); err != nil {
				s.locks.mu.Unlock()
				return err
			}
		}
		ch := s.locks.changedLocked()
		s.locks.mu.Unlock()
		var intr <-chan struct{}
		if ctx != nil {
			intr = ctx.Interrupted()
		}
		select {
		case <-ch:
			if waiter != nil {
				stopWaiting(waiter)
			}
		case <-intr:
			if waiter != nil {
				stopWaiting(waiter)
			}
			return syserr.ERESTARTSYS
		}
	}
}

// Flock carries out flock(2) on the open file: typ ReadLock (LOCK_SH),
// WriteLock (LOCK_EX) or Unlock (LOCK_UN); block is false for LOCK_NB
// (EWOULDBLOCK when another file description holds a conflicting lock).
// As on Linux, converting a lock first drops the old one, so a refused
// conversion leaves the file unlocked by fd.
func (fd *FileDescription) Flock(ctx Context, typ LockType, block bool) error {
	s := getState(fd.stateKey())
	defer putState(s)
	s.locks.mu.Lock()
	if old, ok := s.locks.flocks[fd]; ok {
		if old == typ {
			s.locks.mu.Unlock()
			return nil
		}
		delete(s.locks.flocks, fd)
		s.locks.wakeLocked()
	}
	s.locks.mu.Unlock()
	if typ == Unlock {
		return nil
	}
	fd.hasLocks.Store(true)
	return lockWait(ctx, s, block, nil, func() (bool, any) {
		if s.locks.flockConflictLocked(fd, typ) {
			return false, nil
		}
		if s.locks.flocks == nil {
			s.locks.flocks = make(map[*FileDescription]LockType)
		}
		s.locks.flocks[fd] = typ
		return true, nil
	})
}

// SetRecordLock sets (or with Unlock, removes) owner's POSIX record lock
// over [lk.Start, lk.End) of the open file: F_SETLK, or F_SETLKW when
// block. pid is the owning process, reported by F_GETLK. The caller has
// checked the file's access mode against the lock type.
func (fd *FileDescription) SetRecordLock(ctx Context, owner any, pid int32, lk RecordLock, block bool) error {
	lk.PID, lk.OFD = pid, false
	posixLocksUsed.Store(true)
	return fd.setRecordLock(ctx, owner, lk, block)
}

// SetOFDLock sets (or removes) an open file description lock over
// [lk.Start, lk.End): F_OFD_SETLK, or F_OFD_SETLKW when block.
func (fd *FileDescription) SetOFDLock(ctx Context, lk RecordLock, block bool) error {
	lk.PID, lk.OFD = -1, true
	return fd.setRecordLock(ctx, fd, lk, block)
}

func (fd *FileDescription) setRecordLock(ctx Context, owner any, lk RecordLock, block bool) error {
	if lk.Start >= lk.End {
		return unix.EINVAL
	}
	s := getState(fd.stateKey())
	defer putState(s)
	if lk.Type == Unlock {
		s.locks.mu.Lock()
		s.locks.setRecordLocked(owner, lk)
		s.locks.mu.Unlock()
		return nil
	}
	if lk.OFD {
		fd.hasLocks.Store(true)
	}
	var waiter any
	if !lk.OFD {
		waiter = owner
	}
	return lockWait(ctx, s, block, waiter, func() (bool, any) {
		if c := s.locks.recordConflictLocked(owner, lk.Type, lk.Start, lk.End); c != nil {
			if c.OFD {
				return false, nil
			}
			return false, c.owner
		}
		s.locks.setRecordLocked(owner, lk)
		return true, nil
	})
}

// TestRecordLock carries out F_GETLK (owner is the caller's POSIX owner)
// or F_OFD_GETLK (owner nil: the file description): it returns the first
// lock of another owner that would conflict with lk, and whether there is
// one.
func (fd *FileDescription) TestRecordLock(owner any, lk RecordLock) (RecordLock, bool) {
	if owner == nil {
		owner = fd
	}
	s := lookupState(fd.stateKey())
	if s == nil {
		return RecordLock{}, false
	}
	defer putState(s)
	s.locks.mu.Lock()
	defer s.locks.mu.Unlock()
	if c := s.locks.recordConflictLocked(owner, lk.Type, lk.Start, lk.End); c != nil {
		return c.RecordLock, true
	}
	return RecordLock{}, false
}

// ReleaseRecordLocks drops owner's POSIX locks on the open file's inode:
// the process owning them closed a descriptor of the file. The kernel's
// descriptor table calls it on every close.
func (fd *FileDescription) ReleaseRecordLocks(owner any) {
	if !posixLocksUsed.Load() {
		return
	}
	s := lookupState(fd.stateKey())
	if s == nil {
		return
	}
	s.locks.mu.Lock()
	s.locks.releaseOwnerLocked(owner)
	s.locks.mu.Unlock()
	putState(s)
}

// releaseLocks drops the flock and OFD locks fd owns (its last reference
// is gone).
func (fd *FileDescription) releaseLocks() {
	if !fd.hasLocks.Load() {
		return
	}
	s := lookupState(fd.stateKey())
	if s == nil {
		return
	}
	s.locks.mu.Lock()
	if _, ok := s.locks.flocks[fd]; ok {
		delete(s.locks.flocks, fd)
		s.locks.wakeLocked()
	}
	s.locks.releaseOwnerLocked(fd)
	s.locks.mu.Unlock()
	putState(s)
}
