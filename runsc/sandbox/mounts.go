package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/runsc/boot"
)

// BindMounts prepares spec's bind mounts of host paths (boot.IsBindMount)
// for the Gofer, which serves each on a connection of its own. It returns
// a copy of spec to give the Sentry, whose mounts have absolute sources and
// keep only the bind mounts the Gofer can serve (of directories and
// regular files; binds of sockets and devices are dropped, as the sandbox
// has no way to reach them), and the Gofer mounts for those binds in spec
// order. A missing source is an error, as it is for runc.
func BindMounts(spec *specs.Spec) (*specs.Spec, []GoferMount, error) {
	out := *spec
	out.Mounts = nil
	var gm []GoferMount
	for _, m := range spec.Mounts {
		if !boot.IsBindMount(m) {
			out.Mounts = append(out.Mounts, m)
			continue
		}
		src, err := filepath.Abs(m.Source)
		if err != nil {
			return nil, nil, fmt.Errorf("mount %s: source %q: %w", m.Destination, m.Source, err)
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, nil, fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		if !st.IsDir() && !st.Mode().IsRegular() {
			continue
		}
		m.Source = src
		out.Mounts = append(out.Mounts, m)
		gm = append(gm, GoferMount{Source: src, ReadOnly: hasOption(m.Options, "ro")})
	}
	return &out, gm, nil
}

func hasOption(opts []string, want string) bool {
	for _, o := range opts {
		if o == want {
			return true
		}
	}
	return false
}

// MountSocketpairs makes n socketpairs for the Gofer's mounts: the Sentry's
// ends and the Gofer's ends. On error none is left open.
func MountSocketpairs(n int) (sentry, gofer []*os.File, err error) {
	for i := 0; i < n; i++ {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			CloseFiles(sentry)
			CloseFiles(gofer)
			return nil, nil, fmt.Errorf("creating a gofer mount socket: %w", err)
		}
		sentry = append(sentry, os.NewFile(uintptr(fds[0]), "sentry-9p-mount"))
		gofer = append(gofer, os.NewFile(uintptr(fds[1]), "gofer-9p-mount"))
	}
	return sentry, gofer, nil
}

// CloseFiles closes every file of fs.
func CloseFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// GoferMountFlag formats the Gofer's --mount-fd value for mount m served
// on fd: FD=SOURCE, with ":ro" appended for a read-only mount.
func GoferMountFlag(fd int, m GoferMount) string {
	v := fmt.Sprintf("%d=%s", fd, m.Source)
	if m.ReadOnly {
		v += ":ro"
	}
	return v
}
