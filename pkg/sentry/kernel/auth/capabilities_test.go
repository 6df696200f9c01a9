package auth

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	capNetRaw   = 13
	capSysAdmin = CapSysAdmin
)

func bits(cs ...uint) uint64 {
	var m uint64
	for _, c := range cs {
		m |= 1 << c
	}
	return m
}

// user returns uid/gid's credentials with the given sets.
func user(uid uint32, eff, perm, inh, bnd, amb uint64) *Credentials {
	c := NewUser(uid, uid, nil)
	c.Effective, c.Permitted, c.Inheritable, c.Bounding, c.Ambient = eff, perm, inh, bnd, amb
	return c
}

func TestSetCapabilities(t *testing.T) {
	all := AllCapabilities
	for _, tc := range []struct {
		name           string
		c              *Credentials
		eff, perm, inh uint64
		want           *Credentials // nil: EPERM
	}{
		{name: "drop permitted and effective", c: user(0, all, all, 0, all, 0),
			eff: bits(CapKill), perm: bits(CapKill, capNetRaw),
			want: user(0, bits(CapKill), bits(CapKill, capNetRaw), 0, all, 0)},
		{name: "gain permitted", c: user(0, 0, bits(CapKill), 0, all, 0), perm: bits(CapKill, capNetRaw)},
		{name: "effective outside permitted", c: user(0, 0, bits(CapKill), 0, all, 0),
			eff: bits(capNetRaw), perm: bits(CapKill)},
		{name: "inheritable from permitted without CAP_SETPCAP", c: user(1, 0, bits(capNetRaw), 0, all, 0),
			perm: bits(capNetRaw), inh: bits(capNetRaw), want: user(1, 0, bits(capNetRaw), bits(capNetRaw), all, 0)},
		{name: "inheritable from nowhere without CAP_SETPCAP", c: user(1, 0, bits(capNetRaw), 0, all, 0),
			perm: bits(capNetRaw), inh: bits(capSysAdmin)},
		{name: "inheritable from bounding with CAP_SETPCAP", c: user(0, bits(CapSetPCap), bits(CapSetPCap), 0, all, 0),
			eff: bits(CapSetPCap), perm: bits(CapSetPCap), inh: bits(capSysAdmin),
			want: user(0, bits(CapSetPCap), bits(CapSetPCap), bits(capSysAdmin), all, 0)},
		{name: "inheritable outside bounding even with CAP_SETPCAP",
			c:   user(0, bits(CapSetPCap), bits(CapSetPCap, capSysAdmin), 0, bits(CapSetPCap), 0),
			eff: bits(CapSetPCap), perm: bits(CapSetPCap, capSysAdmin), inh: bits(capSysAdmin)},
		{name: "ambient follows permitted and inheritable",
			c:    user(1, 0, bits(capNetRaw, CapKill), bits(capNetRaw, CapKill), all, bits(capNetRaw, CapKill)),
			perm: bits(capNetRaw, CapKill), inh: bits(capNetRaw),
			want: user(1, 0, bits(capNetRaw, CapKill), bits(capNetRaw), all, bits(capNetRaw))},
		{name: "bits above CAP_LAST_CAP are ignored", c: user(0, all, all, 0, all, 0),
			eff: ^uint64(0), perm: ^uint64(0), want: user(0, all, all, 0, all, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.SetCapabilities(tc.eff, tc.perm, tc.inh)
			if tc.want == nil {
				if !errors.Is(err, unix.EPERM) {
					t.Fatalf("SetCapabilities = %+v, %v; want EPERM", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetCapabilities: %v", err)
			}
			if !sameCaps(got, tc.want) {
				t.Errorf("got %s, want %s", capString(got), capString(tc.want))
			}
		})
	}
}

func TestBoundingAndAmbient(t *testing.T) {
	root := user(0, AllCapabilities, AllCapabilities, bits(capNetRaw), AllCapabilities, 0)
	if _, err := user(1, 0, 0, 0, AllCapabilities, 0).DropBounding(99); !errors.Is(err, unix.EPERM) {
		t.Errorf("DropBounding without CAP_SETPCAP: %v, want EPERM first", err)
	}
	if _, err := root.DropBounding(CapLastCap + 1); !errors.Is(err, unix.EINVAL) {
		t.Errorf("DropBounding of an unknown capability: %v, want EINVAL", err)
	}
	n, err := root.DropBounding(capSysAdmin)
	if err != nil || n.Bounding != AllCapabilities&^bits(capSysAdmin) || n.Permitted != AllCapabilities {
		t.Errorf("DropBounding: %v, %v", capString(n), err)
	}
	if _, err := root.RaiseAmbient(CapKill); !errors.Is(err, unix.EPERM) {
		t.Errorf("RaiseAmbient of a capability not inheritable: %v, want EPERM", err)
	}
	n, err = root.RaiseAmbient(capNetRaw)
	if err != nil || n.Ambient != bits(capNetRaw) {
		t.Fatalf("RaiseAmbient: %v, %v", capString(n), err)
	}
	if n.WithAmbient(0).Ambient != 0 || n.WithAmbient(AllCapabilities).Ambient != bits(capNetRaw) {
		t.Errorf("WithAmbient may only lower the set")
	}
}

func TestExec(t *testing.T) {
	all := AllCapabilities
	setid := func(c *Credentials, euid uint32) *Credentials {
		c.EffectiveUID, c.SavedUID, c.FSUID = euid, euid, euid
		return c
	}
	for _, tc := range []struct {
		name string
		c    *Credentials
		nnp  bool
		want *Credentials
	}{
		{name: "root gets its bounding set", c: user(0, bits(CapKill), bits(CapKill), 0, bits(CapKill, capNetRaw), 0),
			want: user(0, bits(CapKill, capNetRaw), bits(CapKill, capNetRaw), 0, bits(CapKill, capNetRaw), 0)},
		{name: "root's inheritable set is added", c: user(0, 0, 0, bits(capSysAdmin), bits(CapKill), 0),
			want: user(0, bits(CapKill, capSysAdmin), bits(CapKill, capSysAdmin), bits(capSysAdmin), bits(CapKill), 0)},
		{name: "root with no_new_privs keeps only what it had",
			c: user(0, bits(CapKill), bits(CapKill), 0, all, 0), nnp: true,
			want: user(0, bits(CapKill), bits(CapKill), 0, all, 0)},
		{name: "a user loses everything", c: user(1000, bits(CapKill), bits(CapKill), bits(CapKill), all, 0),
			want: user(1000, 0, 0, bits(CapKill), all, 0)},
		{name: "a user keeps its ambient set", c: user(1000, 0, bits(capNetRaw, CapKill), bits(capNetRaw, CapKill), all, bits(capNetRaw)),
			want: user(1000, bits(capNetRaw), bits(capNetRaw), bits(capNetRaw, CapKill), all, bits(capNetRaw))},
		{name: "real root only: permitted but only ambient effective",
			c:    setid(user(0, 0, bits(capNetRaw), bits(capNetRaw), bits(CapKill), bits(capNetRaw)), 1000),
			want: setid(user(0, bits(capNetRaw), bits(CapKill, capNetRaw), bits(capNetRaw), bits(CapKill), bits(capNetRaw)), 1000)},
		{name: "no_new_privs resets the effective UID of a gain but keeps the permitted set",
			c: setid(user(1000, 0, bits(capNetRaw), 0, all, 0), 0), nnp: true,
			want: user(1000, bits(capNetRaw), bits(capNetRaw), 0, all, 0)},
		{name: "no_new_privs without a gain keeps the effective UID",
			c: setid(user(1000, 0, all, 0, all, 0), 0), nnp: true,
			want: setid(user(1000, all, all, 0, all, 0), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.KeepCapabilities = true
			got := tc.c.Exec(tc.nnp)
			if !sameCaps(got, tc.want) || got.KeepCapabilities {
				t.Errorf("got %s, want %s", capString(got), capString(tc.want))
			}
			if got.EffectiveUID != tc.want.EffectiveUID || got.SavedUID != got.EffectiveUID || got.FSUID != got.EffectiveUID {
				t.Errorf("UIDs %d/%d/%d/%d, want effective %d", got.RealUID, got.EffectiveUID, got.SavedUID, got.FSUID, tc.want.EffectiveUID)
			}
		})
	}
}

func TestFixCapabilitiesKeepCaps(t *testing.T) {
	for _, keep := range []bool{false, true} {
		old := user(0, AllCapabilities, AllCapabilities, bits(capNetRaw), AllCapabilities, bits(capNetRaw))
		old.KeepCapabilities = keep
		n := old.Copy()
		n.RealUID, n.EffectiveUID, n.SavedUID, n.FSUID = 1000, 1000, 1000, 1000
		n.FixCapabilities(old)
		wantPerm := uint64(0)
		if keep {
			wantPerm = AllCapabilities
		}
		if n.Permitted != wantPerm || n.Effective != 0 || n.Ambient != 0 {
			t.Errorf("keepcaps %v: %s, want permitted %#x and no effective or ambient", keep, capString(n), wantPerm)
		}
	}
}

func sameCaps(a, b *Credentials) bool {
	return a.Effective == b.Effective && a.Permitted == b.Permitted && a.Inheritable == b.Inheritable &&
		a.Bounding == b.Bounding && a.Ambient == b.Ambient
}

func capString(c *Credentials) string {
	if c == nil {
		return "<nil>"
	}
	return fmt.Sprintf("eff=%#x perm=%#x inh=%#x bnd=%#x amb=%#x", c.Effective, c.Permitted, c.Inheritable, c.Bounding, c.Ambient)
}
