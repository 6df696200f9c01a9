// Package vfs is the Sentry's virtual file system: the dentry tree that file
// systems fill in, mounts, path resolution (symlinks, "..", mount crossings,
// chroot), and open file descriptions with their offsets and status flags.
//
// A file system implements Inode (and, for open files, FileImpl); vfs owns
// the Dentry cache above them and every rule of path resolution, so each file
// system only answers questions about one directory or one file at a time.
// vfs also keeps what belongs to an inode rather than to a file system: file
// locks (lock.go) and inotify watches (notify.go), in a table keyed by inode
// (inode_state.go); and it changes the mount tree for mount(2) and umount2(2)
// (mount.go) and follows magic links (/proc/[pid]/fd/N) to the file itself.
//
// Lock order:
//
//	VFS.mutateMu (every namespace change: create, remove, rename, link)
//	  VFS.treeMu (Dentry.parent and Dentry.name)
//	    VFS.mountMu
//	      Dentry.mu (a parent's before its child's)
//	  inodeStates.mu
//	    inodeState.locks.mu > deadlock.mu
//	    inodeState.watchMu
//	VFS.devMu (a leaf)
//
// File system locks are taken below VFS.mutateMu and never call back into
// vfs with their own locks held. Inotify sinks are called with no vfs lock
// held but VFS.mutateMu.
package vfs

import (
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
)

// Limits from Linux.
const (
	// MaxSymlinkTraversals is the number of symlinks one resolution may
	// follow before failing with ELOOP (Linux's MAXSYMLINKS).
	MaxSymlinkTraversals = 40
	// MaxPathLen is PATH_MAX including the terminating NUL.
	MaxPathLen = 4096
	// MaxNameLen is NAME_MAX.
	MaxNameLen = 255
)

// Context is what file operations may need from the calling task.
type Context interface {
	// Credentials returns the caller's credentials.
	Credentials() *auth.Credentials
	// CopyIn and CopyOut move bytes between the caller's address space and
	// the Sentry (ioctl arguments).
	CopyIn(addr uintptr, dst []byte) (int, error)
	CopyOut(addr uintptr, src []byte) (int, error)
	// Interrupted is closed or readable when a blocking operation must
	// return EINTR (a signal, a stop, an exit).
	Interrupted() <-chan struct{}
}

// Inode is a file system's view of one file. Methods that do not apply to
// the file's type return the errno Linux gives (embed NotDirectory or
// DirectoryOnly to get the usual defaults).
type Inode interface {
	// Stat returns the file's attributes.
	Stat(ctx Context) (unix.Statx_t, error)
	// Lookup returns the child called name of a directory (ENOENT if there
	// is none, ENOTDIR for a non-directory). name is never "", "." or "..".
	Lookup(ctx Context, name string) (Inode, error)
	// Readlink returns a symlink's target (EINVAL for other files).
	Readlink(ctx Context) (string, error)
	// Open opens the file; flags are the open(2) flags. Permission checks
	// have been done by vfs.
	Open(ctx Context, d *Dentry, flags uint32) (FileImpl, error)
}

// Filesystem is one mounted file system instance.
type Filesystem interface {
	// Name is the file system type as /proc/mounts shows it ("9p", "tmpfs").
	Name() string
	// Root returns the root inode.
	Root() Inode
	// Statfs reports file system statistics.
	Statfs(ctx Context) (unix.Statfs_t, error)
}

// Dentry is a node of the cached directory tree: a name in a parent
// directory bound to an inode. Dentries are created by vfs during path
// resolution and cached in their parent.
type Dentry struct {
	parent *Dentry
	name   string
	inode  Inode
	fs     *FilesystemInstance

	mu       sync.Mutex
	children map[string]*Dentry
	// dead is set once the dentry's name is removed (unlink, rmdir, or
	// replaced by rename): nothing can be created in a dead directory.
	// Protected by VFS.mutateMu for writes; read under Dentry.mu.
	dead bool
}

// Inode returns the dentry's inode.
func (d *Dentry) Inode() Inode { return d.inode }

// Name returns the dentry's name in its parent ("/" for a root). It may
// change under a concurrent rename.
func (d *Dentry) Name() string {
	treeMu.RLock()
	defer treeMu.RUnlock()
	return d.name
}

// Parent returns the dentry's parent, or nil for a file system root. It may
// change under a concurrent rename.
func (d *Dentry) Parent() *Dentry {
	treeMu.RLock()
	defer treeMu.RUnlock()
	return d.parent
}

// IsDead reports whether the dentry's name has been removed.
func (d *Dentry) IsDead() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dead
}

// treeMu protects Dentry.parent and Dentry.name of every dentry: rename
// changes them, path name generation and ".." read them. One lock for the
// whole tree, as Linux's rename_lock.
var treeMu sync.RWMutex

// Filesystem returns the file system instance the dentry belongs to.
func (d *Dentry) Filesystem() *FilesystemInstance { return d.fs }

// FilesystemInstance is a Filesystem with its root dentry.
type FilesystemInstance struct {
	FS   Filesystem
	root *Dentry
	// Dev is the device number reported by stat for files of this
	// instance.
	Dev uint32
	// Subtree is the path, within the file system it comes from, of the
	// directory this instance's root is ("" for that file system's own
	// root): the host directory of a bind mount, which the Gofer serves as
	// a tree of its own. mountinfo's root field starts with it, as Linux
	// shows a bind mount's source directory there.
	Subtree string
}

// Root returns the file system's root dentry.
func (f *FilesystemInstance) Root() *Dentry { return f.root }

// Mount is one mount of a file system instance at a mount point.
type Mount struct {
	ID       int
	fs       *FilesystemInstance
	root     *Dentry
	parent   *Mount  // nil for the root mount
	point    *Dentry // dentry in parent this mount covers
	ReadOnly bool
	// Flags are the mount's MS_NOSUID, MS_NODEV and MS_NOEXEC flags (set
	// once, before the mount is used; bind mounts copy them). vfs
	// enforces MS_NODEV; MS_NOEXEC and MS_NOSUID are for exec to honour.
	Flags uint32
	// Source is the mount's source as /proc/mounts shows it.
	Source string
	// Options are the file system's own options as mountinfo's super
	// options show them after "rw"/"ro" (e.g. "size=65536k,mode=755"), or "".
	Options string
	// openFiles counts the open file descriptions on the mount (umount2
	// refuses a busy mount with EBUSY).
	openFiles atomic.Int64
}

// Filesystem returns the mount's file system instance.
func (m *Mount) Filesystem() *FilesystemInstance { return m.fs }

// Root returns the mount's root dentry.
func (m *Mount) Root() *Dentry { return m.root }

// VirtualDentry is a position in the mount tree: a dentry within a mount.
type VirtualDentry struct {
	Mount  *Mount
	Dentry *Dentry
}

// Ok reports whether vd refers to something.
func (vd VirtualDentry) Ok() bool { return vd.Dentry != nil }

// VFS is the mount table and the operations that resolve paths through it.
type VFS struct {
	// mutateMu serialises changes to the namespace (create, remove,
	// rename, link), so that the checks each makes stay true while it
	// changes the tree.
	mutateMu sync.Mutex

	mountMu sync.RWMutex
	// mounts maps a mount point (parent mount, dentry) to the mount on it.
	mounts  map[VirtualDentry]*Mount
	nextID  int
	nextDev uint32
	rootMnt *Mount
	allMnts []*Mount
	// anon holds mounts that are in no mount tree (memfd's tmpfs), by
	// name.
	anon map[string]*Mount

	// devMu protects devices, the registered device drivers (device.go).
	devMu   sync.Mutex
	devices map[deviceKey]DeviceOpener

	// writeMu protects writeCount: per file, the open file descriptions
	// that may write it, or minus the programs running from it
	// (writeaccess.go).
	writeMu    sync.Mutex
	writeCount map[fileKey]int
}

// New returns an empty VFS.
func New() *VFS {
	return &VFS{mounts: make(map[VirtualDentry]*Mount), nextID: 1, nextDev: 1, writeCount: make(map[fileKey]int)}
}

// NewFilesystemInstance wraps fs for mounting.
func (v *VFS) NewFilesystemInstance(fs Filesystem) *FilesystemInstance {
	v.mountMu.Lock()
	dev := v.nextDev
	v.nextDev++
	v.mountMu.Unlock()
	fi := &FilesystemInstance{FS: fs, Dev: dev}
	fi.root = &Dentry{name: "/", inode: fs.Root(), fs: fi}
	return fi
}

// MountRoot makes fi the root mount. It may be called once.
func (v *VFS) MountRoot(fi *FilesystemInstance, source string, readOnly bool) *Mount {
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	m := &Mount{ID: v.nextID, fs: fi, root: fi.root, ReadOnly: readOnly, Source: source}
	v.nextID++
	v.rootMnt = m
	v.allMnts = append(v.allMnts, m)
	return m
}

// Mount mounts fi over the directory at.
func (v *VFS) Mount(fi *FilesystemInstance, at VirtualDentry, source string, readOnly bool) (*Mount, error) {
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	m := &Mount{ID: v.nextID, fs: fi, root: fi.root, parent: at.Mount, point: at.Dentry, ReadOnly: readOnly, Source: source}
	v.nextID++
	// Stack on top of whatever is mounted there already.
	for {
		top, ok := v.mounts[at]
		if !ok {
			break
		}
		at = VirtualDentry{Mount: top, Dentry: top.root}
		m.parent, m.point = at.Mount, at.Dentry
	}
	v.mounts[at] = m
	v.allMnts = append(v.allMnts, m)
	return m, nil
}

// AnonMount returns the mount called name that is in no mount tree, for
// files that have no path (memfd_create); mk makes its file system the
// first time.
func (v *VFS) AnonMount(name string, mk func() Filesystem) *Mount {
	v.mountMu.Lock()
	if m, ok := v.anon[name]; ok {
		v.mountMu.Unlock()
		return m
	}
	v.mountMu.Unlock()
	fi := v.NewFilesystemInstance(mk())
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if m, ok := v.anon[name]; ok {
		return m
	}
	if v.anon == nil {
		v.anon = make(map[string]*Mount)
	}
	m := &Mount{ID: v.nextID, fs: fi, root: fi.root, Source: name}
	v.nextID++
	v.anon[name] = m
	return m
}

// NewUnlinkedDentry returns a dentry for inode that is in no directory
// (its name is already removed), under m's root, called name.
func (m *Mount) NewUnlinkedDentry(name string, inode Inode) VirtualDentry {
	d := &Dentry{parent: m.root, name: name, inode: inode, fs: m.fs, dead: true}
	return VirtualDentry{Mount: m, Dentry: d}
}

// Root returns the root of the mount tree.
func (v *VFS) Root() VirtualDentry {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	return VirtualDentry{Mount: v.rootMnt, Dentry: v.rootMnt.root}
}

// Mounts returns every mount, in the order they were made.
func (v *VFS) Mounts() []*Mount {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	return append([]*Mount(nil), v.allMnts...)
}

// Parent returns the mount's parent mount and mount point, or ok=false for
// the root mount and unmounted ones.
func (m *Mount) Parent() (VirtualDentry, bool) {
	if m.parent == nil || m.point == nil {
		return VirtualDentry{}, false
	}
	return VirtualDentry{Mount: m.parent, Dentry: m.point}, true
}

// mountedOn returns the mount covering vd, following stacked mounts to the
// top one, or vd itself.
func (v *VFS) mountedOn(vd VirtualDentry) VirtualDentry {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	for {
		m, ok := v.mounts[vd]
		if !ok {
			return vd
		}
		vd = VirtualDentry{Mount: m, Dentry: m.root}
	}
}

// Revalidator is implemented by directory inodes whose entries can go
// away without a vfs operation (/proc and its /proc/[pid] directories,
// which come and go with processes): a cached child is used only if
// RevalidateChild says it is still there; otherwise it leaves the cache
// (and is marked dead) and the name is looked up afresh. This keeps the
// dentry cache from holding entries of exited processes forever.
type Revalidator interface {
	RevalidateChild(ctx Context, name string, child Inode) bool
}

// child returns d's cached or looked-up child called name.
func (d *Dentry) child(ctx Context, name string) (*Dentry, error) {
	d.mu.Lock()
	if c, ok := d.children[name]; ok {
		d.mu.Unlock()
		rv, ok := d.inode.(Revalidator)
		if !ok || rv.RevalidateChild(ctx, name, c.inode) {
			return c, nil
		}
		d.mu.Lock()
		if d.children[name] == c {
			delete(d.children, name)
		}
		d.mu.Unlock()
		c.mu.Lock()
		c.dead = true
		c.mu.Unlock()
	} else {
		d.mu.Unlock()
	}
	inode, err := d.inode.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.children[name]; ok {
		return c, nil
	}
	if d.children == nil {
		d.children = make(map[string]*Dentry)
	}
	c := &Dentry{parent: d, name: name, inode: inode, fs: d.fs}
	d.children[name] = c
	return c, nil
}

// insertChild caches inode as d's child called name, replacing any cached
// child of that name, and returns the new dentry.
func (d *Dentry) insertChild(name string, inode Inode) *Dentry {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.children == nil {
		d.children = make(map[string]*Dentry)
	}
	c := &Dentry{parent: d, name: name, inode: inode, fs: d.fs}
	d.children[name] = c
	return c
}

// cachedChild returns d's cached child called name, if any.
func (d *Dentry) cachedChild(name string) *Dentry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.children[name]
}

// Invalidate drops d's cached child called name (after it is removed or
// renamed by a file system operation).
func (d *Dentry) Invalidate(name string) {
	d.mu.Lock()
	delete(d.children, name)
	d.mu.Unlock()
}

// FileType returns the S_IFMT bits of a stat mode.
func FileType(mode uint16) uint16 { return mode & unix.S_IFMT }

// Resolution describes where a path resolution starts and what it may see.
type Resolution struct {
	// Root is the caller's root directory (chroot); ".." never leaves it and
	// absolute paths and symlinks start there.
	Root VirtualDentry
	// Start is where a relative path starts (cwd or a dirfd).
	Start VirtualDentry
	// Path is the path to resolve.
	Path string
	// FollowFinal says whether a symlink in the last component is followed.
	FollowFinal bool
	// Flags are openat2(2)'s RESOLVE_* restrictions.
	Flags ResolveFlags
}

// ResolveFlags are the RESOLVE_* flags of openat2(2).
type ResolveFlags uint64

// RESOLVE_* values, from linux/openat2.h.
const (
	ResolveNoXDev       ResolveFlags = 0x01
	ResolveNoMagicLinks ResolveFlags = 0x02
	ResolveNoSymlinks   ResolveFlags = 0x04
	ResolveBeneath      ResolveFlags = 0x08
	ResolveInRoot       ResolveFlags = 0x10
	ResolveCached       ResolveFlags = 0x20
	// ResolveAll is every flag openat2 accepts.
	ResolveAll = ResolveNoXDev | ResolveNoMagicLinks | ResolveNoSymlinks | ResolveBeneath | ResolveInRoot | ResolveCached
)

// MagicLink is implemented by symlink inodes that are "magic" (the
// /proc/[pid]/fd/N kind, which name a file rather than a path), so that
// RESOLVE_NO_MAGICLINKS can refuse them.
type MagicLink interface {
	// IsMagicLink reports whether the inode is a magic link.
	IsMagicLink() bool
}

// MagicLinkResolver is implemented by magic links that resolve to the
// file itself rather than to their Readlink text, as Linux's nd_jump_link
// does: /proc/[pid]/fd/N reaches the open file's dentry even when it has
// been unlinked or renamed, and a file with no place in the tree (a pipe)
// through a dentry whose inode is a Reopener.
type MagicLinkResolver interface {
	MagicLink
	// ResolveMagic returns where the link leads.
	ResolveMagic(ctx Context) (VirtualDentry, error)
}

// Reopener is implemented by inodes that stand for an open file with no
// place in the tree, reached through a magic link: opening one (other than
// with O_PATH) calls Reopen instead of Inode.Open, which makes a new file
// description on the same object (a pipe's new end) or returns the
// existing one with a new reference.
type Reopener interface {
	Reopen(ctx Context, flags uint32) (*FileDescription, error)
}

// NewAnonymousDentry returns a dentry for inode that is in no directory
// and on no mount's tree, named name, for magic links to files with no
// path. m is the mount it is reported on.
func NewAnonymousDentry(m *Mount, name string, inode Inode) VirtualDentry {
	return m.NewUnlinkedDentry(name, inode)
}

// resolver carries state across the components of one resolution.
type resolver struct {
	v        *VFS
	ctx      Context
	root     VirtualDentry
	symlinks int
	flags    ResolveFlags
	// start is the resolution's starting point, which RESOLVE_BENEATH
	// paths may not leave.
	start VirtualDentry
}

func (v *VFS) newResolver(ctx Context, r Resolution) *resolver {
	rs := &resolver{v: v, ctx: ctx, root: r.Root, flags: r.Flags, start: r.Start}
	if r.Flags&ResolveInRoot != 0 {
		rs.root = r.Start
	}
	return rs
}

// GetDentry resolves r to an existing file.
func (v *VFS) GetDentry(ctx Context, r Resolution) (VirtualDentry, error) {
	rs := v.newResolver(ctx, r)
	return rs.walkPath(r.Start, r.Path, r.FollowFinal)
}

// GetParent resolves all but the last component of r.Path and returns the
// parent directory and the last component's name. The name may be "." or
// ".." (callers creating or removing files reject those with the errno their
// system call gives). A path with trailing slashes reports mustBeDir.
func (v *VFS) GetParent(ctx Context, r Resolution) (parent VirtualDentry, name string, mustBeDir bool, err error) {
	path := r.Path
	if path == "" {
		return VirtualDentry{}, "", false, unix.ENOENT
	}
	if len(path) >= MaxPathLen {
		return VirtualDentry{}, "", false, unix.ENAMETOOLONG
	}
	rs := v.newResolver(ctx, r)
	trimmed := strings.TrimRight(path, "/")
	if trimmed == "" {
		// "/" itself: its parent is itself, name ".".
		if rs.flags&ResolveBeneath != 0 {
			return VirtualDentry{}, "", false, unix.EXDEV
		}
		return rs.root, ".", true, nil
	}
	mustBeDir = len(trimmed) != len(path)
	dir, name := "", trimmed
	if i := strings.LastIndexByte(trimmed, '/'); i >= 0 {
		dir, name = trimmed[:i+1], trimmed[i+1:]
	}
	if len(name) > MaxNameLen {
		return VirtualDentry{}, "", false, unix.ENAMETOOLONG
	}
	start := r.Start
	if dir != "" {
		start, err = rs.walkPath(r.Start, dir, true)
		if err != nil {
			return VirtualDentry{}, "", false, err
		}
	}
	if err := rs.checkSearchable(start); err != nil {
		return VirtualDentry{}, "", false, err
	}
	return start, name, mustBeDir, nil
}

func (rs *resolver) checkSearchable(vd VirtualDentry) error {
	st, err := vd.Dentry.inode.Stat(rs.ctx)
	if err != nil {
		return err
	}
	if FileType(st.Mode) != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	if !rs.ctx.Credentials().CanAccess(uint32(st.Mode), st.Uid, st.Gid, auth.MayExecute, true) {
		return unix.EACCES
	}
	return nil
}

// mountedOn follows mounts on vd, refusing to cross into one with
// RESOLVE_NO_XDEV.
func (rs *resolver) mountedOn(vd VirtualDentry) (VirtualDentry, error) {
	next := rs.v.mountedOn(vd)
	if next.Mount != vd.Mount && rs.flags&ResolveNoXDev != 0 {
		return VirtualDentry{}, unix.EXDEV
	}
	return next, nil
}

// walkPath resolves path from start.
func (rs *resolver) walkPath(start VirtualDentry, path string, followFinal bool) (VirtualDentry, error) {
	if path == "" {
		return VirtualDentry{}, unix.ENOENT
	}
	if len(path) >= MaxPathLen {
		return VirtualDentry{}, unix.ENAMETOOLONG
	}
	cur := start
	if path[0] == '/' {
		if rs.flags&ResolveBeneath != 0 {
			return VirtualDentry{}, unix.EXDEV
		}
		if rs.flags&ResolveNoXDev != 0 && rs.root.Mount != start.Mount {
			return VirtualDentry{}, unix.EXDEV
		}
		cur = rs.root
	}
	cur, err := rs.mountedOn(cur)
	if err != nil {
		return VirtualDentry{}, err
	}
	mustBeDir := strings.HasSuffix(path, "/")
	comps := strings.Split(path, "/")
	// Drop empty components (repeated or trailing slashes).
	n := 0
	for _, c := range comps {
		if c != "" {
			comps[n] = c
			n++
		}
	}
	comps = comps[:n]
	for i, name := range comps {
		last := i == len(comps)-1
		next, err := rs.step(cur, name, !last || followFinal || mustBeDir)
		if err != nil {
			return VirtualDentry{}, err
		}
		cur = next
	}
	if mustBeDir {
		st, err := cur.Dentry.inode.Stat(rs.ctx)
		if err != nil {
			return VirtualDentry{}, err
		}
		if FileType(st.Mode) != unix.S_IFDIR {
			return VirtualDentry{}, unix.ENOTDIR
		}
	}
	return cur, nil
}

// step resolves one component name in directory cur, following a symlink
// there if follow is set.
func (rs *resolver) step(cur VirtualDentry, name string, follow bool) (VirtualDentry, error) {
	if len(name) > MaxNameLen {
		return VirtualDentry{}, unix.ENAMETOOLONG
	}
	if err := rs.checkSearchable(cur); err != nil {
		return VirtualDentry{}, err
	}
	switch name {
	case ".":
		return cur, nil
	case "..":
		return rs.parentOf(cur)
	}
	d, err := cur.Dentry.child(rs.ctx, name)
	if err != nil {
		return VirtualDentry{}, err
	}
	next, err := rs.mountedOn(VirtualDentry{Mount: cur.Mount, Dentry: d})
	if err != nil {
		return VirtualDentry{}, err
	}
	if !follow && rs.flags&ResolveNoSymlinks == 0 {
		return next, nil
	}
	st, err := next.Dentry.inode.Stat(rs.ctx)
	if err != nil {
		return VirtualDentry{}, err
	}
	if FileType(st.Mode) != unix.S_IFLNK {
		return next, nil
	}
	if rs.flags&ResolveNoSymlinks != 0 {
		return VirtualDentry{}, unix.ELOOP
	}
	ml, isMagic := next.Dentry.inode.(MagicLink)
	isMagic = isMagic && ml.IsMagicLink()
	if isMagic && rs.flags&ResolveNoMagicLinks != 0 {
		return VirtualDentry{}, unix.ELOOP
	}
	rs.symlinks++
	if rs.symlinks > MaxSymlinkTraversals {
		return VirtualDentry{}, unix.ELOOP
	}
	if mr, ok := next.Dentry.inode.(MagicLinkResolver); ok && isMagic {
		if rs.flags&(ResolveBeneath|ResolveInRoot) != 0 {
			// Linux refuses to jump out of a scoped resolution.
			return VirtualDentry{}, unix.EXDEV
		}
		return mr.ResolveMagic(rs.ctx)
	}
	target, err := next.Dentry.inode.Readlink(rs.ctx)
	if err != nil {
		return VirtualDentry{}, err
	}
	if target == "" {
		return VirtualDentry{}, unix.ENOENT
	}
	return rs.walkPath(cur, target, true)
}

// parentOf returns the parent of vd, staying within the resolution's root
// and crossing mount boundaries upwards.
func (rs *resolver) parentOf(vd VirtualDentry) (VirtualDentry, error) {
	treeMu.RLock()
	defer treeMu.RUnlock()
	for {
		if vd == rs.root {
			return vd, nil
		}
		if rs.flags&ResolveBeneath != 0 && vd == rs.start {
			return VirtualDentry{}, unix.EXDEV
		}
		if vd.Dentry != vd.Mount.root {
			return rs.v.mountedOn(VirtualDentry{Mount: vd.Mount, Dentry: vd.Dentry.parent}), nil
		}
		up, ok := vd.Mount.Parent()
		if !ok {
			return vd, nil // the root of everything
		}
		if rs.flags&ResolveNoXDev != 0 {
			return VirtualDentry{}, unix.EXDEV
		}
		vd = up
	}
}

// PathName returns the path of vd as seen from root, as getcwd(2) and
// /proc/[pid]/fd links report it. A vd outside root gets a path from the
// real root.
func (v *VFS) PathName(root, vd VirtualDentry) string {
	treeMu.RLock()
	defer treeMu.RUnlock()
	var parts []string
	for vd != root {
		if vd.Dentry == vd.Mount.root {
			up, ok := vd.Mount.Parent()
			if !ok {
				break
			}
			vd = up
			continue
		}
		parts = append(parts, vd.Dentry.name)
		vd = VirtualDentry{Mount: vd.Mount, Dentry: vd.Dentry.parent}
	}
	if len(parts) == 0 {
		return "/"
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}
