package linux

import (
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/mqueue"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

// POSIX message queues (mq_overview(7)), on the sandbox's mqueue file
// system. The C library strips the name's leading slash: the system calls
// take a bare name.

// siMesgq is SI_MESGQ, the si_code of a message queue notification.
const siMesgq = -3

// mqueueRoot returns the root of the sandbox's message queue file system.
func mqueueRoot(t *kernel.Task) vfs.VirtualDentry {
	m := mqueue.Instance(t.Kernel().VFS)
	return vfs.VirtualDentry{Mount: m, Dentry: m.Root()}
}

// mqueueName copies in a queue name and checks it as Linux's lookup of
// one name does: ENOENT when empty, EACCES with a slash or for "." and
// "..", ENAMETOOLONG past NAME_MAX.
func mqueueName(t *kernel.Task, addr uintptr) (string, error) {
	name, err := copyInPath(t, addr)
	if err != nil {
		return "", err
	}
	switch {
	case name == "":
		return "", unix.ENOENT
	case strings.Contains(name, "/") || name == "." || name == "..":
		return "", unix.EACCES
	case len(name) > vfs.MaxNameLen:
		return "", unix.ENAMETOOLONG
	}
	return name, nil
}

// MqOpen implements mq_open(2).
func MqOpen(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	name, err := mqueueName(t, a[0])
	if err != nil {
		return 0, err
	}
	oflag, mode := argUint(a[1]), argUint(a[2])
	var attr *mqueue.Attr
	if oflag&unix.O_CREAT != 0 && a[3] != 0 {
		attr = new(mqueue.Attr)
		if err := copyInObj(t, a[3], attr); err != nil {
			return 0, err
		}
	}
	root := mqueueRoot(t)
	created := false
	if oflag&unix.O_CREAT != 0 {
		fs := root.Mount.Filesystem().FS.(*mqueue.Filesystem)
		switch err := fs.CreateQueue(t, name, mode&^t.FSContext().Umask(), attr); {
		case err == nil:
			created = true
		case err == unix.EEXIST && oflag&unix.O_EXCL == 0:
		default:
			return 0, err
		}
	}
	vd, err := t.Kernel().VFS.GetDentry(t, vfs.Resolution{Root: root, Start: root, Path: name})
	if err != nil {
		return 0, err
	}
	// Access mode 3 is refused for an existing queue only, as in Linux;
	// its creator gets a descriptor that can neither send nor receive.
	if !created && oflag&unix.O_ACCMODE == unix.O_ACCMODE {
		return 0, unix.EINVAL
	}
	flags := oflag & (unix.O_ACCMODE | unix.O_NONBLOCK)
	var f *vfs.FileDescription
	if created {
		// The creator opens its new queue whatever its mode, as open(2)
		// with O_CREAT does.
		impl, err := vd.Dentry.Inode().Open(t, vd.Dentry, flags)
		if err != nil {
			return 0, err
		}
		f = vfs.NewFileDescription(impl, vd, flags)
	} else if f, err = t.Kernel().VFS.Open(t, vd, flags); err != nil {
		return 0, err
	}
	defer f.DecRef()
	fd, err := t.NewFD(f, oflag&unix.O_CLOEXEC != 0)
	return uintptr(fd), err
}

// MqUnlink implements mq_unlink(2).
func MqUnlink(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	name, err := mqueueName(t, a[0])
	if err != nil {
		return 0, err
	}
	root := mqueueRoot(t)
	return 0, t.Kernel().VFS.UnlinkAt(t, vfs.Resolution{Root: root, Start: root, Path: name})
}

// mqueueFile returns the open queue fd names and its file, which the
// caller releases: EBADF if fd is not an open message queue descriptor.
func mqueueFile(t *kernel.Task, fd int32) (*mqueue.Queue, *vfs.FileDescription, error) {
	f, err := t.GetFile(fd)
	if err != nil {
		return nil, nil, err
	}
	mf, ok := f.Impl().(*mqueue.File)
	if !ok {
		f.DecRef()
		return nil, nil, unix.EBADF
	}
	return mf.Queue(), f, nil
}

// mqueueDeadline copies in an absolute CLOCK_REALTIME timeout (zero time
// for none): EINVAL if it is not a valid time.
func mqueueDeadline(t *kernel.Task, addr uintptr) (time.Time, error) {
	if addr == 0 {
		return time.Time{}, nil
	}
	var ts unix.Timespec
	if err := copyInObj(t, addr, &ts); err != nil {
		return time.Time{}, err
	}
	if !validTimespec(ts) {
		return time.Time{}, unix.EINVAL
	}
	return time.Unix(ts.Sec, ts.Nsec), nil
}

// MqTimedsend implements mq_timedsend(2) (and mq_send).
func MqTimedsend(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	deadline, err := mqueueDeadline(t, a[4])
	if err != nil {
		return 0, err
	}
	prio := argUint(a[3])
	if prio >= mqueue.MaxPriority {
		return 0, unix.EINVAL
	}
	q, f, err := mqueueFile(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.IsWritable() {
		return 0, unix.EBADF
	}
	if int64(a[2]) < 0 || int64(a[2]) > q.MsgSize() {
		return 0, unix.EMSGSIZE
	}
	msg := make([]byte, a[2])
	if n, err := t.CopyIn(a[1], msg); err != nil || n != len(msg) {
		return 0, unix.EFAULT
	}
	creds := t.Credentials()
	from := mqueue.Sender{PID: t.ThreadGroup().PID(), UID: creds.RealUID}
	return 0, q.Send(t, msg, prio, f.Flags()&unix.O_NONBLOCK != 0, deadline, from)
}

// MqTimedreceive implements mq_timedreceive(2) (and mq_receive).
func MqTimedreceive(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	deadline, err := mqueueDeadline(t, a[4])
	if err != nil {
		return 0, err
	}
	q, f, err := mqueueFile(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.IsReadable() {
		return 0, unix.EBADF
	}
	if int64(a[2]) < q.MsgSize() {
		return 0, unix.EMSGSIZE
	}
	msg, prio, err := q.Receive(t, f.Flags()&unix.O_NONBLOCK != 0, deadline)
	if err != nil {
		return 0, err
	}
	// As in Linux, a message that cannot be copied out is lost.
	if n, err := t.CopyOut(a[1], msg); err != nil || n != len(msg) {
		return 0, unix.EFAULT
	}
	if a[3] != 0 {
		if err := copyOutObj(t, a[3], &prio); err != nil {
			return 0, err
		}
	}
	return uintptr(len(msg)), nil
}

// MqNotify implements mq_notify(2) for SIGEV_NONE and SIGEV_SIGNAL.
// SIGEV_THREAD, which the C library builds on a netlink socket the
// sandbox does not have, fails with EOPNOTSUPP.
func MqNotify(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	var ev sigevent
	if a[1] != 0 {
		if err := copyInObj(t, a[1], &ev); err != nil {
			return 0, err
		}
		switch ev.Notify {
		case kernel.SigevNone:
		case kernel.SigevSignal:
			if ev.Signo <= 0 || ev.Signo > kernel.NumSignals {
				return 0, unix.EINVAL
			}
		case kernel.SigevThread:
			return 0, unix.EOPNOTSUPP
		default:
			return 0, unix.EINVAL
		}
	}
	q, f, err := mqueueFile(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	tg := t.ThreadGroup()
	if a[1] == 0 {
		return 0, q.SetNotification(tg, nil)
	}
	n := &mqueue.Notification{Owner: tg, Notify: ev.Notify, Signo: ev.Signo, PID: tg.PID(), Fire: func(mqueue.Sender) {}}
	if ev.Notify == kernel.SigevSignal {
		n.Fire = func(from mqueue.Sender) {
			info := kernel.SignalInfo{Signo: ev.Signo, Code: siMesgq}
			info.SetPIDUID(from.PID, from.UID)
			info.SetValue(ev.Value)
			tg.SendSignal(info)
		}
	}
	return 0, q.SetNotification(tg, n)
}

// MqGetsetattr implements mq_getsetattr(2): only O_NONBLOCK of the
// descriptor can change.
func MqGetsetattr(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	var nattr mqueue.Attr
	if a[1] != 0 {
		if err := copyInObj(t, a[1], &nattr); err != nil {
			return 0, err
		}
		if nattr.Flags&^unix.O_NONBLOCK != 0 {
			return 0, unix.EINVAL
		}
	}
	q, f, err := mqueueFile(t, argFD(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	old := q.Attr()
	flags := f.Flags()
	old.Flags = int64(flags & unix.O_NONBLOCK)
	if a[1] != 0 {
		f.SetStatusFlags(flags&^unix.O_NONBLOCK | uint32(nattr.Flags))
	}
	if a[2] != 0 {
		return 0, copyOutObj(t, a[2], &old)
	}
	return 0, nil
}
