package boot

import (
	"fmt"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/gofer"
	"bufferzone.dev/pkg/sentry/fsimpl/proc"
	"bufferzone.dev/pkg/sentry/fsimpl/sys"
	"bufferzone.dev/pkg/sentry/fsimpl/tmpfs"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
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

// mountSpecMounts makes the OCI spec's mounts, in order, over the root:
// proc, sysfs and tmpfs are the Sentry's own file systems; bind mounts
// (IsBindMount) are the Gofer's trees on conns, one per bind mount in
// order, read-only with the "ro" option. A bind mount of a file goes over
// a file. Mounts the sandbox cannot make yet (devpts, mqueue, cgroup) are
// logged and skipped, so that engines that always pass them still start
// the container.
func mountSpecMounts(k *kernel.Kernel, root *vfs.Mount, mounts []specs.Mount, conns []*os.File) error {
	v := k.VFS
	ctx := &bootContext{creds: auth.NewUser(0, 0, nil)}
	rootVD := vfs.VirtualDentry{Mount: root, Dentry: root.Root()}
	for _, m := range mounts {
		var conn *os.File
		if IsBindMount(m) {
			if len(conns) == 0 {
				return fmt.Errorf("mount %s: no gofer connection for bind mount of %s", m.Destination, m.Source)
			}
			conn, conns = conns[0], conns[1:]
		}
		dest := path.Clean("/" + m.Destination)
		if dest == "/" {
			return fmt.Errorf("mount %q: cannot mount over the root", m.Destination)
		}
		var fs vfs.Filesystem
		readOnly := false
		var opts []string
		for _, o := range m.Options {
			switch o {
			case "ro":
				readOnly = true
			case "rw", "nosuid", "noexec", "nodev", "relatime", "strictatime":
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
		// The sandbox always has its own /proc, /sys and /dev (with the
		// devices runc would create in a /dev tmpfs).
		if (dest == "/proc" && typ == "proc") || (dest == "/sys" && typ == "sysfs") || (dest == "/dev" && typ == "tmpfs") {
			continue
		}
		switch typ {
		case "proc":
			fs = proc.New(k)
		case "sysfs":
			fs = sys.New(k.NumCPU())
		case "tmpfs":
			to, err := tmpfs.ParseOptions(strings.Join(opts, ","))
			if err != nil {
				return fmt.Errorf("mount %s: tmpfs options: %w", dest, err)
			}
			fs = tmpfs.New(k.MemoryFile, to)
		case "bind":
			gfs, err := gofer.New(conn, "/")
			if err != nil {
				return fmt.Errorf("mount %s (bind of %s): %w", dest, m.Source, err)
			}
			gfs.EnablePageCache(k.MemoryFile)
			fs = gfs
		default:
			k.Logf("mount %s (type %q, source %q): not supported in the sandbox yet; skipped", dest, typ, m.Source)
			continue
		}
		if typ == "bind" {
			// As in Linux, a bind mount goes over what its destination
			// names, following a final symlink (/etc/resolv.conf often is
			// one).
			if at, err := v.GetDentry(ctx, vfs.Resolution{Root: rootVD, Start: rootVD, Path: dest, FollowFinal: true}); err == nil {
				if err := mountBindAt(ctx, v, at, fs, sourceName(m), readOnly); err != nil {
					return fmt.Errorf("mount %s (bind of %s): %w", dest, m.Source, err)
				}
				continue
			}
		}
		// As runc does, make the destination's missing parents in the
		// root (Podman mounts /run/.containerenv in images without /run).
		if err := mkdirAll(ctx, v, rootVD, path.Dir(dest)); err != nil {
			return fmt.Errorf("mount %s: making %s: %w", dest, path.Dir(dest), err)
		}
		parent, err := v.GetDentry(ctx, vfs.Resolution{Root: rootVD, Start: rootVD, Path: path.Dir(dest), FollowFinal: true})
		if err != nil {
			return fmt.Errorf("mount %s: finding %s: %w", dest, path.Dir(dest), err)
		}
		if _, err := v.MountAtName(ctx, parent, path.Base(dest), v.NewFilesystemInstance(fs), sourceName(m), readOnly); err != nil {
			if err == unix.ENOTDIR {
				return fmt.Errorf("mount %s: not a directory (or a file mounted over a directory)", dest)
			}
			return fmt.Errorf("mount %s: %w", dest, err)
		}
	}
	return nil
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

// mountBindAt mounts fs over the existing file at, which must be a
// directory if and only if fs's root is one (ENOTDIR otherwise, as in
// Linux).
func mountBindAt(ctx vfs.Context, v *vfs.VFS, at vfs.VirtualDentry, fs vfs.Filesystem, source string, readOnly bool) error {
	rootSt, err := fs.Root().Stat(ctx)
	if err != nil {
		return err
	}
	st, err := at.Dentry.Inode().Stat(ctx)
	if err != nil {
		return err
	}
	if (vfs.FileType(st.Mode) == unix.S_IFDIR) != (vfs.FileType(rootSt.Mode) == unix.S_IFDIR) {
		return unix.ENOTDIR
	}
	_, err = v.Mount(v.NewFilesystemInstance(fs), at, source, readOnly)
	return err
}
