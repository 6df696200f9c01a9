package linux

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/mqueue"
	"bufferzone.dev/pkg/sentry/fsimpl/proc"
	"bufferzone.dev/pkg/sentry/fsimpl/sys"
	"bufferzone.dev/pkg/sentry/fsimpl/tmpfs"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/vfs"
)

// mountDataMax is how much of mount(2)'s data argument is read (a page,
// as Linux copies).
const mountDataMax = 4096

// propagationFlags are the MS_* flags that only change mount propagation,
// which the sandbox does not model (every mount is private).
const propagationFlags = unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE

// Mount implements mount(2) for tmpfs, proc, sysfs and mqueue (with
// MS_NOSUID, MS_NODEV and MS_NOEXEC), bind mounts
// (MS_BIND, with MS_REC), read-only remounts (MS_REMOUNT) and propagation
// changes (accepted, nothing to do). It needs CAP_SYS_ADMIN.
func Mount(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	flags := uint64(a[3])
	if !t.Credentials().HasCapability(auth.CapSysAdmin) {
		return 0, unix.EPERM
	}
	target, err := copyInPath(t, a[1])
	if err != nil {
		return 0, err
	}
	at, err := t.LookupAt(kernel.AtFDCWD, target, true, false)
	if err != nil {
		return 0, err
	}
	v := t.Kernel().VFS
	switch {
	case flags&unix.MS_REMOUNT != 0:
		if !at.IsRoot() {
			return 0, unix.EINVAL
		}
		v.SetReadOnly(at.Mount, flags&unix.MS_RDONLY != 0)
		return 0, nil
	case flags&unix.MS_BIND != 0:
		source, err := copyInPath(t, a[0])
		if err != nil {
			return 0, err
		}
		src, err := t.LookupAt(kernel.AtFDCWD, source, true, false)
		if err != nil {
			return 0, err
		}
		if err := sameKind(t, src, at); err != nil {
			return 0, err
		}
		_, err = v.BindMount(src, at, flags&unix.MS_REC != 0)
		return 0, err
	case flags&propagationFlags != 0:
		return 0, nil
	case flags&unix.MS_MOVE != 0:
		return 0, unix.EINVAL
	}
	fstype, err := t.CopyInString(a[2], 256)
	if err != nil {
		return 0, err
	}
	var source, data string
	if a[0] != 0 {
		if source, err = copyInPath(t, a[0]); err != nil {
			return 0, err
		}
	}
	if a[4] != 0 {
		if data, err = t.CopyInString(a[4], mountDataMax); err != nil && err != unix.ENAMETOOLONG {
			return 0, err
		}
	}
	if st, err := at.Dentry.Inode().Stat(t); err != nil {
		return 0, err
	} else if vfs.FileType(st.Mode) != unix.S_IFDIR {
		return 0, unix.ENOTDIR
	}
	var fs vfs.Filesystem
	var fi *vfs.FilesystemInstance
	var opts string
	switch fstype {
	case "tmpfs":
		o, err := tmpfs.ParseOptions(data)
		if err != nil {
			return 0, err
		}
		fs = tmpfs.New(t.MemoryManager().MemoryFile(), o)
		opts = tmpfsOptions(o)
	case "proc":
		fs = proc.New(t.Kernel(), netOf(t).inet)
	case "sysfs":
		fs = sys.New(t.Kernel().NumCPU())
	case "mqueue":
		// The sandbox's one message queue file system (one IPC
		// namespace).
		fi = mqueue.Instance(v).Filesystem()
	default:
		return 0, unix.ENODEV
	}
	if fi == nil {
		fi = v.NewFilesystemInstance(fs)
	}
	if source == "" {
		source = "none"
	}
	m, err := v.Mount(fi, v.TopMount(at), source, flags&unix.MS_RDONLY != 0)
	if err != nil {
		return 0, err
	}
	m.Options = opts
	m.Flags = uint32(flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	return 0, nil
}

// sameKind checks a bind mount's source and target: a directory goes on a
// directory and a non-directory on a non-directory (ENOTDIR otherwise).
func sameKind(t *kernel.Task, src, at vfs.VirtualDentry) error {
	ss, err := src.Dentry.Inode().Stat(t)
	if err != nil {
		return err
	}
	ts, err := at.Dentry.Inode().Stat(t)
	if err != nil {
		return err
	}
	if (vfs.FileType(ss.Mode) == unix.S_IFDIR) != (vfs.FileType(ts.Mode) == unix.S_IFDIR) {
		return unix.ENOTDIR
	}
	return nil
}

// tmpfsOptions renders a tmpfs's options for mountinfo, as Linux's
// shmem_show_options does for the ones that differ from the defaults.
func tmpfsOptions(o tmpfs.Options) string {
	var parts []string
	if o.Size > 0 {
		parts = append(parts, fmt.Sprintf("size=%dk", o.Size/1024))
	}
	if o.Mode != 0 && o.Mode != 0o1777 {
		parts = append(parts, fmt.Sprintf("mode=%o", o.Mode))
	}
	if o.UID != 0 {
		parts = append(parts, fmt.Sprintf("uid=%d", o.UID))
	}
	if o.GID != 0 {
		parts = append(parts, fmt.Sprintf("gid=%d", o.GID))
	}
	return strings.Join(parts, ",")
}

// Umount2 implements umount2(2): MNT_DETACH unmounts lazily; otherwise a
// mount with mounts below it or files open on it is EBUSY.
func Umount2(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	flags := argUint(a[1])
	if flags&^(unix.MNT_FORCE|unix.MNT_DETACH|unix.MNT_EXPIRE|unix.UMOUNT_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.MNT_EXPIRE != 0 && flags&(unix.MNT_FORCE|unix.MNT_DETACH) != 0 {
		return 0, unix.EINVAL
	}
	if !t.Credentials().HasCapability(auth.CapSysAdmin) {
		return 0, unix.EPERM
	}
	target, err := copyInPath(t, a[0])
	if err != nil {
		return 0, err
	}
	vd, err := t.LookupAt(kernel.AtFDCWD, target, flags&unix.UMOUNT_NOFOLLOW == 0, false)
	if err != nil {
		return 0, err
	}
	if !vd.IsRoot() {
		return 0, unix.EINVAL
	}
	if vd.Mount == t.FSContext().Root().Mount {
		// The caller's root (Linux refuses it with EBUSY unless detached;
		// a detached root would leave nothing to stand on).
		return 0, unix.EBUSY
	}
	return 0, t.Kernel().VFS.Umount(vd.Mount, flags&unix.MNT_DETACH != 0)
}
