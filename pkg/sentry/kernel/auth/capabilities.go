package auth

import "golang.org/x/sys/unix"

// The capability rules of capabilities(7): what capset(2), the ambient and
// bounding set operations of prctl(2) and execve(2) do to the five sets. File
// capabilities (security.capability) are not supported: every program is
// treated as a file without them. Set-user-ID and set-group-ID bits are not
// applied by execve yet, so an exec never changes a user or group ID except
// when no_new_privs resets the effective IDs to the real ones.
//
// Each function returns new credentials or an errno; it never changes c,
// which may be shared.

// More capability numbers the rules below use.
const (
	CapKill        = 5
	CapSetGID      = 6
	CapSetUID      = 7
	CapSetPCap     = 8
	CapSysResource = 24
	// CapLastCap is CAP_LAST_CAP: the highest capability number.
	CapLastCap = 40
)

// ValidCapability reports whether cp names a capability (cap_valid).
func ValidCapability(cp uint64) bool { return cp <= CapLastCap }

// SetCapabilities returns c with the effective, permitted and inheritable
// sets given to capset(2). Bits above CapLastCap are dropped, as Linux
// masks them. It fails with EPERM when the change gains a permitted
// capability, makes the effective set exceed the permitted one, or adds an
// inheritable capability that is neither inheritable nor permitted (without
// CAP_SETPCAP) nor in the bounding set. Ambient capabilities no longer both
// permitted and inheritable are dropped.
func (c *Credentials) SetCapabilities(effective, permitted, inheritable uint64) (*Credentials, error) {
	effective &= AllCapabilities
	permitted &= AllCapabilities
	inheritable &= AllCapabilities
	if !c.HasCapability(CapSetPCap) && inheritable&^(c.Inheritable|c.Permitted) != 0 {
		return nil, unix.EPERM
	}
	if inheritable&^(c.Inheritable|c.Bounding) != 0 {
		return nil, unix.EPERM
	}
	if permitted&^c.Permitted != 0 || effective&^permitted != 0 {
		return nil, unix.EPERM
	}
	n := c.Copy()
	n.Effective, n.Permitted, n.Inheritable = effective, permitted, inheritable
	n.Ambient &= permitted & inheritable
	return n, nil
}

// DropBounding returns c without capability cp in its bounding set
// (PR_CAPBSET_DROP): EPERM without CAP_SETPCAP, then EINVAL for an unknown
// capability, in Linux's order. The other sets keep cp.
func (c *Credentials) DropBounding(cp uint64) (*Credentials, error) {
	if !c.HasCapability(CapSetPCap) {
		return nil, unix.EPERM
	}
	if !ValidCapability(cp) {
		return nil, unix.EINVAL
	}
	n := c.Copy()
	n.Bounding &^= 1 << cp
	return n, nil
}

// RaiseAmbient returns c with cp added to its ambient set
// (PR_CAP_AMBIENT_RAISE); cp must be permitted and inheritable, else
// EPERM. cp must be valid.
func (c *Credentials) RaiseAmbient(cp uint64) (*Credentials, error) {
	bit := uint64(1) << cp
	if c.Permitted&bit == 0 || c.Inheritable&bit == 0 {
		return nil, unix.EPERM
	}
	n := c.Copy()
	n.Ambient |= bit
	return n, nil
}

// WithAmbient returns c with its ambient set replaced by ambient, which
// must be a subset of the current one (PR_CAP_AMBIENT_LOWER and
// PR_CAP_AMBIENT_CLEAR_ALL).
func (c *Credentials) WithAmbient(ambient uint64) *Credentials {
	n := c.Copy()
	n.Ambient = ambient & c.Ambient
	return n
}

// WithKeepCapabilities returns c with PR_SET_KEEPCAPS set to keep.
func (c *Credentials) WithKeepCapabilities(keep bool) *Credentials {
	n := c.Copy()
	n.KeepCapabilities = keep
	return n
}

// Exec returns the credentials of a task with credentials c after it
// executes a program without file capabilities or set-ID bits (the
// "Transformation of capabilities during execve()" of capabilities(7)):
//
//	P'(permitted)   = P(bounding) | P(inheritable) for root (real or effective UID 0), | P'(ambient)
//	P'(effective)   = P'(permitted) if the effective UID is 0, else P'(ambient)
//	P'(ambient), P'(inheritable), P'(bounding) unchanged
//
// Such an exec changes no effective ID, so the ambient set survives (Linux
// clears it, since 6.x, only when the exec changes the effective IDs; older
// kernels compared the new effective IDs with the old real ones).
//
// With noNewPrivs an exec that would gain a permitted capability is
// downgraded: the effective IDs become the real ones and the permitted set
// keeps only what was permitted before. The saved and filesystem IDs
// become the effective ones, and PR_SET_KEEPCAPS is cleared.
func (c *Credentials) Exec(noNewPrivs bool) *Credentials {
	n := c.Copy()
	n.Permitted = 0
	if c.RealUID == rootUID || c.EffectiveUID == rootUID {
		n.Permitted = c.Bounding | c.Inheritable
	}
	if noNewPrivs && n.Permitted&^c.Permitted != 0 {
		n.EffectiveUID, n.EffectiveGID = c.RealUID, c.RealGID
		n.Permitted &= c.Permitted
	}
	n.SavedUID, n.FSUID = n.EffectiveUID, n.EffectiveUID
	n.SavedGID, n.FSGID = n.EffectiveGID, n.EffectiveGID
	n.Permitted |= n.Ambient
	// Whether the effective set is the permitted one depends on the
	// effective UID before any downgrade, as in Linux.
	if c.EffectiveUID == rootUID {
		n.Effective = n.Permitted
	} else {
		n.Effective = n.Ambient
	}
	n.KeepCapabilities = false
	return n
}
