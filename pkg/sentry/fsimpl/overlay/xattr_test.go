package overlay

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

func (tr tree) vd(t *testing.T, p string) vfs.VirtualDentry {
	t.Helper()
	vd, err := tr.v.GetDentry(ctx, tr.r(p))
	if err != nil {
		t.Fatalf("lookup %s: %v", p, err)
	}
	return vd
}

func TestXattrsCopyUpAndPrivateNames(t *testing.T) {
	lower, ov := setup(t)
	if err := lower.v.SetXattr(ctx, lower.vd(t, "/etc/hosts"), "user.lower", []byte("L"), 0); err != nil {
		t.Fatal(err)
	}
	if err := lower.v.SetXattr(ctx, lower.vd(t, "/etc/hosts"), "trusted.overlay.redirect", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	hosts := ov.vd(t, "/etc/hosts")
	if v, err := ov.v.GetXattr(ctx, hosts, "user.lower"); err != nil || string(v) != "L" {
		t.Errorf("lower attribute through the overlay: %q, %v", v, err)
	}
	// A change copies the file up with its attributes, leaving the lower
	// file as it was.
	if err := ov.v.SetXattr(ctx, hosts, "user.upper", []byte("U"), vfs.XattrCreate); err != nil {
		t.Fatal(err)
	}
	names, err := ov.v.ListXattrs(ctx, hosts)
	if want := []string{"user.lower", "user.upper"}; err != nil || !slices.Equal(names, want) {
		t.Errorf("after copy-up: %v, %v; want %v", names, err, want)
	}
	if got, _ := ov.read("/etc/hosts"); got != "127.0.0.1" {
		t.Errorf("copy-up lost the data: %q", got)
	}
	if _, err := lower.v.GetXattr(ctx, lower.vd(t, "/etc/hosts"), "user.upper"); err != unix.ENODATA {
		t.Errorf("the lower file got the new attribute: %v", err)
	}
	if err := ov.v.RemoveXattr(ctx, hosts, "user.lower"); err != nil {
		t.Errorf("remove a copied attribute: %v", err)
	}
	if v, err := lower.v.GetXattr(ctx, lower.vd(t, "/etc/hosts"), "user.lower"); err != nil || string(v) != "L" {
		t.Errorf("removing from the overlay changed the lower file: %q, %v", v, err)
	}

	// The overlay's own marks are neither visible nor settable.
	if err := ov.v.MkdirAt(ctx, ov.r("/dir2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ov.v.UnlinkAt(ctx, ov.r("/dir/sub/f")); err != nil {
		t.Fatal(err)
	}
	if err := ov.v.RmdirAt(ctx, ov.r("/dir/sub")); err != nil {
		t.Fatal(err)
	}
	if err := ov.v.MkdirAt(ctx, ov.r("/dir/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	sub := ov.vd(t, "/dir/sub")
	if names, err := ov.v.ListXattrs(ctx, sub); err != nil || len(names) != 0 {
		t.Errorf("an opaque directory lists %v, %v", names, err)
	}
	if _, err := ov.v.GetXattr(ctx, sub, opaqueXattr); err != unix.ENODATA {
		t.Errorf("GetXattr(%s) = %v, want ENODATA", opaqueXattr, err)
	}
	if err := ov.v.SetXattr(ctx, sub, opaqueXattr, []byte("n"), 0); err != unix.EPERM {
		t.Errorf("SetXattr(%s) = %v, want EPERM", opaqueXattr, err)
	}
	if got := ov.list(t, "/dir/sub"); len(got) != 0 {
		t.Errorf("the opaque directory shows %v", got)
	}
	// trusted.overlay.* on a lower file is not copied up.
	if err := ov.v.SetXattr(ctx, hosts, "user.again", nil, 0); err != nil {
		t.Fatal(err)
	}
	names, _ = ov.v.ListXattrs(ctx, hosts)
	if slices.Contains(names, "trusted.overlay.redirect") {
		t.Errorf("a private lower attribute was copied up: %v", names)
	}
}
