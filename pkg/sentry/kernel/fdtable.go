package kernel

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

// fdEntry is one slot of an FD table.
type fdEntry struct {
	file        *vfs.FileDescription
	closeOnExec bool
}

// FDTable maps file descriptor numbers to open file descriptions. It is
// shared by tasks created with CLONE_FILES.
type FDTable struct {
	refs atomic.Int64

	mu    sync.Mutex
	files map[int32]fdEntry
	// next is a hint: no free descriptor is below it.
	next int32
}

// NewFDTable returns an empty table with one reference.
func NewFDTable() *FDTable {
	t := &FDTable{files: make(map[int32]fdEntry)}
	t.refs.Store(1)
	return t
}

// IncRef takes a reference.
func (t *FDTable) IncRef() { t.refs.Add(1) }

// DecRef drops a reference, closing every descriptor at zero.
func (t *FDTable) DecRef() {
	if t.refs.Add(-1) != 0 {
		return
	}
	t.mu.Lock()
	files := t.files
	t.files = nil
	t.mu.Unlock()
	for _, e := range files {
		t.closeFile(e.file)
	}
}

// closeFile drops the table's reference to a file it no longer holds,
// first releasing the POSIX record locks the table's process holds on the
// file, which closing any descriptor of it does (fcntl(2)). The table is
// the lock owner, as Linux's files_struct is.
func (t *FDTable) closeFile(f *vfs.FileDescription) {
	f.ReleaseRecordLocks(t)
	f.DecRef()
}

// Get returns the file at fd with a new reference, and its close-on-exec
// flag; EBADF if fd is not open.
func (t *FDTable) Get(fd int32) (*vfs.FileDescription, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.files[fd]
	if !ok {
		return nil, false, unix.EBADF
	}
	e.file.IncRef()
	return e.file, e.closeOnExec, nil
}

// NewFD installs file at the lowest free descriptor >= min, taking a new
// reference. limit is RLIMIT_NOFILE: EMFILE at or above it.
func (t *FDTable) NewFD(min int32, file *vfs.FileDescription, closeOnExec bool, limit uint64) (int32, error) {
	if min < 0 || uint64(min) >= limit {
		return -1, unix.EINVAL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fd := min
	if fd < t.next {
		fd = t.next
	}
	for {
		if uint64(fd) >= limit || fd < 0 {
			return -1, unix.EMFILE
		}
		if _, ok := t.files[fd]; !ok {
			break
		}
		fd++
	}
	if min <= t.next {
		t.next = fd + 1
	}
	file.IncRef()
	t.files[fd] = fdEntry{file: file, closeOnExec: closeOnExec}
	return fd, nil
}

// SetFD installs file at fd, closing what was there (dup2). limit is
// RLIMIT_NOFILE: EBADF at or above it, as dup2 reports.
func (t *FDTable) SetFD(fd int32, file *vfs.FileDescription, closeOnExec bool, limit uint64) error {
	if fd < 0 || uint64(fd) >= limit {
		return unix.EBADF
	}
	file.IncRef()
	t.mu.Lock()
	old, had := t.files[fd]
	t.files[fd] = fdEntry{file: file, closeOnExec: closeOnExec}
	t.mu.Unlock()
	if had {
		t.closeFile(old.file)
	}
	return nil
}

// Remove closes fd; EBADF if it is not open.
func (t *FDTable) Remove(fd int32) error {
	t.mu.Lock()
	e, ok := t.files[fd]
	if ok {
		delete(t.files, fd)
		if fd < t.next {
			t.next = fd
		}
	}
	t.mu.Unlock()
	if !ok {
		return unix.EBADF
	}
	t.closeFile(e.file)
	return nil
}

// SetCloseOnExec sets fd's close-on-exec flag.
func (t *FDTable) SetCloseOnExec(fd int32, v bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.files[fd]
	if !ok {
		return unix.EBADF
	}
	e.closeOnExec = v
	t.files[fd] = e
	return nil
}

// CloseOnExec closes every descriptor marked close-on-exec (execve).
func (t *FDTable) CloseOnExec() {
	t.mu.Lock()
	var closing []*vfs.FileDescription
	for fd, e := range t.files {
		if e.closeOnExec {
			closing = append(closing, e.file)
			delete(t.files, fd)
		}
	}
	t.next = 0
	t.mu.Unlock()
	for _, f := range closing {
		t.closeFile(f)
	}
}

// CloseRange closes descriptors in [first, last] (close_range(2)), or marks
// them close-on-exec when cloexec is set.
func (t *FDTable) CloseRange(first, last uint32, cloexec bool) {
	t.mu.Lock()
	var closing []*vfs.FileDescription
	for fd, e := range t.files {
		if uint32(fd) < first || uint32(fd) > last {
			continue
		}
		if cloexec {
			e.closeOnExec = true
			t.files[fd] = e
			continue
		}
		closing = append(closing, e.file)
		delete(t.files, fd)
	}
	if !cloexec && int64(first) < int64(t.next) {
		t.next = int32(first)
	}
	t.mu.Unlock()
	for _, f := range closing {
		t.closeFile(f)
	}
}

// Fork returns a copy of the table sharing the same open file descriptions.
func (t *FDTable) Fork() *FDTable {
	n := NewFDTable()
	t.mu.Lock()
	defer t.mu.Unlock()
	for fd, e := range t.files {
		e.file.IncRef()
		n.files[fd] = e
	}
	return n
}

// FDs returns the open descriptor numbers (for /proc/[pid]/fd).
func (t *FDTable) FDs() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	fds := make([]int32, 0, len(t.files))
	for fd := range t.files {
		fds = append(fds, fd)
	}
	return fds
}
