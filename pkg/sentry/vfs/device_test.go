package vfs

import (
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
)

// driverFile is what a test driver opens, named after the driver.
type driverFile struct {
	FileDefaults
	name string
}

func TestDeviceDrivers(t *testing.T) {
	node := func(kind uint16, major, minor uint32) *memInode {
		return &memInode{mode: kind | 0o666, rdev: [2]uint32{major, minor}}
	}
	root := dir(map[string]*memInode{
		"null":  node(unix.S_IFCHR, 1, 3),
		"other": node(unix.S_IFCHR, 1, 4),
		"block": node(unix.S_IFBLK, 1, 3),
		"sda":   node(unix.S_IFBLK, 8, 0),
	})
	v := New()
	m := v.MountRoot(v.NewFilesystemInstance(&memFS{root: root}), "mem", false)
	rootVD := VirtualDentry{Mount: m, Dentry: m.Root()}
	ctx := testCtx{creds: auth.NewUser(0, 0, nil)}
	driver := func(name string) DeviceOpener {
		return func(Context, uint32) (FileImpl, error) { return &driverFile{name: name}, nil }
	}
	if err := v.RegisterDevice(unix.S_IFCHR, 1, 3, driver("char 1:3")); err != nil {
		t.Fatal(err)
	}
	if err := v.RegisterDevice(unix.S_IFBLK, 8, 0, driver("block 8:0")); err != nil {
		t.Fatal(err)
	}
	if err := v.RegisterDevice(unix.S_IFCHR, 1, 3, driver("again")); err == nil {
		t.Error("a second driver for char 1:3 was registered")
	}
	if err := v.RegisterDevice(unix.S_IFREG, 1, 9, driver("file")); err == nil {
		t.Error("a driver for a regular file number was registered")
	}
	for _, tc := range []struct {
		path  string
		flags uint32
		want  string // what the open file reads, or "" for the inode's own file
		err   error
	}{
		{"/null", unix.O_RDWR, "char 1:3", nil},
		{"/sda", unix.O_RDONLY, "block 8:0", nil},
		// No driver for the number: the node's own open, ENXIO here as
		// for Linux's chrdev_open.
		{"/other", unix.O_RDONLY, "", unix.ENXIO},
		// Character and block numbers are separate.
		{"/block", unix.O_RDONLY, "", unix.ENXIO},
		// O_PATH opens no device.
		{"/null", unix.O_PATH, "", nil},
	} {
		f, err := v.OpenAt(ctx, Resolution{Root: rootVD, Start: rootVD, Path: tc.path}, tc.flags, 0)
		if err != tc.err {
			t.Errorf("open %s (%#x): error %v, want %v", tc.path, tc.flags, err, tc.err)
			continue
		}
		if f == nil {
			continue
		}
		got := ""
		if df, ok := f.Impl().(*driverFile); ok {
			got = df.name
		}
		if got != tc.want {
			t.Errorf("open %s (%#x) opened driver %q, want %q", tc.path, tc.flags, got, tc.want)
		}
		f.DecRef()
	}

	// On a nodev mount no device node opens, with a driver or without.
	m.Flags = unix.MS_NODEV
	for _, p := range []string{"/null", "/other"} {
		if _, err := v.OpenAt(ctx, Resolution{Root: rootVD, Start: rootVD, Path: p}, unix.O_RDONLY, 0); err != unix.EACCES {
			t.Errorf("open %s on a nodev mount: error %v, want EACCES", p, err)
		}
	}
	if f, err := v.OpenAt(ctx, Resolution{Root: rootVD, Start: rootVD, Path: "/null"}, unix.O_PATH, 0); err != nil {
		t.Errorf("O_PATH open of /null on a nodev mount: %v", err)
	} else {
		f.DecRef()
	}
}
