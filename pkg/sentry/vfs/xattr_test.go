package vfs

import (
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/vfs/vfstest"
)

func TestXattrPermission(t *testing.T) {
	owner := vfstest.User(1000, 1000)
	other := vfstest.User(2000, 2000)
	admin := vfstest.Context{Creds: auth.NewUser(0, 0, nil)}
	file := unix.Statx_t{Mode: unix.S_IFREG | 0o644, Uid: 1000, Gid: 1000}
	sticky := unix.Statx_t{Mode: unix.S_IFDIR | 0o1777, Uid: 1000, Gid: 1000}
	link := unix.Statx_t{Mode: unix.S_IFLNK | 0o777, Uid: 1000, Gid: 1000}
	fifo := unix.Statx_t{Mode: unix.S_IFIFO | 0o666, Uid: 1000, Gid: 1000}
	for _, tc := range []struct {
		what string
		ctx  vfstest.Context
		st   unix.Statx_t
		name string
		mask uint32
		want error
	}{
		{"owner reads user.*", owner, file, "user.a", auth.MayRead, nil},
		{"owner writes user.*", owner, file, "user.a", auth.MayWrite, nil},
		{"others read user.*", other, file, "user.a", auth.MayRead, nil},
		{"others cannot write user.*", other, file, "user.a", auth.MayWrite, unix.EACCES},
		{"user.* on a symlink reads as absent", owner, link, "user.a", auth.MayRead, unix.ENODATA},
		{"user.* on a symlink cannot be written", owner, link, "user.a", auth.MayWrite, unix.EPERM},
		{"user.* on a FIFO cannot be written", owner, fifo, "user.a", auth.MayWrite, unix.EPERM},
		{"user.* of a sticky directory: its owner", owner, sticky, "user.a", auth.MayWrite, nil},
		{"user.* of a sticky directory: others", other, sticky, "user.a", auth.MayWrite, unix.EPERM},
		{"trusted.* needs CAP_SYS_ADMIN to read", owner, file, "trusted.a", auth.MayRead, unix.ENODATA},
		{"trusted.* needs CAP_SYS_ADMIN to write", owner, file, "trusted.a", auth.MayWrite, unix.EPERM},
		{"trusted.* with CAP_SYS_ADMIN", admin, file, "trusted.a", auth.MayWrite, nil},
		{"security.* is readable", other, file, "security.selinux", auth.MayRead, nil},
		{"security.* writes need CAP_SYS_ADMIN", owner, file, "security.a", auth.MayWrite, unix.EPERM},
		{"security.* with CAP_SYS_ADMIN", admin, link, "security.a", auth.MayWrite, nil},
		{"system.* (no ACLs)", admin, file, "system.posix_acl_access", auth.MayRead, unix.EOPNOTSUPP},
	} {
		if got := xattrPermission(tc.ctx, tc.st, tc.name, tc.mask); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, got, tc.want)
		}
	}
}

func TestXattrNames(t *testing.T) {
	long := "user."
	for len(long) < XattrNameMax+1 {
		long += "n"
	}
	for _, tc := range []struct {
		name string
		want error
	}{
		{"user.a", nil},
		{"trusted.overlay.opaque", nil},
		{"", unix.ERANGE},
		{long, unix.ERANGE},
		{long[:XattrNameMax], nil},
		{"user.", unix.EINVAL},
		{"nonamespace", unix.EOPNOTSUPP},
		{"User.a", unix.EOPNOTSUPP},
	} {
		if got := checkXattrName(tc.name); got != tc.want {
			t.Errorf("checkXattrName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestXattrMap(t *testing.T) {
	var m XattrMap
	if err := m.Set("user.a", []byte("1"), XattrReplace); err != unix.ENODATA {
		t.Errorf("replace of a missing attribute: %v", err)
	}
	if err := m.Set("user.a", []byte("1"), XattrCreate); err != nil {
		t.Fatal(err)
	}
	if err := m.Set("user.a", []byte("2"), XattrCreate); err != unix.EEXIST {
		t.Errorf("create over an attribute: %v", err)
	}
	v, _ := m.Get("user.a")
	v[0] = 'x' // a copy: the stored value does not change
	if v2, err := m.Get("user.a"); err != nil || string(v2) != "1" {
		t.Errorf("Get after changing a returned value: %q, %v", v2, err)
	}
	if err := m.Set("user.b", nil, 0); err != nil {
		t.Fatal(err)
	}
	if v, err := m.Get("user.b"); err != nil || v == nil || len(v) != 0 {
		t.Errorf("an empty value: %v, %v", v, err)
	}
	if names := m.Names(); len(names) != 2 || names[0] != "user.a" || names[1] != "user.b" {
		t.Errorf("Names = %v", names)
	}
	if err := m.Remove("user.a"); err != nil || m.Remove("user.a") != unix.ENODATA || m.Len() != 1 {
		t.Errorf("Remove: %v, len %d", err, m.Len())
	}
}
