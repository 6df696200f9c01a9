package boot

// The container's device nodes and its masked and read-only paths, made
// after its mounts as runc makes them.

import (
	"fmt"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/dev"
	"bufferzone.dev/pkg/sentry/fsimpl/tmpfs"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/vfs"
)

// specDevice converts a linux.devices entry into a node: without a mode
// it is 0666, without an owner root's. Type "u" is a character device, as
// in the spec.
func specDevice(d specs.LinuxDevice) (dev.Node, error) {
	n := dev.Node{Path: path.Clean("/" + d.Path), Major: uint32(d.Major), Minor: uint32(d.Minor), Mode: 0o666}
	if d.Major < 0 || d.Minor < 0 || d.Major > 0xfff || d.Minor > 0xfffff {
		return n, fmt.Errorf("device %s: number %d:%d out of range", d.Path, d.Major, d.Minor)
	}
	switch d.Type {
	case "c", "u":
		n.Mode |= unix.S_IFCHR
	case "b":
		n.Mode |= unix.S_IFBLK
	case "p":
		n.Mode |= unix.S_IFIFO
		n.Major, n.Minor = 0, 0
	default:
		return n, fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
	}
	if d.FileMode != nil {
		n.Mode = n.Mode&unix.S_IFMT | uint32(d.FileMode.Perm())
	}
	if d.UID != nil {
		n.UID = *d.UID
	}
	if d.GID != nil {
		n.GID = *d.GID
	}
	return n, nil
}

// makeDevices makes the standard device nodes and links of /dev and then
// the spec's linux.devices, with their parent directories. An existing
// file of that name is left alone, as runc leaves it. A node whose number
// has no driver in the Sentry exists with its type, number, mode and
// owner, and opening it fails with ENXIO, as a node with no driver does
// in Linux (under runc the device cgroup refuses the open instead, with
// EPERM). /dev/console comes with a terminal (bindConsole).
func makeDevices(ctx vfs.Context, v *vfs.VFS, root vfs.VirtualDentry, devices []specs.LinuxDevice) error {
	nodes := append([]dev.Node(nil), dev.Standard...)
	for _, d := range devices {
		n, err := specDevice(d)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := mkdirAll(ctx, v, root, path.Dir(n.Path)); err != nil {
			return fmt.Errorf("device %s: making %s: %w", n.Path, path.Dir(n.Path), err)
		}
		r := vfs.Resolution{Root: root, Start: root, Path: n.Path}
		err := v.MknodAt(ctx, r, n.Mode, unix.Mkdev(n.Major, n.Minor))
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return fmt.Errorf("device %s: %w", n.Path, err)
		}
		if n.UID == 0 && n.GID == 0 {
			continue
		}
		vd, err := v.GetDentry(ctx, r)
		if err != nil {
			return fmt.Errorf("device %s: %w", n.Path, err)
		}
		if err := v.SetAttrAt(ctx, vd, vfs.SetAttr{Mask: unix.STATX_UID | unix.STATX_GID, UID: n.UID, GID: n.GID}, false); err != nil {
			return fmt.Errorf("device %s: owner %d:%d: %w", n.Path, n.UID, n.GID, err)
		}
	}
	for _, l := range dev.Links {
		err := v.SymlinkAt(ctx, vfs.Resolution{Root: root, Start: root, Path: l[0]}, l[1])
		if err != nil && err != unix.EEXIST {
			return fmt.Errorf("link %s: %w", l[0], err)
		}
	}
	return nil
}

// lookupReachable resolves p, following a final symlink, and reports
// whether the sandbox can reach it at all: not when it does not exist, or
// when the Gofer may not read a host directory on the way (a rootless
// sandbox's host /sys; the boot context has every capability, so EACCES
// is the host's answer).
func lookupReachable(ctx vfs.Context, v *vfs.VFS, root vfs.VirtualDentry, p string) (vfs.VirtualDentry, bool, error) {
	vd, err := v.GetDentry(ctx, vfs.Resolution{Root: root, Start: root, Path: p, FollowFinal: true})
	if err == unix.ENOENT || err == unix.EACCES {
		return vd, false, nil
	}
	return vd, err == nil, err
}

// bindConsole makes /dev/console the container's terminal, as runc does:
// the terminal's slave (a /dev/pts/N open in slave) is bound over an empty
// file /dev/console, made if missing.
func bindConsole(v *vfs.VFS, slave *vfs.FileDescription) error {
	ctx := &bootContext{creds: auth.NewUser(0, 0, nil)}
	root := v.Root()
	r := vfs.Resolution{Root: root, Start: root, Path: "/dev/console"}
	if err := v.MknodAt(ctx, r, unix.S_IFREG|0o666, 0); err != nil && err != unix.EEXIST {
		return fmt.Errorf("making /dev/console: %w", err)
	}
	at, err := v.GetDentry(ctx, r)
	if err != nil {
		return fmt.Errorf("/dev/console: %w", err)
	}
	if _, err := v.BindMount(slave.VirtualDentry(), at, false); err != nil {
		return fmt.Errorf("binding the terminal to /dev/console: %w", err)
	}
	return nil
}

// maskPaths hides each of paths (linux.maskedPaths) as runc does: /dev/null
// is bound over a file and an empty read-only tmpfs mounted over a
// directory. A path the sandbox cannot reach is skipped (lookupReachable).
// Only a process with CAP_SYS_ADMIN can unmount the masks.
func maskPaths(ctx vfs.Context, k *kernel.Kernel, root vfs.VirtualDentry, paths []string) error {
	v := k.VFS
	for _, p := range paths {
		vd, ok, err := lookupReachable(ctx, v, root, p)
		if err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
		if !ok {
			continue
		}
		st, err := vd.Dentry.Inode().Stat(ctx)
		if err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
		if vfs.FileType(st.Mode) == unix.S_IFDIR {
			fi := v.NewFilesystemInstance(tmpfs.New(k.MemoryFile, tmpfs.Options{}))
			if _, err := v.Mount(fi, vd, "tmpfs", true); err != nil {
				return fmt.Errorf("masked path %s: %w", p, err)
			}
			continue
		}
		null, err := v.GetDentry(ctx, vfs.Resolution{Root: root, Start: root, Path: "/dev/null", FollowFinal: true})
		if err != nil {
			return fmt.Errorf("masked path %s: /dev/null: %w", p, err)
		}
		if _, err := v.BindMount(null, vd, false); err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
	}
	return nil
}

// readOnlyPaths makes each of paths (linux.readonlyPaths) read-only as
// runc does: a recursive bind mount of the path onto itself, remounted
// read-only. A path the sandbox cannot reach is skipped (lookupReachable).
func readOnlyPaths(ctx vfs.Context, v *vfs.VFS, root vfs.VirtualDentry, paths []string) error {
	for _, p := range paths {
		vd, ok, err := lookupReachable(ctx, v, root, p)
		if err != nil {
			return fmt.Errorf("read-only path %s: %w", p, err)
		}
		if !ok {
			continue
		}
		m, err := v.BindMount(vd, vd, true)
		if err != nil {
			return fmt.Errorf("read-only path %s: %w", p, err)
		}
		v.SetReadOnly(m, true)
	}
	return nil
}
