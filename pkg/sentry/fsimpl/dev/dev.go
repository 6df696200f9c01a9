// Package dev holds the Sentry's device drivers that every container's
// /dev needs: the memory devices (null, zero, full, random, urandom) and
// /dev/tty (the caller's controlling terminal, from devpts). Register
// installs them in a VFS by device number, so that a device node with one
// of these numbers opens the driver on whatever file system it is (the
// tmpfs a container's /dev is, as under runc); a node of any other number
// fails to open with ENXIO, as a Linux node with no driver does. Host
// devices are never reachable from the sandbox.
package dev

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/devpts"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Node is a device node of a container's /dev.
type Node struct {
	// Path is the node's absolute path in the container.
	Path string
	// Mode is the file type (unix.S_IFCHR, S_IFBLK or S_IFIFO) and the
	// permission bits.
	Mode uint32
	// Major and Minor are the device number (unused for a FIFO).
	Major, Minor uint32
	// UID and GID own the node.
	UID, GID uint32
}

// Standard are the device nodes every container's /dev has: the OCI
// runtime spec's default devices with runc's modes and owner. /dev/ptmx
// is not one of them: it is a link to pts/ptmx (Links).
var Standard = []Node{
	{Path: "/dev/null", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 3},
	{Path: "/dev/zero", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 5},
	{Path: "/dev/full", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 7},
	{Path: "/dev/random", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 8},
	{Path: "/dev/urandom", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 9},
	{Path: "/dev/tty", Mode: unix.S_IFCHR | 0o666, Major: 5, Minor: 0},
}

// Links are the conventional symlinks of a container's /dev, path to
// target, as the OCI runtime spec lists them.
var Links = [][2]string{
	{"/dev/fd", "/proc/self/fd"},
	{"/dev/stdin", "/proc/self/fd/0"},
	{"/dev/stdout", "/proc/self/fd/1"},
	{"/dev/stderr", "/proc/self/fd/2"},
	{"/dev/ptmx", "pts/ptmx"},
}

type deviceKind int

const (
	devNull deviceKind = iota
	devZero
	devFull
	devRandom
)

// Register installs the drivers of this package in v.
func Register(v *vfs.VFS) error {
	mem := func(kind deviceKind) vfs.DeviceOpener {
		return func(vfs.Context, uint32) (vfs.FileImpl, error) { return &memFile{kind: kind}, nil }
	}
	for _, d := range []struct {
		major, minor uint32
		open         vfs.DeviceOpener
	}{
		{1, 3, mem(devNull)},
		{1, 5, mem(devZero)},
		{1, 7, mem(devFull)},
		{1, 8, mem(devRandom)},
		{1, 9, mem(devRandom)},
		{5, 0, func(ctx vfs.Context, _ uint32) (vfs.FileImpl, error) { return devpts.OpenControllingTerminal(ctx) }},
	} {
		if err := v.RegisterDevice(unix.S_IFCHR, d.major, d.minor, d.open); err != nil {
			return fmt.Errorf("dev: %w", err)
		}
	}
	return nil
}

// memFile is an open memory device. Offsets are accepted and ignored, as
// for the character devices of Linux.
type memFile struct {
	vfs.FileDefaults
	kind deviceKind
}

func (f *memFile) Read(_ vfs.Context, p []byte, _ int64) (int, error) {
	switch f.kind {
	case devNull:
		return 0, nil
	case devRandom:
		rand.Read(p)
		return len(p), nil
	}
	clear(p)
	return len(p), nil
}

func (f *memFile) Write(_ vfs.Context, p []byte, _ int64) (int, error) {
	if f.kind == devFull {
		return 0, unix.ENOSPC
	}
	return len(p), nil
}
