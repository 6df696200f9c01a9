// Package auth holds the credentials of application tasks: user and group
// IDs, supplementary groups and capabilities, and the permission checks that
// use them.
package auth

// Credentials are a task's identity. A Credentials value is immutable once
// shared: changing a task's identity replaces its *Credentials.
type Credentials struct {
	RealUID, EffectiveUID, SavedUID, FSUID uint32
	RealGID, EffectiveGID, SavedGID, FSGID uint32
	ExtraGIDs                              []uint32
	// Effective, Permitted, Inheritable, Bounding and Ambient are the
	// capability sets, as bit masks of CAP_*.
	Effective, Permitted, Inheritable, Bounding, Ambient uint64
	// KeepCapabilities is PR_SET_KEEPCAPS (SECBIT_KEEP_CAPS): a change
	// of every user ID away from 0 keeps the permitted set. execve
	// clears it.
	KeepCapabilities bool
}

// Capability numbers used by permission checks.
const (
	CapChown          = 0
	CapDACOverride    = 1
	CapDACReadSearch  = 2
	CapFowner         = 3
	capFSetID         = 4
	capLinuxImmutable = 9
	CapSysAdmin       = 21
	capMknod          = 27
	capMACOverride    = 32
	allCapabilities   = (uint64(1) << 41) - 1
	rootUID, rootGID  = 0, 0
	accessRead        = 4
	accessWrite       = 2
	accessExecute     = 1
	modeExecuteAnyone = 0o111
)

// NewUser returns credentials for uid/gid with the given supplementary
// groups. uid 0 gets every capability, as root does in Linux.
func NewUser(uid, gid uint32, groups []uint32) *Credentials {
	c := &Credentials{
		RealUID: uid, EffectiveUID: uid, SavedUID: uid, FSUID: uid,
		RealGID: gid, EffectiveGID: gid, SavedGID: gid, FSGID: gid,
		ExtraGIDs: append([]uint32(nil), groups...),
	}
	c.Bounding = AllCapabilities
	if uid == rootUID {
		c.Effective, c.Permitted = AllCapabilities, AllCapabilities
	}
	return c
}

// AllCapabilities is every capability Linux defines (0..CAP_LAST_CAP).
const AllCapabilities = allCapabilities

// Copy returns a mutable copy of c.
func (c *Credentials) Copy() *Credentials {
	n := *c
	n.ExtraGIDs = append([]uint32(nil), c.ExtraGIDs...)
	return &n
}

// FixCapabilities applies Linux's capability rules for a change of user
// IDs from old to c (capabilities(7), "Effect of user ID changes on
// capabilities"): when no ID is 0 any more the ambient set is cleared, and
// the permitted and effective sets too unless KeepCapabilities is set.
func (c *Credentials) FixCapabilities(old *Credentials) {
	wasRoot := old.RealUID == 0 || old.EffectiveUID == 0 || old.SavedUID == 0
	isRoot := c.RealUID == 0 || c.EffectiveUID == 0 || c.SavedUID == 0
	if wasRoot && !isRoot {
		if !c.KeepCapabilities {
			c.Permitted, c.Effective = 0, 0
		}
		c.Ambient = 0
	}
	if old.EffectiveUID == 0 && c.EffectiveUID != 0 {
		c.Effective = 0
	}
	if old.EffectiveUID != 0 && c.EffectiveUID == 0 {
		c.Effective = c.Permitted
	}
	const fsMask = 1<<CapChown | 1<<CapDACOverride | 1<<CapDACReadSearch | 1<<CapFowner |
		1<<capFSetID | 1<<capLinuxImmutable | 1<<capMknod | 1<<capMACOverride
	if old.FSUID == 0 && c.FSUID != 0 {
		c.Effective &^= fsMask
	}
	if old.FSUID != 0 && c.FSUID == 0 {
		c.Effective |= c.Permitted & fsMask
	}
}

// HasCapability reports whether c has capability cp in its effective set.
func (c *Credentials) HasCapability(cp int) bool {
	return c.Effective&(1<<uint(cp)) != 0
}

// InGroup reports whether gid is c's filesystem group or one of its
// supplementary groups.
func (c *Credentials) InGroup(gid uint32) bool {
	if c.FSGID == gid {
		return true
	}
	for _, g := range c.ExtraGIDs {
		if g == gid {
			return true
		}
	}
	return false
}

// Access bits for CanAccess, as in access(2).
const (
	MayRead    = accessRead
	MayWrite   = accessWrite
	MayExecute = accessExecute
)

// CanAccess reports whether c may access a file with the given mode (permission
// bits), owner and group in the ways ats (MayRead|MayWrite|MayExecute) asks,
// following Linux's generic_permission: owner, then group, then other bits,
// with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH as overrides.
func (c *Credentials) CanAccess(mode uint32, uid, gid uint32, ats uint32, isDir bool) bool {
	perms := mode & 0o7
	if c.FSUID == uid {
		perms = (mode >> 6) & 0o7
	} else if c.InGroup(gid) {
		perms = (mode >> 3) & 0o7
	}
	if perms&ats == ats {
		return true
	}
	if c.HasCapability(CapDACOverride) {
		// Execute on a regular file needs at least one execute bit.
		if ats&MayExecute == 0 || isDir || mode&modeExecuteAnyone != 0 {
			return true
		}
	}
	if c.HasCapability(CapDACReadSearch) && ats&MayWrite == 0 {
		if ats == MayRead || isDir {
			return true
		}
	}
	return false
}
