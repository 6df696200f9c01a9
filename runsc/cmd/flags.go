package cmd

import (
	"context"
	"flag"

	"bufferzone.dev/runsc/config"
	"github.com/google/subcommands"
)

// Flags is `runsc flags`: it describes the global flags.
type Flags struct{}

// Name implements subcommands.Command.
func (*Flags) Name() string { return "flags" }

// Synopsis implements subcommands.Command.
func (*Flags) Synopsis() string { return "describe the global flags" }

// Usage implements subcommands.Command.
func (*Flags) Usage() string {
	return "flags\n\nDescribes the global flags, given before the command name: runsc [global flags] <command> ...\n"
}

// SetFlags implements subcommands.Command.
func (*Flags) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.
func (*Flags) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if f.NArg() != 0 {
		return Usagef(args, "flags: takes no arguments")
	}
	fs := flag.NewFlagSet("runsc", flag.ContinueOnError)
	fs.Bool("version", false, "print runsc's version and exit.")
	config.Default().RegisterFlags(fs)
	fs.SetOutput(StreamsFrom(args).Stdout)
	fs.PrintDefaults()
	return subcommands.ExitSuccess
}
