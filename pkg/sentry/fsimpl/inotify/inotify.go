// Package inotify owns inotify instances as inotify(7) describes them: a
// file whose reads return struct inotify_event records for the watches
// added to it. vfs keeps the watches on inodes and raises the events
// (vfs/notify.go); an Instance is the vfs.WatchSink that queues them,
// merges an event identical to the last one still queued, and reports
// IN_Q_OVERFLOW once MaxQueuedEvents are waiting. It is pollable: readable
// while events are queued.
//
// Lock order: Instance.mu > (vfs watch locks, through vfs.AddWatch and
// vfs.RemoveWatch); Instance.mu is released before the waiter queue is
// notified. vfs calls Event with none of its own locks held.
package inotify

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// MaxQueuedEvents is /proc/sys/fs/inotify/max_queued_events's default.
const MaxQueuedEvents = 16384

// eventHeaderSize is sizeof(struct inotify_event) without the name.
const eventHeaderSize = 16

// event is one queued event.
type event struct {
	wd     int32
	mask   uint32
	cookie uint32
	name   string
}

// size returns the bytes the event takes in a read: the header and the
// name NUL-padded to a multiple of the header size, as Linux pads it.
func (e *event) size() int {
	if e.name == "" {
		return eventHeaderSize
	}
	return eventHeaderSize + nameLen(e.name)
}

func nameLen(name string) int {
	return (len(name) + 1 + eventHeaderSize - 1) / eventHeaderSize * eventHeaderSize
}

// encode appends the event's record to b.
func (e *event) encode(b []byte) []byte {
	var h [eventHeaderSize]byte
	binary.NativeEndian.PutUint32(h[0:], uint32(e.wd))
	binary.NativeEndian.PutUint32(h[4:], e.mask)
	binary.NativeEndian.PutUint32(h[8:], e.cookie)
	n := 0
	if e.name != "" {
		n = nameLen(e.name)
	}
	binary.NativeEndian.PutUint32(h[12:], uint32(n))
	b = append(b, h[:]...)
	if n > 0 {
		name := make([]byte, n)
		copy(name, e.name)
		b = append(b, name...)
	}
	return b
}

// Instance is one inotify instance. It implements vfs.FileImpl,
// vfs.WatchSink and waiter.Waitable.
type Instance struct {
	vfs.FileDefaults
	fd    atomic.Pointer[vfs.FileDescription]
	queue waiter.Queue

	mu      sync.Mutex
	events  []event
	watches map[int32]*vfs.Watch
	nextWD  int32
	// readable wakes blocked readers when an event is queued.
	readable waiter.Cond
	// overflowed is set while an IN_Q_OVERFLOW event is the last queued.
	overflowed bool
	released   bool
}

var (
	_ vfs.FileImpl    = (*Instance)(nil)
	_ vfs.WatchSink   = (*Instance)(nil)
	_ waiter.Waitable = (*Instance)(nil)
)

// New returns a new inotify instance as an open file description with one
// reference; flags may hold O_NONBLOCK (O_CLOEXEC is the caller's business).
func New(flags uint32) *vfs.FileDescription {
	in := &Instance{watches: make(map[int32]*vfs.Watch), nextWD: 1}
	fd := vfs.NewFileDescription(in, vfs.VirtualDentry{}, unix.O_RDONLY|flags&unix.O_NONBLOCK)
	in.fd.Store(fd)
	return fd
}

// AnonInodeName names the file in /proc/[pid]/fd ("anon_inode:inotify").
func (in *Instance) AnonInodeName() string { return "inotify" }

// Seekable implements vfs.FileImpl.
func (in *Instance) Seekable() bool { return false }

// Stat reports an anonymous inode.
func (in *Instance) Stat(vfs.Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: 0o600, Nlink: 1, Blksize: 4096}, nil
}

// Release implements vfs.FileImpl: every watch goes, without events.
func (in *Instance) Release() {
	in.mu.Lock()
	ws := in.watches
	in.watches = nil
	in.events = nil
	in.released = true
	in.mu.Unlock()
	for _, w := range ws {
		vfs.RemoveWatch(w)
	}
}

// Event implements vfs.WatchSink.
func (in *Instance) Event(w *vfs.Watch, mask, cookie uint32, name string) {
	in.mu.Lock()
	if in.released {
		in.mu.Unlock()
		return
	}
	if mask&unix.IN_IGNORED != 0 {
		if in.watches[w.WD] == w {
			delete(in.watches, w.WD)
		}
	}
	queued := in.enqueueLocked(event{wd: w.WD, mask: mask, cookie: cookie, name: name})
	in.mu.Unlock()
	if queued {
		in.queue.Notify(waiter.ReadableEvents)
	}
}

// enqueueLocked queues e unless it repeats the last queued event, or adds
// IN_Q_OVERFLOW once the queue is full. It reports whether anything was
// queued.
func (in *Instance) enqueueLocked(e event) bool {
	if n := len(in.events); n > 0 && in.events[n-1] == e {
		return false
	}
	if len(in.events) >= MaxQueuedEvents {
		if in.overflowed {
			return false
		}
		e = event{wd: -1, mask: unix.IN_Q_OVERFLOW}
		in.overflowed = true
	}
	in.events = append(in.events, e)
	in.readable.Broadcast()
	return true
}

func (in *Instance) nonblocking() bool {
	return in.fd.Load().Flags()&unix.O_NONBLOCK != 0
}

// Read implements read(2): as many whole events as fit in p; EINVAL if not
// even the first one does.
func (in *Instance) Read(ctx vfs.Context, p []byte, _ int64) (int, error) {
	in.mu.Lock()
	for len(in.events) == 0 {
		if in.nonblocking() {
			in.mu.Unlock()
			return 0, unix.EAGAIN
		}
		sleep := in.readable.Prepare(ctx)
		in.mu.Unlock()
		if err := sleep.Restartable(); err != nil {
			return 0, err
		}
		in.mu.Lock()
	}
	defer in.mu.Unlock()
	var b []byte
	n := 0
	for n < len(in.events) && len(b)+in.events[n].size() <= len(p) {
		b = in.events[n].encode(b)
		n++
	}
	if n == 0 {
		return 0, unix.EINVAL
	}
	in.events = append(in.events[:0], in.events[n:]...)
	in.overflowed = false
	return copy(p, b), nil
}

// Ioctl implements FIONREAD: the bytes of the queued events.
func (in *Instance) Ioctl(ctx vfs.Context, cmd uint32, arg uintptr) (uintptr, error) {
	if cmd != fionread {
		return 0, unix.ENOTTY
	}
	in.mu.Lock()
	var n uint32
	for i := range in.events {
		n += uint32(in.events[i].size())
	}
	in.mu.Unlock()
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], n)
	if c, err := ctx.CopyOut(arg, b[:]); err != nil || c != 4 {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// Readiness implements waiter.Waitable.
func (in *Instance) Readiness(mask waiter.EventMask) waiter.EventMask {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.events) > 0 {
		return mask & waiter.ReadableEvents
	}
	return 0
}

// EventRegister implements waiter.Waitable.
func (in *Instance) EventRegister(e *waiter.Entry) { in.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (in *Instance) EventUnregister(e *waiter.Entry) { in.queue.EventUnregister(e) }

// AddWatch carries out inotify_add_watch(2) for the file at d, whose
// checks (permission, IN_ONLYDIR, IN_DONT_FOLLOW) the caller has made. It
// returns the watch descriptor: a new one, or that of the instance's
// existing watch on the file, whose mask is replaced (or added to, with
// IN_MASK_ADD; EEXIST with IN_MASK_CREATE).
func (in *Instance) AddWatch(d *vfs.Dentry, mask uint32) (int32, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	stored := mask &^ (unix.IN_MASK_ADD | unix.IN_MASK_CREATE | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW)
	if w := vfs.FindWatch(d, in); w != nil {
		if mask&unix.IN_MASK_CREATE != 0 {
			return 0, unix.EEXIST
		}
		if mask&unix.IN_MASK_ADD != 0 {
			stored |= w.Mask()
		}
		w.SetMask(stored)
		return w.WD, nil
	}
	wd := in.nextWD
	in.nextWD++
	in.watches[wd] = vfs.AddWatch(d, in, wd, stored)
	return wd, nil
}

// RmWatch carries out inotify_rm_watch(2): the watch goes and IN_IGNORED
// is queued; EINVAL for an unknown descriptor.
func (in *Instance) RmWatch(wd int32) error {
	in.mu.Lock()
	w, ok := in.watches[wd]
	if !ok {
		in.mu.Unlock()
		return unix.EINVAL
	}
	delete(in.watches, wd)
	in.mu.Unlock()
	if vfs.RemoveWatch(w) {
		in.Event(w, unix.IN_IGNORED, 0, "")
	}
	return nil
}

// fionread is FIONREAD.
const fionread = 0x541b
