package cmd

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/subcommands"
	"golang.org/x/sys/unix"

	"bufferzone.dev/runsc/config"
	"bufferzone.dev/runsc/fsgofer"
	"bufferzone.dev/runsc/sandbox"
)

// Gofer is `runsc gofer`, the process that opens host files for the
// sandbox and serves them over 9P. It is started by other runsc commands.
type Gofer struct {
	root     string
	ioFD     int
	readOnly bool
	isolate  bool
	mounts   stringList
}

// goferMount is one --mount-fd flag: a host path served on its own
// connection.
type goferMount struct {
	fd int
	sandbox.GoferMount
}

// parseGoferMount parses a --mount-fd value (see sandbox.GoferMountFlag).
func parseGoferMount(v string) (goferMount, error) {
	fdStr, src, ok := strings.Cut(v, "=")
	fd, err := strconv.Atoi(fdStr)
	if !ok || err != nil || fd < 0 {
		return goferMount{}, fmt.Errorf("--mount-fd %q: want FD=SOURCE[:ro]", v)
	}
	m := goferMount{fd: fd}
	if s, ok := strings.CutSuffix(src, ":ro"); ok {
		src, m.ReadOnly = s, true
	}
	if !strings.HasPrefix(src, "/") {
		return goferMount{}, fmt.Errorf("--mount-fd %q: the source must be an absolute path", v)
	}
	m.Source = src
	return m, nil
}

// Name implements subcommands.Command.
func (*Gofer) Name() string { return "gofer" }

// Synopsis implements subcommands.Command.
func (*Gofer) Synopsis() string { return "serve the container's files to the Sentry (internal)" }

// Usage implements subcommands.Command.
func (*Gofer) Usage() string {
	return "gofer --root DIR --io-fd FD [--read-only] [--mount-fd FD=SOURCE[:ro]]...\n\nServes DIR over 9P2000.L on the connected socket FD, and each bind mount\nsource (a directory or a regular file) on its own connected socket.\n"
}

// SetFlags implements subcommands.Command.
func (g *Gofer) SetFlags(f *flag.FlagSet) {
	f.StringVar(&g.root, "root", "", "host directory to serve")
	f.IntVar(&g.ioFD, "io-fd", -1, "connected socket to serve on")
	f.BoolVar(&g.readOnly, "read-only", false, "refuse every change to the served tree")
	f.Var(&g.mounts, "mount-fd", "also serve the host directory or file SOURCE on connected socket FD, read-only with :ro (FD=SOURCE[:ro], repeatable)")
	f.BoolVar(&g.isolate, "isolate", false, "confine the gofer: pivot_root into the served tree, drop capabilities, seccomp (needs new namespaces)")
}

// Execute implements subcommands.Command.
func (g *Gofer) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if g.root == "" || g.ioFD < 0 {
		return Usagef(args, "gofer: --root and --io-fd are required")
	}
	if err := releaseStderr(args); err != nil {
		return Fatalf(args, "gofer: %v", err)
	}
	var mounts []goferMount
	var confined []sandbox.GoferMount
	for _, v := range g.mounts {
		m, err := parseGoferMount(v)
		if err != nil {
			return Usagef(args, "gofer: %v", err)
		}
		mounts = append(mounts, m)
		confined = append(confined, m.GoferMount)
	}
	root := g.root
	if g.isolate {
		var err error
		var paths []string
		if root, paths, err = sandbox.ConfineGofer(root, g.readOnly, confined); err != nil {
			return Fatalf(args, "gofer: confining the gofer: %v", err)
		}
		for i := range mounts {
			mounts[i].Source = paths[i]
		}
	}
	// Each mount is served on its own connection; the Gofer ends when the
	// root's connection closes (the Sentry has exited).
	for _, m := range mounts {
		go func(m goferMount) {
			if err := fsgofer.Serve(m.Source, m.ReadOnly, m.fd); err != nil {
				Fatalf(args, "gofer: %v", err)
			}
		}(m)
	}
	if err := fsgofer.Serve(root, g.readOnly, g.ioFD); err != nil {
		return Fatalf(args, "gofer: %v", err)
	}
	return subcommands.ExitSuccess
}

// releaseStderr points the Gofer's stderr at /dev/null when runsc has a
// --log file, where Fatalf writes its errors anyway. The Gofer inherits
// the stderr of `runsc create`, and a runc shim reads create's stderr to
// its end: had the Gofer kept it, the end would come only when the
// container exits, and create would never seem to finish (`docker run -it`
// hung before start).
func releaseStderr(args []any) error {
	if len(args) == 0 {
		return nil
	}
	if c, ok := args[0].(*config.Config); !ok || c.LogFilename == "" {
		return nil
	}
	null, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening /dev/null: %w", err)
	}
	defer unix.Close(null)
	if err := unix.Dup3(null, 2, 0); err != nil {
		return fmt.Errorf("releasing stderr: %w", err)
	}
	return nil
}
