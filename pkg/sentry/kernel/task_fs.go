package kernel

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

// AtFDCWD is AT_FDCWD: relative paths start at the working directory.
const AtFDCWD = -100

// GetFile returns the open file at fd with a new reference (EBADF if none).
// The caller must DecRef it.
func (t *Task) GetFile(fd int32) (*vfs.FileDescription, error) {
	f, _, err := t.fdTable.Get(fd)
	return f, err
}

// NewFD installs file at the lowest free descriptor, within RLIMIT_NOFILE.
func (t *Task) NewFD(file *vfs.FileDescription, closeOnExec bool) (int32, error) {
	return t.NewFDFrom(0, file, closeOnExec)
}

// NewFDFrom installs file at the lowest free descriptor >= min.
func (t *Task) NewFDFrom(min int32, file *vfs.FileDescription, closeOnExec bool) (int32, error) {
	limit := t.tg.limits.Get(unix.RLIMIT_NOFILE).Cur
	return t.fdTable.NewFD(min, file, closeOnExec, limit)
}

// SetFD installs file at exactly fd (dup2/dup3).
func (t *Task) SetFD(fd int32, file *vfs.FileDescription, closeOnExec bool) error {
	limit := t.tg.limits.Get(unix.RLIMIT_NOFILE).Cur
	return t.fdTable.SetFD(fd, file, closeOnExec, limit)
}

// Resolution returns where a path argument relative to dirfd starts, as the
// *at family of system calls take it. An empty path is ENOENT unless
// emptyOK (AT_EMPTY_PATH), in which case it names dirfd itself.
func (t *Task) Resolution(dirfd int32, path string, follow, emptyOK bool) (vfs.Resolution, error) {
	r := vfs.Resolution{Root: t.fs.Root(), Path: path, FollowFinal: follow}
	if path == "" && !emptyOK {
		return r, unix.ENOENT
	}
	if len(path) > 0 && path[0] == '/' {
		r.Start = r.Root
		return r, nil
	}
	if dirfd == AtFDCWD {
		r.Start = t.fs.Cwd()
		if path == "" {
			r.Path = "."
		}
		return r, nil
	}
	f, err := t.GetFile(dirfd)
	if err != nil {
		return r, err
	}
	defer f.DecRef()
	vd := f.VirtualDentry()
	if !vd.Ok() {
		if path == "" {
			return r, unix.ENOTDIR
		}
		return r, unix.ENOTDIR
	}
	r.Start = vd
	if path == "" {
		r.Path = "."
		return r, nil
	}
	st, err := vd.Dentry.Inode().Stat(t)
	if err != nil {
		return r, err
	}
	if vfs.FileType(st.Mode) != unix.S_IFDIR {
		return r, unix.ENOTDIR
	}
	return r, nil
}

// LookupAt resolves a path argument of an *at system call to an existing
// file. With emptyOK (AT_EMPTY_PATH) an empty path names dirfd itself,
// whatever its type; an fd with no place in the tree gives ENOENT then.
func (t *Task) LookupAt(dirfd int32, path string, follow, emptyOK bool) (vfs.VirtualDentry, error) {
	if path == "" && emptyOK {
		if dirfd == AtFDCWD {
			return t.fs.Cwd(), nil
		}
		f, err := t.GetFile(dirfd)
		if err != nil {
			return vfs.VirtualDentry{}, err
		}
		defer f.DecRef()
		vd := f.VirtualDentry()
		if !vd.Ok() {
			return vfs.VirtualDentry{}, unix.ENOENT
		}
		return vd, nil
	}
	r, err := t.Resolution(dirfd, path, follow, false)
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	return t.k.VFS.GetDentry(t, r)
}

// NumTasks returns the number of live tasks.
func (k *Kernel) NumTasks() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.tasks)
}
