package vfs

// Device drivers. As in Linux, a device special file is only a name for a
// device number: opening a character or block device node of any file
// system (tmpfs, the Gofer's tree, an overlay) opens the driver registered
// for its type and number, and a node whose number has no driver fails
// with ENXIO (Linux's chrdev_open and blkdev_open). File systems whose
// device files carry their own behaviour (devpts's terminals) keep it for
// the numbers nobody registered.
//
// Lock order: VFS.devMu is a leaf; drivers are called without it.

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// DeviceOpener opens one device for a file description; flags are the
// open(2) flags. Permission checks have been done by vfs.
type DeviceOpener func(ctx Context, flags uint32) (FileImpl, error)

// deviceKey names a device: S_IFCHR or S_IFBLK and its number.
type deviceKey struct {
	kind         uint32
	major, minor uint32
}

// RegisterDevice makes open the driver of the device kind (unix.S_IFCHR or
// unix.S_IFBLK) major:minor. A number has at most one driver.
func (v *VFS) RegisterDevice(kind, major, minor uint32, open DeviceOpener) error {
	if kind != unix.S_IFCHR && kind != unix.S_IFBLK {
		return fmt.Errorf("registering device %d:%d: kind %#o is neither S_IFCHR nor S_IFBLK", major, minor, kind)
	}
	v.devMu.Lock()
	defer v.devMu.Unlock()
	k := deviceKey{kind, major, minor}
	if _, ok := v.devices[k]; ok {
		return fmt.Errorf("registering device %d:%d: already registered", major, minor)
	}
	if v.devices == nil {
		v.devices = make(map[deviceKey]DeviceOpener)
	}
	v.devices[k] = open
	return nil
}

// device returns the driver of the device file whose attributes are st,
// if one is registered.
func (v *VFS) device(st *unix.Statx_t) (DeviceOpener, bool) {
	ft := uint32(FileType(st.Mode))
	if ft != unix.S_IFCHR && ft != unix.S_IFBLK {
		return nil, false
	}
	v.devMu.Lock()
	defer v.devMu.Unlock()
	open, ok := v.devices[deviceKey{ft, st.Rdev_major, st.Rdev_minor}]
	return open, ok
}
