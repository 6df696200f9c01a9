package cmd

import (
	"context"
	"flag"

	"github.com/google/subcommands"

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
}

// Name implements subcommands.Command.
func (*Gofer) Name() string { return "gofer" }

// Synopsis implements subcommands.Command.
func (*Gofer) Synopsis() string { return "serve the container's files to the Sentry (internal)" }

// Usage implements subcommands.Command.
func (*Gofer) Usage() string {
	return "gofer --root DIR --io-fd FD [--read-only]\n\nServes DIR over 9P2000.L on the connected socket FD.\n"
}

// SetFlags implements subcommands.Command.
func (g *Gofer) SetFlags(f *flag.FlagSet) {
	f.StringVar(&g.root, "root", "", "host directory to serve")
	f.IntVar(&g.ioFD, "io-fd", -1, "connected socket to serve on")
	f.BoolVar(&g.readOnly, "read-only", false, "refuse every change to the served tree")
	f.BoolVar(&g.isolate, "isolate", false, "confine the gofer: pivot_root into the served tree, drop capabilities, seccomp (needs new namespaces)")
}

// Execute implements subcommands.Command.
func (g *Gofer) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if g.root == "" || g.ioFD < 0 {
		return Usagef(args, "gofer: --root and --io-fd are required")
	}
	root := g.root
	if g.isolate {
		var err error
		if root, err = sandbox.ConfineGofer(root, g.readOnly); err != nil {
			return Fatalf(args, "gofer: confining the gofer: %v", err)
		}
	}
	if err := fsgofer.Serve(root, g.readOnly, g.ioFD); err != nil {
		return Fatalf(args, "gofer: %v", err)
	}
	return subcommands.ExitSuccess
}
