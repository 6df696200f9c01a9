package boot

// The container's mount tree, made from the OCI spec in the Sentry's VFS
// the way runc makes it in a mount namespace: the spec's mounts in spec
// order (so /proc/self/mountinfo lists them as runc's containers do), then
// the device nodes and links of /dev, then linux.maskedPaths and
// linux.readonlyPaths. The sandbox always has its own /proc, /sys, /dev,
// /dev/pts and /dev/shm: those the spec leaves out are added where runc's
// default spec has them, so that the host's are never visible.

import (
	"fmt"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/dev"
	"bufferzone.dev/pkg/sentry/fsimpl/devpts"
	"bufferzone.dev/pkg/sentry/fsimpl/gofer"
	"bufferzone.dev/pkg/sentry/fsimpl/mqueue"
	"bufferzone.dev/pkg/sentry/fsimpl/proc"
	"bufferzone.dev/pkg/sentry/fsimpl/sys"
	"bufferzone.dev/pkg/sentry/fsimpl/tmpfs"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/syscalls/linux"
	"bufferzone.dev/pkg/sentry/vfs"
)

// IsBindMount reports whether m is a bind mount of a host path, which the
// Gofer serves on a connection of its own (Args.MountConns).
func IsBindMount(m specs.Mount) bool {
	switch m.Type {
	case "bind":
		return true
	case "", "none":
		return hasOption(m.Options, "bind", "rbind")
	}
	return false
}

// mountFlagOptions are the spec's mount options that set or clear a
// mount's MS_NOSUID, MS_NODEV and MS_NOEXEC flags.
var mountFlagOptions = map[string]struct{ set, clear uint32 }{
	"nosuid": {set: unix.MS_NOSUID}, "suid": {clear: unix.MS_NOSUID},
	"nodev": {set: unix.MS_NODEV}, "dev": {clear: unix.MS_NODEV},
	"noexec": {set: unix.MS_NOEXEC}, "exec": {clear: unix.MS_NOEXEC},
}

// sandboxMounts are the mounts every sandbox has, in the order of runc's
// default spec: withSandboxMounts adds those a spec lacks.
var sandboxMounts = []specs.Mount{
	{Destination: "/proc", Type: "proc", Source: "proc"},
	{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755"}},
	{Destination: "/dev/pts", Type: "devpts", Source: "devpts"},
	{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"mode=1777"}},
	{Destination: "/sys", Type: "sysfs", Source: "sysfs"},
}

// withSandboxMounts returns mounts with each of sandboxMounts that no
// mount of mounts has as destination, inserted after the last mount of an
// ancestor directory of its destination (at the start if there is none),
// so that it neither covers the spec's mounts below it nor is covered.
func withSandboxMounts(mounts []specs.Mount) []specs.Mount {
	out := append([]specs.Mount(nil), mounts...)
	for _, sm := range sandboxMounts {
		at, present := 0, false
		for i, m := range out {
			dest := path.Clean("/" + m.Destination)
			if dest == sm.Destination {
				present = true
				break
			}
			if strings.HasPrefix(sm.Destination, strings.TrimSuffix(dest, "/")+"/") {
				at = i + 1
			}
		}
		if !present {
			out = append(out[:at], append([]specs.Mount{sm}, out[at:]...)...)
		}
	}
	return out
}

// mountContainer makes the container's mounts over root (mountSpecMounts),
// populates /dev (makeDevices), and applies the spec's masked and
// read-only paths. It returns the devpts mounted at /dev/pts, where the
// container's terminals come from.
func mountContainer(k *kernel.Kernel, root *vfs.Mount, spec *specs.Spec, conns []*os.File) (*devpts.Filesystem, error) {
	if err := dev.Register(k.VFS); err != nil {
		return nil, err
	}
	pts, err := mountSpecMounts(k, root, withSandboxMounts(spec.Mounts), conns)
	if err != nil {
		return nil, err
	}
	ctx := &bootContext{creds: auth.NewUser(0, 0, nil)}
	rootVD := vfs.VirtualDentry{Mount: root, Dentry: root.Root()}
	var lx specs.Linux
	if spec.Linux != nil {
		lx = *spec.Linux
	}
	if err := makeDevices(ctx, k.VFS, rootVD, lx.Devices); err != nil {
		return nil, err
	}
	if err := maskPaths(ctx, k, rootVD, lx.MaskedPaths); err != nil {
		return nil, err
	}
	if err := readOnlyPaths(ctx, k.VFS, rootVD, lx.ReadonlyPaths); err != nil {
		return nil, err
	}
	return pts, nil
}

// mountSpecMounts makes mounts, in order, over the root: proc, sysfs,
// tmpfs and devpts are the Sentry's own file systems; bind mounts
// (IsBindMount) are the Gofer's trees on conns, one per bind mount in
// order, read-only with the "ro" option; mqueue is the sandbox's message
// queue file system. A bind mount of a file goes over a file. Mounts the
// sandbox cannot make (cgroup) are logged and skipped, so that engines
// that always pass them still start the container. It returns the devpts
// at /dev/pts.
func mountSpecMounts(k *kernel.Kernel, root *vfs.Mount, mounts []specs.Mount, conns []*os.File) (*devpts.Filesystem, error) {
	v := k.VFS
	ctx := &bootContext{creds: auth.NewUser(0, 0, nil)}
	rootVD := vfs.VirtualDentry{Mount: root, Dentry: root.Root()}
	var pts *devpts.Filesystem
	for _, m := range mounts {
		var conn *os.File
		if IsBindMount(m) {
			if len(conns) == 0 {
				return nil, fmt.Errorf("mount %s: no gofer connection for bind mount of %s", m.Destination, m.Source)
			}
			conn, conns = conns[0], conns[1:]
		}
		dest := path.Clean("/" + m.Destination)
		if dest == "/" {
			return nil, fmt.Errorf("mount %q: cannot mount over the root", m.Destination)
		}
		readOnly := false
		var flags uint32
		var opts []string
		for _, o := range m.Options {
			if f, ok := mountFlagOptions[o]; ok {
				flags = flags&^f.clear | f.set
				continue
			}
			switch o {
			case "ro":
				readOnly = true
			case "rw", "relatime", "strictatime", "bind", "rbind":
			case "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable":
				// Propagation: the sandbox's mounts share no peer group
				// with the host's, so nothing propagates either way
				// whatever the option says.
			default:
				opts = append(opts, o)
			}
		}
		typ := m.Type
		if IsBindMount(m) {
			typ = "bind"
		}
		var fs vfs.Filesystem
		var fi *vfs.FilesystemInstance
		switch typ {
		case "proc":
			fs = proc.New(k, linux.NetworkStack(k))
		case "sysfs":
			fs = sys.New(k.NumCPU())
		case "tmpfs":
			to, err := tmpfs.ParseOptions(strings.Join(opts, ","))
			if err != nil {
				return nil, fmt.Errorf("mount %s: tmpfs options: %w", dest, err)
			}
			fs = tmpfs.New(k.MemoryFile, to)
		case "devpts":
			// Every devpts is a new instance (newinstance); its mode,
			// gid and ptmxmode options are not modelled: slaves are
			// 0620, the master multiplexer 0666.
			p := devpts.New()
			if dest == "/dev/pts" {
				pts = p
			}
			fs = p
		case "bind":
			gfs, err := gofer.New(conn, "/")
			if err != nil {
				return nil, fmt.Errorf("mount %s (bind of %s): %w", dest, m.Source, err)
			}
			gfs.EnablePageCache(k.MemoryFile)
			fs = gfs
		case "mqueue":
			// The sandbox's one message queue file system, which the
			// mq_* system calls use.
			fi = mqueue.Instance(v).Filesystem()
		default:
			k.Logf("mount %s (type %q, source %q): not supported in the sandbox; skipped", dest, typ, m.Source)
			continue
		}
		if fi == nil {
			fi = v.NewFilesystemInstance(fs)
		}
		if typ == "bind" {
			fi.Subtree = m.Source
			// As in Linux, a bind mount goes over what its destination
			// names, following a final symlink (/etc/resolv.conf often is
			// one).
			if at, err := v.GetDentry(ctx, vfs.Resolution{Root: rootVD, Start: rootVD, Path: dest, FollowFinal: true}); err == nil {
				mnt, err := mountBindAt(ctx, v, at, fi, sourceName(m), readOnly)
				if err != nil {
					return nil, fmt.Errorf("mount %s (bind of %s): %w", dest, m.Source, err)
				}
				mnt.Flags = flags
				continue
			}
		}
		makeMountPoint(ctx, v, rootVD, dest, fi)
		// As runc does, make the destination's missing parents in the
		// root (Podman mounts /run/.containerenv in images without /run).
		if err := mkdirAll(ctx, v, rootVD, path.Dir(dest)); err != nil {
			return nil, fmt.Errorf("mount %s: making %s: %w", dest, path.Dir(dest), err)
		}
		parent, err := v.GetDentry(ctx, vfs.Resolution{Root: rootVD, Start: rootVD, Path: path.Dir(dest), FollowFinal: true})
		if err != nil {
			return nil, fmt.Errorf("mount %s: finding %s: %w", dest, path.Dir(dest), err)
		}
		mnt, err := v.MountAtName(ctx, parent, path.Base(dest), fi, sourceName(m), readOnly)
		if err != nil {
			if err == unix.ENOTDIR {
				return nil, fmt.Errorf("mount %s: not a directory (or a file mounted over a directory)", dest)
			}
			return nil, fmt.Errorf("mount %s: %w", dest, err)
		}
		mnt.Flags = flags
	}
	if pts == nil {
		return nil, fmt.Errorf("no devpts at /dev/pts")
	}
	return pts, nil
}

// makeMountPoint makes dest, as runc does, where the file system under it
// allows (a tmpfs /dev gets its pts, shm and mqueue directories, and the
// file a bind mount of /dev/shm or of a file goes over): a directory, or
// an empty file when fi's root is not a directory. Where it cannot (a
// read-only root), MountAtName puts a placeholder instead, so errors are
// left to it.
func makeMountPoint(ctx vfs.Context, v *vfs.VFS, root vfs.VirtualDentry, dest string, fi *vfs.FilesystemInstance) {
	if st, err := fi.FS.Root().Stat(ctx); err == nil && vfs.FileType(st.Mode) != unix.S_IFDIR {
		if mkdirAll(ctx, v, root, path.Dir(dest)) == nil {
			_ = v.MknodAt(ctx, vfs.Resolution{Root: root, Start: root, Path: dest}, unix.S_IFREG|0o644, 0)
		}
		return
	}
	_ = mkdirAll(ctx, v, root, dest)
}

// mkdirAll makes dir and its missing parents (mode 0755) under root,
// following symlinks as a path lookup does.
func mkdirAll(ctx vfs.Context, v *vfs.VFS, root vfs.VirtualDentry, dir string) error {
	r := vfs.Resolution{Root: root, Start: root, Path: dir, FollowFinal: true}
	if _, err := v.GetDentry(ctx, r); err != unix.ENOENT || dir == "/" {
		return err
	}
	if err := mkdirAll(ctx, v, root, path.Dir(dir)); err != nil {
		return err
	}
	if err := v.MkdirAt(ctx, r, 0o755); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}

func hasOption(opts []string, want ...string) bool {
	for _, o := range opts {
		for _, w := range want {
			if o == w {
				return true
			}
		}
	}
	return false
}

func sourceName(m specs.Mount) string {
	if m.Source != "" {
		return m.Source
	}
	return m.Type
}

// mountBindAt mounts fi over the existing file at, which must be a
// directory if and only if fi's root is one (ENOTDIR otherwise, as in
// Linux).
func mountBindAt(ctx vfs.Context, v *vfs.VFS, at vfs.VirtualDentry, fi *vfs.FilesystemInstance, source string, readOnly bool) (*vfs.Mount, error) {
	rootSt, err := fi.FS.Root().Stat(ctx)
	if err != nil {
		return nil, err
	}
	st, err := at.Dentry.Inode().Stat(ctx)
	if err != nil {
		return nil, err
	}
	if (vfs.FileType(st.Mode) == unix.S_IFDIR) != (vfs.FileType(rootSt.Mode) == unix.S_IFDIR) {
		return nil, unix.ENOTDIR
	}
	return v.Mount(fi, at, source, readOnly)
}
