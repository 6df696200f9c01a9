package vfs

// Per-inode state that belongs to vfs rather than to a file system: file
// locks (lock.go) and inotify watches (notify.go). It lives in one table
// keyed by the inode, because an inode is the same object whichever
// dentry, mount or open file reaches it. Entries exist only while they
// hold something (or while an operation is using them).
//
// Lock order: inodeStates.mu > inodeState.locks.mu, inodeState.watchMu.

import (
	"reflect"
	"sync"
)

// inodeState is what vfs keeps about one inode.
type inodeState struct {
	key any
	// users counts callers between get and put. Protected by
	// inodeStates.mu.
	users int

	locks fileLocks

	watchMu sync.Mutex
	watches map[*Watch]struct{}
}

// inodeStates is the table of inodeState by key.
var inodeStates = struct {
	mu sync.Mutex
	m  map[any]*inodeState
}{m: make(map[any]*inodeState)}

// stateKey returns the key of the inode of d: the inode itself if its type
// can be a map key, else the dentry (a file system whose inodes are
// values, not pointers, gets per-dentry state).
func stateKey(d *Dentry) any {
	if reflect.TypeOf(d.inode).Comparable() {
		return d.inode
	}
	return d
}

// fileStateKey returns the key of an open file's inode, or the file
// description itself for files with no dentry (pipes, sockets).
func (fd *FileDescription) stateKey() any {
	if fd.vd.Dentry == nil {
		return fd
	}
	return stateKey(fd.vd.Dentry)
}

// getState returns the state for key, creating it, with a use counted;
// the caller must putState it.
func getState(key any) *inodeState {
	inodeStates.mu.Lock()
	defer inodeStates.mu.Unlock()
	s, ok := inodeStates.m[key]
	if !ok {
		s = &inodeState{key: key}
		inodeStates.m[key] = s
	}
	s.users++
	return s
}

// lookupState returns the state for key with a use counted, or nil if
// there is none.
func lookupState(key any) *inodeState {
	inodeStates.mu.Lock()
	defer inodeStates.mu.Unlock()
	s, ok := inodeStates.m[key]
	if ok {
		s.users++
	}
	return s
}

// putState drops a use of s, removing it from the table once nobody uses
// it and it holds nothing.
func putState(s *inodeState) {
	inodeStates.mu.Lock()
	defer inodeStates.mu.Unlock()
	s.users--
	if s.users > 0 {
		return
	}
	s.locks.mu.Lock()
	empty := s.locks.emptyLocked()
	s.locks.mu.Unlock()
	s.watchMu.Lock()
	empty = empty && len(s.watches) == 0
	s.watchMu.Unlock()
	if empty {
		delete(inodeStates.m, s.key)
	}
}
