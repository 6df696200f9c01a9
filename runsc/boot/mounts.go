package boot

import (
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/proc"
	"bufferzone.dev/pkg/sentry/fsimpl/sys"
	"bufferzone.dev/pkg/sentry/fsimpl/tmpfs"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/vfs"
)

// mountSpecMounts makes the OCI spec's mounts, in order, over the root:
// proc, sysfs and tmpfs are the Sentry's own file systems. Mounts the
// sandbox cannot make yet (bind mounts of host paths, devpts, mqueue,
// cgroup) are logged and skipped, so that engines that always pass them
// (Docker passes /etc/hosts and friends as binds) still start the
// container.
func mountSpecMounts(k *kernel.Kernel, root *vfs.Mount, mounts []specs.Mount) error {
	v := k.VFS
	ctx := &bootContext{creds: auth.NewUser(0, 0, nil)}
	rootVD := vfs.VirtualDentry{Mount: root, Dentry: root.Root()}
	for _, m := range mounts {
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
			case "rw", "nosuid", "noexec", "nodev", "relatime", "strictatime", "private", "rprivate", "slave", "rslave":
			default:
				opts = append(opts, o)
			}
		}
		typ := m.Type
		if typ == "" && hasOption(m.Options, "bind", "rbind") {
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
		default:
			k.Logf("mount %s (type %q, source %q): not supported in the sandbox yet; skipped", dest, typ, m.Source)
			continue
		}
		parent, err := v.GetDentry(ctx, vfs.Resolution{Root: rootVD, Start: rootVD, Path: path.Dir(dest), FollowFinal: true})
		if err != nil {
			return fmt.Errorf("mount %s: finding %s: %w", dest, path.Dir(dest), err)
		}
		if _, err := v.MountAtName(ctx, parent, path.Base(dest), v.NewFilesystemInstance(fs), sourceName(m), readOnly); err != nil {
			if err == unix.ENOTDIR {
				return fmt.Errorf("mount %s: not a directory", dest)
			}
			return fmt.Errorf("mount %s: %w", dest, err)
		}
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
