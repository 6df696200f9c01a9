package vfs

// Extended attributes (getxattr(2) and friends). vfs checks what Linux's
// fs/xattr.c and the capability security module check (name and size
// limits, namespaces, permissions, read-only mounts); file systems only
// store and fetch, through XattrInode.
//
// Lock order: VFS.mutateMu is not taken: an attribute change is not a
// namespace change, and each file system serialises its own attributes.

import (
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
)

// Limits and flags from linux/limits.h and linux/xattr.h.
const (
	// XattrNameMax is the longest attribute name (XATTR_NAME_MAX).
	XattrNameMax = 255
	// XattrSizeMax is the largest attribute value (XATTR_SIZE_MAX).
	XattrSizeMax = 65536
	// XattrListMax is the largest attribute name list (XATTR_LIST_MAX).
	XattrListMax = 65536
	// XattrCreate fails setxattr with EEXIST if the attribute exists.
	XattrCreate = 1
	// XattrReplace fails setxattr with ENODATA if it does not.
	XattrReplace = 2
)

// Attribute namespaces (the prefix of every name).
const (
	XattrUserPrefix     = "user."
	XattrTrustedPrefix  = "trusted."
	XattrSecurityPrefix = "security."
	XattrSystemPrefix   = "system."
)

// XattrInode is implemented by inodes of file systems that store extended
// attributes. vfs has checked the name, the namespace and the caller's
// permission; the file system applies XattrCreate/XattrReplace and
// returns ENODATA for an attribute it does not have.
type XattrInode interface {
	// GetXattr returns the value of the attribute name.
	GetXattr(ctx Context, name string) ([]byte, error)
	// SetXattr sets the attribute name to value; flags hold XattrCreate
	// or XattrReplace.
	SetXattr(ctx Context, name string, value []byte, flags uint32) error
	// ListXattrs returns the names of the file's attributes.
	ListXattrs(ctx Context) ([]string, error)
	// RemoveXattr removes the attribute name.
	RemoveXattr(ctx Context, name string) error
}

// checkXattrName returns ERANGE for an empty or over-long name and
// EOPNOTSUPP for a name outside the namespaces Linux knows.
func checkXattrName(name string) error {
	if name == "" || len(name) > XattrNameMax {
		return unix.ERANGE
	}
	for _, p := range []string{XattrUserPrefix, XattrTrustedPrefix, XattrSecurityPrefix, XattrSystemPrefix} {
		if strings.HasPrefix(name, p) {
			if len(name) == len(p) {
				// The prefix alone names nothing (xattr_resolve_name).
				return unix.EINVAL
			}
			return nil
		}
	}
	return unix.EOPNOTSUPP
}

// xattrPermission is Linux's xattr_permission (fs/xattr.c) followed by the
// capability module's inode_setxattr rule, for an access of mask
// (auth.MayRead or auth.MayWrite) to name on the file with attributes st.
func xattrPermission(ctx Context, st unix.Statx_t, name string, mask uint32) error {
	creds := ctx.Credentials()
	write := mask&auth.MayWrite != 0
	// Reads of an attribute the caller may not see look like absence.
	denied := unix.ENODATA
	if write {
		denied = unix.EPERM
	}
	ft := FileType(st.Mode)
	switch {
	case strings.HasPrefix(name, XattrTrustedPrefix):
		if !creds.HasCapability(auth.CapSysAdmin) {
			return denied
		}
		return nil
	case strings.HasPrefix(name, XattrSecurityPrefix):
		// Any security.* write needs CAP_SYS_ADMIN with the capability
		// module (security.capability is not supported: no file
		// capabilities in the sandbox).
		if write && !creds.HasCapability(auth.CapSysAdmin) {
			return unix.EPERM
		}
		return nil
	case strings.HasPrefix(name, XattrSystemPrefix):
		// POSIX ACLs are the only system.* attributes; the sandbox has
		// none.
		return unix.EOPNOTSUPP
	}
	// user.*: only on regular files and directories, and on sticky
	// directories only for their owner.
	if ft != unix.S_IFREG && ft != unix.S_IFDIR {
		return denied
	}
	if ft == unix.S_IFDIR && st.Mode&unix.S_ISVTX != 0 && write &&
		creds.FSUID != st.Uid && !creds.HasCapability(auth.CapFowner) {
		return unix.EPERM
	}
	if !creds.CanAccess(uint32(st.Mode), st.Uid, st.Gid, mask, ft == unix.S_IFDIR) {
		return unix.EACCES
	}
	return nil
}

// GetXattr returns the value of the attribute name of vd's file.
func (v *VFS) GetXattr(ctx Context, vd VirtualDentry, name string) ([]byte, error) {
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	st, err := vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return nil, err
	}
	if err := xattrPermission(ctx, st, name, auth.MayRead); err != nil {
		return nil, err
	}
	x, ok := vd.Dentry.inode.(XattrInode)
	if !ok {
		return nil, unix.EOPNOTSUPP
	}
	return x.GetXattr(ctx, name)
}

// SetXattr sets the attribute name of vd's file to value.
func (v *VFS) SetXattr(ctx Context, vd VirtualDentry, name string, value []byte, flags uint32) error {
	if flags&^(XattrCreate|XattrReplace) != 0 {
		return unix.EINVAL
	}
	if err := checkXattrName(name); err != nil {
		return err
	}
	if len(value) > XattrSizeMax {
		return unix.E2BIG
	}
	return v.changeXattr(ctx, vd, name, func(x XattrInode) error {
		return x.SetXattr(ctx, name, value, flags)
	})
}

// RemoveXattr removes the attribute name of vd's file.
func (v *VFS) RemoveXattr(ctx Context, vd VirtualDentry, name string) error {
	if err := checkXattrName(name); err != nil {
		return err
	}
	return v.changeXattr(ctx, vd, name, func(x XattrInode) error {
		return x.RemoveXattr(ctx, name)
	})
}

// changeXattr checks a write to attribute name of vd's file and runs fn.
func (v *VFS) changeXattr(ctx Context, vd VirtualDentry, name string, fn func(XattrInode) error) error {
	st, err := vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return err
	}
	if vd.Mount != nil && vd.Mount.ReadOnly {
		return unix.EROFS
	}
	if err := xattrPermission(ctx, st, name, auth.MayWrite); err != nil {
		return err
	}
	x, ok := vd.Dentry.inode.(XattrInode)
	if !ok {
		return unix.EOPNOTSUPP
	}
	if err := fn(x); err != nil {
		return err
	}
	notifyDentry(ctx, vd.Dentry, unix.IN_ATTRIB)
	return nil
}

// ListXattrs returns the names of vd's file's attributes that the caller
// may see (trusted.* only with CAP_SYS_ADMIN). A file system without
// attributes has none, as on Linux.
func (v *VFS) ListXattrs(ctx Context, vd VirtualDentry) ([]string, error) {
	x, ok := vd.Dentry.inode.(XattrInode)
	if !ok {
		return nil, nil
	}
	names, err := x.ListXattrs(ctx)
	if err != nil {
		return nil, err
	}
	if ctx.Credentials().HasCapability(auth.CapSysAdmin) {
		return names, nil
	}
	kept := names[:0]
	for _, n := range names {
		if !strings.HasPrefix(n, XattrTrustedPrefix) {
			kept = append(kept, n)
		}
	}
	return kept, nil
}

// XattrMap is a file's attributes kept in memory, for file systems that
// store them themselves (tmpfs). The zero value is empty. It is not safe
// for concurrent use: its owner serialises access.
type XattrMap struct {
	m map[string][]byte
}

// Get returns the value of name, or ENODATA.
func (x *XattrMap) Get(name string) ([]byte, error) {
	v, ok := x.m[name]
	if !ok {
		return nil, unix.ENODATA
	}
	return append([]byte{}, v...), nil
}

// Set sets name to value with setxattr's flags.
func (x *XattrMap) Set(name string, value []byte, flags uint32) error {
	_, ok := x.m[name]
	if ok && flags&XattrCreate != 0 {
		return unix.EEXIST
	}
	if !ok && flags&XattrReplace != 0 {
		return unix.ENODATA
	}
	if x.m == nil {
		x.m = make(map[string][]byte)
	}
	x.m[name] = append([]byte{}, value...)
	return nil
}

// Remove removes name, or returns ENODATA.
func (x *XattrMap) Remove(name string) error {
	if _, ok := x.m[name]; !ok {
		return unix.ENODATA
	}
	delete(x.m, name)
	return nil
}

// Names returns the attribute names in sorted order.
func (x *XattrMap) Names() []string {
	names := make([]string, 0, len(x.m))
	for n := range x.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Len returns the number of attributes.
func (x *XattrMap) Len() int { return len(x.m) }
