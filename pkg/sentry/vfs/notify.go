package vfs

// Inotify watches (inotify(7)): vfs keeps the watches of each inode
// (inode_state.go) and raises the events as its operations happen; an
// inotify instance (fsimpl/inotify) is a WatchSink that queues them for
// the application.
//
// Events are raised after the change is made, with no vfs or file system
// lock held except VFS.mutateMu for namespace changes; sinks must not call
// back into namespace operations.
//
// Where we differ from Linux on purpose: IN_DELETE_SELF is raised when the
// last link of a file goes, even if it is still open (Linux waits for the
// last reference to the dentry); there is no per-open-file inode count to
// wait for here.
//
// Lock order: inodeStates.mu > inodeState.watchMu; WatchSink methods are
// called with neither held.

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// WatchSink receives the events of its watches.
type WatchSink interface {
	// Event queues an event of w. name is the child's name for events in
	// a watched directory, "" for events about the watched file itself.
	// mask IN_IGNORED means w is gone (removed, one-shot, or its file was
	// deleted); the sink should forget it.
	Event(w *Watch, mask, cookie uint32, name string)
}

// Watch is one inotify watch: a sink's interest in one inode.
type Watch struct {
	// Sink receives the events.
	Sink WatchSink
	// WD is the watch descriptor the sink gave it.
	WD    int32
	mask  atomic.Uint32
	state *inodeState
	// removed is set once the watch is off its inode.
	removed atomic.Bool
}

// Mask returns the watch's event mask (with IN_ONESHOT and the like).
func (w *Watch) Mask() uint32 { return w.mask.Load() }

// SetMask sets the watch's event mask.
func (w *Watch) SetMask(m uint32) { w.mask.Store(m) }

// watchCount is the number of watches in the sandbox, so that raising
// events costs one atomic load when nobody watches.
var watchCount atomic.Int64

// cookies numbers IN_MOVED_FROM/IN_MOVED_TO pairs.
var cookies atomic.Uint32

// FindWatch returns sink's watch on the inode of d, or nil.
func FindWatch(d *Dentry, sink WatchSink) *Watch {
	s := lookupState(stateKey(d))
	if s == nil {
		return nil
	}
	defer putState(s)
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for w := range s.watches {
		if w.Sink == sink {
			return w
		}
	}
	return nil
}

// AddWatch returns a new watch of sink on the inode of d with descriptor
// wd and the given mask.
func AddWatch(d *Dentry, sink WatchSink, wd int32, mask uint32) *Watch {
	s := getState(stateKey(d))
	w := &Watch{Sink: sink, WD: wd, state: s}
	w.mask.Store(mask)
	s.watchMu.Lock()
	if s.watches == nil {
		s.watches = make(map[*Watch]struct{})
	}
	s.watches[w] = struct{}{}
	s.watchMu.Unlock()
	watchCount.Add(1)
	// The watch keeps its use of s until it is removed.
	return w
}

// RemoveWatch takes w off its inode. It reports false if w was already
// gone. No IN_IGNORED is sent; the caller queues one if it wants it.
func RemoveWatch(w *Watch) bool {
	if w.removed.Swap(true) {
		return false
	}
	s := w.state
	s.watchMu.Lock()
	delete(s.watches, w)
	s.watchMu.Unlock()
	watchCount.Add(-1)
	putState(s)
	return true
}

// alwaysDelivered are events a watch gets whatever its mask.
const alwaysDelivered = unix.IN_IGNORED | unix.IN_UNMOUNT | unix.IN_Q_OVERFLOW

// notifyKey raises an event on the watches of the inode with key.
func notifyKey(key any, mask, cookie uint32, name string) {
	if watchCount.Load() == 0 {
		return
	}
	s := lookupState(key)
	if s == nil {
		return
	}
	s.watchMu.Lock()
	ws := make([]*Watch, 0, len(s.watches))
	for w := range s.watches {
		ws = append(ws, w)
	}
	s.watchMu.Unlock()
	putState(s)
	for _, w := range ws {
		wm := w.Mask()
		if wm&mask&unix.IN_ALL_EVENTS == 0 && mask&alwaysDelivered == 0 {
			continue
		}
		if wm&unix.IN_ONESHOT != 0 {
			if !RemoveWatch(w) {
				continue
			}
			w.Sink.Event(w, mask, cookie, name)
			w.Sink.Event(w, unix.IN_IGNORED, 0, "")
			continue
		}
		if w.removed.Load() {
			continue
		}
		w.Sink.Event(w, mask, cookie, name)
	}
}

// removeAllWatches drops every watch on the inode with key, sending
// IN_IGNORED (its file is gone).
func removeAllWatches(key any) {
	if watchCount.Load() == 0 {
		return
	}
	s := lookupState(key)
	if s == nil {
		return
	}
	s.watchMu.Lock()
	ws := make([]*Watch, 0, len(s.watches))
	for w := range s.watches {
		ws = append(ws, w)
	}
	s.watchMu.Unlock()
	putState(s)
	for _, w := range ws {
		if RemoveWatch(w) {
			w.Sink.Event(w, unix.IN_IGNORED, 0, "")
		}
	}
}

// isDirFlag returns IN_ISDIR if d is a directory.
func isDirFlag(ctx Context, inode Inode) uint32 {
	if st, err := inode.Stat(ctx); err == nil && FileType(st.Mode) == unix.S_IFDIR {
		return unix.IN_ISDIR
	}
	return 0
}

// notifyDentry raises mask about the file at d: on its own watches, and
// on its parent directory's watches with its name (while it has one).
func notifyDentry(ctx Context, d *Dentry, mask uint32) {
	if watchCount.Load() == 0 || d == nil {
		return
	}
	notifyDentryMask(d, mask|isDirFlag(ctx, d.inode))
}

// notifyDentryMask is notifyDentry with IN_ISDIR already in mask.
func notifyDentryMask(d *Dentry, mask uint32) {
	if watchCount.Load() == 0 {
		return
	}
	notifyKey(stateKey(d), mask, 0, "")
	if d.IsDead() {
		return
	}
	treeMu.RLock()
	parent, name := d.parent, d.name
	treeMu.RUnlock()
	if parent != nil && d != d.fs.root {
		notifyKey(stateKey(parent), mask, 0, name)
	}
}

// notifyChild raises mask on the watches of directory parent about its
// child called name.
func notifyChild(parent *Dentry, mask, cookie uint32, name string) {
	if watchCount.Load() == 0 {
		return
	}
	notifyKey(stateKey(parent), mask, cookie, name)
}

// notifySelf raises mask on the watches of d's own inode.
func notifySelf(ctx Context, d *Dentry, mask uint32) {
	if watchCount.Load() == 0 {
		return
	}
	notifyKey(stateKey(d), mask|isDirFlag(ctx, d.inode), 0, "")
}

// notifyRemoved raises the events of a name's removal: IN_ATTRIB (the
// link count) on the file, then if that was its last link IN_DELETE_SELF
// and IN_IGNORED on the file, then IN_DELETE in the directory.
func notifyRemoved(ctx Context, parent, child *Dentry, name string, isDir bool) {
	if watchCount.Load() == 0 {
		return
	}
	var dirFlag uint32
	if isDir {
		dirFlag = unix.IN_ISDIR
	}
	key := stateKey(child)
	gone := isDir
	if !isDir {
		notifyKey(key, unix.IN_ATTRIB, 0, "")
		st, err := child.inode.Stat(ctx)
		gone = err != nil || st.Nlink == 0
	}
	if gone {
		notifyKey(key, unix.IN_DELETE_SELF|dirFlag, 0, "")
		removeAllWatches(key)
	}
	notifyKey(stateKey(parent), unix.IN_DELETE|dirFlag, 0, name)
}

// attrEvents returns the inotify events of an attribute change, as Linux's
// fsnotify_change chooses them.
func attrEvents(mask uint32) uint32 {
	var ev uint32
	if mask&(unix.STATX_UID|unix.STATX_GID|unix.STATX_MODE) != 0 {
		ev |= unix.IN_ATTRIB
	}
	if mask&unix.STATX_SIZE != 0 {
		ev |= unix.IN_MODIFY
	}
	switch mask & (unix.STATX_ATIME | unix.STATX_MTIME) {
	case unix.STATX_ATIME | unix.STATX_MTIME:
		ev |= unix.IN_ATTRIB
	case unix.STATX_ATIME:
		ev |= unix.IN_ACCESS
	case unix.STATX_MTIME:
		ev |= unix.IN_MODIFY
	}
	return ev
}

// notifyRenamed raises the events of a rename, in Linux's order
// (fsnotify_move): IN_MOVED_FROM in the old directory and IN_MOVED_TO in
// the new one with one cookie, IN_ATTRIB and perhaps IN_DELETE_SELF on a
// replaced file, and IN_MOVE_SELF on the moved file. An exchange is two
// moves. Called with the dentries of src and dst already updated or not:
// only the names passed are used.
func notifyRenamed(ctx Context, oldDir *Dentry, oldName string, src *Dentry, srcIsDir bool, newDir *Dentry, newName string, dst *Dentry, dstIsDir bool, flags uint32) {
	if watchCount.Load() == 0 {
		return
	}
	move := func(fromDir *Dentry, from string, d *Dentry, isDir bool, toDir *Dentry, to string) {
		var dirFlag uint32
		if isDir {
			dirFlag = unix.IN_ISDIR
		}
		cookie := cookies.Add(1)
		notifyKey(stateKey(fromDir), unix.IN_MOVED_FROM|dirFlag, cookie, from)
		notifyKey(stateKey(toDir), unix.IN_MOVED_TO|dirFlag, cookie, to)
		notifyKey(stateKey(d), unix.IN_MOVE_SELF|dirFlag, 0, "")
	}
	if dst != nil && flags&RenameExchange != 0 {
		move(oldDir, oldName, src, srcIsDir, newDir, newName)
		move(newDir, newName, dst, dstIsDir, oldDir, oldName)
		return
	}
	var dirFlag uint32
	if srcIsDir {
		dirFlag = unix.IN_ISDIR
	}
	cookie := cookies.Add(1)
	notifyKey(stateKey(oldDir), unix.IN_MOVED_FROM|dirFlag, cookie, oldName)
	notifyKey(stateKey(newDir), unix.IN_MOVED_TO|dirFlag, cookie, newName)
	if dst != nil {
		key := stateKey(dst)
		gone := dstIsDir
		if !dstIsDir {
			notifyKey(key, unix.IN_ATTRIB, 0, "")
			st, err := dst.inode.Stat(ctx)
			gone = err != nil || st.Nlink == 0
		}
		if gone {
			var df uint32
			if dstIsDir {
				df = unix.IN_ISDIR
			}
			notifyKey(key, unix.IN_DELETE_SELF|df, 0, "")
			removeAllWatches(key)
		}
	}
	notifyKey(stateKey(src), unix.IN_MOVE_SELF|dirFlag, 0, "")
}
