package gofer

// Shared open handles. Opening a file through the Gofer takes two round
// trips (Twalk to clone the inode's fid, Tlopen to open it and receive the
// host descriptor) and closing it a third (Tclunk); each is a wake-up of
// another process, about 100 µs on a loaded host. An inode therefore keeps
// the handle of its last plain open for each access mode and hands it to
// later opens with that mode: open(2) and close(2) of a file opened before
// make no round trip. Reads and writes use the host descriptor with
// explicit offsets (pread/pwrite), so files sharing one need nothing of
// it but the descriptor; what differs between opens (O_APPEND, the
// offset, the status flags) lives in vfs. Opens that change the host
// descriptor's behaviour (O_SYNC, O_DSYNC, O_DIRECT) or the file (O_TRUNC)
// get a handle of their own, as do opens the Gofer donates no descriptor
// for.
//
// At most maxSharedHandles handles are kept per file system; the least
// recently opened goes first (its descriptor closes when the last file
// using it does). A file's kept handles go when a name of it is removed or
// replaced, so that a removed file's space is not held on the host.
//
// Lock order: Filesystem.handleMu > inode.mu. A handle's last reference
// is dropped with no lock held (it clunks its fid).

import (
	"container/list"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/p9"
)

// maxSharedHandles bounds the handles kept for reuse per file system, and
// so the host descriptors the Sentry holds for files nobody has open.
const maxSharedHandles = 512

// handle is an opened fid and the host descriptor donated with it.
type handle struct {
	fid  *p9.File
	host *os.File // nil if the Gofer donated none
	refs atomic.Int32
}

func newHandle(fid *p9.File, host *os.File) *handle {
	h := &handle{fid: fid, host: host}
	h.refs.Store(1)
	return h
}

// decRef drops a reference; the last closes the descriptor and the fid.
func (h *handle) decRef() {
	if h.refs.Add(-1) != 0 {
		return
	}
	if h.host != nil {
		h.host.Close()
	}
	h.fid.Close()
}

// handleKey names a kept handle: an inode and an access mode.
type handleKey struct {
	inode *inode
	acc   uint32
}

// handleLRU is the set of kept handles of a file system, most recently
// used first.
type handleLRU struct {
	order *list.List // of handleKey
	elems map[handleKey]*list.Element
}

// openHandle returns a handle for opening i with the open(2) flags given,
// with a reference for the caller: a kept one when it can serve, else a
// new one (kept for later opens if it can serve them).
func (i *inode) openHandle(flags uint32) (*handle, error) {
	acc := flags & unix.O_ACCMODE
	shareable := flags&(unix.O_TRUNC|unix.O_SYNC|unix.O_DSYNC|unix.O_DIRECT) == 0
	if shareable {
		if h := i.fs.keptHandle(i, acc); h != nil {
			return h, nil
		}
	}
	// O_APPEND is vfs's business: the host descriptor is written at the
	// offsets vfs gives.
	openFlags := flags & (unix.O_ACCMODE | unix.O_TRUNC | unix.O_SYNC | unix.O_DSYNC | unix.O_DIRECT)
	f, host, _, _, err := i.file.WalkOpen(openFlags)
	if err != nil {
		return nil, err
	}
	h := newHandle(f, host)
	if shareable && host != nil {
		i.fs.keepHandle(i, acc, h)
	}
	return h, nil
}

// keptHandle returns i's kept handle for acc with a new reference, or nil.
func (fs *Filesystem) keptHandle(i *inode, acc uint32) *handle {
	fs.handleMu.Lock()
	defer fs.handleMu.Unlock()
	e, ok := fs.handles.elems[handleKey{i, acc}]
	if !ok {
		return nil
	}
	fs.handles.order.MoveToFront(e)
	i.mu.Lock()
	h := i.handles[acc]
	i.mu.Unlock()
	h.refs.Add(1)
	return h
}

// keepHandle makes h i's kept handle for acc (taking a reference for the
// inode), unless another open kept one first; it evicts the least
// recently used handle beyond the bound.
func (fs *Filesystem) keepHandle(i *inode, acc uint32, h *handle) {
	var drop []*handle
	fs.handleMu.Lock()
	if fs.handles.elems == nil {
		fs.handles = handleLRU{order: list.New(), elems: make(map[handleKey]*list.Element)}
	}
	k := handleKey{i, acc}
	if _, ok := fs.handles.elems[k]; !ok {
		h.refs.Add(1)
		i.mu.Lock()
		i.handles[acc] = h
		i.mu.Unlock()
		fs.handles.elems[k] = fs.handles.order.PushFront(k)
	}
	for fs.handles.order.Len() > maxSharedHandles {
		old := fs.handles.order.Remove(fs.handles.order.Back()).(handleKey)
		delete(fs.handles.elems, old)
		old.inode.mu.Lock()
		drop = append(drop, old.inode.handles[old.acc])
		old.inode.handles[old.acc] = nil
		old.inode.mu.Unlock()
	}
	fs.handleMu.Unlock()
	for _, d := range drop {
		d.decRef()
	}
}

// dropHandles forgets i's kept handles, and its page cache's write-back
// descriptor if nothing maps it (its name was removed or replaced).
func (fs *Filesystem) dropHandles(i *inode) {
	var drop []*handle
	fs.handleMu.Lock()
	for acc := range i.handles {
		k := handleKey{i, uint32(acc)}
		if e, ok := fs.handles.elems[k]; ok {
			fs.handles.order.Remove(e)
			delete(fs.handles.elems, k)
			i.mu.Lock()
			drop = append(drop, i.handles[acc])
			i.handles[acc] = nil
			i.mu.Unlock()
		}
	}
	fs.handleMu.Unlock()
	for _, d := range drop {
		d.decRef()
	}
	i.mu.Lock()
	c := i.cache
	i.mu.Unlock()
	if c != nil {
		c.releaseWriteFD()
	}
}
