// Package epoll owns epoll instances as epoll(7) describes them: an interest
// list of (open file description, fd number) pairs with the events each
// wants, and a ready list fed by waiter callbacks, read by epoll_wait with
// level-triggered, edge-triggered (EPOLLET) and one-shot (EPOLLONESHOT)
// semantics. An epoll instance is itself a pollable file, so instances nest
// and readiness propagates outward.
//
// It also holds the helpers poll, select and epoll share to ask any open
// file for its readiness (Readiness, Pollable): a file whose FileImpl is not
// a waiter.Waitable is always readable and writable, as Linux's regular
// files are.
//
// A watched file is dropped from every interest list when its open file
// description's last reference goes (a vfs.ReleaseHook), not when one of
// its fd numbers is closed, as in Linux.
//
// Lock order: ctlMu > EventPoll.mu (outer instance) > EventPoll.mu (nested
// instance) > the watched file's locks > waiter.Queue.mu. Waiter callbacks
// run with no lock held and take only the mu of the instance they feed;
// an instance notifies its own waiters only after releasing its mu.
package epoll

import (
	"sync"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Event flags of epoll_ctl beyond the poll events (epoll_ctl(2)).
const (
	EPOLLEXCLUSIVE = 1 << 28
	EPOLLWAKEUP    = 1 << 29
	EPOLLONESHOT   = 1 << 30
	EPOLLET        = 1 << 31

	// controlFlags are the bits that are not events.
	controlFlags = EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET
	// exclusiveOK are the only bits allowed with EPOLLEXCLUSIVE.
	exclusiveOK = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLERR | unix.EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE
)

// MaxNests is how many epoll instances may be nested below the outermost
// one of a chain (Linux's EP_MAX_NESTS): a chain holds at most MaxNests+1.
const MaxNests = 4

// MaxEvents is the largest maxevents epoll_wait accepts (Linux's
// EP_MAX_EVENTS, INT_MAX / sizeof(struct epoll_event)).
const MaxEvents = 0x7fffffff / 12

// defaultMask is what a file with no poll support reports (Linux's
// DEFAULT_POLLMASK).
const defaultMask = waiter.EventIn | waiter.EventOut | waiter.EventRdNorm | waiter.EventWrNorm

// PollChecker is implemented by Waitable files that are only sometimes
// pollable (a host FD that is a regular file); epoll_ctl refuses them with
// EPERM when Pollable is false.
type PollChecker interface {
	Pollable() bool
}

// Pollable returns f's Waitable, if it supports poll at all (pipes, sockets,
// eventfds, ...). Regular files and directories do not; epoll_ctl refuses
// them and poll reports them always ready.
func Pollable(f *vfs.FileDescription) (waiter.Waitable, bool) {
	w, ok := f.Impl().(waiter.Waitable)
	if !ok {
		return nil, false
	}
	if c, ok := w.(PollChecker); ok && !c.Pollable() {
		return nil, false
	}
	return w, true
}

// Readiness returns the events among mask (plus those always reported) that
// f has now.
func Readiness(f *vfs.FileDescription, mask waiter.EventMask) waiter.EventMask {
	if w, ok := f.Impl().(waiter.Waitable); ok {
		return w.Readiness(mask|waiter.AlwaysReported) & (mask | waiter.AlwaysReported)
	}
	return defaultMask & mask
}

// Event is one ready event as epoll_wait returns it.
type Event struct {
	Events uint32
	Data   uint64
}

// key identifies an interest list entry, as Linux's (struct file *, fd).
type key struct {
	file *vfs.FileDescription
	fd   int32
}

// item is one entry of an interest list.
type item struct {
	ep  *EventPoll
	key key
	// w is the watched file's Waitable.
	w waiter.Waitable
	// entry is registered on w while the item exists.
	entry waiter.Entry

	// The following are guarded by ep.mu.

	// events are the requested events and control flags.
	events uint32
	data   uint64
	// ready is set while the item is on ep.ready.
	ready bool
	// disarmed is set once a one-shot item has fired, until EPOLL_CTL_MOD.
	disarmed bool
	// prev and next link ep.ready.
	prev, next *item
}

// FileReleased implements vfs.ReleaseHook: the watched file's last
// reference is gone, so the item leaves its interest list.
func (it *item) FileReleased(*vfs.FileDescription) {
	ep := it.ep
	ep.mu.Lock()
	if ep.items[it.key] == it {
		ep.removeLocked(it)
	}
	ep.mu.Unlock()
}

// callback is the waiter callback of the item: the watched file may have
// become ready.
func (it *item) callback(ev waiter.EventMask) {
	ep := it.ep
	ep.mu.Lock()
	if ep.items[it.key] != it || it.disarmed || uint32(ev)&(it.events|uint32(waiter.AlwaysReported)) == 0 {
		ep.mu.Unlock()
		return
	}
	if !it.ready {
		ep.pushLocked(it)
	}
	ep.mu.Unlock()
	ep.queue.Notify(waiter.ReadableEvents)
}

// EventPoll is one epoll instance. It implements vfs.FileImpl and
// waiter.Waitable (readable while events are pending).
type EventPoll struct {
	vfs.FileDefaults

	// queue holds the waiters of the instance: epoll_wait callers,
	// poll callers and enclosing instances.
	queue waiter.Queue

	mu    sync.Mutex
	items map[key]*item
	// head and tail are the ready list, items that may have events.
	head, tail *item
	// parents counts, per instance, the items that watch this one; the
	// nesting checks walk it upward. Guarded by ctlMu.
	parents map[*EventPoll]int
}

var (
	_ vfs.FileImpl    = (*EventPoll)(nil)
	_ waiter.Waitable = (*EventPoll)(nil)
)

// ctlMu serialises changes to nesting (adding an epoll instance to another)
// so that loop checks see a stable graph, as Linux's epnested_mutex.
var ctlMu sync.Mutex

// New returns a new, empty epoll instance as an open file description with
// one reference. flags are its status flags (O_RDWR is implied).
func New() *vfs.FileDescription {
	ep := &EventPoll{items: make(map[key]*item)}
	return vfs.NewFileDescription(ep, vfs.VirtualDentry{}, unix.O_RDWR)
}

// FromFile returns the instance behind f, if f is an epoll file.
func FromFile(f *vfs.FileDescription) (*EventPoll, bool) {
	ep, ok := f.Impl().(*EventPoll)
	return ep, ok
}

// pushLocked appends it to the ready list.
func (ep *EventPoll) pushLocked(it *item) {
	it.ready = true
	it.next = nil
	it.prev = ep.tail
	if ep.tail != nil {
		ep.tail.next = it
	} else {
		ep.head = it
	}
	ep.tail = it
}

// unlinkLocked takes it off the ready list.
func (ep *EventPoll) unlinkLocked(it *item) {
	if !it.ready {
		return
	}
	if it.prev != nil {
		it.prev.next = it.next
	} else {
		ep.head = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	} else {
		ep.tail = it.prev
	}
	it.prev, it.next, it.ready = nil, nil, false
}

// removeLocked deletes it from the interest list and stops watching.
func (ep *EventPoll) removeLocked(it *item) {
	ep.unlinkLocked(it)
	delete(ep.items, it.key)
	it.w.EventUnregister(&it.entry)
	it.key.file.RemoveReleaseHook(it)
	if child, ok := it.w.(*EventPoll); ok {
		// Guarded by ctlMu in Linux; a map update under the child's
		// own bookkeeping lock is enough here.
		parentsMu.Lock()
		if child.parents[ep]--; child.parents[ep] <= 0 {
			delete(child.parents, ep)
		}
		parentsMu.Unlock()
	}
}

// parentsMu guards every EventPoll.parents map. It is a leaf lock, taken
// under ctlMu and under EventPoll.mu.
var parentsMu sync.Mutex

// Release implements vfs.FileImpl: the instance's last reference is gone,
// so it stops watching everything.
func (ep *EventPoll) Release() {
	ep.mu.Lock()
	for _, it := range ep.items {
		ep.removeLocked(it)
	}
	ep.mu.Unlock()
}

// Seekable implements vfs.FileImpl: lseek fails with ESPIPE.
func (ep *EventPoll) Seekable() bool { return false }

// Stat implements vfs.FileDescription's stat for an anonymous inode.
func (ep *EventPoll) Stat(vfs.Context) (unix.Statx_t, error) {
	return anonStat(), nil
}

// anonStat is what fstat reports for anon_inode files: mode 0600 with no
// file type, owned by root.
func anonStat() unix.Statx_t {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: 0o600, Nlink: 1, Blksize: 4096}
}

// Readiness implements waiter.Waitable: readable while some item has an
// event to report.
func (ep *EventPoll) Readiness(mask waiter.EventMask) waiter.EventMask {
	if mask&waiter.ReadableEvents == 0 {
		return 0
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for it := ep.head; it != nil; it = it.next {
		if !it.disarmed && it.w.Readiness(waiter.EventMask(it.events))&waiter.EventMask(it.events|uint32(waiter.AlwaysReported)) != 0 {
			return mask & waiter.ReadableEvents
		}
	}
	return 0
}

// EventRegister implements waiter.Waitable.
func (ep *EventPoll) EventRegister(e *waiter.Entry) { ep.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (ep *EventPoll) EventUnregister(e *waiter.Entry) { ep.queue.EventUnregister(e) }

// Add implements EPOLL_CTL_ADD of file (open at fd number fd) with the
// requested events and data.
func (ep *EventPoll) Add(file *vfs.FileDescription, fd int32, events uint32, data uint64) error {
	w, ok := Pollable(file)
	if !ok {
		return unix.EPERM
	}
	child, isEpoll := w.(*EventPoll)
	if child == ep {
		return unix.EINVAL
	}
	if events&EPOLLEXCLUSIVE != 0 && (isEpoll || events&^exclusiveOK != 0) {
		return unix.EINVAL
	}
	if isEpoll {
		ctlMu.Lock()
		defer ctlMu.Unlock()
		if child.reaches(ep) || child.depthBelow()+1+ep.depthAbove() > MaxNests+1 {
			return unix.ELOOP
		}
	}
	k := key{file: file, fd: fd}
	ep.mu.Lock()
	if _, ok := ep.items[k]; ok {
		ep.mu.Unlock()
		return unix.EEXIST
	}
	it := &item{ep: ep, key: k, w: w, events: events | uint32(waiter.AlwaysReported), data: data}
	it.entry.Mask = waiter.EventMask(it.events &^ controlFlags)
	it.entry.Callback = it.callback
	ep.items[k] = it
	file.AddReleaseHook(it)
	w.EventRegister(&it.entry)
	if isEpoll {
		parentsMu.Lock()
		if child.parents == nil {
			child.parents = make(map[*EventPoll]int)
		}
		child.parents[ep]++
		parentsMu.Unlock()
	}
	ready := w.Readiness(waiter.EventMask(it.events))&waiter.EventMask(it.events) != 0
	if ready {
		ep.pushLocked(it)
	}
	ep.mu.Unlock()
	if ready {
		ep.queue.Notify(waiter.ReadableEvents)
	}
	return nil
}

// Modify implements EPOLL_CTL_MOD: new events and data for an existing
// item; a disarmed one-shot item is re-armed.
func (ep *EventPoll) Modify(file *vfs.FileDescription, fd int32, events uint32, data uint64) error {
	if _, ok := Pollable(file); !ok {
		return unix.EPERM
	}
	if events&EPOLLEXCLUSIVE != 0 {
		return unix.EINVAL
	}
	ep.mu.Lock()
	it, ok := ep.items[key{file: file, fd: fd}]
	if !ok {
		ep.mu.Unlock()
		return unix.ENOENT
	}
	if it.events&EPOLLEXCLUSIVE != 0 {
		ep.mu.Unlock()
		return unix.EINVAL
	}
	// Re-register so the waiter mask follows the new events.
	it.w.EventUnregister(&it.entry)
	it.events = events | uint32(waiter.AlwaysReported)
	it.data = data
	it.disarmed = false
	it.entry.Mask = waiter.EventMask(it.events &^ controlFlags)
	it.w.EventRegister(&it.entry)
	ready := it.w.Readiness(waiter.EventMask(it.events))&waiter.EventMask(it.events) != 0
	if ready && !it.ready {
		ep.pushLocked(it)
	}
	ep.mu.Unlock()
	if ready {
		ep.queue.Notify(waiter.ReadableEvents)
	}
	return nil
}

// Delete implements EPOLL_CTL_DEL.
func (ep *EventPoll) Delete(file *vfs.FileDescription, fd int32) error {
	if _, ok := Pollable(file); !ok {
		return unix.EPERM
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	it, ok := ep.items[key{file: file, fd: fd}]
	if !ok {
		return unix.ENOENT
	}
	ep.removeLocked(it)
	return nil
}

// children returns the epoll instances ep watches directly.
func (ep *EventPoll) children() []*EventPoll {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []*EventPoll
	for _, it := range ep.items {
		if c, ok := it.w.(*EventPoll); ok {
			out = append(out, c)
		}
	}
	return out
}

// reaches reports whether target is ep or is watched by ep, directly or
// through nested instances. ctlMu must be held.
func (ep *EventPoll) reaches(target *EventPoll) bool {
	if ep == target {
		return true
	}
	for _, c := range ep.children() {
		if c.reaches(target) {
			return true
		}
	}
	return false
}

// depthBelow is the length of the longest chain of instances nested in ep,
// counting ep. ctlMu must be held.
func (ep *EventPoll) depthBelow() int {
	d := 0
	for _, c := range ep.children() {
		d = max(d, c.depthBelow())
	}
	return d + 1
}

// depthAbove is the length of the longest chain of instances that contain
// ep, not counting ep. ctlMu must be held.
func (ep *EventPoll) depthAbove() int {
	parentsMu.Lock()
	ps := make([]*EventPoll, 0, len(ep.parents))
	for p := range ep.parents {
		ps = append(ps, p)
	}
	parentsMu.Unlock()
	d := 0
	for _, p := range ps {
		d = max(d, 1+p.depthAbove())
	}
	return d
}

// Collect takes up to max pending events off the ready list, as one
// epoll_wait pass does: an item whose file is no longer ready is dropped;
// a level-triggered item that reported stays on the list (behind the
// others); an edge-triggered one leaves it until its next wake-up; a
// one-shot one is disarmed.
func (ep *EventPoll) Collect(max int) []Event {
	ep.mu.Lock()
	var out []Event
	var again []*item
	for len(out) < max && ep.head != nil {
		it := ep.head
		ep.unlinkLocked(it)
		if it.disarmed {
			continue
		}
		want := waiter.EventMask(it.events &^ controlFlags)
		ev := it.w.Readiness(want) & want
		if ev == 0 {
			continue
		}
		out = append(out, Event{Events: uint32(ev), Data: it.data})
		switch {
		case it.events&EPOLLONESHOT != 0:
			it.disarmed = true
		case it.events&EPOLLET == 0:
			again = append(again, it)
		}
	}
	for _, it := range again {
		if !it.ready {
			ep.pushLocked(it)
		}
	}
	ep.mu.Unlock()
	return out
}
