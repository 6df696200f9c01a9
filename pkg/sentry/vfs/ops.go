package vfs

// This file holds the operations that change the namespace or a file's
// attributes: mkdir, mknod, symlink, link, unlink, rmdir, rename and
// setattr. vfs makes every check Linux makes in fs/namei.c and fs/attr.c
// (permissions on the parent, the sticky bit, read-only mounts, mounts in
// the way, file types, trailing slashes) and then asks the file system,
// through the optional inode interfaces below, to make the change; the
// dentry cache is updated here.
//
// Lock order: VFS.mutateMu is held across each operation (see vfs.go).

import (
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
)

// Mkdirer is implemented by directories in which subdirectories can be
// made.
type Mkdirer interface {
	// Mkdir makes a directory called name with permission bits mode,
	// owned by the caller, and returns its inode.
	Mkdir(ctx Context, name string, mode uint32) (Inode, error)
}

// Mknoder is implemented by directories in which regular files, FIFOs,
// sockets and device nodes can be made.
type Mknoder interface {
	// Mknod makes a file called name; mode includes the S_IFMT type and
	// rdev is the device number for S_IFCHR and S_IFBLK.
	Mknod(ctx Context, name string, mode uint32, rdev uint64) (Inode, error)
}

// Symlinker is implemented by directories in which symlinks can be made.
type Symlinker interface {
	// Symlink makes a symlink called name whose target is target.
	Symlink(ctx Context, name, target string) (Inode, error)
}

// Linker is implemented by directories in which hard links can be made.
type Linker interface {
	// Link makes name a new link to target, an inode of the same file
	// system (vfs checks the mount; the file system returns EXDEV for an
	// inode it does not own). It returns the inode the new name has.
	Link(ctx Context, name string, target Inode) (Inode, error)
}

// Unlinker is implemented by directories whose entries can be removed.
type Unlinker interface {
	// Unlink removes the non-directory child called name, whose inode is
	// child.
	Unlink(ctx Context, name string, child Inode) error
	// Rmdir removes the directory child called name, failing with
	// ENOTEMPTY if it has entries.
	Rmdir(ctx Context, name string, child Inode) error
}

// Renamer is implemented by directories whose entries can be renamed.
type Renamer interface {
	// Rename moves the child oldName of this directory to newName in
	// newParent (a directory of the same file system; EXDEV otherwise),
	// replacing what is there. flags are RENAME_NOREPLACE and
	// RENAME_EXCHANGE; vfs has checked them, the types of source and
	// target, and that a directory is not moved into itself. The file
	// system checks that a replaced directory is empty (ENOTEMPTY). src
	// is the inode being moved and dst the one at newName (nil if none),
	// as vfs found them.
	Rename(ctx Context, oldName string, src Inode, newParent Inode, newName string, dst Inode, flags uint32) error
}

// AttrSetter is implemented by inodes whose attributes can change.
type AttrSetter interface {
	// SetAttr changes the attributes a.Mask selects. Permission checks
	// are done; the file system updates ctime.
	SetAttr(ctx Context, a SetAttr) error
}

// Syncer is implemented by inodes or file implementations with data to
// flush to stable storage (fsync(2)).
type Syncer interface {
	// Sync flushes the file's data (and metadata unless dataOnly).
	Sync(ctx Context, dataOnly bool) error
}

// FilesystemSyncer is implemented by file systems that can flush
// everything (sync(2), syncfs(2)).
type FilesystemSyncer interface {
	SyncFS(ctx Context) error
}

// SetAttr describes an attribute change. Mask holds STATX_* bits:
// STATX_MODE, STATX_UID, STATX_GID, STATX_SIZE, STATX_ATIME, STATX_MTIME.
type SetAttr struct {
	Mask  uint32
	Mode  uint16 // permission bits and S_ISUID/S_ISGID/S_ISVTX only
	UID   uint32
	GID   uint32
	Size  uint64
	Atime unix.StatxTimestamp
	Mtime unix.StatxTimestamp
}

// Now returns the current time as a statx timestamp.
func Now() unix.StatxTimestamp {
	t := time.Now()
	return unix.StatxTimestamp{Sec: t.Unix(), Nsec: uint32(t.Nanosecond())}
}

// isMountPoint reports whether something is mounted on d in m, or d is
// the root of m (neither can be removed or renamed). Called with mutateMu.
func (v *VFS) isMountPoint(m *Mount, d *Dentry) bool {
	if d == m.root {
		return true
	}
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	for _, mnt := range v.allMnts {
		if mnt.point == d {
			return true
		}
	}
	return false
}

// mayCreate checks that the caller may add an entry to parent.
func (v *VFS) mayCreate(ctx Context, parent VirtualDentry) error {
	if parent.Dentry.IsDead() {
		return unix.ENOENT
	}
	if parent.Mount.ReadOnly {
		return unix.EROFS
	}
	st, err := parent.Dentry.inode.Stat(ctx)
	if err != nil {
		return err
	}
	if !ctx.Credentials().CanAccess(uint32(st.Mode), st.Uid, st.Gid, auth.MayWrite|auth.MayExecute, true) {
		return unix.EACCES
	}
	return nil
}

// mayDelete checks that the caller may remove child from parent, as
// Linux's may_delete does; isDir says whether the call removes a
// directory (rmdir, or a rename of one).
func (v *VFS) mayDelete(ctx Context, parent VirtualDentry, child *Dentry, isDir bool) error {
	pst, err := parent.Dentry.inode.Stat(ctx)
	if err != nil {
		return err
	}
	creds := ctx.Credentials()
	if !creds.CanAccess(uint32(pst.Mode), pst.Uid, pst.Gid, auth.MayWrite|auth.MayExecute, true) {
		return unix.EACCES
	}
	cst, err := child.inode.Stat(ctx)
	if err != nil {
		return err
	}
	if pst.Mode&unix.S_ISVTX != 0 && creds.FSUID != pst.Uid && creds.FSUID != cst.Uid && !creds.HasCapability(auth.CapFowner) {
		return unix.EPERM
	}
	childIsDir := FileType(cst.Mode) == unix.S_IFDIR
	if isDir && !childIsDir {
		return unix.ENOTDIR
	}
	if !isDir && childIsDir {
		return unix.EISDIR
	}
	if v.isMountPoint(parent.Mount, child) {
		return unix.EBUSY
	}
	return nil
}

// createChecks resolves the parent of a file about to be created and
// checks that the name is free. It returns with mutateMu held on success.
func (v *VFS) createChecks(ctx Context, r Resolution, allowSlash bool) (VirtualDentry, string, error) {
	parent, name, mustBeDir, err := v.GetParent(ctx, r)
	if err != nil {
		return VirtualDentry{}, "", err
	}
	if name == "." || name == ".." {
		return VirtualDentry{}, "", unix.EEXIST
	}
	v.mutateMu.Lock()
	if _, err := parent.Dentry.child(ctx, name); err == nil {
		v.mutateMu.Unlock()
		return VirtualDentry{}, "", unix.EEXIST
	} else if err != unix.ENOENT {
		v.mutateMu.Unlock()
		return VirtualDentry{}, "", err
	}
	if mustBeDir && !allowSlash {
		v.mutateMu.Unlock()
		return VirtualDentry{}, "", unix.ENOENT
	}
	if err := v.mayCreate(ctx, parent); err != nil {
		v.mutateMu.Unlock()
		return VirtualDentry{}, "", err
	}
	return parent, name, nil
}

// MkdirAt makes a directory, as mkdirat(2) does. mode is after the umask.
func (v *VFS) MkdirAt(ctx Context, r Resolution, mode uint32) error {
	parent, name, err := v.createChecks(ctx, r, true)
	if err != nil {
		return err
	}
	defer v.mutateMu.Unlock()
	m, ok := parent.Dentry.inode.(Mkdirer)
	if !ok {
		return unix.EPERM
	}
	inode, err := m.Mkdir(ctx, name, mode&0o7777)
	if err != nil {
		return err
	}
	parent.Dentry.insertChild(name, inode)
	notifyChild(parent.Dentry, unix.IN_CREATE|unix.IN_ISDIR, 0, name)
	return nil
}

// MknodAt makes a file node, as mknodat(2) does. mode includes the type
// (0 means S_IFREG) and is after the umask.
func (v *VFS) MknodAt(ctx Context, r Resolution, mode uint32, rdev uint64) error {
	switch mode & unix.S_IFMT {
	case 0:
		mode |= unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFCHR, unix.S_IFBLK:
		if !ctx.Credentials().HasCapability(capMknod) {
			return unix.EPERM
		}
	case unix.S_IFDIR:
		return unix.EPERM
	default:
		return unix.EINVAL
	}
	parent, name, err := v.createChecks(ctx, r, false)
	if err != nil {
		return err
	}
	defer v.mutateMu.Unlock()
	var inode Inode
	if mode&unix.S_IFMT == unix.S_IFREG {
		if c, ok := parent.Dentry.inode.(Creator); ok {
			inode, err = c.Create(ctx, name, mode&(unix.S_IFMT|0o7777))
		} else {
			return unix.EPERM
		}
	} else {
		m, ok := parent.Dentry.inode.(Mknoder)
		if !ok {
			return unix.EPERM
		}
		inode, err = m.Mknod(ctx, name, mode&(unix.S_IFMT|0o7777), rdev)
	}
	if err != nil {
		return err
	}
	parent.Dentry.insertChild(name, inode)
	notifyChild(parent.Dentry, unix.IN_CREATE, 0, name)
	return nil
}

// Capabilities auth does not name.
const (
	capFsetid = 4  // CAP_FSETID
	capMknod  = 27 // CAP_MKNOD
)

// SymlinkAt makes a symlink at r with the given target, as symlinkat(2).
func (v *VFS) SymlinkAt(ctx Context, r Resolution, target string) error {
	if target == "" {
		return unix.ENOENT
	}
	if len(target) >= MaxPathLen {
		return unix.ENAMETOOLONG
	}
	parent, name, err := v.createChecks(ctx, r, false)
	if err != nil {
		return err
	}
	defer v.mutateMu.Unlock()
	s, ok := parent.Dentry.inode.(Symlinker)
	if !ok {
		return unix.EPERM
	}
	inode, err := s.Symlink(ctx, name, target)
	if err != nil {
		return err
	}
	parent.Dentry.insertChild(name, inode)
	notifyChild(parent.Dentry, unix.IN_CREATE, 0, name)
	return nil
}

// LinkAt makes r a new name for the existing file old, as linkat(2).
func (v *VFS) LinkAt(ctx Context, old VirtualDentry, r Resolution) error {
	parent, name, err := v.createChecks(ctx, r, false)
	if err != nil {
		return err
	}
	defer v.mutateMu.Unlock()
	if parent.Mount != old.Mount {
		return unix.EXDEV
	}
	st, err := old.Dentry.inode.Stat(ctx)
	if err != nil {
		return err
	}
	if FileType(st.Mode) == unix.S_IFDIR {
		return unix.EPERM
	}
	if st.Nlink == 0 && FileType(st.Mode) != unix.S_IFDIR {
		// A file with no names left (linkat of an unlinked open file
		// without O_TMPFILE) cannot get one back.
		return unix.ENOENT
	}
	// Protected hard links (fs.protected_hardlinks=1): the caller must own
	// the file or be able to read and write it, or have CAP_FOWNER.
	creds := ctx.Credentials()
	if creds.FSUID != st.Uid && !creds.HasCapability(auth.CapFowner) {
		safe := FileType(st.Mode) == unix.S_IFREG && st.Mode&unix.S_ISUID == 0 &&
			(st.Mode&(unix.S_ISGID|unix.S_IXGRP) != unix.S_ISGID|unix.S_IXGRP) &&
			creds.CanAccess(uint32(st.Mode), st.Uid, st.Gid, auth.MayRead|auth.MayWrite, false)
		if !safe {
			return unix.EPERM
		}
	}
	l, ok := parent.Dentry.inode.(Linker)
	if !ok {
		return unix.EPERM
	}
	inode, err := l.Link(ctx, name, old.Dentry.inode)
	if err != nil {
		return err
	}
	parent.Dentry.insertChild(name, inode)
	notifySelf(ctx, old.Dentry, unix.IN_ATTRIB)
	notifyChild(parent.Dentry, unix.IN_CREATE, 0, name)
	return nil
}

// removeChecks resolves the entry an unlink or rmdir names. It returns
// with mutateMu held on success.
func (v *VFS) removeChecks(ctx Context, r Resolution, isDir bool) (VirtualDentry, string, *Dentry, error) {
	parent, name, mustBeDir, err := v.GetParent(ctx, r)
	if err != nil {
		return VirtualDentry{}, "", nil, err
	}
	if isDir && strings.TrimRight(r.Path, "/") == "" {
		return VirtualDentry{}, "", nil, unix.EBUSY
	}
	switch name {
	case ".":
		if isDir {
			return VirtualDentry{}, "", nil, unix.EINVAL
		}
		return VirtualDentry{}, "", nil, unix.EISDIR
	case "..":
		if isDir {
			return VirtualDentry{}, "", nil, unix.ENOTEMPTY
		}
		return VirtualDentry{}, "", nil, unix.EISDIR
	}
	if parent.Mount.ReadOnly {
		return VirtualDentry{}, "", nil, unix.EROFS
	}
	v.mutateMu.Lock()
	child, err := parent.Dentry.child(ctx, name)
	if err != nil {
		v.mutateMu.Unlock()
		return VirtualDentry{}, "", nil, err
	}
	if err := v.mayDelete(ctx, parent, child, isDir); err != nil {
		v.mutateMu.Unlock()
		return VirtualDentry{}, "", nil, err
	}
	if mustBeDir && !isDir {
		v.mutateMu.Unlock()
		return VirtualDentry{}, "", nil, unix.ENOTDIR
	}
	return parent, name, child, nil
}

// kill marks a removed dentry dead and drops it from its parent's cache.
func (d *Dentry) kill(parent *Dentry, name string) {
	parent.mu.Lock()
	if parent.children[name] == d {
		delete(parent.children, name)
	}
	parent.mu.Unlock()
	d.mu.Lock()
	d.dead = true
	d.mu.Unlock()
}

// UnlinkAt removes a non-directory, as unlinkat(2) without AT_REMOVEDIR.
func (v *VFS) UnlinkAt(ctx Context, r Resolution) error {
	parent, name, child, err := v.removeChecks(ctx, r, false)
	if err != nil {
		return err
	}
	defer v.mutateMu.Unlock()
	u, ok := parent.Dentry.inode.(Unlinker)
	if !ok {
		return unix.EPERM
	}
	if err := u.Unlink(ctx, name, child.inode); err != nil {
		return err
	}
	child.kill(parent.Dentry, name)
	notifyRemoved(ctx, parent.Dentry, child, name, false)
	return nil
}

// RmdirAt removes an empty directory, as rmdir(2).
func (v *VFS) RmdirAt(ctx Context, r Resolution) error {
	parent, name, child, err := v.removeChecks(ctx, r, true)
	if err != nil {
		return err
	}
	defer v.mutateMu.Unlock()
	u, ok := parent.Dentry.inode.(Unlinker)
	if !ok {
		return unix.EPERM
	}
	if err := u.Rmdir(ctx, name, child.inode); err != nil {
		return err
	}
	child.kill(parent.Dentry, name)
	notifyRemoved(ctx, parent.Dentry, child, name, true)
	return nil
}

// Rename flags, from linux/fs.h.
const (
	RenameNoReplace = 1 << 0
	RenameExchange  = 1 << 1
	RenameWhiteout  = 1 << 2
)

// RenameAt renames old to new, as renameat2(2).
func (v *VFS) RenameAt(ctx Context, oldR, newR Resolution, flags uint32) error {
	if flags&^(RenameNoReplace|RenameExchange|RenameWhiteout) != 0 {
		return unix.EINVAL
	}
	if flags&RenameExchange != 0 && flags&(RenameNoReplace|RenameWhiteout) != 0 {
		return unix.EINVAL
	}
	if flags&RenameWhiteout != 0 {
		return unix.EINVAL
	}
	oldParent, oldName, oldSlash, err := v.GetParent(ctx, oldR)
	if err != nil {
		return err
	}
	newParent, newName, newSlash, err := v.GetParent(ctx, newR)
	if err != nil {
		return err
	}
	if oldName == "." || oldName == ".." || newName == "." || newName == ".." {
		return unix.EBUSY
	}
	if oldParent.Mount != newParent.Mount {
		return unix.EXDEV
	}
	if oldParent.Mount.ReadOnly {
		return unix.EROFS
	}
	v.mutateMu.Lock()
	defer v.mutateMu.Unlock()
	src, err := oldParent.Dentry.child(ctx, oldName)
	if err != nil {
		return err
	}
	sst, err := src.inode.Stat(ctx)
	if err != nil {
		return err
	}
	srcIsDir := FileType(sst.Mode) == unix.S_IFDIR
	dst, err := newParent.Dentry.child(ctx, newName)
	if err != nil && err != unix.ENOENT {
		return err
	}
	if err == unix.ENOENT {
		dst = nil
		if flags&RenameExchange != 0 {
			return unix.ENOENT
		}
	}
	if dst != nil && flags&RenameNoReplace != 0 {
		return unix.EEXIST
	}
	if !srcIsDir && (oldSlash || (newSlash && flags&RenameExchange == 0)) {
		return unix.ENOTDIR
	}
	dstIsDir := false
	if dst != nil {
		dst, err := dst.inode.Stat(ctx)
		if err != nil {
			return err
		}
		dstIsDir = FileType(dst.Mode) == unix.S_IFDIR
		if newSlash && !dstIsDir {
			return unix.ENOTDIR
		}
	}
	if err := v.mayDelete(ctx, oldParent, src, srcIsDir); err != nil {
		return err
	}
	if dst != nil {
		isDir := srcIsDir
		if flags&RenameExchange != 0 {
			isDir = dstIsDir
		}
		if err := v.mayDelete(ctx, newParent, dst, isDir); err != nil {
			return err
		}
	} else if err := v.mayCreate(ctx, newParent); err != nil {
		return err
	}
	// Moving a directory to another parent rewrites its "..": it needs
	// write permission on the directory itself.
	creds := ctx.Credentials()
	if oldParent.Dentry != newParent.Dentry {
		if srcIsDir && !creds.CanAccess(uint32(sst.Mode), sst.Uid, sst.Gid, auth.MayWrite, true) {
			return unix.EACCES
		}
		if dst != nil && flags&RenameExchange != 0 && dstIsDir {
			dst2, _ := dst.inode.Stat(ctx)
			if !creds.CanAccess(uint32(dst2.Mode), dst2.Uid, dst2.Gid, auth.MayWrite, true) {
				return unix.EACCES
			}
		}
	}
	if src == dst {
		return nil
	}
	if dst != nil && dst.inode == src.inode {
		// Two names of one file: rename does nothing.
		return nil
	}
	// A directory may not move into itself or a descendant; for
	// RENAME_EXCHANGE, neither may the target.
	if srcIsDir && isAncestor(src, newParent.Dentry) {
		return unix.EINVAL
	}
	if dst != nil && flags&RenameExchange != 0 && dstIsDir && isAncestor(dst, oldParent.Dentry) {
		return unix.EINVAL
	}
	if dst != nil && flags&RenameExchange == 0 && dstIsDir && isAncestor(dst, oldParent.Dentry) {
		return unix.ENOTEMPTY
	}
	rn, ok := oldParent.Dentry.inode.(Renamer)
	if !ok {
		return unix.EPERM
	}
	var dstInode Inode
	if dst != nil {
		dstInode = dst.inode
	}
	if err := rn.Rename(ctx, oldName, src.inode, newParent.Dentry.inode, newName, dstInode, flags); err != nil {
		return err
	}
	// Update the dentry cache: src moves to newParent/newName; dst is
	// replaced (killed) or, for an exchange, moves to oldParent/oldName.
	defer notifyRenamed(ctx, oldParent.Dentry, oldName, src, srcIsDir, newParent.Dentry, newName, dst, dstIsDir, flags)
	treeMu.Lock()
	defer treeMu.Unlock()
	lockPair(oldParent.Dentry, newParent.Dentry)
	if oldParent.Dentry.children[oldName] == src {
		delete(oldParent.Dentry.children, oldName)
	}
	if newParent.Dentry.children == nil {
		newParent.Dentry.children = make(map[string]*Dentry)
	}
	newParent.Dentry.children[newName] = src
	if dst != nil && flags&RenameExchange != 0 {
		if oldParent.Dentry.children == nil {
			oldParent.Dentry.children = make(map[string]*Dentry)
		}
		oldParent.Dentry.children[oldName] = dst
	}
	unlockPair(oldParent.Dentry, newParent.Dentry)
	src.parent, src.name = newParent.Dentry, newName
	if dst != nil {
		if flags&RenameExchange != 0 {
			dst.parent, dst.name = oldParent.Dentry, oldName
		} else {
			dst.mu.Lock()
			dst.dead = true
			dst.mu.Unlock()
		}
	}
	return nil
}

// isAncestor reports whether a is d or one of d's ancestors. Called with
// mutateMu held, so the tree does not change.
func isAncestor(a, d *Dentry) bool {
	for ; d != nil; d = d.parent {
		if d == a {
			return true
		}
	}
	return false
}

// lockPair locks the Dentry.mu of two directories (once if they are the
// same). Callers hold mutateMu, so no other goroutine locks two at once.
func lockPair(a, b *Dentry) {
	a.mu.Lock()
	if b != a {
		b.mu.Lock()
	}
}

func unlockPair(a, b *Dentry) {
	if b != a {
		b.mu.Unlock()
	}
	a.mu.Unlock()
}

// SetAttrAt changes the attributes of the file at vd with the permission
// rules of chmod(2), chown(2), truncate(2) and utimensat(2). For times,
// timesNow says the caller asked for the current time (UTIME_NOW for
// both, or a NULL times argument), which needs only write permission.
func (v *VFS) SetAttrAt(ctx Context, vd VirtualDentry, a SetAttr, timesNow bool) error {
	st, err := vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return err
	}
	creds := ctx.Credentials()
	owner := creds.FSUID == st.Uid || creds.HasCapability(auth.CapFowner)
	ft := FileType(st.Mode)
	if a.Mask&unix.STATX_SIZE != 0 {
		if ft == unix.S_IFDIR {
			return unix.EISDIR
		}
		if ft != unix.S_IFREG {
			return unix.EINVAL
		}
	}
	if vd.Mount.ReadOnly && a.Mask != 0 {
		return unix.EROFS
	}
	if a.Mask&unix.STATX_MODE != 0 {
		if !owner {
			return unix.EPERM
		}
		// A non-member of the group loses S_ISGID (for non-directories).
		if a.Mode&unix.S_ISGID != 0 && ft != unix.S_IFDIR && !creds.InGroup(st.Gid) && !creds.HasCapability(capFsetid) {
			a.Mode &^= unix.S_ISGID
		}
	}
	if a.Mask&(unix.STATX_UID|unix.STATX_GID) != 0 {
		chown := creds.HasCapability(auth.CapChown)
		if a.Mask&unix.STATX_UID != 0 && a.UID != st.Uid && !chown {
			return unix.EPERM
		}
		if a.Mask&unix.STATX_GID != 0 && a.GID != st.Gid && !chown {
			// The owner may give the file to a group it is in.
			if creds.FSUID != st.Uid || !creds.InGroup(a.GID) {
				return unix.EPERM
			}
		}
		// Changing the owner of a non-directory clears the set-ID bits
		// (S_ISGID only with group execute), as Linux's notify_change.
		if ft != unix.S_IFDIR && a.Mask&unix.STATX_MODE == 0 {
			mode := st.Mode &^ unix.S_IFMT
			nm := mode &^ unix.S_ISUID
			if mode&unix.S_IXGRP != 0 {
				nm &^= unix.S_ISGID
			}
			if nm != mode {
				a.Mask |= unix.STATX_MODE
				a.Mode = nm
			}
		}
	}
	if a.Mask&unix.STATX_SIZE != 0 {
		if !creds.CanAccess(uint32(st.Mode), st.Uid, st.Gid, auth.MayWrite, false) {
			return unix.EACCES
		}
		// A file a program runs from cannot be truncated.
		if err := v.checkWriteAccess(keyOf(&st)); err != nil {
			return err
		}
	}
	if a.Mask&(unix.STATX_ATIME|unix.STATX_MTIME) != 0 {
		if timesNow {
			if !owner && !creds.CanAccess(uint32(st.Mode), st.Uid, st.Gid, auth.MayWrite, ft == unix.S_IFDIR) {
				return unix.EACCES
			}
		} else if !owner {
			return unix.EPERM
		}
	}
	return v.setAttr(ctx, vd, a)
}

// setAttr asks the file system to change attributes, without checks
// (ftruncate has checked the open file's mode).
func (v *VFS) setAttr(ctx Context, vd VirtualDentry, a SetAttr) error {
	s, ok := vd.Dentry.inode.(AttrSetter)
	if !ok {
		return unix.EPERM
	}
	if err := s.SetAttr(ctx, a); err != nil {
		return err
	}
	if ev := attrEvents(a.Mask); ev != 0 {
		notifyDentry(ctx, vd.Dentry, ev)
	}
	return nil
}

// Truncate sets the size of an open file, as ftruncate(2): the file must be
// open for writing (EINVAL otherwise, as Linux).
func (fd *FileDescription) Truncate(ctx Context, size int64) error {
	if size < 0 {
		return unix.EINVAL
	}
	if fd.isPath() {
		return unix.EBADF
	}
	if !fd.IsWritable() || fd.vd.Dentry == nil {
		return unix.EINVAL
	}
	st, err := fd.vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return err
	}
	if FileType(st.Mode) != unix.S_IFREG {
		return unix.EINVAL
	}
	if fd.flags.Load()&unix.O_APPEND != 0 {
		return unix.EPERM
	}
	s, ok := fd.vd.Dentry.inode.(AttrSetter)
	if !ok {
		return unix.EINVAL
	}
	if err := s.SetAttr(ctx, SetAttr{Mask: unix.STATX_SIZE, Size: uint64(size)}); err != nil {
		return err
	}
	fd.notifyFile(unix.IN_MODIFY)
	return nil
}

// Sync flushes an open file, as fsync(2) and fdatasync(2).
func (fd *FileDescription) Sync(ctx Context, dataOnly bool) error {
	if s, ok := fd.impl.(Syncer); ok {
		return s.Sync(ctx, dataOnly)
	}
	if fd.vd.Dentry != nil {
		if s, ok := fd.vd.Dentry.inode.(Syncer); ok {
			return s.Sync(ctx, dataOnly)
		}
	}
	if fd.vd.Dentry == nil {
		// Pipes and sockets: Linux returns EINVAL.
		return unix.EINVAL
	}
	return nil
}

// SyncAll flushes every mounted file system (sync(2)).
func (v *VFS) SyncAll(ctx Context) {
	for _, m := range v.Mounts() {
		if s, ok := m.fs.FS.(FilesystemSyncer); ok {
			s.SyncFS(ctx)
		}
	}
}

// BindSocket makes a socket file at r for a Unix socket bind(2) and
// records ep, the socket's endpoint, in its inode (ENOTSUP if the file
// system cannot hold sockets). mode is after the umask. EADDRINUSE if the
// name exists.
func (v *VFS) BindSocket(ctx Context, r Resolution, mode uint32, ep any) error {
	parent, name, err := v.createChecks(ctx, r, false)
	if err == unix.EEXIST {
		return unix.EADDRINUSE
	}
	if err != nil {
		return err
	}
	defer v.mutateMu.Unlock()
	m, ok := parent.Dentry.inode.(Mknoder)
	if !ok {
		return unix.EPERM
	}
	inode, err := m.Mknod(ctx, name, unix.S_IFSOCK|mode&0o7777, 0)
	if err != nil {
		return err
	}
	si, ok := inode.(SocketInode)
	if !ok {
		return unix.EOPNOTSUPP
	}
	si.SetEndpoint(ep)
	parent.Dentry.insertChild(name, inode)
	notifyChild(parent.Dentry, unix.IN_CREATE, 0, name)
	return nil
}

// SocketInode is implemented by socket file inodes that can hold the
// endpoint of a bound Unix socket.
type SocketInode interface {
	// Endpoint returns the endpoint bound to the file, or nil.
	Endpoint() any
	// SetEndpoint records the endpoint bound to the file.
	SetEndpoint(ep any)
}
