// Package dev is the sandbox's /dev: a small in-memory directory of the
// character devices programs expect (null, zero, full, random, urandom,
// tty: the caller's controlling terminal, from devpts) and the
// conventional links (fd, stdin, stdout, stderr, ptmx). Host devices are
// never visible in the sandbox.
package dev

import (
	"crypto/rand"
	"sort"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/devpts"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Filesystem is one /dev instance.
type Filesystem struct {
	root *dirInode
}

var inoCounter atomic.Uint64

func nextIno() uint64 { return inoCounter.Add(1) }

// New returns a /dev with the standard devices.
func New() *Filesystem {
	now := time.Now()
	ts := unix.StatxTimestamp{Sec: now.Unix(), Nsec: uint32(now.Nanosecond())}
	mk := func(major, minor uint32, kind deviceKind) vfs.Inode {
		return &charInode{major: major, minor: minor, kind: kind, ino: nextIno(), ts: ts}
	}
	link := func(target string) vfs.Inode { return &linkInode{target: target, ino: nextIno(), ts: ts} }
	root := &dirInode{ino: nextIno(), ts: ts, children: map[string]vfs.Inode{
		"null":    mk(1, 3, devNull),
		"zero":    mk(1, 5, devZero),
		"full":    mk(1, 7, devFull),
		"random":  mk(1, 8, devRandom),
		"urandom": mk(1, 9, devRandom),
		"tty":     mk(5, 0, devTTY),
		"fd":      link("/proc/self/fd"),
		"stdin":   link("/proc/self/fd/0"),
		"stdout":  link("/proc/self/fd/1"),
		"stderr":  link("/proc/self/fd/2"),
		"ptmx":    link("pts/ptmx"),
	}}
	root.children["shm"] = &dirInode{ino: nextIno(), ts: ts, children: map[string]vfs.Inode{}, mode: 0o1777}
	return &Filesystem{root: root}
}

// Name implements vfs.Filesystem.
func (fs *Filesystem) Name() string { return "tmpfs" }

// Root implements vfs.Filesystem.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// Statfs implements vfs.Filesystem.
func (fs *Filesystem) Statfs(vfs.Context) (unix.Statfs_t, error) {
	return unix.Statfs_t{Type: unix.TMPFS_MAGIC, Bsize: 4096, Frsize: 4096, Namelen: 255}, nil
}

type dirInode struct {
	ino      uint64
	ts       unix.StatxTimestamp
	mode     uint16
	children map[string]vfs.Inode
}

func (d *dirInode) Stat(vfs.Context) (unix.Statx_t, error) {
	mode := d.mode
	if mode == 0 {
		mode = 0o755
	}
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFDIR | mode, Nlink: 2, Ino: d.ino,
		Blksize: 4096, Atime: d.ts, Mtime: d.ts, Ctime: d.ts}, nil
}

func (d *dirInode) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	c, ok := d.children[name]
	if !ok {
		return nil, unix.ENOENT
	}
	return c, nil
}

func (d *dirInode) Readlink(vfs.Context) (string, error) { return "", unix.EINVAL }

func (d *dirInode) Open(_ vfs.Context, dent *vfs.Dentry, flags uint32) (vfs.FileImpl, error) {
	names := make([]string, 0, len(d.children))
	for n := range d.children {
		names = append(names, n)
	}
	sort.Strings(names)
	return &dirFile{d: d, dent: dent, names: names}, nil
}

type dirFile struct {
	vfs.FileDefaults
	d     *dirInode
	dent  *vfs.Dentry
	names []string
}

func (f *dirFile) Read(vfs.Context, []byte, int64) (int, error) { return 0, unix.EISDIR }

func (f *dirFile) IterDirents(ctx vfs.Context, off int64, emit func(vfs.Dirent) bool) (int64, error) {
	return vfs.IterStaticDirents(ctx, f.dent, off, f.names, func(name string) (uint64, uint8) {
		c := f.d.children[name]
		st, _ := c.Stat(ctx)
		return st.Ino, vfs.DirentType(st.Mode)
	}, emit)
}

type linkInode struct {
	target string
	ino    uint64
	ts     unix.StatxTimestamp
}

func (l *linkInode) Stat(vfs.Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFLNK | 0o777, Nlink: 1, Ino: l.ino,
		Size: uint64(len(l.target)), Blksize: 4096, Atime: l.ts, Mtime: l.ts, Ctime: l.ts}, nil
}
func (l *linkInode) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOTDIR }
func (l *linkInode) Readlink(vfs.Context) (string, error)          { return l.target, nil }
func (l *linkInode) Open(vfs.Context, *vfs.Dentry, uint32) (vfs.FileImpl, error) {
	return nil, unix.ELOOP
}

type deviceKind int

const (
	devNull deviceKind = iota
	devZero
	devFull
	devRandom
	// devTTY is /dev/tty: opening it opens the controlling terminal.
	devTTY
)

type charInode struct {
	major, minor uint32
	kind         deviceKind
	ino          uint64
	ts           unix.StatxTimestamp
}

func (c *charInode) Stat(vfs.Context) (unix.Statx_t, error) {
	return unix.Statx_t{Mask: unix.STATX_BASIC_STATS, Mode: unix.S_IFCHR | 0o666, Nlink: 1, Ino: c.ino,
		Rdev_major: c.major, Rdev_minor: c.minor, Blksize: 4096, Atime: c.ts, Mtime: c.ts, Ctime: c.ts}, nil
}
func (c *charInode) Lookup(vfs.Context, string) (vfs.Inode, error) { return nil, unix.ENOTDIR }
func (c *charInode) Readlink(vfs.Context) (string, error)          { return "", unix.EINVAL }
func (c *charInode) Open(ctx vfs.Context, _ *vfs.Dentry, _ uint32) (vfs.FileImpl, error) {
	if c.kind == devTTY {
		return devpts.OpenControllingTerminal(ctx)
	}
	return &deviceFile{kind: c.kind}, nil
}

// deviceFile is an open memory device. Offsets are accepted and ignored,
// as for the character devices of Linux.
type deviceFile struct {
	vfs.FileDefaults
	kind deviceKind
}

func (f *deviceFile) Read(_ vfs.Context, p []byte, _ int64) (int, error) {
	switch f.kind {
	case devNull:
		return 0, nil
	case devRandom:
		rand.Read(p)
		return len(p), nil
	}
	clear(p)
	return len(p), nil
}

func (f *deviceFile) Write(_ vfs.Context, p []byte, _ int64) (int, error) {
	if f.kind == devFull {
		return 0, unix.ENOSPC
	}
	return len(p), nil
}
