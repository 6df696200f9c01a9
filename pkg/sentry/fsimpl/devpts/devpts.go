// Package devpts is the sandbox's /dev/pts: pseudo-terminals implemented
// entirely in the Sentry. Opening /dev/pts/ptmx (which /dev/ptmx links to)
// creates a Terminal and returns its master; /dev/pts/N opens the slave of
// terminal N once it is unlocked (TIOCSPTLCK). The Terminal carries the
// line discipline (line.go): termios, canonical line editing, echo, output
// processing, and the signals a terminal generates (ISIG: SIGINT, SIGQUIT,
// SIGTSTP to the foreground process group), and job control (jobs.go):
// the controlling session, the foreground process group, SIGTTIN and
// SIGTTOU for background jobs, SIGWINCH on a window size change.
//
// runsc gives a container with process.terminal a Terminal of its own
// whose master is relayed to a host terminal (runsc/boot), so every
// terminal semantic the application sees is the Sentry's.
//
// Lock order: Terminal.mu > waiter.Queue.mu (queues are notified after
// Terminal.mu is released); Filesystem.mu is never held with Terminal.mu.
package devpts

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

// Device numbers: the ptmx device and the slaves' major (Linux's
// UNIX98_PTY_SLAVE_MAJOR).
const (
	ptmxMajor  = 5
	ptmxMinor  = 2
	slaveMajor = 136
	// devptsMagic is DEVPTS_SUPER_MAGIC.
	devptsMagic = 0x1cd1
	// maxTerminals bounds the terminals of one instance (Linux's default
	// /proc/sys/kernel/pty/max is 4096).
	maxTerminals = 4096
)

var inoCounter atomic.Uint64

func nextIno() uint64 { return inoCounter.Add(1) }

// Filesystem is one devpts instance.
type Filesystem struct {
	root *rootInode
	ptmx *ptmxInode

	mu    sync.Mutex
	terms map[uint32]*Terminal
}

// New returns an empty devpts.
func New() *Filesystem {
	now := time.Now()
	ts := unix.StatxTimestamp{Sec: now.Unix(), Nsec: uint32(now.Nanosecond())}
	fs := &Filesystem{terms: make(map[uint32]*Terminal)}
	fs.root = &rootInode{fs: fs, ino: nextIno(), ts: ts}
	fs.ptmx = &ptmxInode{fs: fs, ino: nextIno(), ts: ts}
	return fs
}

// Name implements vfs.Filesystem.
func (fs *Filesystem) Name() string { return "devpts" }

// Root implements vfs.Filesystem.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// Statfs implements vfs.Filesystem.
func (fs *Filesystem) Statfs(vfs.Context) (unix.Statfs_t, error) {
	return unix.Statfs_t{Type: devptsMagic, Bsize: 4096, Frsize: 4096, Namelen: 255}, nil
}

// NewTerminal allocates a terminal with the lowest free index, locked as
// after open(/dev/ptmx).
func (fs *Filesystem) NewTerminal() (*Terminal, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i := uint32(0); i < maxTerminals; i++ {
		if _, ok := fs.terms[i]; !ok {
			t := newTerminal(fs, i)
			fs.terms[i] = t
			return t, nil
		}
	}
	return nil, unix.ENOSPC
}

// OpenMaster allocates an unlocked terminal and returns an open file
// description of its master (read-write), for a terminal that the Sentry
// hands to a process itself; the caller opens the slave by its path,
// /dev/pts/N, so that the process sees a named terminal (ttyname).
func (fs *Filesystem) OpenMaster() (*vfs.FileDescription, *Terminal, error) {
	t, err := fs.NewTerminal()
	if err != nil {
		return nil, nil, err
	}
	t.mu.Lock()
	t.locked = false
	t.mu.Unlock()
	m := t.openMaster()
	master := vfs.NewFileDescription(m, vfs.VirtualDentry{}, unix.O_RDWR)
	m.Bind(master)
	return master, t, nil
}

// release forgets terminal t once both of its ends are closed.
func (fs *Filesystem) release(t *Terminal) {
	fs.mu.Lock()
	if fs.terms[t.index] == t {
		delete(fs.terms, t.index)
	}
	fs.mu.Unlock()
}

func (fs *Filesystem) lookup(index uint32) *Terminal {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.terms[index]
}

// rootInode is the /dev/pts directory: ptmx and one entry per terminal.
type rootInode struct {
	fs  *Filesystem
	ino uint64
	ts  unix.StatxTimestamp
}

func (r *rootInode) Stat(vfs.Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFDIR | 0o755, Nlink: 2, Ino: r.ino,
		Blksize: 4096, Atime: r.ts, Mtime: r.ts, Ctime: r.ts}, nil
}

func (r *rootInode) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	if name == "ptmx" {
		return r.fs.ptmx, nil
	}
	n, err := strconv.ParseUint(name, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != name {
		return nil, unix.ENOENT
	}
	t := r.fs.lookup(uint32(n))
	if t == nil {
		return nil, unix.ENOENT
	}
	return &slaveInode{t: t}, nil
}

func (r *rootInode) Readlink(vfs.Context) (string, error) { return "", unix.EINVAL }

func (r *rootInode) Open(_ vfs.Context, dent *vfs.Dentry, _ uint32) (vfs.FileImpl, error) {
	return &dirFile{r: r, dent: dent}, nil
}

// names lists the directory: ptmx, then the terminals in index order.
func (r *rootInode) names() []string {
	r.fs.mu.Lock()
	idx := make([]int, 0, len(r.fs.terms))
	for i := range r.fs.terms {
		idx = append(idx, int(i))
	}
	r.fs.mu.Unlock()
	sort.Ints(idx)
	names := []string{"ptmx"}
	for _, i := range idx {
		names = append(names, strconv.Itoa(i))
	}
	return names
}

type dirFile struct {
	vfs.FileDefaults
	r    *rootInode
	dent *vfs.Dentry
}

func (f *dirFile) Read(vfs.Context, []byte, int64) (int, error) { return 0, unix.EISDIR }

func (f *dirFile) IterDirents(ctx vfs.Context, off int64, emit func(vfs.Dirent) bool) (int64, error) {
	return vfs.IterStaticDirents(ctx, f.dent, off, f.r.names(), func(name string) (uint64, uint8) {
		in, err := f.r.Lookup(ctx, name)
		if err != nil {
			return 0, unix.DT_UNKNOWN
		}
		st, _ := in.Stat(ctx)
		return st.Ino, vfs.DirentType(st.Mode)
	}, emit)
}

// ptmxInode is /dev/pts/ptmx: each open makes a new terminal.
type ptmxInode struct {
	fs  *Filesystem
	ino uint64
	ts  unix.StatxTimestamp
}

func (p *ptmxInode) Stat(vfs.Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFCHR | 0o666, Nlink: 1, Ino: p.ino,
		Rdev_major: ptmxMajor, Rdev_minor: ptmxMinor, Blksize: 4096, Atime: p.ts, Mtime: p.ts, Ctime: p.ts}, nil
}
func (p *ptmxInode) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOTDIR }
func (p *ptmxInode) Readlink(vfs.Context) (string, error)          { return "", unix.EINVAL }

func (p *ptmxInode) Open(vfs.Context, *vfs.Dentry, uint32) (vfs.FileImpl, error) {
	t, err := p.fs.NewTerminal()
	if err != nil {
		return nil, err
	}
	return t.openMaster(), nil
}

// slaveInode is /dev/pts/N.
type slaveInode struct{ t *Terminal }

func (s *slaveInode) Stat(vfs.Context) (unix.Statx_t, error) {
	t := s.t
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFCHR | 0o620, Nlink: 1, Ino: t.ino,
		Rdev_major: slaveMajor, Rdev_minor: t.index, Blksize: 1024, Atime: t.ts, Mtime: t.ts, Ctime: t.ts}, nil
}
func (s *slaveInode) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOTDIR }
func (s *slaveInode) Readlink(vfs.Context) (string, error)          { return "", unix.EINVAL }

func (s *slaveInode) Open(ctx vfs.Context, _ *vfs.Dentry, flags uint32) (vfs.FileImpl, error) {
	f, err := s.t.openSlave(false)
	if err != nil {
		return nil, err
	}
	if flags&unix.O_NOCTTY == 0 {
		s.t.acquireOnOpen(ctx)
	}
	return f, nil
}
