// Package mqueue is the POSIX message queue file system, as mq_overview(7)
// describes it: one flat directory of queues per sandbox (the sandbox has
// one IPC namespace), reached by the mq_* system calls and, where a
// container mounts it (runc's /dev/mqueue), through the file system: a
// queue is a file whose read(2) shows its status line, which open(2) with
// O_CREAT can make and unlink(2) removes.
//
// A queue holds at most its maxmsg messages of at most msgsize bytes each,
// received highest priority first and in send order within a priority.
// mq_notify(3) registrations with SIGEV_NONE and SIGEV_SIGNAL are kept;
// the caller (the system call layer) supplies what a notification does.
// Not modelled: RLIMIT_MSGQUEUE accounting, and removing a registration
// when its process closes the descriptor.
//
// Lock order: Filesystem.mu > Queue.mu; waiter.Queue notifications are
// made after Queue.mu is released.
package mqueue

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/syserr"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// Limits, as Linux's defaults of /proc/sys/fs/mqueue and its hard limits.
const (
	// MaxPriority is MQ_PRIO_MAX: priorities are below it.
	MaxPriority = 32768
	// DefaultMaxMsg and DefaultMsgSize are a new queue's attributes when
	// mq_open is given none (msg_default, msgsize_default).
	DefaultMaxMsg  = 10
	DefaultMsgSize = 8192
	// MsgMax and MsgSizeMax bound the attributes an unprivileged caller
	// may ask for (msg_max, msgsize_max); HardMsgMax and HardMsgSizeMax
	// bound them for a caller with CAP_SYS_RESOURCE.
	MsgMax         = 10
	MsgSizeMax     = 8192
	HardMsgMax     = 65536
	HardMsgSizeMax = 16 << 20
	// QueuesMax is how many queues may exist (queues_max), unless the
	// creator has CAP_SYS_RESOURCE.
	QueuesMax = 256
)

// capSysResource is CAP_SYS_RESOURCE.
const capSysResource = 24

// Attr is struct mq_attr.
type Attr struct {
	Flags, MaxMsg, MsgSize, CurMsgs int64
	_                               [4]int64
}

// Sender identifies the process that sent a message, for a notification's
// siginfo.
type Sender struct {
	PID int32
	UID uint32
}

// Notification is a process's mq_notify registration.
type Notification struct {
	// Owner identifies the registered process; only it may remove the
	// registration.
	Owner any
	// Notify and Signo are sigev_notify and sigev_signo, and PID the
	// owner's process ID, as the queue's status line shows them.
	Notify, Signo, PID int32
	// Fire carries out the notification; it is called once, with no lock
	// held, when a message arrives in the empty queue while no receiver
	// waits, and the registration is then removed.
	Fire func(Sender)
}

// Filesystem is the sandbox's message queue file system.
type Filesystem struct {
	root *dirInode

	mu     sync.Mutex
	queues map[string]*Queue
}

var inoCounter atomic.Uint64

func nextIno() uint64 { return inoCounter.Add(1) }

// New returns an empty message queue file system.
func New() *Filesystem {
	fs := &Filesystem{queues: make(map[string]*Queue)}
	fs.root = &dirInode{fs: fs, ino: nextIno(), ts: vfs.Now()}
	return fs
}

// Instance returns the sandbox's message queue mount in v, which the mq_*
// system calls use and /dev/mqueue mounts show: one per VFS, made the
// first time.
func Instance(v *vfs.VFS) *vfs.Mount {
	return v.AnonMount("mqueue", func() vfs.Filesystem { return New() })
}

// Name implements vfs.Filesystem.
func (fs *Filesystem) Name() string { return "mqueue" }

// Root implements vfs.Filesystem.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// Statfs implements vfs.Filesystem.
func (fs *Filesystem) Statfs(vfs.Context) (unix.Statfs_t, error) {
	const mqueueMagic = 0x19800202
	return unix.Statfs_t{Type: mqueueMagic, Bsize: 4096, Frsize: 4096, Namelen: 255}, nil
}

// CreateQueue makes the queue called name with permission bits mode (the
// umask applied), owned by the caller, with attr's maxmsg and msgsize (the
// defaults if attr is nil). It fails with EEXIST if the name exists,
// EINVAL for attributes out of the caller's limits and ENOSPC when
// QueuesMax queues exist.
func (fs *Filesystem) CreateQueue(ctx vfs.Context, name string, mode uint32, attr *Attr) error {
	creds := ctx.Credentials()
	privileged := creds.HasCapability(capSysResource)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.queues[name]; ok {
		return unix.EEXIST
	}
	maxMsg, msgSize := int64(DefaultMaxMsg), int64(DefaultMsgSize)
	if attr != nil {
		maxMsg, msgSize = attr.MaxMsg, attr.MsgSize
		limMsg, limSize := int64(MsgMax), int64(MsgSizeMax)
		if privileged {
			limMsg, limSize = HardMsgMax, HardMsgSizeMax
		}
		if maxMsg <= 0 || msgSize <= 0 || maxMsg > limMsg || msgSize > limSize {
			return unix.EINVAL
		}
	}
	if len(fs.queues) >= QueuesMax && !privileged {
		return unix.ENOSPC
	}
	now := vfs.Now()
	fs.queues[name] = &Queue{ino: nextIno(), mode: uint16(mode & 0o7777), uid: creds.FSUID, gid: creds.FSGID,
		ts: now, maxMsg: maxMsg, msgSize: msgSize}
	fs.root.ts = now
	return nil
}

// dirInode is the file system's only directory.
type dirInode struct {
	fs  *Filesystem
	ino uint64
	// ts is the directory's times; Filesystem.mu.
	ts unix.StatxTimestamp
}

var (
	_ vfs.Creator  = (*dirInode)(nil)
	_ vfs.Unlinker = (*dirInode)(nil)
)

func (d *dirInode) Stat(vfs.Context) (unix.Statx_t, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFDIR | unix.S_ISVTX | 0o777, Nlink: 2,
		Ino: d.ino, Blksize: 4096, Atime: d.ts, Mtime: d.ts, Ctime: d.ts}, nil
}

func (d *dirInode) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	q, ok := d.fs.queues[name]
	if !ok {
		return nil, unix.ENOENT
	}
	return q, nil
}

func (d *dirInode) Readlink(vfs.Context) (string, error) { return "", unix.EINVAL }

func (d *dirInode) Open(_ vfs.Context, dent *vfs.Dentry, _ uint32) (vfs.FileImpl, error) {
	d.fs.mu.Lock()
	names := make([]string, 0, len(d.fs.queues))
	for n := range d.fs.queues {
		names = append(names, n)
	}
	d.fs.mu.Unlock()
	sort.Strings(names)
	return &dirFile{d: d, dent: dent, names: names}, nil
}

// Create implements vfs.Creator: open(2) with O_CREAT in a mounted
// mqueue makes a queue with the default attributes.
func (d *dirInode) Create(ctx vfs.Context, name string, mode uint32) (vfs.Inode, error) {
	if err := d.fs.CreateQueue(ctx, name, mode, nil); err != nil {
		return nil, err
	}
	return d.Lookup(ctx, name)
}

// Unlink implements vfs.Unlinker (mq_unlink, unlink(2)): the queue's name
// goes; the queue lives on while descriptors of it are open.
func (d *dirInode) Unlink(_ vfs.Context, name string, child vfs.Inode) error {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	if q, ok := d.fs.queues[name]; !ok || q != child {
		return unix.ENOENT
	}
	delete(d.fs.queues, name)
	d.ts = vfs.Now()
	return nil
}

// Rmdir implements vfs.Unlinker: there are no directories to remove.
func (d *dirInode) Rmdir(vfs.Context, string, vfs.Inode) error { return unix.ENOTDIR }

type dirFile struct {
	vfs.FileDefaults
	d     *dirInode
	dent  *vfs.Dentry
	names []string
}

func (f *dirFile) Read(vfs.Context, []byte, int64) (int, error) { return 0, unix.EISDIR }

func (f *dirFile) IterDirents(ctx vfs.Context, off int64, emit func(vfs.Dirent) bool) (int64, error) {
	return vfs.IterStaticDirents(ctx, f.dent, off, f.names, func(name string) (uint64, uint8) {
		if q, err := f.d.Lookup(ctx, name); err == nil {
			return q.(*Queue).ino, unix.DT_REG
		}
		return 0, unix.DT_REG
	}, emit)
}

// message is one queued message.
type message struct {
	data []byte
	prio uint32
}

// Queue is one message queue; it is the queue file's inode.
type Queue struct {
	ino             uint64
	maxMsg, msgSize int64

	// events notifies poll, select and epoll of readiness changes.
	events waiter.Queue

	mu       sync.Mutex
	mode     uint16
	uid, gid uint32
	ts       unix.StatxTimestamp
	// msgs are the messages in receive order: priority descending, then
	// send order.
	msgs []message
	// bytes is the total size of msgs (QSIZE).
	bytes int64
	// receivers counts the receivers waiting for a message.
	receivers int
	notEmpty  waiter.Cond
	notFull   waiter.Cond
	notify    *Notification
}

var _ vfs.AttrSetter = (*Queue)(nil)

// Stat implements vfs.Inode. A queue's size is that of its status line,
// as in Linux.
func (q *Queue) Stat(vfs.Context) (unix.Statx_t, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFREG | q.mode, Nlink: 1, Ino: q.ino,
		Uid: q.uid, Gid: q.gid, Size: statusSize, Blksize: 4096, Atime: q.ts, Mtime: q.ts, Ctime: q.ts}, nil
}

// SetAttr implements vfs.AttrSetter (chmod, chown, utimes of a queue).
func (q *Queue) SetAttr(_ vfs.Context, a vfs.SetAttr) error {
	if a.Mask&unix.STATX_SIZE != 0 {
		return unix.EINVAL
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if a.Mask&unix.STATX_MODE != 0 {
		q.mode = uint16(a.Mode & 0o7777)
	}
	if a.Mask&unix.STATX_UID != 0 {
		q.uid = a.UID
	}
	if a.Mask&unix.STATX_GID != 0 {
		q.gid = a.GID
	}
	q.ts = vfs.Now()
	return nil
}

// Lookup implements vfs.Inode.
func (q *Queue) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOTDIR }

// Readlink implements vfs.Inode.
func (q *Queue) Readlink(vfs.Context) (string, error) { return "", unix.EINVAL }

// Open implements vfs.Inode.
func (q *Queue) Open(vfs.Context, *vfs.Dentry, uint32) (vfs.FileImpl, error) {
	return &File{q: q}, nil
}

// Attr returns the queue's attributes; Flags is the caller's business.
func (q *Queue) Attr() Attr {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Attr{MaxMsg: q.maxMsg, MsgSize: q.msgSize, CurMsgs: int64(len(q.msgs))}
}

// MsgSize returns the largest message the queue takes.
func (q *Queue) MsgSize() int64 { return q.msgSize }

// wait sleeps on c after the caller prepared it and released q.mu:
// ETIMEDOUT past the deadline, ERESTARTSYS when interrupted (mq_send and
// mq_receive restart after a handler with SA_RESTART).
func wait(s waiter.Sleep, deadline time.Time) error {
	switch err := s.Wait(deadline); err {
	case nil, unix.ETIMEDOUT:
		return err
	default:
		return syserr.ERESTARTSYS
	}
}

// Send queues msg with priority prio (below MaxPriority; the caller has
// checked it and msg's size), waiting for room until deadline (zero: no
// limit) unless nonblock (EAGAIN). A message that makes the empty queue
// non-empty while no receiver waits fires the registered notification.
func (q *Queue) Send(ctx vfs.Context, msg []byte, prio uint32, nonblock bool, deadline time.Time, from Sender) error {
	q.mu.Lock()
	for int64(len(q.msgs)) >= q.maxMsg {
		if nonblock {
			q.mu.Unlock()
			return unix.EAGAIN
		}
		s := q.notFull.Prepare(ctx)
		q.mu.Unlock()
		if err := wait(s, deadline); err != nil {
			return err
		}
		q.mu.Lock()
	}
	i := sort.Search(len(q.msgs), func(i int) bool { return q.msgs[i].prio < prio })
	q.msgs = append(q.msgs, message{})
	copy(q.msgs[i+1:], q.msgs[i:])
	q.msgs[i] = message{data: append([]byte(nil), msg...), prio: prio}
	q.bytes += int64(len(msg))
	q.ts = vfs.Now()
	var fire *Notification
	if len(q.msgs) == 1 && q.receivers == 0 {
		fire, q.notify = q.notify, nil
	}
	q.notEmpty.Broadcast()
	q.mu.Unlock()
	q.events.Notify(waiter.ReadableEvents)
	if fire != nil {
		fire.Fire(from)
	}
	return nil
}

// Receive takes the first message (the caller has checked that a message
// of MsgSize fits its buffer), waiting for one until deadline (zero: no
// limit) unless nonblock (EAGAIN).
func (q *Queue) Receive(ctx vfs.Context, nonblock bool, deadline time.Time) ([]byte, uint32, error) {
	q.mu.Lock()
	for len(q.msgs) == 0 {
		if nonblock {
			q.mu.Unlock()
			return nil, 0, unix.EAGAIN
		}
		s := q.notEmpty.Prepare(ctx)
		q.receivers++
		q.mu.Unlock()
		err := wait(s, deadline)
		q.mu.Lock()
		q.receivers--
		if err != nil {
			q.mu.Unlock()
			return nil, 0, err
		}
	}
	m := q.msgs[0]
	q.msgs[0] = message{}
	q.msgs = q.msgs[1:]
	q.bytes -= int64(len(m.data))
	q.ts = vfs.Now()
	q.notFull.Broadcast()
	q.mu.Unlock()
	q.events.Notify(waiter.WritableEvents)
	return m.data, m.prio, nil
}

// SetNotification registers n (mq_notify with a sigevent): EBUSY if a
// process is registered already. With n nil it removes owner's
// registration (mq_notify with NULL), and nothing else's.
func (q *Queue) SetNotification(owner any, n *Notification) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n == nil {
		if q.notify != nil && q.notify.Owner == owner {
			q.notify = nil
		}
		return nil
	}
	if q.notify != nil {
		return unix.EBUSY
	}
	q.notify = n
	return nil
}

// statusSize is the length of a status line (Linux's FILENT_SIZE).
const statusSize = 80

// status returns the queue's status line, as read(2) of it shows.
func (q *Queue) status() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var notify, signo, pid int32
	if n := q.notify; n != nil {
		notify, signo, pid = n.Notify, n.Signo, n.PID
	}
	return fmt.Sprintf("QSIZE:%-10d NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n", q.bytes, notify, signo, pid)
}

// File is an open queue: a message queue descriptor.
type File struct {
	vfs.FileDefaults
	q *Queue
}

// Queue returns the file's queue.
func (f *File) Queue() *Queue { return f.q }

var (
	_ vfs.FileImpl    = (*File)(nil)
	_ waiter.Waitable = (*File)(nil)
)

// Read implements read(2): the status line from off.
func (f *File) Read(_ vfs.Context, p []byte, off int64) (int, error) {
	s := f.q.status()
	if off >= int64(len(s)) {
		return 0, nil
	}
	return copy(p, s[off:]), nil
}

// Seekable implements vfs.FileImpl: the status line has positions.
func (f *File) Seekable() bool { return true }

// Readiness implements waiter.Waitable: readable with a message queued,
// writable with room for one.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	q := f.q
	q.mu.Lock()
	defer q.mu.Unlock()
	var ev waiter.EventMask
	if len(q.msgs) > 0 {
		ev |= waiter.ReadableEvents
	}
	if int64(len(q.msgs)) < q.maxMsg {
		ev |= waiter.WritableEvents
	}
	return ev & mask
}

// EventRegister implements waiter.Waitable.
func (f *File) EventRegister(e *waiter.Entry) { f.q.events.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (f *File) EventUnregister(e *waiter.Entry) { f.q.events.EventUnregister(e) }
