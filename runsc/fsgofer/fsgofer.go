// Package fsgofer is the Gofer's file server backend: it serves a host
// directory tree (the container's root file system or a volume) to the
// Sentry as a p9.Attacher.
//
// Security is the point of this package. Every file is reached from the
// root one component at a time with openat(O_PATH|O_NOFOLLOW), so no
// lookup can leave the tree: names containing "/" or equal to "." or ".."
// are refused, and symbolic links are never followed on the host: walking
// to a symbolic link yields the link itself (the Sentry reads it with
// Treadlink and resolves it inside its own root, so an absolute link
// resolves inside the container root). Opening a link fails with ELOOP.
// Files are opened by reopening their O_PATH descriptor through
// /proc/self/fd (which names exactly that inode), or, without /proc, with
// openat(parent, name, O_NOFOLLOW) and a check that the inode did not
// change. In read-only mode every mutating request fails with EROFS and
// no file is ever opened for writing.
//
// Opened regular files are donated to the Sentry with Rlopen/Rlcreate, so
// reads, writes and mmap of file data do not go through 9P.
//
// Tlock and Tgetlock are POSIX byte-range locks owned by the fid's opened
// host file (open file description locks); lock.go documents the API the
// Sentry's file locking builds on.
package fsgofer

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"bufferzone.dev/pkg/p9"
	"golang.org/x/sys/unix"
)

// Lock order (fsgofer.go):
//
//	file.mu (per fid: guards parent/name and the open state)
//	  file.dirMu (per opened directory: the seek+getdents pair)
//
// hostFD reference counts are atomic and take no lock.

// hostFD is a reference-counted O_PATH descriptor shared by the fids that
// name the same walked file (clones) and by children (as their parent).
type hostFD struct {
	fd   int
	refs atomic.Int32
}

func newHostFD(fd int) *hostFD {
	h := &hostFD{fd: fd}
	h.refs.Store(1)
	return h
}

func (h *hostFD) incRef() *hostFD {
	h.refs.Add(1)
	return h
}

func (h *hostFD) decRef() {
	if h.refs.Add(-1) == 0 {
		unix.Close(h.fd)
	}
}

// attacher serves one host directory, or one host file.
type attacher struct {
	root     *hostFD
	rootPath string
	rootMode uint32 // S_IFMT bits of the root
	readOnly bool
	asRoot   bool // the Gofer may chown created files
	procFD   bool // /proc/self/fd reopening works
}

// New returns an Attacher serving the directory root. root may also be a
// regular file (a file bind mount such as /etc/hosts): the served tree is
// then that one file, and only the root can be attached. With readOnly
// set, every mutating request fails with EROFS.
func New(root string, readOnly bool) (p9.Attacher, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fsgofer: opening root %q: %w", root, err)
	}
	st, err := fstat(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fsgofer: stat of root %q: %w", root, err)
	}
	mode := st.Mode & unix.S_IFMT
	if mode != unix.S_IFDIR && mode != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("fsgofer: root %q is neither a directory nor a regular file: %w", root, unix.EINVAL)
	}
	a := &attacher{root: newHostFD(fd), rootPath: path.Clean(root), rootMode: mode, readOnly: readOnly, asRoot: unix.Geteuid() == 0}
	// Probe /proc/self/fd reopening on the root itself.
	probe := unix.O_RDONLY | unix.O_CLOEXEC
	if mode == unix.S_IFDIR {
		probe |= unix.O_DIRECTORY
	} else {
		// O_PATH reopening shows the magic link works without needing
		// read permission on the file.
		probe = unix.O_PATH | unix.O_CLOEXEC
	}
	if pfd, err := unix.Open(procPath(fd), probe, 0); err == nil {
		a.procFD = true
		unix.Close(pfd)
	}
	return a, nil
}

// Attach implements p9.Attacher. aname may be empty, "/", the root path,
// or a path beneath the root, which is walked like any other path.
func (a *attacher) Attach(aname string, uid uint32) (p9.ServerFile, error) {
	rest := aname
	if rest == a.rootPath || strings.HasPrefix(rest, a.rootPath+"/") {
		rest = rest[len(a.rootPath):]
	}
	var names []string
	for _, n := range strings.Split(rest, "/") {
		if n == "" || n == "." {
			continue
		}
		if n == ".." {
			return nil, fmt.Errorf("fsgofer: attach name %q: %w", aname, unix.EINVAL)
		}
		names = append(names, n)
	}
	root := &file{a: a, fd: a.root.incRef(), mode: a.rootMode, uid: uid, label: "/"}
	if len(names) == 0 {
		return root, nil
	}
	if a.rootMode != unix.S_IFDIR {
		root.Close()
		return nil, fmt.Errorf("fsgofer: attach name %q: %w", aname, unix.ENOTDIR)
	}
	defer root.Close()
	qids, f, err := root.Walk(names)
	if err != nil {
		return nil, err
	}
	if f == nil || len(qids) != len(names) || qids[len(qids)-1].Type != p9.QIDTypeDir {
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("fsgofer: attach name %q: %w", aname, unix.ENOENT)
	}
	return f, nil
}

func procPath(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}

// file is one fid.
type file struct {
	a    *attacher
	fd   *hostFD // O_PATH|O_NOFOLLOW descriptor of this file
	mode uint32  // S_IFMT bits when walked
	uid  uint32  // the attaching user, owner of created files
	// label names the file in error messages. Unlike name it never
	// changes, so it is read without f.mu.
	label string

	mu     sync.Mutex
	parent *hostFD // nil for the root
	name   string
	opened *os.File // set by Open/Create

	dirMu sync.Mutex
}

func (f *file) isDir() bool     { return f.mode == unix.S_IFDIR }
func (f *file) isSymlink() bool { return f.mode == unix.S_IFLNK }

// errno wraps a system call error with context, keeping the errno
// reachable with errors.As.
func errno(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("fsgofer: %s %q: %w", op, name, err)
}

func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("fsgofer: bad name %q: %w", name, unix.EINVAL)
	}
	return nil
}

// qidOf converts a stat result to a QID.
func qidOf(st *unix.Stat_t) p9.QID {
	return p9.QID{Type: p9.QIDTypeFromMode(st.Mode), Path: st.Ino}
}

func fstat(fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// Walk implements p9.ServerFile.
func (f *file) Walk(names []string) ([]p9.QID, p9.ServerFile, error) {
	if len(names) == 0 {
		f.mu.Lock()
		defer f.mu.Unlock()
		c := &file{a: f.a, fd: f.fd.incRef(), mode: f.mode, uid: f.uid, name: f.name, label: f.label}
		if f.parent != nil {
			c.parent = f.parent.incRef()
		}
		return nil, c, nil
	}
	qids := make([]p9.QID, 0, len(names))
	cur := f.fd.incRef()
	var parent *hostFD
	var mode uint32
	for i, name := range names {
		err := checkName(name)
		var fd int
		if err == nil {
			fd, err = unix.Openat(cur.fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			err = errno("walk", name, err)
		}
		var st unix.Stat_t
		if err == nil {
			if st, err = fstat(fd); err != nil {
				unix.Close(fd)
				err = errno("stat", name, err)
			}
		}
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err = checkServable(fd); err != nil {
				unix.Close(fd)
				err = errno("walk", name, err)
			}
		}
		if err != nil {
			cur.decRef()
			if parent != nil {
				parent.decRef()
			}
			if i == 0 {
				return nil, nil, err
			}
			return qids, nil, nil
		}
		if parent != nil {
			parent.decRef()
		}
		parent = cur
		cur = newHostFD(fd)
		mode = st.Mode & unix.S_IFMT
		qids = append(qids, qidOf(&st))
	}
	return qids, &file{a: f.a, fd: cur, mode: mode, uid: f.uid, parent: parent, name: names[len(names)-1], label: names[len(names)-1]}, nil
}

// GetAttr implements p9.ServerFile.
func (f *file) GetAttr(mask p9.AttrMask) (p9.QID, p9.AttrMask, p9.Attr, error) {
	st, err := fstat(f.fd.fd)
	if err != nil {
		return p9.QID{}, 0, p9.Attr{}, errno("stat", f.label, err)
	}
	attr := p9.Attr{
		Mode:      st.Mode,
		UID:       st.Uid,
		GID:       st.Gid,
		NLink:     st.Nlink,
		RDev:      st.Rdev,
		Size:      uint64(st.Size),
		BlockSize: uint64(st.Blksize),
		Blocks:    uint64(st.Blocks),
		ATimeSec:  uint64(st.Atim.Sec),
		ATimeNSec: uint64(st.Atim.Nsec),
		MTimeSec:  uint64(st.Mtim.Sec),
		MTimeNSec: uint64(st.Mtim.Nsec),
		CTimeSec:  uint64(st.Ctim.Sec),
		CTimeNSec: uint64(st.Ctim.Nsec),
	}
	return qidOf(&st), p9.AttrBasic, attr, nil
}

// openFlagsAllowed are the open(2) flags a client may pass to Tlopen;
// the rest (O_CREAT, O_EXCL, O_PATH, O_TMPFILE...) are dropped.
const openFlagsAllowed = unix.O_ACCMODE | unix.O_TRUNC | unix.O_APPEND | unix.O_NONBLOCK |
	unix.O_DSYNC | unix.O_SYNC | unix.O_DIRECT | unix.O_NOATIME | unix.O_DIRECTORY | unix.O_LARGEFILE

// hostOpenFlags checks flags against the file type and mode, and returns
// the flags to open the host file with.
func (f *file) hostOpenFlags(flags uint32) (int, error) {
	fl := int(flags) & openFlagsAllowed
	acc := fl & unix.O_ACCMODE
	writes := acc == unix.O_WRONLY || acc == unix.O_RDWR || fl&unix.O_TRUNC != 0
	if writes && f.a.readOnly {
		return 0, unix.EROFS
	}
	switch f.mode {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		if writes {
			return 0, unix.EISDIR
		}
	case unix.S_IFLNK:
		return 0, unix.ELOOP
	case unix.S_IFSOCK:
		return 0, unix.ENXIO
	default:
		// Device nodes and FIFOs in the container's file system are not
		// opened on the host: the Sentry provides its own devices and
		// implements named pipes itself.
		return 0, unix.EPERM
	}
	return fl | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NOCTTY, nil
}

// reopen opens this file's inode with hostFlags. f.mu must not be held.
func (f *file) reopen(hostFlags int) (int, error) {
	f.mu.Lock()
	parent, name := f.parent, f.name
	f.mu.Unlock()
	return f.reopenAt(parent, name, hostFlags)
}

// reopenAt is reopen with f's parent and name already read.
func (f *file) reopenAt(parent *hostFD, name string, hostFlags int) (int, error) {
	if f.a.procFD {
		// The magic link names exactly our inode; O_NOFOLLOW must not be
		// set or the magic link itself would be refused.
		fd, err := unix.Open(procPath(f.fd.fd), hostFlags&^unix.O_NOFOLLOW, 0)
		if err == nil || !errors.Is(err, unix.ENOENT) {
			return fd, err
		}
	}
	var fd int
	var err error
	switch {
	case parent == nil && f.mode != unix.S_IFDIR:
		// A file root has no parent to open it in: open its path, which
		// the check below ties to the served inode.
		fd, err = unix.Open(f.a.rootPath, hostFlags&^unix.O_NOFOLLOW, 0)
	case parent == nil:
		fd, err = unix.Openat(f.fd.fd, ".", hostFlags, 0)
	default:
		fd, err = unix.Openat(parent.fd, name, hostFlags, 0)
	}
	if err != nil {
		return -1, err
	}
	want, err1 := fstat(f.fd.fd)
	got, err2 := fstat(fd)
	if err1 != nil || err2 != nil || want.Ino != got.Ino || want.Dev != got.Dev {
		unix.Close(fd)
		return -1, unix.ESTALE
	}
	return fd, nil
}

// Open implements p9.ServerFile.
func (f *file) Open(flags uint32) (*os.File, p9.QID, uint32, error) {
	hf, err := f.hostOpenFlags(flags)
	if err != nil {
		return nil, p9.QID{}, 0, errno("open", f.label, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opened != nil {
		return nil, p9.QID{}, 0, errno("open", f.label, unix.EBUSY)
	}
	fd, err := f.reopenAt(f.parent, f.name, hf)
	if err != nil {
		return nil, p9.QID{}, 0, errno("open", f.label, err)
	}
	st, err := fstat(fd)
	if err != nil {
		unix.Close(fd)
		return nil, p9.QID{}, 0, errno("stat", f.label, err)
	}
	f.opened = os.NewFile(uintptr(fd), f.name)
	var donate *os.File
	if f.mode == unix.S_IFREG {
		donate = f.opened
	}
	return donate, qidOf(&st), 0, nil
}

// openedFD returns the opened host descriptor, or EBADF.
func (f *file) openedFD() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opened == nil {
		return -1, unix.EBADF
	}
	return int(f.opened.Fd()), nil
}

// ReadAt implements p9.ServerFile.
func (f *file) ReadAt(p []byte, off uint64) (int, error) {
	fd, err := f.openedFD()
	if err != nil {
		return 0, errno("read", f.label, err)
	}
	total := 0
	for total < len(p) {
		n, err := unix.Pread(fd, p[total:], int64(off)+int64(total))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, errno("read", f.label, err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	return total, nil
}

// WriteAt implements p9.ServerFile.
func (f *file) WriteAt(p []byte, off uint64) (int, error) {
	if f.a.readOnly {
		return 0, errno("write", f.label, unix.EROFS)
	}
	fd, err := f.openedFD()
	if err != nil {
		return 0, errno("write", f.label, err)
	}
	total := 0
	for total < len(p) {
		n, err := unix.Pwrite(fd, p[total:], int64(off)+int64(total))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, errno("write", f.label, err)
		}
		total += n
	}
	return total, nil
}

// dtypeQID maps a d_type to a QID type.
func dtypeQID(t uint8) p9.QIDType {
	switch t {
	case unix.DT_DIR:
		return p9.QIDTypeDir
	case unix.DT_LNK:
		return p9.QIDTypeSymlink
	}
	return p9.QIDTypeRegular
}

// Readdir implements p9.ServerFile. Offsets are the host file system's
// d_off cookies. "." and ".." are not returned: the Sentry makes its own.
func (f *file) Readdir(offset uint64, count uint32) ([]p9.Dirent, error) {
	fd, err := f.openedFD()
	if err != nil {
		return nil, errno("readdir", f.label, err)
	}
	if !f.isDir() {
		return nil, errno("readdir", f.label, unix.ENOTDIR)
	}
	f.dirMu.Lock()
	defer f.dirMu.Unlock()
	if _, err := unix.Seek(fd, int64(offset), 0); err != nil {
		return nil, errno("readdir seek", f.label, err)
	}
	size := int(count)
	if size < 4096 {
		size = 4096
	}
	buf := make([]byte, size)
	var out []p9.Dirent
	for len(out) == 0 {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, errno("getdents", f.label, err)
		}
		if n == 0 {
			break
		}
		for b := buf[:n]; len(b) >= 19; {
			// struct linux_dirent64: ino[8] off[8] reclen[2] type[1] name.
			ino := le64(b[0:])
			off := le64(b[8:])
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return nil, errno("getdents", f.label, unix.EIO)
			}
			typ := b[18]
			nameb := b[19:reclen]
			if i := indexByte(nameb, 0); i >= 0 {
				nameb = nameb[:i]
			}
			b = b[reclen:]
			name := string(nameb)
			if name == "." || name == ".." {
				continue
			}
			out = append(out, p9.Dirent{QID: p9.QID{Type: dtypeQID(typ), Path: ino}, Offset: off, Type: typ, Name: name})
		}
	}
	return out, nil
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// Readlink implements p9.ServerFile.
func (f *file) Readlink() (string, error) {
	if !f.isSymlink() {
		return "", errno("readlink", f.label, unix.EINVAL)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(f.fd.fd, "", buf)
	if err != nil {
		return "", errno("readlink", f.label, err)
	}
	return string(buf[:n]), nil
}

// StatFS implements p9.ServerFile.
func (f *file) StatFS() (p9.StatFS, error) {
	var s unix.Statfs_t
	if err := unix.Fstatfs(f.fd.fd, &s); err != nil {
		return p9.StatFS{}, errno("statfs", f.label, err)
	}
	return p9.StatFS{
		Type:            uint32(s.Type),
		BlockSize:       uint32(s.Bsize),
		Blocks:          s.Blocks,
		BlocksFree:      s.Bfree,
		BlocksAvailable: s.Bavail,
		Files:           s.Files,
		FilesFree:       s.Ffree,
		FSID:            uint64(uint32(s.Fsid.Val[0])) | uint64(uint32(s.Fsid.Val[1]))<<32,
		NameLength:      uint32(s.Namelen),
	}, nil
}

// Close implements p9.ServerFile.
func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	if f.opened != nil {
		err = f.opened.Close()
		f.opened = nil
	}
	if f.parent != nil {
		f.parent.decRef()
		f.parent = nil
	}
	if f.fd != nil {
		f.fd.decRef()
		f.fd = nil
	}
	return err
}

// hostKernelFilesystems are file systems through which the host kernel
// exposes itself (its processes, devices, configuration). The Gofer never
// serves them, even when they are mounted inside the served tree (a host
// root's /proc or /sys): the sandbox has its own.
var hostKernelFilesystems = map[int64]string{
	unix.PROC_SUPER_MAGIC:    "proc",
	unix.SYSFS_MAGIC:         "sysfs",
	unix.DEVPTS_SUPER_MAGIC:  "devpts",
	unix.CGROUP_SUPER_MAGIC:  "cgroup",
	unix.CGROUP2_SUPER_MAGIC: "cgroup2",
	unix.SECURITYFS_MAGIC:    "securityfs",
	unix.DEBUGFS_MAGIC:       "debugfs",
	unix.TRACEFS_MAGIC:       "tracefs",
	unix.BPF_FS_MAGIC:        "bpf",
	unix.PSTOREFS_MAGIC:      "pstore",
	unix.EFIVARFS_MAGIC:      "efivarfs",
	unix.BINFMTFS_MAGIC:      "binfmt_misc",
	0x62656570:               "configfs",
	0x65735543:               "fusectl",
	unix.HUGETLBFS_MAGIC:     "hugetlbfs",
	0x19800202:               "mqueue",
}

// checkServable refuses a directory on one of hostKernelFilesystems.
func checkServable(fd int) error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return err
	}
	if _, bad := hostKernelFilesystems[int64(sfs.Type)]; bad {
		return unix.EACCES
	}
	return nil
}
