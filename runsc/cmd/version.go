package cmd

import (
	"context"
	"flag"
	"fmt"

	"bufferzone.dev/runsc/version"
	"github.com/google/subcommands"
)

// Version is `runsc version`, the same as `runsc --version`.
type Version struct{}

// Name implements subcommands.Command.
func (*Version) Name() string { return "version" }

// Synopsis implements subcommands.Command.
func (*Version) Synopsis() string { return "print runsc's version" }

// Usage implements subcommands.Command.
func (*Version) Usage() string {
	return "version\n\nPrints runsc's version, the commit it was built from and the OCI runtime spec version it implements.\n"
}

// SetFlags implements subcommands.Command.
func (*Version) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.
func (*Version) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if f.NArg() != 0 {
		return Usagef(args, "version: takes no arguments")
	}
	fmt.Fprint(StreamsFrom(args).Stdout, version.String())
	return subcommands.ExitSuccess
}
