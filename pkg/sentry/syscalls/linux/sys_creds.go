package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
)

// Capabilities checked here.
const (
	capSetGID = auth.CapSetGID
	capSetUID = auth.CapSetUID
)

// noChange is the -1 that leaves an ID unchanged.
const noChange = ^uint32(0)

// setIDs applies a set*id change computed by fn, which returns EPERM when
// the caller may not make it.
func setIDs(t *kernel.Task, fn func(old *auth.Credentials, n *auth.Credentials) error) (uintptr, error) {
	old := t.Credentials()
	n := old.Copy()
	if err := fn(old, n); err != nil {
		return 0, err
	}
	n.FixCapabilities(old)
	t.SetCredentials(n)
	return 0, nil
}

func isOneOf(id uint32, ids ...uint32) bool {
	for _, v := range ids {
		if id == v {
			return true
		}
	}
	return false
}

// Setuid implements setuid(2).
func Setuid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	uid := argUint(a[0])
	if uid == noChange {
		return 0, unix.EINVAL
	}
	return setIDs(t, func(o, n *auth.Credentials) error {
		if o.HasCapability(capSetUID) {
			n.RealUID, n.EffectiveUID, n.SavedUID, n.FSUID = uid, uid, uid, uid
			return nil
		}
		if !isOneOf(uid, o.RealUID, o.SavedUID) {
			return unix.EPERM
		}
		n.EffectiveUID, n.FSUID = uid, uid
		return nil
	})
}

// Setgid implements setgid(2).
func Setgid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	gid := argUint(a[0])
	if gid == noChange {
		return 0, unix.EINVAL
	}
	return setIDs(t, func(o, n *auth.Credentials) error {
		if o.HasCapability(capSetGID) {
			n.RealGID, n.EffectiveGID, n.SavedGID, n.FSGID = gid, gid, gid, gid
			return nil
		}
		if !isOneOf(gid, o.RealGID, o.SavedGID) {
			return unix.EPERM
		}
		n.EffectiveGID, n.FSGID = gid, gid
		return nil
	})
}

// Setresuid implements setresuid(2).
func Setresuid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	r, e, s := argUint(a[0]), argUint(a[1]), argUint(a[2])
	return setIDs(t, func(o, n *auth.Credentials) error {
		priv := o.HasCapability(capSetUID)
		for _, id := range []uint32{r, e, s} {
			if id != noChange && !priv && !isOneOf(id, o.RealUID, o.EffectiveUID, o.SavedUID) {
				return unix.EPERM
			}
		}
		if r != noChange {
			n.RealUID = r
		}
		if e != noChange {
			n.EffectiveUID = e
		}
		if s != noChange {
			n.SavedUID = s
		}
		n.FSUID = n.EffectiveUID
		return nil
	})
}

// Setresgid implements setresgid(2).
func Setresgid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	r, e, s := argUint(a[0]), argUint(a[1]), argUint(a[2])
	return setIDs(t, func(o, n *auth.Credentials) error {
		priv := o.HasCapability(capSetGID)
		for _, id := range []uint32{r, e, s} {
			if id != noChange && !priv && !isOneOf(id, o.RealGID, o.EffectiveGID, o.SavedGID) {
				return unix.EPERM
			}
		}
		if r != noChange {
			n.RealGID = r
		}
		if e != noChange {
			n.EffectiveGID = e
		}
		if s != noChange {
			n.SavedGID = s
		}
		n.FSGID = n.EffectiveGID
		return nil
	})
}

// Setreuid implements setreuid(2).
func Setreuid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	r, e := argUint(a[0]), argUint(a[1])
	return setIDs(t, func(o, n *auth.Credentials) error {
		priv := o.HasCapability(capSetUID)
		if r != noChange && !priv && !isOneOf(r, o.RealUID, o.EffectiveUID) {
			return unix.EPERM
		}
		if e != noChange && !priv && !isOneOf(e, o.RealUID, o.EffectiveUID, o.SavedUID) {
			return unix.EPERM
		}
		if r != noChange {
			n.RealUID = r
		}
		if e != noChange {
			n.EffectiveUID = e
		}
		// The saved ID follows the effective one when the real ID is set or
		// the effective ID differs from the old real ID.
		if r != noChange || (e != noChange && e != o.RealUID) {
			n.SavedUID = n.EffectiveUID
		}
		n.FSUID = n.EffectiveUID
		return nil
	})
}

// Setregid implements setregid(2).
func Setregid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	r, e := argUint(a[0]), argUint(a[1])
	return setIDs(t, func(o, n *auth.Credentials) error {
		priv := o.HasCapability(capSetGID)
		if r != noChange && !priv && !isOneOf(r, o.RealGID, o.EffectiveGID) {
			return unix.EPERM
		}
		if e != noChange && !priv && !isOneOf(e, o.RealGID, o.EffectiveGID, o.SavedGID) {
			return unix.EPERM
		}
		if r != noChange {
			n.RealGID = r
		}
		if e != noChange {
			n.EffectiveGID = e
		}
		if r != noChange || (e != noChange && e != o.RealGID) {
			n.SavedGID = n.EffectiveGID
		}
		n.FSGID = n.EffectiveGID
		return nil
	})
}

// Setfsuid implements setfsuid(2): it returns the old fsuid and never fails.
func Setfsuid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	uid := argUint(a[0])
	old := t.Credentials()
	if uid != noChange && (old.HasCapability(capSetUID) || isOneOf(uid, old.RealUID, old.EffectiveUID, old.SavedUID, old.FSUID)) {
		setIDs(t, func(o, n *auth.Credentials) error { n.FSUID = uid; return nil })
	}
	return uintptr(old.FSUID), nil
}

// Setfsgid implements setfsgid(2).
func Setfsgid(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	gid := argUint(a[0])
	old := t.Credentials()
	if gid != noChange && (old.HasCapability(capSetGID) || isOneOf(gid, old.RealGID, old.EffectiveGID, old.SavedGID, old.FSGID)) {
		setIDs(t, func(o, n *auth.Credentials) error { n.FSGID = gid; return nil })
	}
	return uintptr(old.FSGID), nil
}

// ngroupsMax is NGROUPS_MAX.
const ngroupsMax = 65536

// Setgroups implements setgroups(2).
func Setgroups(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	size := argInt(a[0])
	if size < 0 || size > ngroupsMax {
		return 0, unix.EINVAL
	}
	if !t.Credentials().HasCapability(capSetGID) {
		return 0, unix.EPERM
	}
	groups := make([]uint32, size)
	for i := range groups {
		if err := copyInObj(t, a[1]+uintptr(4*i), &groups[i]); err != nil {
			return 0, err
		}
	}
	return setIDs(t, func(o, n *auth.Credentials) error { n.ExtraGIDs = groups; return nil })
}

// capUserHeader and capUserData are capget(2)'s structures.
type capUserHeader struct {
	Version uint32
	PID     int32
}

type capUserData struct {
	Effective, Permitted, Inheritable uint32
}

// Capability ABI versions.
const (
	capV1 = 0x19980330
	capV2 = 0x20071026
	capV3 = 0x20080522
)

// capHeader reads a capget/capset header and returns it with the number
// of capUserData words its version uses. An unknown version is EINVAL, and
// the preferred version is written back to the header, as Linux does.
func capHeader(t *kernel.Task, addr uintptr) (capUserHeader, int, error) {
	var h capUserHeader
	if err := copyInObj(t, addr, &h); err != nil {
		return h, 0, err
	}
	switch h.Version {
	case capV1:
		return h, 1, nil
	case capV2, capV3:
		return h, 2, nil
	}
	h.Version = capV3
	if err := copyOutObj(t, addr, &h.Version); err != nil {
		return h, 0, err
	}
	return h, 0, unix.EINVAL
}

// Capget implements capget(2): the effective, permitted and inheritable
// sets of the thread the header's pid names (0: the caller).
func Capget(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	h, words, err := capHeader(t, a[0])
	if a[1] == 0 {
		// A version probe: a null data pointer is not an error.
		if err == unix.EINVAL {
			return 0, nil
		}
		return 0, err
	}
	if err != nil {
		return 0, err
	}
	if h.PID < 0 {
		return 0, unix.EINVAL
	}
	target := t
	if h.PID != 0 && h.PID != t.TID() {
		if target = t.Kernel().TaskByTID(h.PID); target == nil {
			return 0, unix.ESRCH
		}
	}
	c := target.Credentials()
	for i := 0; i < words; i++ {
		d := capUserData{uint32(c.Effective >> (32 * i)), uint32(c.Permitted >> (32 * i)), uint32(c.Inheritable >> (32 * i))}
		if err := copyOutObj(t, a[1]+uintptr(12*i), &d); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Capset implements capset(2) for the calling thread, with the rules of
// auth.Credentials.SetCapabilities. A v1 header sets only the low 32
// capabilities and clears the others.
func Capset(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	h, words, err := capHeader(t, a[0])
	if err != nil {
		return 0, err
	}
	if h.PID != 0 && h.PID != t.TID() {
		return 0, unix.EPERM
	}
	var eff, perm, inh uint64
	for i := 0; i < words; i++ {
		var d capUserData
		if err := copyInObj(t, a[1]+uintptr(12*i), &d); err != nil {
			return 0, err
		}
		eff |= uint64(d.Effective) << (32 * i)
		perm |= uint64(d.Permitted) << (32 * i)
		inh |= uint64(d.Inheritable) << (32 * i)
	}
	n, err := t.Credentials().SetCapabilities(eff, perm, inh)
	if err != nil {
		return 0, err
	}
	t.SetCredentials(n)
	return 0, nil
}
