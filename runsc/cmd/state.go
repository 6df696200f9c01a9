package cmd

import (
	"context"
	"encoding/json"
	"flag"

	"github.com/google/subcommands"
)

// State is `runsc state`: it prints a container's state as the OCI
// runtime spec defines it.
type State struct{}

// Name implements subcommands.Command.
func (*State) Name() string { return "state" }

// Synopsis implements subcommands.Command.
func (*State) Synopsis() string { return "print a container's state (JSON)" }

// Usage implements subcommands.Command.
func (*State) Usage() string {
	return "state ID\n\nPrints the OCI state of container ID: ociVersion, id, status (created,\nrunning or stopped), pid (the sandbox's host PID), bundle, annotations.\n"
}

// SetFlags implements subcommands.Command.
func (*State) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.
func (*State) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	id, err := oneID(f.Args(), "state")
	if err != nil {
		return Usagef(args, "%v", err)
	}
	ctr, err := storeFor(ConfigFrom(args)).Load(id)
	if err != nil {
		return Fatalf(args, "state %s: %v", id, err)
	}
	out, err := json.MarshalIndent(ctr.OCIState(), "", "  ")
	if err != nil {
		return Fatalf(args, "state %s: %v", id, err)
	}
	StreamsFrom(args).Stdout.Write(append(out, '\n'))
	return subcommands.ExitSuccess
}
