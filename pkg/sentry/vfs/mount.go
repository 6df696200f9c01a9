package vfs

// Changes to the mount tree after boot, for mount(2) and umount2(2): bind
// mounts (recursive or not), read-only remounts, and unmounts (lazy with
// MNT_DETACH). Mount propagation (shared, slave) is not modelled: every
// mount is private, which is what a sandbox with one mount namespace and
// no peers sees anyway.
//
// Lock order: VFS.mountMu is taken alone here (see vfs.go).

import (
	"strings"

	"golang.org/x/sys/unix"
)

// IsRoot reports whether vd is the root of its mount.
func (vd VirtualDentry) IsRoot() bool { return vd.Dentry == vd.Mount.root }

// TopMount returns the mount on top of the stack mounted at vd, or vd.
func (v *VFS) TopMount(vd VirtualDentry) VirtualDentry { return v.mountedOn(vd) }

// BindMount mounts the tree at src over the directory at, as mount(2)
// with MS_BIND; with recursive (MS_REC) the mounts below src are copied
// too, at the same places.
func (v *VFS) BindMount(src, at VirtualDentry, recursive bool) (*Mount, error) {
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if src.Mount.detached() || at.Mount.detached() {
		return nil, unix.EINVAL
	}
	// The mounts to copy are those that exist before the new one: m may
	// sit inside src's subtree, and must not be copied onto itself.
	before := append([]*Mount(nil), v.allMnts...)
	m := v.bindLocked(src, at, src.Mount.ReadOnly)
	if recursive {
		v.copySubmountsLocked(src, m, before)
	}
	return m, nil
}

// detached reports whether m has been unmounted. Called with mountMu.
func (m *Mount) detached() bool { return m.point == nil && m.parent != nil }

// bindLocked makes a mount of src's file system rooted at src.Dentry on
// at (on top of whatever is mounted there). Called with mountMu.
func (v *VFS) bindLocked(src, at VirtualDentry, readOnly bool) *Mount {
	for {
		top, ok := v.mounts[at]
		if !ok {
			break
		}
		at = VirtualDentry{Mount: top, Dentry: top.root}
	}
	m := &Mount{ID: v.nextID, fs: src.Mount.fs, root: src.Dentry, parent: at.Mount, point: at.Dentry,
		ReadOnly: readOnly, Flags: src.Mount.Flags, Source: src.Mount.Source, Options: src.Mount.Options}
	v.nextID++
	v.mounts[at] = m
	v.allMnts = append(v.allMnts, m)
	return m
}

// copySubmountsLocked copies the mounts below src (a position in
// src.Mount) onto the new mount dst, recursively, for MS_REC. Only mounts
// in existing (the tree before dst was made) are copied, so the copy ends
// even when dst is inside src's subtree. Called with mountMu.
func (v *VFS) copySubmountsLocked(src VirtualDentry, dst *Mount, existing []*Mount) {
	type pair struct{ from, to *Mount }
	work := []pair{{src.Mount, dst}}
	for len(work) > 0 {
		p := work[0]
		work = work[1:]
		for _, c := range existing {
			if c.parent != p.from || c.point == nil {
				continue
			}
			// Only mounts inside the bound subtree come along.
			if p.from == src.Mount && !isAncestor(src.Dentry, c.point) {
				continue
			}
			n := v.bindLocked(VirtualDentry{Mount: c, Dentry: c.root}, VirtualDentry{Mount: p.to, Dentry: c.point}, c.ReadOnly)
			n.Source = c.Source
			work = append(work, pair{c, n})
		}
	}
}

// SetReadOnly changes whether m is read-only (MS_REMOUNT).
func (v *VFS) SetReadOnly(m *Mount, ro bool) {
	v.mountMu.Lock()
	m.ReadOnly = ro
	v.mountMu.Unlock()
}

// Umount removes m from the tree, as umount2(2). Without detach, a mount
// with mounts below it or open files on it is busy (EBUSY); with detach
// (MNT_DETACH) it goes at once with everything mounted below it, and files
// open on it stay usable. The root mount cannot go (EBUSY).
func (v *VFS) Umount(m *Mount, detach bool) error {
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if m == v.rootMnt || m.parent == nil {
		return unix.EINVAL
	}
	if m.detached() {
		return unix.EINVAL
	}
	var subtree []*Mount
	v.collectLocked(m, &subtree)
	if !detach {
		if len(subtree) > 1 || m.openFiles.Load() > 0 {
			return unix.EBUSY
		}
	}
	gone := make(map[*Mount]bool, len(subtree))
	for _, s := range subtree {
		gone[s] = true
		at := VirtualDentry{Mount: s.parent, Dentry: s.point}
		if v.mounts[at] == s {
			delete(v.mounts, at)
		}
	}
	// A mount stacked on m now covers what m covered.
	for at, s := range v.mounts {
		if at.Mount == m && at.Dentry == m.root && !gone[s] {
			delete(v.mounts, at)
			s.parent, s.point = m.parent, m.point
			v.mounts[VirtualDentry{Mount: m.parent, Dentry: m.point}] = s
		}
	}
	kept := v.allMnts[:0]
	for _, s := range v.allMnts {
		if !gone[s] {
			kept = append(kept, s)
		}
	}
	for i := len(kept); i < len(v.allMnts); i++ {
		v.allMnts[i] = nil
	}
	v.allMnts = kept
	for _, s := range subtree {
		s.point = nil
	}
	return nil
}

// collectLocked appends m and every mount below it. Called with mountMu.
func (v *VFS) collectLocked(m *Mount, out *[]*Mount) {
	*out = append(*out, m)
	for _, c := range v.allMnts {
		if c.parent == m && c.point != nil {
			v.collectLocked(c, out)
		}
	}
}

// RootPath returns the path of the mount's root within its file system
// ("/" unless it is a bind mount of a subdirectory, or the instance is a
// subtree of another file system: FilesystemInstance.Subtree), as
// mountinfo's fourth field shows it.
func (m *Mount) RootPath() string {
	treeMu.RLock()
	var parts []string
	for d := m.root; d != nil && d != m.fs.root; d = d.parent {
		parts = append(parts, d.name)
	}
	treeMu.RUnlock()
	s := strings.TrimSuffix(m.fs.Subtree, "/")
	for i := len(parts) - 1; i >= 0; i-- {
		s += "/" + parts[i]
	}
	if s == "" {
		return "/"
	}
	return s
}
