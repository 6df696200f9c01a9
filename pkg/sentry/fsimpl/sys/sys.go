// Package sys is the sandbox's /sys: a small, fixed sysfs with what
// programs commonly probe (the CPU topology files, the transparent huge
// page setting, the cgroup mount point) and empty class/ and bus/
// directories. Nothing of the host's sysfs is ever shown.
//
// The tree is built once at New and never changes, so the package needs
// no locks.
package sys

import (
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

// Filesystem is one /sys instance.
type Filesystem struct {
	root *dir
}

// New returns a /sys for a sandbox with numCPU CPUs.
func New(numCPU int) *Filesystem {
	if numCPU < 1 {
		numCPU = 1
	}
	now := time.Now()
	b := &builder{ts: unix.StatxTimestamp{Sec: now.Unix(), Nsec: uint32(now.Nanosecond())}}
	cpus := "0"
	if numCPU > 1 {
		cpus = "0-" + strconv.Itoa(numCPU-1)
	}
	cpuDir := map[string]vfs.Inode{
		"online":   b.file("devices/system/cpu/online", cpus+"\n"),
		"possible": b.file("devices/system/cpu/possible", cpus+"\n"),
		"present":  b.file("devices/system/cpu/present", cpus+"\n"),
	}
	for i := 0; i < numCPU; i++ {
		name := "cpu" + strconv.Itoa(i)
		cpuDir[name] = b.dir("devices/system/cpu/"+name, nil)
	}
	root := b.dir("", map[string]vfs.Inode{
		"bus":   b.dir("bus", nil),
		"class": b.dir("class", nil),
		"devices": b.dir("devices", map[string]vfs.Inode{
			"system": b.dir("devices/system", map[string]vfs.Inode{
				"cpu": b.dir("devices/system/cpu", cpuDir),
			}),
		}),
		"fs": b.dir("fs", map[string]vfs.Inode{
			"cgroup": b.dir("fs/cgroup", nil),
		}),
		"kernel": b.dir("kernel", map[string]vfs.Inode{
			"mm": b.dir("kernel/mm", map[string]vfs.Inode{
				"transparent_hugepage": b.dir("kernel/mm/transparent_hugepage", map[string]vfs.Inode{
					"enabled": b.file("kernel/mm/transparent_hugepage/enabled", "always madvise [never]\n"),
				}),
			}),
		}),
	})
	return &Filesystem{root: root}
}

// Name implements vfs.Filesystem.
func (fs *Filesystem) Name() string { return "sysfs" }

// Root implements vfs.Filesystem.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// Statfs implements vfs.Filesystem.
func (fs *Filesystem) Statfs(vfs.Context) (unix.Statfs_t, error) {
	return unix.Statfs_t{Type: unix.SYSFS_MAGIC, Bsize: 4096, Frsize: 4096, Namelen: 255}, nil
}

// builder makes the nodes of one instance.
type builder struct {
	ts unix.StatxTimestamp
}

// inoOf returns a stable inode number for a path inside /sys.
func inoOf(path string) uint64 {
	h := fnv.New64a()
	h.Write([]byte("/sys/" + path))
	return h.Sum64()&(1<<62-1) | 1<<20
}

func (b *builder) stat(ino uint64, mode uint16, nlink uint32, size uint64) unix.Statx_t {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: mode, Nlink: nlink, Ino: ino, Size: size,
		Blksize: 4096, Atime: b.ts, Mtime: b.ts, Ctime: b.ts}
}

func (b *builder) dir(path string, children map[string]vfs.Inode) *dir {
	names := make([]string, 0, len(children))
	for n := range children {
		names = append(names, n)
	}
	sort.Strings(names)
	return &dir{st: b.stat(inoOf(path), unix.S_IFDIR|0o755, 2, 0), children: children, names: names}
}

func (b *builder) file(path, contents string) *file {
	// sysfs reports a page as the size of every attribute file.
	return &file{st: b.stat(inoOf(path), unix.S_IFREG|0o444, 1, 4096), data: []byte(contents)}
}

// dir is a directory with fixed children.
type dir struct {
	st       unix.Statx_t
	children map[string]vfs.Inode
	names    []string
}

// Stat implements vfs.Inode.
func (d *dir) Stat(vfs.Context) (unix.Statx_t, error) { return d.st, nil }

// Lookup implements vfs.Inode.
func (d *dir) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	if c, ok := d.children[name]; ok {
		return c, nil
	}
	return nil, unix.ENOENT
}

// Readlink implements vfs.Inode.
func (d *dir) Readlink(vfs.Context) (string, error) { return "", unix.EINVAL }

// Open implements vfs.Inode.
func (d *dir) Open(_ vfs.Context, dent *vfs.Dentry, _ uint32) (vfs.FileImpl, error) {
	return &dirFile{d: d, dent: dent}, nil
}

// dirFile is an open directory.
type dirFile struct {
	vfs.FileDefaults
	d    *dir
	dent *vfs.Dentry
}

// Read implements vfs.FileImpl.
func (f *dirFile) Read(vfs.Context, []byte, int64) (int, error) { return 0, unix.EISDIR }

// IterDirents implements vfs.FileImpl.
func (f *dirFile) IterDirents(ctx vfs.Context, off int64, emit func(vfs.Dirent) bool) (int64, error) {
	return vfs.IterStaticDirents(ctx, f.dent, off, f.d.names, func(name string) (uint64, uint8) {
		st, _ := f.d.children[name].Stat(ctx)
		return st.Ino, vfs.DirentType(st.Mode)
	}, emit)
}

// file is a read-only attribute file with fixed contents.
type file struct {
	st   unix.Statx_t
	data []byte
}

// Stat implements vfs.Inode.
func (f *file) Stat(vfs.Context) (unix.Statx_t, error) { return f.st, nil }

// Lookup implements vfs.Inode.
func (f *file) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOTDIR }

// Readlink implements vfs.Inode.
func (f *file) Readlink(vfs.Context) (string, error) { return "", unix.EINVAL }

// Open implements vfs.Inode. sysfs files here are read-only.
func (f *file) Open(_ vfs.Context, _ *vfs.Dentry, flags uint32) (vfs.FileImpl, error) {
	if flags&unix.O_ACCMODE != unix.O_RDONLY {
		return nil, unix.EACCES
	}
	return &openFile{data: f.data}, nil
}

// openFile is an open attribute file.
type openFile struct {
	vfs.FileDefaults
	data []byte
}

// Read implements vfs.FileImpl.
func (f *openFile) Read(_ vfs.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	if off >= int64(len(f.data)) {
		return 0, nil
	}
	return copy(p, f.data[off:]), nil
}
